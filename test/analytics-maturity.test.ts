// Late conversions: the week just ended shows too few results, so too high a CPR. v_cpr_anomalies checks a
// week only once it has matured (week_start + 6 + anomaly.maturity_days < today()), and v_burnout_risk scores
// a week only once its Sunday is over west of UTC too (week_start + 7 < today()). The rows are dated relative
// to the server's today(): the data moves, not the clock. Expectations come from the JavaScript model.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshAnalytics } from '../src/analytics/refresh.js';
import { ADSETS, adsetStatement, insert, weeklyRow, type FixtureWeek } from './compat/analytics-fixture.js';
import { anomalies, burnout, DEFAULTS, features, type RawWeek } from './compat/analytics-model.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

const addDays = (d: string, n: number) => new Date(Date.parse(`${d}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);

/** An ad's 5 weekly rows, the last on `last`: 4 steady weeks (CPR 5), then one with 12 results instead of 20. */
function adWeeks(account: string, ad: string, adset: string, last: string, lastResults = 12): FixtureWeek[] {
  return [4, 3, 2, 1, 0].map((k) => ({
    account, ad, adset, week: addDays(last, -7 * k), spend: 100, impressions: 10_000 + 100 * k, reach: 5000, clicks: 200, link: 120,
    results: k === 0 ? lastResults : 20, quality: 'AVERAGE', engagement: 'AVERAGE', conversion: 'AVERAGE',
  }));
}

const raw = (weeks: FixtureWeek[]): RawWeek[] => weeks.filter((x) => !x.deleted).map((x) => ({
  account: x.account, ad: x.ad, week: x.week, family: ADSETS.find((s) => s.adset === x.adset)!.family, spend: x.spend, impressions: x.impressions,
  reach: x.reach, clicks: x.clicks, link: x.link, results: x.results, quality: x.quality!, engagement: x.engagement!, conversion: x.conversion!,
}));

describe('analytics views wait for late conversions', () => {
  let wh: Warehouse;
  let today: string;
  const spikes = async () => (await wh.query<{ ad_id: string; week_start: string; current_value: number; baseline_value: number }>(
    'SELECT ad_id, toString(week_start) AS week_start, current_value, baseline_value FROM v_cpr_anomalies ORDER BY ad_id, week_start',
  ));
  const load = async (weeks: FixtureWeek[], ver: number) => wh.client.command({ query: insert('stg_fb_insights_weekly', weeks.map((x) => weeklyRow(x, ver))) });
  beforeAll(async () => {
    wh = await freshWarehouse();
    await wh.client.command({ query: adsetStatement(1) });
    today = (await wh.query<{ d: string }>('SELECT toString(today()) AS d'))[0]!.d;
  });
  afterAll(async () => wh?.drop());

  it('a week with reduced results is no CPR spike until it has matured; then it is, and is recorded once', async () => {
    // M's last week ends 7 days before today: the last day it is not matured (week + 6 + 7 = today).
    const young = adWeeks('act_1', 'M', 's1', addDays(today, -13));
    await load(young, 1);
    // The data is what late conversions give: CPR 100/12 against a baseline of 5, a spike by the rule alone.
    const model = anomalies(features(raw(young)));
    expect(model.map((a) => [a.ad, a.week, a.current / a.baseline])).toEqual([['M', addDays(today, -13), 100 / 12 / 5]]);
    expect(anomalies(features(raw(young)), DEFAULTS, today)).toEqual([]);
    expect(await spikes()).toEqual([]);
    expect(await refreshAnalytics(wh.client, { detectedAt: new Date('2026-03-10T08:00:00Z') })).toMatchObject({ anomalies: 0 });

    // The setting is read: with 6 days the same week has matured (week + 6 + 6 < today), with 7 again not.
    await wh.client.command({ query: "INSERT INTO dim_settings (key, value, note, _ver) VALUES ('anomaly.maturity_days', 6, 'test', 1)" });
    expect((await wh.query('SELECT anomaly_maturity_days FROM v_analytics_settings'))).toEqual([{ anomaly_maturity_days: 6 }]);
    expect((await spikes()).map((r) => `${r.ad_id} ${r.week_start}`)).toEqual([`M ${addDays(today, -13)}`]);
    await wh.client.command({ query: "INSERT INTO dim_settings (key, value, note, _ver) VALUES ('anomaly.maturity_days', 7, 'test', 2)" });
    expect(await spikes()).toEqual([]);

    // One day later for the data (the same rows a day earlier; the old ones deleted): matured, a spike now.
    const matured = adWeeks('act_1', 'M', 's1', addDays(today, -14));
    await load([...young.map((x) => ({ ...x, deleted: 1 as const })), ...matured], 2);
    const expected = anomalies(features(raw(matured)), DEFAULTS, today);
    expect(expected).toHaveLength(1);
    const rows = await spikes();
    expect(rows.map((r) => `${r.ad_id} ${r.week_start}`)).toEqual([`M ${addDays(today, -14)}`]);
    expect(rows[0]!.current_value).toBeCloseTo(expected[0]!.current, 9);
    expect(rows[0]!.baseline_value).toBeCloseTo(expected[0]!.baseline, 9);
    // History: nothing from the refresh before maturity, the matured spike once.
    expect(await refreshAnalytics(wh.client, { detectedAt: new Date('2026-03-10T09:00:00Z') })).toMatchObject({ anomalies: 1 });
    expect(await refreshAnalytics(wh.client, { detectedAt: new Date('2026-03-10T10:00:00Z') })).toMatchObject({ anomalies: 0 });
    expect(await wh.query('SELECT toString(detected_at) AS at, ad_id, toString(week_start) AS week FROM fb_anomaly_history')).toEqual([
      { at: '2026-03-10 09:00:00', ad_id: 'M', week: addDays(today, -14) },
    ]);
  });

  it('v_burnout_risk scores the latest week whose Sunday is over west of UTC too (week_start + 7 < today)', async () => {
    // R (act_2) last delivered in the week starting 7 days ago: its Sunday was yesterday in UTC, but is
    // still running in accounts west of UTC, so the latest complete week is the one before.
    const weeks = adWeeks('act_2', 'R', 's3', addDays(today, -7), 20);
    await load(weeks, 1);
    const complete = addDays(today, -14);
    const model = burnout(features(raw(weeks))).find((b) => b.week === complete)!;
    const rows = await wh.query<{ ad_id: string; week_start: string; risk_score: number; risk_level: string }>(
      "SELECT ad_id, toString(week_start) AS week_start, risk_score, risk_level FROM v_burnout_risk WHERE account_id = 'act_2'",
    );
    expect(rows.map((r) => `${r.ad_id} ${r.week_start} ${r.risk_level}`)).toEqual([`R ${complete} ${model.level}`]);
    expect(rows[0]!.risk_score).toBeCloseTo(model.score, 9);
  });
});
