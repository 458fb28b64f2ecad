// A faithful fake of the Facebook Marketing (Graph) API serving the synthetic world of world.ts, following the
// fake-server checklist of shared/api/facebook.md §10: versions (2635 for expired ones), tokens (190),
// accounts and /me/adaccounts, structure edges with `fields` projection, cursor paging with `next` only when
// more data exists, effective_status filtering (ARCHIVED/DELETED hidden unless listed, ad-only statuses refused
// on campaigns), updated_time filtering, numbers as strings, sync and async insights (jobs walking their states)
// by day, by N-day bucket (weekly) and by hour, usage headers on every answer, BUC blocks, too-many-rows,
// "reduce the amount of data", transient faults and late conversions; optional latency and scaled worlds.
// Faults are switched on by name (BEHAVIOR.md lists them).
import type http from 'node:http';
import { addDays, diffDays, isDay, minDay } from '../../src/runtime/dates.js';
import { hashSeed, listen, readBody, seededRandom, type RunningSandbox, type SandboxOptions } from '../../src/runtime/sandbox.js';
import { HOURLY_BREAKDOWN, mondayOf } from './transform.js';
import { adDayAt, adDayStats, adPartWeek, hourSlices, localClock, sumAdditive, type Additive, type AdWeek, type LocalClock, FB_FAULT_ACCOUNTS, FB_SANDBOX_ACCOUNTS, fbWorld, type AdDay, type AdDayModifier, type FbWorld, type SbAccount, type SbAd, type SbAdset, type SbCampaign, type SbCreative, type WorldShape } from './world.js';

// ---- wire formats ---------------------------------------------------------------------------------

function money(cents: number): string {
  // "14.35", "5339.5", "12": Meta drops trailing zeros.
  return (cents / 100).toFixed(2).replace(/\.?0+$/, '');
}
const dec = (n: number) => n.toFixed(6);

/** What one insights row reports, whatever its bucket (a day, a week, an hour). */
interface WireStats extends Additive {
  /** Absent under the hourly breakdown (no unique counts by hour). */
  reach?: number;
  /** Ad-level rankings; absent under the hourly breakdown. */
  rankings?: { quality: string; engagement: string; conversion: string };
}

function insightWire(acct: SbAccount, ad: SbAd, adset: SbAdset, campaign: SbCampaign, dateStart: string, dateStop: string, s: WireStats, windows: readonly string[], hour?: number): Record<string, unknown> {
  const row: Record<string, unknown> = {
    account_id: acct.id.slice(4),
    account_currency: acct.currency,
    campaign_id: ad.campaignId,
    campaign_name: campaign.name,
    adset_id: ad.adsetId,
    adset_name: adset.name,
    ad_id: ad.id,
    ad_name: ad.name,
    objective: campaign.objective,
    optimization_goal: adset.goal,
    impressions: String(s.impressions),
    clicks: String(s.clicks),
    inline_link_clicks: String(s.linkClicks),
    spend: money(s.spendCents),
    date_start: dateStart,
    date_stop: dateStop,
  };
  // Metrics that do not apply are omitted, not zero.
  if (s.reach !== undefined && s.reach > 0) Object.assign(row, { reach: String(s.reach), frequency: dec(s.impressions / s.reach) });
  if (s.impressions > 0) {
    Object.assign(row, {
      ctr: dec((s.clicks / s.impressions) * 100),
      inline_link_click_ctr: dec((s.linkClicks / s.impressions) * 100),
      cpm: dec((s.spendCents / 100 / s.impressions) * 1000),
    });
  }
  if (s.rankings) Object.assign(row, { quality_ranking: s.rankings.quality, engagement_rate_ranking: s.rankings.engagement, conversion_rate_ranking: s.rankings.conversion });
  if (hour !== undefined) row[HOURLY_BREAKDOWN] = `${p2(hour)}:00:00 - ${p2(hour)}:59:59`;
  if (s.clicks > 0) row.cpc = dec(s.spendCents / 100 / s.clicks);
  if (s.actions.length > 0) {
    // One extra key per requested action_attribution_windows entry, only those (api notes: AdsActionStats);
    // this world's conversions all fall within a day of the click, so every window has the same value.
    row.actions = s.actions.map(([t, v]) => {
      const item: Record<string, string> = { action_type: t, value: String(v) };
      for (const w of windows) item[w] = String(v);
      return item;
    });
    row.cost_per_action_type = s.actions.filter(([, v]) => v > 0).map(([t, v]) => ({ action_type: t, value: dec(s.spendCents / 100 / v) }));
  }
  if (s.actionValues.length > 0) row.action_values = s.actionValues.map(([t, v]) => ({ action_type: t, value: String(v) }));
  return row;
}

const p2 = (n: number) => String(n).padStart(2, '0');

/** An hour as the hourly breakdown serves it: off-Meta (pixel) actions dropped (api notes §4); null = no row. */
function hourWire(slice: Additive): WireStats | null {
  const onMeta = ([t]: [string, number]) => !t.startsWith('offsite_conversion.');
  const s: WireStats = { ...slice, actions: slice.actions.filter(onMeta), actionValues: slice.actionValues.filter(onMeta) };
  return s.impressions > 0 || s.spendCents > 0 || s.clicks > 0 || s.actions.length > 0 ? s : null;
}

function campaignWire(acct: SbAccount, c: SbCampaign): Record<string, unknown> {
  return {
    id: c.id, account_id: acct.id.slice(4), name: c.name, status: c.status, configured_status: c.status, effective_status: c.status,
    objective: c.objective, buying_type: 'AUCTION', bid_strategy: 'LOWEST_COST_WITHOUT_CAP', budget_remaining: '0',
    special_ad_categories: [], start_time: c.created, created_time: c.created, updated_time: c.updated,
  };
}
function adsetWire(acct: SbAccount, s: SbAdset): Record<string, unknown> {
  return {
    id: s.id, account_id: acct.id.slice(4), campaign_id: s.campaignId, name: s.name, status: s.status, effective_status: s.status,
    optimization_goal: s.goal, billing_event: 'IMPRESSIONS', bid_strategy: 'LOWEST_COST_WITHOUT_CAP', daily_budget: String(s.dailyBudget),
    budget_remaining: String(Math.floor(s.dailyBudget / 2)), destination_type: s.goal === 'CONVERSATIONS' ? 'MESSENGER' : 'WEBSITE',
    targeting: { age_min: 18, age_max: 45, geo_locations: { countries: ['RU'] }, publisher_platforms: ['facebook', 'instagram'] },
    start_time: s.created, created_time: s.created, updated_time: s.updated,
  };
}
function adWire(acct: SbAccount, a: SbAd): Record<string, unknown> {
  return {
    id: a.id, account_id: acct.id.slice(4), campaign_id: a.campaignId, adset_id: a.adsetId, name: a.name, status: a.status,
    configured_status: a.status, effective_status: a.status, creative: { id: a.creativeId, name: `Creative ${a.id}` },
    created_time: a.created, updated_time: a.updated,
  };
}
function creativeWire(c: SbCreative): Record<string, unknown> {
  const out: Record<string, unknown> = { id: c.id, name: c.name, status: 'ACTIVE', title: 'Концерт', body: 'Билеты уже в продаже', object_type: 'SHARE', call_to_action_type: 'BUY_TICKETS' };
  if (c.inStorySpec) out.object_story_spec = { page_id: '1000001', link_data: { link: c.link, message: 'Билеты' } };
  else out.link_url = c.link;
  if (c.urlTags) out.url_tags = c.urlTags;
  return out;
}

/** Top-level names of a `fields` value: `id,name,creative{id,name}` → id, name, creative. */
export function topLevelFields(value: string | null): Set<string> | null {
  if (!value) return null;
  const out = new Set<string>();
  let depth = 0;
  let cur = '';
  for (const ch of value) {
    if (ch === '{') depth++;
    if (ch === '}') depth--;
    if (ch === ',' && depth === 0) {
      out.add(cur.replace(/\{.*$/, '').trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.add(cur.replace(/\{.*$/, '').trim());
  return out;
}

function project(o: Record<string, unknown>, fields: Set<string> | null, always: readonly string[]): Record<string, unknown> {
  if (!fields) return { id: o.id };
  // Most answers ask for every field the object has (the loaders do): then the object itself is the answer.
  let all = !('creative' in o);
  for (const k in o) {
    if (!all) break;
    if (!fields.has(k) && !always.includes(k)) all = false;
  }
  if (all) return o;
  const out: Record<string, unknown> = {};
  for (const k in o) if (fields.has(k) || always.includes(k)) out[k] = k === 'creative' ? { id: (o[k] as { id: string }).id } : o[k];
  return out;
}

/** List params arrive as JSON arrays, comma lists or single bare values (api notes §1). */
function listParam(value: string | null): string[] | null {
  if (value === null || value === '') return null;
  const t = value.trim();
  if (t.startsWith('[')) {
    try {
      const arr = JSON.parse(t) as unknown;
      if (Array.isArray(arr)) return arr.map(String);
    } catch {
      return null;
    }
  }
  return t.split(',').map((s) => s.trim()).filter(Boolean);
}

interface Filter {
  field: string;
  operator: string;
  value: unknown;
}
function filtersParam(value: string | null): Filter[] | string {
  if (!value) return [];
  try {
    const arr = JSON.parse(value) as unknown;
    if (!Array.isArray(arr)) return 'filtering must be a JSON array';
    return arr as Filter[];
  } catch {
    return 'filtering is not valid JSON';
  }
}

// ---- the server -------------------------------------------------------------------------------------

export interface FbSandboxCounters {
  requests: number;
  tokenRejected: number;
  bucBlocks: number;
  code17: number;
  transient: number;
  asyncJobs: number;
  asyncFailed: number;
  asyncSkipped: number;
  earlyReads: number;
  tooManyRows: number;
  reduceData: number;
  throttledAnswers: number;
  /** Insights requests filtered to some campaigns (the loader's last-resort split). */
  campaignFiltered: number;
  /** Structure list requests filtered by updated_time (incremental passes). */
  incrementalLists: number;
  /** /me/adaccounts pages served (discovery). */
  adAccountLists: number;
  /** `reduce_data_pages`: later pages refused for asking too many rows. */
  reducedPages: number;
}

export interface FbSandbox extends RunningSandbox {
  counters: FbSandboxCounters;
  /** The day the sandbox's "now" is for late conversions (null: every conversion has arrived). */
  setAsOf(day: string | null): void;
  /** Renames an ad in this sandbox only, stamping its updated_time now (for incremental structure tests). */
  renameAd(adId: string, name: string): void;
  world: FbWorld;
  /**
   * With `recordCalls`: each call scored against an account, from its arrival to its answer (performance.now() ms),
   * what it asked (`GET account/campaigns`, `POST account/insights`, `GET report run` (a poll), `GET report run/insights`)
   * and the answer's length in characters.
   */
  callLog: Array<{ account: string; arrived: number; answered: number; what: string; chars: number }>;
}

export interface FbSandboxOptions extends SandboxOptions {
  /** `buc_block`: how long the block lasts (reported as fractional minutes in estimated_time_to_regain_access). */
  bucBlockMs?: number;
  /** `too_many_rows`: ad-days above which a request (sync or async) is refused with 100/1487534. */
  tooManyRows?: number;
  /** `reduce_data`: ad-days above which a sync request gets 500 code 1 "reduce the amount of data". */
  reduceDataRows?: number;
  /** `reduce_data_pages`: a page after the first asking more rows than this gets "reduce the amount of data" (default 10). */
  reducePageLimit?: number;
  asOf?: string | null;
  modifier?: AdDayModifier;
  /** A scaled world (fbWorld(seed, shape)); absent = the default five accounts. */
  shape?: WorldShape;
  /**
   * Every answer takes at least this long from the request's arrival (a timer, so concurrent requests
   * overlap as upstream ones do; the answer is computed meanwhile).
   */
  latencyMs?: number;
  /** Keep `callLog` (tests of who calls when; off by default so a long-running sandbox does not grow). */
  recordCalls?: boolean;
  /** Which accounts the account-bound faults hit (defaults: FB_FAULT_ACCOUNTS, the default world's ids). */
  faultAccounts?: Partial<Record<keyof typeof FB_FAULT_ACCOUNTS, string>>;
  /**
   * The sandbox's clock (default: the real one). Each account lives in its own timezone: nothing is
   * delivered after its local today, and today holds only the hours up to its current local hour.
   */
  now?: Date | (() => Date);
}

const EXPIRED_VERSIONS_BELOW = 22;
/**
 * Page size caps. Meta documents no maximum `limit` (api notes §2); structure edges answer in small
 * pages, insights pages of a few hundred rows are common (Airbyte asks 100 and halves on "reduce the
 * amount of data"). Larger `limit` values are served at the cap, with `next` as usual.
 */
const MAX_LIMIT = 50;
const MAX_INSIGHTS_LIMIT = 500;
const AD_ONLY_STATUSES = new Set(['ADSET_PAUSED', 'DISAPPROVED', 'PENDING_REVIEW', 'PREAPPROVED', 'PENDING_BILLING_INFO', 'CAMPAIGN_PAUSED']);
const HIDDEN_BY_DEFAULT = new Set(['ARCHIVED', 'DELETED']);
const USAGE_WINDOW_MS = 10_000;
const USAGE_BUDGET = 100_000;

interface Job {
  id: string;
  account: string;
  polls: number;
  final: 'Job Completed' | 'Job Failed' | 'Job Skipped';
  error?: { code: number; subcode?: number; message: string };
  /** The request, and the conversions' read day when it came in: the report is recomputed from these when not cached. */
  params: URLSearchParams;
  asOf: string | null;
  reads: number;
}

/**
 * Reports kept in memory between their pages; others are recomputed (deterministic) when read. A report
 * leaves the cache when its last page is served, so a long batch run holds a few reports, not all of them.
 */
const REPORT_CACHE = 16;

export async function startSandbox(options: FbSandboxOptions): Promise<FbSandbox> {
  const { seed, faults } = options;
  const world = fbWorld(seed, options.shape);
  const businessTokens = world.businessTokens;
  const faultAccount = { ...FB_FAULT_ACCOUNTS, ...options.faultAccounts };
  const latencyMs = options.latencyMs ?? 0;
  const clock = (): Date => (typeof options.now === 'function' ? options.now() : options.now ?? new Date());
  const localNow = (acct: SbAccount): LocalClock => localClock(acct.timezone, clock());
  let asOf: string | null = options.asOf ?? null;
  const bucBlockMs = options.bucBlockMs ?? 1500;
  const tooManyRows = options.tooManyRows ?? 150;
  const reduceDataRows = options.reduceDataRows ?? 30;
  const reducePageLimit = options.reducePageLimit ?? 10;
  const counters: FbSandboxCounters = { requests: 0, tokenRejected: 0, bucBlocks: 0, code17: 0, transient: 0, asyncJobs: 0, asyncFailed: 0, asyncSkipped: 0, earlyReads: 0, tooManyRows: 0, reduceData: 0, throttledAnswers: 0, campaignFiltered: 0, incrementalLists: 0, adAccountLists: 0, reducedPages: 0 };
  const calls = new Map<string, number[]>();
  const callCount = new Map<string, number>();
  const blockedUntil = new Map<string, number>();
  const jobs = new Map<string, Job>();
  const reports = new Map<string, Array<Record<string, unknown>>>();
  function cacheReport(id: string, rows: Array<Record<string, unknown>>): void {
    reports.set(id, rows);
    if (reports.size > REPORT_CACHE) reports.delete(reports.keys().next().value!);
  }
  function reportRows(job: Job): Array<Record<string, unknown>> {
    const cached = reports.get(job.id);
    if (cached) return cached;
    const answer = insightRows(world.accounts.get(job.account)!, job.params, job.asOf);
    const rows = typeof answer === 'string' ? [] : answer.rows;
    cacheReport(job.id, rows);
    return rows;
  }
  const skippedKeys = new Set<string>();
  let jobSeq = 0;
  let trace = 0;
  /** Per-sandbox edits (the world itself is shared by every sandbox of the seed). */
  const adEdits = new Map<string, { name: string; updated: string }>();
  const revokedAccount = faults.has('revoked_token') ? world.accounts.get(faultAccount.revoked_token) : undefined;
  const revoked = new Set(revokedAccount ? [revokedAccount.token] : []);

  function tokenAccounts(token: string): string[] {
    const out: string[] = [];
    for (const a of world.accounts.values()) if (a.token === token || (a.business && businessTokens[a.business.id] === token)) out.push(a.id);
    return out;
  }

  function usagePct(account: string): number {
    const now = Date.now();
    const list = (calls.get(account) ?? []).filter((t) => now - t < USAGE_WINDOW_MS);
    calls.set(account, list);
    let pct = (list.length / USAGE_BUDGET) * 100;
    if (faults.has('throttle') && account === faultAccount.throttle) {
      pct += 80 + (list.length % 15);
      counters.throttledAnswers++;
    }
    return Math.round(pct * 100) / 100;
  }

  function usageHeaders(account: string | null, insights: boolean, regainMin = 0, overridePct?: number): Record<string, string> {
    const h: Record<string, string> = { 'x-app-usage': JSON.stringify({ call_count: 1, total_time: 1, total_cputime: 1 }) };
    if (!account) return h;
    const acct = world.accounts.get(account);
    const pct = overridePct ?? usagePct(account);
    h['x-ad-account-usage'] = JSON.stringify({ acc_id_util_pct: pct, reset_time_duration: regainMin > 0 ? Math.ceil(regainMin * 60) : 0, ads_api_access_tier: 'standard_access' });
    if (acct?.business) {
      h['x-business-use-case-usage'] = JSON.stringify({
        [acct.business.id]: [{ type: insights ? 'ads_insights' : 'ads_management', call_count: pct, total_cputime: Math.floor(pct / 2), total_time: Math.floor(pct / 2), estimated_time_to_regain_access: regainMin, ads_api_access_tier: 'standard_access' }],
      });
    }
    if (insights) h['x-fb-ads-insights-throttle'] = JSON.stringify({ app_id_util_pct: 0, acc_id_util_pct: pct, ads_api_access_tier: 'standard_access' });
    return h;
  }

  /** When each request arrived: its answer goes out latencyMs after that, not before. */
  const arrivedAt = new WeakMap<http.ServerResponse, number>();
  /** The account a request is scored against, for callLog. */
  const accountOf = new WeakMap<http.ServerResponse, { account: string; what: string }>();
  const callLog: FbSandbox['callLog'] = [];
  function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    const write = () => {
      res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers });
      res.end(text);
      const call = accountOf.get(res);
      if (call) callLog.push({ ...call, arrived: arrivedAt.get(res) ?? 0, answered: performance.now(), chars: text.length });
    };
    const wait = latencyMs - (performance.now() - (arrivedAt.get(res) ?? 0));
    if (latencyMs > 0 && wait > 0) setTimeout(write, wait);
    else write();
  }
  function fbError(code: number, message: string, extra: { subcode?: number; type?: string; transient?: boolean } = {}): unknown {
    return {
      error: {
        message, type: extra.type ?? 'OAuthException', code, ...(extra.subcode ? { error_subcode: extra.subcode } : {}),
        ...(extra.transient !== undefined ? { is_transient: extra.transient } : {}), fbtrace_id: `SbTrace${++trace}`,
      },
    };
  }

  /** The whole dataset a list answer pages over, as `{data, paging}`, with `next` only when more exists. */
  function paged(url: URL, items: Array<Record<string, unknown>>, base: string, maxLimit = MAX_LIMIT): { data: unknown[]; paging: { next?: string } } {
    const limit = Math.min(maxLimit, Math.max(1, Number(url.searchParams.get('limit') ?? 25) || 25));
    const after = url.searchParams.get('after');
    const offset = after ? Number(Buffer.from(after, 'base64').toString('utf8').replace(/^o:/, '')) || 0 : 0;
    const page = items.slice(offset, offset + limit);
    const cursor = (n: number) => Buffer.from(`o:${n}`).toString('base64');
    const paging: Record<string, unknown> = { cursors: { before: cursor(offset), after: cursor(offset + page.length) } };
    if (offset + page.length < items.length) {
      const next = new URL(`${base}${url.pathname}`);
      for (const [k, v] of url.searchParams) if (k !== 'after' && k !== 'access_token') next.searchParams.set(k, v);
      next.searchParams.set('limit', String(limit));
      next.searchParams.set('after', cursor(offset + page.length));
      paging.next = next.toString();
    }
    if (offset > 0) paging.previous = `${base}${url.pathname}?before=${cursor(offset)}`;
    return { data: page, paging };
  }

  /**
   * Insight rows of one account for the request params, or an error text. `size` is what the data limits
   * count: rows without the hourly breakdown (one per ad and bucket), an hour being a slice of its day.
   */
  function insightRows(acct: SbAccount, params: URLSearchParams, at: string | null): { rows: Array<Record<string, unknown>>; size: number } | string {
    let since: string;
    let until: string;
    try {
      const tr = JSON.parse(params.get('time_range') ?? 'null') as { since?: string; until?: string } | null;
      if (!tr || !isDay(String(tr.since)) || !isDay(String(tr.until))) return 'time_range must be {"since","until"}';
      since = tr.since!;
      until = tr.until!;
    } catch {
      return 'time_range is not valid JSON';
    }
    if (since > until) return 'time_range since is after until';
    if (params.get('level') !== 'ad') return 'this sandbox serves level=ad only';
    const filters = filtersParam(params.get('filtering'));
    if (typeof filters === 'string') return filters;
    let statuses: Set<string> | null = null;
    let campaigns: Set<string> | null = null;
    for (const f of filters) {
      const values = Array.isArray(f.value) ? f.value.map(String) : [String(f.value)];
      if (f.field === 'ad.effective_status' && f.operator === 'IN') statuses = new Set(values);
      else if (f.field === 'campaign.id' && f.operator === 'IN') {
        campaigns = new Set(values);
        counters.campaignFiltered++;
      }
      else return `unsupported filter ${f.field} ${f.operator}`;
    }
    const fields = topLevelFields(params.get('fields'));
    const increment = Number(params.get('time_increment') ?? '1');
    if (!Number.isInteger(increment) || increment < 1 || increment > 90) return 'time_increment must be 1..90 in this sandbox';
    const breakdowns = listParam(params.get('breakdowns')) ?? [];
    const windows = (listParam(params.get('action_attribution_windows')) ?? []).filter((w) => w !== 'default');
    const hourly = breakdowns.includes(HOURLY_BREAKDOWN);
    if (breakdowns.some((b) => b !== HOURLY_BREAKDOWN)) return `unsupported breakdowns ${breakdowns.join(',')}`;
    if (hourly && increment !== 1) return 'the hourly breakdown needs time_increment=1 in this sandbox';
    const adsets = new Map(acct.adsets.map((s) => [s.id, s]));
    const camps = new Map(acct.campaigns.map((c) => [c.id, c]));
    const local = localNow(acct);
    const rows: Array<Record<string, unknown>> = [];
    let size = 0;
    const push = (ad: SbAd, from: string, to: string, st: WireStats, hour?: number) => {
      const full = insightWire(acct, ad, adsets.get(ad.adsetId)!, camps.get(ad.campaignId)!, from, to, st, windows, hour);
      rows.push(fields ? project(full, fields, hourly ? ['date_start', 'date_stop', HOURLY_BREAKDOWN] : ['date_start', 'date_stop']) : full);
    };
    for (const ad of acct.ads) {
      // Without an ad.effective_status filter, archived and deleted ads are left out (their spend too).
      if (statuses ? !statuses.has(ad.status) : HIDDEN_BY_DEFAULT.has(ad.status)) continue;
      if (campaigns && !campaigns.has(ad.campaignId)) continue;
      // Buckets of `increment` days from `since`; the last one stops at `until` (Meta's time_increment).
      for (let from = since; from <= until; from = addDays(from, increment)) {
        const to = minDay(addDays(from, increment - 1), until);
        if (hourly) {
          const day = from <= local.today ? dayStats(ad, from, at) : null;
          if (!day) continue;
          size++;
          const hours = hourSlices(seed, ad, from, day);
          for (let h = 0; h < 24 && (from < local.today || h <= local.hour); h++) {
            const st = hourWire(hours[h]!);
            if (st) push(ad, from, to, st, h);
          }
          continue;
        }
        const st = bucketStats(ad, from, to, at, local);
        if (st) size++;
        if (st) push(ad, from, to, st);
      }
    }
    return { rows, size };
  }

  /** `at`: the day conversions are read on (asOf when the request came in). The world's whole day. */
  function dayStats(ad: SbAd, date: string, at: string | null): AdDay | null {
    return adDayStats(seed, ad, date, at, options.modifier);
  }

  /** A day as the account's clock sees it (adDayAt): nothing after its local today; today the hours so far. */
  function clockedDay(ad: SbAd, date: string, at: string | null, local: LocalClock): WireStats | null {
    return adDayAt(seed, ad, date, local, at, options.modifier);
  }

  /**
   * One ad's numbers for the bucket from..to as the account's clock has it: a day (adDayAt); otherwise the
   * Monday weeks it touches, each as adPartWeek gives it (a whole week that is over: the world's own week,
   * unique reach and rankings; a part of a week: its days summed, reach restricted to them), added up, with
   * the rankings of its last week.
   */
  function bucketStats(ad: SbAd, from: string, to: string, at: string | null, local: LocalClock): WireStats | null {
    if (from === to) return clockedDay(ad, from, at, local);
    const parts: AdWeek[] = [];
    for (let week = mondayOf(from); week <= to; week = addDays(week, 7)) {
      const part = adPartWeek(seed, ad, week < from ? from : week, minDay(addDays(week, 6), to), local, at, options.modifier);
      if (part) parts.push(part);
    }
    if (parts.length === 0) return null;
    return { ...sumAdditive(parts), reach: parts.reduce((n, p) => n + p.reach, 0), rankings: parts.at(-1)!.rankings };
  }

  function listEdge(acct: SbAccount, edge: string, url: URL): Array<Record<string, unknown>> | { code: number; subcode?: number; message: string } {
    const statuses = listParam(url.searchParams.get('effective_status'));
    if (edge === 'campaigns' && statuses?.some((s) => AD_ONLY_STATUSES.has(s))) return { code: 100, subcode: 1487561, message: 'Run Status not valid' };
    const filters = filtersParam(url.searchParams.get('filtering'));
    if (typeof filters === 'string') return { code: 100, message: filters };
    let updatedAfter = Number(url.searchParams.get('updated_since') ?? NaN);
    for (const f of filters) {
      if (/\.updated_time$/.test(f.field) && f.operator === 'GREATER_THAN') {
        updatedAfter = Number(f.value);
        counters.incrementalLists++;
      }
      else return { code: 100, message: `unsupported filter ${f.field}` };
    }
    const wire: Array<{ status: string; updated: string; o: Record<string, unknown> }> =
      edge === 'campaigns' ? acct.campaigns.map((c) => ({ status: c.status, updated: c.updated, o: campaignWire(acct, c) }))
      : edge === 'adsets' ? acct.adsets.map((s) => ({ status: s.status, updated: s.updated, o: adsetWire(acct, s) }))
      : edge === 'ads' ? acct.ads.map((a) => ({ ...a, ...adEdits.get(a.id) })).map((a) => ({ status: a.status, updated: a.updated, o: adWire(acct, a) }))
      : acct.creatives.map((c) => ({ status: 'ACTIVE', updated: '', o: creativeWire(c) }));
    const fields = topLevelFields(url.searchParams.get('fields'));
    return wire
      .filter((w) => (statuses ? statuses.includes(w.status) : !HIDDEN_BY_DEFAULT.has(w.status)))
      .filter((w) => !Number.isFinite(updatedAfter) || !w.updated || Date.parse(w.updated.replace(/([+-]\d{2})(\d{2})$/, '$1:$2')) / 1000 > updatedAfter)
      .map((w) => project(w.o, fields, ['id']));
  }

  const handler = async (req: http.IncomingMessage, res: http.ServerResponse, base: string): Promise<void> => {
    counters.requests++;
    // The latency is the answer's whole time, as an upstream's is: the answer is worked out while the timer
    // runs (send() waits for what is left), so the sandbox's own CPU, which a real API spends on its own
    // machines, does not add to it.
    arrivedAt.set(res, performance.now());
    const url = new URL(req.url ?? '/', base);
    const body = req.method === 'POST' ? await readBody(req) : '';
    const params = new URLSearchParams(url.search);
    if (req.method === 'POST') for (const [k, v] of new URLSearchParams(body)) params.set(k, v);

    const m = /^\/(v(\d+)\.\d+)\/(.+)$/.exec(url.pathname);
    if (!m) return send(res, 400, fbError(2500, 'Unknown path components'), usageHeaders(null, false));
    if (Number(m[2]) < EXPIRED_VERSIONS_BELOW) return send(res, 400, fbError(2635, `You are calling a deprecated version of the Ads API. Please update to the latest version: v24.0.`), usageHeaders(null, false));
    const parts = m[3]!.split('/');

    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : params.get('access_token') ?? '';
    if (revoked.has(token)) {
      counters.tokenRejected++;
      return send(res, 400, fbError(190, 'Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.', { subcode: 460 }), usageHeaders(null, false));
    }
    const allowed = tokenAccounts(token);
    if (allowed.length === 0) {
      counters.tokenRejected++;
      return send(res, 400, fbError(190, 'Invalid OAuth access token - Cannot parse access token', { subcode: 467 }), usageHeaders(null, false));
    }

    // Which account the call is scored against.
    const job = jobs.get(parts[0]!);
    const account = parts[0] === 'me' ? null : job ? job.account : parts[0]!;
    if (account !== null && !allowed.includes(account)) {
      return send(res, 400, fbError(100, `Unsupported get request. Object with ID '${account}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`, { subcode: 33, type: 'GraphMethodException' }), usageHeaders(null, false));
    }
    const insights = parts.includes('insights') || Boolean(job);
    if (account) {
      if (options.recordCalls) accountOf.set(res, { account, what: `${req.method} ${job ? 'report run' : 'account'}${parts.slice(1).map((p) => `/${p}`).join('')}` });
      calls.set(account, [...(calls.get(account) ?? []), Date.now()]);
      callCount.set(account, (callCount.get(account) ?? 0) + 1);
    }
    const n = account ? callCount.get(account)! : 0;

    // ---- faults that answer before the route ----
    if (account && faults.has('buc_block') && account === faultAccount.buc_block) {
      if (n === 8 && !blockedUntil.has(account)) blockedUntil.set(account, Date.now() + bucBlockMs);
      const until = blockedUntil.get(account) ?? 0;
      if (Date.now() < until) {
        counters.bucBlocks++;
        const regainMin = (until - Date.now()) / 60_000;
        return send(res, 400, fbError(insights ? 80000 : 80004, `There have been too many calls ${insights ? 'from' : 'to'} this ad-account. Wait a bit and try again.`, { subcode: 2446079 }), usageHeaders(account, insights, Math.round(regainMin * 10000) / 10000, 105));
      }
    }
    if (account && faults.has('code17') && account === faultAccount.code17 && n % 4 === 1 && n <= 13) {
      counters.code17++;
      return send(res, 400, fbError(17, 'User request limit reached', { subcode: 2446079 }), usageHeaders(account, insights, 0, 100));
    }
    if (faults.has('transient') && counters.requests % 13 === 0) {
      counters.transient++;
      switch ((counters.requests / 13) % 4) {
        case 0:
          return send(res, 400, fbError(2, 'Service temporarily unavailable', { transient: true }), usageHeaders(account, insights));
        case 1:
          return send(res, 500, fbError(1, 'An unknown error occurred', { subcode: 99 }), usageHeaders(account, insights));
        case 2:
          return send(res, 200, '<html><body>Service Unavailable</body></html>', { ...usageHeaders(account, insights), 'content-type': 'text/html' });
        default:
          req.socket.destroy();
          return;
      }
    }

    const h = usageHeaders(account, insights);
    // Any paged read (structure edges, sync insights, report pages, /me/adaccounts): a later page asking many rows.
    if (faults.has('reduce_data_pages') && req.method === 'GET' && url.searchParams.get('after') && Number(url.searchParams.get('limit') ?? 25) > reducePageLimit) {
      counters.reducedPages++;
      return send(res, 500, fbError(1, "Please reduce the amount of data you're asking for, then retry your request"), h);
    }

    // ---- routes ----
    if (parts[0] === 'me' && parts[1] === 'adaccounts' && req.method === 'GET') {
      counters.adAccountLists++;
      const list = allowed.map((id) => accountWire(world.accounts.get(id)!));
      return send(res, 200, paged(url, list, base), h);
    }
    if (job) {
      if (parts.length === 1) {
        const states = ['Job Not Started', 'Job Started', 'Job Running', 'Job Running'];
        const pct = [0, 10, 60, 100];
        const i = Math.min(job.polls++, states.length);
        const status = i < states.length ? states[i]! : job.final;
        const out: Record<string, unknown> = { id: job.id, account_id: job.account.slice(4), async_status: status, async_percent_completion: i < states.length ? pct[i] : 100, is_running: i < states.length };
        if (status === 'Job Failed' && job.error) Object.assign(out, { error_code: job.error.code, error_subcode: job.error.subcode, error_message: job.error.message });
        return send(res, 200, out, h);
      }
      if (parts[1] === 'insights') {
        if (job.polls <= 4 || job.final !== 'Job Completed' || (faults.has('async_read_flaky') && job.reads++ === 0)) {
          counters.earlyReads++;
          return send(res, 400, fbError(2601, 'Error accessing adreport job.', { subcode: 1815107, transient: true }), h);
        }
        const page = paged(url, reportRows(job), base, MAX_INSIGHTS_LIMIT);
        if (!page.paging.next) reports.delete(job.id);
        return send(res, 200, page, h);
      }
    }
    const acct = world.accounts.get(parts[0]!);
    if (!acct) return send(res, 400, fbError(100, `Unsupported get request. Object with ID '${parts[0]}' does not exist`, { subcode: 33, type: 'GraphMethodException' }), h);
    if (parts.length === 1 && req.method === 'GET') {
      const fields = topLevelFields(url.searchParams.get('fields'));
      return send(res, 200, project(accountWire(acct), fields, ['id']), h);
    }
    const edge = parts[1]!;
    if (['campaigns', 'adsets', 'ads', 'adcreatives'].includes(edge) && req.method === 'GET') {
      const items = listEdge(acct, edge, url);
      if (!Array.isArray(items)) return send(res, 400, fbError(items.code, items.message, { subcode: items.subcode }), h);
      return send(res, 200, paged(url, items, base), h);
    }
    if (edge === 'insights') {
      const answer = insightRows(acct, params, asOf);
      if (typeof answer === 'string') return send(res, 400, fbError(100, `Invalid parameter: ${answer}`), h);
      const { rows, size } = answer;
      if (req.method === 'POST') {
        counters.asyncJobs++;
        const id = `6${String(++jobSeq).padStart(15, '0')}`;
        const key = `${acct.id}|${params.get('time_range')}|${params.get('filtering')}`;
        const j: Job = { id, account: acct.id, polls: 0, final: 'Job Completed', params: new URLSearchParams(params), asOf, reads: 0 };
        const days = (() => {
          const tr = JSON.parse(params.get('time_range')!) as { since: string; until: string };
          return diffDays(tr.since, tr.until) + 1;
        })();
        if (faults.has('async_fail') && days > 10) {
          counters.asyncFailed++;
          Object.assign(j, { final: 'Job Failed', error: { code: 2, subcode: 1504043, message: 'An intermittent error occurred' } });
        } else if (faults.has('too_many_rows') && size > tooManyRows) {
          counters.tooManyRows++;
          Object.assign(j, { final: 'Job Failed', error: { code: 100, subcode: 1487534, message: 'Too many rows' } });
        } else if (faults.has('async_skip') && !skippedKeys.has(key)) {
          skippedKeys.add(key);
          counters.asyncSkipped++;
          Object.assign(j, { final: 'Job Skipped' });
        }
        jobs.set(id, j);
        if (j.final === 'Job Completed') cacheReport(id, rows);
        return send(res, 200, { report_run_id: id }, h);
      }
      if (faults.has('too_many_rows') && size > tooManyRows) {
        counters.tooManyRows++;
        return send(res, 400, fbError(100, 'Please reduce the number of rows: Too many rows', { subcode: 1487534 }), h);
      }
      if (faults.has('reduce_data') && size > reduceDataRows) {
        counters.reduceData++;
        return send(res, 500, fbError(1, "Please reduce the amount of data you're asking for, then retry your request"), h);
      }
      return send(res, 200, paged(url, rows, base, MAX_INSIGHTS_LIMIT), h);
    }
    return send(res, 400, fbError(100, `Unknown edge ${edge}`), h);
  };

  function accountWire(a: SbAccount): Record<string, unknown> {
    const out: Record<string, unknown> = {
      id: a.id, account_id: a.id.slice(4), name: a.name, currency: a.currency, timezone_name: a.timezone, timezone_id: 1,
      account_status: 1, amount_spent: '743855', balance: '0',
    };
    if (a.business) Object.assign(out, { business: a.business, business_name: a.business.name });
    return out;
  }

  let base = '';
  const server = await listen((req, res) => {
    handler(req, res, base).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, fbError(1, `sandbox error: ${String(err)}`), {});
    });
  }, options.port);
  base = server.url;

  const env: Record<string, string> = {
    FB_API_URL: server.url,
    FB_API_VERSION: 'v24.0',
    // Accounts of a business with a business token use it; the others carry their own token.
    FB_ACCOUNTS: JSON.stringify(
      [...world.accounts.values()].map((a) => {
        const label = options.shape ? undefined : (FB_SANDBOX_ACCOUNTS.find((s) => s.id === a.id) as { label?: string } | undefined)?.label;
        return {
          id: a.id,
          ...(a.business && businessTokens[a.business.id] ? {} : { access_token: a.token }),
          ...(a.business ? { business_id: a.business.id } : {}),
          ...(label ? { label } : {}),
        };
      }),
    ),
    FB_BUSINESS_TOKENS: JSON.stringify(businessTokens),
    // The fake is local and its async jobs finish in a few polls: no need to wait seconds between them.
    FB_POLL_MS: '20',
    FB_POLL_MAX_MS: '100',
  };
  return {
    source: 'facebook',
    url: server.url,
    env,
    counters,
    world,
    callLog,
    setAsOf(day) {
      asOf = day;
    },
    renameAd(adId, name) {
      const now = new Date().toISOString().slice(0, 19);
      adEdits.set(adId, { name, updated: `${now}+0000` });
    },
    close: server.close,
  };
}
