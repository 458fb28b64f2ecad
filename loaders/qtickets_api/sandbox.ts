// A faithful fake of the QTickets REST API v1 with deterministic synthetic data. It reproduces what the
// api notes (shared/api/avito_sheets_misc.md, section 2 + "QTickets fake") say the real one does: Bearer
// auth with `{"error","status"}` bodies, list filters as a JSON body on GET *or* as `where=` in the query
// string, `orderBy`, `page`/`per_page` paging wrapped in `{data, paging:{perPage,currentPage,total}}`,
// single objects as `{data}`, orders whose baskets are refunded or deleted, cancelled (deleted) orders,
// unpaid reservations and a deleted event. Faults are switched on by name (BEHAVIOR.md lists them).
import type http from 'node:http';
import { parseCityEvent } from '../../src/marketing/utm.js';
import { addDays, todayIn, zonedDayStart } from '../../src/runtime/dates.js';
import { hashSeed, listen, readBody, SANDBOX_EVENTS, seededRandom, type RunningSandbox, type SandboxOptions, totalsByCityAndDay, type CityDayTotal } from '../../src/runtime/sandbox.js';

export const QT_SANDBOX_TOKEN = 'qtickets-sandbox-token';
const TZ = 'Europe/Moscow';
const HOUR = 3_600_000;
const DAY = 86_400_000;
const PAGE_MAX = 100;

// ---- synthetic world (a pure function of the seed and "today") --------------------------------

const CITY_NAMES: Record<string, string> = { msk: 'Москва', spb: 'Санкт-Петербург', kzn: 'Казань', ekb: 'Екатеринбург', nsk: 'Новосибирск', nizhny_novgorod: 'Нижний Новгород' };

/** QTickets names a city by a numeric id only: ids in order of first appearance in SANDBOX_EVENTS. */
export const QT_SANDBOX_CITY_IDS: Readonly<Record<string, number>> = Object.fromEntries(
  [...new Set(SANDBOX_EVENTS.map((tag) => parseCityEvent(tag, '2026-01-01').city))].map((city, i) => [city, i + 1]),
);

export interface SbShow {
  id: number;
  start_date: string;
  startMs: number;
}
export interface SbEvent {
  id: number;
  tag: string;
  name: string;
  city: string;
  city_id: number;
  event_date: string;
  place_name: string;
  external_id: string | null;
  deleted_at: string | null;
  shows: SbShow[];
}
export interface SbBasket {
  id: number;
  show_id: number;
  /** The served price is cents / 100 as a JSON float (or "abc" under `malformed`). */
  cents: number;
  quantity: number;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
  refunded_at: string | null;
  /** Under `malformed`: the price text served instead of the number. */
  badPrice?: string;
}
export interface SbOrder {
  id: number;
  event_id: number;
  payed: boolean;
  payed_at: string | null;
  created_at: string;
  updated_at: string;
  updatedMs: number;
  deleted_at: string | null;
  baskets: SbBasket[];
}

/** 'YYYY-MM-DDThh:mm:ss+03:00', the form QTickets answers with. */
export function mskIso(ms: number): string {
  return `${new Date(Math.floor(ms / 1000) * 1000 + 3 * HOUR).toISOString().slice(0, 19)}+03:00`;
}

/** Order ids: `(1 + seed mod 1000) * 1e6 + event index * 10000 + show index * 1000 + n`; basket ids `order id * 10 + k`. */
export function orderIdBase(seed: number): number {
  return (1 + (Math.abs(Math.trunc(seed)) % 1000)) * 1_000_000;
}

export function sandboxToday(): string {
  return todayIn(TZ);
}

export function qticketsEvents(seed: number, today: string = sandboxToday()): SbEvent[] {
  return SANDBOX_EVENTS.map((tag, i) => {
    const rng = seededRandom(hashSeed(seed, 'qt-event', tag));
    // The year nearest to today, as the utm_content convention resolves it, so ROMI joins ad spend.
    const { city, event_date } = parseCityEvent(tag, today);
    const id = 7000 + i;
    const evening = zonedDayStart(event_date!, TZ) + 19 * HOUR + 30 * 60_000;
    const shows: SbShow[] = [{ id: id * 10 + 1, start_date: mskIso(evening), startMs: evening }];
    // A second, after-midnight show on the same Moscow day: 21:30 UTC of the day before.
    if (rng() < 0.5) {
      const night = zonedDayStart(event_date!, TZ) + 30 * 60_000;
      shows.push({ id: id * 10 + 2, start_date: mskIso(night), startMs: night });
    }
    const dd = event_date!.slice(8, 10);
    const mm = event_date!.slice(5, 7);
    return {
      id,
      tag,
      name: `Концерт «${CITY_NAMES[city!] ?? city}» ${dd}.${mm}`,
      city: city!,
      city_id: QT_SANDBOX_CITY_IDS[city!]!,
      event_date: event_date!,
      place_name: `Клуб ${i + 1}`,
      external_id: i % 2 === 0 ? tag : null,
      // The last event is deleted (archived): its sales stay history and need its shows' dates.
      deleted_at: i === SANDBOX_EVENTS.length - 1 ? mskIso(zonedDayStart(addDays(today, -1), TZ) + 10 * HOUR) : null,
      shows,
    };
  });
}

const PRICE_LEVELS_CENTS = [150000, 249050, 399099];

const worldCache = new Map<string, SbOrder[]>();

/**
 * Every order of the world. Only orders paid (or reserved) before today 00:00 Moscow exist, so the data is
 * fixed for a given (seed, today). ~8% unpaid reservations, ~6% of paid orders with one refunded basket,
 * ~3% with one deleted basket, ~3% deleted (cancelled) orders; refunds and deletions happen after payment
 * and before today and move `updated_at`.
 */
export function qticketsOrders(seed: number, today: string = sandboxToday()): SbOrder[] {
  const key = `${seed}|${today}`;
  const cached = worldCache.get(key);
  if (cached) return cached;
  const cutoff = zonedDayStart(today, TZ);
  const base = orderIdBase(seed);
  const orders: SbOrder[] = [];
  qticketsEvents(seed, today).forEach((event, ei) => {
    event.shows.forEach((show, si) => {
      const rng = seededRandom(hashSeed(seed, 'qt-orders', show.id));
      const n = 12 + Math.floor(rng() * 20);
      for (let k = 0; k < n; k++) {
        const r = seededRandom(hashSeed(seed, 'qt-order', show.id, k));
        const id = base + ei * 10_000 + si * 1_000 + k;
        const paidMs = Math.floor((show.startMs - HOUR - r() * 45 * DAY) / 1000) * 1000;
        if (paidMs >= cutoff) continue; // not sold yet
        const createdMs = paidMs - Math.floor(1 + r() * 20) * 60_000;
        const kind = r();
        const nBaskets = 1 + Math.floor(r() * 4);
        const level = PRICE_LEVELS_CENTS[Math.floor(r() * PRICE_LEVELS_CENTS.length)]!;
        const discounted = r() < 0.2;
        const baskets: SbBasket[] = [];
        for (let b = 0; b < nBaskets; b++) {
          baskets.push({
            id: id * 10 + b,
            show_id: show.id,
            cents: discounted ? Math.round(level * 0.9) : level,
            quantity: 1,
            created_at: mskIso(createdMs),
            updated_at: mskIso(paidMs),
            deleted_at: null,
            refunded_at: null,
          });
        }
        let updatedMs = paidMs + Math.floor(1 + r() * 30) * 60_000;
        const order: SbOrder = { id, event_id: event.id, payed: true, payed_at: mskIso(paidMs), created_at: mskIso(createdMs), updated_at: '', updatedMs: 0, deleted_at: null, baskets };
        const laterMs = Math.floor((updatedMs + r() * Math.max(0, cutoff - HOUR - updatedMs)) / 1000) * 1000;
        if (kind < 0.08) {
          order.payed = false;
          order.payed_at = null;
          updatedMs = createdMs;
        } else if (kind < 0.14) {
          baskets[0]!.refunded_at = mskIso(laterMs);
          baskets[0]!.updated_at = mskIso(laterMs);
          updatedMs = Math.max(updatedMs, laterMs);
        } else if (kind < 0.17) {
          baskets[baskets.length - 1]!.deleted_at = mskIso(laterMs);
          baskets[baskets.length - 1]!.updated_at = mskIso(laterMs);
          updatedMs = Math.max(updatedMs, laterMs);
        } else if (kind < 0.2) {
          order.deleted_at = mskIso(laterMs);
          updatedMs = Math.max(updatedMs, laterMs);
        }
        order.updatedMs = updatedMs;
        order.updated_at = mskIso(updatedMs);
        orders.push(order);
      }
    });
  });
  orders.sort((a, b) => a.id - b.id);
  worldCache.set(key, orders);
  return orders;
}

/** Orders added by the `malformed` fault (ids base + 990001..): quarantined by the loader, never counted. */
export function malformedOrders(seed: number, today: string = sandboxToday()): SbOrder[] {
  const base = orderIdBase(seed) + 990_000;
  const event = qticketsEvents(seed, today)[0]!;
  const at = zonedDayStart(today, TZ) - 2 * HOUR;
  const basket = (id: number, extra: Partial<SbBasket> = {}): SbBasket => ({ id, show_id: event.shows[0]!.id, cents: 150000, quantity: 1, created_at: mskIso(at), updated_at: mskIso(at), deleted_at: null, refunded_at: null, ...extra });
  return [
    // Paid, but without payed_at.
    { id: base + 1, event_id: event.id, payed: true, payed_at: null, created_at: mskIso(at), updated_at: mskIso(at), updatedMs: at, deleted_at: null, baskets: [basket((base + 1) * 10)] },
    // A basket whose price is not a number.
    { id: base + 2, event_id: event.id, payed: true, payed_at: mskIso(at), created_at: mskIso(at), updated_at: mskIso(at), updatedMs: at, deleted_at: null, baskets: [basket((base + 2) * 10, { badPrice: 'abc' })] },
  ];
}

export interface ExpectedLine {
  order_id: string;
  line_id: string;
  city: string;
  event_date: string;
  sold_at: string;
  status: 'paid' | 'refunded' | 'cancelled';
  /** Zero unless the line counts (status paid). */
  tickets: number;
  revenue: number;
}

export interface ExpectedSales {
  /** Per (city, event_date), over lines that count; sorted by city, then date. */
  totals: CityDayTotal[];
  /** Every line the loader must write for the window (status paid, refunded or cancelled). */
  lines: ExpectedLine[];
}

function lineStatus(order: SbOrder, b: SbBasket): ExpectedLine['status'] {
  return order.deleted_at || b.deleted_at ? 'cancelled' : b.refunded_at ? 'refunded' : 'paid';
}

/** Ground truth from a list of orders: paid orders whose updated_at lies in [since, until] (Moscow days). */
export function salesTruth(orders: readonly SbOrder[], events: readonly SbEvent[], since: string, until: string): ExpectedSales {
  const fromMs = zonedDayStart(since, TZ);
  const toMs = zonedDayStart(addDays(until, 1), TZ);
  const showDay = new Map<number, { city: string; event_date: string }>();
  for (const e of events) for (const s of e.shows) showDay.set(s.id, { city: e.city, event_date: e.event_date });
  const lines: ExpectedLine[] = [];
  const counted: Array<{ city: string; event_date: string; tickets: number; cents: number }> = [];
  for (const o of orders) {
    if (!o.payed || o.updatedMs < fromMs || o.updatedMs >= toMs || o.payed_at === null) continue;
    for (const b of o.baskets) {
      if (b.badPrice !== undefined) continue; // quarantined by the loader
      const place = showDay.get(b.show_id)!;
      const status = lineStatus(o, b);
      const counts = status === 'paid';
      lines.push({ order_id: String(o.id), line_id: String(b.id), city: place.city, event_date: place.event_date, sold_at: new Date(Date.parse(o.payed_at)).toISOString().slice(0, 19).replace('T', ' '), status, tickets: counts ? b.quantity : 0, revenue: counts ? b.cents / 100 : 0 });
      if (counts) counted.push({ city: place.city, event_date: place.event_date, tickets: b.quantity, cents: b.cents });
    }
  }
  return { totals: totalsByCityAndDay(counted), lines };
}

/** What stg_qtickets_sales_raw FINAL must hold after loading [since, until] (Moscow days) from an unfaulted sandbox. */
export function expectedApiSales(seed: number, since: string, until: string, today: string = sandboxToday()): ExpectedSales {
  return salesTruth(qticketsOrders(seed, today), qticketsEvents(seed, today), since, until);
}

/**
 * Orders that the real world also sells through the Google Sheets export (the same QTickets order id):
 * paid, not cancelled, `hashSeed(seed, 'qt-sheets', id) % 5 === 0`. A Sheets sandbox can list these, so a
 * test can prove that the same order from Sheets and from the API is counted once.
 */
export function apiOrdersAlsoInSheets(seed: number, today: string = sandboxToday()): Array<{ order_id: string; lines: ExpectedLine[] }> {
  const all = expectedApiSales(seed, '2000-01-01', today, today).lines;
  const byOrder = new Map<string, ExpectedLine[]>();
  for (const l of all) byOrder.set(l.order_id, [...(byOrder.get(l.order_id) ?? []), l]);
  return [...byOrder.entries()]
    .filter(([id, lines]) => hashSeed(seed, 'qt-sheets', id) % 5 === 0 && lines.some((l) => l.status !== 'cancelled'))
    .map(([order_id, lines]) => ({ order_id, lines }));
}

// ---- serving ----------------------------------------------------------------------------------

function servedOrder(o: SbOrder): Record<string, unknown> {
  const baskets = o.baskets.map((b) => ({
    id: b.id,
    barcode: String(9_000_000_000_000 + b.id),
    show_id: b.show_id,
    seat_id: `CENTER_PARTERRE-${(b.id % 20) + 1};${(b.id % 30) + 1}`,
    seat_name: `Партер, ряд ${(b.id % 20) + 1}, место ${(b.id % 30) + 1}`,
    original_price: b.badPrice ?? b.cents / 100,
    discount_value: 0,
    price: b.badPrice ?? b.cents / 100,
    quantity: b.quantity,
    client_email: `client${o.id}@example.org`,
    created_at: b.created_at,
    updated_at: b.updated_at,
    deleted_at: b.deleted_at,
    refunded_at: b.refunded_at,
    refunded_amount: b.refunded_at ? b.cents / 100 : null,
  }));
  return {
    id: o.id,
    uniqid: `u${o.id.toString(36)}`,
    payed: o.payed,
    payed_at: o.payed_at,
    created_at: o.created_at,
    updated_at: o.updated_at,
    deleted_at: o.deleted_at,
    client_id: o.id % 977,
    client: { id: o.id % 977, email: `client${o.id}@example.org`, details: { name: 'Иван', surname: 'Петров' } },
    site: { id: 1, host: 'tickets.example.ru' },
    payment_type_id: 'bankcard',
    reserved: !o.payed,
    event_id: o.event_id,
    // The order's price as paid: it does not change when a basket is refunded or deleted later.
    price: o.baskets.reduce((s, b) => s + b.cents, 0) / 100,
    original_price: o.baskets.reduce((s, b) => s + b.cents, 0) / 100,
    currency_id: 'RUB',
    utm: [],
    baskets,
  };
}

function servedEvent(e: SbEvent, malformed: boolean): Record<string, unknown> {
  const shows: Array<Record<string, unknown>> = e.shows.map((s) => ({
    id: s.id,
    is_active: true,
    start_date: s.start_date,
    finish_date: mskIso(s.startMs + 2 * HOUR),
    open_date: mskIso(s.startMs - HOUR),
    sale_start_date: mskIso(s.startMs - 60 * DAY),
    sale_finish_date: s.start_date,
    prices: PRICE_LEVELS_CENTS.map((c, i) => ({ id: e.id * 100 + i, default_price: c / 100, color_theme: i })),
  }));
  if (malformed) shows.push({ id: e.id * 10 + 9, is_active: false, start_date: 'TBA', finish_date: null });
  return {
    id: e.id,
    name: e.name,
    is_active: e.deleted_at === null,
    scheme_id: 1,
    currency_id: 'RUB',
    place_name: e.place_name,
    place_address: `${CITY_NAMES[e.city] ?? e.city}, ул. Ленина, ${e.id % 50}`,
    site_url: `https://tickets.example.ru/event/${e.id}`,
    city_id: e.city_id,
    description: '',
    external_id: e.external_id,
    deleted_at: e.deleted_at,
    shows,
  };
}

interface WhereFilter {
  column: string;
  operator: string;
  value: unknown;
}

function comparable(v: unknown): number | string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return v;
  const s = String(v);
  if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(s)) {
    const t = Date.parse(s.replace(' ', 'T'));
    if (!Number.isNaN(t)) return t;
  }
  if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
  if (s === 'true' || s === 'false') return s === 'true' ? 1 : 0;
  return s;
}

function matches(item: Record<string, unknown>, f: WhereFilter): boolean {
  const have = comparable(item[f.column]);
  const op = f.operator.toLowerCase();
  if (op === 'null') return have === null;
  if (op === 'not null') return have !== null;
  if (op === 'in' || op === 'not in') {
    const list = Array.isArray(f.value) ? f.value.map(comparable) : [];
    return list.includes(have) === (op === 'in');
  }
  const want = comparable(f.value);
  if (have === null || want === null) return op === '!=' ? have !== want : false;
  switch (op) {
    case '=':
      return have === want;
    case '!=':
      return have !== want;
    case '<':
      return have < want;
    case '>':
      return have > want;
    case '<=':
      return have <= want;
    case '>=':
      return have >= want;
    default:
      return false;
  }
}

class HttpAnswer {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

const fail = (status: number, error: string, headers: Record<string, string> = {}) => new HttpAnswer(status, { error, status }, headers);

export interface QtSandboxCounters {
  requests: number;
  rateLimited: number;
  errors5xx: number;
  forbidden: number;
  ordersRequests: number;
  /** `where` filters received, as the server parsed them, per list request (for tests). */
  wheres: Array<{ path: string; from: 'query' | 'body' | 'none'; where: unknown }>;
}

export interface QtSandboxOptions extends SandboxOptions {
  /** The sandbox's "today" (Moscow); default the real one. Orders exist only before its start. */
  today?: string;
}

export interface QtSandbox extends RunningSandbox {
  counters: QtSandboxCounters;
  today: string;
  /** Refunds one basket now (after payment): its refunded_at and the order's updated_at move to `atMs`. */
  refundBasket(orderId: number, basketId: number, atMs?: number): void;
  /** Ground truth for [since, until] over the orders as served now (refunds made through the sandbox included). */
  expectedSales(since: string, until: string): ExpectedSales;
}

export async function startSandbox(opts: QtSandboxOptions): Promise<QtSandbox> {
  const seed = opts.seed;
  const faults = opts.faults;
  const today = opts.today ?? sandboxToday();
  const events = qticketsEvents(seed, today);
  // The cached world is shared between sandboxes: changes live in this map of replaced orders.
  const changed = new Map<number, SbOrder>();
  const extra = faults.has('malformed') ? malformedOrders(seed, today) : [];
  const currentOrders = () => [...qticketsOrders(seed, today).map((o) => changed.get(o.id) ?? o), ...extra];
  const counters: QtSandboxCounters = { requests: 0, rateLimited: 0, errors5xx: 0, forbidden: 0, ordersRequests: 0, wheres: [] };

  function listAnswer(items: Array<Record<string, unknown>>, params: Record<string, unknown>, path: string, from: 'query' | 'body' | 'none'): HttpAnswer {
    const where = params.where;
    counters.wheres.push({ path, from, where: where ?? null });
    let rows = items;
    if (where !== undefined && !faults.has('ignore_filters')) {
      if (!Array.isArray(where)) return fail(400, 'where must be an array');
      for (const raw of where) {
        if (!raw || typeof raw !== 'object' || typeof (raw as { column?: unknown }).column !== 'string') return fail(400, 'Bad where item');
        const f = raw as { column: string; operator?: string; value?: unknown };
        const filter: WhereFilter = { column: f.column, operator: f.operator ?? '=', value: f.value };
        rows = rows.filter((r) => matches(r, filter));
      }
    }
    const orderBy = params.orderBy;
    if (orderBy && typeof orderBy === 'object') {
      const [col, dir] = Object.entries(orderBy as Record<string, string>)[0] ?? ['id', 'asc'];
      const sign = String(dir).toLowerCase() === 'desc' ? -1 : 1;
      rows = [...rows].sort((a, b) => {
        const x = comparable(a[col]) ?? '';
        const y = comparable(b[col]) ?? '';
        return x < y ? -sign : x > y ? sign : 0;
      });
    }
    const page = Math.max(1, Number(params.page) || 1);
    const perPage = Math.min(PAGE_MAX, Math.max(1, Number(params.per_page) || PAGE_MAX));
    return new HttpAnswer(200, { data: rows.slice((page - 1) * perPage, page * perPage), paging: { perPage, currentPage: page, total: rows.length } });
  }

  async function route(req: http.IncomingMessage, url: URL): Promise<HttpAnswer> {
    const bodyText = await readBody(req);
    const auth = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!auth || auth[1] !== QT_SANDBOX_TOKEN) {
      counters.forbidden++;
      return fail(403, 'Wrong authorization');
    }
    if (req.method !== 'GET') return fail(405, 'Method not allowed');
    // Filters: a JSON body on GET (as documented) wins; otherwise query-string JSON.
    let params: Record<string, unknown> = {};
    let from: 'query' | 'body' | 'none' = 'none';
    if (bodyText.trim()) {
      try {
        params = JSON.parse(bodyText) as Record<string, unknown>;
        from = 'body';
      } catch {
        return fail(400, 'Invalid JSON body');
      }
    } else {
      for (const name of ['where', 'orderBy', 'page', 'per_page']) {
        const v = url.searchParams.get(name);
        if (v === null) continue;
        try {
          params[name] = name === 'where' || name === 'orderBy' ? JSON.parse(v) : v;
        } catch {
          return fail(400, `Invalid JSON in ${name}`);
        }
        if (name === 'where') from = 'query';
      }
    }
    const path = url.pathname.replace(/\/+$/, '');
    let m: RegExpExecArray | null;
    if (path === '/orders') {
      counters.ordersRequests++;
      return listAnswer(currentOrders().map(servedOrder), params, path, from);
    }
    if ((m = /^\/orders\/(\d+)$/.exec(path))) {
      const o = currentOrders().find((x) => x.id === Number(m![1]));
      return o ? new HttpAnswer(200, { data: servedOrder(o) }) : fail(404, 'Order not found');
    }
    if (path === '/events') return listAnswer(events.map((e) => servedEvent(e, faults.has('malformed'))), params, path, from);
    if ((m = /^\/events\/(\d+)$/.exec(path))) {
      const e = events.find((x) => x.id === Number(m![1]));
      return e ? new HttpAnswer(200, { data: servedEvent(e, faults.has('malformed')) }) : fail(404, 'Event not found');
    }
    if ((m = /^\/shows\/(\d+)\/seats$/.exec(path))) {
      const showId = Number(m[1]);
      const show = events.flatMap((e) => e.shows).find((s) => s.id === showId);
      if (!show) return fail(404, 'Show not found');
      // flat:true → a keyed object, not an array (documented).
      const seats: Record<string, unknown> = {};
      for (let i = 1; i <= 3; i++) {
        const id = `ADMISSION-${i}`;
        seats[id] = { id, name: `Танцпол ${i}`, admission: true, max_quantity: 500, free_quantity: 500 - ((showId * i) % 200), ordered_quantity: (showId * i) % 200, available: true, price: PRICE_LEVELS_CENTS[i - 1]! / 100, currency_id: 'RUB' };
      }
      return new HttpAnswer(200, { data: seats });
    }
    return fail(404, `No method ${path}`);
  }

  const handler: http.RequestListener = (req, res) => {
    void (async () => {
      const n = ++counters.requests;
      const url = new URL(req.url ?? '/', 'http://sandbox');
      if (faults.has('slow')) await delay(200);
      let answer: HttpAnswer;
      if (faults.has('rate_limit') && n % 3 === 0) {
        counters.rateLimited++;
        await readBody(req);
        answer = fail(429, 'Too Many Requests', { 'Retry-After': '1' });
      } else if (faults.has('5xx') && n % 4 === 2) {
        counters.errors5xx++;
        await readBody(req);
        answer = fail(503, 'Service Temporarily Unavailable');
      } else {
        answer = await route(req, url);
      }
      res.writeHead(answer.status, { 'Content-Type': 'application/json; charset=utf-8', ...answer.headers });
      res.end(JSON.stringify(answer.body));
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: String(err), status: 500 }));
    });
  };

  const server = await listen(handler, opts.port ?? 0);
  const cityMap = Object.fromEntries(Object.entries(QT_SANDBOX_CITY_IDS).map(([city, id]) => [String(id), city]));
  return {
    source: 'qtickets_api',
    url: server.url,
    env: { QTICKETS_API_URL: server.url, QTICKETS_API_TOKEN: QT_SANDBOX_TOKEN, QTICKETS_API_CITY_MAP: JSON.stringify(cityMap) },
    close: server.close,
    counters,
    today,
    refundBasket(orderId, basketId, atMs = Date.now()) {
      const current = currentOrders().find((o) => o.id === orderId);
      if (!current) throw new Error(`no order ${orderId}`);
      const at = mskIso(atMs);
      const baskets = current.baskets.map((b) => (b.id === basketId ? { ...b, refunded_at: at, updated_at: at } : b));
      if (!current.baskets.some((b) => b.id === basketId)) throw new Error(`order ${orderId} has no basket ${basketId}`);
      const updatedMs = Math.max(current.updatedMs, Math.floor(atMs / 1000) * 1000);
      changed.set(orderId, { ...current, baskets, updatedMs, updated_at: mskIso(updatedMs) });
    },
    expectedSales: (since, until) => salesTruth(currentOrders(), events, since, until),
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
