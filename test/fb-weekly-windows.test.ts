// Weekly buckets under windows that end mid-week (backfill chunks, re-loads of a few days): a complete past
// week is never replaced by a Mon..until part of it, and a later run repairs a stored partial week (the
// stored-hash lookup compares the newest version of each bucket). The running week stops at the account's
// own today. Sandbox -> loader -> a real ClickHouse; truth from world.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import facebook from '../loaders/facebook/index.js';
import { startSandbox, type FbSandbox } from '../loaders/facebook/sandbox.js';
import { mondayOf } from '../loaders/facebook/transform.js';
import { expectedFbDaily, expectedFbWeekly } from '../loaders/facebook/world.js';
import type { LoaderDefinition } from '../src/runtime/contract.js';
import { addDays, dayChunks, todayIn } from '../src/runtime/dates.js';
import { runLoader } from '../src/runtime/run-loader.js';
import { expectBalanced } from './support/run-assertions.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';
import { FB_FAST as FAST } from './support/facebook.js';

const SEED = 7331;
const loader = facebook as unknown as LoaderDefinition;
const WEEKLY = { steps: ['weekly'] };

describe('facebook weekly buckets under mid-week windows', () => {
  let wh: Warehouse;
  let sb: FbSandbox;
  let env: Record<string, string>;
  beforeAll(async () => {
    wh = await freshWarehouse();
    sb = await startSandbox({ seed: SEED, faults: new Set() });
    env = { ...wh.env, ...sb.env, ...FAST, FB_ACCOUNTS: JSON.stringify([{ id: 'act_3001', access_token: 'fb-sb-3001' }, { id: 'act_2001', access_token: 'fb-sb-2001' }]) };
  });
  afterAll(async () => {
    await sb?.close();
    await wh?.drop();
  });

  /** Per account and week: newest stored date_stop, spend in cents, rows. */
  const weeks = async (from: string, to: string) =>
    wh.query<{ a: string; w: string; d: string; cents: string; n: string }>(
      `SELECT account_id AS a, toString(week_start) AS w, toString(max(date_stop)) AS d, toString(sum(toInt64(spend * 100))) AS cents, count() AS n
       FROM stg_fb_insights_weekly FINAL WHERE _deleted = 0 AND week_start BETWEEN '${from}' AND '${to}' GROUP BY a, w ORDER BY a, w`,
    );
  const truth = (from: string, to: string) =>
    ['act_2001', 'act_3001'].flatMap((a) =>
      expectedFbWeekly(SEED, a, from, to).map((t) => ({ a, w: t.weekStart, d: addDays(t.weekStart, 6), cents: String(t.spendCents), n: String(t.rows) })),
    );

  it('a window ending mid-week reads the whole (past) week: a complete week stays complete', async () => {
    expectBalanced(await runLoader(loader, { env, since: '2026-01-05', until: '2026-01-18', params: WEEKLY }));
    const full = await weeks('2026-01-05', '2026-01-18');
    expect(full).toEqual(truth('2026-01-05', '2026-01-12'));
    // A re-load of Mon..Wed: the request covers the whole week, nothing changed, nothing written.
    const midweek = await runLoader(loader, { env, since: '2026-01-12', until: '2026-01-14', params: WEEKLY });
    expectBalanced(midweek);
    expect(midweek.tables.stg_fb_insights_weekly ?? 0).toBe(0);
    expect(await weeks('2026-01-05', '2026-01-18')).toEqual(full);
  });

  it('a stored partial week (as an older loader left it) is repaired by a later run whose window starts after its date_stop', async () => {
    // Store a Mon..Wed version of the week of 01-19 as its newest, as a mid-week window used to: half the
    // spend, date_stop the 21st.
    expectBalanced(await runLoader(loader, { env, since: '2026-01-19', until: '2026-01-25', params: WEEKLY }));
    const columns = (await wh.query<{ name: string }>(`SELECT name FROM system.columns WHERE database = currentDatabase() AND table = 'stg_fb_insights_weekly'`)).map((c) => c.name);
    const changed: Record<string, string> = { date_stop: `toDate('2026-01-21')`, spend: 'spend / 2', _hash: 'toUInt64(1)', _ver: '_ver + 1' };
    await wh.client.command({
      query: `INSERT INTO stg_fb_insights_weekly (${columns.join(', ')})
              SELECT ${columns.map((c) => changed[c] ?? c).join(', ')} FROM stg_fb_insights_weekly FINAL WHERE week_start = '2026-01-19'`,
    });
    const broken = await weeks('2026-01-12', '2026-01-19');
    expect(broken.filter((r) => r.w === '2026-01-19').map((r) => r.d)).toEqual(['2026-01-21', '2026-01-21']);
    // A window from Friday: its first bucket is the damaged week, whose newest date_stop (the 21st) is before the window.
    const s = await runLoader(loader, { env, since: '2026-01-23', until: '2026-02-01', params: WEEKLY });
    expectBalanced(s);
    expect(await weeks('2026-01-19', '2026-01-26')).toEqual(truth('2026-01-19', '2026-01-26'));
  });

  it('backfill in 7-day chunks from a Thursday over loaded weeks leaves every week whole and unchanged', async () => {
    expectBalanced(await runLoader(loader, { env, since: '2026-01-05', until: '2026-01-25', params: WEEKLY }));
    const before = await weeks('2025-12-29', '2026-01-25');
    expect(before).toEqual(truth('2025-12-29', '2026-01-19').filter((r) => r.w >= '2026-01-05'));
    for (const c of dayChunks('2026-01-01', '2026-01-25', 7)) {
      expectBalanced(await runLoader(loader, { env, ...c, kind: 'backfill', backfillId: 'fb-weekly-windows', params: WEEKLY }));
    }
    expect(await weeks('2026-01-05', '2026-01-25')).toEqual(before.filter((r) => r.w >= '2026-01-05'));
    expect(await weeks('2025-12-29', '2026-01-04')).toEqual(truth('2025-12-29', '2025-12-29'));
  });
});

describe('facebook running week', () => {
  it('stops at the account\'s own today (a clock per account), and equals the days loaded so far', async () => {
    const wh = await freshWarehouse();
    const sb = await startSandbox({ seed: SEED, faults: new Set() });
    try {
      // Moscow and New York under a reporting zone of UTC+14: the window's last day is tomorrow in New York
      // for 19 hours of every day, in Moscow for 14.
      const env = { ...wh.env, ...sb.env, ...FAST, TZ_REPORTING: 'Pacific/Kiritimati', FB_ACCOUNTS: JSON.stringify([{ id: 'act_1001', business_id: '9001' }, { id: 'act_2001', access_token: 'fb-sb-2001' }]) };
      const todays = () => JSON.stringify({ act_1001: todayIn('Europe/Moscow'), act_2001: todayIn('America/New_York') });
      // The assertions need one today per account during the run: a day turning mid-run repeats it (once).
      let before = todays();
      for (let attempt = 0; attempt < 2; attempt++) {
        before = todays();
        expectBalanced(await runLoader(loader, { env, params: { steps: ['weekly', 'daily'] } }));
        if (todays() === before) break;
      }
      for (const [a, today] of Object.entries(JSON.parse(before) as Record<string, string>)) {
        const monday = mondayOf(today);
        const [w] = await wh.query<{ stops: string[]; cents: string; n: string }>(
          `SELECT groupUniqArray(toString(date_stop)) AS stops, toString(sum(toInt64(spend * 100))) AS cents, count() AS n
           FROM stg_fb_insights_weekly FINAL WHERE account_id = '${a}' AND week_start = '${monday}'`,
        );
        expect(w!.stops, a).toEqual([today]);
        // The week so far is the daily rows of Monday..today (today as far as the account's clock has got).
        const [d] = await wh.query<{ cents: string; past: string }>(
          `SELECT toString(sum(toInt64(spend * 100))) AS cents, toString(sumIf(toInt64(spend * 100), date < '${today}')) AS past
           FROM stg_fb_insights_daily FINAL WHERE account_id = '${a}' AND date BETWEEN '${monday}' AND '${today}'`,
        );
        expect(w!.cents, a).toBe(d!.cents);
        // Days before today are complete: the world's truth.
        expect(d!.past, a).toBe(String(expectedFbDaily(SEED, a, monday, addDays(today, -1)).reduce((n, x) => n + x.spendCents, 0)));
        // Nothing after the account's today anywhere.
        const [future] = await wh.query<{ n: string }>(`SELECT count() AS n FROM stg_fb_insights_daily FINAL WHERE account_id = '${a}' AND date > '${today}'`);
        expect(future!.n, a).toBe('0');
      }
    } finally {
      await sb.close();
      await wh.drop();
    }
  });
});
