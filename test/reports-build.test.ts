// Building a digest on fixture rows with known values: totals, Δ and Δ% against hand-computed numbers,
// top campaigns, the ROMI summary, optional sections, periods and schedules.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReport, defaultPeriod, previousPeriod, type Report } from '../src/reports/build.js';
import { parseReports, scheduleToCron } from '../src/reports/definitions.js';
import { loadReports } from '../src/reports/definitions.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';
import { definition, insertFixture, PERIOD } from './golden/reports/fixture.js';

const metric = (r: Report, name: string) => r.metrics.find((m) => m.metric === name)!;

describe('report building', () => {
  let wh: Warehouse;
  beforeAll(async () => {
    wh = await freshWarehouse();
    await insertFixture(wh);
  });
  afterAll(async () => {
    await wh?.drop();
  });

  it('totals and Δ for the period against the previous one', async () => {
    const r = await buildReport(wh.client, definition(), { period: PERIOD });
    expect(r.previous).toEqual({ from: '2026-03-01', to: '2026-03-01' });
    // Direct 500 + 300, Avito views count as clicks and contacts as results (v_ads_daily).
    expect(metric(r, 'spend')).toEqual({ metric: 'spend', current: 800, previous: 400, delta: 400, deltaPct: 1 });
    expect(metric(r, 'impressions')).toMatchObject({ current: 3000, previous: 800, delta: 2200 });
    expect(metric(r, 'clicks')).toMatchObject({ current: 180, previous: 120, delta: 60, deltaPct: 0.5 });
    expect(metric(r, 'results')).toMatchObject({ current: 12, previous: 8, delta: 4, deltaPct: 0.5 });
    expect(metric(r, 'ctr').current).toBeCloseTo(0.06, 10);
    expect(metric(r, 'ctr').previous).toBeCloseTo(0.15, 10);
    expect(metric(r, 'cpc').current).toBeCloseTo(800 / 180, 10);
    expect(metric(r, 'cpm').current).toBeCloseTo(800 / 3, 10);
    expect(metric(r, 'cpm').previous).toBeCloseTo(500, 10);
    expect(metric(r, 'cpr').current).toBeCloseTo(800 / 12, 10);
    expect(metric(r, 'cpr').previous).toBeCloseTo(50, 10);
    // Sales by the Moscow day of sold_at: o2 (21:30 UTC on the 1st) belongs to the 2nd.
    expect(metric(r, 'revenue')).toEqual({ metric: 'revenue', current: 450, previous: 600, delta: -150, deltaPct: -0.25 });
    expect(metric(r, 'tickets')).toEqual({ metric: 'tickets', current: 3, previous: 3, delta: 0, deltaPct: 0 });
    expect(metric(r, 'roas').current).toBeCloseTo(0.5625, 10);
    expect(metric(r, 'roas').previous).toBeCloseTo(1.5, 10);
    expect(metric(r, 'romi').current).toBeCloseTo(-0.4375, 10);
    expect(metric(r, 'romi').previous).toBeCloseTo(0.5, 10);
    expect(metric(r, 'avito_views')).toMatchObject({ current: 100, previous: 80, delta: 20, deltaPct: 0.25 });
    expect(metric(r, 'avito_contacts')).toMatchObject({ current: 7, previous: 4, delta: 3, deltaPct: 0.75 });
    expect(metric(r, 'avito_balance')).toEqual({ metric: 'avito_balance', current: 850, previous: 1000, delta: -150, deltaPct: -0.15 });
  });

  it('top campaigns by spend, the ROMI summary; empty anomaly sections without detections', async () => {
    const r = await buildReport(wh.client, definition(), { period: PERIOD });
    expect(r.topCampaigns).toEqual([
      { platform: 'direct', accountId: 'acc1', campaignId: '1', campaignName: 'Spring <Promo> & Co', spend: 500, impressions: 1000, clicks: 50, results: 5, cpr: 100 },
      { platform: 'direct', accountId: 'acc1', campaignId: '2', campaignName: 'Brand', spend: 300, impressions: 2000, clicks: 30, results: 0, cpr: null },
    ]);
    // moscow 2026-03-20: revenue 450 against spend 900 (both days) → red; kazan: no spend.
    expect(r.romi).toEqual({ counts: { green: 0, yellow: 0, red: 1, no_spend: 1 }, red: [{ city: 'moscow', eventDate: '2026-03-20', revenue: 450, spend: 900, roas: 0.5 }] });
    expect(r.anomalies).toEqual([]);
    expect(r.atRisk).toEqual([]);
    expect(r.notes).toEqual([]);
  });

  it('filters platforms and metrics; a longer period compares with the same length before', async () => {
    const r = await buildReport(wh.client, definition({ platforms: ['avito'], metrics: ['clicks', 'spend', 'avito_views'], topCampaigns: 0 }), { period: { from: '2026-03-01', to: '2026-03-02' } });
    expect(r.previous).toEqual({ from: '2026-02-27', to: '2026-02-28' });
    expect(r.metrics.map((m) => [m.metric, m.current, m.previous])).toEqual([['clicks', 180, 0], ['spend', 0, 0], ['avito_views', 180, 0]]);
    expect(r.topCampaigns).toEqual([]);
    expect(r.romi).toBeNull();
  });

  it('new anomalies of the period and at-risk ads are listed', async () => {
    // v_burnout_risk is replaced by a one-row stand-in here (its own logic is tested in analytics-views).
    await wh.client.command({ query: 'DROP TABLE v_burnout_risk' });
    await wh.client.command({ query: "CREATE VIEW v_burnout_risk AS SELECT 'facebook' AS platform, 'act_1' AS account_id, 'ad9' AS ad_id, 'critical' AS risk_level" });
    await wh.client.insert({ table: 'fb_anomaly_history', format: 'JSONEachRow', values: [{ account_id: 'act_1', ad_id: 'ad7', detected_at: '2026-03-02 08:00:00' }, { account_id: 'act_1', ad_id: 'ad8', detected_at: '2026-02-20 08:00:00' }] });
    try {
      const r = await buildReport(wh.client, definition(), { period: PERIOD });
      expect(r.anomalies).toEqual([{ accountId: 'act_1', adId: 'ad7', detectedAt: '2026-03-02 08:00:00' }]);
      expect(r.atRisk).toEqual([{ platform: 'facebook', accountId: 'act_1', adId: 'ad9', riskLevel: 'critical' }]);
    } finally {
      await wh.client.command({ query: 'ALTER TABLE fb_anomaly_history DROP PARTITION 202603' });
      await wh.client.command({ query: 'ALTER TABLE fb_anomaly_history DROP PARTITION 202602' });
    }
  });
});

describe('periods and schedules', () => {
  it('the last complete period of each kind, in the report time zone', () => {
    const now = new Date('2026-03-04T22:30:00Z'); // Thursday 2026-03-05 01:30 in Moscow
    expect(defaultPeriod('day', 'Europe/Moscow', now)).toEqual({ from: '2026-03-04', to: '2026-03-04' });
    expect(defaultPeriod('today', 'Europe/Moscow', now)).toEqual({ from: '2026-03-05', to: '2026-03-05' });
    expect(defaultPeriod('week', 'Europe/Moscow', now)).toEqual({ from: '2026-02-23', to: '2026-03-01' });
    expect(defaultPeriod('month', 'Europe/Moscow', now)).toEqual({ from: '2026-02-01', to: '2026-02-28' });
    expect(defaultPeriod('day', 'UTC', now)).toEqual({ from: '2026-03-03', to: '2026-03-03' });
    expect(previousPeriod({ from: '2026-02-01', to: '2026-02-28' })).toEqual({ from: '2026-01-04', to: '2026-01-31' });
  });

  it('schedules become node-cron expressions; a bad one is a one-line error', () => {
    expect(scheduleToCron('daily 09:00')).toBe('0 9 * * *');
    expect(scheduleToCron('every 4 hours')).toBe('0 */4 * * *');
    expect(scheduleToCron('every 1 hour')).toBe('0 * * * *');
    expect(scheduleToCron('weekly on mon,Thu 09:30')).toBe('30 9 * * 1,4');
    expect(scheduleToCron('weekly on sunday 7:05')).toBe('5 7 * * 0');
    expect(scheduleToCron('monthly on 1 10:00')).toBe('0 10 1 * *');
    for (const bad of ['daily 25:00', 'every 0 hours', 'weekly on funday 09:00', 'monthly on 31 10:00', 'hourly']) expect(() => scheduleToCron(bad)).toThrow(TypeError);
    expect(() => parseReports('reports:\n  - name: x\n    schedule: daily 9am\n    period: day\n', {}, 'r.yaml', 'UTC')).toThrow(/^REPORTS_FILE: r\.yaml: reports\[0\]\.schedule: expected a time HH:MM; got "9am"$/);
    expect(() => parseReports('reports:\n  - name: x\n    schedule: daily 09:00\n    period: year\n', {}, 'r.yaml', 'UTC')).toThrow(/^REPORTS_FILE: r\.yaml: reports\[0\]\.period: /);
  });

  it('the built-in reports: daily, 4h, weekly, monthly with ${VAR} recipients', () => {
    const reports = loadReports(undefined, { REPORT_TELEGRAM_CHAT_ID: '-100, -200', REPORT_EMAIL_TO: 'a@example.com' }, 'Europe/Moscow');
    expect(reports.map((r) => [r.name, r.cron, r.period])).toEqual([['daily', '0 9 * * *', 'day'], ['4h', '0 */4 * * *', 'today'], ['weekly', '30 9 * * 1', 'week'], ['monthly', '0 10 1 * *', 'month']]);
    expect(reports[0]!.recipients).toEqual({ email: ['a@example.com'], telegram: ['-100', '-200'] });
    expect(reports[1]!.recipients).toEqual({ email: [], telegram: ['-100', '-200'] });
    expect(reports.every((r) => r.timezone === 'Europe/Moscow')).toBe(true);
  });
});

describe('the reports job factory', () => {
  it('schedules one report:<name> job per report with recipients, on its cron', async () => {
    const { reportsJobFactory, DEFAULT_JOB_FACTORIES } = await import('../src/service/jobs.js');
    const { logger } = await import('../src/runtime/logger.js');
    expect(DEFAULT_JOB_FACTORIES).toContain(reportsJobFactory);
    const ctx = (env: Record<string, string>) => ({ env, client: {} as never, log: logger('silent') });
    expect(reportsJobFactory(ctx({}))).toEqual([]);
    const jobs = reportsJobFactory(ctx({ REPORT_TELEGRAM_CHAT_ID: '-1' }));
    expect(jobs.map((j) => [j.name, j.schedule])).toEqual([['report:daily', '0 9 * * *'], ['report:4h', '0 */4 * * *'], ['report:weekly', '30 9 * * 1'], ['report:monthly', '0 10 1 * *']]);
  });
});
