// The Yandex Direct API v5 client: JSON services (campaigns, ads, clients) with LimitedBy paging, and
// the Reports service with its offline queue (201/202 + retryIn). Errors arrive as
// {"error":{"error_code":N,...}} under any HTTP status, so every parser reads the body first.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { AdhouseError } from '../../src/runtime/errors.js';
import { classifyStatus, type HttpClient, type HttpResponse, type ResponseParser } from '../../src/runtime/http.js';
import type { Logger } from '../../src/runtime/logger.js';
import { REPORT_FIELDS, type MoneyUnit } from './tsv.js';

export interface DirectSession {
  http: HttpClient;
  /** e.g. https://api.direct.yandex.com (services live under /json/v5/). */
  baseUrl: string;
  token: string;
  log: Logger;
  /** Wait after 506/56/9000 (too many connections / requests / reports): tapi-yandex-direct uses 10 s. */
  rateLimitWaitMs: number;
  now?: () => number;
}

// ---------------------------------------------------------------------------------------------------
// Errors

export interface DirectErrorBody {
  error_code: number;
  error_string?: string;
  error_detail?: string;
  request_id?: string;
}

/** Retriable server-side errors (errors-list: 52 auth server, 1000 unavailable, 1001 init, 1002 operation, 1020 currencies). */
export const RETRYABLE_CODES: ReadonlySet<number> = new Set([52, 1000, 1001, 1002, 1020]);
/** The credential itself is bad or its app/account has no API access: a new token or app approval is needed. */
export const TOKEN_CODES: ReadonlySet<number> = new Set([53, 58, 3000, 3001]);
/** The token is fine but our login list is wrong: not an agency client / read-only (54), login not in Direct (513). */
export const CONFIG_CODES: ReadonlySet<number> = new Set([54, 513]);
/** Too many connections (506), method request limit (56), too many reports building (9000): back off ~10 s. */
export const SLOW_DOWN_CODES: ReadonlySet<number> = new Set([506, 56, 9000]);
/** Not enough points: they accrue hourly. */
export const UNITS_CODE = 152;

export interface ErrorContext {
  httpStatus?: number;
  rateLimitWaitMs: number;
  now?: number;
  requestId?: string | null;
  units?: string | null;
  login?: string;
  what?: string;
}

/** ms until the next hourly accrual of points (plus a minute of slack). */
export function msToNextHour(now: number): number {
  return 3_600_000 - (now % 3_600_000) + 60_000;
}

/** Maps a Direct error body to the runtime's error classes (BEHAVIOR.md "Error codes"). */
export function classifyDirectError(body: DirectErrorBody, ctx: ErrorContext): AdhouseError {
  const code = body.error_code;
  const parts = [body.error_string, body.error_detail].filter(Boolean).join(': ');
  const where = [ctx.what, ctx.login ? `login ${ctx.login}` : undefined, ctx.requestId || body.request_id ? `RequestId ${ctx.requestId || body.request_id}` : undefined, ctx.units ? `Units ${ctx.units}` : undefined]
    .filter(Boolean)
    .join(', ');
  const message = `Direct error ${code}${parts ? ` ${parts}` : ''}${where ? ` (${where})` : ''}`;
  const opts = { upstreamCode: code };
  if (RETRYABLE_CODES.has(code)) return new AdhouseError('upstream_5xx', message, opts);
  if (TOKEN_CODES.has(code)) return new AdhouseError('token_invalid', message, opts);
  if (CONFIG_CODES.has(code)) return new AdhouseError('config', message, opts);
  if (code === UNITS_CODE) return new AdhouseError('rate_limited', message, { ...opts, retryAfterMs: msToNextHour(ctx.now ?? Date.now()) });
  if (SLOW_DOWN_CODES.has(code)) return new AdhouseError('rate_limited', message, { ...opts, retryAfterMs: ctx.rateLimitWaitMs });
  if ((ctx.httpStatus ?? 0) >= 500) return new AdhouseError('upstream_5xx', message, opts);
  // 8000 invalid request, 4xxx parameter errors, 8800 not found, and anything new: our request is wrong.
  return new AdhouseError('config', message, opts);
}

/** The error object of a Direct JSON error body, or null when the body is something else. */
export function readErrorBody(res: Pick<HttpResponse, 'text'>): DirectErrorBody | null {
  const text = res.text.trimStart();
  if (!text.startsWith('{')) return null;
  try {
    const json = JSON.parse(text) as { error?: Record<string, unknown> };
    const e = json?.error;
    if (!e || typeof e !== 'object') return null;
    const code = Number(e.error_code);
    if (!Number.isInteger(code)) return null;
    return {
      error_code: code,
      error_string: e.error_string === undefined ? undefined : String(e.error_string),
      error_detail: e.error_detail === undefined ? undefined : String(e.error_detail),
      request_id: e.request_id === undefined ? undefined : String(e.request_id),
    };
  } catch {
    return null;
  }
}

function responseMeta(res: HttpResponse): { requestId: string | null; units: string | null } {
  return { requestId: res.headers.get('requestid'), units: res.headers.get('units') };
}

function failWith(session: DirectSession, res: HttpResponse, login: string | undefined, what: string): never {
  const meta = responseMeta(res);
  const body = readErrorBody(res);
  const err = body
    ? classifyDirectError(body, { httpStatus: res.status, rateLimitWaitMs: session.rateLimitWaitMs, now: session.now?.(), requestId: meta.requestId, units: meta.units, login, what })
    : classifyStatus(res); // an HTML 502 page from a proxy, a bare 500, ...
  session.log.warn({ what, login, httpStatus: res.status, requestId: meta.requestId, units: meta.units, errorCode: body?.error_code, errorClass: err.code }, err.message);
  throw err;
}

function headers(session: DirectSession, login: string | undefined): Record<string, string | undefined> {
  return {
    authorization: `Bearer ${session.token}`,
    'accept-language': 'ru',
    // Without Client-Login the token's own account is used (DIRECT_CLIENT_LOGINS empty).
    'client-login': login,
  };
}

// ---------------------------------------------------------------------------------------------------
// JSON services

/** Calls `{service}.{method}` and returns the validated `result`. */
export async function callService<T>(session: DirectSession, service: string, method: string, params: object, login: string | undefined, result: z.ZodType<T>): Promise<T> {
  const what = `${service}.${method}`;
  const parser: ResponseParser<T> = (res) => {
    if (readErrorBody(res) || res.status !== 200) failWith(session, res, login, what);
    let json: { result?: unknown };
    try {
      json = JSON.parse(res.text) as { result?: unknown };
    } catch {
      // A proxy's HTML page with status 200, or a truncated body: transient more often than not.
      failWith(session, { ...res, status: 502 }, login, what);
    }
    const parsed = result.safeParse(json.result);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new AdhouseError('internal', `unexpected ${what} response: ${issue?.path.join('.')} ${issue?.message}`);
    }
    const meta = responseMeta(res);
    session.log.debug({ what, login, requestId: meta.requestId, units: meta.units }, `${what} ok`);
    return parsed.data;
  };
  return session.http.request({ method: 'POST', url: `${session.baseUrl}/json/v5/${service}`, headers: headers(session, login), body: { method, params } }, parser);
}

const idNumber = z.number().int().nonnegative();

export const CampaignSchema = z.object({
  Id: idNumber,
  Name: z.string().optional(),
  Type: z.string().optional(),
  State: z.string().optional(),
  Status: z.string().optional(),
  Currency: z.string().optional(),
});
export type DirectCampaign = z.infer<typeof CampaignSchema>;

export const AdSchema = z.object({
  Id: idNumber,
  CampaignId: idNumber.optional(),
  AdGroupId: idNumber.optional(),
  State: z.string().optional(),
  Status: z.string().optional(),
  Type: z.string().optional(),
  TextAd: z.object({ Href: z.string().nullish(), Title: z.string().nullish() }).nullish(),
});
export type DirectAd = z.infer<typeof AdSchema>;

/** Direct's page cap: at most 10,000 objects per call. */
export const MAX_PAGE_LIMIT = 10_000;

/** Pages of a `get`: `LimitedBy` appears only when more objects remain; the next Offset is its value. */
async function* pagesOf<T>(
  session: DirectSession,
  service: string,
  params: Record<string, unknown>,
  login: string | undefined,
  key: string,
  item: z.ZodType<T>,
  pageLimit: number,
): AsyncGenerator<T[]> {
  const page = z.object({ [key]: z.array(item).optional(), LimitedBy: z.number().int().optional() });
  let offset = 0;
  for (;;) {
    const result = (await callService(session, service, 'get', { ...params, Page: { Limit: pageLimit, Offset: offset } }, login, page)) as Record<string, unknown>;
    yield (result[key] as T[] | undefined) ?? [];
    const limitedBy = result.LimitedBy as number | undefined;
    if (limitedBy === undefined) return;
    if (limitedBy <= offset) throw new AdhouseError('internal', `${service}.get: LimitedBy ${limitedBy} did not move past offset ${offset}`);
    offset = limitedBy;
  }
}

export function getCampaigns(session: DirectSession, login: string | undefined, pageLimit = MAX_PAGE_LIMIT): AsyncGenerator<DirectCampaign[]> {
  return pagesOf(session, 'campaigns', { SelectionCriteria: {}, FieldNames: ['Id', 'Name', 'Type', 'State', 'Status', 'Currency'] }, login, 'Campaigns', CampaignSchema, pageLimit);
}

/** ads.get accepts at most 10 CampaignIds per call. */
export const ADS_CAMPAIGN_IDS_PER_CALL = 10;

export function getAds(session: DirectSession, login: string | undefined, campaignIds: readonly string[], pageLimit = MAX_PAGE_LIMIT): AsyncGenerator<DirectAd[]> {
  if (campaignIds.length === 0 || campaignIds.length > ADS_CAMPAIGN_IDS_PER_CALL) {
    throw new AdhouseError('internal', `ads.get takes 1..${ADS_CAMPAIGN_IDS_PER_CALL} campaign ids, got ${campaignIds.length}`);
  }
  return pagesOf(
    session,
    'ads',
    {
      SelectionCriteria: { CampaignIds: campaignIds.map(Number) },
      FieldNames: ['Id', 'CampaignId', 'AdGroupId', 'State', 'Status', 'Type'],
      TextAdFieldNames: ['Href', 'Title'],
    },
    login,
    'Ads',
    AdSchema,
    pageLimit,
  );
}

/** The account a token (or Client-Login) stands for: its login and currency. */
export async function getClient(session: DirectSession, login: string | undefined): Promise<{ Login: string; Currency?: string }> {
  const result = await callService(
    session,
    'clients',
    'get',
    { FieldNames: ['Login', 'Currency'] },
    login,
    z.object({ Clients: z.array(z.object({ Login: z.string(), Currency: z.string().optional() })).min(1) }),
  );
  return result.Clients[0]!;
}

// ---------------------------------------------------------------------------------------------------
// Reports

export interface ReportDefinition {
  SelectionCriteria: { DateFrom?: string; DateTo?: string };
  FieldNames: string[];
  OrderBy: Array<{ Field: string; SortOrder?: string }>;
  ReportName: string;
  ReportType: 'CUSTOM_REPORT';
  DateRangeType: 'CUSTOM_DATE' | 'AUTO';
  Format: 'TSV';
  IncludeVAT: 'YES' | 'NO';
}

export interface ReportSpec {
  login: string;
  /** null with AUTO: Direct picks the period (the last 3 days, or from the earliest corrected day). */
  period: { since: string; until: string } | null;
  includeVat: boolean;
  /** Salt for the name so a re-run does not get the stored (up to 5 h old) report of an earlier run. */
  runId: string;
}

/**
 * The report definition by day and ad. ReportName keys Direct's offline job: the same name with another
 * body is rejected, and polling needs the identical request, so the name is a hash of everything else.
 */
export function reportDefinition(spec: ReportSpec): ReportDefinition {
  const base = {
    SelectionCriteria: spec.period ? { DateFrom: spec.period.since, DateTo: spec.period.until } : {},
    FieldNames: [...REPORT_FIELDS],
    OrderBy: [{ Field: 'Date', SortOrder: 'ASCENDING' }],
    ReportType: 'CUSTOM_REPORT' as const,
    DateRangeType: spec.period ? ('CUSTOM_DATE' as const) : ('AUTO' as const),
    Format: 'TSV' as const,
    IncludeVAT: spec.includeVat ? ('YES' as const) : ('NO' as const),
  };
  const digest = createHash('sha1').update(JSON.stringify({ login: spec.login, base, runId: spec.runId })).digest('hex').slice(0, 24);
  return { ...base, ReportName: `adhouse_${digest}` };
}

export interface ReportPoll {
  status: 200 | 201 | 202;
  /** Seconds until the next poll (201/202). */
  retryIn: number;
  reportsInQueue: number | null;
  requestId: string | null;
  body: Buffer;
}

/** Seconds to wait when a 201/202 carries no usable retryIn. */
const DEFAULT_RETRY_IN_S = 10;
/** Never poll faster than this, even when retryIn says 0. */
export const MIN_POLL_MS = 200;

export function reportPollParser(session: DirectSession, login: string | undefined): ResponseParser<ReportPoll> {
  return (res) => {
    if (readErrorBody(res)) failWith(session, res, login, 'reports');
    const requestId = res.headers.get('requestid');
    if (res.status === 200) return { status: 200, retryIn: 0, reportsInQueue: null, requestId, body: res.bytes };
    if (res.status === 201 || res.status === 202) {
      const raw = Number(res.headers.get('retryin'));
      const queue = Number(res.headers.get('reportsinqueue'));
      return {
        status: res.status,
        retryIn: Number.isFinite(raw) && raw >= 0 ? raw : DEFAULT_RETRY_IN_S,
        reportsInQueue: Number.isFinite(queue) && res.headers.has('reportsinqueue') ? queue : null,
        requestId,
        body: res.bytes,
      };
    }
    failWith(session, res, login, 'reports');
  };
}

export interface FetchReportOptions {
  /** The Client-Login header; undefined = the token's own account. */
  clientLogin: string | undefined;
  definition: ReportDefinition;
  /** What we ask for with returnMoneyInMicros. */
  money: MoneyUnit;
  /** Bound on the total time spent waiting for the offline queue. */
  maxWaitMs: number;
  processingMode?: 'auto' | 'online' | 'offline';
}

export interface FetchedReport {
  body: Buffer;
  polls: number;
  waitedMs: number;
  requestId: string | null;
}

/**
 * Requests a report and waits for it: 201 (queued) and 202 (building) are answered by re-sending the
 * identical request after `retryIn` seconds, read afresh from every answer (it changes between polls).
 * The whole wait is bounded; past it the run fails as upstream_5xx saying the queue did not finish.
 */
export async function fetchReport(session: DirectSession, opts: FetchReportOptions): Promise<FetchedReport> {
  const now = () => session.now?.() ?? Date.now();
  const request = {
    method: 'POST' as const,
    url: `${session.baseUrl}/json/v5/reports`,
    headers: {
      ...headers(session, opts.clientLogin),
      processingMode: opts.processingMode ?? 'auto',
      returnMoneyInMicros: opts.money === 'micros' ? 'true' : 'false',
      skipReportHeader: 'true',
      skipReportSummary: 'true',
    },
    body: { params: opts.definition },
  };
  const started = now();
  const parser = reportPollParser(session, opts.clientLogin);
  for (let polls = 1; ; polls++) {
    const poll = await session.http.request(request, parser);
    if (poll.status === 200) return { body: poll.body, polls, waitedMs: now() - started, requestId: poll.requestId };
    const waitMs = Math.max(MIN_POLL_MS, poll.retryIn * 1000);
    const waited = now() - started;
    if (waited + waitMs > opts.maxWaitMs) {
      throw new AdhouseError(
        'upstream_5xx',
        `Direct report queue did not finish within ${Math.round(opts.maxWaitMs / 1000)} s (DIRECT_REPORT_MAX_WAIT_S): report ${opts.definition.ReportName}` +
          `${opts.clientLogin ? ` for ${opts.clientLogin}` : ''} still ${poll.status === 201 ? 'queued' : 'building'} after ${polls} polls, ` +
          `reportsInQueue ${poll.reportsInQueue ?? '?'}, RequestId ${poll.requestId ?? '?'}`,
        { upstreamCode: poll.status },
      );
    }
    session.log.debug({ login: opts.clientLogin, report: opts.definition.ReportName, status: poll.status, retryIn: poll.retryIn, reportsInQueue: poll.reportsInQueue, polls }, 'Direct report not ready');
    await session.http.sleep(waitMs);
  }
}
