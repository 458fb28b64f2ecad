// The analytics views read every stored version of the weekly insights and keep FINAL's row per ad-week
// themselves (int_fb_ad_weeks, no FINAL). Against real ClickHouse: a warehouse holding re-loaded rows (a higher
// _ver replaces the week), a deleted newest version (removes the week, also the ad's latest week, whose older
// version must not come back, names included) and two equal _ver in two INSERTs (the later one wins, as FINAL's
// merge keeps the last) answers every view exactly as a warehouse that holds only the surviving rows, once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANALYTICS_QUERIES, WEEKS, analyticsFixtureStatements, insert, weeklyRow, type FixtureWeek } from './compat/analytics-fixture.js';
import { diff } from './compat/diff.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

const week = (ad: string, start: string): FixtureWeek => WEEKS.find((x) => x.ad === ad && x.week === start)!;
const RELOADED = { ...week('A', '2026-01-26'), spend: 310.0, results: 6 };        // CPR 51.67: a spike it was not
const TIED_FIRST = { ...week('A', '2026-02-02'), spend: 140.0 };
const TIED_LAST = { ...week('A', '2026-02-02'), spend: 151.0 };                  // same _ver, later INSERT
const RENAMED = { ...weeklyRow(week('C', '2026-01-19'), 2), ad_name: 'ad C (renamed)' };
const DELETED = week('C', '2026-01-26');                                         // C's latest week left
const tombstone = (x: FixtureWeek, ver: number) => ({ account_id: x.account, week_start: x.week, ad_id: x.ad, _ver: ver, _deleted: 1 });

/** The rows FINAL keeps: what the reference warehouse holds, each once. */
const SURVIVING = WEEKS.filter((x) => !x.deleted && x !== DELETED).map((x) => {
  if (x === week('A', '2026-01-26')) return weeklyRow(RELOADED, 1);
  if (x === week('A', '2026-02-02')) return weeklyRow(TIED_LAST, 1);
  if (x === week('C', '2026-01-19')) return { ...RENAMED, _ver: 1 };
  return weeklyRow(x, 1);
});

describe('analytics views over re-loaded and deleted versions (no FINAL in the analytics path)', () => {
  let wh: Warehouse;
  let ref: Warehouse;
  const results = (w: Warehouse) => Promise.all([...ANALYTICS_QUERIES, 'SELECT * FROM v_fb_weekly_results ORDER BY account_id, ad_id, week_start'].map((q) => w.query(q)));

  beforeAll(async () => {
    [wh, ref] = await Promise.all([freshWarehouse(), freshWarehouse()]);
    for (const sql of analyticsFixtureStatements(1)) await wh.client.command({ query: sql });
    // each INSERT is its own part: the second ver-2 insert is the later part
    await wh.client.command({ query: insert('stg_fb_insights_weekly', [weeklyRow(RELOADED, 2), weeklyRow(TIED_FIRST, 2), RENAMED, tombstone(DELETED, 2)]) });
    await wh.client.command({ query: insert('stg_fb_insights_weekly', [weeklyRow(TIED_LAST, 2)]) });
    for (const sql of analyticsFixtureStatements(1).slice(1)) await ref.client.command({ query: sql });
    await ref.client.command({ query: insert('stg_fb_insights_weekly', SURVIVING) });
  }, 120_000);
  afterAll(async () => {
    await wh?.drop();
    await ref?.drop();
  });

  it('every view equals the one over the surviving rows only; the versions are really stored', async () => {
    const [stored] = await wh.query<{ n: string }>('SELECT count() AS n FROM stg_fb_insights_weekly');
    expect(Number(stored!.n)).toBe(WEEKS.length + 5);
    const got = await results(wh);
    expect(diff(got, await results(ref))).toEqual([]);
    // and the reference is not trivially empty: the views have rows, anomalies and burnout included
    expect(got.map((rows) => rows.length > 0)).toEqual(got.map(() => true));
  });

  it('the newest version wins, an equal _ver in a later INSERT wins, a deleted week is gone with its names', async () => {
    const rows = await wh.query<{ ad_id: string; week: string; spend: number; ad_name: string }>(
      "SELECT ad_id, toString(week_start) AS week, spend, ad_name FROM v_fb_weekly_features WHERE ad_id IN ('A', 'C') ORDER BY ad_id, week_start");
    const a = Object.fromEntries(rows.filter((r) => r.ad_id === 'A').map((r) => [r.week, r.spend]));
    expect([a['2026-01-26'], a['2026-02-02']]).toEqual([310, 151]);
    expect(rows.filter((r) => r.ad_id === 'C').map((r) => `${r.week} ${r.ad_name}`)).toEqual(
      ['2026-01-05', '2026-01-12', '2026-01-19'].map((w) => `${w} ad C (renamed)`));
    // FINAL (the contract view) chose the same: the later of two equal versions
    const [final] = await wh.query<{ spend: number }>("SELECT spend FROM v_fb_weekly_results WHERE ad_id = 'A' AND week_start = '2026-02-02'");
    expect(Number(final!.spend)).toBe(151);
  });
});
