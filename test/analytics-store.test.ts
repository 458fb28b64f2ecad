// The stored copy of v_cpr_anomalies and v_burnout_risk (migration 0015, int_fb_analytics_store_gate): after a
// refresh the views serve it, and they compute again, exactly, as soon as anything they depend on changes:
// new insights rows, a setting, the day. Run on the hand-built fixture of test/analytics-views.test.ts, whose
// computed rows that test checks against the JavaScript model.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import facebook from '../loaders/facebook/index.js';
import { refreshAfterLoad, refreshAnalytics, refreshStore } from '../src/analytics/refresh.js';
import { defineLoader } from '../src/runtime/contract.js';
import { createLogger } from '../src/runtime/logger.js';
import { loaderJob } from '../src/service/jobs.js';
import { analyticsFixtureStatements, insert, WEEKS, weeklyRow } from './compat/analytics-fixture.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

type Row = Record<string, unknown>;
const ANOMALIES = 'SELECT * FROM v_cpr_anomalies ORDER BY account_id, ad_id, week_start';
const BURNOUT = 'SELECT * FROM v_burnout_risk ORDER BY account_id, ad_id';
const COMPUTED_ANOMALIES = 'SELECT * FROM int_fb_cpr_anomalies_computed ORDER BY account_id, ad_id, week_start';

/** A row planted in a stored generation: seen in v_cpr_anomalies only while that generation is served alone. */
const plant = (generation: string) =>
  `INSERT INTO fb_anomaly_store (generation, platform, account_id, ad_id, ad_name, week_start, anomaly_type)
   VALUES (${generation}, 'facebook', 'act_9', 'planted', 'planted', '2026-01-05', 'cpr_spike')`;

describe('the stored copy of the anomaly and burnout views', () => {
  let wh: Warehouse;
  let computedAnomalies: Row[];
  let computedBurnout: Row[];
  /** The newest generation and whether the views serve it. */
  const gate = async () => (await wh.query<{ generation: string; stored: number }>('SELECT toString(generation) AS generation, stored FROM int_fb_analytics_store_gate'))[0]!;
  const setting = (key: string, value: number, ver: number) =>
    wh.client.command({ query: `INSERT INTO dim_settings (key, value, note, _ver) VALUES ('${key}', ${value}, 'test', ${ver})` });
  const planted = async () => (await wh.query<Row>(ANOMALIES)).filter((r) => r.ad_id === 'planted').length;

  beforeAll(async () => {
    wh = await freshWarehouse();
    for (const sql of analyticsFixtureStatements(1)) await wh.client.command({ query: sql });
    // No refresh yet: no generation is served, the views compute.
    expect(await gate()).toEqual({ generation: '0', stored: 0 });
    computedAnomalies = await wh.query<Row>(ANOMALIES);
    computedBurnout = await wh.query<Row>(BURNOUT);
    expect(computedAnomalies.length).toBeGreaterThan(0);
    expect(computedBurnout.length).toBeGreaterThan(0);
  });
  afterAll(async () => wh.drop());

  it('a refresh computes the views once into a generation the views then serve, row for row the same', async () => {
    const first = await refreshAnalytics(wh.client);
    expect(first.computed).toBe(true);
    expect(await gate()).toEqual({ generation: first.generation, stored: 1 });
    expect(await wh.query(ANOMALIES)).toEqual(computedAnomalies);
    expect(await wh.query(BURNOUT)).toEqual(computedBurnout);
    // Nothing changed: the next refresh keeps the generation and computes nothing.
    expect(await refreshAnalytics(wh.client)).toMatchObject({ generation: first.generation, computed: false, anomalies: 0, burnout: 0 });
    // Served from the store: a row planted in the generation shows (the computed rows have none).
    await wh.client.command({ query: plant(first.generation) });
    expect(await planted()).toBe(1);
    expect((await wh.query<Row>(COMPUTED_ANOMALIES)).filter((r) => r.ad_id === 'planted')).toEqual([]);
  });

  it('new insights rows make the views compute at once, with the new rows in; the next refresh stores them', async () => {
    const served = (await gate()).generation;
    expect(await planted()).toBe(1);
    // A later version of one spike week with twice the spend: its CPR doubles.
    const spike = computedAnomalies[0]!;
    const week = WEEKS.find((w) => w.account === spike.account_id && w.ad === spike.ad_id && w.week === spike.week_start)!;
    await wh.client.command({ query: insert('stg_fb_insights_weekly', [weeklyRow({ ...week, spend: week.spend * 2 }, 5)]) });
    expect(await gate()).toEqual({ generation: served, stored: 0 });
    const now = await wh.query<Row>(ANOMALIES);
    expect(now.filter((r) => r.ad_id === 'planted')).toEqual([]);
    const changed = now.find((r) => r.ad_id === spike.ad_id && r.week_start === spike.week_start)!;
    expect(changed.current_value as number).toBeCloseTo((spike.current_value as number) * 2, 9);
    expect(now).toEqual(await wh.query(COMPUTED_ANOMALIES));

    const next = await refreshAnalytics(wh.client);
    expect(next.computed).toBe(true);
    expect(BigInt(next.generation)).toBeGreaterThan(BigInt(served));
    expect(await gate()).toEqual({ generation: next.generation, stored: 1 });
    expect(await wh.query(ANOMALIES)).toEqual(now);
  });

  it('a settings override or another day stops the generation being served', async () => {
    const served = (await gate()).generation;
    await wh.client.command({ query: plant(served) });
    expect(await planted()).toBe(1);
    // A ratio no week reaches: the served rows would not be empty.
    await setting('cpr_spike_ratio', 100, 2);
    expect((await gate()).stored).toBe(0);
    expect(await wh.query<Row>(ANOMALIES)).toEqual([]);
    await setting('cpr_spike_ratio', 1.2, 3);

    const today = await refreshStore(wh.client);
    await wh.client.command({ query: plant(today.generation) });
    expect(await planted()).toBe(1);
    // The same data, computed yesterday: maturity and the latest complete week depend on the day.
    await wh.client.command({
      query: `INSERT INTO fb_analytics_store_state SELECT ${BigInt(today.generation) + 1n}, fingerprint, yesterday(), now() - 3600 FROM int_fb_analytics_fingerprint`,
    });
    expect((await gate()).stored).toBe(0);
    expect(await planted()).toBe(0);
    expect(await wh.query(BURNOUT)).toEqual(await wh.query('SELECT * FROM int_fb_burnout_risk_computed ORDER BY account_id, ad_id'));
  });

  it('keeps the two newest generations only', async () => {
    for (let i = 0; i < 3; i++) {
      await setting('min_baseline_weeks', 2, 10 + i); // a change, so each refresh computes
      expect((await refreshStore(wh.client)).computed).toBe(true);
    }
    const generations = await wh.query<{ table: string; n: string }>(
      `SELECT table, toString(uniqExact(partition)) AS n FROM system.parts WHERE database = currentDatabase() AND active AND table IN ('fb_anomaly_store', 'fb_burnout_store') GROUP BY table ORDER BY table`,
    );
    expect(generations).toEqual([{ table: 'fb_anomaly_store', n: '2' }, { table: 'fb_burnout_store', n: '2' }]);
  });

  it('reads only the branch the gate picks: the computing chain is not even analysed', async () => {
    await refreshStore(wh.client);
    expect((await gate()).stored).toBe(1);
    const served = await wh.query<Row>(ANOMALIES);
    // With the computing chain's top view renamed away, a read that analysed it would fail.
    await wh.client.command({ query: 'RENAME TABLE int_fb_cpr_anomalies_computed TO int_fb_cpr_anomalies_hidden' });
    try {
      expect(await wh.query<Row>(ANOMALIES)).toEqual(served);
      await setting('min_baseline_weeks', 2, 25); // stale: now the views must compute, and cannot
      await expect(wh.query(ANOMALIES)).rejects.toThrow(/int_fb_cpr_anomalies_computed/);
    } finally {
      await wh.client.command({ query: 'RENAME TABLE int_fb_cpr_anomalies_hidden TO int_fb_cpr_anomalies_computed' });
    }
  });

  it('a scheduled Facebook load is followed by the refresh, so the copy is current again', async () => {
    expect(facebook.afterLoad).toBe(refreshAfterLoad);
    await setting('min_baseline_weeks', 2, 30);
    expect((await gate()).stored).toBe(0);
    // The real loader's follow-up after a load that stored nothing new (the fixture stands for its rows).
    const loader = defineLoader({ ...facebook, config: z.object({}), run: async () => {}, afterLoad: facebook.afterLoad });
    const job = loaderJob(loader, { env: wh.env, client: wh.client, log: createLogger('silent', false) });
    const result = await job.run(new AbortController().signal);
    expect(result.outcome).toBe('success');
    expect(result.message).toMatch(/; analytics refreshed: 0 new CPR anomalies, 0 new burnout row\(s\)$/);
    expect((await gate()).stored).toBe(1);
  });
});
