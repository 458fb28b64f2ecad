// End to end: the Google Sheets sandbox -> googleapis -> the qtickets_sheets loader -> a real ClickHouse;
// per (city, event date) totals compared with the sandbox's ground truth.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import qticketsSheets from '../loaders/qtickets_sheets/index.js';
import {
  expectedSheetSales,
  MALFORMED_EXPECTED,
  removedSaleLine,
  SANDBOX_CYRILLIC_SALES_SHEET,
  SANDBOX_UNSHARED_SPREADSHEET_ID,
  sheetsWorld,
  startSandbox,
  type QticketsSheetsSandbox,
} from '../loaders/qtickets_sheets/sandbox.js';
import { runLoader } from '../src/runtime/run-loader.js';
import { expectBalanced } from './support/run-assertions.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

const SEED = 5150;

interface CityDate {
  city: string;
  event_date: string;
  tickets: number;
  revenue: number;
}

async function salesByCityDate(wh: Warehouse): Promise<CityDate[]> {
  const rows = await wh.query<{ city: string; event_date: string; tickets: string; revenue: string }>(
    `SELECT city, toString(event_date) AS event_date, sum(tickets) AS tickets, toString(sum(revenue)) AS revenue
     FROM stg_qtickets_sheets_sales FINAL WHERE _deleted = 0 GROUP BY city, event_date ORDER BY city, event_date`,
  );
  return rows.map((r) => ({ city: r.city, event_date: r.event_date, tickets: Number(r.tickets), revenue: Number(r.revenue) }));
}

async function count(wh: Warehouse, sql: string): Promise<number> {
  const [r] = await wh.query<{ n: string }>(sql);
  return Number(r!.n);
}

async function withSandbox(faults: string[], fn: (sb: QticketsSheetsSandbox, wh: Warehouse) => Promise<void>): Promise<void> {
  const sb = await startSandbox({ seed: SEED, faults: new Set(faults) });
  const wh = await freshWarehouse();
  try {
    await fn(sb, wh);
  } finally {
    await sb.close();
    await wh.drop();
  }
}

describe('qtickets_sheets load into ClickHouse', () => {
  let wh: Warehouse;
  let sandbox: QticketsSheetsSandbox;
  let truth: ReturnType<typeof expectedSheetSales>;

  beforeAll(async () => {
    wh = await freshWarehouse();
    sandbox = await startSandbox({ seed: SEED, faults: new Set() });
    truth = expectedSheetSales(SEED, { today: sandbox.today });
  });
  afterAll(async () => {
    await sandbox?.close();
    await wh?.drop();
  });

  it('loads events, inventory and sales lines that match the ground truth', async () => {
    expect(truth.lines.length).toBeGreaterThan(50);
    const s = await runLoader(qticketsSheets, { env: { ...wh.env, ...sandbox.env } });
    expectBalanced(s);
    expect(s.rowsQuarantined).toBe(0);
    expect(await salesByCityDate(wh)).toEqual(truth.byCityDate);
    expect(await count(wh, `SELECT count() AS n FROM stg_qtickets_sheets_sales FINAL WHERE _deleted = 0`)).toBe(truth.lines.length);
    // Line ids are order_id#position, and the instants are the sheet's Moscow wall-clock in UTC.
    const sample = truth.lines[7]!;
    const [row] = await wh.query<{ line_id: string; sold_at: string; event_id: string; city: string }>(
      `SELECT line_id, toString(sold_at) AS sold_at, event_id, city FROM stg_qtickets_sheets_sales FINAL WHERE order_id = '${sample.order_id}' AND line_id = '${sample.line_id}'`,
    );
    expect(row).toEqual({ line_id: sample.line_id, sold_at: sample.sold_at, event_id: sample.event_id, city: sample.city });
    // Events: every SANDBOX_EVENTS entry, in stg and in dim_events (source qtickets_sheets, show_id '').
    const world = sheetsWorld(SEED, sandbox.today);
    const dim = await wh.query<{ event_id: string; city: string; event_date: string; capacity: string }>(
      `SELECT event_id, city, toString(event_date) AS event_date, toString(capacity) AS capacity FROM dim_events FINAL
       WHERE source = 'qtickets_sheets' AND show_id = '' AND _deleted = 0 ORDER BY event_id`,
    );
    expect(dim).toEqual(world.events.map((e) => ({ event_id: String(e.event_id), city: e.city, event_date: e.date, capacity: String(e.capacity) })));
    expect(await count(wh, `SELECT count() AS n FROM stg_qtickets_sheets_events FINAL WHERE _deleted = 0`)).toBe(world.events.length);
    const sold = await count(wh, `SELECT sum(sold_seats) AS n FROM stg_qtickets_sheets_inventory FINAL WHERE _deleted = 0`);
    expect(sold).toBe(truth.tickets);
  });

  it('a re-run without changes writes nothing: every row is skipped and counted', async () => {
    const again = await runLoader(qticketsSheets, { env: { ...wh.env, ...sandbox.env } });
    expectBalanced(again);
    expect(again.rowsWritten).toBe(0);
    expect(again.rowsDeleted).toBe(0);
    expect(again.rowsSkipped).toBe(again.rowsRead);
    expect(again.rowsRead).toBeGreaterThan(truth.lines.length);
    // The window selects nothing for a sheet: an explicit one changes nothing either.
    const explicit = await runLoader(qticketsSheets, { env: { ...wh.env, ...sandbox.env }, since: '2020-01-01', until: '2020-01-07' });
    expectBalanced(explicit);
    expect(explicit.rowsWritten + explicit.rowsDeleted).toBe(0);
  });

  it('remove_sale: the vanished line is written again with _deleted = 1 and leaves the totals', async () => {
    const gone = removedSaleLine(SEED, sandbox.today);
    sandbox.faults.add('remove_sale');
    try {
      const s = await runLoader(qticketsSheets, { env: { ...wh.env, ...sandbox.env } });
      expectBalanced(s);
      expect(s.rowsDeleted).toBe(1);
      const [row] = await wh.query<{ d: number }>(`SELECT _deleted AS d FROM stg_qtickets_sheets_sales FINAL WHERE order_id = '${gone.order_id}' AND line_id = '${gone.line_id}'`);
      expect(Number(row!.d)).toBe(1);
      expect(await salesByCityDate(wh)).toEqual(expectedSheetSales(SEED, { today: sandbox.today, removeSale: true }).byCityDate);
      // Still gone on the next run: nothing written, the tombstone is not repeated.
      const again = await runLoader(qticketsSheets, { env: { ...wh.env, ...sandbox.env } });
      expectBalanced(again);
      expect(again.rowsWritten).toBe(0);
      expect(again.rowsDeleted).toBe(0);
    } finally {
      sandbox.faults.delete('remove_sale');
    }
    // Back in the sheet: written again, live.
    const back = await runLoader(qticketsSheets, { env: { ...wh.env, ...sandbox.env } });
    expectBalanced(back);
    expect(await salesByCityDate(wh)).toEqual(truth.byCityDate);
  });

  it('an event removed from the sheet is tombstoned in stg and in dim_events; a row that turns bad keeps its last good version', async () => {
    const world = sheetsWorld(SEED, sandbox.today);
    const dropped = String(world.events[3]!.event_id);
    const spoiled = world.events[4]!.event_id;
    sandbox.editSheet('Events', (rows) =>
      rows
        .filter((r) => !(r[0]?.t === 'num' && String(r[0].v) === dropped))
        .map((r) => (r[0]?.t === 'num' && r[0].v === spoiled ? [r[0], r[1] ?? null, r[2] ?? null, { t: 'text', v: '31.02.2027' }, ...r.slice(4)] : r)),
    );
    const s = await runLoader(qticketsSheets, { env: { ...wh.env, ...sandbox.env } });
    expectBalanced(s);
    expect(s.rowsQuarantined).toBe(1);
    expect(s.rowsDeleted).toBe(2); // stg_qtickets_sheets_events + dim_events for the dropped event
    const live = await wh.query<{ event_id: string }>(`SELECT event_id FROM dim_events FINAL WHERE source = 'qtickets_sheets' AND _deleted = 0 ORDER BY event_id`);
    expect(live.map((r) => r.event_id)).not.toContain(dropped);
    expect(live.map((r) => r.event_id)).toContain(String(spoiled));
    const [q] = await wh.query<{ reason: string; record_key: string }>(`SELECT reason, record_key FROM meta_quarantine FINAL WHERE source = 'qtickets_sheets' AND target_table = 'stg_qtickets_sheets_events'`);
    expect(q!.reason).toMatch(/^Events row \d+, column "Дата и время" \(event_date\): not a date, got "31.02.2027"/);
    expect(q!.record_key).toMatch(/^Events!\d+$/);
  });
});

describe('qtickets_sheets under faults', () => {
  it('moved_columns (reordered headers, an extra column) and formatted cells load the same numbers', async () => {
    await withSandbox(['moved_columns', 'formatted', 'duplicated_rows'], async (sb, wh) => {
      const s = await runLoader(qticketsSheets, { env: { ...wh.env, ...sb.env } });
      expectBalanced(s);
      expect(s.rowsQuarantined).toBe(0);
      expect(await salesByCityDate(wh)).toEqual(expectedSheetSales(SEED, { today: sb.today }).byCityDate);
      // Duplicated rows were read and skipped, not written twice.
      expect(s.rowsSkipped).toBeGreaterThan(0);
    });
  });

  it('malformed: every bad cell is parsed or quarantined with sheet, row and column; rows in the sheet = loaded + quarantined + skipped', async () => {
    await withSandbox(['malformed'], async (sb, wh) => {
      const s = await runLoader(qticketsSheets, { env: { ...wh.env, ...sb.env } });
      expectBalanced(s);
      expect(await salesByCityDate(wh)).toEqual(expectedSheetSales(SEED, { today: sb.today }).byCityDate);
      const q = await wh.query<{ target_table: string; reason: string; record_key: string; payload: string }>(
        `SELECT target_table, reason, record_key, payload FROM meta_quarantine FINAL WHERE source = 'qtickets_sheets' ORDER BY record_key`,
      );
      const perTable: Record<string, number> = {};
      for (const r of q) perTable[r.target_table] = (perTable[r.target_table] ?? 0) + 1;
      expect(perTable).toEqual(MALFORMED_EXPECTED.quarantined);
      expect(s.rowsQuarantined).toBe(q.length);
      const reasons = q.map((r) => r.reason).join('\n');
      expect(reasons).toMatch(/Sales row \d+, column "Дата мероприятия" \(event_date\): not a date, got "32\.13\.2026"/);
      expect(reasons).toMatch(/Sales row \d+, column "Сумма" \(revenue\): not an amount of money, got "abc"/);
      expect(reasons).toMatch(/Sales row \d+, column "Билетов" \(tickets\): not a whole non-negative number, got "-1"/);
      expect(reasons).toMatch(/Sales row \d+, column "Дата продажи" \(sold_at\): not a date, got "вчера"/);
      expect(reasons).toMatch(/Sales row \d+, column "ID заказа" \(order_id\): empty/);
      expect(reasons).toMatch(/Events row \d+, column "Вместимость" \(capacity\): not a whole non-negative number, got "много"/);
      expect(reasons).toMatch(/Inventory row \d+, column "Продано" \(sold_seats\)/);
      for (const r of q) {
        expect(r.record_key).toMatch(/^(Sales|Events|Inventory)!\d+$/);
        expect(JSON.parse(r.payload)).toMatchObject({ sheet: r.record_key.split('!')[0], row: Number(r.record_key.split('!')[1]) });
      }
      // Rows in the Sales sheet = lines loaded + quarantined + blank rows skipped.
      const loaded = await count(wh, `SELECT count() AS n FROM stg_qtickets_sheets_sales FINAL WHERE _deleted = 0`);
      const world = sheetsWorld(SEED, sb.today);
      const salesRowsInSheet = world.lines.length + MALFORMED_EXPECTED.quarantined.stg_qtickets_sheets_sales + MALFORMED_EXPECTED.emptyRows;
      expect(loaded + MALFORMED_EXPECTED.quarantined.stg_qtickets_sheets_sales + MALFORMED_EXPECTED.emptyRows).toBe(salesRowsInSheet);
    });
  });

  it('rate_limit (429 RESOURCE_EXHAUSTED) and 5xx are retried by the runtime: same totals', async () => {
    await withSandbox(['rate_limit', '5xx'], async (sb, wh) => {
      // The 1 rps pacing would make each retry wait a second; the test lifts it (retries still go through the runtime).
      const s = await runLoader(qticketsSheets, { env: { ...wh.env, ...sb.env, QTICKETS_SHEETS_RPS: '50' } });
      expectBalanced(s);
      expect(await salesByCityDate(wh)).toEqual(expectedSheetSales(SEED, { today: sb.today }).byCityDate);
      expect(sb.counters.rateLimited).toBeGreaterThan(0);
      expect(sb.counters.errors5xx).toBeGreaterThan(0);
      // gaxios' own retries are off: every attempt is one of the runtime's (5 retries at most).
      expect(sb.counters.requests).toBeLessThanOrEqual(6);
    });
  });

  it('a quota that stays exhausted fails the run as rate_limited after the runtime gives up; nothing is written or tombstoned', async () => {
    const sb = await startSandbox({ seed: SEED, faults: new Set(), readsPerMinute: 0 });
    const wh = await freshWarehouse();
    try {
      const s = await runLoader(qticketsSheets, { env: { ...wh.env, ...sb.env, QTICKETS_SHEETS_RPS: '50', HTTP_MAX_RETRIES: '2' } });
      expect(s.status).toBe('failed');
      expect(s.errorClass).toBe('rate_limited');
      expect(s.errorMessage).toMatch(/RESOURCE_EXHAUSTED/);
      expect(sb.counters.rateLimited).toBe(3);
      expect(s.rowsWritten + s.rowsDeleted).toBe(0);
    } finally {
      await sb.close();
      await wh.drop();
    }
  });

  it('a Cyrillic, quoted sheet name in the range reaches the fake decoded', async () => {
    await withSandbox([], async (sb, wh) => {
      const s = await runLoader(qticketsSheets, { env: { ...wh.env, ...sb.env, QTICKETS_SHEETS_SALES_RANGE: `'${SANDBOX_CYRILLIC_SALES_SHEET}'!A1:Z` } });
      expectBalanced(s);
      expect(await salesByCityDate(wh)).toEqual(expectedSheetSales(SEED, { today: sb.today }).byCityDate);
    });
  });

  it('an unshared spreadsheet fails the run as a config error naming the service account; a bad range too', async () => {
    await withSandbox([], async (sb, wh) => {
      const s = await runLoader(qticketsSheets, { env: { ...wh.env, ...sb.env, QTICKETS_SHEETS_SPREADSHEET_ID: SANDBOX_UNSHARED_SPREADSHEET_ID } });
      expect(s.status).toBe('failed');
      expect(s.errorClass).toBe('config');
      expect(s.errorMessage).toMatch(/share it with qtickets-loader@sandbox-\d+\.iam\.gserviceaccount\.com/);
      const bad = await runLoader(qticketsSheets, { env: { ...wh.env, ...sb.env, QTICKETS_SHEETS_SALES_RANGE: 'Nope!A1:Z' } });
      expect(bad.status).toBe('failed');
      expect(bad.errorClass).toBe('config');
      expect(bad.errorMessage).toMatch(/Unable to parse range: Nope!A1:Z/);
    });
  });
});
