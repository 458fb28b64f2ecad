// Avito payloads -> warehouse rows. Pure functions: no I/O, no clock.
import { parseMoneyCents as parseKopecks } from '../../src/marketing/money.js';
import { createHash } from 'node:crypto';
import { addDays, isDay } from '../../src/runtime/dates.js';

export type Row = Record<string, unknown>;
export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };

const MSK_OFFSET_MS = 3 * 3_600_000; // Europe/Moscow has been UTC+3 without DST since 2014

/** 'YYYY-MM-DD hh:mm:ss' (UTC) of an epoch-ms instant. */
export function utcText(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/** The Moscow calendar day of an instant. */
export function moscowDay(ms: number): string {
  return new Date(ms + MSK_OFFSET_MS).toISOString().slice(0, 10);
}

/** Midnight of a Moscow day as an ISO date-time with the +03:00 offset (operations_history windows). */
export function moscowMidnightIso(day: string): string {
  return `${day}T00:00:00+03:00`;
}

// One money parser for every loader: src/marketing/money.ts.
export { parseKopecks };

/** Kopecks as a JSON number of rubles: ClickHouse 18.16 reads Decimal from JSONEachRow only as a number. */
export const rubles = (kopecks: number): number => kopecks / 100;

function asId(value: unknown): number | null {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  if (typeof value === 'string' && /^\d{1,15}$/.test(value.trim()) && Number(value) > 0) return Number(value);
  return null;
}

function asCount(value: unknown): number | null {
  if (value === undefined || value === null) return 0; // a metric left out = nothing counted
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : null;
}

const text = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');
const obj = (v: unknown): Record<string, unknown> | null => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null);

// ---- items --------------------------------------------------------------------------------

export interface ItemRow {
  profile: string;
  item_id: number;
  title: string;
  status: string;
  price: number | null;
  url: string;
  address: string;
  category_id: number;
  category_name: string;
  client: string;
}

export function itemRow(profile: string, client: string, raw: unknown): Checked<ItemRow> {
  const o = obj(raw);
  if (!o) return { ok: false, reason: 'item is not an object' };
  const id = asId(o.id);
  if (id === null) return { ok: false, reason: `invalid item id ${JSON.stringify(o.id)}` };
  let price: number | null = null;
  if (o.price !== null && o.price !== undefined) {
    const k = parseKopecks(o.price);
    if (k === null || k < 0) return { ok: false, reason: `invalid price ${JSON.stringify(o.price)} of item ${id}` };
    price = rubles(k);
  }
  const category = obj(o.category);
  return {
    ok: true,
    value: {
      profile,
      item_id: id,
      title: text(o.title),
      status: text(o.status),
      price,
      url: text(o.url),
      address: text(o.address),
      category_id: asId(category?.id) ?? 0,
      category_name: text(category?.name),
      client,
    },
  };
}

// ---- item statistics ----------------------------------------------------------------------

export interface ItemDayRow {
  profile: string;
  item_id: number;
  date: string;
  views: number;
  contacts: number;
  favorites: number;
}

export interface Rejected {
  reason: string;
  key: string;
  payload: unknown;
}

export interface StatsResult {
  rows: ItemDayRow[];
  rejected: Rejected[];
  /** Earlier copies of an (item, date) that came again in the same answer; the last one wins. */
  duplicates: number;
  /** Every day row in the answer: rows + rejected + duplicates. */
  read: number;
}

/**
 * A stats/v1 answer -> one row per (item, day) that Avito reported. Items with no activity come with an
 * empty `stats`; days left out are zero (the loader tombstones a stored day that is no longer reported).
 */
export function statsToRows(profile: string, requested: ReadonlySet<number>, from: string, to: string, items: readonly unknown[]): StatsResult {
  const flat: Array<{ itemId: number | null; rawItem: unknown; raw: unknown; key: string }> = [];
  const result: StatsResult = { rows: [], rejected: [], duplicates: 0, read: 0 };
  for (const rawItem of items) {
    const o = obj(rawItem);
    const itemId = asId(o?.itemId);
    const stats = Array.isArray(o?.stats) ? (o!.stats as unknown[]) : null;
    if (!stats) {
      // An item entry without a stats list is one bad record.
      result.read++;
      result.rejected.push({ reason: 'stats item without a stats list', key: `${profile}|${String(o?.itemId)}|-`, payload: rawItem });
      continue;
    }
    for (const raw of stats) flat.push({ itemId, rawItem, raw, key: `${profile}|${String(o?.itemId)}|${text(obj(raw)?.date)}` });
  }
  result.read += flat.length;
  const last = new Map<string, number>();
  flat.forEach((e, i) => last.set(e.key, i));
  flat.forEach((e, i) => {
    if (last.get(e.key) !== i) {
      result.duplicates++;
      return;
    }
    const reject = (reason: string) => result.rejected.push({ reason, key: e.key, payload: { profile, itemId: obj(e.rawItem)?.itemId, stat: e.raw } });
    if (e.itemId === null) return reject(`invalid itemId ${JSON.stringify(obj(e.rawItem)?.itemId)}`);
    if (!requested.has(e.itemId)) return reject(`unknown item ${e.itemId} (not requested)`);
    const s = obj(e.raw);
    const date = text(s?.date).slice(0, 10);
    if (!s || !isDay(date)) return reject(`invalid date ${JSON.stringify(s?.date)}`);
    if (date < from || date > to) return reject(`date ${date} outside the requested window ${from}..${to}`);
    const views = asCount(s.uniqViews);
    const contacts = asCount(s.uniqContacts);
    const favorites = asCount(s.uniqFavorites);
    if (views === null || contacts === null || favorites === null) {
      return reject(`invalid counters uniqViews=${JSON.stringify(s.uniqViews)} uniqContacts=${JSON.stringify(s.uniqContacts)} uniqFavorites=${JSON.stringify(s.uniqFavorites)}`);
    }
    result.rows.push({ profile, item_id: e.itemId, date, views, contacts, favorites });
  });
  return result;
}

/** ≤200 ids × the whole window (the 270-day limit is on history depth, not on the range). */
export function statsBatches(ids: readonly number[], maxIds: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < ids.length; i += maxIds) out.push(ids.slice(i, i + maxIds));
  return out;
}

// ---- operations and spend -----------------------------------------------------------------

export type OperationKind = 'charge' | 'refund' | 'other';

const normalize = (s: string) => s.trim().toLowerCase().replace(/ё/g, 'е').replace(/\s+/g, ' ');

/**
 * Which operationType counts as spend. Charges: money taken for services (reservations for a service or an
 * auto-strategy, charges against credit, post-payment). Refunds, subtracted: reservations returned to the
 * wallet (Avito spells "зарзервированных" and "автостатегию" with typos, so prefixes are matched), сторно,
 * чарджбэк. Everything else is not spend: top-ups and advances (аванс, внесение/возврат CPA аванса, возврат
 * аванса), bonus burning, write-offs "не за оказанные услуги", remainder write-offs, revenue recognition (an
 * accounting echo of a reservation: counting it would count the money twice), "опротестовано" (a dispute,
 * not yet a refund). Unknown types are 'other' and stay visible in stg_avito_operations.
 */
export function classifyOperation(operationType: string): OperationKind {
  const t = normalize(operationType);
  if (t === 'сторно' || t === 'чарджбэк' || t.startsWith('возврат зар')) return 'refund';
  if (t === 'резервирование средств под услугу' || t === 'резервирование под автостратегию' || t === 'списание в счет кредита' || t === 'постоплата') return 'charge';
  return 'other';
}

export interface OperationRow {
  profile: string;
  operation_id: string;
  date: string;
  paid_at: string;
  updated_at: string;
  operation_type: string;
  operation_name: string;
  kind: OperationKind;
  service_id: number;
  service_name: string;
  service_type: string;
  item_id: number;
  amount_rub: number;
  amount_bonus: number;
  amount_total: number;
}

export interface ParsedOperation {
  row: OperationRow;
  /** Kopecks, positive: the sign comes from `kind`. */
  rubKopecks: number;
  bonusKopecks: number;
  /** The fields the id is derived from (before the occurrence suffix). */
  identity: string;
}

/** ISO date-time with an offset (`2020-04-27T10:51:50.012436+03:00`) -> epoch ms; no offset = Moscow. */
export function parseAvitoTime(value: unknown): number | null {
  if (typeof value !== 'string') return null;
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/.exec(value.trim());
  if (!m || !isDay(m[1]!)) return null;
  const frac = m[3] ? `.${m[3].slice(1, 4).padEnd(3, '0')}` : '';
  const zone = m[4] ?? '+03:00';
  const t = Date.parse(`${m[1]}T${m[2]!.length === 5 ? `${m[2]}:00` : m[2]}${frac}${zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone}`);
  return Number.isNaN(t) ? null : t;
}

/** One operation -> its row; `paidAt` dates it (falling back to `updatedAt`). Amounts are taken as magnitudes. */
export function parseOperation(profile: string, raw: unknown): Checked<ParsedOperation> {
  const o = obj(raw);
  if (!o) return { ok: false, reason: 'operation is not an object' };
  const type = text(o.operationType);
  if (!type) return { ok: false, reason: 'operation without operationType' };
  const paid = parseAvitoTime(o.paidAt) ?? parseAvitoTime(o.updatedAt);
  if (paid === null) return { ok: false, reason: `operation without a valid paidAt/updatedAt (${JSON.stringify(o.paidAt ?? o.updatedAt)})` };
  const updated = parseAvitoTime(o.updatedAt) ?? paid;
  const rub = parseKopecks(o.amountRub ?? 0);
  const bonus = parseKopecks(o.amountBonus ?? 0);
  const total = o.amountTotal === undefined || o.amountTotal === null ? (rub ?? 0) + (bonus ?? 0) : parseKopecks(o.amountTotal);
  if (rub === null || bonus === null || total === null) {
    return { ok: false, reason: `invalid amount amountRub=${JSON.stringify(o.amountRub)} amountBonus=${JSON.stringify(o.amountBonus)} amountTotal=${JSON.stringify(o.amountTotal)}` };
  }
  const kind = classifyOperation(type);
  // Neither updatedAt (it moves when Avito edits the operation) nor the occurrence is part of the identity.
  const identity = [text(o.paidAt) || text(o.updatedAt), type, text(o.operationName), text(o.serviceId), text(o.serviceType), text(o.itemId), rub, bonus, total].join('\u001f');
  return {
    ok: true,
    value: {
      rubKopecks: Math.abs(rub),
      bonusKopecks: Math.abs(bonus),
      identity,
      row: {
        profile,
        operation_id: '',
        date: moscowDay(paid),
        paid_at: utcText(paid),
        updated_at: utcText(updated),
        operation_type: type,
        operation_name: text(o.operationName),
        kind,
        service_id: asId(o.serviceId) ?? 0,
        service_name: text(o.serviceName),
        service_type: text(o.serviceType),
        item_id: asId(o.itemId) ?? 0,
        amount_rub: rubles(Math.abs(rub)),
        amount_bonus: rubles(Math.abs(bonus)),
        amount_total: rubles(Math.abs(total)),
      },
    },
  };
}

/**
 * Stable ids for one profile's operations: Avito gives none, so an id is the SHA-1 of the identifying
 * fields; identical operations (same instant, type, service, item and amounts) are told apart by their
 * occurrence (#1, #2, ...) in the order Avito lists them.
 */
export function assignOperationIds(ops: ParsedOperation[]): ParsedOperation[] {
  const seen = new Map<string, number>();
  for (const op of ops) {
    const n = (seen.get(op.identity) ?? 0) + 1;
    seen.set(op.identity, n);
    op.row.operation_id = createHash('sha1').update(`${op.identity}\u001f${n}`).digest('hex').slice(0, 24);
  }
  return ops;
}

export interface SpendDayRow {
  profile: string;
  date: string;
  spend: number;
  spend_bonus: number;
  operations: number;
  currency: 'RUB';
}

/** Daily spend for every day of [since, until] (zero days included: a day refunded to zero must overwrite). */
export function dailySpend(profile: string, ops: readonly ParsedOperation[], since: string, until: string): SpendDayRow[] {
  const byDay = new Map<string, { rub: number; bonus: number; n: number }>();
  for (let d = since; d <= until; d = addDays(d, 1)) byDay.set(d, { rub: 0, bonus: 0, n: 0 });
  for (const op of ops) {
    const day = byDay.get(op.row.date);
    if (!day || op.row.kind === 'other') continue;
    const sign = op.row.kind === 'charge' ? 1 : -1;
    day.rub += sign * op.rubKopecks;
    day.bonus += sign * op.bonusKopecks;
    day.n++;
  }
  return [...byDay].map(([date, d]) => ({ profile, date, spend: rubles(d.rub), spend_bonus: rubles(d.bonus), operations: d.n, currency: 'RUB' as const }));
}

export function isEmptySpend(row: Row): boolean {
  return Number(row.spend) === 0 && Number(row.spend_bonus) === 0 && Number(row.operations) === 0;
}

export function isEmptyItemDay(row: Row): boolean {
  return Number(row.views) === 0 && Number(row.contacts) === 0 && Number(row.favorites) === 0;
}

/** operations_history windows: [day 00:00 MSK, day+7 00:00 MSK) pieces covering [since, until]. */
export function operationWindows(since: string, until: string, maxDays: number): Array<{ from: string; to: string; fromIso: string; toIso: string }> {
  const out: Array<{ from: string; to: string; fromIso: string; toIso: string }> = [];
  for (let start = since; start <= until; start = addDays(start, maxDays)) {
    const last = addDays(start, maxDays - 1) < until ? addDays(start, maxDays - 1) : until;
    out.push({ from: start, to: last, fromIso: moscowMidnightIso(start), toIso: moscowMidnightIso(addDays(last, 1)) });
  }
  return out;
}

// ---- balance ------------------------------------------------------------------------------

export interface BalanceRow {
  profile: string;
  snapshot_at: string;
  date: string;
  balance_real: number;
  balance_bonus: number;
}

export function balanceRow(profile: string, atMs: number, answer: { real: number; bonus: number }): BalanceRow {
  const second = Math.floor(atMs / 1000) * 1000;
  return { profile, snapshot_at: utcText(second), date: moscowDay(second), balance_real: rubles(parseKopecks(answer.real) ?? 0), balance_bonus: rubles(parseKopecks(answer.bonus) ?? 0) };
}

// ---- messenger ----------------------------------------------------------------------------

export interface ChatRow {
  profile: string;
  chat_id: string;
  item_id: number;
  item_title: string;
  counterpart_id: string;
  counterpart_name: string;
  created_at: string;
  updated_at: string;
}

export interface ParsedChat {
  row: ChatRow;
  /** Unix seconds, for the incremental cursor. */
  updated: number;
}

function unixSeconds(value: unknown): number | null {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? Math.floor(n) : null;
}

/** A chat: the counterpart is the user that is not us (`users` holds both sides). */
export function chatRow(profile: string, ownUserId: number, raw: unknown): Checked<ParsedChat> {
  const o = obj(raw);
  if (!o) return { ok: false, reason: 'chat is not an object' };
  const id = text(o.id);
  if (!id) return { ok: false, reason: 'chat without an id' };
  const created = unixSeconds(o.created);
  const updated = unixSeconds(o.updated) ?? created;
  if (created === null || updated === null) return { ok: false, reason: `chat ${id} without valid created/updated (${JSON.stringify(o.created)}, ${JSON.stringify(o.updated)})` };
  const context = obj(o.context);
  const value = context && context.type === 'item' ? obj(context.value) : null;
  const users = Array.isArray(o.users) ? (o.users as unknown[]).map(obj).filter((u): u is Record<string, unknown> => u !== null) : [];
  const other = users.find((u) => text(u.id) !== String(ownUserId)) ?? null;
  return {
    ok: true,
    value: {
      updated,
      row: {
        profile,
        chat_id: id,
        item_id: asId(value?.id) ?? 0,
        item_title: text(value?.title),
        counterpart_id: text(other?.id),
        counterpart_name: text(other?.name),
        created_at: utcText(created * 1000),
        updated_at: utcText(updated * 1000),
      },
    },
  };
}

export interface MessageRow {
  profile: string;
  chat_id: string;
  message_id: string;
  created_at: string;
  direction: 'in' | 'out';
  author_id: string;
  message_type: string;
  text: string;
  is_read: number;
}

/** The largest image of an `image` content: `{sizes: {"1280x960": url, ...}}`. */
function imageUrl(image: Record<string, unknown> | null): string {
  const sizes = obj(image?.sizes);
  if (!sizes) return text(image?.url);
  let best = '';
  let bestArea = -1;
  for (const [size, url] of Object.entries(sizes)) {
    const m = /^(\d+)x(\d+)$/.exec(size);
    const area = m ? Number(m[1]) * Number(m[2]) : 0;
    if (area > bestArea && typeof url === 'string') (best = url), (bestArea = area);
  }
  return best;
}

/** The text of a message, or a readable placeholder for the other types (`[image] <url>`, `[voice] <id>`, ...). */
export function messageText(type: string, content: Record<string, unknown> | null): string {
  const c = content ?? {};
  const join = (...parts: string[]) => parts.filter(Boolean).join(' ');
  switch (type) {
    case 'text':
      return text(c.text);
    case 'image':
      return join('[image]', imageUrl(obj(c.image)));
    case 'link': {
      const link = obj(c.link);
      return join('[link]', text(link?.text), text(link?.url));
    }
    case 'item': {
      const item = obj(c.item);
      return join('[item]', text(item?.title), text(item?.item_url ?? item?.url));
    }
    case 'location': {
      const loc = obj(c.location);
      return join('[location]', text(loc?.text) || text(loc?.title), loc && loc.lat !== undefined ? `${text(loc.lat)},${text(loc.lon)}` : '');
    }
    case 'call': {
      const call = obj(c.call);
      return join('[call]', text(call?.status), text(call?.target_user_id));
    }
    case 'voice':
      return join('[voice]', text(obj(c.voice)?.voice_id));
    case 'deleted':
      return '[deleted]';
    case 'system':
      return join('[system]', text(c.text));
    default:
      // appCall, file, video, ...: Avito sends `content: {}` for types the API does not support.
      return typeof c.text === 'string' && c.text ? c.text : `[${type || 'unknown'}]`;
  }
}

export function messageRow(profile: string, chatId: string, raw: unknown): Checked<MessageRow> {
  const o = obj(raw);
  if (!o) return { ok: false, reason: 'message is not an object' };
  const id = text(o.id);
  if (!id) return { ok: false, reason: `message of chat ${chatId} without an id` };
  const created = unixSeconds(o.created);
  if (created === null) return { ok: false, reason: `message ${id} without a valid created (${JSON.stringify(o.created)})` };
  const direction = o.direction === 'out' ? 'out' : o.direction === 'in' ? 'in' : null;
  if (!direction) return { ok: false, reason: `message ${id} with direction ${JSON.stringify(o.direction)}` };
  const type = text(o.type) || 'unknown';
  return {
    ok: true,
    value: {
      profile,
      chat_id: chatId,
      message_id: id,
      created_at: utcText(created * 1000),
      direction,
      author_id: text(o.author_id),
      message_type: type,
      text: messageText(type, obj(o.content)),
      is_read: o.is_read === true || (typeof o.read === 'number' && o.read > 0) ? 1 : 0,
    },
  };
}
