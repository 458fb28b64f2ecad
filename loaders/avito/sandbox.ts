// A faithful fake of the Avito API (api.avito.ru) with deterministic synthetic data, following the
// "Avito fake" checklist of shared/api/avito_sheets_misc.md: client_credentials tokens (/token and /token/,
// form body), Bearer checks and 401s, user_id required in every /accounts/{user_id}/ path, items paged
// without totals, stats v1 limits (200 ids, 270 days), operations_history's 1-week window, Messenger chats
// and messages (offset ≤ 1000, both message shapes), balance that changes between calls, 429/5xx.
// Faults are switched on by name (BEHAVIOR.md lists them).
import type http from 'node:http';
import { addDays, diffDays, isDay } from '../../src/runtime/dates.js';
import { hashSeed, listen, readBody, seededRandom, type RunningSandbox, type SandboxOptions } from '../../src/runtime/sandbox.js';

// ---- synthetic world (pure functions of the seed) ------------------------------------------------

export const AVITO_SANDBOX_PROFILES = {
  avito_msk: { userId: 94235311, clientId: 'avito-msk-app', clientSecret: 'sandbox-msk-secret', shop: 'Билеты МСК', items: 230, chats: 45, city: 'msk' },
  // Exactly 200 items: two full pages and then an empty one (paging without totals).
  avito_spb: { userId: 51234567, clientId: 'avito-spb-app', clientSecret: 'sandbox-spb-secret', shop: 'Билеты СПб', items: 200, chats: 28, city: 'spb' },
} as const;
export type AvitoSandboxProfile = keyof typeof AVITO_SANDBOX_PROFILES;
export const AVITO_SANDBOX_PROFILE_NAMES = Object.keys(AVITO_SANDBOX_PROFILES) as AvitoSandboxProfile[];

const CITIES = ['msk', 'spb', 'kzn', 'ekb', 'nsk'];
const STATUSES = ['active', 'active', 'active', 'active', 'active', 'active', 'active', 'removed', 'old', 'blocked', 'rejected'] as const;
const CATEGORIES = [
  { id: 111, name: 'Билеты и путешествия' },
  { id: 112, name: 'Концерты' },
  { id: 113, name: 'Театр, опера, балет' },
];

export interface SbItem {
  id: number;
  title: string;
  price: number | null;
  status: string;
  url: string | null;
  address: string;
  category: { id: number; name: string };
}

const itemCache = new Map<string, SbItem[]>();
/** The items of a profile: a pure function of (seed, profile). */
export function avitoItems(seed: number, profile: AvitoSandboxProfile): SbItem[] {
  const key = `${seed}|${profile}`;
  const cached = itemCache.get(key);
  if (cached) return cached;
  const p = AVITO_SANDBOX_PROFILES[profile];
  const base = 3_000_000_000 + AVITO_SANDBOX_PROFILE_NAMES.indexOf(profile) * 10_000_000 + (seed % 1000) * 1000;
  const items: SbItem[] = [];
  for (let i = 0; i < p.items; i++) {
    const r = seededRandom(hashSeed(seed, 'avito-item', profile, i));
    const id = base + i * 7 + 1;
    const city = i % 3 === 0 ? p.city : CITIES[Math.floor(r() * CITIES.length)]!;
    const status = STATUSES[Math.floor(r() * STATUSES.length)]!;
    items.push({
      id,
      title: `Билеты на концерт №${i + 1}, ${city}`,
      price: i % 13 === 0 ? null : 500 + Math.floor(r() * 90) * 50,
      status,
      url: status === 'active' ? `https://www.avito.ru/${city}/bilety/koncert_${id}` : null,
      address: `${city}, ул. Ленина, ${1 + Math.floor(r() * 100)}`,
      category: CATEGORIES[Math.floor(r() * CATEGORIES.length)]!,
    });
  }
  itemCache.set(key, items);
  return items;
}

export interface ItemDayStats {
  views: number;
  contacts: number;
  favorites: number;
}

/** Statistics of one item on one day: a pure function of (seed, profile, item, date); ~35% of days are quiet. */
export function itemDayStats(seed: number, profile: AvitoSandboxProfile, itemId: number, date: string): ItemDayStats {
  const r = seededRandom(hashSeed(seed, 'avito-stat', profile, itemId, date));
  if (r() < 0.35) return { views: 0, contacts: 0, favorites: 0 };
  const views = 1 + Math.floor(r() * 180);
  return { views, contacts: Math.floor(views * r() * 0.12), favorites: Math.floor(views * r() * 0.08) };
}

export interface SbOperation {
  amountBonus: number;
  amountRub: number;
  amountTotal: number;
  itemId: number | null;
  operationName: string;
  operationType: string;
  paidAt: string;
  serviceId: number;
  serviceName: string;
  serviceType: string;
  updatedAt: string;
}

/** How each sandbox operation type counts: +1 charge, -1 refund, 0 not spend (the loader's documented rule). */
export const SANDBOX_OPERATION_TYPES: ReadonlyArray<{ type: string; sign: 1 | -1 | 0; weight: number }> = [
  { type: 'резервирование средств под услугу', sign: 1, weight: 60 },
  { type: 'резервирование под автостратегию', sign: 1, weight: 8 },
  { type: 'списание в счёт кредита', sign: 1, weight: 4 },
  { type: 'сторно', sign: -1, weight: 5 },
  { type: 'чарджбэк', sign: -1, weight: 3 },
  { type: 'возврат зарзервированных средств на баланс кошелька', sign: -1, weight: 5 },
  { type: 'аванс', sign: 0, weight: 8 },
  { type: 'сжигание бонусов', sign: 0, weight: 3 },
  { type: 'признание выручки', sign: 0, weight: 4 },
];
const TYPE_WEIGHT = SANDBOX_OPERATION_TYPES.reduce((a, t) => a + t.weight, 0);
const SERVICES = [
  { id: 111, name: 'Продвижение', type: 'vas' },
  { id: 23, name: 'До 5 раз больше просмотров на 1 день', type: 'perf_vas' },
  { id: 7, name: 'Тариф Расширенный', type: 'tariff' },
];

const p2 = (n: number) => String(n).padStart(2, '0');

/**
 * Wallet operations of one Moscow day: a pure function of (seed, profile, date). Some days have an operation
 * at exactly 00:00:00 (a week-window boundary) and some an identical operation twice (same instant, amounts).
 */
export function dayOperations(seed: number, profile: AvitoSandboxProfile, date: string): SbOperation[] {
  const r = seededRandom(hashSeed(seed, 'avito-ops', profile, date));
  const n = Math.floor(r() * 5);
  const items = avitoItems(seed, profile);
  const ops: SbOperation[] = [];
  for (let i = 0; i < n; i++) {
    let pick = r() * TYPE_WEIGHT;
    const t = SANDBOX_OPERATION_TYPES.find((x) => (pick -= x.weight) < 0) ?? SANDBOX_OPERATION_TYPES[0]!;
    const svc = SERVICES[Math.floor(r() * SERVICES.length)]!;
    const rubK = 5000 + Math.floor(r() * 150_000); // kopecks
    const bonusK = r() < 0.25 ? Math.floor(r() * 10_000) : 0;
    const secs = i === 0 && hashSeed(seed, 'avito-midnight', profile, date) % 4 === 0 ? 0 : Math.floor(r() * 86_400);
    const micros = secs === 0 ? '' : `.${String(Math.floor(r() * 1e6)).padStart(6, '0')}`;
    const at = `${date}T${p2(Math.floor(secs / 3600))}:${p2(Math.floor((secs % 3600) / 60))}:${p2(secs % 60)}${micros}+03:00`;
    const item = t.type === 'аванс' ? null : items[Math.floor(r() * items.length)]!.id;
    ops.push({
      amountBonus: bonusK / 100,
      amountRub: rubK / 100,
      amountTotal: (rubK + bonusK) / 100,
      itemId: item,
      operationName: t.type === 'аванс' ? 'Пополнение кошелька' : `${svc.name}, ${Math.round(rubK / 100)} ₽`,
      operationType: t.type,
      paidAt: at,
      serviceId: svc.id,
      serviceName: svc.name,
      serviceType: svc.type,
      updatedAt: at,
    });
  }
  if (n > 0 && hashSeed(seed, 'avito-twin', profile, date) % 5 === 0) ops.push({ ...ops[0]! });
  return ops;
}

export interface AvitoDay {
  date: string;
  views: number;
  contacts: number;
  favorites: number;
  /** RUB: charges minus refunds. */
  spend: number;
  spend_bonus: number;
  /** Operations counted in spend. */
  operations: number;
}

/** Ground truth: per-day views/contacts/favorites (all items) and spend of one profile over [since, until]. */
export function expectedAvitoDaily(seed: number, profile: AvitoSandboxProfile, since: string, until: string): AvitoDay[] {
  const items = avitoItems(seed, profile);
  const out: AvitoDay[] = [];
  for (let d = since; d <= until; d = addDays(d, 1)) {
    const day: AvitoDay = { date: d, views: 0, contacts: 0, favorites: 0, spend: 0, spend_bonus: 0, operations: 0 };
    for (const it of items) {
      const s = itemDayStats(seed, profile, it.id, d);
      day.views += s.views;
      day.contacts += s.contacts;
      day.favorites += s.favorites;
    }
    let rubK = 0;
    let bonusK = 0;
    for (const op of dayOperations(seed, profile, d)) {
      const sign = SANDBOX_OPERATION_TYPES.find((t) => t.type === op.operationType)!.sign;
      if (sign === 0) continue;
      rubK += sign * Math.round(op.amountRub * 100);
      bonusK += sign * Math.round(op.amountBonus * 100);
      day.operations++;
    }
    day.spend = rubK / 100;
    day.spend_bonus = bonusK / 100;
    out.push(day);
  }
  return out;
}

/** Balance served by the n-th balance call (1-based) of a profile: it drops between calls. */
export function avitoBalance(seed: number, profile: AvitoSandboxProfile, n: number): { real: number; bonus: number } {
  const base = 20_000 + (hashSeed(seed, 'avito-balance', profile) % 50_000);
  return { real: Math.round((base - n * 137.45) * 100) / 100, bonus: Math.round((500 - n * 3.5) * 100) / 100 };
}

export interface SbMessage {
  id: string;
  author_id: number;
  created: number;
  type: string;
  direction: 'in' | 'out';
  is_read: boolean;
  read: number | null;
  content: Record<string, unknown>;
}

export interface SbChat {
  id: string;
  created: number;
  updated: number;
  itemId: number | null;
  itemTitle: string;
  counterpart: { id: number; name: string };
  /** Oldest first (served newest first). */
  messages: SbMessage[];
}

const NAMES = ['Анна', 'Иван Петров', 'Ольга', 'Дмитрий', 'Екатерина С.', 'Сергей', 'Мария', 'Алексей'];
const TEXTS = [
  'Здравствуйте! Билеты ещё в наличии?',
  'Да, есть. Сколько вам нужно?',
  'Два билета на субботу, партер 😊',
  'Можно ли забрать у метро «Площадь Восстания»?',
  'Скидка будет, если возьму четыре?',
  'Спасибо, договорились. До встречи!',
  'Пришлите, пожалуйста, фото билетов',
];

/**
 * The chats of a profile as they stand at `anchorMs` (updated within the 20 days before it): a pure function
 * of (seed, profile, anchor). One chat has 130 messages (paging), messages mix text (Cyrillic), image, link,
 * voice, item, location, call, deleted, system and an unsupported `file` (content {}).
 */
export function avitoChats(seed: number, profile: AvitoSandboxProfile, anchorMs: number): SbChat[] {
  const p = AVITO_SANDBOX_PROFILES[profile];
  const items = avitoItems(seed, profile);
  const anchor = Math.floor(anchorMs / 1000);
  const chats: SbChat[] = [];
  for (let c = 0; c < p.chats; c++) {
    const r = seededRandom(hashSeed(seed, 'avito-chat', profile, c));
    const updated = anchor - 600 - Math.floor(r() * 20 * 86_400);
    const count = c === 1 ? 130 : 2 + Math.floor(r() * 7);
    const created = updated - count * 600 - Math.floor(r() * 86_400);
    const withItem = r() < 0.8;
    const item = items[Math.floor(r() * items.length)]!;
    const counterpart = { id: 700_000_000 + (hashSeed(seed, 'avito-cp', profile, c) % 100_000_000), name: NAMES[Math.floor(r() * NAMES.length)]! };
    const id = `u2i-${hashSeed(seed, 'avito-chat-id', profile, c).toString(36)}${c}`;
    const messages: SbMessage[] = [];
    for (let m = 0; m < count; m++) {
      const out = m % 2 === 1;
      const at = m === count - 1 ? updated : created + Math.floor(((updated - created) * m) / count);
      messages.push(makeMessage(r, `${id}-m${m}`, at, out ? p.userId : counterpart.id, out ? 'out' : 'in', m === count - 1 && !out ? false : true, m + c));
    }
    chats.push({ id, created, updated, itemId: withItem ? item.id : null, itemTitle: withItem ? item.title : '', counterpart, messages });
  }
  return chats;
}

function makeMessage(r: () => number, id: string, created: number, author: number, direction: 'in' | 'out', isRead: boolean, variant: number): SbMessage {
  const kinds = ['text', 'text', 'text', 'image', 'text', 'link', 'voice', 'text', 'item', 'location', 'call', 'deleted', 'system', 'file'];
  const type = kinds[variant % kinds.length]!;
  let content: Record<string, unknown>;
  switch (type) {
    case 'text':
      content = { text: TEXTS[Math.floor(r() * TEXTS.length)]! };
      break;
    case 'image':
      content = { image: { sizes: { '140x105': `https://img.avito.st/140x105/${id}.jpg`, '1280x960': `https://img.avito.st/1280x960/${id}.jpg` } } };
      break;
    case 'link':
      content = { link: { text: 'Схема зала', url: `https://tickets.example.ru/hall/${id}`, preview: null } };
      break;
    case 'voice':
      content = { voice: { voice_id: `voice-${id}` } };
      break;
    case 'item':
      content = { item: { title: 'Билеты на концерт', item_url: 'https://www.avito.ru/item', image_url: '', price_string: '1 500 ₽' } };
      break;
    case 'location':
      content = { location: { text: 'Москва, Тверская, 1', title: 'Встреча', lat: 55.757, lon: 37.615, kind: 'street' } };
      break;
    case 'call':
      content = { call: { status: 'missed', target_user_id: author } };
      break;
    case 'system':
      content = { text: 'Покупатель посмотрел ваш номер' };
      break;
    default:
      content = {}; // deleted, and the types the API does not support (file, video, appCall)
  }
  return { id, author_id: author, created, type, direction, is_read: isRead, read: isRead ? created + 60 : null, content };
}

/** The text the loader stores for a sandbox message (the same placeholders as transform.messageText). */
export function expectedMessageCount(chats: readonly SbChat[]): number {
  return chats.reduce((a, c) => a + c.messages.length, 0);
}

// ---- the HTTP fake ----------------------------------------------------------------------------

export interface AvitoSandboxOptions extends SandboxOptions {
  /** The instant chats are generated against (default: now, floored to the minute). */
  anchorMs?: number;
  /** Items budget window; under `rate_limit` it defaults to 1 s (and 429s carry Retry-After), else 60 s. */
  rateWindowMs?: number;
  /** How the token endpoint refuses `bad_credentials` (the real shape is unverified). */
  badCredentialsAnswer?: { status: number; body: unknown };
}

export interface AvitoSandboxCounters {
  requests: number;
  /** POST /token answered 200, per client_id. */
  mints: Record<string, number>;
  /** Token requests refused. */
  refusedTokens: number;
  /** 401s for an expired (or revoked) token. */
  expiredAnswers: number;
  rateLimited: number;
  errors5xx: number;
  itemsRequests: number;
  statsRequests: number;
  /** 400s for >200 ids or history deeper than 270 days. */
  statsRefused: number;
  operationsRequests: number;
  /** 400s for operations windows over a week. */
  operationsRefused: number;
  balanceRequests: number;
  chatsRequests: number;
  /** The chat ids whose messages were requested, in order (one entry per request). */
  messageRequests: string[];
}

export interface AvitoSandbox extends RunningSandbox {
  counters: AvitoSandboxCounters;
  /** The live chats of a profile (after any test-added messages). */
  chats(profile: AvitoSandboxProfile): SbChat[];
  /** A new message in a chat (Cyrillic text); moves the chat's `updated` to now (strictly later). */
  addMessage(profile: AvitoSandboxProfile, chatId: string, text: string, direction?: 'in' | 'out'): SbMessage;
  /** The balance served by the last balance call of a profile (null before the first). */
  lastBalance(profile: AvitoSandboxProfile): { real: number; bonus: number } | null;
  /** Expire every token issued so far (the next API call of each holder gets a 401). */
  expireTokens(): void;
}

interface TokenRec {
  access: string;
  clientId: string;
  profile: AvitoSandboxProfile;
  expiresAt: number;
}

const TOKEN_LIFETIME_S = 86_400;
/** Under `token_expiry`: every token issued so far expires after this many authenticated API calls (once). */
const TOKEN_EXPIRY_AFTER = 6;
const ITEMS_BUDGET = 25;
const ITEMS_BUDGET_FAULT = 2;
const STATS_MAX_IDS = 200;
const STATS_HISTORY_DAYS = 270;
const OPS_MAX_MS = 7 * 86_400_000;
const MESSENGER_MAX_LIMIT = 100;
const MESSENGER_MAX_OFFSET = 1000;

class HttpAnswer {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
    /** Sent as is (not JSON-encoded): empty or broken bodies. */
    readonly raw?: string,
  ) {}
}

const err = (status: number, message: string, headers: Record<string, string> = {}) => new HttpAnswer(status, { error: { code: status, message } }, headers);

export async function startSandbox(opts: AvitoSandboxOptions): Promise<AvitoSandbox> {
  const seed = opts.seed;
  const faults = opts.faults;
  const anchorMs = opts.anchorMs ?? Math.floor(Date.now() / 60_000) * 60_000;
  const rateWindowMs = opts.rateWindowMs ?? (faults.has('rate_limit') ? 1000 : 60_000);
  const itemsBudget = faults.has('rate_limit') ? ITEMS_BUDGET_FAULT : ITEMS_BUDGET;
  const badAnswer = opts.badCredentialsAnswer ?? { status: 401, body: { error: 'invalid_client', error_description: 'Client authentication failed' } };
  const badProfile: AvitoSandboxProfile = 'avito_spb';
  const counters: AvitoSandboxCounters = {
    requests: 0, mints: {}, refusedTokens: 0, expiredAnswers: 0, rateLimited: 0, errors5xx: 0, itemsRequests: 0, statsRequests: 0,
    statsRefused: 0, operationsRequests: 0, operationsRefused: 0, balanceRequests: 0, chatsRequests: 0, messageRequests: [],
  };
  // Chats are mutable per sandbox (addMessage); the generator's output is copied, never shared.
  const chatState = new Map<AvitoSandboxProfile, SbChat[]>();
  for (const p of AVITO_SANDBOX_PROFILE_NAMES) chatState.set(p, avitoChats(seed, p, anchorMs).map((c) => ({ ...c, messages: [...c.messages] })));
  const balanceCalls = new Map<AvitoSandboxProfile, number>();
  const tokens = new Map<string, TokenRec>();
  const itemsCalls = new Map<string, number[]>();
  let tokenSeq = 0;
  let apiCalls = 0;
  let expiryDone = false;
  let emptyBodySent = false;
  let innerErrorSent = false;
  let messageSeq = 0;

  const profileByUser = (userId: number) => AVITO_SANDBOX_PROFILE_NAMES.find((p) => AVITO_SANDBOX_PROFILES[p].userId === userId);

  function tokenEndpoint(form: URLSearchParams): HttpAnswer {
    if (form.get('grant_type') !== 'client_credentials') return new HttpAnswer(400, { error: 'unsupported_grant_type', error_description: `grant_type ${form.get('grant_type')} is not supported here` });
    const profile = AVITO_SANDBOX_PROFILE_NAMES.find((p) => AVITO_SANDBOX_PROFILES[p].clientId === form.get('client_id'));
    const p = profile ? AVITO_SANDBOX_PROFILES[profile] : undefined;
    if (!profile || !p || p.clientSecret !== form.get('client_secret') || (faults.has('bad_credentials') && profile === badProfile)) {
      counters.refusedTokens++;
      return new HttpAnswer(badAnswer.status, badAnswer.body);
    }
    counters.mints[p.clientId] = (counters.mints[p.clientId] ?? 0) + 1;
    const access = `sbx-avito-${p.userId}-${++tokenSeq}-${hashSeed(seed, tokenSeq).toString(36)}`;
    tokens.set(access, { access, clientId: p.clientId, profile, expiresAt: Date.now() + TOKEN_LIFETIME_S * 1000 });
    return new HttpAnswer(200, { access_token: access, expires_in: TOKEN_LIFETIME_S, token_type: 'Bearer' });
  }

  function authenticate(req: http.IncomingMessage): TokenRec | HttpAnswer {
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const rec = m ? tokens.get(m[1]!) : undefined;
    if (!rec) return err(401, 'Unauthorized');
    // `bad_credentials`: the profile's secret was changed, so its old tokens are revoked too.
    if (Date.now() >= rec.expiresAt || (faults.has('bad_credentials') && rec.profile === badProfile)) {
      counters.expiredAnswers++;
      return err(401, 'Unauthorized');
    }
    return rec;
  }

  function itemsLimited(profile: AvitoSandboxProfile): HttpAnswer | null {
    const now = Date.now();
    const calls = (itemsCalls.get(profile) ?? []).filter((t) => now - t < rateWindowMs);
    itemsCalls.set(profile, calls);
    if (calls.length >= itemsBudget) {
      counters.rateLimited++;
      const headers: Record<string, string> = { 'X-RateLimit-Limit': String(itemsBudget), 'X-RateLimit-Remaining': '0' };
      // Avito is not documented to send Retry-After; under the fault the sandbox does (time until a slot frees).
      if (faults.has('rate_limit')) headers['Retry-After'] = String(Math.max(0.01, (rateWindowMs - (now - calls[0]!)) / 1000).toFixed(3));
      return new HttpAnswer(429, { code: '429', message: 'Too Many Requests' }, headers); // flat body on /core/v1/items
    }
    calls.push(now);
    return null;
  }

  function itemsList(profile: AvitoSandboxProfile, q: URLSearchParams): HttpAnswer {
    counters.itemsRequests++;
    const limited = itemsLimited(profile);
    if (limited) return limited;
    const perPage = Math.min(100, Math.max(1, Number(q.get('per_page') ?? 25) || 25));
    const page = Math.max(1, Number(q.get('page') ?? 1) || 1);
    const statuses = (q.get('status') ?? 'active').split(',').map((s) => s.trim());
    let items: unknown[] = avitoItems(seed, profile).filter((i) => statuses.includes(i.status));
    if (faults.has('malformed')) items = [...items, { id: 'abc', title: 'Без номера', status: 'active' }, { id: 3_999_999_999, title: 'Цена словами', price: 'бесплатно', status: 'active' }];
    return new HttpAnswer(200, { meta: { page, per_page: perPage }, resources: items.slice((page - 1) * perPage, page * perPage) });
  }

  function itemStats(profile: AvitoSandboxProfile, body: Record<string, unknown>): HttpAnswer {
    counters.statsRequests++;
    const { dateFrom, dateTo, itemIds } = body as { dateFrom?: string; dateTo?: string; itemIds?: unknown };
    if (!Array.isArray(itemIds) || itemIds.length === 0 || typeof dateFrom !== 'string' || typeof dateTo !== 'string' || !isDay(dateFrom) || !isDay(dateTo) || dateFrom > dateTo) {
      return err(400, 'dateFrom, dateTo (YYYY-MM-DD, from ≤ to) and itemIds are required');
    }
    if (itemIds.length > STATS_MAX_IDS) {
      counters.statsRefused++;
      return err(400, `itemIds: at most ${STATS_MAX_IDS} items per request`);
    }
    const today = new Date(Date.now() + 3 * 3_600_000).toISOString().slice(0, 10);
    if (diffDays(dateFrom, today) > STATS_HISTORY_DAYS) {
      counters.statsRefused++;
      return err(400, `dateFrom: statistics are kept for ${STATS_HISTORY_DAYS} days`);
    }
    const owned = new Set(avitoItems(seed, profile).map((i) => i.id));
    const malformed = faults.has('malformed');
    const out: unknown[] = [];
    for (const raw of itemIds) {
      const id = Number(raw);
      if (!owned.has(id)) continue;
      const stats: unknown[] = [];
      let badSent = false;
      for (let d = dateFrom; d <= dateTo; d = addDays(d, 1)) {
        const s = itemDayStats(seed, profile, id, d);
        if (s.views === 0 && s.contacts === 0 && s.favorites === 0) {
          // `malformed`: a quiet day of some items carries a negative counter (the truth stays zero).
          if (malformed && !badSent && id % 5 === 1) (stats.push({ date: d, uniqViews: -1, uniqContacts: 0, uniqFavorites: 0 }), (badSent = true));
          continue; // no activity, no row
        }
        stats.push({ date: d, uniqViews: s.views, uniqContacts: s.contacts, uniqFavorites: s.favorites });
      }
      out.push({ itemId: id, stats });
    }
    if (malformed) {
      out.push({ itemId: 1, stats: [{ date: dateFrom, uniqViews: 5, uniqContacts: 1, uniqFavorites: 0 }] }); // not ours
      out.push({ itemId: Number(itemIds[0]), stats: [{ date: addDays(dateTo, 3), uniqViews: 9, uniqContacts: 0, uniqFavorites: 0 }] }); // after dateTo
    }
    return new HttpAnswer(200, { result: { items: out }, errors: {} });
  }

  function operations(profile: AvitoSandboxProfile, body: Record<string, unknown>): HttpAnswer {
    counters.operationsRequests++;
    const from = Date.parse(String(body.dateTimeFrom ?? ''));
    const to = Date.parse(String(body.dateTimeTo ?? ''));
    if (Number.isNaN(from) || Number.isNaN(to) || from > to) return err(400, 'dateTimeFrom and dateTimeTo (ISO date-times, from ≤ to) are required');
    if (to - from > OPS_MAX_MS) {
      counters.operationsRefused++;
      return err(400, 'the period must not be longer than one week');
    }
    if (Date.now() - from > 366 * 86_400_000) return err(400, 'dateTimeFrom must be within the last year');
    const ops: unknown[] = [];
    // Inclusive at both ends, as the spec does not say otherwise: a boundary instant is served twice.
    const firstDay = new Date(from + 3 * 3_600_000).toISOString().slice(0, 10);
    const lastDay = new Date(to + 3 * 3_600_000).toISOString().slice(0, 10);
    for (let d = firstDay; d <= lastDay; d = addDays(d, 1)) {
      for (const op of dayOperations(seed, profile, d)) {
        const t = Date.parse(op.paidAt);
        if (t >= from && t <= to) ops.push(op);
      }
    }
    if (faults.has('malformed')) ops.push({ amountRub: 'n/a', amountBonus: 0, operationType: 'резервирование средств под услугу', paidAt: new Date(from).toISOString() });
    return new HttpAnswer(200, faults.has('operations_top_level') ? { operations: ops } : { result: { operations: ops } });
  }

  function chatsList(profile: AvitoSandboxProfile, q: URLSearchParams): HttpAnswer {
    counters.chatsRequests++;
    if (faults.has('messenger_forbidden') && profile === badProfile) return err(403, 'Forbidden');
    const limit = Number(q.get('limit') ?? 100);
    const offset = Number(q.get('offset') ?? 0);
    if (!(limit >= 1 && limit <= MESSENGER_MAX_LIMIT) || !(offset >= 0 && offset <= MESSENGER_MAX_OFFSET)) return err(400, `limit 1..${MESSENGER_MAX_LIMIT}, offset 0..${MESSENGER_MAX_OFFSET}`);
    const p = AVITO_SANDBOX_PROFILES[profile];
    let chats: unknown[] = [...chatState.get(profile)!]
      .sort((a, b) => b.updated - a.updated || (a.id < b.id ? -1 : 1))
      .map((c) => ({
        id: c.id,
        created: c.created,
        updated: c.updated,
        context: c.itemId ? { type: 'item', value: { id: c.itemId, title: c.itemTitle, url: `https://www.avito.ru/item/${c.itemId}`, price_string: '1 500 ₽', status_id: 0, user_id: p.userId, images: {} } } : undefined,
        users: [
          { id: p.userId, name: p.shop, public_user_profile: { user_id: p.userId } },
          { id: c.counterpart.id, name: c.counterpart.name, public_user_profile: { user_id: c.counterpart.id } },
        ],
        last_message: c.messages.length ? serveMessage(c.messages[c.messages.length - 1]!) : null,
      }));
    if (faults.has('malformed')) chats = [{ created: 1, updated: Math.floor(anchorMs / 1000), users: [] }, ...chats];
    return new HttpAnswer(200, { chats: chats.slice(offset, offset + limit) });
  }

  function serveMessage(m: SbMessage): Record<string, unknown> {
    return { id: m.id, author_id: m.author_id, created: m.created, type: m.type, direction: m.direction, is_read: m.is_read, read: m.read, content: m.content };
  }

  function messagesList(profile: AvitoSandboxProfile, chatId: string, q: URLSearchParams): HttpAnswer {
    counters.messageRequests.push(chatId);
    const chat = chatState.get(profile)!.find((c) => c.id === chatId);
    if (!chat) return err(404, 'Not found');
    const limit = Number(q.get('limit') ?? 100);
    const offset = Number(q.get('offset') ?? 0);
    if (!(limit >= 1 && limit <= MESSENGER_MAX_LIMIT) || !(offset >= 0 && offset <= MESSENGER_MAX_OFFSET)) return err(400, `limit 1..${MESSENGER_MAX_LIMIT}, offset 0..${MESSENGER_MAX_OFFSET}`);
    let all: unknown[] = [...chat.messages].reverse().map(serveMessage); // newest first; GET does not mark read
    if (faults.has('malformed') && chat === chatState.get(profile)![0]) all = [{ id: `${chatId}-broken`, type: 'text', direction: 'in', content: { text: 'без даты' } }, ...all];
    const page = all.slice(offset, offset + limit);
    if (faults.has('messages_array')) return new HttpAnswer(200, page);
    return new HttpAnswer(200, { messages: page, meta: { has_more: offset + limit < all.length } });
  }

  function userPath(rec: TokenRec, userIdText: string): HttpAnswer | null {
    return String(AVITO_SANDBOX_PROFILES[rec.profile].userId) === userIdText ? null : err(404, 'Not found');
  }

  async function route(req: http.IncomingMessage, url: URL): Promise<HttpAnswer> {
    const path = url.pathname;
    if (req.method === 'POST' && (path === '/token' || path === '/token/')) return tokenEndpoint(new URLSearchParams(await readBody(req)));
    const bodyText = req.method === 'POST' ? await readBody(req) : '';
    const auth = authenticate(req);
    if (auth instanceof HttpAnswer) return auth;
    apiCalls++;
    if (faults.has('token_expiry') && !expiryDone && apiCalls > TOKEN_EXPIRY_AFTER) {
      // One event mid-run: every token issued so far expires although expires_in promised a day.
      expiryDone = true;
      for (const t of tokens.values()) t.expiresAt = 0;
      counters.expiredAnswers++;
      return err(401, 'Unauthorized');
    }
    if (faults.has('rate_limit') && apiCalls % 20 === 0 && !path.startsWith('/core/v1/items')) {
      counters.rateLimited++;
      return err(429, 'Too Many Requests', { 'Retry-After': (rateWindowMs / 1000).toFixed(3) });
    }
    const profile = auth.profile;
    let body: Record<string, unknown> = {};
    if (bodyText) {
      try {
        body = JSON.parse(bodyText) as Record<string, unknown>;
      } catch {
        return err(400, 'invalid JSON body');
      }
    }
    let m: RegExpExecArray | null;
    if (req.method === 'GET' && path === '/core/v1/accounts/self') {
      const p = AVITO_SANDBOX_PROFILES[profile];
      return new HttpAnswer(200, { id: p.userId, name: p.shop, email: `${profile}@example.ru`, phone: '+7 900 000-00-00', phones: [], profile_url: `https://www.avito.ru/user/${p.userId}` });
    }
    if (req.method === 'GET' && path === '/core/v1/items') return itemsList(profile, url.searchParams);
    if (req.method === 'GET' && (m = /^\/core\/v1\/accounts\/(\d+)\/balance\/?$/.exec(path))) {
      const wrong = userPath(auth, m[1]!);
      if (wrong) return wrong;
      counters.balanceRequests++;
      const n = (balanceCalls.get(profile) ?? 0) + 1;
      balanceCalls.set(profile, n);
      return new HttpAnswer(200, avitoBalance(seed, profile, n));
    }
    if (req.method === 'POST' && (m = /^\/stats\/v1\/accounts\/(\d+)\/items\/?$/.exec(path))) return userPath(auth, m[1]!) ?? itemStats(profile, body);
    if (req.method === 'POST' && /^\/core\/v1\/accounts\/operations_history\/?$/.test(path)) return operations(profile, body);
    if (req.method === 'GET' && (m = /^\/messenger\/v2\/accounts\/(\d+)\/chats\/?$/.exec(path))) return userPath(auth, m[1]!) ?? chatsList(profile, url.searchParams);
    if (req.method === 'GET' && (m = /^\/messenger\/v3\/accounts\/(\d+)\/chats\/([^/]+)\/messages\/?$/.exec(path))) {
      return userPath(auth, m[1]!) ?? messagesList(profile, decodeURIComponent(m[2]!), url.searchParams);
    }
    return err(404, 'Not found');
  }

  const handler: http.RequestListener = (req, res) => {
    void (async () => {
      const n = ++counters.requests;
      const url = new URL(req.url ?? '/', 'http://sandbox');
      let answer: HttpAnswer;
      const isToken = url.pathname.startsWith('/token');
      if (faults.has('5xx') && !isToken && n % 7 === 0) {
        counters.errors5xx++;
        await readBody(req);
        answer = n % 14 === 0 ? err(503, 'Service temporarily unavailable. Please, contact support') : err(500, 'Error while processing request. Please, contact support');
      } else {
        answer = await route(req, url);
        if (faults.has('5xx') && answer.status === 200 && !isToken) {
          if (!emptyBodySent && url.pathname.includes('/stats/')) {
            emptyBodySent = true;
            counters.errors5xx++;
            answer = new HttpAnswer(200, null, {}, ''); // an empty 200, once
          } else if (!innerErrorSent && url.pathname.includes('operations_history')) {
            innerErrorSent = true;
            counters.errors5xx++;
            answer = new HttpAnswer(200, { error: { code: 503, message: 'Service temporarily unavailable. Please, contact support' } }); // error inside a 200
          }
        }
      }
      res.writeHead(answer.status, { 'Content-Type': 'application/json; charset=utf-8', ...answer.headers });
      res.end(answer.raw ?? JSON.stringify(answer.body));
    })().catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 500, message: String(e) } }));
    });
  };

  const server = await listen(handler, opts.port ?? 0);
  const profiles = AVITO_SANDBOX_PROFILE_NAMES.map((name) => {
    const p = AVITO_SANDBOX_PROFILES[name];
    return { name, client_id: p.clientId, client_secret: p.clientSecret, client: name === 'avito_msk' ? 'tickets-msk' : undefined };
  });
  return {
    source: 'avito',
    url: server.url,
    env: { AVITO_API_URL: server.url, AVITO_PROFILES: JSON.stringify(profiles) },
    close: server.close,
    counters,
    chats: (profile) => chatState.get(profile)!,
    addMessage(profile, chatId, text, direction = 'in') {
      const chat = chatState.get(profile)!.find((c) => c.id === chatId);
      if (!chat) throw new Error(`no chat ${chatId} in ${profile}`);
      const at = Math.max(Math.floor(Date.now() / 1000), chat.updated + 1);
      const p = AVITO_SANDBOX_PROFILES[profile];
      const msg: SbMessage = { id: `${chatId}-new${++messageSeq}`, author_id: direction === 'out' ? p.userId : chat.counterpart.id, created: at, type: 'text', direction, is_read: false, read: null, content: { text } };
      chat.messages.push(msg);
      chat.updated = at;
      return msg;
    },
    lastBalance(profile) {
      const n = balanceCalls.get(profile);
      return n ? avitoBalance(seed, profile, n) : null;
    },
    expireTokens() {
      for (const t of tokens.values()) t.expiresAt = 0;
    },
  };
}
