// QTickets REST payloads -> warehouse rows. Pure functions: no I/O, no clock.
import type { SalesRawRow } from '../../src/marketing/sales-row.js';
import { parseMoneyCents } from '../../src/marketing/money.js';
import { parseCityEvent } from '../../src/marketing/utm.js';
import { formatInZone } from '../../src/runtime/dates.js';
import { basketSchema, eventSchema, orderSchema, showSchema, validate, type QtEvent } from './api.js';

export type Row = Record<string, unknown>;
export const SOURCE = 'qtickets_api';

export interface Rejected {
  reason: string;
  key: string;
  payload: unknown;
}

/** What a sales line needs to know about its show. */
export interface ShowInfo {
  event_id: string;
  show_id: string;
  event_name: string;
  city: string;
  /** The show's start day in the reporting time zone; null when the start is unknown. */
  event_date: string | null;
  venue: string;
}

export interface EventInfo {
  event_id: string;
  event_name: string;
  /** The city of the event's first dated show (an event plays in one place). */
  city: string;
}

// ---- money and time -------------------------------------------------------------------------

// One money parser for every loader: src/marketing/money.ts.
export { parseMoneyCents };

/** ISO 8601 with an offset or Z ("2019-07-30T12:50:52+03:00") -> epoch ms; null when unparseable. */
export function parseInstant(value: string | null | undefined): number | null {
  if (typeof value !== 'string') return null;
  const v = value.trim();
  // Without an offset QTickets means Moscow time; say so explicitly instead of trusting the local zone.
  const withZone = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(v) ? `${v.replace(' ', 'T')}+03:00` : v;
  if (!/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(withZone)) return null;
  const t = Date.parse(withZone.replace(' ', 'T'));
  return Number.isNaN(t) ? null : t;
}

export function utcText(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/** The calendar day of an instant in `timeZone`. */
export function dayIn(ms: number, timeZone: string): string {
  return formatInZone(ms, timeZone).slice(0, 10);
}

/** An instant as ISO 8601 with the zone's offset written with a colon ("+03:00"): the compact form is ignored upstream. */
export function isoWithOffset(ms: number, timeZone: string): string {
  const local = formatInZone(ms, timeZone);
  const offsetMin = Math.round((Date.parse(`${local.replace(' ', 'T')}Z`) - Math.floor(ms / 1000) * 1000) / 60_000);
  const sign = offsetMin < 0 ? '-' : '+';
  const abs = Math.abs(offsetMin);
  return `${local.replace(' ', 'T')}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

// ---- events and shows -----------------------------------------------------------------------

/**
 * The event's city, in the utm_content vocabulary (msk, spb, nizhny_novgorod) so sales join ad spend:
 * 1. QTICKETS_API_CITY_MAP[city_id] (QTickets gives only a numeric city id);
 * 2. a `<city>_<dd>_<mm>` tag in external_id, or as one word of the event name;
 * 3. '' (the smoke checks and ROMI show such sales as unattributed).
 */
export function eventCity(event: Pick<QtEvent, 'city_id' | 'external_id' | 'name'>, cityMap: Readonly<Record<string, string>>, anyDay: string): string {
  if (event.city_id !== null && event.city_id !== undefined) {
    const mapped = cityMap[String(event.city_id)];
    if (mapped && mapped.trim()) return mapped.trim().toLowerCase();
  }
  const candidates = [event.external_id === null || event.external_id === undefined ? '' : String(event.external_id), ...String(event.name ?? '').split(/\s+/)];
  for (const c of candidates) {
    const tag = c.trim().replace(/^[^\p{L}\d_]+|[^\p{L}\d_]+$/gu, '');
    if (!tag) continue;
    const parsed = parseCityEvent(tag, anyDay);
    if (parsed.city) return parsed.city;
  }
  return '';
}

export interface EventResult {
  /** dim_events rows, one per show. */
  rows: Row[];
  shows: ShowInfo[];
  event: EventInfo | null;
  rejected: Rejected[];
  /** Records read: one per show, or one for an event that has no show or fails validation. */
  read: number;
  /** An event without shows: read, nothing to write. */
  skipped: number;
}

/** One upstream event -> a dim_events row per show (event_date = the show's start day in `timeZone`). */
export function eventToRows(raw: unknown, cityMap: Readonly<Record<string, string>>, timeZone: string): EventResult {
  const out: EventResult = { rows: [], shows: [], event: null, rejected: [], read: 0, skipped: 0 };
  const ev = validate(eventSchema, raw, 'event');
  if (!ev.ok) {
    out.read = 1;
    out.rejected.push({ reason: ev.reason, key: `event:${rawId(raw)}`, payload: raw });
    return out;
  }
  const event = ev.value;
  const eventId = String(event.id);
  const starts: Array<{ show: ReturnType<typeof showSchema.parse>; start: number | null }> = [];
  for (const rawShow of event.shows) {
    out.read++;
    const s = validate(showSchema, rawShow, 'show');
    if (!s.ok) {
      out.rejected.push({ reason: `event ${eventId}: ${s.reason}`, key: `show:${eventId}|${rawId(rawShow)}`, payload: rawShow });
      continue;
    }
    const start = parseInstant(s.value.start_date);
    if (start === null) {
      out.rejected.push({ reason: `event ${eventId} show ${s.value.id}: start_date is not a date: ${JSON.stringify(s.value.start_date ?? null)}`, key: `show:${eventId}|${s.value.id}`, payload: rawShow });
      continue;
    }
    starts.push({ show: s.value, start });
  }
  const firstDay = starts.length > 0 ? dayIn(starts[0]!.start!, timeZone) : '2000-01-01';
  const city = eventCity(event, cityMap, firstDay);
  out.event = { event_id: eventId, event_name: event.name.trim(), city };
  if (event.shows.length === 0) {
    out.read = 1;
    out.skipped = 1;
    return out;
  }
  for (const { show, start } of starts) {
    const info: ShowInfo = {
      event_id: eventId,
      show_id: String(show.id),
      event_name: event.name.trim(),
      city,
      event_date: dayIn(start!, timeZone),
      venue: (event.place_name ?? '').trim(),
    };
    out.shows.push(info);
    // A deleted event stays: its shows date the sales already made (history), and a view can still join them.
    out.rows.push({ source: SOURCE, event_id: info.event_id, show_id: info.show_id, event_name: info.event_name, city: info.city, event_date: info.event_date, venue: info.venue, capacity: 0, _deleted: 0 });
  }
  return out;
}

// ---- orders ---------------------------------------------------------------------------------

export type SalesRow = SalesRawRow;

export interface OrderContext {
  /** The run window as instants: orders whose updated_at is in [fromMs, toMs) are this run's. */
  fromMs: number;
  toMs: number;
  shows: ReadonlyMap<string, ShowInfo>;
  events: ReadonlyMap<string, EventInfo>;
}

export interface OrderResult {
  rows: SalesRow[];
  rejected: Rejected[];
  /** Lines of orders outside the window or not paid: read, deliberately not written. */
  skipped: number;
  /** rows + rejected + skipped: one per basket, or one for an order that is malformed or has no basket. */
  read: number;
  /** event_ids the order names that the context does not know (the caller may fetch them and retry). */
  unknownEvent: string | null;
}

/**
 * One order -> one row per basket. Revenue rule (BEHAVIOR.md): a line counts (status 'paid', its
 * price and quantity) only when the order is not deleted and the basket is neither deleted nor
 * refunded; otherwise it is written with status 'cancelled' / 'refunded' and tickets = revenue = 0,
 * so every sum is right without a status filter and the newest state of the line wins in the view.
 */
export function orderToRows(raw: unknown, ctx: OrderContext): OrderResult {
  const out: OrderResult = { rows: [], rejected: [], skipped: 0, read: 0, unknownEvent: null };
  const o = validate(orderSchema, raw, 'order');
  if (!o.ok) {
    out.read = 1;
    out.rejected.push({ reason: o.reason, key: `order:${rawId(raw)}`, payload: raw });
    return out;
  }
  const order = o.value;
  const orderId = String(order.id);
  const lines = Math.max(1, order.baskets.length);
  const updated = parseInstant(order.updated_at) ?? parseInstant(order.payed_at);
  // The server's where= is not trusted (BEHAVIOR.md): the window and `payed` are checked here again.
  if (updated === null || updated < ctx.fromMs || updated >= ctx.toMs || !order.payed) {
    if (updated === null && order.payed) {
      out.read = 1;
      out.rejected.push({ reason: `order ${orderId}: neither updated_at nor payed_at is a date`, key: `order:${orderId}`, payload: raw });
      return out;
    }
    out.read = lines;
    out.skipped = lines;
    return out;
  }
  const paidAt = parseInstant(order.payed_at);
  if (paidAt === null) {
    out.read = 1;
    out.rejected.push({ reason: `order ${orderId}: paid order without a valid payed_at: ${JSON.stringify(order.payed_at ?? null)}`, key: `order:${orderId}`, payload: raw });
    return out;
  }
  if (order.baskets.length === 0) {
    out.read = 1;
    out.rejected.push({ reason: `order ${orderId}: paid order without baskets`, key: `order:${orderId}`, payload: raw });
    return out;
  }
  const eventId = String(order.event_id);
  const event = ctx.events.get(eventId);
  if (!event) out.unknownEvent = eventId;
  const currency = (order.currency_id ?? '').trim().toUpperCase() || 'RUB';
  const orderCancelled = Boolean(order.deleted_at);
  for (const rawBasket of order.baskets) {
    out.read++;
    const b = validate(basketSchema, rawBasket, 'basket');
    if (!b.ok) {
      out.rejected.push({ reason: `order ${orderId}: ${b.reason}`, key: `${orderId}|${rawId(rawBasket)}`, payload: rawBasket });
      continue;
    }
    const basket = b.value;
    const cents = parseMoneyCents(basket.price);
    if (cents === null || cents < 0) {
      out.rejected.push({ reason: `order ${orderId} basket ${basket.id}: price is not a non-negative amount: ${JSON.stringify(basket.price)}`, key: `${orderId}|${basket.id}`, payload: rawBasket });
      continue;
    }
    const show = ctx.shows.get(String(basket.show_id));
    const status: SalesRow['status'] = orderCancelled || basket.deleted_at ? 'cancelled' : basket.refunded_at ? 'refunded' : 'paid';
    const counts = status === 'paid';
    out.rows.push({
      source: SOURCE,
      order_id: orderId,
      line_id: String(basket.id),
      event_id: eventId,
      show_id: String(basket.show_id),
      event_name: show?.event_name ?? event?.event_name ?? '',
      city: show?.city ?? event?.city ?? '',
      event_date: show?.event_date ?? null,
      sold_at: utcText(paidAt),
      tickets: counts ? basket.quantity : 0,
      revenue: counts ? cents / 100 : 0,
      currency,
      status,
      src_msg_id: '',
      _deleted: 0,
    });
  }
  return out;
}

function rawId(raw: unknown): string {
  const id = raw && typeof raw === 'object' ? (raw as { id?: unknown }).id : undefined;
  return id === undefined || id === null ? (JSON.stringify(raw)?.slice(0, 200) ?? 'unknown') : String(id);
}
