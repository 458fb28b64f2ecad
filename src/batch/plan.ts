// What a batch sync will do: accounts grouped by business (one business's accounts share its rate limits,
// so they never run at the same time), the queue order, the steps, and an estimate of the API calls.

export const BATCH_STEPS = ['fullsync', 'weekly', 'daily', 'burnout'] as const;
export type BatchStep = (typeof BATCH_STEPS)[number];

export interface BatchAccount {
  id: string;
  businessId: string | null;
  label?: string;
}

export interface AccountGroup {
  /** `business:<id>`, or `account:<id>` for an account without a business (a group of its own). */
  key: string;
  businessId: string | null;
  accounts: BatchAccount[];
}

/**
 * Groups in queue order: bigger groups first, so the longest sequential chain starts at once and the
 * workers finish together (longest-processing-time-first); ties keep the configured order.
 */
export function groupAccounts(accounts: readonly BatchAccount[]): AccountGroup[] {
  const groups = new Map<string, AccountGroup>();
  for (const a of accounts) {
    const key = a.businessId ? `business:${a.businessId}` : `account:${a.id}`;
    let g = groups.get(key);
    if (!g) {
      g = { key, businessId: a.businessId, accounts: [] };
      groups.set(key, g);
    }
    g.accounts.push(a);
  }
  return [...groups.values()].map((g, i) => ({ g, i })).sort((x, y) => y.g.accounts.length - x.g.accounts.length || x.i - y.i).map((x) => x.g);
}

export interface CallEstimateInput {
  steps: ReadonlySet<BatchStep>;
  /** Days of the window and Monday weeks covering it. */
  days: number;
  weeks: number;
  /** FB_SYNC_MAX_DAYS: longer ranges go through async report runs. */
  syncMaxDays: number;
  /** Polls an async report needs before "Job Completed" (not knowable in advance; an assumption). */
  pollsPerReport: number;
}

/**
 * Graph API calls for one account, at least: the account is read once (currency, time zone) by its one
 * loader run; the structure pass reads four edges (campaigns, ad sets, ads, creatives) with one page each;
 * an insights range longer than FB_SYNC_MAX_DAYS is one async report (start + polls + one result page), a
 * shorter one a single synchronous page. The account read counts in the first step that runs. Bigger
 * accounts add a page per FB_PAGE_LIMIT objects or rows, splits on "too many rows" add reports.
 */
export function estimateAccountCalls(input: CallEstimateInput): { perStep: Record<BatchStep, number>; total: number } {
  const report = (days: number) => (days > input.syncMaxDays ? 1 + input.pollsPerReport + 1 : 1);
  const first = (['fullsync', 'weekly', 'daily'] as const).find((s) => input.steps.has(s));
  const account = (step: BatchStep) => (step === first ? 1 : 0);
  const perStep: Record<BatchStep, number> = {
    fullsync: input.steps.has('fullsync') ? account('fullsync') + 4 : 0,
    weekly: input.steps.has('weekly') ? account('weekly') + report(input.weeks * 7) : 0,
    daily: input.steps.has('daily') ? account('daily') + report(input.days) : 0,
    burnout: 0, // ClickHouse only
  };
  return { perStep, total: perStep.fullsync + perStep.weekly + perStep.daily + perStep.burnout };
}

/** Monday-aligned weeks that cover [since, until] (the weekly step's buckets). */
export function mondayWeeks(since: string, until: string): number {
  const monday = (day: string) => {
    const t = Date.parse(`${day}T00:00:00Z`);
    return t - ((new Date(t).getUTCDay() + 6) % 7) * 86_400_000;
  };
  return Math.round((monday(until) - monday(since)) / (7 * 86_400_000)) + 1;
}
