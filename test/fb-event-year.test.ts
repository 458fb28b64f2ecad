// Facebook spend reaches ROMI through the event day in the ad's UTM. The ad-level parse is anchored to the
// ad's creation, so v_ads_daily re-anchors the year to each spend day, like the per-day VK and Direct parses.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import facebook from '../loaders/facebook/index.js';
import { startSandbox } from '../loaders/facebook/sandbox.js';
import type { LoaderDefinition } from '../src/runtime/contract.js';
import { addDays, todayIn } from '../src/runtime/dates.js';
import { runLoader } from '../src/runtime/run-loader.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

describe('facebook event days in v_ads_daily', () => {
  let wh: Warehouse;
  let sandbox: Awaited<ReturnType<typeof startSandbox>>;
  beforeAll(async () => {
    wh = await freshWarehouse();
    sandbox = await startSandbox({ seed: 2, faults: new Set() });
  });
  afterAll(async () => {
    await sandbox?.close();
    await wh?.drop();
  });

  it('puts every event within half a year of its spend day, keeping its day and month', async () => {
    const until = addDays(todayIn('Europe/Moscow'), -1);
    const run = await runLoader(facebook as unknown as LoaderDefinition, { env: { ...wh.env, ...sandbox.env, FACEBOOK_RPS: '200' }, since: addDays(until, -29), until });
    expect(run.status, run.errorMessage).toBe('success');
    const rows = await wh.query<{ date: string; event_date: string; parsed: string }>(
      `SELECT toString(a.date) AS date, toString(a.event_date) AS event_date, toString(f.event_date) AS parsed
       FROM (SELECT date, account_id, ad_id, event_date FROM v_ads_daily WHERE platform = 'facebook' AND event_date IS NOT NULL) AS a
       ALL INNER JOIN (SELECT account_id, toString(ad_id) AS ad_id, event_date FROM stg_fb_ads FINAL) AS f USING (account_id, ad_id)`,
    );
    expect(rows.length).toBeGreaterThan(20);
    for (const r of rows) {
      const gap = Math.abs(Date.parse(`${r.event_date}T00:00:00Z`) - Date.parse(`${r.date}T00:00:00Z`)) / 86_400_000;
      expect(gap, `${r.date} -> ${r.event_date}`).toBeLessThanOrEqual(184);
      expect(r.event_date.slice(5)).toBe(r.parsed.slice(5));
    }
  });
});
