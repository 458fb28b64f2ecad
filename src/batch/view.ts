// What the person at the terminal sees of a batch sync: the plan (--dry-run), a progress bar on a TTY or
// one line per finished account elsewhere, and the closing summary.
import cliProgress from 'cli-progress';
import { formatTable } from '../cli/common.js';
import { BATCH_STEPS, estimateAccountCalls, type BatchStep } from './plan.js';
import type { BatchEvents, BatchOutcome, BatchPlan, RefreshOutcome } from './run.js';
import { needsRun, refreshTargets, windowShape } from './run.js';
import type { AccountRecord } from './store.js';
import type { UsageMeter } from './usage.js';

/** Polls an async report is assumed to need in the estimate (Meta's usually finish within a few). */
export const ASSUMED_POLLS = 3;

export function describePlan(plan: BatchPlan, workers: number, syncMaxDays: number): string {
  const steps = new Set<BatchStep>(BATCH_STEPS.filter((s) => !plan.params.skip.includes(s)));
  const shape = windowShape(plan.params);
  const est = estimateAccountCalls({ steps, ...shape, syncMaxDays, pollsPerReport: ASSUMED_POLLS });
  const todo = plan.groups.reduce((n, g) => n + g.accounts.length, 0);
  const longest = Math.max(0, ...plan.groups.map((g) => g.accounts.length));
  const lines = [
    `${plan.resumed ? `resume of job ${plan.job.job_id}` : 'new job'}: ${todo} of ${plan.accounts.length} account(s) to run in ${plan.groups.length} group(s), ${Math.min(workers, Math.max(plan.groups.length, 1))} worker(s), pause ${plan.params.pause_ms} ms between accounts of a worker`,
    `window ${plan.params.window_since}..${plan.params.window_until} (${shape.days} days, ${shape.weeks} Monday weeks); steps: ${BATCH_STEPS.map((s) => (steps.has(s) ? s : `${s} (skipped)`)).join(' → ')}`,
    '',
    formatTable(
      plan.groups.map((g, i) => ({ '#': i + 1, group: g.businessId ? `business ${g.businessId}` : 'no business', accounts: g.accounts.length, ids: g.accounts.map((a) => a.id).join(' ') })),
      ['#', 'group', 'accounts', 'ids'],
    ),
    '',
    ...(plan.resumed && steps.has('burnout') ? [`analytics refresh owed by ${refreshTargets(plan.accounts).length} completed account(s), plus those this run completes`, ''] : []),
    `estimated API calls: at least ${est.total} per account × ${todo} = ${est.total * todo}`,
    `  fullsync ${est.perStep.fullsync} (campaigns, ad sets, ads, creatives: one page each), ` +
      `weekly ${est.perStep.weekly} and daily ${est.perStep.daily} (${shape.days > syncMaxDays ? `an async report each: start, ~${ASSUMED_POLLS} polls, one result page` : 'one synchronous page each'}), burnout 0 (one ClickHouse refresh for the job, after the accounts' loads);`,
    `  the account itself is read once per account, counted in the first step that runs;`,
    `  more for big accounts (a page per FB_PAGE_LIMIT objects or rows) and for splits on "too many rows"; ` +
      `the longest group runs ${longest} account(s) one after the other.`,
  ];
  return lines.join('\n');
}

export interface ProgressView extends BatchEvents {
  stop(): void;
}

/** A bar (TTY) or a line per finished account; `usage` feeds the rate-limit part. */
export function createProgressView(total: number, alreadyDone: AccountRecord[], usage: UsageMeter, tty: boolean, say: (line: string) => void): ProgressView {
  let done = alreadyDone.filter((a) => a.status === 'completed' || a.status === 'skipped').length;
  let failed = alreadyDone.filter((a) => a.status === 'failed').length;
  let running = 0;
  /** While the job's analytics refresh runs, the bar says so instead of the rate-limit usage. */
  let phase: string | undefined;
  const left = () => total - done - failed;
  if (tty) {
    const bar = new cliProgress.SingleBar(
      { format: 'facebook batch [{bar}] {value}/{total} | done {done} failed {failed} left {left} running {running} | {usage}', stream: process.stderr, hideCursor: true, clearOnComplete: false },
      cliProgress.Presets.shades_classic,
    );
    const payload = () => ({ done, failed, left: left(), running, usage: phase ?? usage.describe() });
    bar.start(total, done + failed, payload());
    // The usage part changes between account events: refresh it every second.
    const timer = setInterval(() => bar.update(done + failed, payload()), 1000);
    timer.unref();
    return {
      accountStarted() {
        running++;
        bar.update(done + failed, payload());
      },
      accountFinished(a) {
        running--;
        if (a.status === 'completed' || a.status === 'skipped') done++;
        else if (a.status === 'failed') failed++;
        bar.update(done + failed, payload());
      },
      refreshStarted(n) {
        phase = `refreshing anomaly/burnout history of ${n} account(s)`;
        bar.update(done + failed, payload());
      },
      refreshFinished(r) {
        phase = `refresh ${r.status}`;
        bar.update(done + failed, payload());
      },
      stop() {
        clearInterval(timer);
        bar.stop();
      },
    };
  }
  return {
    accountFinished(a) {
      if (a.status === 'completed' || a.status === 'skipped') done++;
      else if (a.status === 'failed') failed++;
      const what = a.status === 'failed' ? `failed (${a.error_type}, attempt ${a.attempts}): ${a.last_error}` : a.status;
      say(`batch: ${a.account_id} ${what} in ${(a.duration_ms / 1000).toFixed(1)} s; rows ${a.rows_fullsync}/${a.rows_weekly}/${a.rows_daily} — ${done} done, ${failed} failed, ${left()} left; ${usage.describe()}`);
    },
    refreshStarted(n) {
      say(`batch: refreshing the anomaly/burnout history of ${n} account(s) (one refresh for the job)`);
    },
    refreshFinished(r) {
      say(`batch: ${describeRefresh(r)}`);
    },
    stop() {},
  };
}

export function describeRefresh(r: RefreshOutcome): string {
  switch (r.status) {
    case 'completed':
      return `analytics refresh of ${r.accounts} account(s): ${r.anomalies} anomaly + ${r.burnout} burnout history rows in ${(r.ms / 1000).toFixed(1)} s`;
    case 'skipped':
      return r.reason;
    case 'paused':
      return `analytics refresh of ${r.accounts} account(s) paused after ${(r.ms / 1000).toFixed(1)} s; --resume runs it`;
    case 'failed':
      return `analytics refresh of ${r.accounts} account(s) failed (${r.errorType}): ${r.error}; their loads are complete (step_burnout failed), --resume runs the refresh again`;
  }
}

/** The API call figure: what the loader runs reported, and which runs reported none. */
function describeCalls(o: BatchOutcome): string {
  const silent = [...o.usage.silentRuns].map(([step, n]) => `${n} ${step}`).join(', ');
  if (o.usage.calls === 0 && !silent) return 'API calls not reported';
  return `API calls ${o.usage.calls}${silent ? ` (loader runs that reported no count, not included: ${silent})` : ''}`;
}

export function describeOutcome(o: BatchOutcome): string {
  const byStatus = new Map<string, number>();
  for (const a of o.accounts) byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
  const failed = o.accounts.filter((a) => a.status === 'failed');
  const retried = o.accounts.filter((a) => a.attempts > 1).length;
  const rows = (k: 'rows_fullsync' | 'rows_weekly' | 'rows_daily' | 'rows_burnout') => o.accounts.reduce((n, a) => n + a[k], 0);
  const lines = [
    `batch job ${o.job.job_id}: ${o.job.status} — ${o.ran} account(s) run now, ${(o.durationMs / 1000).toFixed(1)} s`,
    '',
    formatTable([...byStatus].map(([status, accounts]) => ({ status, accounts })), ['status', 'accounts']),
    '',
    `rows written: fullsync ${rows('rows_fullsync')}, weekly ${rows('rows_weekly')}, daily ${rows('rows_daily')}, burnout ${rows('rows_burnout')}; ` +
      `${describeCalls(o)}; retried accounts ${retried}; ` +
      `throttling pauses ${o.usage.pauses} (${(o.usage.pausedMs / 1000).toFixed(1)} s)`,
  ];
  // A skipped refresh says why in the accounts' note, printed below.
  if (o.refresh && o.refresh.status !== 'skipped') lines.push(describeRefresh(o.refresh));
  if (failed.length > 0) {
    lines.push('', 'failed accounts:');
    lines.push(
      formatTable(
        failed.map((a) => ({
          account: a.account_id,
          error_type: a.error_type,
          attempts: a.attempts,
          retry: needsRun(a) ? 'on --resume' : 'no',
          error: a.last_error.length > 100 ? `${a.last_error.slice(0, 97)}...` : a.last_error,
        })),
        ['account', 'error_type', 'attempts', 'retry', 'error'],
      ),
    );
  }
  const notes = [...new Set(o.accounts.map((a) => a.note).filter(Boolean))];
  if (notes.length > 0) lines.push('', ...notes);
  return lines.join('\n');
}
