// QTickets sales via Google Sheets: the Events, Inventory and Sales tabs of one spreadsheet, read whole
// on every run with one batchGet. Upstream surprises and how each is handled: BEHAVIOR.md next to this file.
import { isTimeZone } from '../../src/config/runtime.js';
import { z } from 'zod';
import { envBool, envJson, envUrl } from '../../src/config/env.js';
import { defineLoader, type LoaderContext } from '../../src/runtime/contract.js';
import { AdhouseError } from '../../src/runtime/errors.js';
import type { TableSink } from '../../src/runtime/sink.js';
import { createSheetsApi, readServiceAccount, type ValueRange } from './api.js';
import {
  DEFAULT_COLUMNS,
  eventRow,
  idText,
  inventoryRow,
  isEmptyRow,
  lineId,
  rangeSheet,
  rangeStartRow,
  resolveColumns,
  saleContentKey,
  saleFields,
  type Cell,
  type ColumnMap,
  type ColumnOverrides,
  type Entity,
  type EventRow,
  type InventoryRow,
  type RowResult,
  type SheetContext,
  normalizeCity,
} from './transform.js';

const ENTITIES = ['events', 'inventory', 'sales'] as const satisfies readonly Entity[];

const columnsSchema = z
  .partialRecord(z.enum(ENTITIES), z.record(z.string(), z.union([z.string().min(1), z.array(z.string().min(1)).min(1)])))
  .superRefine((value, ctx) => {
    for (const [entity, fields] of Object.entries(value)) {
      for (const field of Object.keys(fields ?? {})) {
        if (!(field in DEFAULT_COLUMNS[entity as Entity])) {
          ctx.addIssue({ code: 'custom', message: `unknown ${entity} field "${field}" (known: ${Object.keys(DEFAULT_COLUMNS[entity as Entity]).join(', ')})` });
        }
      }
    }
  });


const config = z.object({
  QTICKETS_SHEETS_API_URL: envUrl.default('https://sheets.googleapis.com'),
  /** The service-account key: inline JSON or a path to the .json file. */
  GSERVICE_JSON: z.string().transform((value, ctx) => {
    try {
      return readServiceAccount(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'expected a service-account key (inline JSON or a path to the .json file) with client_email and private_key' });
      return z.NEVER;
    }
  }),
  QTICKETS_SHEETS_SPREADSHEET_ID: z.string().regex(/^[A-Za-z0-9_-]+$/, { message: 'expected a spreadsheet id (the part of the sheet URL after /d/)' }),
  QTICKETS_SHEETS_EVENTS_RANGE: z.string().default('Events!A1:Z'),
  QTICKETS_SHEETS_INVENTORY_RANGE: z.string().default('Inventory!A1:Z'),
  QTICKETS_SHEETS_SALES_RANGE: z.string().default('Sales!A1:Z'),
  /** {"sales": {"order_id": "Номер заказа"}}: per entity, field -> header text(s); replaces that field's defaults. */
  QTICKETS_SHEETS_COLUMNS: envJson(columnsSchema).default({}),
  /** The spreadsheet's own time zone (File → Settings): wall-clock dates and times in the cells are in it. */
  /** JSON: sheet city names -> the names UTM tags use, e.g. {"москва":"msk"} (keys are lowercased). */
  QTICKETS_SHEETS_CITY_MAP: envJson(z.record(z.string(), z.string().min(1)).transform((m) => Object.fromEntries(Object.entries(m).map(([k, v]) => [normalizeCity(k), v.trim().toLowerCase()])))).default({}),
  QTICKETS_SHEETS_TZ: z.string().refine(isTimeZone, { message: 'expected an IANA time zone such as Europe/Moscow' }).default('Europe/Moscow'),
  /** Sign the Bearer token locally (JWT access with scope) instead of exchanging it at oauth2.googleapis.com; the sandbox sets it. */
  QTICKETS_SHEETS_SELF_SIGNED_JWT: envBool.default(false),
});

type Config = z.infer<typeof config>;
type Ctx = LoaderContext<Config>;

export const TABLES = {
  events: 'stg_qtickets_sheets_events',
  inventory: 'stg_qtickets_sheets_inventory',
  sales: 'stg_qtickets_sheets_sales',
  dim: 'dim_events',
} as const;

const SOURCE = 'qtickets_sheets';

export default defineLoader({
  name: SOURCE,
  description: 'QTickets via Google Sheets: events, inventory and sales lines',
  schedule: '*/15 * * * *',
  enabledByDefault: true,
  // The sheet is read whole on every run: the window selects nothing (it only labels the run record).
  lookbackDays: 1,
  includeToday: true,
  initialDays: 1,
  // Sheets allows 60 reads/min per user; one batchGet per run, retries paced at <= 1 rps.
  rateLimit: { requestsPerSecond: 1, concurrency: 1 },
  config,
  async run(ctx) {
    const c = ctx.config;
    const api = createSheetsApi({ apiUrl: c.QTICKETS_SHEETS_API_URL, account: c.GSERVICE_JSON, selfSignedJwt: c.QTICKETS_SHEETS_SELF_SIGNED_JWT, http: ctx.http });
    const requested = { events: c.QTICKETS_SHEETS_EVENTS_RANGE, inventory: c.QTICKETS_SHEETS_INVENTORY_RANGE, sales: c.QTICKETS_SHEETS_SALES_RANGE };
    ctx.progress.start('sheets', 4);
    const answers = await api.batchGet(c.QTICKETS_SHEETS_SPREADSHEET_ID, [requested.events, requested.inventory, requested.sales]);
    ctx.progress.tick();
    const grids = {
      events: splitGrid('events', requested.events, answers[0]!, c.QTICKETS_SHEETS_COLUMNS),
      inventory: splitGrid('inventory', requested.inventory, answers[1]!, c.QTICKETS_SHEETS_COLUMNS),
      sales: splitGrid('sales', requested.sales, answers[2]!, c.QTICKETS_SHEETS_COLUMNS),
    };
    // Missing headers stop the run before anything is written, so no table is tombstoned by a bad mapping.
    const problems = ENTITIES.flatMap((e) => grids[e].problem ?? []);
    if (problems.length > 0) throw new AdhouseError('config', `QTICKETS_SHEETS_COLUMNS / ranges: ${problems.join('; ')}`);

    // skipUnchanged without a dateColumn: the whole table is the scope of "unchanged" and of "vanished",
    // because every run reads the whole sheet (dim_events also holds other sources' keys; the deleteUnseen
    // match below keeps to ours).
    const sinks = {
      events: ctx.sink(TABLES.events, { skipUnchanged: { key: ['event_id'] } }),
      dim: ctx.sink(TABLES.dim, { skipUnchanged: { key: ['source', 'event_id', 'show_id'] } }),
      inventory: ctx.sink(TABLES.inventory, { skipUnchanged: { key: ['event_id'] } }),
      sales: ctx.sink(TABLES.sales, { skipUnchanged: { key: ['order_id', 'line_id'] } }),
    };

    const events = await loadEvents(ctx, grids.events, sinks.events, sinks.dim);
    ctx.progress.tick();
    const inventory = await loadInventory(ctx, grids.inventory, sinks.inventory);
    ctx.progress.tick();
    const sales = await loadSales(ctx, grids.sales, sinks.sales, (id) => events.byId.get(id), events.kept);
    ctx.progress.tick();
    ctx.progress.done();

    // The whole sheet has been read: a stored key this run neither wrote nor skipped has left the sheet.
    // Keys of rows that are in the sheet but failed to parse are kept (their last good version stays).
    const deleted = {
      events: await sinks.events.deleteUnseen((k) => !events.kept.has(k.event_id!)),
      dim: await sinks.dim.deleteUnseen((k) => k.source === SOURCE && k.show_id === '' && !events.kept.has(k.event_id!)),
      inventory: await sinks.inventory.deleteUnseen((k) => !inventory.kept.has(k.event_id!)),
      sales: await sinks.sales.deleteUnseen((k) => !sales.kept.has(`${k.order_id}\t${k.line_id}`)),
    };
    for (const sink of Object.values(sinks)) await sink.flush();
    ctx.log.info({ ...deleted, duplicates: sales.duplicates + events.duplicates + inventory.duplicates, empty: sales.empty + events.empty + inventory.empty }, `${SOURCE}: ${events.byId.size} events, ${sales.lines} sale lines`);
  },
});

// ---- sheets -> rows ------------------------------------------------------------------------------

interface Grid {
  entity: Entity;
  sheet: string;
  cols: ColumnMap;
  /** Data rows below the header with their 1-based sheet row numbers. */
  rows: Array<{ sheetRow: number; cells: Cell[] }>;
  /** Rows above the header (blank) are not data; counted nowhere. */
  problem?: string;
}

/** Header = the first non-blank row of the range; rows below it are data, numbered as in the sheet. */
function splitGrid(entity: Entity, requested: string, answer: ValueRange, overrides: ColumnOverrides): Grid {
  const sheet = rangeSheet(answer.range || requested);
  const start = rangeStartRow(answer.range || requested);
  const headerAt = answer.values.findIndex((r) => !isEmptyRow(r));
  const empty: ColumnMap = { index: {}, header: {}, missingRequired: [] };
  if (headerAt === -1) return { entity, sheet, cols: empty, rows: [], problem: `${entity} range ${requested} is empty (no header row)` };
  const cols = resolveColumns(entity, answer.values[headerAt]!, overrides);
  const rows = answer.values.slice(headerAt + 1).map((cells, i) => ({ sheetRow: start + headerAt + 1 + i, cells }));
  const problem = cols.missingRequired.length > 0 ? `${entity} sheet "${sheet}" has no column for ${cols.missingRequired.join(', ')}` : undefined;
  return { entity, sheet, cols, rows, problem };
}

function sheetContext(ctx: Ctx, grid: Grid): SheetContext {
  return { sheet: grid.sheet, sheetTz: ctx.config.QTICKETS_SHEETS_TZ, reportingTz: ctx.reportingTz, cityMap: ctx.config.QTICKETS_SHEETS_CITY_MAP };
}

/** The raw row for meta_quarantine: header text -> cell, plus cells beyond the header. */
function rawRow(grid: Grid, headerRow: Cell[] | undefined, sheetRow: number, cells: Cell[]): Record<string, unknown> {
  const named: Record<string, Cell> = {};
  cells.forEach((cell, i) => {
    named[String(headerRow?.[i] ?? '') || `#${i + 1}`] = cell;
  });
  return { sheet: grid.sheet, row: sheetRow, cells: named };
}

function headerCells(grid: Grid): Cell[] {
  const out: Cell[] = [];
  for (const [field, i] of Object.entries(grid.cols.index)) out[i] = grid.cols.header[field];
  return out;
}

async function quarantineRow(ctx: Ctx, grid: Grid, table: string, sheetRow: number, cells: Cell[], reason: string): Promise<void> {
  await ctx.quarantine.add({ table, reason, payload: rawRow(grid, headerCells(grid), sheetRow, cells), key: `${grid.sheet}!${sheetRow}` });
}

interface KeyedResult<T> {
  byId: Map<string, T>;
  /** Event ids present in the sheet whose row could not be loaded: their stored versions are kept. */
  kept: Set<string>;
  duplicates: number;
  empty: number;
}

/**
 * A tab keyed by event id (Events, Inventory): blank rows skipped, bad rows quarantined (their stored
 * version kept), a pasted-twice row counted once, a second row for the same id with other values
 * quarantined (the first is loaded). `write` stores each accepted row.
 */
async function loadKeyedRows<T extends { event_id: string; sheet_row: number }>(
  ctx: Ctx,
  grid: Grid,
  sink: TableSink,
  table: string,
  parse: (cells: Cell[], sheetRow: number) => RowResult<T>,
  write: (row: T) => Promise<void>,
): Promise<KeyedResult<T>> {
  const out: KeyedResult<T> = { byId: new Map(), kept: new Set(), duplicates: 0, empty: 0 };
  ctx.rowsRead(grid.rows.length);
  for (const { sheetRow, cells } of grid.rows) {
    if (isEmptyRow(cells)) {
      out.empty++;
      sink.skip();
      continue;
    }
    const result = parse(cells, sheetRow);
    if (!result.ok) {
      const id = idText(cells[grid.cols.index.event_id!]);
      if (id) out.kept.add(id);
      await quarantineRow(ctx, grid, table, sheetRow, cells, result.reason);
      continue;
    }
    const row = result.value;
    const first = out.byId.get(row.event_id);
    if (first) {
      if (sameExceptRow(first, row)) {
        out.duplicates++;
        sink.skip();
      } else {
        await quarantineRow(ctx, grid, table, sheetRow, cells, `${grid.sheet} row ${sheetRow}: event ${row.event_id} is also on row ${first.sheet_row} with different values; the first row is loaded`);
      }
      continue;
    }
    out.byId.set(row.event_id, row);
    await write(row);
  }
  return out;
}

function loadEvents(ctx: Ctx, grid: Grid, sink: TableSink, dimSink: TableSink): Promise<KeyedResult<EventRow>> {
  const sc = sheetContext(ctx, grid);
  return loadKeyedRows(ctx, grid, sink, TABLES.events, (cells, sheetRow) => eventRow(cells, grid.cols, sc, sheetRow), async (row) => {
    await sink.write({ ...row });
    // The same sheet row feeds dim_events too: read once per table it lands in.
    ctx.rowsRead(1);
    await dimSink.write({ source: SOURCE, event_id: row.event_id, show_id: '', event_name: row.event_name, city: row.city, event_date: row.event_date, venue: row.venue, capacity: row.capacity ?? 0 });
  });
}

function loadInventory(ctx: Ctx, grid: Grid, sink: TableSink): Promise<KeyedResult<InventoryRow>> {
  const sc = sheetContext(ctx, grid);
  return loadKeyedRows(ctx, grid, sink, TABLES.inventory, (cells, sheetRow) => inventoryRow(cells, grid.cols, sc, sheetRow), async (row) => {
    await sink.write({ ...row });
  });
}

async function loadSales(
  ctx: Ctx,
  grid: Grid,
  sink: TableSink,
  events: (id: string) => EventRow | undefined,
  quarantinedEvents: ReadonlySet<string>,
): Promise<{ kept: Set<string>; duplicates: number; empty: number; lines: number }> {
  const out = { kept: new Set<string>(), duplicates: 0, empty: 0, lines: 0 };
  const positions = new Map<string, number>();
  const contents = new Map<string, Set<string>>();
  const sc = sheetContext(ctx, grid);
  const nextLine = (orderId: string) => {
    const p = (positions.get(orderId) ?? 0) + 1;
    positions.set(orderId, p);
    return lineId(orderId, p);
  };
  ctx.rowsRead(grid.rows.length);
  for (const { sheetRow, cells } of grid.rows) {
    if (isEmptyRow(cells)) {
      out.empty++;
      sink.skip();
      continue;
    }
    // A line that takes its city or event date from an Events row that failed to parse this run would
    // come out without them (and leave ROMI): keep its last good version and say why instead.
    const eventId = idText(cells[grid.cols.index.event_id!]);
    const borrows = [grid.cols.index.city, grid.cols.index.event_date].some((i) => i === undefined || idText(cells[i]) === '');
    const result =
      eventId && borrows && quarantinedEvents.has(eventId) && !events(eventId)
        ? ({ ok: false, reason: `${grid.sheet} row ${sheetRow}: its event ${eventId} is quarantined on the Events sheet, so its city or event date is unknown` } as const)
        : saleFields(cells, grid.cols, sc, sheetRow, events);
    if (!result.ok) {
      // The bad row keeps its place in its order, so its neighbours keep their line ids, and the
      // stored version of its own line is not tombstoned while the row is still in the sheet.
      const orderId = idText(cells[grid.cols.index.order_id!]);
      if (orderId) out.kept.add(`${orderId}\t${nextLine(orderId)}`);
      await quarantineRow(ctx, grid, TABLES.sales, sheetRow, cells, result.reason);
      continue;
    }
    const fields = result.value;
    const content = saleContentKey(fields);
    let seen = contents.get(fields.order_id);
    if (!seen) contents.set(fields.order_id, (seen = new Set()));
    if (seen.has(content)) {
      // An exact copy of an earlier line of the same order (a pasted-twice row): counted once.
      out.duplicates++;
      sink.skip();
      continue;
    }
    seen.add(content);
    out.lines++;
    await sink.write({ ...fields, line_id: nextLine(fields.order_id) });
  }
  return out;
}

function sameExceptRow(a: { sheet_row: number }, b: { sheet_row: number }): boolean {
  return JSON.stringify({ ...a, sheet_row: 0 }) === JSON.stringify({ ...b, sheet_row: 0 });
}

