// A typo in an Events row must not strip the city and event day from the sales lines that borrow them
// (they would silently leave ROMI): those lines keep their last good version and are quarantined with why.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import qticketsSheets from '../loaders/qtickets_sheets/index.js';
import { sheetsWorld, startSandbox, type SbCell } from '../loaders/qtickets_sheets/sandbox.js';
import type { LoaderDefinition } from '../src/runtime/contract.js';
import { runLoader } from '../src/runtime/run-loader.js';
import { expectBalanced } from './support/run-assertions.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

const loader = qticketsSheets as unknown as LoaderDefinition;

describe('qtickets_sheets: a quarantined Events row', () => {
  let wh: Warehouse;
  let sheets: Awaited<ReturnType<typeof startSandbox>>;
  let env: Record<string, string>;
  beforeAll(async () => {
    wh = await freshWarehouse();
    sheets = await startSandbox({ seed: 5, faults: new Set() });
    env = { ...wh.env, ...sheets.env, QTICKETS_SHEETS_RPS: '50' };
    expectBalanced(await runLoader(loader, { env }));
  });
  afterAll(async () => {
    await sheets?.close();
    await wh?.drop();
  });

  it('keeps the borrowing sales lines as they were and quarantines them with the reason', async () => {
    // The sandbox leaves city and event date blank on every ninth line from the fifth (taken from Events).
    const line = sheetsWorld(5, sheets.today).lines[4]!;
    const target = { orderId: String(line.order_id), eventId: String(line.event.event_id) };
    const before = await wh.query<{ line_id: string; city: string; event_date: string }>(
      `SELECT line_id, city, toString(event_date) AS event_date FROM stg_qtickets_sheets_sales FINAL WHERE order_id = '${target.orderId}' AND _deleted = 0 ORDER BY line_id`,
    );
    expect(before.length).toBeGreaterThan(0);
    expect(before.every((l) => l.city !== '' && l.event_date !== '')).toBe(true);

    // Someone types a word into the event's Capacity cell.
    sheets.editSheet('Events', (rows) => rows.map((r, i) => (i > 0 && String((r[0] as { v: number }).v) === target.eventId ? [...r.slice(0, 5), { t: 'text', v: 'много' } as SbCell] : r)));
    const run = await runLoader(loader, { env });
    expectBalanced(run);

    const after = await wh.query<{ line_id: string; city: string; event_date: string }>(
      `SELECT line_id, city, toString(event_date) AS event_date FROM stg_qtickets_sheets_sales FINAL WHERE order_id = '${target.orderId}' AND _deleted = 0 ORDER BY line_id`,
    );
    expect(after).toEqual(before);
    const reasons = await wh.query<{ reason: string }>(`SELECT reason FROM meta_quarantine FINAL WHERE source = 'qtickets_sheets' ORDER BY reason`);
    expect(reasons.some((r) => /Вместимость|capacity/i.test(r.reason))).toBe(true);
    expect(reasons.some((r) => r.reason.includes(`its event ${target.eventId} is quarantined`))).toBe(true);
  });
});
