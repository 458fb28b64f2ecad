// A faithful fake of the Google Sheets API v4 values endpoints (behind googleapis' rootUrl) holding a
// QTickets export: Events, Inventory and Sales tabs with deterministic synthetic data from the seed.
// What it reproduces (shared/api/avito_sheets_misc.md §3 and the "Google Sheets fake" checklist):
// values.get and values:batchGet (repeated `ranges`, request order kept), percent-encoded ranges with
// quoted/Cyrillic sheet names, valueRenderOption / dateTimeRenderOption, date serials, ragged rows with
// trailing blanks dropped, no `values` key for an empty range, the normalised `range` echo, Google JSON
// errors (400 INVALID_ARGUMENT, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 NOT_FOUND, 429
// RESOURCE_EXHAUSTED, 500/503), the 60 reads/min/user quota, and self-signed service-account JWTs
// verified against a throwaway RSA key made at start. Faults by name: BEHAVIOR.md.
import { createPublicKey, generateKeyPairSync, verify, type KeyObject } from 'node:crypto';
import type http from 'node:http';
import { addDays, todayIn } from '../../src/runtime/dates.js';
import { parseCityEvent } from '../../src/marketing/utm.js';
import { hashSeed, listen, SANDBOX_EVENTS, seededRandom, type RunningSandbox, type SandboxOptions } from '../../src/runtime/sandbox.js';
import { wallClockToSerial, wallClockToUtcMs } from './transform.js';
import { utcDateTime } from '../../src/runtime/dates.js';

export const SHEETS_SANDBOX_FAULTS = ['rate_limit', '5xx', 'malformed', 'duplicated_rows', 'moved_columns', 'formatted', 'remove_sale', 'unshared'] as const;
const SHEET_TZ = 'Europe/Moscow';
export const SANDBOX_SPREADSHEET_ID = 'qtickets-sandbox-sheet';
/** A spreadsheet that exists but is not shared with the sandbox service account (403). */
export const SANDBOX_UNSHARED_SPREADSHEET_ID = 'qtickets-not-shared';
/** The Sales tab is also reachable under this Cyrillic name with a space (quoting and decoding tests). */
export const SANDBOX_CYRILLIC_SALES_SHEET = 'Продажи 2026';

// ---- synthetic world (pure functions of the seed and "today") ----------------------------------

export interface SbEvent {
  event_id: number;
  content: string;
  city: string;
  /** As typed in the sheet: case and spaces vary, the loader normalizes. */
  cityDisplay: string;
  name: string;
  date: string;
  time: string;
  venue: string;
  capacity: number;
}

export interface SbSaleLine {
  order_id: number;
  /** 1-based position within the order (the loader's line id is order_id#position). */
  position: number;
  event: SbEvent;
  soldDay: string;
  soldTime: string;
  tickets: number;
  revenueCents: number;
  currency: string;
  category: string;
}

export interface SheetsWorld {
  today: string;
  events: SbEvent[];
  /** In sheet order (by sale time). */
  lines: SbSaleLine[];
}

const VENUES = ['ДК Горбунова', 'Клуб «Космонавт»', 'Театр эстрады', 'Концертный зал «Октябрь»', 'Loft Hall'];
const CATEGORIES = ['Партер', 'Балкон', 'VIP', 'Танцпол'];
const pad = (n: number) => String(n).padStart(2, '0');

function displayCity(city: string, i: number): string {
  const title = city.split('_').map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('_');
  return [city.toUpperCase(), ` ${title} `, city, `${title}\u00a0`][i % 4]!;
}

export function sheetsWorld(seed: number, today: string): SheetsWorld {
  const events: SbEvent[] = [];
  const lines: SbSaleLine[] = [];
  SANDBOX_EVENTS.forEach((content, i) => {
    const rng = seededRandom(hashSeed(seed, 'qt-sheets-event', content));
    const { city, event_date } = parseCityEvent(content, today);
    const event: SbEvent = {
      event_id: 5001 + i,
      content,
      city,
      cityDisplay: displayCity(city, i),
      name: `Стендап-тур: ${city}`,
      date: event_date!,
      time: `${18 + Math.floor(rng() * 3)}:00:00`,
      venue: VENUES[Math.floor(rng() * VENUES.length)]!,
      capacity: (4 + Math.floor(rng() * 12)) * 100,
    };
    events.push(event);
    const nOrders = 8 + Math.floor(rng() * 12);
    for (let k = 0; k < nOrders; k++) {
      const daysBefore = 1 + Math.floor(rng() * 45);
      const minutes = 9 * 60 + Math.floor(rng() * 14 * 60);
      const r = rng();
      const nLines = r < 0.6 ? 1 : r < 0.9 ? 2 : 3;
      const orderLines: SbSaleLine[] = [];
      for (let p = 1; p <= nLines; p++) {
        const tickets = 1 + Math.floor(rng() * 4);
        const priceRub = (15 + Math.floor(rng() * 46)) * 100;
        const discounted = rng() < 0.25;
        // A 5% discount on odd totals leaves kopecks (…,50): money must stay exact.
        const revenueCents = discounted ? Math.round(tickets * priceRub * 95) + (tickets % 2 === 1 ? 50 : 0) : tickets * priceRub * 100;
        orderLines.push({
          order_id: 700000 + i * 1000 + k,
          position: p,
          event,
          soldDay: addDays(event.date, -daysBefore),
          soldTime: `${pad(Math.floor(minutes / 60))}:${pad(minutes % 60)}:00`,
          tickets,
          revenueCents,
          currency: 'RUB',
          category: CATEGORIES[Math.floor(rng() * CATEGORIES.length)]!,
        });
      }
      // Nothing is sold today or later: the sheet is an export of what has happened.
      if (orderLines[0]!.soldDay < today) lines.push(...orderLines);
    }
  });
  lines.sort((a, b) => (a.soldDay + a.soldTime).localeCompare(b.soldDay + b.soldTime) || a.order_id - b.order_id || a.position - b.position);
  return { today, events, lines };
}

/** The line the `remove_sale` fault deletes: the last line of a multi-line order (no other line id shifts). */
export function removedSaleLine(seed: number, today: string): { order_id: string; line_id: string } {
  const { lines } = sheetsWorld(seed, today);
  const multi = lines.filter((l) => l.position > 1);
  const pick = multi[Math.floor(multi.length / 2)]!;
  const last = lines.filter((l) => l.order_id === pick.order_id).reduce((a, b) => (b.position > a.position ? b : a));
  return { order_id: String(last.order_id), line_id: `${last.order_id}#${last.position}` };
}

export interface ExpectedLine {
  order_id: string;
  line_id: string;
  event_id: string;
  city: string;
  event_date: string;
  sold_at: string;
  tickets: number;
  revenue: number;
}

export interface ExpectedSales {
  lines: ExpectedLine[];
  /** Per (city, event_date), sorted: what stg_qtickets_sheets_sales FINAL WHERE _deleted = 0 must sum to. */
  byCityDate: Array<{ city: string; event_date: string; tickets: number; revenue: number }>;
  tickets: number;
  revenue: number;
}

/** Ground truth of the valid sale lines (faults other than `remove_sale` never change it). */
export function expectedSheetSales(seed: number, opts: { today: string; removeSale?: boolean }): ExpectedSales {
  const world = sheetsWorld(seed, opts.today);
  const removed = opts.removeSale ? removedSaleLine(seed, opts.today).line_id : null;
  const lines = world.lines
    .map((l) => ({
      order_id: String(l.order_id),
      line_id: `${l.order_id}#${l.position}`,
      event_id: String(l.event.event_id),
      city: l.event.city,
      event_date: l.event.date,
      sold_at: utcDateTime(wallClockToUtcMs(l.soldDay, l.soldTime, SHEET_TZ)),
      tickets: l.tickets,
      revenue: l.revenueCents / 100,
      cents: l.revenueCents,
    }))
    .filter((l) => l.line_id !== removed);
  const groups = new Map<string, { city: string; event_date: string; tickets: number; cents: number }>();
  for (const l of lines) {
    const k = `${l.city}|${l.event_date}`;
    const g = groups.get(k) ?? { city: l.city, event_date: l.event_date, tickets: 0, cents: 0 };
    g.tickets += l.tickets;
    g.cents += l.cents;
    groups.set(k, g);
  }
  const byCityDate = [...groups.values()]
    .sort((a, b) => a.city.localeCompare(b.city) || a.event_date.localeCompare(b.event_date))
    .map((g) => ({ city: g.city, event_date: g.event_date, tickets: g.tickets, revenue: g.cents / 100 }));
  const cents = lines.reduce((s, l) => s + l.cents, 0);
  return { lines: lines.map(({ cents: _c, ...rest }) => rest), byCityDate, tickets: lines.reduce((s, l) => s + l.tickets, 0), revenue: cents / 100 };
}

/** What `malformed` adds on top of the valid rows: rows the loader must quarantine, and blank rows it skips. */
export const MALFORMED_EXPECTED = {
  quarantined: { stg_qtickets_sheets_sales: 5, stg_qtickets_sheets_events: 1, stg_qtickets_sheets_inventory: 1 },
  emptyRows: 2,
} as const;

// ---- the sheet as typed cells --------------------------------------------------------------------

export type SbCell =
  | { t: 'text'; v: string }
  | { t: 'num'; v: number }
  | { t: 'money'; cents: number }
  | { t: 'date'; day: string }
  | { t: 'datetime'; day: string; time: string }
  | null;

const text = (v: string): SbCell => ({ t: 'text', v });
const num = (v: number): SbCell => ({ t: 'num', v });

function buildSheets(seed: number, today: string, faults: ReadonlySet<string>): Map<string, SbCell[][]> {
  const world = sheetsWorld(seed, today);
  const removed = faults.has('remove_sale') ? removedSaleLine(seed, today).line_id : null;

  const events: SbCell[][] = [[text('ID мероприятия'), text('Название'), text('Город'), text('Дата и время'), text('Площадка'), text('Вместимость')]];
  for (const e of world.events) events.push([num(e.event_id), text(e.name), text(e.cityDisplay), { t: 'datetime', day: e.date, time: e.time }, text(e.venue), num(e.capacity)]);

  const sold = new Map<number, number>();
  for (const l of world.lines) sold.set(l.event.event_id, (sold.get(l.event.event_id) ?? 0) + l.tickets);
  const inventory: SbCell[][] = [[text('ID мероприятия'), text('Всего мест'), text('Продано'), text('Свободно'), text('Обновлено')]];
  for (const e of world.events) {
    const s = sold.get(e.event_id) ?? 0;
    inventory.push([num(e.event_id), num(e.capacity), num(s), num(e.capacity - s), { t: 'datetime', day: today, time: '06:00:00' }]);
  }

  const sales: SbCell[][] = [[text('ID заказа'), text('ID мероприятия'), text('Мероприятие'), text('Город'), text('Дата мероприятия'), text('Дата продажи'), text('Категория'), text('Билетов'), text('Сумма'), text('Валюта')]];
  world.lines.forEach((l, i) => {
    if (`${l.order_id}#${l.position}` === removed) return;
    const row: SbCell[] = [
      num(l.order_id),
      num(l.event.event_id),
      text(l.event.name),
      text(l.event.cityDisplay),
      { t: 'date', day: l.event.date },
      { t: 'datetime', day: l.soldDay, time: l.soldTime },
      text(l.category),
      num(l.tickets),
      { t: 'money', cents: l.revenueCents },
      text(l.currency),
    ];
    // Some lines leave city and event date blank: the loader takes them from the Events tab.
    if (i % 9 === 4) row[3] = row[4] = null;
    if (faults.has('malformed') && i % 10 === 3) {
      // Typed as text, but well-formed: must be parsed to the same values.
      row[5] = text(`${l.soldDay.slice(8, 10)}.${l.soldDay.slice(5, 7)}.${l.soldDay.slice(0, 4)} ${l.soldTime.slice(0, 5)}`);
      row[8] = text(formatMoney(l.revenueCents));
      row[4] = row[4] && text(l.event.date);
    }
    sales.push(row);
    if (faults.has('duplicated_rows') && i % 7 === 2) sales.push([...row]);
  });

  if (faults.has('duplicated_rows')) events.splice(2, 0, [...events[1]!]);
  if (faults.has('malformed')) {
    const e = world.events[0]!;
    const line = world.lines[0]!;
    const bad = (order: string, patch: Record<number, SbCell>): SbCell[] => {
      const row: SbCell[] = [text(order), num(e.event_id), text(e.name), text(e.cityDisplay), { t: 'date', day: e.date }, { t: 'datetime', day: line.soldDay, time: '12:00:00' }, text('Партер'), num(1), { t: 'money', cents: 150000 }, text('RUB')];
      for (const [i, cell] of Object.entries(patch)) row[Number(i)] = cell;
      return row;
    };
    const at = Math.min(5, sales.length);
    sales.splice(
      at,
      0,
      bad('BAD-1', { 4: text('32.13.2026') }),
      [],
      bad('BAD-2', { 8: text('abc') }),
      bad('BAD-3', { 7: text('-1') }),
      [text(''), text(' ')],
      bad('BAD-4', { 5: text('вчера') }),
      bad('', { 2: text('строка без номера заказа') }),
    );
    events.push([text('BAD-EV-1'), text('Несуществующее шоу'), text('msk'), { t: 'datetime', day: e.date, time: '19:00:00' }, text('Нигде'), text('много')]);
    inventory.push([text('BAD-EV-1'), num(100), text('n/a'), num(10)]);
  }
  if (faults.has('moved_columns')) {
    for (const grid of [events, inventory, sales]) {
      const width = grid[0]!.length;
      // Reverse the columns and put an extra one in front: only header text may locate a column.
      const order = [...Array(width).keys()].reverse();
      grid.forEach((row, r) => {
        const moved = order.map((c) => row[c] ?? null);
        const blank = row.every((c) => c === null || (c.t === 'text' && c.v.trim() === ''));
        grid[r] = r === 0 ? [text('Комментарий'), ...moved] : row.length === 0 ? [] : [text(r % 5 === 0 && !blank ? 'проверено' : ''), ...moved];
      });
    }
  }
  return new Map([
    ['Events', events],
    ['Inventory', inventory],
    ['Sales', sales],
    [SANDBOX_CYRILLIC_SALES_SHEET, sales],
  ]);
}

function groupThousands(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, '\u00a0');
}

/** "1 234,50 ₽" as a Russian-locale sheet shows money (no-break space groups thousands). */
export function formatMoney(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}${groupThousands(Math.floor(abs / 100))},${pad(abs % 100)} ₽`;
}

function formatDay(day: string): string {
  return `${day.slice(8, 10)}.${day.slice(5, 7)}.${day.slice(0, 4)}`;
}

type Render = 'UNFORMATTED_VALUE' | 'FORMATTED_VALUE' | 'FORMULA';
type Json = string | number | boolean;

function renderCell(cell: SbCell, render: Render, dateTimeFormatted: boolean): Json {
  if (cell === null) return '';
  const formatted = render === 'FORMATTED_VALUE';
  switch (cell.t) {
    case 'text':
      return cell.v;
    case 'num':
      return formatted ? String(cell.v) : cell.v;
    case 'money':
      return formatted ? formatMoney(cell.cents) : cell.cents / 100;
    case 'date':
      // dateTimeRenderOption is ignored for FORMATTED_VALUE (it is formatted anyway).
      return formatted || dateTimeFormatted ? formatDay(cell.day) : wallClockToSerial(cell.day);
    case 'datetime':
      return formatted || dateTimeFormatted ? `${formatDay(cell.day)} ${cell.time}` : wallClockToSerial(cell.day, cell.time);
  }
}

// ---- A1 ranges -----------------------------------------------------------------------------------

interface A1 {
  sheet: string;
  c1: number;
  r1: number;
  c2: number;
  r2: number | null;
}

function colIndex(letters: string): number {
  let n = 0;
  for (const ch of letters) n = n * 26 + (ch.charCodeAt(0) - 64);
  return n - 1;
}

function colLetters(index: number): string {
  let s = '';
  for (let n = index + 1; n > 0; n = Math.floor((n - 1) / 26)) s = String.fromCharCode(65 + ((n - 1) % 26)) + s;
  return s;
}

function quoteSheet(name: string): string {
  return /^[A-Za-z0-9_]+$/.test(name) ? name : `'${name.replace(/'/g, "''")}'`;
}

/** A1 notation: `Sheet!A1:Z`, `'Лист 1'!B2:H10`, `Sheet` (whole sheet), `A1:Z` (first sheet). */
export function parseA1(range: string, sheets: readonly string[]): A1 | null {
  let sheetPart: string | null = null;
  let cells = range;
  const m = /^(?:'((?:[^']|'')+)'|([^'!]+))(?:!(.*))?$/.exec(range);
  if (m && (m[3] !== undefined || m[1] !== undefined || sheets.includes(m[2]!))) {
    sheetPart = m[1] !== undefined ? m[1].replace(/''/g, "'") : m[2]!;
    cells = m[3] ?? '';
  }
  const sheet = sheetPart ?? sheets[0]!;
  if (!sheets.includes(sheet)) return null;
  if (cells === '') return { sheet, c1: 0, r1: 1, c2: 25, r2: null };
  const c = /^([A-Z]+)?(\d+)?(?::([A-Z]+)?(\d+)?)?$/.exec(cells.toUpperCase());
  if (!c || (!c[1] && !c[2])) return null;
  const a1: A1 = { sheet, c1: c[1] ? colIndex(c[1]) : 0, r1: c[2] ? Number(c[2]) : 1, c2: c[3] ? colIndex(c[3]) : c[1] && !cells.includes(':') ? colIndex(c[1]) : 25, r2: c[4] ? Number(c[4]) : !cells.includes(':') && c[2] ? Number(c[2]) : null };
  if (a1.r1 < 1 || a1.c2 < a1.c1 || (a1.r2 !== null && a1.r2 < a1.r1)) return null;
  return a1;
}

// ---- the server ----------------------------------------------------------------------------------

export interface SheetsSandboxCounters {
  requests: number;
  reads: number;
  rateLimited: number;
  errors5xx: number;
  unauthorized: number;
  forbidden: number;
}

export interface QticketsSheetsSandbox extends RunningSandbox {
  spreadsheetId: string;
  /** The day (Moscow) the synthetic world is built for: event years and "sold before today". */
  today: string;
  /** Live fault set: tests switch faults (e.g. `remove_sale`) on and off between runs. */
  faults: Set<string>;
  counters: SheetsSandboxCounters;
  /** Edit a tab between runs: the function gets the typed grid (header first) and returns the new one. */
  editSheet(name: 'Events' | 'Inventory' | 'Sales', edit: (rows: SbCell[][]) => SbCell[][]): void;
}

export interface SheetsSandboxOptions extends SandboxOptions {
  /** 'YYYY-MM-DD' in Moscow; defaults to the real today. */
  today?: string;
  /** Reads per user per quota window before 429 (the real quota: 60 per minute). */
  readsPerMinute?: number;
}

class Answer {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

function googleError(code: number, status: string, message: string, headers: Record<string, string> = {}): Answer {
  return new Answer(code, { error: { code, message, status } }, headers);
}

function b64urlJson(part: string): Record<string, unknown> | null {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

export async function startSandbox(opts: SheetsSandboxOptions): Promise<QticketsSheetsSandbox> {
  const seed = opts.seed;
  const today = opts.today ?? todayIn(SHEET_TZ);
  const faults = new Set(opts.faults);
  const readsPerMinute = opts.readsPerMinute ?? 60;
  const counters: SheetsSandboxCounters = { requests: 0, reads: 0, rateLimited: 0, errors5xx: 0, unauthorized: 0, forbidden: 0 };
  const edits: Array<{ name: string; edit: (rows: SbCell[][]) => SbCell[][] }> = [];
  const readTimes: number[] = [];

  // A throwaway service account: the loader signs its own JWTs with the private key, we verify them.
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const clientEmail = `qtickets-loader@sandbox-${seed}.iam.gserviceaccount.com`;
  const privateKeyId = `sandbox-key-${seed}`;
  const verifyKey: KeyObject = createPublicKey(publicKey.export({ type: 'spki', format: 'pem' }));

  function sheetsNow(): Map<string, SbCell[][]> {
    const built = buildSheets(seed, today, faults);
    for (const { name, edit } of edits) {
      const next = edit(built.get(name)!.map((r) => [...r]));
      built.set(name, next);
      if (name === 'Sales') built.set(SANDBOX_CYRILLIC_SALES_SHEET, next);
    }
    return built;
  }

  function authenticate(req: http.IncomingMessage, url: URL): Answer | null {
    if (url.searchParams.get('key')) return null;
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    const unauthenticated = () => {
      counters.unauthorized++;
      return googleError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.');
    };
    if (!m) return unauthenticated();
    const parts = m[1]!.split('.');
    if (parts.length !== 3) return unauthenticated();
    const header = b64urlJson(parts[0]!);
    const payload = b64urlJson(parts[1]!);
    const ok = header?.alg === 'RS256' && verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), verifyKey, Buffer.from(parts[2]!, 'base64url'));
    const scope = String(payload?.scope ?? '');
    if (!ok || payload?.iss !== clientEmail || Number(payload?.exp ?? 0) * 1000 < Date.now() || !/spreadsheets|drive/.test(scope)) return unauthenticated();
    return null;
  }

  function readRange(grids: Map<string, SbCell[][]>, raw: string, render: Render, dtFormatted: boolean): Answer | { range: string; majorDimension: 'ROWS'; values?: Json[][] } {
    const a1 = parseA1(raw, [...grids.keys()]);
    if (!a1) return googleError(400, 'INVALID_ARGUMENT', `Unable to parse range: ${raw}`);
    const grid = grids.get(a1.sheet)!;
    const lastRow = a1.r2 ?? Math.max(grid.length, 1000);
    const values: Json[][] = [];
    for (let r = a1.r1; r <= Math.min(lastRow, grid.length); r++) {
      const row = (grid[r - 1] ?? []).slice(a1.c1, a1.c2 + 1).map((cell) => renderCell(cell, render, dtFormatted));
      while (row.length > 0 && row[row.length - 1] === '') row.pop(); // trailing blank cells are left out
      values.push(row);
    }
    while (values.length > 0 && values[values.length - 1]!.length === 0) values.pop(); // and trailing blank rows
    const range = `${quoteSheet(a1.sheet)}!${colLetters(a1.c1)}${a1.r1}:${colLetters(a1.c2)}${lastRow}`;
    return values.length === 0 ? { range, majorDimension: 'ROWS' } : { range, majorDimension: 'ROWS', values };
  }

  function route(req: http.IncomingMessage, url: URL): Answer {
    const segments = url.pathname.split('/').map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
    // ['', 'v4', 'spreadsheets', id, 'values:batchGet'] or ['', 'v4', 'spreadsheets', id, 'values', range]
    if (segments[1] !== 'v4' || segments[2] !== 'spreadsheets' || !segments[3]) return googleError(404, 'NOT_FOUND', `Method not found: ${url.pathname}`);
    if (req.method !== 'GET') return googleError(405, 'METHOD_NOT_ALLOWED', 'Only GET is served by this sandbox');
    const denied = authenticate(req, url);
    if (denied) return denied;
    const id = segments[3];
    if (id === SANDBOX_UNSHARED_SPREADSHEET_ID || (id === SANDBOX_SPREADSHEET_ID && faults.has('unshared'))) {
      counters.forbidden++;
      return googleError(403, 'PERMISSION_DENIED', 'The caller does not have permission');
    }
    if (id !== SANDBOX_SPREADSHEET_ID) return googleError(404, 'NOT_FOUND', 'Requested entity was not found.');

    // Quota: reads per minute per user, and the `rate_limit` fault (2 of every 3 reads refused).
    const now = Date.now();
    while (readTimes.length > 0 && readTimes[0]! <= now - 60_000) readTimes.shift();
    counters.reads++;
    if (readTimes.length >= readsPerMinute || (faults.has('rate_limit') && counters.reads % 3 !== 0)) {
      counters.rateLimited++;
      return googleError(
        429,
        'RESOURCE_EXHAUSTED',
        "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user' of service 'sheets.googleapis.com' for consumer 'project_number:000000000000'.",
      );
    }
    readTimes.push(now);

    const q = url.searchParams;
    const render = (q.get('valueRenderOption') ?? 'FORMATTED_VALUE') as Render;
    if (!['UNFORMATTED_VALUE', 'FORMATTED_VALUE', 'FORMULA'].includes(render)) return googleError(400, 'INVALID_ARGUMENT', `Invalid value at 'value_render_option' (${render})`);
    const dtOption = q.get('dateTimeRenderOption') ?? 'SERIAL_NUMBER';
    if (!['SERIAL_NUMBER', 'FORMATTED_STRING'].includes(dtOption)) return googleError(400, 'INVALID_ARGUMENT', `Invalid value at 'date_time_render_option' (${dtOption})`);
    const effective: Render = faults.has('formatted') ? 'FORMATTED_VALUE' : render;
    const dtFormatted = dtOption === 'FORMATTED_STRING';
    const grids = sheetsNow();

    if (segments[4] === 'values:batchGet' && segments.length === 5) {
      const ranges = q.getAll('ranges');
      if (ranges.length === 0) return googleError(400, 'INVALID_ARGUMENT', 'At least one range is required');
      const valueRanges = [];
      for (const r of ranges) {
        const vr = readRange(grids, r, effective, dtFormatted);
        if (vr instanceof Answer) return vr;
        valueRanges.push(vr);
      }
      return new Answer(200, { spreadsheetId: id, valueRanges });
    }
    if (segments[4] === 'values' && segments.length === 6) {
      const vr = readRange(grids, segments[5]!, effective, dtFormatted);
      return vr instanceof Answer ? vr : new Answer(200, vr);
    }
    return googleError(404, 'NOT_FOUND', `Method not found: ${url.pathname}`);
  }

  const handler: http.RequestListener = (req, res) => {
    const n = ++counters.requests;
    const url = new URL(req.url ?? '/', 'http://sandbox');
    let answer: Answer;
    if (faults.has('5xx') && n % 2 === 1) {
      counters.errors5xx++;
      answer = n % 4 === 1 ? googleError(500, 'INTERNAL', 'Internal error encountered.') : googleError(503, 'UNAVAILABLE', 'The service is currently unavailable.');
    } else {
      try {
        answer = route(req, url);
      } catch (err) {
        answer = googleError(500, 'INTERNAL', String(err));
      }
    }
    res.writeHead(answer.status, { 'Content-Type': 'application/json; charset=UTF-8', ...answer.headers });
    res.end(JSON.stringify(answer.body));
  };

  const server = await listen(handler, opts.port ?? 0);
  const serviceAccount = {
    type: 'service_account',
    project_id: `sandbox-${seed}`,
    private_key_id: privateKeyId,
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    client_email: clientEmail,
    client_id: '100000000000000000000',
    token_uri: `${server.url}/token`,
  };
  return {
    source: 'qtickets_sheets',
    url: server.url,
    env: {
      QTICKETS_SHEETS_API_URL: server.url,
      GSERVICE_JSON: JSON.stringify(serviceAccount),
      QTICKETS_SHEETS_SPREADSHEET_ID: SANDBOX_SPREADSHEET_ID,
      QTICKETS_SHEETS_SELF_SIGNED_JWT: 'true',
      QTICKETS_SHEETS_TZ: SHEET_TZ,
    },
    close: server.close,
    spreadsheetId: SANDBOX_SPREADSHEET_ID,
    today,
    faults,
    counters,
    editSheet(name, edit) {
      edits.push({ name, edit });
    },
  };
}
