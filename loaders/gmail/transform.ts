// A report table (text cells) -> stg_qtickets_sales_raw rows. Pure functions: no I/O, no clock.
// Columns are found by their header names (Russian or English), never by position.
import type { SalesRawRow } from '../../src/marketing/sales-row.js';
import { formatInZone, zonedDayStart } from '../../src/runtime/dates.js';
import type { TextTable } from './report.js';

export const SOURCE = 'gmail';

export type Field = 'order_id' | 'event_name' | 'city' | 'event_date' | 'sold_at' | 'tickets' | 'revenue' | 'currency';

/** Header names per field, compared after `normalizeHeader`. */
export const HEADER_NAMES: Readonly<Record<Field, readonly string[]>> = {
  order_id: ['номер заказа', '№ заказа', 'n заказа', 'заказ', 'заказ №', 'id заказа', 'order id', 'order', 'order no', 'order number', 'order_id', 'order #'],
  event_name: ['мероприятие', 'событие', 'название мероприятия', 'концерт', 'event', 'event name', 'event_name'],
  city: ['город', 'city'],
  event_date: ['дата мероприятия', 'дата события', 'дата проведения', 'дата концерта', 'дата сеанса', 'event date', 'show date', 'event_date'],
  sold_at: ['дата оплаты', 'оплачен', 'оплачено', 'дата продажи', 'время оплаты', 'дата и время оплаты', 'paid at', 'sold at', 'payment date', 'paid', 'sold_at', 'paid_at'],
  tickets: ['билетов', 'кол-во билетов', 'количество билетов', 'количество', 'кол-во', 'билеты', 'tickets', 'quantity', 'qty'],
  revenue: ['сумма', 'выручка', 'сумма заказа', 'итого', 'оплачено руб', 'sum', 'revenue', 'amount', 'total'],
  currency: ['валюта', 'currency'],
};

/** Without these a table is not a sales report. */
export const REQUIRED: readonly Field[] = ['order_id', 'sold_at', 'tickets', 'revenue'];

/** 'Сумма, руб.' / 'Сумма (₽)' / ' Order ID: ' -> 'сумма' / 'order id'. */
export function normalizeHeader(text: string): string {
  return text
    .toLowerCase()
    .replace(/ё/g, 'е')
    .replace(/\(.*?\)/g, ' ')
    .replace(/,\s*(руб\.?|rub|₽|шт\.?|pcs)\s*$/u, '')
    .replace(/[₽:]/g, ' ')
    .replace(/[\s\u00a0]+/g, ' ')
    .trim();
}

export interface HeaderMap {
  columns: Partial<Record<Field, number>>;
  missing: Field[];
}

export function mapHeader(cells: readonly string[]): HeaderMap {
  const columns: Partial<Record<Field, number>> = {};
  cells.forEach((cell, i) => {
    const name = normalizeHeader(cell);
    for (const field of Object.keys(HEADER_NAMES) as Field[]) {
      if (columns[field] === undefined && HEADER_NAMES[field].includes(name)) {
        columns[field] = i;
        break;
      }
    }
  });
  return { columns, missing: REQUIRED.filter((f) => columns[f] === undefined) };
}

/** The header row: the first of the first 10 rows that names every required column (title lines come before it). */
export function findHeader(table: TextTable): { index: number; map: HeaderMap } | null {
  for (let i = 0; i < Math.min(10, table.rows.length); i++) {
    const map = mapHeader(table.rows[i]!.cells);
    if (map.missing.length === 0) return { index: i, map };
  }
  return null;
}

// ---- values ---------------------------------------------------------------------------------

/** '1 234,50 ₽', '2490.5', '1\u00a0500' -> kopecks; null when not an amount. */
export function parseMoneyCents(text: string): number | null {
  const v = text.replace(/[\s\u00a0\u202f]/g, '').replace(/(₽|руб\.?|р\.|rub)$/iu, '');
  const m = /^(-?)(\d+)(?:[.,](\d{1,2}))?$/.exec(v);
  if (!m) return null;
  const cents = Number(m[2]) * 100 + Number((m[3] ?? '').padEnd(2, '0'));
  return m[1] === '-' ? -cents : cents;
}

/** A whole number of tickets (≥ 0); null otherwise. */
export function parseCount(text: string): number | null {
  const v = text.replace(/[\s\u00a0]/g, '');
  if (!/^\d{1,6}$/.test(v)) return null;
  return Number(v);
}

interface WallClock {
  day: string;
  time: string;
}

/** 'DD.MM.YYYY[ HH:MM[:SS]]' or 'YYYY-MM-DD[ HH:MM[:SS]]' (also 'T') -> a checked calendar day and time. */
export function parseWallClock(text: string): WallClock | null {
  const v = text.trim();
  let m = /^(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T,]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$/.exec(v);
  let y: string, mo: string, d: string, hh: string | undefined, mi: string | undefined, ss: string | undefined;
  if (m) [, d, mo, y, hh, mi, ss] = m as unknown as [string, string, string, string, string?, string?, string?];
  else {
    m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$/.exec(v);
    if (!m) return null;
    [, y, mo, d, hh, mi, ss] = m as unknown as [string, string, string, string, string?, string?, string?];
  }
  const day = `${y}-${mo.padStart(2, '0')}-${d.padStart(2, '0')}`;
  const t = Date.parse(`${day}T00:00:00Z`);
  if (Number.isNaN(t) || new Date(t).toISOString().slice(0, 10) !== day) return null;
  const h = Number(hh ?? 0);
  const min = Number(mi ?? 0);
  const s = Number(ss ?? 0);
  if (h > 23 || min > 59 || s > 59) return null;
  return { day, time: `${String(h).padStart(2, '0')}:${String(min).padStart(2, '0')}:${String(s).padStart(2, '0')}` };
}

/** Wall-clock text in `timeZone` -> 'YYYY-MM-DD hh:mm:ss' UTC; null when unparseable. */
export function wallClockToUtc(text: string, timeZone: string): string | null {
  const w = parseWallClock(text);
  if (!w) return null;
  const [h, m, s] = w.time.split(':').map(Number) as [number, number, number];
  const ms = zonedDayStart(w.day, timeZone) + ((h * 60 + m) * 60 + s) * 1000;
  // Check the round trip: a DST gap would move the clock.
  if (formatInZone(ms, timeZone) !== `${w.day} ${w.time}`) return null;
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

// ---- rows -----------------------------------------------------------------------------------

/** Gmail reports list paid orders only. */
export type SalesRow = SalesRawRow & { status: 'paid' };

export interface Rejected {
  reason: string;
  key: string;
  payload: unknown;
}

export interface ReportContext {
  messageId: string;
  /** The attachment's file name, or 'html body' for a table in the message text. */
  attachment: string;
  timeZone: string;
  /** Report city name (lowercased) -> utm_content city code (GMAIL_CITY_MAP). */
  cityMap: Readonly<Record<string, string>>;
}

export interface ReportResult {
  rows: SalesRow[];
  rejected: Rejected[];
  /** Totals lines ("Итого"): read, deliberately not written. */
  skipped: number;
  /** rows + rejected + skipped: every data row below the header. */
  read: number;
  /** Why the table is not a sales report (no header row naming the required columns); null when it is. */
  notAReport: string | null;
}

const TOTALS = /^(итого|всего|total|grand total)(?![\p{L}\d])/iu;

/** The city in the utm_content vocabulary: GMAIL_CITY_MAP first, else the text lowercased and trimmed. */
export function normalizeCity(text: string, cityMap: Readonly<Record<string, string>>): string {
  const v = text.replace(/[\s\u00a0]+/g, ' ').trim().toLowerCase();
  const mapped = cityMap[v] ?? cityMap[v.replace(/ё/g, 'е')];
  return (mapped ?? v).trim().toLowerCase();
}

/**
 * One report table -> sales rows. line_id = the row's position among the rows of the same order in this
 * report (1, 2, …; a malformed row keeps its position, so a corrected re-send keeps every key). The same
 * report sent twice gives the same (order_id, line_id) keys, which ReplacingMergeTree collapses.
 */
export function reportToRows(table: TextTable, ctx: ReportContext): ReportResult {
  const out: ReportResult = { rows: [], rejected: [], skipped: 0, read: 0, notAReport: null };
  const header = findHeader(table);
  if (!header) {
    const first = table.rows[0]?.cells ?? [];
    out.notAReport = `no header row names ${REQUIRED.join(', ')} (first row: ${JSON.stringify(first.slice(0, 12))})`;
    return out;
  }
  const col = header.map.columns;
  const cell = (cells: readonly string[], f: Field): string => (col[f] === undefined ? '' : (cells[col[f]!] ?? '').trim());
  const positions = new Map<string, number>();
  for (const { line, cells } of table.rows.slice(header.index + 1)) {
    out.read++;
    const orderId = cell(cells, 'order_id').replace(/^№\s*/, '');
    const where = `message ${ctx.messageId}, ${ctx.attachment}, line ${line}`;
    const reject = (reason: string, key: string) => out.rejected.push({ reason: `${where}: ${reason}`, key, payload: { message_id: ctx.messageId, attachment: ctx.attachment, line, cells } });
    if (TOTALS.test(orderId) || (orderId === '' && cells.slice(0, 3).some((c) => TOTALS.test(c)))) {
      out.skipped++;
      continue;
    }
    if (!/^\d{1,20}$/.test(orderId)) {
      reject(`order id is not a number: ${JSON.stringify(orderId)}`, `${ctx.messageId}|${ctx.attachment}|line ${line}`);
      continue;
    }
    const position = (positions.get(orderId) ?? 0) + 1;
    positions.set(orderId, position);
    const key = `${orderId}|${position}`;
    const soldText = cell(cells, 'sold_at');
    const soldAt = wallClockToUtc(soldText, ctx.timeZone);
    if (soldAt === null) {
      reject(`paid-at is not a date and time: ${JSON.stringify(soldText)}`, key);
      continue;
    }
    const ticketsText = cell(cells, 'tickets');
    const tickets = parseCount(ticketsText);
    if (tickets === null) {
      reject(`tickets is not a whole number ≥ 0: ${JSON.stringify(ticketsText)}`, key);
      continue;
    }
    const revenueText = cell(cells, 'revenue');
    const cents = parseMoneyCents(revenueText);
    if (cents === null || cents < 0) {
      reject(`sum is not a non-negative amount: ${JSON.stringify(revenueText)}`, key);
      continue;
    }
    const eventDateText = cell(cells, 'event_date');
    let eventDate: string | null = null;
    if (eventDateText !== '') {
      const w = parseWallClock(eventDateText);
      if (!w) {
        reject(`event date is not a date: ${JSON.stringify(eventDateText)}`, key);
        continue;
      }
      eventDate = w.day;
    }
    const currencyText = cell(cells, 'currency').toUpperCase().replace(/^(РУБ\.?|Р\.|₽|RUR)$/u, 'RUB');
    const currency = currencyText === '' ? 'RUB' : currencyText;
    if (!/^[A-Z]{3}$/.test(currency)) {
      reject(`currency is not a 3-letter code: ${JSON.stringify(cell(cells, 'currency'))}`, key);
      continue;
    }
    out.rows.push({
      source: SOURCE,
      order_id: orderId,
      line_id: String(position),
      event_id: '',
      show_id: '',
      event_name: cell(cells, 'event_name').replace(/\s+/g, ' '),
      city: normalizeCity(cell(cells, 'city'), ctx.cityMap),
      event_date: eventDate,
      sold_at: soldAt,
      tickets,
      revenue: cents / 100,
      currency,
      status: 'paid',
      src_msg_id: ctx.messageId,
      _deleted: 0,
    });
  }
  return out;
}
