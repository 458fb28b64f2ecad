// Google Sheets cells -> warehouse rows. Pure functions: no I/O, no clock.
// Cells arrive as UNFORMATTED_VALUE (numbers, booleans, date serials) or, when someone typed them as
// text or a sheet is exported formatted, as display strings ("05.12.2026 19:00", "1 234,50 ₽").
import { currencyCode, parseDecimalText, parseMoney } from '../../src/marketing/money.js';
import { formatInZone, isDay, parseUtcDateTime, utcDateTime } from '../../src/runtime/dates.js';

export type Cell = string | number | boolean | null | undefined;
export type Entity = 'events' | 'inventory' | 'sales';

// ---- header-driven column mapping ----------------------------------------------------------------

interface FieldSpec {
  aliases: readonly string[];
  required: boolean;
}

/** Our field -> the header texts that name it in the sheet (Russian and English), first match wins. */
export const DEFAULT_COLUMNS: Readonly<Record<Entity, Readonly<Record<string, FieldSpec>>>> = {
  events: {
    event_id: { aliases: ['ID мероприятия', 'ID события', 'Event ID', 'event_id', 'ID'], required: true },
    event_name: { aliases: ['Название', 'Мероприятие', 'Название мероприятия', 'Event name', 'Event', 'Name'], required: false },
    city: { aliases: ['Город', 'City'], required: false },
    event_date: { aliases: ['Дата и время', 'Дата мероприятия', 'Дата проведения', 'Дата', 'Event date', 'Date'], required: true },
    venue: { aliases: ['Площадка', 'Место проведения', 'Venue'], required: false },
    capacity: { aliases: ['Вместимость', 'Capacity'], required: false },
  },
  inventory: {
    event_id: { aliases: ['ID мероприятия', 'ID события', 'Event ID', 'event_id', 'ID'], required: true },
    total_seats: { aliases: ['Всего мест', 'Всего', 'Total seats', 'Total', 'Capacity'], required: false },
    sold_seats: { aliases: ['Продано', 'Продано мест', 'Sold seats', 'Sold'], required: false },
    free_seats: { aliases: ['Свободно', 'Свободно мест', 'Осталось', 'Free seats', 'Free', 'Available'], required: false },
    updated_at: { aliases: ['Обновлено', 'Updated at', 'Updated'], required: false },
  },
  sales: {
    order_id: { aliases: ['ID заказа', 'Номер заказа', 'Заказ', 'Order ID', 'Order'], required: true },
    event_id: { aliases: ['ID мероприятия', 'ID события', 'Event ID', 'event_id'], required: false },
    event_name: { aliases: ['Мероприятие', 'Название мероприятия', 'Event name', 'Event'], required: false },
    city: { aliases: ['Город', 'City'], required: false },
    event_date: { aliases: ['Дата мероприятия', 'Event date'], required: false },
    sold_at: { aliases: ['Дата продажи', 'Дата оплаты', 'Оплачен', 'Sold at', 'Paid at', 'Sale date'], required: true },
    tickets: { aliases: ['Билетов', 'Кол-во билетов', 'Количество', 'Tickets', 'Qty'], required: true },
    revenue: { aliases: ['Сумма', 'Выручка', 'Revenue', 'Amount', 'Total'], required: true },
    currency: { aliases: ['Валюта', 'Currency'], required: false },
  },
};

/** QTICKETS_SHEETS_COLUMNS: per entity, field -> header text (or several); replaces that field's defaults. */
export type ColumnOverrides = Partial<Record<Entity, Record<string, string | string[]>>>;

/** Header text as compared: case, surrounding and repeated spaces, ё/е and Unicode forms do not matter. */
export function normalizeHeader(text: Cell): string {
  return cellText(text).normalize('NFC').toLowerCase().replace(/ё/g, 'е').replace(/[\s\u00a0\u202f]+/g, ' ');
}

export interface ColumnMap {
  /** field -> column index (0-based) within the range */
  index: Record<string, number>;
  /** field -> the header text found in the sheet (for quarantine reasons) */
  header: Record<string, string>;
  missingRequired: string[];
}

/** Finds each field's column by header text, never by position: moved or extra columns still load. */
export function resolveColumns(entity: Entity, headerRow: readonly Cell[], overrides: ColumnOverrides = {}): ColumnMap {
  const normalized = headerRow.map(normalizeHeader);
  const used = new Set<number>();
  const index: Record<string, number> = {};
  const header: Record<string, string> = {};
  const missingRequired: string[] = [];
  for (const [field, spec] of Object.entries(DEFAULT_COLUMNS[entity])) {
    const override = overrides[entity]?.[field];
    const aliases = override === undefined ? spec.aliases : Array.isArray(override) ? override : [override];
    let found = -1;
    for (const alias of aliases) {
      const want = normalizeHeader(alias);
      found = normalized.findIndex((h, i) => h === want && !used.has(i));
      if (found !== -1) break;
    }
    if (found === -1) {
      if (spec.required) missingRequired.push(`${field} (${aliases.map((a) => JSON.stringify(a)).join(' / ')})`);
      continue;
    }
    used.add(found);
    index[field] = found;
    header[field] = cellText(headerRow[found]);
  }
  return { index, header, missingRequired };
}

// ---- cells ---------------------------------------------------------------------------------------

export function cellText(cell: Cell): string {
  if (cell === null || cell === undefined) return '';
  return String(cell).trim();
}

export function isEmptyCell(cell: Cell): boolean {
  return cellText(cell) === '';
}

/** A row with no non-blank cell (the API sends [] or ["", ""] for blank rows between data). */
export function isEmptyRow(cells: readonly Cell[] | undefined): boolean {
  return !cells || cells.every(isEmptyCell);
}

/** An identifier: numeric cells come as JSON numbers (700123, never "700123.0"). */
export function idText(cell: Cell): string {
  if (typeof cell === 'number' && Number.isInteger(cell)) return String(cell);
  return cellText(cell);
}

/** Cities as the utm_content convention has them: trimmed, lowercased, inner spaces collapsed. */
export function normalizeCity(cell: Cell): string {
  return cellText(cell).normalize('NFC').toLowerCase().replace(/[\s\u00a0\u202f]+/g, ' ');
}

// ---- numbers and money ---------------------------------------------------------------------------

// Money parsing lives in one module for every loader (src/marketing/money.ts).
export { parseDecimalText, parseMoney };

/** A whole non-negative count (tickets, seats) from a number or a display string ("1 200", "2,0"). */
export function parseCount(cell: Cell): number | null {
  if (typeof cell === 'number') return Number.isInteger(cell) && cell >= 0 && cell <= 4_294_967_295 ? cell : null;
  if (typeof cell !== 'string') return null;
  const parsed = parseDecimalText(cell);
  if (!parsed || parsed.currency) return null;
  const value = Number(parsed.decimal);
  return Number.isInteger(value) && value >= 0 && value <= 4_294_967_295 ? value : null;
}

/** ISO code from a currency cell ("RUB", "руб.", "₽", "usd"); null when not recognisable. */
export function parseCurrency(cell: Cell): string | null {
  return currencyCode(cellText(cell));
}

// ---- dates and times -----------------------------------------------------------------------------

/** Days between the Sheets epoch 1899-12-30 and 1970-01-01. */
const SERIAL_EPOCH_DAYS = 25569;
const DAY_MS = 86_400_000;
const MIN_YEAR = 1970;
const MAX_YEAR = 2105; // DateTime('UTC') ends in 2106

/** A point in the sheet's wall-clock: a calendar day and, when the cell has one, a time of day. */
export interface WallClock {
  day: string;
  /** 'hh:mm:ss', or null for a date-only value */
  time: string | null;
  /** An explicit UTC offset in minutes (ISO strings with Z or ±hh:mm); the value is then an instant. */
  offsetMinutes?: number;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** A date serial (days since 1899-12-30, the fraction is the time of day) as wall-clock parts. */
export function serialToWallClock(serial: number): WallClock | null {
  if (!Number.isFinite(serial)) return null;
  // Round to the second: 19:00 is stored as 0.7916666…, which would otherwise become 18:59:59.
  const totalSeconds = Math.round((serial - SERIAL_EPOCH_DAYS) * 86_400);
  const ms = totalSeconds * 1000;
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) return null;
  const year = date.getUTCFullYear();
  if (year < MIN_YEAR || year > MAX_YEAR) return null;
  const day = date.toISOString().slice(0, 10);
  const secondsOfDay = ((totalSeconds % 86_400) + 86_400) % 86_400;
  const time = Number.isInteger(serial) ? null : `${pad(Math.floor(secondsOfDay / 3600))}:${pad(Math.floor((secondsOfDay % 3600) / 60))}:${pad(secondsOfDay % 60)}`;
  return { day, time };
}

/** The inverse, for the sandbox and tests: wall-clock day (+ time) -> serial. */
export function wallClockToSerial(day: string, time: string | null = null): number {
  const ms = Date.parse(`${day}T${time ?? '00:00:00'}Z`);
  return ms / DAY_MS + SERIAL_EPOCH_DAYS;
}

const RU_DATE = /^(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ ,T]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$/;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;

/** A display string ("05.12.2026", "05.12.2026 19:00", "2026-12-05", ISO with an offset) as wall-clock parts. */
export function parseDateText(text: string): WallClock | null {
  const s = text.trim();
  let y: number, mo: number, d: number, h: string | undefined, mi: string | undefined, se: string | undefined, zone: string | undefined;
  let m = RU_DATE.exec(s);
  if (m) {
    [d, mo, y] = [Number(m[1]), Number(m[2]), Number(m[3])];
    [h, mi, se] = [m[4], m[5], m[6]];
  } else if ((m = ISO_DATE.exec(s))) {
    [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
    [h, mi, se, zone] = [m[4], m[5], m[6], m[7]];
  } else {
    return null;
  }
  const day = `${pad(y, 4)}-${pad(mo)}-${pad(d)}`;
  if (!isDay(day) || y < MIN_YEAR || y > MAX_YEAR) return null;
  if (h === undefined) return { day, time: null };
  const [hh, mm, ss] = [Number(h), Number(mi), Number(se ?? 0)];
  if (hh > 23 || mm > 59 || ss > 59) return null;
  const out: WallClock = { day, time: `${pad(hh)}:${pad(mm)}:${pad(ss)}` };
  if (zone) {
    const z = zone.toUpperCase() === 'Z' ? [0, 0] : [Number(zone.slice(1, 3)), Number(zone.slice(-2))];
    out.offsetMinutes = (zone.startsWith('-') ? -1 : 1) * (z[0]! * 60 + z[1]!);
  }
  return out;
}

/** A cell (serial number or display string) as wall-clock parts; null when it is not a date. */
export function cellWallClock(cell: Cell): WallClock | null {
  if (typeof cell === 'number') return serialToWallClock(cell);
  if (typeof cell === 'string') return parseDateText(cell);
  return null;
}

/** The UTC instant (ms) of a wall-clock time in `timeZone` (two passes settle DST edges). */
export function wallClockToUtcMs(day: string, time: string, timeZone: string): number {
  const naive = Date.parse(`${day}T${time}Z`);
  const offsetAt = (at: number) => parseUtcDateTime(formatInZone(at, timeZone)) - Math.floor(at / 1000) * 1000;
  let guess = naive - offsetAt(naive);
  guess = naive - offsetAt(guess);
  return guess;
}

function instantMs(wc: WallClock, sheetTz: string): number {
  const time = wc.time ?? '00:00:00';
  if (wc.offsetMinutes !== undefined) return Date.parse(`${wc.day}T${time}Z`) - wc.offsetMinutes * 60_000;
  return wallClockToUtcMs(wc.day, time, sheetTz);
}

/** An instant for a DateTime('UTC') column ('YYYY-MM-DD hh:mm:ss'); a date-only value is midnight in the sheet's zone. */
export function toUtcDateTime(wc: WallClock, sheetTz: string): string | null {
  const ms = instantMs(wc, sheetTz);
  if (!Number.isFinite(ms) || ms < 0 || ms >= Date.UTC(MAX_YEAR + 1, 0, 1)) return null;
  return utcDateTime(ms);
}

/**
 * A day for a Date column: a date-only value is the calendar day as written; a value with a time is
 * an instant, and its day is the one the reporting zone (Moscow) sees.
 */
export function toReportingDay(wc: WallClock, sheetTz: string, reportingTz: string): string {
  if (wc.time === null && wc.offsetMinutes === undefined) return wc.day;
  return formatInZone(instantMs(wc, sheetTz), reportingTz).slice(0, 10);
}

// ---- rows ----------------------------------------------------------------------------------------

export interface SheetContext {
  /** The sheet (tab) name, for quarantine reasons. */
  sheet: string;
  /** The zone the sheet's wall-clock values are in. */
  sheetTz: string;
  reportingTz: string;
  /** Normalized sheet city -> the city name UTM tags use ("москва" -> "msk"); unmapped cities pass through. */
  cityMap?: Readonly<Record<string, string>>;
}

/** The city as ROMI joins it: normalized, then mapped to the UTM name when the map knows it. */
export function reportingCity(cell: Cell, map: Readonly<Record<string, string>> | undefined): string {
  const city = normalizeCity(cell);
  return map?.[city] ?? city;
}

export type RowResult<T> = { ok: true; value: T } | { ok: false; reason: string; column: string };

export interface EventRow {
  event_id: string;
  event_name: string;
  city: string;
  event_date: string;
  starts_at: string | null;
  venue: string;
  capacity: number | null;
  sheet_row: number;
}

export interface InventoryRow {
  event_id: string;
  total_seats: number | null;
  sold_seats: number | null;
  free_seats: number | null;
  updated_at: string | null;
  sheet_row: number;
}

/** A sale line before its position within the order is known. */
export interface SaleFields {
  order_id: string;
  event_id: string;
  event_name: string;
  city: string;
  event_date: string | null;
  sold_at: string;
  tickets: number;
  /** A JSON number: ClickHouse 18.16 reads Decimal from JSONEachRow only as a number. */
  revenue: number;
  currency: string;
  sheet_row: number;
}

export interface SaleRow extends SaleFields {
  line_id: string;
}

class CellError extends Error {
  constructor(
    readonly column: string,
    message: string,
  ) {
    super(message);
  }
}

/** Reads the mapped cells of one row; every failure names the sheet, the row and the column. */
class RowReader {
  constructor(
    private readonly cells: readonly Cell[],
    private readonly cols: ColumnMap,
    private readonly ctx: SheetContext,
  ) {}

  raw(field: string): Cell {
    const i = this.cols.index[field];
    return i === undefined ? undefined : this.cells[i];
  }

  fail(field: string, what: string): never {
    const header = this.cols.header[field] ?? field;
    throw new CellError(header, `column "${header}" (${field}): ${what}, got ${JSON.stringify(this.raw(field) ?? '')}`);
  }

  text(field: string): string {
    return cellText(this.raw(field));
  }

  id(field: string, required: boolean): string {
    const value = idText(this.raw(field));
    if (required && value === '') this.fail(field, 'empty');
    return value;
  }

  wallClock(field: string, required: boolean): WallClock | null {
    const cell = this.raw(field);
    if (isEmptyCell(cell)) {
      if (required) this.fail(field, 'empty');
      return null;
    }
    const wc = cellWallClock(cell);
    if (!wc) this.fail(field, 'not a date');
    return wc;
  }

  count(field: string, required: boolean): number | null {
    const cell = this.raw(field);
    if (isEmptyCell(cell)) {
      if (required) this.fail(field, 'empty');
      return null;
    }
    const value = parseCount(cell);
    if (value === null) this.fail(field, 'not a whole non-negative number');
    return value;
  }

  instant(field: string, required: boolean): string | null {
    const wc = this.wallClock(field, required);
    if (!wc) return null;
    const value = toUtcDateTime(wc, this.ctx.sheetTz);
    if (value === null) this.fail(field, 'a date outside 1970..2105');
    return value;
  }

  day(field: string, required: boolean): string | null {
    const wc = this.wallClock(field, required);
    return wc ? toReportingDay(wc, this.ctx.sheetTz, this.ctx.reportingTz) : null;
  }
}

function readRow<T>(cells: readonly Cell[], cols: ColumnMap, ctx: SheetContext, sheetRow: number, build: (r: RowReader) => T): RowResult<T> {
  try {
    return { ok: true, value: build(new RowReader(cells, cols, ctx)) };
  } catch (err) {
    if (err instanceof CellError) return { ok: false, column: err.column, reason: `${ctx.sheet} row ${sheetRow}, ${err.message}` };
    throw err;
  }
}

export function eventRow(cells: readonly Cell[], cols: ColumnMap, ctx: SheetContext, sheetRow: number): RowResult<EventRow> {
  return readRow(cells, cols, ctx, sheetRow, (r: RowReader) => {
    const when = r.wallClock('event_date', true)!;
    return {
      event_id: r.id('event_id', true),
      event_name: r.text('event_name'),
      city: reportingCity(r.raw('city'), ctx.cityMap),
      event_date: toReportingDay(when, ctx.sheetTz, ctx.reportingTz),
      starts_at: when.time === null ? null : toUtcDateTime(when, ctx.sheetTz),
      venue: r.text('venue'),
      capacity: r.count('capacity', false),
      sheet_row: sheetRow,
    };
  });
}

export function inventoryRow(cells: readonly Cell[], cols: ColumnMap, ctx: SheetContext, sheetRow: number): RowResult<InventoryRow> {
  return readRow(cells, cols, ctx, sheetRow, (r: RowReader) => {
    const total = r.count('total_seats', false);
    const sold = r.count('sold_seats', false);
    let free = r.count('free_seats', false);
    if (free === null && total !== null && sold !== null && total >= sold) free = total - sold;
    return { event_id: r.id('event_id', true), total_seats: total, sold_seats: sold, free_seats: free, updated_at: r.instant('updated_at', false), sheet_row: sheetRow };
  });
}

/** What a Sales row may borrow from the Events sheet when its own cells are blank. */
export type EventLookup = (eventId: string) => Pick<EventRow, 'event_name' | 'city' | 'event_date'> | undefined;

export function saleFields(cells: readonly Cell[], cols: ColumnMap, ctx: SheetContext, sheetRow: number, events: EventLookup = () => undefined): RowResult<SaleFields> {
  return readRow(cells, cols, ctx, sheetRow, (r: RowReader) => {
    const orderId = r.id('order_id', true);
    const eventId = r.id('event_id', false);
    const money = parseMoney(r.raw('revenue') ?? null);
    if (isEmptyCell(r.raw('revenue'))) r.fail('revenue', 'empty');
    if (!money) r.fail('revenue', 'not an amount of money');
    if (money.cents < 0) r.fail('revenue', 'negative revenue (refunds are not sales lines)');
    let currency = money.currency;
    if (!isEmptyCell(r.raw('currency'))) {
      const named = parseCurrency(r.raw('currency'));
      if (!named) r.fail('currency', 'not a currency code');
      if (currency && currency !== named) r.fail('currency', `does not match the amount's sign (${currency})`);
      currency = named;
    }
    const event = eventId ? events(eventId) : undefined;
    const city = reportingCity(r.raw('city'), ctx.cityMap);
    const eventName = r.text('event_name');
    return {
      order_id: orderId,
      event_id: eventId,
      event_name: eventName || event?.event_name || '',
      city: city || event?.city || '',
      event_date: r.day('event_date', false) ?? event?.event_date ?? null,
      sold_at: r.instant('sold_at', true)!,
      tickets: r.count('tickets', true)!,
      revenue: money.cents / 100,
      currency: currency ?? 'RUB',
      sheet_row: sheetRow,
    };
  });
}

/** The identity of a sale line's content, to recognise an exact duplicate row of the same order. */
export function saleContentKey(s: SaleFields): string {
  return JSON.stringify([s.order_id, s.event_id, s.event_name, s.city, s.event_date, s.sold_at, s.tickets, s.revenue, s.currency]);
}

/**
 * Line ids: order_id '#' position of the line within its order, counting the order's non-empty rows in
 * sheet order (a row that failed to parse keeps its place, so its neighbours keep their ids).
 */
export function lineId(orderId: string, position: number): string {
  return `${orderId}#${position}`;
}

/** The first row number of a range as the API echoes it ("Events!A1:Z1000", "'Продажи 2026'!B3:H"). */
export function rangeStartRow(range: string): number {
  const cells = range.includes('!') ? range.slice(range.lastIndexOf('!') + 1) : range;
  const m = /^\$?[A-Za-z]*\$?(\d+)/.exec(cells);
  return m ? Number(m[1]) : 1;
}

/** The sheet (tab) name of a range, unquoted. */
export function rangeSheet(range: string): string {
  const at = range.lastIndexOf('!');
  const name = at === -1 ? range : range.slice(0, at);
  return name.startsWith("'") && name.endsWith("'") ? name.slice(1, -1).replace(/''/g, "'") : name;
}
