// End to end: the QTickets REST sandbox -> the qtickets_api loader -> a real ClickHouse; per city and event
// day, tickets and revenue over lines that count equal the sandbox's ground truth.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import qticketsApi from '../loaders/qtickets_api/index.js';
import { QT_SANDBOX_TOKEN, startSandbox, type ExpectedSales, type QtSandbox } from '../loaders/qtickets_api/sandbox.js';
import { addDays, zonedDayStart } from '../src/runtime/dates.js';
import { runLoader } from '../src/runtime/run-loader.js';
import { expectBalanced } from './support/run-assertions.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

const SEED = 4242;

interface LineRow {
  order_id: string;
  line_id: string;
  city: string;
  event_date: string;
  sold_at: string;
  status: string;
  tickets: string;
  revenue: string;
}

async function totals(wh: Warehouse): Promise<ExpectedSales['totals']> {
  // Aliases differ from column names: 18.16 resolves an alias inside another aggregate otherwise.
  const rows = await wh.query<{ city: string; day: string; t: string; rev: string }>(
    `SELECT city, ifNull(toString(event_date), '') AS day, sum(tickets) AS t, toString(sum(revenue)) AS rev
     FROM stg_qtickets_sales_raw FINAL WHERE source = 'qtickets_api' AND _deleted = 0
     GROUP BY city, day HAVING t > 0 ORDER BY city, day`,
  );
  return rows.map((r) => ({ city: r.city, event_date: r.day, tickets: Number(r.t), revenue: Number(r.rev) }));
}

async function lines(wh: Warehouse): Promise<ExpectedSales['lines']> {
  const rows = await wh.query<LineRow>(
    `SELECT order_id, line_id, city, ifNull(toString(event_date), '') AS event_date, toString(sold_at) AS sold_at, status, tickets, toString(revenue) AS revenue
     FROM stg_qtickets_sales_raw FINAL WHERE source = 'qtickets_api' AND _deleted = 0 ORDER BY order_id, line_id`,
  );
  return rows.map((r) => ({ ...r, status: r.status as 'paid', tickets: Number(r.tickets), revenue: Number(r.revenue) }));
}

const sorted = (l: ExpectedSales['lines']) => [...l].sort((a, b) => (a.order_id === b.order_id ? a.line_id.localeCompare(b.line_id) : a.order_id.localeCompare(b.order_id)));

describe('qtickets_api load into ClickHouse', () => {
  let wh: Warehouse;
  let sandbox: QtSandbox;
  let since: string;
  let until: string;
  let truth: ExpectedSales;

  beforeAll(async () => {
    wh = await freshWarehouse();
    sandbox = await startSandbox({ seed: SEED, faults: new Set() });
    until = sandbox.today;
    since = addDays(until, -60);
    truth = sandbox.expectedSales(since, until);
  });
  afterAll(async () => {
    await sandbox?.close();
    await wh?.drop();
  });

  it('loads a window that matches the ground truth, line by line and per city/event day', async () => {
    expect(truth.lines.length).toBeGreaterThan(100);
    const statuses = new Set(truth.lines.map((l) => l.status));
    expect([...statuses].sort()).toEqual(['cancelled', 'paid', 'refunded']);
    const s = await runLoader(qticketsApi, { env: { ...wh.env, ...sandbox.env }, since, until });
    expectBalanced(s);
    expect(s.rowsQuarantined).toBe(0);
    expect(await totals(wh)).toEqual(truth.totals);
    expect(await lines(wh)).toEqual(sorted(truth.lines));
    // Filters went in the query string (GET cannot carry a body through fetch).
    const orderWheres = sandbox.counters.wheres.filter((w) => w.path === '/orders');
    expect(orderWheres.length).toBeGreaterThan(1); // paged: 100 per page at most
    expect(orderWheres.every((w) => w.from === 'query')).toBe(true);
    expect(JSON.stringify(orderWheres[0]!.where)).toMatch(/"updated_at","operator":">=","value":"\d{4}-\d{2}-\d{2}T00:00:00\+03:00"/);
    // dim_events: one row per show of every event, the deleted event included, cities from the city map.
    const dims = await wh.query<{ event_id: string; show_id: string; city: string; event_date: string }>(
      `SELECT event_id, show_id, city, toString(event_date) AS event_date FROM dim_events FINAL WHERE source = 'qtickets_api' ORDER BY show_id`,
    );
    expect(dims.length).toBeGreaterThanOrEqual(10);
    expect(new Set(dims.map((d) => d.event_id)).size).toBe(10);
    expect(dims.map((d) => `${d.city}_${d.event_date.slice(8, 10)}_${d.event_date.slice(5, 7)}`).every((t) => /^[a-z_]+_\d\d_\d\d$/.test(t))).toBe(true);
  });

  it('a second load and an overlapping window change nothing', async () => {
    const again = await runLoader(qticketsApi, { env: { ...wh.env, ...sandbox.env }, since, until });
    expectBalanced(again);
    expect(again.tables.dim_events ?? 0).toBe(0); // unchanged shows are skipped
    const overlap = await runLoader(qticketsApi, { env: { ...wh.env, ...sandbox.env }, since: addDays(until, -10), until });
    expectBalanced(overlap);
    expect(await totals(wh)).toEqual(truth.totals);
    expect(await lines(wh)).toEqual(sorted(truth.lines));
  });

  it('a refund after payment shows up on the next run: the line stops counting', async () => {
    const line = truth.lines.find((l) => l.status === 'paid' && l.sold_at < `${addDays(until, -20)} 00:00:00`)!;
    expect(line).toBeDefined();
    const endOfToday = zonedDayStart(addDays(until, 1), 'Europe/Moscow') - 1000;
    sandbox.refundBasket(Number(line.order_id), Number(line.line_id), Math.min(Date.now(), endOfToday));
    // The order was paid weeks ago: only the update-time window (the default 3-day lookback) brings it back.
    const s = await runLoader(qticketsApi, { env: { ...wh.env, ...sandbox.env }, since: addDays(until, -2), until });
    expectBalanced(s);
    const after = sandbox.expectedSales(since, until);
    expect(await totals(wh)).toEqual(after.totals);
    const [row] = await wh.query<{ status: string; tickets: string; revenue: string }>(
      `SELECT status, tickets, toString(revenue) AS revenue FROM stg_qtickets_sales_raw FINAL WHERE source = 'qtickets_api' AND order_id = '${line.order_id}' AND line_id = '${line.line_id}'`,
    );
    expect({ status: row!.status, tickets: Number(row!.tickets), revenue: Number(row!.revenue) }).toEqual({ status: 'refunded', tickets: 0, revenue: 0 });
    const before = truth.totals.find((t) => t.city === line.city && t.event_date === line.event_date)!;
    const now = after.totals.find((t) => t.city === line.city && t.event_date === line.event_date)!;
    expect(now.tickets).toBe(before.tickets - line.tickets);
    expect(Math.round(now.revenue * 100)).toBe(Math.round((before.revenue - line.revenue) * 100));
  });

  it('a server that ignores where= changes nothing: the loader filters by window and payment itself', async () => {
    const ignoring = await startSandbox({ seed: SEED, faults: new Set(['ignore_filters']) });
    const wh2 = await freshWarehouse();
    try {
      const s = await runLoader(qticketsApi, { env: { ...wh2.env, ...ignoring.env }, since, until });
      expectBalanced(s);
      expect(s.rowsSkipped).toBeGreaterThan(0); // unpaid reservations, orders updated outside the window
      expect(await totals(wh2)).toEqual(truth.totals);
      expect(await lines(wh2)).toEqual(sorted(truth.lines));
    } finally {
      await ignoring.close();
      await wh2.drop();
    }
  });

  it('with rate limits, 5xx and malformed records: same totals, bad records quarantined with reasons', async () => {
    const faulty = await startSandbox({ seed: SEED, faults: new Set(['rate_limit', '5xx', 'malformed']) });
    const wh3 = await freshWarehouse();
    try {
      const s = await runLoader(qticketsApi, { env: { ...wh3.env, ...faulty.env }, since, until });
      expectBalanced(s);
      expect(faulty.counters.rateLimited).toBeGreaterThan(0);
      expect(faulty.counters.errors5xx).toBeGreaterThan(0);
      expect(await totals(wh3)).toEqual(truth.totals);
      expect(await lines(wh3)).toEqual(sorted(truth.lines));
      const reasons = await wh3.query<{ target_table: string; reason: string }>(`SELECT target_table, reason FROM meta_quarantine FINAL WHERE source = 'qtickets_api' ORDER BY reason`);
      const text = reasons.map((r) => `${r.target_table}: ${r.reason}`).join('\n');
      expect(text).toMatch(/stg_qtickets_sales_raw: order \d+: paid order without a valid payed_at/);
      expect(text).toMatch(/stg_qtickets_sales_raw: order \d+ basket \d+: price is not a non-negative amount: "abc"/);
      expect(text).toMatch(/dim_events: event \d+ show \d+: start_date is not a date: "TBA"/);
      expect(s.rowsQuarantined).toBe(reasons.length);
    } finally {
      await faulty.close();
      await wh3.drop();
    }
  });

  it('a wrong token fails the run as token_invalid without retries', async () => {
    const wh4 = await freshWarehouse();
    try {
      const before = sandbox.counters.forbidden;
      const s = await runLoader(qticketsApi, { env: { ...wh4.env, ...sandbox.env, QTICKETS_API_TOKEN: `${QT_SANDBOX_TOKEN}-wrong` }, since, until });
      expect(s.status).toBe('failed');
      expect(s.errorClass).toBe('token_invalid');
      expect(s.errorMessage).toMatch(/Wrong authorization/);
      expect(sandbox.counters.forbidden - before).toBe(1);
    } finally {
      await wh4.drop();
    }
  });
});
