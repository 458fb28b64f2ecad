// Client of the Facebook Marketing (Graph) API over the runtime's HttpClient: usage headers read on every
// answer, errors mapped to the runtime's classes, cursor paging, async report runs, and insights requests
// that split themselves (dates, then campaigns) when Meta says the request is too big or a job keeps failing;
// one path for the daily, weekly and hourly grains; /me/adaccounts for discovery.
import { addDays, diffDays } from '../../src/runtime/dates.js';
import { AdhouseError } from '../../src/runtime/errors.js';
import type { HttpClient, HttpResponse } from '../../src/runtime/http.js';
import { redactString } from '../../src/runtime/redact.js';
import type { Logger } from '../../src/runtime/logger.js';
import { HOURLY_BREAKDOWN, type InsightGrain } from './transform.js';

// ---- usage headers ----------------------------------------------------------------------------

export interface Usage {
  /** The highest percentage in any usage header (may exceed 100). */
  maxPct: number;
  /** The longest `estimated_time_to_regain_access` (minutes upstream) in ms; 0 when not blocked. */
  regainMs: number;
}

function jsonHeader(headers: Headers, name: string): unknown {
  const v = headers.get(name);
  if (!v) return undefined;
  try {
    return JSON.parse(v) as unknown;
  } catch {
    return undefined;
  }
}

function pctFields(o: unknown, keys: readonly string[]): number[] {
  if (!o || typeof o !== 'object') return [];
  const rec = o as Record<string, unknown>;
  return keys.map((k) => Number(rec[k])).filter((n) => Number.isFinite(n));
}

/** Reads X-Business-Use-Case-Usage, X-Ad-Account-Usage, X-App-Usage and X-FB-Ads-Insights-Throttle. */
export function parseUsage(headers: Headers): Usage {
  const pcts: number[] = [];
  let regainMin = 0;
  const buc = jsonHeader(headers, 'x-business-use-case-usage');
  if (buc && typeof buc === 'object') {
    for (const list of Object.values(buc as Record<string, unknown>)) {
      for (const entry of Array.isArray(list) ? list : []) {
        pcts.push(...pctFields(entry, ['call_count', 'total_cputime', 'total_time']));
        const regain = Number((entry as Record<string, unknown>)?.estimated_time_to_regain_access);
        if (Number.isFinite(regain) && regain > regainMin) regainMin = regain;
      }
    }
  }
  pcts.push(...pctFields(jsonHeader(headers, 'x-ad-account-usage'), ['acc_id_util_pct']));
  pcts.push(...pctFields(jsonHeader(headers, 'x-app-usage'), ['call_count', 'total_time', 'total_cputime']));
  pcts.push(...pctFields(jsonHeader(headers, 'x-fb-ads-insights-throttle'), ['app_id_util_pct', 'acc_id_util_pct']));
  return { maxPct: pcts.length ? Math.max(...pcts) : 0, regainMs: Math.round(regainMin * 60_000) };
}

export interface ThrottlePolicy {
  /** Above this usage the client slows down (percent). */
  slowdownPct: number;
  /** The pause at 100 % usage; linear from 0 at slowdownPct. */
  slowdownMaxMs: number;
}

/** How long to wait before the next call of this account, given the last usage it reported. */
export function throttlePauseMs(usage: Usage, policy: ThrottlePolicy): number {
  if (usage.regainMs > 0) return usage.regainMs;
  if (usage.maxPct <= policy.slowdownPct) return 0;
  const share = Math.min(1, (usage.maxPct - policy.slowdownPct) / (100 - policy.slowdownPct));
  return Math.round(policy.slowdownMaxMs * share);
}

// ---- errors -----------------------------------------------------------------------------------

export interface FbErrorBody {
  message?: string;
  type?: string;
  code?: number;
  error_subcode?: number;
  is_transient?: boolean;
  fbtrace_id?: string;
}

/** The request is too big for Meta: split it, never retry it as is (100/1487534, "reduce the amount of data"). */
export interface SplitSignal {
  split: true;
  reason: string;
}

export const RATE_LIMIT_CODES: ReadonlySet<number> = new Set([4, 17, 32, 613]);
export const isBucCode = (code: number): boolean => code >= 80000 && code <= 80014;

/**
 * Maps a Graph error to the runtime's classes (BEHAVIOR.md has the table). `rateLimitWaitMs` is the wait
 * when a throttling error says nothing about when access comes back.
 */
export function classifyFbError(status: number, err: FbErrorBody, usage: Usage, rateLimitWaitMs: number, what: string): AdhouseError | SplitSignal {
  const code = Number(err.code ?? 0);
  const sub = Number(err.error_subcode ?? 0);
  const msg = redactString(String(err.message ?? '').slice(0, 300));
  const upstreamCode = sub ? `${code}/${sub}` : code || status;
  const text = `Facebook ${what}: (#${upstreamCode}) ${msg}${err.fbtrace_id ? ` [fbtrace_id ${err.fbtrace_id}]` : ''}`;
  if (code === 100 && sub === 1487534) return { split: true, reason: `too many rows (#100/1487534)` };
  if (/reduce the amount of data/i.test(msg)) return { split: true, reason: `reduce the amount of data (#${code})` };
  if (code === 190 || code === 102) return new AdhouseError('token_invalid', text, { upstreamCode });
  if (code === 10 || (code >= 200 && code <= 299)) return new AdhouseError('token_invalid', `${text} (permission)`, { upstreamCode });
  if (RATE_LIMIT_CODES.has(code) || isBucCode(code)) {
    return new AdhouseError('rate_limited', text, { upstreamCode, retryAfterMs: usage.regainMs > 0 ? usage.regainMs : rateLimitWaitMs });
  }
  if (code === 2635) return new AdhouseError('config', `${text} (set FB_API_VERSION to a supported version)`, { upstreamCode });
  if (code === 1 || code === 2 || code === 2601 || code === 341 || code === 960 || err.is_transient === true || status >= 500) {
    return new AdhouseError('upstream_5xx', text, { upstreamCode });
  }
  if (code === 100) return new AdhouseError('config', text, { upstreamCode });
  return new AdhouseError('internal', text, { upstreamCode });
}

// ---- the client -------------------------------------------------------------------------------

export const ALL_EFFECTIVE_STATUSES = {
  campaign: ['ACTIVE', 'PAUSED', 'DELETED', 'ARCHIVED', 'IN_PROCESS', 'WITH_ISSUES'],
  adset: ['ACTIVE', 'PAUSED', 'DELETED', 'ARCHIVED', 'IN_PROCESS', 'WITH_ISSUES', 'CAMPAIGN_PAUSED'],
  ad: ['ACTIVE', 'PAUSED', 'DELETED', 'ARCHIVED', 'IN_PROCESS', 'WITH_ISSUES', 'CAMPAIGN_PAUSED', 'ADSET_PAUSED', 'DISAPPROVED', 'PENDING_REVIEW', 'PREAPPROVED', 'PENDING_BILLING_INFO'],
} as const;

export const FIELDS = {
  account: ['id', 'account_id', 'name', 'currency', 'timezone_name', 'business', 'business_name', 'account_status'],
  campaign: ['id', 'account_id', 'name', 'status', 'configured_status', 'effective_status', 'objective', 'buying_type', 'bid_strategy', 'daily_budget', 'lifetime_budget', 'budget_remaining', 'spend_cap', 'start_time', 'stop_time', 'created_time', 'updated_time'],
  adset: ['id', 'account_id', 'campaign_id', 'name', 'status', 'effective_status', 'optimization_goal', 'billing_event', 'bid_strategy', 'bid_amount', 'daily_budget', 'lifetime_budget', 'budget_remaining', 'destination_type', 'targeting', 'start_time', 'end_time', 'created_time', 'updated_time'],
  ad: ['id', 'account_id', 'campaign_id', 'adset_id', 'name', 'status', 'effective_status', 'creative{id}', 'created_time', 'updated_time'],
  creative: ['id', 'name', 'status', 'title', 'body', 'object_type', 'call_to_action_type', 'link_url', 'url_tags', 'object_story_spec'],
  insights: [
    'account_id', 'account_currency', 'campaign_id', 'campaign_name', 'adset_id', 'adset_name', 'ad_id', 'ad_name', 'objective', 'optimization_goal',
    'impressions', 'reach', 'frequency', 'clicks', 'inline_link_clicks', 'spend', 'ctr', 'inline_link_click_ctr', 'cpm', 'cpc',
    'actions', 'action_values', 'cost_per_action_type', 'quality_ranking', 'engagement_rate_ranking', 'conversion_rate_ranking',
  ],
  adAccounts: ['id', 'account_id', 'name', 'currency', 'business'],
} as const;

// Insight grains share one code path: daily = time_increment 1; weekly = time_increment 7 from a Monday
// (Meta's buckets start at `since`, so a date split keeps whole weeks); hourly = one day by the advertiser's hour.
/** Unique counts (reach, frequency) and rankings are not served with the hourly breakdown: never ask for them. */
const NOT_HOURLY = new Set(['reach', 'frequency', 'quality_ranking', 'engagement_rate_ranking', 'conversion_rate_ranking']);
export const INSIGHT_FIELDS: Readonly<Record<InsightGrain, readonly string[]>> = {
  daily: FIELDS.insights,
  weekly: FIELDS.insights,
  hourly: FIELDS.insights.filter((f) => !NOT_HOURLY.has(f)),
};
/** Days per bucket: the unit a date split must keep whole. */
const BUCKET_DAYS: Readonly<Record<InsightGrain, number>> = { daily: 1, weekly: 7, hourly: 1 };

export type Entity = 'campaign' | 'adset' | 'ad' | 'creative';
const EDGE: Record<Entity, string> = { campaign: 'campaigns', adset: 'adsets', ad: 'ads', creative: 'adcreatives' };

export interface FbApiOptions {
  http: HttpClient;
  baseUrl: string;
  version: string;
  accountId: string;
  token: string;
  pageLimit: number;
  /** Rows per insights page (sync and report reads): insights pages are larger than structure pages. */
  insightsPageLimit?: number;
  rateLimitWaitMs: number;
  throttle: ThrottlePolicy;
  /** Days at or below which insights use the synchronous endpoint. */
  syncMaxDays: number;
  pollMs: number;
  pollMaxMs: number;
  asyncTimeoutMs: number;
  /** Attempts of one async job before it is split. */
  asyncAttempts: number;
  log?: Logger;
}

export interface InsightPage {
  since: string;
  until: string;
  /** The answer's body, `{"data":[…],"paging":{…}}`, as bytes: page-decode.ts parses and types its rows. */
  body: Buffer;
}

export interface FbApi {
  account(): Promise<Record<string, unknown>>;
  /** Pages of /me/adaccounts: every ad account this token can read (discovery). */
  adAccounts(): AsyncGenerator<Array<Record<string, unknown>>>;
  /** Pages of one structure edge; `updatedAfter` (unix seconds) filters on `<entity>.updated_time` (not creatives). */
  list(entity: Entity, updatedAfter?: number): AsyncGenerator<Array<Record<string, unknown>>>;
  /**
   * Ad-level insights of one grain for [since, until], every ad status included; splits as needed.
   * Weekly: `since` must be a Monday (buckets start there); hourly: one day.
   */
  insights(grain: InsightGrain, since: string, until: string): AsyncGenerator<InsightPage>;
  /** Calls made and what happened, for logs and tests. */
  readonly stats: { calls: number; throttledMs: number; splits: number; asyncJobs: number; asyncRetries: number; limitHalvings: number };
}

/** `body` is kept for raw reads; their `json` may hold only `paging` (pagingOf). */
type Answer = { ok: true; json: Record<string, unknown>; body?: Buffer } | { ok: false; split: SplitSignal };

/** Bytes at the end of a page that pagingOf reads: the paging object with its `next` URL is a few KB. */
const PAGING_TAIL_BYTES = 64 * 1024;

/**
 * The `paging` of a page read from the body's tail, without decoding or parsing its rows (Meta puts `paging`
 * last, so the tail is short). The text `"paging":` cannot occur inside a JSON string (its quotes would be
 * escaped), and `{` + the tail from its last occurrence parses only when the body's final `}` closes the
 * object holding that key: the root. So the result, when there is one, is the page's own paging; otherwise
 * (no paging, a paging nested deeper or longer than the tail read) undefined, and the caller parses it all.
 */
export function pagingOf(body: Buffer): Record<string, unknown> | undefined {
  const text = body.subarray(Math.max(0, body.length - PAGING_TAIL_BYTES)).toString('utf8');
  const at = text.lastIndexOf('"paging":');
  if (at < 0) return undefined;
  try {
    const tail = JSON.parse(`{${text.slice(at)}`) as { paging?: unknown };
    return tail.paging && typeof tail.paging === 'object' && !Array.isArray(tail.paging) ? (tail.paging as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export function createFbApi(opts: FbApiOptions): FbApi {
  const { http } = opts;
  const root = `${opts.baseUrl}/${opts.version}`;
  const stats = { calls: 0, throttledMs: 0, splits: 0, asyncJobs: 0, asyncRetries: 0, limitHalvings: 0 };
  const insightsLimit = opts.insightsPageLimit ?? opts.pageLimit;
  /** Calls of this account wait until then: set from usage headers (slow-down, BUC block). */
  let pauseUntil = 0;

  /** `raw`: a 2xx page whose paging pagingOf finds is not decoded here (its bytes go to the page decoder). */
  async function call(what: string, url: string, query: Record<string, string | number> | undefined, form?: URLSearchParams, raw = false): Promise<Answer> {
    return http.request<Answer>(
      {
        method: form ? 'POST' : 'GET',
        url,
        query,
        body: form,
        // The header keeps the token out of URLs (and of `paging.next`, which we follow as given).
        headers: { authorization: `Bearer ${opts.token}` },
      },
      async (res) => {
        stats.calls++;
        const usage = parseUsage(res.headers);
        const pause = throttlePauseMs(usage, opts.throttle);
        if (pause > 0) pauseUntil = Math.max(pauseUntil, Date.now() + pause);
        const answer = interpret(res, usage, what, raw);
        // Slow down before handing the answer back, so the next call of this account starts after the pause.
        // A blocked answer carries the wait in its error instead (the runtime refuses waits over HTTP_MAX_WAIT_MS).
        if (answer.ok || 'split' in answer) await waitPause();
        return answer;
      },
    );
  }

  async function waitPause(): Promise<void> {
    const wait = pauseUntil - Date.now();
    if (wait <= 0) return;
    stats.throttledMs += wait;
    opts.log?.info({ account: opts.accountId, waitMs: wait }, `facebook ${opts.accountId}: usage high, pausing ${wait} ms`);
    await http.sleep(wait);
  }

  function interpret(res: HttpResponse, usage: Usage, what: string, raw: boolean): Answer {
    if (raw && res.status >= 200 && res.status < 300) {
      const paging = pagingOf(res.bytes);
      if (paging) return { ok: true, json: { paging }, body: res.bytes };
    }
    let json: unknown;
    try {
      json = JSON.parse(res.text);
    } catch {
      // "Service Unavailable" pages on a 200, truncated bodies: transient.
      throw new AdhouseError('upstream_5xx', `Facebook ${what}: HTTP ${res.status} with a non-JSON body: ${redactString(res.text.slice(0, 80))}`);
    }
    const err = json && typeof json === 'object' ? (json as { error?: FbErrorBody }).error : undefined;
    if (err && typeof err === 'object') {
      const c = classifyFbError(res.status, err, usage, opts.rateLimitWaitMs, what);
      if (c instanceof AdhouseError) throw c;
      return { ok: false, split: c };
    }
    if (res.status < 200 || res.status >= 300) throw http.fail(res);
    if (!json || typeof json !== 'object' || Array.isArray(json)) throw new AdhouseError('upstream_5xx', `Facebook ${what}: unexpected body`);
    return { ok: true, json: json as Record<string, unknown>, ...(raw ? { body: res.bytes } : {}) };
  }

  function mustOk(a: Answer, what: string): Record<string, unknown> {
    if (a.ok) return a.json;
    throw new AdhouseError('config', `Facebook ${what}: ${a.split.reason}`);
  }

  /**
   * Follows `paging.next` until it is absent (never infers the end from a short page). A "reduce the amount
   * of data" answer on a page from `halveFrom` on (0: any page) asks the same page again (same cursor) with
   * half the `limit`, which the following pages keep; below that page the answer goes to the caller (a sync
   * insights request splits its dates instead, nothing having been read yet).
   */
  async function* pages(what: string, firstUrl: string, query: Record<string, string | number>, halveFrom = 0, raw = false): AsyncGenerator<{ answer: Answer }> {
    let url = firstUrl;
    let q: Record<string, string | number> | undefined = query;
    let limit = Number(query.limit);
    let ahead: Promise<Answer> | null = null;
    try {
      for (let page = 0; ; page++) {
        const answer: Answer = await (ahead ?? call(what, url, q, undefined, raw));
        ahead = null;
        if (!answer.ok && page >= halveFrom) {
          if (!(limit > 1)) throw new AdhouseError('upstream_5xx', `Facebook ${what}: ${answer.split.reason}, even one row per page`);
          limit = Math.floor(limit / 2);
          stats.limitHalvings++;
          opts.log?.info({ account: opts.accountId, what, limit, reason: answer.split.reason }, `facebook ${opts.accountId}: ${what}: asking ${limit} rows per page`);
          if (q) q = { ...q, limit };
          else {
            const u = new URL(url);
            u.searchParams.set('limit', String(limit));
            url = u.toString();
          }
          page--;
          continue;
        }
        if (answer.ok) {
          const next = (answer.json.paging as { next?: unknown } | undefined)?.next;
          if (typeof next === 'string' && next !== '') {
            url = next;
            q = undefined;
            // The next page is asked for while the caller works on this one: still one call at a time, and
            // the answer's latency overlaps the parsing and writing of this page.
            ahead = call(what, url, q, undefined, raw);
            ahead.catch(() => undefined);
          }
        }
        yield { answer };
        if (!answer.ok || !ahead) return;
      }
    } finally {
      // A caller that stopped early (or failed on a page) waits for the page asked ahead, unread: the
      // account's calls stay one at a time, also for whatever runs next.
      if (ahead) await ahead.catch(() => undefined);
    }
  }

  /** A raw read's body (a split answer fails as in mustOk). */
  function bodyOf(a: Answer, what: string): Buffer {
    if (a.ok && a.body !== undefined) return a.body;
    mustOk(a, what);
    throw new AdhouseError('internal', `Facebook ${what}: a raw read without its body`);
  }

  function dataOf(json: Record<string, unknown>, what: string): Array<Record<string, unknown>> {
    if (!Array.isArray(json.data)) throw new AdhouseError('upstream_5xx', `Facebook ${what}: no data list`);
    return json.data as Array<Record<string, unknown>>;
  }

  async function* list(entity: Entity, updatedAfter?: number): AsyncGenerator<Array<Record<string, unknown>>> {
    const query: Record<string, string | number> = { fields: FIELDS[entity].join(','), limit: opts.pageLimit };
    // Without effective_status ARCHIVED and DELETED objects are left out; creatives have no such filter.
    if (entity !== 'creative') query.effective_status = JSON.stringify(ALL_EFFECTIVE_STATUSES[entity]);
    if (entity !== 'creative' && updatedAfter !== undefined) {
      query.filtering = JSON.stringify([{ field: `${entity}.updated_time`, operator: 'GREATER_THAN', value: updatedAfter }]);
    }
    for await (const { answer } of pages(`${EDGE[entity]} list`, `${root}/${opts.accountId}/${EDGE[entity]}`, query)) {
      yield dataOf(mustOk(answer, `${EDGE[entity]} list`), EDGE[entity]);
    }
  }

  async function campaignIds(): Promise<string[]> {
    const ids: string[] = [];
    const query = { fields: 'id', limit: opts.pageLimit, effective_status: JSON.stringify(ALL_EFFECTIVE_STATUSES.campaign) };
    for await (const { answer } of pages('campaign ids', `${root}/${opts.accountId}/campaigns`, query)) {
      for (const c of dataOf(mustOk(answer, 'campaign ids'), 'campaigns')) ids.push(String(c.id));
    }
    return ids.sort();
  }

  function insightParams(q: InsightQuery): Record<string, string | number> {
    const filtering: unknown[] = [{ field: 'ad.effective_status', operator: 'IN', value: ALL_EFFECTIVE_STATUSES.ad }];
    if (q.campaigns) filtering.push({ field: 'campaign.id', operator: 'IN', value: q.campaigns });
    const params: Record<string, string | number> = {
      level: 'ad',
      time_increment: BUCKET_DAYS[q.grain],
      time_range: JSON.stringify({ since: q.since, until: q.until }),
      fields: INSIGHT_FIELDS[q.grain].join(','),
      filtering: JSON.stringify(filtering),
      limit: insightsLimit,
    };
    if (q.grain === 'hourly') params.breakdowns = HOURLY_BREAKDOWN;
    return params;
  }

  type Outcome = { done: true } | { done: false; reason: string };
  interface InsightQuery {
    grain: InsightGrain;
    since: string;
    until: string;
    campaigns?: string[];
  }

  /**
   * Sync GET: pages are yielded as they come. A split answer on the first page ends the request (split by
   * dates, then campaigns); on a later one the rest is read with smaller pages, so no row is read twice.
   */
  async function* syncInsights(q: InsightQuery, out: { outcome?: Outcome }): AsyncGenerator<InsightPage> {
    const { since, until } = q;
    for await (const { answer } of pages(`${q.grain} insights`, `${root}/${opts.accountId}/insights`, insightParams(q), 1, true)) {
      if (!answer.ok) {
        out.outcome = { done: false, reason: answer.split.reason };
        return;
      }
      yield { since, until, body: bodyOf(answer, `${q.grain} insights`) };
    }
    out.outcome = { done: true };
  }

  const TERMINAL_FAILED = new Set(['Job Failed', 'Job Skipped']);

  /** One async report run: POST, poll until "Job Completed" (100 % while "Job Running" is not done), read. */
  async function* asyncInsights(q: InsightQuery, out: { outcome?: Outcome }): AsyncGenerator<InsightPage> {
    const { since, until } = q;
    let lastReason = '';
    for (let attempt = 1; attempt <= opts.asyncAttempts; attempt++) {
      if (attempt > 1) stats.asyncRetries++;
      const form = new URLSearchParams(Object.entries(insightParams(q)).map(([k, v]) => [k, String(v)]));
      const posted = await call('insights report run', `${root}/${opts.accountId}/insights`, undefined, form);
      if (!posted.ok) {
        out.outcome = { done: false, reason: posted.split.reason };
        return;
      }
      const runId = String(posted.json.report_run_id ?? '');
      if (!/^\w+$/.test(runId)) throw new AdhouseError('upstream_5xx', 'Facebook insights report run: no report_run_id');
      stats.asyncJobs++;
      const started = Date.now();
      let delay = opts.pollMs;
      let status = '';
      let job: Record<string, unknown> = {};
      for (;;) {
        job = mustOk(await call('report run status', `${root}/${runId}`, { fields: 'id,async_status,async_percent_completion,error_code,error_subcode,error_message' }), 'report run status');
        status = String(job.async_status ?? '');
        if (status === 'Job Completed' || TERMINAL_FAILED.has(status)) break;
        if (Date.now() - started > opts.asyncTimeoutMs) {
          status = 'Job Timeout';
          break;
        }
        await http.sleep(delay);
        delay = Math.min(opts.pollMaxMs, delay * 2);
      }
      if (status === 'Job Completed') {
        for await (const { answer } of pages('report run insights', `${root}/${runId}/insights`, { limit: insightsLimit }, 0, true)) {
          yield { since, until, body: bodyOf(answer, 'report run insights') };
        }
        out.outcome = { done: true };
        return;
      }
      lastReason = `${status}${job.error_code ? ` (#${String(job.error_code)}${job.error_subcode ? `/${String(job.error_subcode)}` : ''} ${String(job.error_message ?? '')})` : ''}`;
      // Too many rows never passes on a retry: split at once.
      if (Number(job.error_code) === 100 && Number(job.error_subcode) === 1487534) {
        out.outcome = { done: false, reason: `too many rows (#100/1487534) in a report run` };
        return;
      }
      opts.log?.warn({ account: opts.accountId, grain: q.grain, since, until, attempt, status }, `facebook ${opts.accountId}: report run ${runId} ${lastReason}`);
    }
    out.outcome = { done: false, reason: `report run gave up after ${opts.asyncAttempts} attempts: ${lastReason}` };
  }

  async function* insights(q: InsightQuery): AsyncGenerator<InsightPage> {
    const { grain, since, until, campaigns } = q;
    const days = diffDays(since, until) + 1;
    const out: { outcome?: Outcome } = {};
    yield* days <= opts.syncMaxDays ? syncInsights(q, out) : asyncInsights(q, out);
    const outcome = out.outcome!;
    if (outcome.done) return;
    stats.splits++;
    // Split by date range first (in whole buckets: a weekly split at a Monday), then (one bucket) by
    // campaign, then halve the campaign list.
    const step = BUCKET_DAYS[grain];
    const buckets = Math.ceil(days / step);
    if (buckets > 1) {
      const half = Math.ceil(buckets / 2) * step;
      opts.log?.info({ account: opts.accountId, grain, since, until, reason: outcome.reason }, `facebook ${opts.accountId}: splitting ${grain} ${since}..${until} by dates`);
      yield* insights({ ...q, until: addDays(since, half - 1) });
      yield* insights({ ...q, since: addDays(since, half) });
      return;
    }
    const ids = campaigns ?? (await campaignIds());
    if (!campaigns && ids.length > 0) {
      opts.log?.info({ account: opts.accountId, grain, since, campaigns: ids.length, reason: outcome.reason }, `facebook ${opts.accountId}: splitting ${grain} ${since} by campaign`);
      for (const id of ids) yield* insights({ ...q, campaigns: [id] });
      return;
    }
    if (ids.length > 1) {
      const mid = Math.ceil(ids.length / 2);
      yield* insights({ ...q, campaigns: ids.slice(0, mid) });
      yield* insights({ ...q, campaigns: ids.slice(mid) });
      return;
    }
    throw new AdhouseError('upstream_5xx', `Facebook ${grain} insights for ${opts.accountId} on ${since}${campaigns ? ` campaign ${campaigns.join(',')}` : ''} cannot be split further: ${outcome.reason}`);
  }

  return {
    stats,
    async account() {
      return mustOk(await call('ad account', `${root}/${opts.accountId}`, { fields: FIELDS.account.join(',') }), 'ad account');
    },
    async *adAccounts() {
      const query = { fields: FIELDS.adAccounts.join(','), limit: opts.pageLimit };
      for await (const { answer } of pages('ad accounts', `${root}/me/adaccounts`, query)) yield dataOf(mustOk(answer, 'ad accounts'), 'adaccounts');
    },
    list,
    insights: (grain, since, until) => {
      if (grain === 'weekly' && new Date(`${since}T00:00:00Z`).getUTCDay() !== 1) throw new AdhouseError('internal', `weekly insights must start on a Monday, got ${since}`);
      if (grain === 'hourly' && since !== until) throw new AdhouseError('internal', `hourly insights are read one day at a time, got ${since}..${until}`);
      return insights({ grain, since, until });
    },
  };
}
