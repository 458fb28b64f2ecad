// The analytics views against a hand-built fixture (test/compat/analytics-fixture.ts): every column of every
// view equals the value computed in JavaScript from the raw numbers (test/compat/analytics-model.ts, no SQL
// shared); reloading the same rows changes nothing; a refresh records each detection once; a settings
// override moves the thresholds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyticsViewsExist, refreshAnalytics } from '../src/analytics/refresh.js';
import { ADS, ADSETS, ANALYTICS_QUERIES, CAMPAIGNS, DAYS, WEEKS, analyticsFixtureStatements } from './compat/analytics-fixture.js';
import { anomalies, burnout, DEFAULTS, features, INDICATORS, METRICS, type FeatureRow, type RawWeek } from './compat/analytics-model.js';
import { diff } from './compat/diff.js';
import { runCli } from './support/cli.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

type Row = Record<string, unknown>;

const adset = (id: string) => ADSETS.find((s) => s.adset === id)!;
const adOf = (account: string, ad: string) => WEEKS.find((x) => x.account === account && x.ad === ad)!;
const currency = (account: string) => (account === 'act_1' ? 'USD' : 'EUR');

const RAW: RawWeek[] = WEEKS.filter((x) => !x.deleted).map((x) => ({
  account: x.account, ad: x.ad, week: x.week, family: adset(x.adset).family, spend: x.spend, impressions: x.impressions, reach: x.reach,
  clicks: x.clicks, link: x.link, results: x.results, quality: x.quality ?? '', engagement: x.engagement ?? '', conversion: x.conversion ?? '',
}));

function ids(r: { account: string; ad: string }): Row {
  const x = adOf(r.account, r.ad);
  const s = adset(x.adset);
  return { account_id: r.account, campaign_id: s.campaign, adset_id: x.adset, ad_id: r.ad, ad_name: `ad ${r.ad}`, currency: currency(r.account) };
}

function featureRow(r: FeatureRow): Row {
  const x = WEEKS.find((w) => w.account === r.account && w.ad === r.ad && w.week === r.week)!;
  const s = adset(x.adset);
  const row: Row = {
    platform: 'facebook', ...ids(r), campaign_name: `camp ${s.campaign}`, adset_name: `set ${x.adset}`, week_start: r.week,
    result_family: s.family, min_results: r.minResults, enough_results: r.enough ? 1 : 0, baseline_weeks: r.baselineWeeks,
    lag1_week_start: r.lag1Week, lag2_week_start: r.lag2Week,
    quality_ranking: x.quality, engagement_rate_ranking: x.engagement, conversion_rate_ranking: x.conversion,
  };
  for (const m of METRICS) {
    Object.assign(row, { [m]: r.cur[m], [`${m}_baseline`]: r.base[m], [`${m}_delta_pct`]: r.delta[m], [`${m}_lag1`]: r.lag1[m], [`${m}_lag2`]: r.lag2[m], [`${m}_slope`]: r.slope[m] });
  }
  return row;
}

const byKey = (a: Row, b: Row) => `${a.account_id}|${a.ad_id}|${a.week_start}`.localeCompare(`${b.account_id}|${b.ad_id}|${b.week_start}`);

function expectedAnomalies(settings = DEFAULTS): Row[] {
  return anomalies(features(RAW, settings), settings).map((a) => ({
    platform: 'facebook', ...ids(a), result_family: adset(adOf(a.account, a.ad).adset).family, week_start: a.week, anomaly_type: 'cpr_spike',
    current_value: a.current, baseline_value: a.baseline, delta_pct: a.deltaPct, results: a.results, baseline_weeks: a.baselineWeeks,
    anomaly_score: a.score, confidence: a.confidence, likely_triggers: a.triggers, preceding_deviations: a.preceding,
  }));
}

function burnoutRow(b: ReturnType<typeof burnout>[number]): Row {
  const row: Row = {
    platform: 'facebook', ...ids(b), week_start: b.week, baseline_weeks: b.baselineWeeks, risk_score: b.score, risk_level: b.level,
    top_drivers: b.drivers, predicted_cpr_change_pct: b.predicted,
  };
  INDICATORS.forEach((n, i) => (row[`${n}_pct`] = b.indicators[i]));
  return row;
}

/** Delivery rows by hand: each ad's delivering days, and the days between two of them as a pause. */
function expectedDelivery(): Row[] {
  const out: Row[] = [];
  const ads = [...new Set(DAYS.map((d) => `${d.account}|${d.ad}`))];
  const day = (s: string, n: number) => new Date(Date.parse(`${s}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
  const within = (ts: string | null | undefined, from: string, to: string) => !!ts && ts.slice(0, 10) >= day(from, -1) && ts.slice(0, 10) <= day(to, 1);
  for (const key of ads) {
    const [account, ad] = key.split('|') as [string, string];
    const delivering = DAYS.filter((d) => d.account === account && d.ad === ad && d.impressions > 0).sort((a, b) => a.date.localeCompare(b.date));
    const meta = ADS.find((a) => a.account === account && a.ad === ad);
    const set = meta ? ADSETS.find((s) => s.adset === meta.adset) : undefined;
    const camp = meta ? CAMPAIGNS.find((c) => c.campaign === meta.campaign) : undefined;
    const statuses = { ad_status: meta?.status ?? '', adset_status: set ? 'ACTIVE' : '', campaign_status: camp?.status ?? '' };
    delivering.forEach((d, i) => {
      out.push({ platform: 'facebook', account_id: account, ad_id: ad, date: d.date, delivering: 1, impressions: d.impressions, spend: d.spend, paused: 0, gap_start: null, gap_end: null, gap_days: 0, gap_cause: '', status_change_object: '', status_changed_at: null, ...statuses });
      const next = delivering[i + 1];
      if (!next) return;
      const gapStart = day(d.date, 1);
      const gapEnd = day(next.date, -1);
      const object = within(meta?.updated, gapStart, gapEnd) ? 'ad' : within(set?.updated, gapStart, gapEnd) ? 'adset' : within(camp?.updated, gapStart, gapEnd) ? 'campaign' : '';
      const at = object === 'ad' ? meta!.updated : object === 'adset' ? set!.updated : object === 'campaign' ? camp!.updated : null;
      for (let g = gapStart; g <= gapEnd; g = day(g, 1)) {
        out.push({
          platform: 'facebook', account_id: account, ad_id: ad, date: g, delivering: 0, impressions: 0, spend: 0, paused: 1, gap_start: gapStart, gap_end: gapEnd,
          gap_days: (Date.parse(gapEnd) - Date.parse(gapStart)) / 86_400_000 + 1, gap_cause: object ? 'status_change' : 'delivery', status_change_object: object, status_changed_at: at, ...statuses,
        });
      }
    });
  }
  return out.sort((a, b) => `${a.account_id}|${a.ad_id}|${a.date}`.localeCompare(`${b.account_id}|${b.ad_id}|${b.date}`));
}

describe('analytics views on a hand-built fixture', () => {
  let wh: Warehouse;
  const results = async () => Promise.all(ANALYTICS_QUERIES.map((q) => wh.query(q)));
  beforeAll(async () => {
    wh = await freshWarehouse();
    for (const sql of analyticsFixtureStatements(1)) await wh.client.command({ query: sql });
  });
  afterAll(async () => wh?.drop());

  it('v_fb_weekly_features: every column of every delivered ad-week, no week invented or deleted row counted', async () => {
    const rows = await wh.query('SELECT * FROM v_fb_weekly_features ORDER BY account_id, ad_id, week_start');
    const expected = features(RAW).map(featureRow).sort(byKey);
    expect(rows.length).toBe(RAW.length);
    expect(diff(rows, expected)).toEqual([]);
    // The fixture exercises what it claims: a gap week, a week short of results, a baseline that skipped it.
    const a = rows.filter((r) => r.ad_id === 'A');
    expect(a.map((r) => r.week_start)).not.toContain('2026-02-09');
    expect(a.find((r) => r.week_start === '2026-01-19')).toMatchObject({ enough_results: 0 });
    expect(a.find((r) => r.week_start === '2026-02-16')).toMatchObject({ baseline_weeks: 4, lag1_week_start: '2026-02-02' });
  });

  it('v_cpr_anomalies: the spikes, scores, confidence, triggers strongest first and preceding deviations', async () => {
    const rows = await wh.query('SELECT * FROM v_cpr_anomalies ORDER BY account_id, ad_id, week_start');
    const expected = expectedAnomalies().sort(byKey);
    expect(expected.map((r) => `${r.ad_id} ${r.week_start}`)).toEqual(['A 2026-02-02', 'A 2026-02-16', 'B 2026-01-26', 'C 2026-01-19']);
    expect(diff(rows, expected)).toEqual([]);
    // A short week (C 01-26: 2 purchases, A 01-19) is never a spike however high its CPR.
    expect(rows.some((r) => r.week_start === '2026-01-26' && r.ad_id === 'C')).toBe(false);
  });

  it('an UNKNOWN ranking (NULL score) in a spike week is no deviation, as in v_fb_weekly_features', async () => {
    // A 02-16 spikes with quality UNKNOWN against an AVERAGE baseline (4): the features say NULL delta ...
    const [f] = await wh.query("SELECT quality_score, quality_score_baseline, quality_score_delta_pct FROM v_fb_weekly_features WHERE ad_id = 'A' AND week_start = '2026-02-16'");
    expect(f).toEqual({ quality_score: null, quality_score_baseline: 4, quality_score_delta_pct: null });
    // ... and the anomaly lists no quality_score (a stand-in 0 would be a -100 % trigger, first in the list),
    // while the week's real triggers (engagement down two steps, frequency, CTR, ...) are still there.
    const [a] = await wh.query<Row>("SELECT likely_triggers, preceding_deviations FROM v_cpr_anomalies WHERE ad_id = 'A' AND week_start = '2026-02-16'");
    const triggers = (a!.likely_triggers as Array<[string, number, number]>).map((t) => t[0]);
    expect(triggers).not.toContain('quality_score');
    expect(triggers[0]).toBe('engagement_score');
    const week0 = (a!.preceding_deviations as Array<[number, string, Array<[string]>]>)[0]!;
    expect(week0[2].map((d) => d[0])).not.toContain('quality_score');
    expect(week0[2].map((d) => d[0])).toContain('cpr');
  });

  it('v_fb_burnout_weekly and v_burnout_risk: indicators, score, level, drivers, prediction; latest week per active ad', async () => {
    const all = burnout(features(RAW)).map(burnoutRow).sort(byKey);
    expect(diff(await wh.query('SELECT * FROM v_fb_burnout_weekly ORDER BY account_id, ad_id, week_start'), all)).toEqual([]);
    const latest: Record<string, string> = {};
    for (const r of RAW) latest[r.account] = r.week > (latest[r.account] ?? '') ? r.week : latest[r.account]!;
    const risk = all.filter((r) => r.week_start === latest[r.account_id as string]);
    // B stopped before act_1's latest week: not at risk any more, not listed.
    expect(risk.map((r) => r.ad_id)).toEqual(['A', 'C']);
    expect(risk.map((r) => r.risk_level)).toEqual(['low', 'critical']);
    const rows = await wh.query('SELECT * FROM v_burnout_risk ORDER BY account_id, ad_id');
    expect(diff(rows, risk)).toEqual([]);
    expect(all.some((r) => r.risk_level === 'high' || r.risk_level === 'critical')).toBe(true);
  });

  it('v_fb_delivery_daily: delivering days, pauses with their length, and the status change that explains one', async () => {
    const rows = await wh.query('SELECT * FROM v_fb_delivery_daily ORDER BY account_id, ad_id, date');
    const expected = expectedDelivery();
    expect(diff(rows, expected)).toEqual([]);
    expect(expected.filter((r) => r.paused).map((r) => `${r.ad_id} ${r.date} ${r.gap_cause} ${r.status_change_object}`)).toEqual([
      'A 2026-03-03 delivery ', 'A 2026-03-04 delivery ', 'A 2026-03-06 status_change adset', 'A 2026-03-07 status_change adset',
      'B 2026-03-02 status_change ad', 'B 2026-03-03 status_change ad', 'E 2026-03-02 delivery ',
    ]);
  });

  it('reloading the same rows with a new _ver changes no view', async () => {
    const before = await results();
    for (const sql of analyticsFixtureStatements(2)) await wh.client.command({ query: sql });
    const [stored] = await wh.query<{ n: string }>('SELECT count() AS n FROM stg_fb_insights_weekly');
    expect(Number(stored!.n)).toBe(WEEKS.length * 2);
    expect(diff(await results(), before)).toEqual([]);
  });

  it('refresh records each detection once, per account when asked, and never rewrites a past one', async () => {
    expect(await analyticsViewsExist(wh.client)).toBe(true);
    const t1 = new Date('2026-03-10T08:00:00Z');
    const t2 = new Date('2026-03-10T09:00:00Z');
    const expected = expectedAnomalies();
    const act2 = expected.filter((r) => r.account_id === 'act_2').length;
    expect(await refreshAnalytics(wh.client, { accountIds: ['act_2'], detectedAt: t1 })).toMatchObject({ anomalies: act2, burnout: 1, computed: true });
    expect(await refreshAnalytics(wh.client, { detectedAt: t2 })).toMatchObject({ anomalies: expected.length - act2, burnout: 1, computed: false });
    expect(await refreshAnalytics(wh.client, { detectedAt: new Date('2026-03-10T10:00:00Z') })).toMatchObject({ anomalies: 0, burnout: 0, computed: false });
    const history = await wh.query<Row>(`SELECT toString(detected_at) AS at, account_id, ad_id, toString(week_start) AS week, current_value, trigger_metrics, deviation_week_offsets
      FROM fb_anomaly_history ORDER BY account_id, ad_id, week_start`);
    expect(history.map((r) => `${r.at} ${r.ad_id} ${r.week}`)).toEqual(
      expected.sort(byKey).map((r) => `${r.account_id === 'act_2' ? '2026-03-10 08:00:00' : '2026-03-10 09:00:00'} ${r.ad_id} ${r.week_start}`),
    );
    expect(diff(history.map((r) => [r.current_value, r.trigger_metrics, r.deviation_week_offsets]), expected.map((r) => [
      r.current_value, (r.likely_triggers as Array<[string]>).map((t) => t[0]), (r.preceding_deviations as Array<[number]>).map((p) => p[0]),
    ]))).toEqual([]);
    // "New since last time" is a query; the alert rule's and the reports' columns are there.
    expect(await wh.query(`SELECT ad_id FROM fb_anomaly_history WHERE detected_at > toDateTime('2026-03-10 08:30:00', 'UTC') AND account_id = 'act_2'`)).toEqual([]);
    expect((await wh.query('SELECT platform, account_id, ad_id, risk_level FROM v_burnout_risk ORDER BY ad_id')).map((r) => r.ad_id)).toEqual(['A', 'C']);
    const burn = await wh.query<Row>('SELECT ad_id, risk_level, driver_names FROM fb_burnout_history ORDER BY ad_id');
    expect(burn.map((r) => `${r.ad_id} ${r.risk_level}`)).toEqual(['A low', 'C critical']);
  });

  it('`adhouse analytics refresh` runs the same refresh; a bad account id is a usage error', async () => {
    const ok = await runCli(['analytics', 'refresh', '--account', 'act_1'], wh.env);
    expect(ok.stderr).toMatch(/analytics refresh for act_1: 0 new CPR anomalies, 0 new burnout row\(s\)/);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ anomalies: 0, burnout: 0, computed: false });
    const bad = await runCli(['analytics', 'refresh', '--account', 'x1'], wh.env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--account: expected an ad account id act_<digits>; got "x1"');
  });

  it('a dim_settings override moves the thresholds without a migration', async () => {
    await wh.client.command({ query: "INSERT INTO dim_settings (key, value, note, _ver) VALUES ('cpr_spike_ratio', 1.5, 'test', 1), ('min_results.purchase', 5, 'test', 1)" });
    const settings = { ...DEFAULTS, spikeRatio: 1.5, minResults: { ...DEFAULTS.minResults, purchase: 5 } };
    const expected = expectedAnomalies(settings).sort(byKey);
    expect(expected.length).toBeLessThan(expectedAnomalies().length);
    expect(diff(await wh.query('SELECT * FROM v_cpr_anomalies ORDER BY account_id, ad_id, week_start'), expected)).toEqual([]);
    expect(diff(await wh.query('SELECT * FROM v_fb_weekly_features ORDER BY account_id, ad_id, week_start'), features(RAW, settings).map(featureRow).sort(byKey))).toEqual([]);
  });
});
