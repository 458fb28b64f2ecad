// A faithful fake of the VK Ads API (ads.vk.com /api/v2 + /api/v3) with deterministic synthetic data.
// It reproduces what the api notes (shared/api/vk_ads_and_direct.md, PART A + "VK Ads fake" checklist)
// say the real one does: OAuth2 with rotation that kills the old token at once, the 5-token ceiling,
// agency clients, offset paging clamped at 50, fields= projection, deleted objects only on request,
// statistics limits (200 ids, 366 days), zero-filled days, money as strings, X-RateLimit-* headers and
// 429s. Faults are switched on by name (BEHAVIOR.md lists them).
import type http from 'node:http';
import { addDays, diffDays, isDay } from '../../src/runtime/dates.js';
import { hashSeed, listen, readBody, SANDBOX_EVENTS, seededRandom, type RunningSandbox, type SandboxOptions } from '../../src/runtime/sandbox.js';

// ---- synthetic world (pure functions of the seed) ------------------------------------------------

export interface SbAdPlan {
  id: number;
  name: string;
  status: 'active' | 'blocked' | 'deleted';
  objective: string;
  created: string;
  updated: string;
  date_start: string;
  date_end: string | null;
  budget_limit_day: string;
}
export interface SbAdGroup {
  id: number;
  ad_plan_id: number;
  name: string;
  status: 'active' | 'blocked' | 'deleted';
  objective: string;
  utm: string;
  enable_utm: boolean;
  created: string;
  updated: string;
}
export interface SbBanner {
  id: number;
  ad_group_id: number;
  name: string;
  status: 'active' | 'blocked' | 'deleted';
  created: string;
  updated: string;
  url: string | null;
  url_object_id: number;
  /** Never delivered: every day is zero. */
  silent: boolean;
  /** Spend per show relative to a RUB cabinet (a USD cabinet spends about 1/90 as many units). */
  priceScale?: number;
}
export interface SbUser {
  id: number;
  username: string;
  currency: string;
  plans: SbAdPlan[];
  groups: SbAdGroup[];
  banners: SbBanner[];
}
export interface SbApp {
  client_id: string;
  client_secret: string;
  /** The user that owns the API access. */
  ownerId: number;
  /** Agency apps: the client user ids they may mint tokens for. */
  clientIds: number[];
}

/** The env account labels and the fake users behind them. */
export const VK_SANDBOX_ACCOUNTS = {
  vk_direct: { userId: 1001, username: 'direct_user' },
  vk_agency_client: { userId: 2001, username: 'agency_client_1' },
} as const;
const AGENCY_OWNER = { userId: 2000, username: 'agency_owner' };

export const VK_SANDBOX_APPS: readonly SbApp[] = [
  { client_id: 'vk-direct-app', client_secret: 'sandbox-direct-secret', ownerId: 1001, clientIds: [] },
  { client_id: 'vk-agency-app', client_secret: 'sandbox-agency-secret', ownerId: 2000, clientIds: [2001] },
];

// Events shared with every other sandbox, so ad spend and ticket sales meet in ROMI.
const CONTENTS = SANDBOX_EVENTS;
const MALFORMED_CONTENTS = ['msk_32_13', 'msk05', '_05_12', 'spb__20_12'];

function pick<T>(rng: () => number, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)]!;
}

function stamp(rng: () => number): string {
  const month = 1 + Math.floor(rng() * 9);
  const day = 1 + Math.floor(rng() * 28);
  const h = Math.floor(rng() * 24);
  const m = Math.floor(rng() * 60);
  const p = (n: number) => String(n).padStart(2, '0');
  return `2025-${p(month)}-${p(day)} ${p(h)}:${p(m)}:${p(Math.floor(rng() * 60))}`;
}

function buildUser(seed: number, userId: number, username: string): SbUser {
  const rng = seededRandom(hashSeed(seed, 'vk-user', userId));
  // The agency client's cabinet is in US dollars, so ROMI is proven for a non-RUB account (CBR rates).
  const currency = userId === VK_SANDBOX_ACCOUNTS.vk_agency_client.userId ? 'USD' : 'RUB';
  const user: SbUser = { id: userId, username, currency, plans: [], groups: [], banners: [] };
  if (userId === AGENCY_OWNER.userId) return user; // the agency's own cabinet is empty
  const nPlans = 3 + Math.floor(rng() * 2);
  let groupSeq = 0;
  let bannerSeq = 0;
  for (let p = 0; p < nPlans; p++) {
    const planStatus = p === nPlans - 1 ? 'deleted' : rng() < 0.2 ? 'blocked' : 'active';
    const created = stamp(rng);
    const plan: SbAdPlan = {
      id: userId * 100 + p + 1,
      name: `Кампания ${p + 1} (${username})`,
      status: planStatus,
      objective: pick(rng, ['traffic', 'reach', 'site_conversions']),
      created,
      updated: created,
      date_start: created.slice(0, 10),
      date_end: planStatus === 'deleted' ? '2025-12-31' : null,
      budget_limit_day: String(500 + Math.floor(rng() * 50) * 100),
    };
    user.plans.push(plan);
    const nGroups = 2 + Math.floor(rng() * 2);
    for (let g = 0; g < nGroups; g++) {
      const gid = userId * 1000 + ++groupSeq;
      // Group UTM variants (A4): tags set and on; on but empty (VK generates its own); set but switched off.
      const variant = groupSeq % 3;
      const group: SbAdGroup = {
        id: gid,
        ad_plan_id: plan.id,
        name: `Группа ${gid}`,
        status: planStatus === 'deleted' ? 'deleted' : rng() < 0.15 ? 'blocked' : 'active',
        objective: plan.objective,
        utm: variant === 1 ? '' : `utm_source=vk&utm_medium=${variant === 0 ? 'paid' : 'off'}&utm_campaign=plan${plan.id}&utm_content=${pick(rng, CONTENTS)}`,
        enable_utm: variant !== 2,
        created: stamp(rng),
        updated: stamp(rng),
      };
      user.groups.push(group);
      const nBanners = 3 + Math.floor(rng() * 4);
      for (let b = 0; b < nBanners; b++) {
        const bid = userId * 10000 + ++bannerSeq;
        const kind = rng();
        let url: string | null;
        if (kind < 0.45) url = `https://tickets.example.ru/event/${bid}?utm_source=vk&utm_medium=cpc&utm_campaign=g${gid}&utm_content=${pick(rng, CONTENTS)}`;
        else if (kind < 0.7) url = `https://tickets.example.ru/landing/${bid}`; // no UTM: the group's utm fills in
        else if (kind < 0.8) url = `https://tickets.example.ru/e/${bid}?utm_campaign=b${bid}`; // partial: mixed origin
        else if (kind < 0.92) url = `https://tickets.example.ru/e/${bid}?utm_source=vk&utm_content=${pick(rng, MALFORMED_CONTENTS)}`;
        else url = null; // link object without a resolved url
        const status = group.status === 'deleted' ? 'deleted' : rng() < 0.15 ? 'deleted' : rng() < 0.1 ? 'blocked' : 'active';
        user.banners.push({
          id: bid,
          ad_group_id: gid,
          name: `Объявление ${bid}`,
          status,
          created: stamp(rng),
          updated: stamp(rng),
          url,
          url_object_id: 900000 + bid,
          silent: rng() < 0.08,
          priceScale: currency === 'USD' ? 1 / 90 : 1,
        });
      }
    }
  }
  return user;
}

export interface VkWorld {
  users: Map<number, SbUser>;
  bannerOwner: Map<number, number>;
  groupOwner: Map<number, number>;
  planOwner: Map<number, number>;
}

const worldCache = new Map<number, VkWorld>();
export function vkWorld(seed: number): VkWorld {
  const cached = worldCache.get(seed);
  if (cached) return cached;
  const users = new Map<number, SbUser>();
  for (const a of [...Object.values(VK_SANDBOX_ACCOUNTS), AGENCY_OWNER]) users.set(a.userId, buildUser(seed, a.userId, a.username));
  const world: VkWorld = { users, bannerOwner: new Map(), groupOwner: new Map(), planOwner: new Map() };
  for (const u of users.values()) {
    for (const b of u.banners) world.bannerOwner.set(b.id, u.id);
    for (const g of u.groups) world.groupOwner.set(g.id, u.id);
    for (const p of u.plans) world.planOwner.set(p.id, u.id);
  }
  worldCache.set(seed, world);
  return world;
}

export interface DayStats {
  shows: number;
  clicks: number;
  goals: number;
  /** Money in kopecks, so sums stay exact. */
  spentCents: number;
}

/** Statistics of one banner on one day: a pure function of (seed, banner, date); ~30% of days are quiet (zero). */
export function bannerDayStats(seed: number, banner: Pick<SbBanner, 'id' | 'silent' | 'priceScale'>, date: string): DayStats {
  if (banner.silent) return { shows: 0, clicks: 0, goals: 0, spentCents: 0 };
  const r = seededRandom(hashSeed(seed, 'vk-stat', banner.id, date));
  if (r() < 0.3) return { shows: 0, clicks: 0, goals: 0, spentCents: 0 };
  const shows = 50 + Math.floor(r() * 3000);
  const clicks = Math.floor(shows * (0.005 + r() * 0.04));
  const goals = Math.floor(clicks * r() * 0.2);
  const spentCents = Math.max(1, Math.floor(shows * (5 + r() * 40) * (banner.priceScale ?? 1)));
  return { shows, clicks, goals, spentCents };
}

function isZero(s: DayStats): boolean {
  return s.shows === 0 && s.clicks === 0 && s.goals === 0 && s.spentCents === 0;
}

/** Under `malformed`, which quiet (zero) days get a broken `spent`: negative or empty. Only zero days, so totals hold. */
export function malformedSpent(seed: number, bannerId: number, date: string): string | null {
  const h = hashSeed(seed, 'vk-bad', bannerId, date);
  if (h % 5 !== 0) return null;
  return (h >>> 3) % 2 === 0 ? '-3.50' : '';
}

/** Under `duplicate_rows`: (banner, date) pairs that come twice, a stale copy first and the true row last. */
export function isDuplicated(seed: number, bannerId: number, date: string): boolean {
  return hashSeed(seed, 'vk-dup', bannerId, date) % 6 === 0;
}

/** Under `refund`: (banner, date) pairs whose stats are corrected to zero upstream (a refund / fraud write-off). */
export function isRefunded(seed: number, bannerId: number, date: string): boolean {
  return hashSeed(seed, 'vk-refund', bannerId, date) % 5 === 0;
}

/** What the sandbox serves for one banner and day under the given faults (only `refund` changes the numbers). */
export function servedDayStats(seed: number, banner: Pick<SbBanner, 'id' | 'silent' | 'priceScale'>, date: string, faults: { refund?: boolean } = {}): DayStats {
  if (faults.refund && isRefunded(seed, banner.id, date)) return { shows: 0, clicks: 0, goals: 0, spentCents: 0 };
  return bannerDayStats(seed, banner, date);
}

/**
 * Ground truth for tests: what fact_vk_ads_daily FINAL must hold after loading [since, until] for the
 * given env account labels (default both): non-zero days only (zero days are skipped by design).
 * With `refund`, the numbers as the `refund` fault serves them; `zeroed` counts the days that are non-zero
 * without the fault and zero with it (a load before and after the correction must hold them as zero rows).
 */
export function expectedVkTotals(
  seed: number,
  since: string,
  until: string,
  accountIds?: string[],
  faults: { refund?: boolean } = {},
): { rows: number; shows: number; clicks: number; goals: number; spent: number; zeroed: number } {
  const world = vkWorld(seed);
  const labels = (accountIds ?? Object.keys(VK_SANDBOX_ACCOUNTS)) as Array<keyof typeof VK_SANDBOX_ACCOUNTS>;
  let rows = 0;
  let shows = 0;
  let clicks = 0;
  let goals = 0;
  let cents = 0;
  let zeroed = 0;
  for (const label of labels) {
    const user = world.users.get(VK_SANDBOX_ACCOUNTS[label].userId)!;
    for (const banner of user.banners) {
      for (let d = since; d <= until; d = addDays(d, 1)) {
        const s = servedDayStats(seed, banner, d, faults);
        if (isZero(s)) {
          if (!isZero(bannerDayStats(seed, banner, d))) zeroed++;
          continue;
        }
        rows++;
        shows += s.shows;
        clicks += s.clicks;
        goals += s.goals;
        cents += s.spentCents;
      }
    }
  }
  return { rows, shows, clicks, goals, spent: cents / 100, zeroed };
}

// ---- the HTTP fake ----------------------------------------------------------------------------

export interface VkSandboxCounters {
  requests: number;
  mints: number;
  refreshes: number;
  deletes: number;
  rateLimited: number;
  errors5xx: number;
  expiredAnswers: number;
  statsRequests: number;
  /** 400 ERR_LIMIT_EXCEEDED answers from the statistics endpoints. */
  limitExceeded: number;
  /** Objects created by the `list_churn` fault. */
  churned: number;
}

export interface VkSandbox extends RunningSandbox {
  counters: VkSandboxCounters;
  /** Moves the fake's token clock forward (token expiry without sleeping). */
  advanceClock(ms: number): void;
  /** Live tokens of a (client_id, username) pair. */
  liveTokens(clientId: string, username: string): number;
}

interface TokenRec {
  access: string;
  refresh: string;
  clientId: string;
  userId: number;
  expiresAt: number;
  uses: number;
}

const TOKEN_LIFETIME_S = 86_400;
const SHORT_TOKEN_S = 3;
const TOKEN_EXPIRY_USES = 4;
const PAGE_DEFAULT = 20;
const PAGE_MAX = 50;
const V3_PAGE_MAX = 250;
const STATS_MAX_IDS = 200;
const STATS_MAX_DAYS = 366;
/** Under `date_limit_92`: the stricter day cap a third-party client assumes (A5). */
const STATS_MAX_DAYS_STRICT = 92;

type Json = Record<string, unknown>;

class HttpAnswer {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

const LIST_FIELDS: Record<string, { all: string[]; defaults: string[] }> = {
  ad_plans: { all: ['id', 'name', 'status', 'objective', 'created', 'updated', 'date_start', 'date_end', 'budget_limit_day'], defaults: ['id', 'name'] },
  ad_groups: { all: ['id', 'name', 'status', 'ad_plan_id', 'objective', 'utm', 'enable_utm', 'created', 'updated'], defaults: ['id', 'name'] },
  banners: { all: ['id', 'ad_group_id', 'name', 'status', 'created', 'updated', 'urls', 'moderation_status'], defaults: ['id', 'ad_group_id'] },
};

export async function startSandbox(opts: SandboxOptions): Promise<VkSandbox> {
  const seed = opts.seed;
  const faults = opts.faults;
  const world = vkWorld(seed);
  const counters: VkSandboxCounters = { requests: 0, mints: 0, refreshes: 0, deletes: 0, rateLimited: 0, errors5xx: 0, expiredAnswers: 0, statsRequests: 0, limitExceeded: 0, churned: 0 };
  const refund = faults.has('refund');
  const maxDays = faults.has('date_limit_92') ? STATS_MAX_DAYS_STRICT : STATS_MAX_DAYS;
  const dayStats = (b: Pick<SbBanner, 'id' | 'silent'>, d: string) => servedDayStats(seed, b, d, { refund });
  // `list_churn`: objects created during this sandbox's life (per user), and `updated` overrides of
  // existing ones. The cached world is shared between sandboxes, so it is never mutated.
  const churn = new Map<number, { plans: SbAdPlan[]; groups: SbAdGroup[]; banners: SbBanner[] }>();
  const touched = new Map<number, string>();
  const churnOf = (user: SbUser) => {
    let c = churn.get(user.id);
    if (!c) churn.set(user.id, (c = { plans: [], groups: [], banners: [] }));
    return c;
  };
  const plansOf = (user: SbUser) => [...user.plans, ...churnOf(user).plans];
  const groupsOf = (user: SbUser) => [...user.groups, ...churnOf(user).groups];
  const allBannersOf = (user: SbUser) => [...user.banners, ...churnOf(user).banners];
  let churnClock = 0;
  let clockOffset = 0;
  const now = () => Date.now() + clockOffset;
  const byAccess = new Map<string, TokenRec>();
  const byPair = new Map<string, TokenRec[]>();
  let tokenSeq = 0;
  let truncatedSent = false;
  // 2 per second under the fault: any burst of a few requests spends it, so 429s happen on every run.
  const rpsBudget = faults.has('rate_limit') ? 2 : 20;
  const hourlyBudget = faults.has('rate_limit_hourly') ? 0 : 5000;
  const dailyBudget = 50000;
  const usage = new Map<string, { second: number; rps: number; hour: number; hourly: number; day: number; daily: number }>();

  const pairKey = (clientId: string, userId: number) => `${clientId}\t${userId}`;

  function rateHeaders(key: string, consume: boolean): { headers: Record<string, string>; limited: boolean } {
    const t = Date.now();
    const second = Math.floor(t / 1000);
    const hour = Math.floor(t / 3_600_000);
    const day = Math.floor((t + 3 * 3_600_000) / 86_400_000); // calendar days in Moscow time
    let u = usage.get(key);
    if (!u) usage.set(key, (u = { second, rps: 0, hour, hourly: 0, day, daily: 0 }));
    if (u.second !== second) (u.second = second), (u.rps = 0);
    if (u.hour !== hour) (u.hour = hour), (u.hourly = 0);
    if (u.day !== day) (u.day = day), (u.daily = 0);
    let limited = false;
    if (consume) {
      limited = u.rps >= rpsBudget || u.hourly >= hourlyBudget || u.daily >= dailyBudget;
      if (!limited) (u.rps += 1), (u.hourly += 1), (u.daily += 1);
    }
    return {
      limited,
      headers: {
        'X-RateLimit-RPS-Limit': String(rpsBudget),
        'X-RateLimit-RPS-Remaining': String(Math.max(0, rpsBudget - u.rps)),
        'X-RateLimit-Hourly-Limit': String(hourlyBudget),
        'X-RateLimit-Hourly-Remaining': String(Math.max(0, hourlyBudget - u.hourly)),
        'X-RateLimit-Daily-Limit': String(dailyBudget),
        'X-RateLimit-Daily-Remaining': String(Math.max(0, dailyBudget - u.daily)),
      },
    };
  }

  function authError(code: string, message: string): HttpAnswer {
    return new HttpAnswer(401, { code, message }, { 'WWW-Authenticate': `Bearer realm="api", error="${code}", error_description="${message}"` });
  }

  function mint(clientId: string, userId: number): HttpAnswer {
    const key = pairKey(clientId, userId);
    const list = byPair.get(key) ?? [];
    if (list.length >= 5) return new HttpAnswer(403, { error: { code: 'limit', message: 'Max count of tokens reached' } });
    counters.mints++;
    const lifetime = faults.has('short_token') ? SHORT_TOKEN_S : TOKEN_LIFETIME_S;
    const rec: TokenRec = {
      access: `sbx-at-${userId}-${++tokenSeq}-${hashSeed(seed, tokenSeq, 'a').toString(36)}`,
      refresh: `sbx-rt-${userId}-${tokenSeq}-${hashSeed(seed, tokenSeq, 'r').toString(36)}`,
      clientId,
      userId,
      expiresAt: now() + lifetime * 1000,
      uses: 0,
    };
    list.push(rec);
    byPair.set(key, list);
    byAccess.set(rec.access, rec);
    return tokenAnswer(rec, lifetime);
  }

  function tokenAnswer(rec: TokenRec, lifetime: number): HttpAnswer {
    // expires_in is a string in the client_credentials/refresh examples of the docs (A2).
    return new HttpAnswer(200, { access_token: rec.access, token_type: 'bearer', scope: 'read_ads', expires_in: String(lifetime), refresh_token: rec.refresh });
  }

  function findApp(form: URLSearchParams): SbApp | HttpAnswer {
    const app = VK_SANDBOX_APPS.find((a) => a.client_id === form.get('client_id'));
    if (!app || app.client_secret !== form.get('client_secret')) return authError('invalid_client', 'Invalid client id or secret');
    return app;
  }

  function agencyClientUser(app: SbApp, form: URLSearchParams): number | HttpAnswer {
    const name = form.get('agency_client_name');
    const idText = form.get('agency_client_id');
    if (!name && !idText) return new HttpAnswer(400, { error: { code: 'invalid_request', message: 'agency_client_name or agency_client_id is required' } });
    for (const uid of app.clientIds) {
      const u = world.users.get(uid)!;
      if ((name && u.username === name) || (idText && String(u.id) === idText)) return uid;
    }
    return authError('invalid_user', 'Not a client of this agency');
  }

  function tokenEndpoint(form: URLSearchParams): HttpAnswer {
    const grant = form.get('grant_type');
    if (grant === 'refresh_token') {
      const rec = [...byAccess.values()].find((r) => r.refresh === form.get('refresh_token') && r.clientId === form.get('client_id'));
      const app = findApp(form);
      if (app instanceof HttpAnswer) return app;
      if (!rec) return authError('invalid_token', 'Unknown refresh token');
      counters.refreshes++;
      // A refresh rotates the access token in place: the old value is dead at once (A2).
      byAccess.delete(rec.access);
      const lifetime = faults.has('short_token') ? SHORT_TOKEN_S : TOKEN_LIFETIME_S;
      rec.access = `sbx-at-${rec.userId}-${++tokenSeq}-${hashSeed(seed, tokenSeq, 'a').toString(36)}`;
      rec.expiresAt = now() + lifetime * 1000;
      rec.uses = 0;
      byAccess.set(rec.access, rec);
      return tokenAnswer(rec, lifetime);
    }
    const app = findApp(form);
    if (app instanceof HttpAnswer) return app;
    if (grant === 'client_credentials') return mint(app.client_id, app.ownerId);
    if (grant === 'agency_client_credentials') {
      const uid = agencyClientUser(app, form);
      return uid instanceof HttpAnswer ? uid : mint(app.client_id, uid);
    }
    return new HttpAnswer(400, { error: { code: 'unsupported_grant_type', message: `grant_type ${grant} is not supported` } });
  }

  function deleteEndpoint(form: URLSearchParams): HttpAnswer {
    const app = findApp(form);
    if (app instanceof HttpAnswer) return app;
    let userId = app.ownerId;
    const username = form.get('username');
    const userIdText = form.get('user_id');
    if (username || userIdText) {
      const u = [...world.users.values()].find((x) => x.username === username || String(x.id) === userIdText);
      if (!u || (u.id !== app.ownerId && !app.clientIds.includes(u.id))) return authError('invalid_user', 'Unknown user');
      userId = u.id;
    }
    counters.deletes++;
    const key = pairKey(app.client_id, userId);
    for (const rec of byPair.get(key) ?? []) byAccess.delete(rec.access);
    byPair.delete(key);
    return new HttpAnswer(204, null);
  }

  function authenticate(req: http.IncomingMessage): TokenRec | HttpAnswer {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) return authError('invalid_token', 'No access token');
    const rec = byAccess.get(m[1]!);
    if (!rec) return authError('invalid_token', 'Invalid access token');
    rec.uses++;
    if (faults.has('token_expiry') && rec.uses > TOKEN_EXPIRY_USES) rec.expiresAt = Math.min(rec.expiresAt, now() - 1);
    if (now() >= rec.expiresAt) {
      counters.expiredAnswers++;
      return authError('expired_token', 'Access token is expired');
    }
    return rec;
  }

  // ---- lists -------------------------------------------------------------------------------

  function listObjects(kind: 'ad_plans' | 'ad_groups' | 'banners', user: SbUser, q: URLSearchParams): HttpAnswer {
    const spec = LIST_FIELDS[kind]!;
    const fields = q.get('fields') ? q.get('fields')!.split(',').map((f) => f.trim()).filter(Boolean) : spec.defaults;
    const unknown = fields.find((f) => !spec.all.includes(f));
    if (unknown) return new HttpAnswer(400, { error: { code: 'ERR_WRONG_PARAMETER', message: `Unknown field: ${unknown}` } });
    const source = (kind === 'ad_plans' ? plansOf(user) : kind === 'ad_groups' ? groupsOf(user) : allBannersOf(user)).map((o) => (touched.has(o.id) ? { ...o, updated: touched.get(o.id)! } : o));
    const filtered = source.filter((o) => matchesFilters(o as unknown as Json, q));
    const sorted = sortObjects(filtered as unknown as Json[], q.get('sorting'));
    if (sorted instanceof HttpAnswer) return sorted;
    const limitParam = q.get('limit');
    const offset = Math.max(0, Number(q.get('offset') ?? 0) || 0);
    const limit = Math.min(PAGE_MAX, Math.max(1, limitParam ? Number(limitParam) || PAGE_DEFAULT : PAGE_DEFAULT));
    const page = sorted.slice(offset, offset + limit).map((o) => project(kind, o as unknown as SbAdPlan, fields));
    const answer = new HttpAnswer(200, { count: sorted.length, offset, limit, items: page });
    if (faults.has('list_churn')) churnAfterPage(kind, user, sorted as unknown as Array<{ id: number }>, offset + page.length);
    return answer;
  }

  /**
   * `sorting=f1,-f2` (A1): ascending, `-` descending. Without it the order is unspecified by the docs; the
   * sandbox answers "recently changed first" (`updated` descending, then id descending), so objects created
   * or edited while a client pages jump to the front and shift every offset.
   */
  function sortObjects(items: Json[], sorting: string | null): Json[] | HttpAnswer {
    const keys = (sorting ?? '').split(',').map((k) => k.trim()).filter(Boolean).map((k) => (k.startsWith('-') ? { f: k.slice(1), dir: -1 } : { f: k, dir: 1 }));
    const bad = keys.find((k) => !['id', 'name', 'status', 'created', 'updated'].includes(k.f));
    if (bad) return new HttpAnswer(400, { error: { code: 'ERR_WRONG_PARAMETER', message: `Unknown sorting field: ${bad.f}` } });
    const order = keys.length > 0 ? keys : [{ f: 'updated', dir: -1 }, { f: 'id', dir: -1 }];
    return [...items].sort((a, b) => {
      for (const { f, dir } of order) {
        const x = a[f] as string | number;
        const y = b[f] as string | number;
        if (x !== y) return (x < y ? -1 : 1) * dir;
      }
      return 0;
    });
  }

  /** Moscow "now" as a VK datetime, strictly increasing, so churned objects always sort newest. */
  function churnStamp(): string {
    churnClock = Math.max(churnClock + 1000, now());
    return new Date(churnClock + 3 * 3_600_000).toISOString().slice(0, 19).replace('T', ' ');
  }

  /**
   * `list_churn`: after every list page, someone works in the cabinet: a new object is created (a larger id,
   * the newest `updated`: the front of the default order) and an existing object on a later page is edited
   * (its `updated` moves it to the front too). Offsets shift: the default order repeats and skips items;
   * `sorting=id` is stable (ids are never renumbered, new ones are larger, so they only append).
   */
  function churnAfterPage(kind: 'ad_plans' | 'ad_groups' | 'banners', user: SbUser, order: Array<{ id: number }>, nextOffset: number): void {
    const c = churnOf(user);
    const later = order.slice(nextOffset).find((o) => !c.banners.some((b) => b.id === o.id) && !c.groups.some((g) => g.id === o.id) && !c.plans.some((p) => p.id === o.id));
    if (later) touched.set(later.id, churnStamp());
    const stampNow = churnStamp();
    counters.churned++;
    if (kind === 'ad_plans') {
      const id = Math.max(...plansOf(user).map((p) => p.id)) + 1;
      c.plans.push({ id, name: `Новая кампания ${id}`, status: 'active', objective: 'traffic', created: stampNow, updated: stampNow, date_start: stampNow.slice(0, 10), date_end: null, budget_limit_day: '1000' });
    } else if (kind === 'ad_groups') {
      const id = Math.max(...groupsOf(user).map((g) => g.id)) + 1;
      c.groups.push({ id, ad_plan_id: plansOf(user)[0]!.id, name: `Новая группа ${id}`, status: 'active', objective: 'traffic', utm: '', enable_utm: true, created: stampNow, updated: stampNow });
    } else {
      const id = Math.max(...allBannersOf(user).map((b) => b.id)) + 1;
      // Just created, never delivered: every day is zero, so the ground truth holds.
      c.banners.push({ id, ad_group_id: groupsOf(user)[0]!.id, name: `Новое объявление ${id}`, status: 'active', created: stampNow, updated: stampNow, url: null, url_object_id: 900000 + id, silent: true });
    }
  }

  function matchesFilters(o: Json, q: URLSearchParams): boolean {
    let statusFiltered = false;
    for (const [key, value] of q) {
      if (!key.startsWith('_')) continue;
      const m = /^_([a-z_]+?)(?:__(in|ne|lt|lte|gt|gte))?$/.exec(key);
      if (!m) continue;
      let field = m[1]!;
      const op = m[2] ?? 'eq';
      if (field === 'status') statusFiltered = true;
      if (field === 'last_updated') field = 'updated';
      const actual = o[field];
      if (actual === undefined) continue;
      const a = String(actual);
      const values = value.split(',');
      const ok =
        op === 'eq' ? a === value :
        op === 'in' ? values.includes(a) :
        op === 'ne' ? a !== value :
        typeof actual === 'number' ? cmp(Number(a), Number(value), op) : cmp(a, value, op);
      if (!ok) return false;
    }
    // Deleted objects appear only when asked for (checklist 4; the real default is [unverified]).
    if (!statusFiltered && o.status === 'deleted') return false;
    return true;
  }

  function cmp<T extends number | string>(a: T, b: T, op: string): boolean {
    return op === 'lt' ? a < b : op === 'lte' ? a <= b : op === 'gt' ? a > b : a >= b;
  }

  function project(kind: string, o: SbAdPlan | SbAdGroup | SbBanner, fields: string[]): Json {
    const out: Json = {};
    for (const f of fields) {
      if (kind === 'banners' && f === 'urls') {
        const b = o as SbBanner;
        out.urls = { primary: b.url === null ? { id: b.url_object_id } : { id: b.url_object_id, url: b.url, url_object_id: b.url_object_id, url_object_type: 'url', url_types: ['default'] } };
      } else if (kind === 'banners' && f === 'moderation_status') {
        out.moderation_status = (o as SbBanner).status === 'blocked' ? 'banned' : 'allowed';
      } else {
        out[f] = (o as unknown as Json)[f];
      }
    }
    return out;
  }

  function agencyClients(user: SbUser, q: URLSearchParams): HttpAnswer {
    const app = VK_SANDBOX_APPS.find((a) => a.ownerId === user.id && a.clientIds.length > 0);
    const clients = (app?.clientIds ?? []).map((uid) => {
      const u = world.users.get(uid)!;
      return { user: { id: u.id, username: u.username, status: 'active', account: { currency: u.currency } }, status: 'active', access_type: 'full_access' };
    });
    const sorting = q.get('sorting');
    if (sorting && !/^-?id$/.test(sorting.trim())) return new HttpAnswer(400, { error: { code: 'ERR_WRONG_PARAMETER', message: `Unknown sorting field: ${sorting}` } });
    if (sorting) clients.sort((a, b) => (a.user.id - b.user.id) * (sorting.trim().startsWith('-') ? -1 : 1));
    const offset = Math.max(0, Number(q.get('offset') ?? 0) || 0);
    const limit = Math.min(PAGE_MAX, Math.max(1, Number(q.get('limit') ?? PAGE_DEFAULT) || PAGE_DEFAULT));
    return new HttpAnswer(200, { count: clients.length, offset, limit, items: clients.slice(offset, offset + limit) });
  }

  // ---- statistics -------------------------------------------------------------------------

  type Level = 'banners' | 'ad_groups' | 'ad_plans' | 'users';

  function bannersOf(level: Level, id: number, user: SbUser): SbBanner[] {
    const banners = allBannersOf(user);
    if (level === 'banners') return banners.filter((b) => b.id === id);
    if (level === 'ad_groups') return banners.filter((b) => b.ad_group_id === id);
    if (level === 'ad_plans') {
      const groups = new Set(groupsOf(user).filter((g) => g.ad_plan_id === id).map((g) => g.id));
      return banners.filter((b) => groups.has(b.ad_group_id));
    }
    return id === user.id ? banners : [];
  }

  function owns(level: Level, id: number, user: SbUser): boolean {
    const c = churnOf(user);
    if (level === 'banners' && c.banners.some((b) => b.id === id)) return true;
    if (level === 'ad_groups' && c.groups.some((g) => g.id === id)) return true;
    if (level === 'ad_plans' && c.plans.some((p) => p.id === id)) return true;
    if (level === 'banners') return world.bannerOwner.get(id) === user.id;
    if (level === 'ad_groups') return world.groupOwner.get(id) === user.id;
    if (level === 'ad_plans') return world.planOwner.get(id) === user.id;
    return id === user.id;
  }

  function existsAnywhere(level: Level, id: number): number | undefined {
    if (level === 'banners') return world.bannerOwner.get(id);
    if (level === 'ad_groups') return world.groupOwner.get(id);
    if (level === 'ad_plans') return world.planOwner.get(id);
    return world.users.has(id) ? id : undefined;
  }

  function statsError(status: number, code: string, message: string): HttpAnswer {
    if (code === 'ERR_LIMIT_EXCEEDED') counters.limitExceeded++;
    return new HttpAnswer(status, { error: { code, message } });
  }

  const METRIC_BLOCKS = ['base', 'events', 'video', 'uniques', 'all'];

  function baseBlock(s: DayStats, spentText?: string): Json {
    const spent = s.spentCents / 100;
    return {
      shows: s.shows,
      clicks: s.clicks,
      goals: s.goals,
      spent: spentText ?? money(s.spentCents),
      cpm: s.shows ? (spent / s.shows * 1000).toFixed(2) : '0',
      cpc: s.clicks ? (spent / s.clicks).toFixed(2) : '0',
      cpa: s.goals ? (spent / s.goals).toFixed(2) : '0',
      ctr: s.shows ? Math.round((s.clicks / s.shows) * 1e6) / 1e4 : 0,
      cr: s.clicks ? Math.round((s.goals / s.clicks) * 1e6) / 1e4 : 0,
      vk: { goals: s.goals, cpa: s.goals ? Math.round((spent / s.goals) * 100) / 100 : 0, cr: s.clicks ? Math.round((s.goals / s.clicks) * 1e6) / 1e4 : 0 },
    };
  }

  function blocks(metrics: string[], s: DayStats, spentText?: string): Json {
    const all = metrics.includes('all');
    const out: Json = {};
    if (all || metrics.includes('base')) out.base = baseBlock(s, spentText);
    if (all || metrics.includes('events')) out.events = { opening_app: 0, opening_post: 0, moving_into_group: 0, clicks_on_external_url: s.clicks, launching_video: 0, comments: 0, joinings: 0, likes: 0, shares: 0, votings: 0 };
    if (all || metrics.includes('video')) out.video = { started: 0, paused: 0, viewed_25_percent: 0, viewed_100_percent: 0, viewed_100_percent_rate: 0, viewed_100_percent_cost: '0' };
    if (all || metrics.includes('uniques')) out.uniques = { reach: 0, total: Math.floor(s.shows * 0.7), increment: Math.floor(s.shows * 0.1), initial_total: 0, frequency: s.shows ? 1.4 : 0 };
    return out;
  }

  function addStats(a: DayStats, b: DayStats): DayStats {
    return { shows: a.shows + b.shows, clicks: a.clicks + b.clicks, goals: a.goals + b.goals, spentCents: a.spentCents + b.spentCents };
  }
  const ZERO: DayStats = { shows: 0, clicks: 0, goals: 0, spentCents: 0 };

  function parseIds(q: URLSearchParams): number[] | HttpAnswer {
    const raw = q.getAll('id').flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
    if (raw.length === 0) return statsError(400, 'ERR_WRONG_PARAMETER', 'id is required');
    const ids = raw.map(Number);
    if (ids.some((n) => !Number.isSafeInteger(n) || n <= 0)) return statsError(400, 'ERR_WRONG_PARAMETER', 'id must be a list of positive integers');
    return ids;
  }

  function checkIds(level: Level, ids: number[], user: SbUser): HttpAnswer | null {
    for (const id of ids) {
      if (owns(level, id, user)) continue;
      const owner = existsAnywhere(level, id);
      if (owner !== undefined) return statsError(403, 'ERR_ACCESS_DENIED', `Object ${id} belongs to another account`);
      return statsError(400, `ERR_WRONG_${level.toUpperCase()}`, `Unknown ${level} id ${id}`);
    }
    return null;
  }

  function dayRange(q: URLSearchParams, required: boolean): { from: string; to: string } | HttpAnswer {
    const from = q.get('date_from');
    if (!from) {
      if (required) return statsError(400, 'ERR_WRONG_DATE', 'date_from is required');
    } else if (!isDay(from)) return statsError(400, 'ERR_WRONG_DATE', `Bad date_from: ${from}`);
    const today = new Date(now() + 3 * 3_600_000).toISOString().slice(0, 10);
    const to = q.get('date_to') ?? today;
    if (!isDay(to)) return statsError(400, 'ERR_WRONG_DATE', `Bad date_to: ${to}`);
    const start = from ?? to;
    if (start > to) return statsError(400, 'ERR_WRONG_DATE', 'date_from is after date_to');
    if (diffDays(start, to) + 1 > maxDays) return statsError(400, 'ERR_LIMIT_EXCEEDED', `At most ${maxDays} days per request`);
    return { from: start, to };
  }

  function statsV2(level: Level, period: 'day' | 'summary', user: SbUser, q: URLSearchParams): HttpAnswer {
    counters.statsRequests++;
    const ids = parseIds(q);
    if (ids instanceof HttpAnswer) return ids;
    if (ids.length > STATS_MAX_IDS) return statsError(400, 'ERR_LIMIT_EXCEEDED', `At most ${STATS_MAX_IDS} objects per request`);
    const range = dayRange(q, period === 'day');
    if (range instanceof HttpAnswer) return range;
    const metrics = (q.get('metrics') ?? 'base').split(',').map((m) => m.trim()).filter(Boolean);
    const badMetric = metrics.find((m) => !METRIC_BLOCKS.includes(m));
    if (badMetric) return statsError(400, 'ERR_WRONG_PARAMETER', `Unknown metrics: ${badMetric}`);
    const denied = checkIds(level, ids, user);
    if (denied) return denied;
    const malformed = faults.has('malformed') && period === 'day' && level === 'banners';
    const dup = faults.has('duplicate_rows') && period === 'day' && level === 'banners';
    let grand = ZERO;
    const items: Json[] = [];
    for (const id of ids) {
      const banners = bannersOf(level, id, user);
      const rows: Json[] = [];
      let total = ZERO;
      for (let d = range.from; d <= range.to; d = addDays(d, 1)) {
        const s = banners.reduce((acc, b) => addStats(acc, dayStats(b, d)), ZERO);
        total = addStats(total, s);
        if (period === 'summary') continue;
        if (dup && isDuplicated(seed, id, d)) {
          rows.push({ date: d, ...blocks(metrics, { ...s, shows: s.shows + 7, spentCents: s.spentCents + 100 }) });
        }
        const bad = malformed && isZero(s) ? malformedSpent(seed, id, d) : null;
        const row: Json = { date: d, ...blocks(metrics, s, bad ?? undefined) };
        if (malformed) row.mystery_block = { foo: 1 }; // an unknown metric block: must be ignored
        rows.push(row);
      }
      // A row dated after the requested window (checklist 8), for some banners.
      if (malformed && id % 11 === 0) {
        const outside = addDays(range.to, 1);
        const s = dayStats(banners[0]!, outside);
        rows.push({ date: outside, ...blocks(metrics, s) });
      }
      grand = addStats(grand, total);
      items.push(period === 'day' ? { id, rows, total: blocks(metrics, total) } : { id, total: blocks(metrics, total) });
    }
    // An item for a banner the account never listed.
    if (malformed && ids.includes(Math.min(...user.banners.map((b) => b.id)))) {
      items.push({ id: user.id * 10000 + 9999, rows: [{ date: range.from, ...blocks(metrics, { shows: 10, clicks: 1, goals: 0, spentCents: 150 }) }], total: blocks(metrics, ZERO) });
    }
    return new HttpAnswer(200, { items, total: blocks(metrics, grand) });
  }

  function statsV3(level: Level, user: SbUser, q: URLSearchParams): HttpAnswer {
    counters.statsRequests++;
    const range = dayRange(q, true);
    if (range instanceof HttpAnswer) return range;
    const limit = Number(q.get('limit') ?? 20);
    if (!Number.isInteger(limit) || limit < 1 || limit > V3_PAGE_MAX) return statsError(400, 'ERR_WRONG_PARAMETER', `limit must be 1..${V3_PAGE_MAX}`);
    const offset = Math.max(0, Number(q.get('offset') ?? 0) || 0);
    let ids: number[];
    if (q.get('id')) {
      const parsed = parseIds(q);
      if (parsed instanceof HttpAnswer) return parsed;
      const denied = checkIds(level, parsed, user);
      if (denied) return denied;
      ids = parsed;
    } else {
      ids = level === 'banners' ? allBannersOf(user).map((b) => b.id) : level === 'ad_groups' ? groupsOf(user).map((g) => g.id) : level === 'ad_plans' ? plansOf(user).map((p) => p.id) : [user.id];
    }
    const fields = (q.get('fields') ?? 'base').split(',');
    let grand = ZERO;
    const all = ids.map((id) => {
      let total = ZERO;
      for (const b of bannersOf(level, id, user)) for (let d = range.from; d <= range.to; d = addDays(d, 1)) total = addStats(total, dayStats(b, d));
      grand = addStats(grand, total);
      return { id, user_id: user.id, total: blocks(fields.map((f) => f.split('.')[0]!), total) };
    });
    return new HttpAnswer(200, { items: all.slice(offset, offset + limit), total: blocks(['base'], grand), count: all.length, limit, offset });
  }

  function throttling(key: string): HttpAnswer {
    const u = usage.get(key);
    const block = (limit: number, used: number) => ({ limits: { '1': rpsBudget, '3600': hourlyBudget, '86400': dailyBudget }, remaining: { '1': Math.max(0, rpsBudget - (u?.rps ?? 0)), '3600': Math.max(0, hourlyBudget - (u?.hourly ?? 0)), '86400': Math.max(0, limit - used) } });
    const perVersion = { READ: block(dailyBudget, u?.daily ?? 0), CREATE: block(dailyBudget, 0) };
    return new HttpAnswer(200, { banners: { v2: perVersion, v3: perVersion, all: perVersion }, statistics: { v2: perVersion, v3: perVersion, all: perVersion } });
  }

  // ---- routing ------------------------------------------------------------------------------

  async function route(req: http.IncomingMessage, url: URL): Promise<{ answer: HttpAnswer; rateKey: string; consumed: boolean }> {
    const path = url.pathname;
    if (req.method === 'POST' && path === '/api/v2/oauth2/token.json') {
      return { answer: tokenEndpoint(new URLSearchParams(await readBody(req))), rateKey: 'oauth', consumed: false };
    }
    if (req.method === 'POST' && path === '/api/v2/oauth2/token/delete.json') {
      return { answer: deleteEndpoint(new URLSearchParams(await readBody(req))), rateKey: 'oauth', consumed: false };
    }
    const auth = authenticate(req);
    if (auth instanceof HttpAnswer) return { answer: auth, rateKey: 'anonymous', consumed: false };
    const user = world.users.get(auth.userId)!;
    const rateKey = `user:${user.id}`;
    const limit = rateHeaders(rateKey, true);
    if (limit.limited) {
      counters.rateLimited++;
      const headers: Record<string, string> = faults.has('retry_after') ? { 'Retry-After': '1' } : {};
      return { answer: new HttpAnswer(429, { error: { code: 'too_many_requests', message: 'Rate limit exceeded' } }, headers), rateKey, consumed: true };
    }
    const q = url.searchParams;
    let m: RegExpExecArray | null;
    if (req.method !== 'GET') return { answer: new HttpAnswer(405, { error: { code: 'method_not_allowed', message: 'Method not allowed' } }), rateKey, consumed: true };
    if (path === '/api/v2/user.json') return { answer: new HttpAnswer(200, { id: user.id, username: user.username, currency: user.currency, status: 'active', types: ['user'] }), rateKey, consumed: true };
    if (path === '/api/v2/throttling.json') return { answer: throttling(rateKey), rateKey, consumed: true };
    if (path === '/api/v2/agency/clients.json') return { answer: agencyClients(user, q), rateKey, consumed: true };
    if ((m = /^\/api\/v2\/(ad_plans|ad_groups|banners)\.json$/.exec(path))) return { answer: listObjects(m[1] as 'ad_plans', user, q), rateKey, consumed: true };
    if ((m = /^\/api\/v2\/statistics\/(banners|ad_groups|ad_plans|users)\/(day|summary)\.json$/.exec(path))) {
      return { answer: statsV2(m[1] as Level, m[2] as 'day', user, q), rateKey, consumed: true };
    }
    if ((m = /^\/api\/v3\/statistics\/(banners|ad_groups|ad_plans|users)\/day\.json$/.exec(path))) return { answer: statsV3(m[1] as Level, user, q), rateKey, consumed: true };
    return { answer: new HttpAnswer(404, { error: { code: 'ERR_WRONG_RESOURCE', message: `No resource ${path}` } }), rateKey, consumed: true };
  }

  const handler: http.RequestListener = (req, res) => {
    void (async () => {
      const n = ++counters.requests;
      const url = new URL(req.url ?? '/', 'http://sandbox');
      if (faults.has('slow')) await delay(250);
      if (faults.has('timeout') && n % 20 === 0) await delay(10_000);
      let answer: HttpAnswer;
      let rateKey = 'anonymous';
      if (faults.has('5xx') && n % 6 === 0) {
        counters.errors5xx++;
        await readBody(req);
        answer = new HttpAnswer(n % 12 === 0 ? 503 : 500, { error: { code: 'ERR_INTERNAL', message: 'Internal error' } });
      } else {
        ({ answer, rateKey } = await route(req, url));
      }
      const headers: Record<string, string> = { ...rateHeaders(rateKey, false).headers, ...answer.headers };
      if (answer.status === 204) {
        res.writeHead(204, headers);
        res.end();
        return;
      }
      let text = JSON.stringify(answer.body);
      if (faults.has('malformed') && !truncatedSent && answer.status === 200 && /\/statistics\/banners\/day\.json$/.test(url.pathname)) {
        truncatedSent = true;
        text = text.slice(0, Math.floor(text.length / 2)); // a body cut off mid-way, once
      }
      res.writeHead(answer.status, { 'Content-Type': 'application/json; charset=utf-8', ...headers });
      res.end(text);
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'ERR_INTERNAL', message: String(err) } }));
    });
  };

  const server = await listen(handler, opts.port ?? 0);
  const direct = VK_SANDBOX_APPS[0]!;
  const agency = VK_SANDBOX_APPS[1]!;
  const accounts = [
    { id: 'vk_direct', client_id: direct.client_id, client_secret: direct.client_secret },
    { id: 'vk_agency_client', client_id: agency.client_id, client_secret: agency.client_secret, agency_client_name: VK_SANDBOX_ACCOUNTS.vk_agency_client.username },
  ];
  return {
    source: 'vk_ads',
    url: server.url,
    env: { VK_ADS_API_URL: server.url, VK_ADS_ACCOUNTS: JSON.stringify(accounts) },
    close: server.close,
    counters,
    advanceClock(ms: number) {
      clockOffset += ms;
    },
    liveTokens(clientId: string, username: string) {
      const u = [...world.users.values()].find((x) => x.username === username);
      return u ? (byPair.get(pairKey(clientId, u.id))?.length ?? 0) : 0;
    },
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function money(cents: number): string {
  // The docs show zero as "0" and other sums with two decimals.
  return cents === 0 ? '0' : (cents / 100).toFixed(2);
}
