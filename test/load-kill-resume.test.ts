// A load killed with SIGKILL mid-way and re-run gives exactly the totals of an uninterrupted run;
// the killed run shows as `interrupted`.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import vkAds from '../loaders/vk_ads/index.js';
import { expectedVkTotals, startSandbox, type VkSandbox } from '../loaders/vk_ads/sandbox.js';
import { runLoader } from '../src/runtime/run-loader.js';
import { startCli } from './support/cli.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

const SEED = 77;
const SINCE = '2026-03-01';
const UNTIL = '2026-03-31';

describe('a load killed with SIGKILL', () => {
  let wh: Warehouse;
  let sandbox: VkSandbox;
  beforeAll(async () => {
    wh = await freshWarehouse();
    sandbox = await startSandbox({ seed: SEED, faults: new Set() });
  });
  afterAll(async () => {
    await sandbox?.close();
    await wh?.drop();
  });

  it('is re-run to the exact totals and recorded as interrupted', async () => {
    // One row per INSERT makes the load long enough to be killed in the middle.
    const env = { ...wh.env, ...sandbox.env, SINK_BATCH_ROWS: '1', SINK_FLUSH_MS: '10000' };
    const child = startCli(['load', 'vk_ads', '--since', SINCE, '--until', UNTIL], env);
    const exited = new Promise((resolve) => child.on('exit', resolve));
    await vi.waitFor(
      async () => {
        const [r] = await wh.query<{ c: string }>('SELECT count() AS c FROM fact_vk_ads_daily');
        expect(Number(r!.c)).toBeGreaterThan(20);
      },
      { timeout: 30_000, interval: 50 },
    );
    child.kill('SIGKILL');
    await exited;

    const [partial] = await wh.query<{ c: string }>('SELECT count() AS c FROM fact_vk_ads_daily FINAL');
    const truth = expectedVkTotals(SEED, SINCE, UNTIL);
    expect(Number(partial!.c)).toBeLessThan(truth.rows);
    const killed = await wh.query<{ run_id: string; status: string }>(
      `SELECT run_id, argMax(status, _ver) AS status FROM meta_job_runs WHERE source = 'vk_ads' GROUP BY run_id`,
    );
    expect(killed).toHaveLength(1);
    expect(killed[0]!.status).toBe('running');

    const rerun = await runLoader(vkAds, { env: { ...wh.env, ...sandbox.env }, since: SINCE, until: UNTIL });
    expect(rerun.status, rerun.errorMessage).toBe('success');
    const [after] = await wh.query<{ status: string }>(`SELECT argMax(status, _ver) AS status FROM meta_job_runs WHERE run_id = '${killed[0]!.run_id}'`);
    expect(after!.status).toBe('interrupted');

    const [totals] = await wh.query<{ rows: string; shows: string; clicks: string; spent: string }>(
      `SELECT count() AS rows, sum(shows) AS shows, sum(clicks) AS clicks, toString(sum(spent)) AS spent FROM fact_vk_ads_daily FINAL WHERE _deleted = 0`,
    );
    expect({ rows: Number(totals!.rows), shows: Number(totals!.shows), clicks: Number(totals!.clicks), spent: Number(totals!.spent) }).toEqual({
      rows: truth.rows,
      shows: truth.shows,
      clicks: truth.clicks,
      spent: truth.spent,
    });
  });
});
