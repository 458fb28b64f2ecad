// Weekly and hourly Facebook insights end to end: the sandbox -> the loader -> a real ClickHouse. Full
// Monday weeks must equal the world's weekly ground truth (expectedFbWeekly, unique reach included) and
// v_fb_weekly_results its results per family; a past window's last week is read whole (through its Sunday);
// each account's hours of yesterday add up to the daily truth, today's to today's daily row so far.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import facebook from '../loaders/facebook/index.js';
import { startSandbox, type FbSandbox } from '../loaders/facebook/sandbox.js';
import { mondayOf } from '../loaders/facebook/transform.js';
import { adDayStats, expectedFbDaily, expectedFbWeekly, FB_SANDBOX_ACCOUNTS, type FbWeekTruth } from '../loaders/facebook/world.js';
import type { LoaderDefinition } from '../src/runtime/contract.js';
import { addDays, formatInZone, todayIn } from '../src/runtime/dates.js';
import { runLoader } from '../src/runtime/run-loader.js';
import { expectBalanced } from './support/run-assertions.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';
import { FB_FAST as FAST } from './support/facebook.js';

const SEED = 7331;
const loader = facebook as unknown as LoaderDefinition;
const ACCOUNTS = FB_SANDBOX_ACCOUNTS.map((a) => a.id);

/** Per account and week, what the warehouse holds, in the ground truth's shape. */
async function loadedWeeks(wh: Warehouse, from: string, to: string): Promise<Map<string, FbWeekTruth[]>> {
  const facts = await wh.query<{ account_id: string; week: string; rows: string; cents: string; impressions: string; clicks: string; reach: string }>(
    `SELECT account_id, toString(week_start) AS week, count() AS rows, toString(sum(toInt64(spend * 100))) AS cents,
            sum(impressions) AS impressions, sum(clicks) AS clicks, sum(reach) AS reach
     FROM stg_fb_insights_weekly FINAL WHERE _deleted = 0 AND week_start BETWEEN toDate('${from}') AND toDate('${to}')
     GROUP BY account_id, week ORDER BY account_id, week`,
  );
  const fam = await wh.query<{ account_id: string; week: string; result_family: string; total: number }>(
    `SELECT account_id, toString(week_start) AS week, result_family, sum(results) AS total FROM v_fb_weekly_results
     WHERE week_start BETWEEN toDate('${from}') AND toDate('${to}') GROUP BY account_id, week, result_family HAVING total > 0`,
  );
  const out = new Map<string, FbWeekTruth[]>();
  const byKey = new Map<string, FbWeekTruth>();
  for (const f of facts) {
    const w: FbWeekTruth = { weekStart: f.week, rows: Number(f.rows), spendCents: Number(f.cents), impressions: Number(f.impressions), clicks: Number(f.clicks), reach: Number(f.reach), results: {} };
    byKey.set(`${f.account_id}|${f.week}`, w);
    out.set(f.account_id, [...(out.get(f.account_id) ?? []), w]);
  }
  for (const r of fam) (byKey.get(`${r.account_id}|${r.week}`)!.results as Record<string, number>)[r.result_family] = Number(r.total);
  return out;
}

describe('facebook weekly insights', () => {
  let wh: Warehouse;
  let sandbox: FbSandbox;
  let env: Record<string, string>;
  // Thursday .. Wednesday: the first bucket starts the Monday before, the last one runs to the Sunday after
  // (the window is in the past: only the running week is ever partial).
  const SINCE = '2026-01-01';
  const UNTIL = '2026-01-28';
  const FIRST = mondayOf(SINCE);
  const LAST_FULL = mondayOf(UNTIL);

  beforeAll(async () => {
    wh = await freshWarehouse();
    sandbox = await startSandbox({ seed: SEED, faults: new Set() });
    env = { ...wh.env, ...sandbox.env, ...FAST };
  });
  afterAll(async () => {
    await sandbox?.close();
    await wh?.drop();
  });

  it('full Monday weeks equal the weekly ground truth per account (USD, EUR, archived ads; reach is unique, not summed)', async () => {
    expect(FIRST).toBe('2025-12-29');
    const s = await runLoader(loader, { env, since: SINCE, until: UNTIL, params: { steps: ['structure', 'weekly'] } });
    expectBalanced(s);
    expect(s.rowsQuarantined).toBe(0);
    expect(s.tables.stg_fb_insights_daily ?? 0).toBe(0);
    const expected = new Map(ACCOUNTS.map((a) => [a, expectedFbWeekly(SEED, a, FIRST, LAST_FULL)]));
    expect([...expected.values()].flat().length).toBeGreaterThanOrEqual(ACCOUNTS.length * 4);
    expect(await loadedWeeks(wh, FIRST, LAST_FULL)).toEqual(expected);

    // A week's reach is unique people: between its largest day's and the sum of its days'.
    const acct = sandbox.world.accounts.get('act_1001')!;
    let overlapped = 0;
    for (const ad of acct.ads) {
      const days = Array.from({ length: 7 }, (_, i) => adDayStats(SEED, ad, addDays(FIRST, i))).filter((d) => d !== null);
      if (days.length < 2) continue;
      const [row] = await wh.query<{ reach: string; date_stop: string }>(`SELECT reach, toString(date_stop) AS date_stop FROM stg_fb_insights_weekly FINAL WHERE ad_id = '${ad.id}' AND week_start = toDate('${FIRST}')`);
      const sum = days.reduce((a, d) => a + d.reach, 0);
      const max = Math.max(...days.map((d) => d.reach));
      expect(Number(row!.reach)).toBeGreaterThanOrEqual(max);
      expect(Number(row!.reach)).toBeLessThanOrEqual(sum);
      expect(row!.date_stop).toBe(addDays(FIRST, 6));
      if (Number(row!.reach) < sum) overlapped++;
    }
    expect(overlapped).toBeGreaterThan(0);

    // Currencies and archived/deleted ads are in the weekly table too.
    const [st] = await wh.query<{ usd: string; eur: string; hidden: string }>(
      `SELECT countIf(account_id = 'act_2001' AND currency = 'USD') AS usd, countIf(account_id = 'act_2002' AND currency = 'EUR') AS eur,
              countIf(ad_id IN (SELECT ad_id FROM stg_fb_ads FINAL WHERE effective_status IN ('ARCHIVED', 'DELETED'))) AS hidden
       FROM stg_fb_insights_weekly FINAL`,
    );
    expect(Number(st!.usd)).toBeGreaterThan(0);
    expect(Number(st!.eur)).toBeGreaterThan(0);
    expect(Number(st!.hidden)).toBeGreaterThan(0);
  });

  it('the last week of a past window ending mid-week is whole, through its Sunday', async () => {
    const [got] = await wh.query<{ stops: string[] }>(`SELECT groupUniqArray(toString(date_stop)) AS stops FROM stg_fb_insights_weekly FINAL WHERE week_start = toDate('${LAST_FULL}')`);
    expect(got!.stops).toEqual([addDays(LAST_FULL, 6)]);
    expect(addDays(LAST_FULL, 6) > UNTIL).toBe(true);
  });

  it('a second weekly load writes nothing; the weekly view agrees with the table', async () => {
    const again = await runLoader(loader, { env, since: SINCE, until: UNTIL, params: { steps: ['weekly'] } });
    expectBalanced(again);
    expect(again.tables.stg_fb_insights_weekly ?? 0).toBe(0);
    const [v] = await wh.query<{ t: string; v: string }>(
      `SELECT (SELECT count() FROM stg_fb_insights_weekly FINAL) AS t, (SELECT count() FROM v_fb_weekly_results) AS v`,
    );
    expect(Number(v!.v)).toBe(Number(v!.t));
  });
});

describe('facebook default pass with today: hourly insights', () => {
  let wh: Warehouse;
  let sandbox: FbSandbox;

  beforeAll(async () => {
    wh = await freshWarehouse();
    sandbox = await startSandbox({ seed: SEED, faults: new Set() });
  });
  afterAll(async () => {
    await sandbox?.close();
    await wh?.drop();
  });

  it('no params: structure, weekly, daily and each account\'s yesterday and today by the hour; the hours add up to the days', async () => {
    const env = { ...wh.env, ...sandbox.env, ...FAST, FB_ACCOUNTS: JSON.stringify([{ id: 'act_1001', business_id: '9001' }, { id: 'act_2001', access_token: 'fb-sb-2001' }, { id: 'act_3001', access_token: 'fb-sb-3001' }]) };
    const accounts = ['act_1001', 'act_2001', 'act_3001'];
    const zone = (a: string) => sandbox.world.accounts.get(a)!.timezone;
    // Each account's local day and hour; the run must not straddle an hour turn (today's hours vs its daily row).
    const clocks = () => accounts.map((a) => formatInZone(Date.now(), zone(a)).slice(0, 13)).join();
    let stamp = clocks();
    let s = await runLoader(loader, { env });
    if (clocks() !== stamp) {
      stamp = clocks();
      s = await runLoader(loader, { env });
    }
    expectBalanced(s);
    for (const t of ['stg_fb_ads', 'stg_fb_insights_weekly', 'stg_fb_insights_daily', 'stg_fb_insights_hourly']) {
      const [n] = await wh.query<{ n: string }>(`SELECT count() AS n FROM ${t}`);
      expect(Number(n!.n), t).toBeGreaterThan(0);
    }

    for (const a of accounts) {
      const today = todayIn(zone(a));
      const yesterday = addDays(today, -1);
      const [range] = await wh.query<{ first: string; last: string; dates: string[] }>(
        `SELECT toString(min(week_start)) AS first, toString(max(date_stop)) AS last,
                (SELECT groupUniqArray(toString(date)) FROM stg_fb_insights_hourly WHERE account_id = '${a}') AS dates
         FROM stg_fb_insights_weekly FINAL WHERE account_id = '${a}'`,
      );
      // The running week stops at the account's own today.
      expect({ first: range!.first, last: range!.last }, a).toEqual({ first: mondayOf(s.window.since), last: today });
      expect(range!.dates.every((d) => d === today || d === yesterday), a).toBe(true);

      // Yesterday by the hour = the world's whole day; on-Meta results too, pixel (off-Meta) actions absent.
      const [truth] = expectedFbDaily(SEED, a, yesterday, yesterday);
      expect(truth, `${a} delivers on ${yesterday}`).toBeDefined();
      const [h] = await wh.query<{ ads: string; hours: string; cents: string; impressions: string; clicks: string }>(
        `SELECT uniqExact(ad_id) AS ads, count() AS hours, toString(sum(toInt64(spend * 100))) AS cents, sum(impressions) AS impressions, sum(clicks) AS clicks
         FROM stg_fb_insights_hourly FINAL WHERE account_id = '${a}' AND date = toDate('${yesterday}')`,
      );
      expect({ ads: Number(h!.ads), cents: Number(h!.cents), impressions: Number(h!.impressions), clicks: Number(h!.clicks) }).toEqual({
        ads: truth!.rows, cents: truth!.spendCents, impressions: truth!.impressions, clicks: truth!.clicks,
      });
      expect(Number(h!.hours)).toBeGreaterThan(truth!.rows);
      const fam = await wh.query<{ family: string; total: number; offsite: string }>(
        `SELECT multiIf(optimization_goal = 'CONVERSATIONS', 'messages', optimization_goal = 'THRUPLAY', 'video_view', optimization_goal = 'LINK_CLICKS', 'click',
                        optimization_goal = 'LEAD_GENERATION', 'leadgen_form', 'other') AS family,
                sum(arraySum(arrayMap((t, v) -> if(t IN ('onsite_conversion.total_messaging_connection', 'video_view', 'onsite_conversion.lead_grouped'), v, 0), actions.type, actions.value))
                    + if(optimization_goal = 'LINK_CLICKS', toFloat64(inline_link_clicks), 0)) AS total,
                toString(sum(arrayCount(t -> startsWith(t, 'offsite_conversion.'), actions.type))) AS offsite
         FROM stg_fb_insights_hourly FINAL WHERE account_id = '${a}' AND date = toDate('${yesterday}') GROUP BY family`,
      );
      for (const f of fam) {
        expect(f.offsite).toBe('0');
        if (f.family !== 'other') expect(Number(f.total), `${a} ${f.family}`).toBe(truth!.results[f.family as 'messages'] ?? 0);
      }
      // Today so far: the hours add up to today's daily row (also cut at the account's local hour).
      const [dayTotal] = await wh.query<{ hourly: string; daily: string }>(
        `SELECT (SELECT toString(sum(toInt64(spend * 100))) FROM stg_fb_insights_hourly FINAL WHERE account_id = '${a}' AND date = toDate('${today}')) AS hourly,
                (SELECT toString(sum(toInt64(spend * 100))) FROM stg_fb_insights_daily FINAL WHERE account_id = '${a}' AND date = toDate('${today}')) AS daily`,
      );
      expect(dayTotal!.hourly, a).toBe(dayTotal!.daily);
    }
  });
});

describe('facebook weekly insights with faults', () => {
  it('failed, skipped and too-big weekly reports split into whole weeks, then campaigns: the weeks still equal the truth', async () => {
    const wh = await freshWarehouse();
    const faults = ['async_fail', 'async_skip', 'async_read_flaky', 'too_many_rows', 'transient', 'code17'];
    const sandbox = await startSandbox({ seed: SEED, faults: new Set(faults), tooManyRows: 20 });
    try {
      const s = await runLoader(loader, { env: { ...wh.env, ...sandbox.env, ...FAST }, since: '2026-01-01', until: '2026-01-25', params: { steps: ['weekly'] } });
      expectBalanced(s);
      const expected = new Map(ACCOUNTS.map((a) => [a, expectedFbWeekly(SEED, a, '2025-12-29', '2026-01-19')]));
      expect(await loadedWeeks(wh, '2025-12-29', '2026-01-19')).toEqual(expected);
      const c = sandbox.counters;
      expect(c.asyncFailed).toBeGreaterThan(0);
      expect(c.asyncSkipped).toBeGreaterThan(0);
      expect(c.tooManyRows).toBeGreaterThan(0);
      expect(c.campaignFiltered).toBeGreaterThan(0);
      // Every stored bucket starts on a Monday: no split ever cut a week.
      const [odd] = await wh.query<{ n: string }>(`SELECT count() AS n FROM stg_fb_insights_weekly WHERE toDayOfWeek(week_start) != 1 OR date_stop > week_start + 6`);
      expect(odd!.n).toBe('0');
    } finally {
      await sandbox.close();
      await wh.drop();
    }
  });
});

describe('facebook load of a scaled world', () => {
  it('every account of a shaped world (several businesses, own tokens, RUB/USD/EUR) loads its weekly and daily truth', async () => {
    const shape = { accounts: 8, adsPerAccount: 6, businesses: 2, start: '2026-01-05', weeks: 4 };
    const wh = await freshWarehouse();
    const sandbox = await startSandbox({ seed: SEED, faults: new Set(), shape });
    try {
      const accounts = [...sandbox.world.accounts.values()];
      expect(new Set(accounts.map((a) => a.business?.id ?? null)).size).toBeGreaterThanOrEqual(2);
      const s = await runLoader(loader, { env: { ...wh.env, ...sandbox.env, ...FAST }, since: '2026-01-05', until: '2026-02-01', params: { steps: ['weekly', 'daily'] } });
      expectBalanced(s);
      const expected = new Map(accounts.map((a) => [a.id, expectedFbWeekly(SEED, a.id, '2026-01-05', '2026-01-26', { shape })]));
      expect(await loadedWeeks(wh, '2026-01-05', '2026-01-26')).toEqual(new Map([...expected].filter(([, w]) => w.length > 0)));
      const daily = await wh.query<{ account_id: string; cents: string }>(`SELECT account_id, toString(sum(toInt64(spend * 100))) AS cents FROM stg_fb_insights_daily FINAL GROUP BY account_id ORDER BY account_id`);
      const truth = accounts
        .map((a) => ({ account_id: a.id, cents: String(expectedFbDaily(SEED, a.id, '2026-01-05', '2026-02-01', { shape }).reduce((n, d) => n + d.spendCents, 0)) }))
        .filter((r) => r.cents !== '0')
        .sort((x, y) => x.account_id.localeCompare(y.account_id));
      expect(daily).toEqual(truth);
      const currencies = await wh.query<{ c: string }>(`SELECT DISTINCT currency AS c FROM stg_fb_insights_weekly ORDER BY c`);
      expect(currencies.map((r) => r.c)).toEqual([...new Set(accounts.map((a) => a.currency))].sort());
    } finally {
      await sandbox.close();
      await wh.drop();
    }
  });
});
