// Typed client of the VK Ads API (ads.vk.com /api/v2) over the runtime's HttpClient. Responses are
// validated with zod; list items are validated one by one so a bad object is quarantined, not fatal.
import { z } from 'zod';
import { dayChunks } from '../../src/runtime/dates.js';
import { AdhouseError } from '../../src/runtime/errors.js';
import type { HttpClient, HttpRequest, HttpResponse } from '../../src/runtime/http.js';
import { classifyStatus, retryAfterMs } from '../../src/runtime/http.js';
import type { Logger } from '../../src/runtime/logger.js';
import type { TokenStore, VkCredentials } from './token-store.js';

// ---- schemas --------------------------------------------------------------------------------

/** Integers arrive as JSON numbers or as strings ("123", A1). */
const intLike = z.union([z.number().int(), z.string().regex(/^\d+$/).transform(Number)]);
const boolLike = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]);
const optText = z.string().nullable().optional();

export const adPlanSchema = z.looseObject({
  id: intLike,
  name: z.string().default(''),
  status: z.string().default(''),
  objective: optText,
  created: optText,
  updated: optText,
  date_start: optText,
  date_end: optText,
  budget_limit_day: z.union([z.string(), z.number()]).nullable().optional(),
});
export type VkAdPlan = z.infer<typeof adPlanSchema>;

export const adGroupSchema = z.looseObject({
  id: intLike,
  ad_plan_id: intLike,
  name: z.string().default(''),
  status: z.string().default(''),
  objective: optText,
  utm: optText,
  enable_utm: boolLike.nullable().optional(),
  created: optText,
  updated: optText,
});
export type VkAdGroup = z.infer<typeof adGroupSchema>;

const urlSchema = z.looseObject({ id: intLike.optional(), url: z.string().nullable().optional() });
export const bannerSchema = z.looseObject({
  id: intLike,
  ad_group_id: intLike,
  name: z.string().default(''),
  status: z.string().default(''),
  moderation_status: optText,
  created: optText,
  updated: optText,
  // Keyed by role: "primary", carousel "url_slide_N" (A4).
  urls: z.record(z.string(), urlSchema.nullable()).nullable().optional(),
});
export type VkBanner = z.infer<typeof bannerSchema>;

export const agencyClientSchema = z.looseObject({
  user: z.looseObject({ id: intLike, username: z.string(), status: z.string().optional() }),
  status: z.string().optional(),
  access_type: z.string().optional(),
});
export type VkAgencyClient = z.infer<typeof agencyClientSchema>;

const listSchema = z.looseObject({ count: intLike, offset: intLike.optional(), items: z.array(z.unknown()) });

const statsItemSchema = z.looseObject({
  id: intLike,
  rows: z.array(z.unknown()).default([]),
  total: z.unknown().optional(),
});
export type VkStatsItem = z.infer<typeof statsItemSchema>;
const statsSchema = z.looseObject({ items: z.array(statsItemSchema), total: z.unknown().optional() });

const userSchema = z.looseObject({ id: intLike.optional(), username: z.string().optional(), currency: z.string().nullable().optional() });

export type Validated<T> = { ok: true; value: T; raw: unknown } | { ok: false; raw: unknown; reason: string };

export interface VkAccount extends VkCredentials {
  /** Our label, stored as account_id. */
  id: string;
}

// ---- errors and waits -------------------------------------------------------------------------

/** A 401 the token store can fix (expired → refresh, invalid → mint): not retried by the HTTP client. */
class TokenRejected extends Error {
  constructor(readonly reason: 'expired_token' | 'invalid_token', message: string) {
    super(message);
  }
}

function bodyJson(res: HttpResponse): Record<string, unknown> | null {
  try {
    const j = JSON.parse(res.text) as unknown;
    return j && typeof j === 'object' ? (j as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The upstream error code: `{"error":{"code"}}` (stats), top-level `{"code"}` (401), or WWW-Authenticate. */
export function vkErrorCode(res: HttpResponse): string | undefined {
  const j = bodyJson(res);
  const nested = j?.error;
  if (nested && typeof nested === 'object' && typeof (nested as { code?: unknown }).code === 'string') return (nested as { code: string }).code;
  if (typeof j?.code === 'string') return j.code;
  const m = /error="([^"]+)"/.exec(res.headers.get('www-authenticate') ?? '');
  return m?.[1];
}

const HOUR_MS = 3_600_000;
const MSK_OFFSET_MS = 3 * HOUR_MS; // VK's calendar windows are Moscow days; Moscow has no DST since 2014.

/**
 * How long to wait after a 429 (A6: limits are per second/hour/day on calendar boundaries, no fixed
 * numbers, Retry-After not promised): Retry-After when sent; else the boundary of the exhausted window.
 */
export function rateLimitWaitMs(headers: Headers, now = Date.now()): number {
  const ra = retryAfterMs(headers, now);
  if (ra !== undefined) return ra;
  const remaining = (name: string) => {
    const v = headers.get(`x-ratelimit-${name}-remaining`);
    return v === null || v.trim() === '' ? undefined : Number(v);
  };
  if (remaining('daily') === 0) {
    const msk = now + MSK_OFFSET_MS;
    return 86_400_000 - (msk % 86_400_000) + 50;
  }
  if (remaining('hourly') === 0) return HOUR_MS - (now % HOUR_MS) + 50;
  // The per-second budget (or no headers at all): the next second boundary, plus a little slack.
  return 1000 - (now % 1000) + 20;
}

/** Default handling of a non-2xx VK answer (after 401 and the caller's special cases). */
function failVk(res: HttpResponse): never {
  if (res.status === 429) {
    throw new AdhouseError('rate_limited', `VK rate limit (HTTP 429) on ${res.url.split('?')[0]}`, { retryAfterMs: rateLimitWaitMs(res.headers), upstreamCode: 429 });
  }
  const code = vkErrorCode(res);
  if (code === 'ERR_INTERNAL' && res.status < 500) throw new AdhouseError('upstream_5xx', `VK ERR_INTERNAL (HTTP ${res.status})`, { upstreamCode: code });
  const base = classifyStatus(res);
  throw new AdhouseError(base.code, base.message, { retryAfterMs: base.retryAfterMs, upstreamCode: code ?? res.status });
}

function parseBody<T>(res: HttpResponse, schema: z.ZodType<T>, what: string): T {
  let json: unknown;
  try {
    json = JSON.parse(res.text);
  } catch {
    // A truncated body on a 200 is a transient upstream/proxy fault: retry.
    throw new AdhouseError('upstream_5xx', `invalid JSON from VK ${what}`);
  }
  const err = (json as { error?: { code?: string } } | null)?.error;
  if (err && typeof err === 'object' && err.code === 'ERR_INTERNAL') throw new AdhouseError('upstream_5xx', `VK ERR_INTERNAL in ${what}`);
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AdhouseError('internal', `VK ${what} answered an unexpected shape: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  return parsed.data;
}

// ---- the client ---------------------------------------------------------------------------

export const PAGE_LIMIT = 50;
export const STATS_MAX_IDS = 200;
export const STATS_MAX_DAYS = 366;
/**
 * Above this many days an ERR_LIMIT_EXCEEDED is blamed on the date range first: third-party code splits
 * ranges >92 days (A5, [unverified]); halving 200 ids first would cost ~8 failing calls per level.
 */
export const STATS_SPLIT_DAYS = 92;
/**
 * Offset paging needs a stable order: without `sorting` VK's order is unspecified, and an object created
 * or edited while we page can shift offsets so another is skipped. Ids are never renumbered and new ones
 * are larger, so by id new objects only append.
 */
export const LIST_SORTING = 'id';
/** Every object, deleted ones included: stats of deleted banners are still history (A3). */
export const ALL_STATUSES = 'active,blocked,deleted';

export const FIELDS = {
  ad_plans: ['id', 'name', 'status', 'objective', 'created', 'updated', 'date_start', 'date_end', 'budget_limit_day'],
  ad_groups: ['id', 'name', 'status', 'ad_plan_id', 'objective', 'utm', 'enable_utm', 'created', 'updated'],
  banners: ['id', 'ad_group_id', 'name', 'status', 'moderation_status', 'created', 'updated', 'urls'],
} as const;

export interface StatsChunk {
  ids: number[];
  from: string;
  to: string;
  items: VkStatsItem[];
}

export interface VkApi {
  currency(): Promise<string>;
  adPlans(): AsyncGenerator<Array<Validated<VkAdPlan>>>;
  adGroups(): AsyncGenerator<Array<Validated<VkAdGroup>>>;
  banners(): AsyncGenerator<Array<Validated<VkBanner>>>;
  /** An agency token's clients (`/api/v2/agency/clients.json`), to find `agency_client_name`s. */
  agencyClients(): AsyncGenerator<Array<Validated<VkAgencyClient>>>;
  /**
   * Daily banner stats for ≤200 ids; on ERR_LIMIT_EXCEEDED the range is cut into ≤92-day parts when it is
   * longer, otherwise the ids (then the dates) are halved, and retried.
   */
  bannerDays(ids: number[], from: string, to: string): Promise<StatsChunk[]>;
}

export interface VkApiOptions {
  http: HttpClient;
  baseUrl: string;
  tokens: TokenStore;
  account: VkAccount;
  log?: Logger;
}

/** Batches of ≤200 ids × ranges of ≤366 days. */
export function statsBatches(ids: readonly number[], since: string, until: string): Array<{ ids: number[]; from: string; to: string }> {
  const out: Array<{ ids: number[]; from: string; to: string }> = [];
  for (const range of dayChunks(since, until, STATS_MAX_DAYS)) {
    for (let i = 0; i < ids.length; i += STATS_MAX_IDS) out.push({ ids: ids.slice(i, i + STATS_MAX_IDS), from: range.since, to: range.until });
  }
  return out;
}

const MAX_TOKEN_RENEWALS = 3;

export function createVkApi(opts: VkApiOptions): VkApi {
  const { http, baseUrl, tokens, account } = opts;

  async function authed<T>(req: HttpRequest, parse: (res: HttpResponse) => T): Promise<T> {
    let token = await tokens.getToken(account);
    for (let renewals = 0; ; renewals++) {
      try {
        return await http.request({ ...req, headers: { ...req.headers, authorization: `Bearer ${token}` } }, (res) => {
          if (res.status === 401) {
            const code = vkErrorCode(res) ?? 'unknown';
            if (code === 'expired_token' || code === 'invalid_token') throw new TokenRejected(code, `VK ${code}`);
            // invalid_client, invalid_user, revoked_token: a person has to act.
            throw new AdhouseError('token_invalid', `VK rejected the credentials of account ${account.id}: ${code}`, { upstreamCode: code });
          }
          return parse(res);
        });
      } catch (err) {
        if (!(err instanceof TokenRejected)) throw err;
        if (renewals >= MAX_TOKEN_RENEWALS) throw new AdhouseError('token_invalid', `VK keeps rejecting fresh tokens of account ${account.id} (${err.reason})`, { upstreamCode: err.reason });
        opts.log?.info({ account: account.id, reason: err.reason }, `VK ${err.reason}: renewing the token`);
        token = await tokens.renew(account, token, err.reason);
      }
    }
  }

  function get<T>(path: string, query: HttpRequest['query'], schema: z.ZodType<T>, what: string): Promise<T> {
    return authed({ url: `${baseUrl}${path}`, query }, (res) => {
      if (res.status < 200 || res.status >= 300) failVk(res);
      return parseBody(res, schema, what);
    });
  }

  async function* list<T>(kind: keyof typeof FIELDS | 'agency/clients', schema: z.ZodType<T>): AsyncGenerator<Array<Validated<T>>> {
    let offset = 0;
    const filters = kind === 'agency/clients' ? {} : { fields: FIELDS[kind].join(','), _status__in: ALL_STATUSES };
    for (;;) {
      const page = await get(`/api/v2/${kind}.json`, { ...filters, sorting: LIST_SORTING, limit: PAGE_LIMIT, offset }, listSchema, `${kind} list`);
      yield page.items.map((raw): Validated<T> => {
        const r = schema.safeParse(raw);
        if (r.success) return { ok: true, value: r.data, raw };
        const issue = r.error.issues[0];
        return { ok: false, raw, reason: `invalid ${kind} item: ${issue?.path.join('.')}: ${issue?.message}` };
      });
      // Never assume the limit we asked for: the server may clamp it (A1).
      offset += page.items.length;
      if (page.items.length === 0 || offset >= page.count) return;
    }
  }

  type StatsAnswer = { limited: true; code: string } | { limited: false; items: VkStatsItem[] };

  async function bannerDays(ids: number[], from: string, to: string): Promise<StatsChunk[]> {
    const answer = await authed<StatsAnswer>(
      { url: `${baseUrl}/api/v2/statistics/banners/day.json`, query: { id: ids.join(','), date_from: from, date_to: to, metrics: 'base' } },
      (res) => {
        if (res.status === 400 && vkErrorCode(res) === 'ERR_LIMIT_EXCEEDED') return { limited: true, code: 'ERR_LIMIT_EXCEEDED' };
        if (res.status < 200 || res.status >= 300) failVk(res);
        return { limited: false, items: parseBody(res, statsSchema, 'banner statistics').items };
      },
    );
    if (!answer.limited) return [{ ids, from, to, items: answer.items }];
    // The real caps are not published beyond "200 ids, ~1 year". A long range is the likelier culprit
    // (a stricter 92-day cap), so cut it first; otherwise halve the ids, then the dates.
    const days = dayChunks(from, to, 1).length;
    if (days > STATS_SPLIT_DAYS) {
      opts.log?.info({ account: account.id, days }, `VK ERR_LIMIT_EXCEEDED: splitting the date range into ≤${STATS_SPLIT_DAYS}-day parts`);
      const out: StatsChunk[] = [];
      for (const part of dayChunks(from, to, STATS_SPLIT_DAYS)) out.push(...(await bannerDays(ids, part.since, part.until)));
      return out;
    }
    if (ids.length > 1) {
      const mid = Math.ceil(ids.length / 2);
      opts.log?.info({ account: account.id, ids: ids.length }, 'VK ERR_LIMIT_EXCEEDED: halving the id batch');
      return [...(await bannerDays(ids.slice(0, mid), from, to)), ...(await bannerDays(ids.slice(mid), from, to))];
    }
    if (days > 1) {
      const half = dayChunks(from, to, Math.ceil(days / 2));
      opts.log?.info({ account: account.id, days }, 'VK ERR_LIMIT_EXCEEDED: halving the date range');
      const out: StatsChunk[] = [];
      for (const part of half) out.push(...(await bannerDays(ids, part.since, part.until)));
      return out;
    }
    throw new AdhouseError('config', `VK ERR_LIMIT_EXCEEDED for a single banner ${ids[0]} and a single day ${from}`, { upstreamCode: 'ERR_LIMIT_EXCEEDED' });
  }

  return {
    async currency() {
      const user = await get('/api/v2/user.json', undefined, userSchema, 'user');
      return user.currency?.trim() ? user.currency.trim().toUpperCase() : 'RUB';
    },
    adPlans: () => list('ad_plans', adPlanSchema),
    adGroups: () => list('ad_groups', adGroupSchema),
    banners: () => list('banners', bannerSchema),
    agencyClients: () => list('agency/clients', agencyClientSchema),
    bannerDays,
  };
}
