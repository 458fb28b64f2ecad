// v_sales_latest and ROMI over the Sheets and API sources: one order seen by both counts once (Sheets wins),
// a sale removed from the sheet disappears from the views, and an unchanged sheet writes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import qticketsApi from '../loaders/qtickets_api/index.js';
import { startSandbox as startApi, type QtSandbox } from '../loaders/qtickets_api/sandbox.js';
import qticketsSheets from '../loaders/qtickets_sheets/index.js';
import { sheetsWorld, startSandbox as startSheets, type SbCell } from '../loaders/qtickets_sheets/sandbox.js';
import type { LoaderDefinition } from '../src/runtime/contract.js';
import { addDays, todayIn } from '../src/runtime/dates.js';
import { runLoader } from '../src/runtime/run-loader.js';
import { expectBalanced } from './support/run-assertions.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

const SEED = 3;
const sheetsLoader = qticketsSheets as unknown as LoaderDefinition;
const apiLoader = qticketsApi as unknown as LoaderDefinition;

describe('sales views across sources', () => {
  let wh: Warehouse;
  let api: QtSandbox;
  let sheets: Awaited<ReturnType<typeof startSheets>>;
  let env: Record<string, string>;
  const until = addDays(todayIn('Europe/Moscow'), -1);
  const since = addDays(until, -29);
  const sales = (where = '1') =>
    wh.query<{ order_id: string; line_id: string; source: string; revenue: string; city: string; event_date: string }>(
      `SELECT order_id, line_id, source, toString(revenue) AS revenue, city, toString(event_date) AS event_date FROM v_sales_latest WHERE ${where} ORDER BY order_id, line_id`,
    );

  beforeAll(async () => {
    wh = await freshWarehouse();
    api = await startApi({ seed: SEED, faults: new Set() });
    sheets = await startSheets({ seed: SEED, faults: new Set() });
    env = { ...wh.env, ...api.env, ...sheets.env, QTICKETS_API_RPS: '50', QTICKETS_SHEETS_RPS: '50' };
    expectBalanced(await runLoader(apiLoader, { env, since, until }));
    expectBalanced(await runLoader(sheetsLoader, { env }));
  });
  afterAll(async () => {
    await api?.close();
    await sheets?.close();
    await wh?.drop();
  });

  it('counts an order once when the sheet and the API both have it, taking the sheet’s lines', async () => {
    const apiLines = api.expectedSales(since, until).lines.filter((l) => l.status === 'paid');
    const orderId = apiLines[0]!.order_id;
    const lines = apiLines.filter((l) => l.order_id === orderId);
    const before = await sales(`order_id = '${orderId}'`);
    expect(before.map((r) => r.source)).toEqual(lines.map(() => 'qtickets_api'));

    // The organiser's sheet now lists that order too, as one line with all its tickets and a rounder sum.
    const event = sheetsWorld(SEED, sheets.today).events.find((e) => e.city === lines[0]!.city && e.date === lines[0]!.event_date)!;
    const tickets = lines.reduce((n, l) => n + l.tickets, 0);
    const row: SbCell[] = [
      { t: 'num', v: Number(orderId) }, { t: 'num', v: event.event_id }, { t: 'text', v: event.name }, { t: 'text', v: event.cityDisplay },
      { t: 'date', day: event.date }, { t: 'datetime', day: lines[0]!.sold_at.slice(0, 10), time: '12:00:00' }, { t: 'text', v: 'Партер' },
      { t: 'num', v: tickets }, { t: 'money', cents: 100_000 }, { t: 'text', v: 'RUB' },
    ];
    sheets.editSheet('Sales', (rows) => [...rows, row]);
    const run = await runLoader(sheetsLoader, { env });
    expectBalanced(run);
    expect(run.rowsWritten).toBe(1);

    const after = await sales(`order_id = '${orderId}'`);
    expect(after).toEqual([{ order_id: orderId, line_id: `${orderId}#1`, source: 'qtickets_sheets', revenue: '1000.00', city: event.city, event_date: event.date }]);
  });

  it('drops a sale removed from the sheet from v_sales_latest and from ROMI revenue', async () => {
    const [victim] = await sales(`source = 'qtickets_sheets' AND city != ''`);
    const romiRevenue = async () =>
      Number((await wh.query<{ r: number }>(`SELECT revenue AS r FROM v_romi_kpi WHERE city = '${victim!.city}' AND event_date = toDate('${victim!.event_date}')`))[0]?.r ?? 0);
    const before = await romiRevenue();
    const victimRevenue = (await sales(`order_id = '${victim!.order_id}'`)).reduce((sum, l) => sum + Number(l.revenue), 0);
    sheets.editSheet('Sales', (rows) => rows.filter((r, i) => i === 0 || String((r[0] as { v?: unknown } | null)?.v) !== victim!.order_id));
    const run = await runLoader(sheetsLoader, { env });
    expectBalanced(run);
    expect(run.rowsDeleted).toBeGreaterThanOrEqual(1);
    expect(await sales(`order_id = '${victim!.order_id}'`)).toEqual([]);
    expect(await romiRevenue()).toBeCloseTo(before - victimRevenue, 2);
  });

  it('writes nothing when the sheet has not changed', async () => {
    const run = await runLoader(sheetsLoader, { env });
    expectBalanced(run);
    expect(run.rowsWritten).toBe(0);
    expect(run.rowsDeleted).toBe(0);
    expect(run.rowsSkipped).toBe(run.rowsRead);
  });
});
