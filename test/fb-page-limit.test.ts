// "Please reduce the amount of data" on a page after the first (structure edges, sync insights pages, async
// report pages): the loader asks the same page again with half the `limit` and goes on from there. Nothing
// fails as config and no row is read twice (a date split after pages were read would re-read them).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import facebook from '../loaders/facebook/index.js';
import { startSandbox, type FbSandbox } from '../loaders/facebook/sandbox.js';
import { expectedFbDaily, expectedFbWeekly } from '../loaders/facebook/world.js';
import type { LoaderDefinition } from '../src/runtime/contract.js';
import { runLoader } from '../src/runtime/run-loader.js';
import { expectBalanced } from './support/run-assertions.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';
import { FB_FAST as FAST } from './support/facebook.js';

const SEED = 7331;
const loader = facebook as unknown as LoaderDefinition;

describe('facebook pages that are too big', () => {
  let wh: Warehouse;
  let sb: FbSandbox;
  beforeAll(async () => {
    wh = await freshWarehouse();
    sb = await startSandbox({ seed: SEED, faults: new Set(['reduce_data_pages']), reducePageLimit: 5 });
  });
  afterAll(async () => {
    await sb?.close();
    await wh?.drop();
  });

  // act_1001: 32 ads; 12 rows per structure page and 20 per insights page make several pages of each.
  const env = () => ({ ...wh.env, ...sb.env, ...FAST, FB_PAGE_LIMIT: '12', FB_INSIGHTS_PAGE_LIMIT: '20', FB_ACCOUNTS: JSON.stringify([{ id: 'act_1001', business_id: '9001' }]) });

  it('structure edges: halves the page size and goes on (not a config error), every object once', async () => {
    const before = sb.counters.reducedPages;
    const s = await runLoader(loader, { env: env(), since: '2026-01-12', until: '2026-01-12', params: { steps: ['structure'] } });
    expectBalanced(s);
    expect(sb.counters.reducedPages).toBeGreaterThan(before);
    const acct = sb.world.accounts.get('act_1001')!;
    expect([s.tables.stg_fb_campaigns, s.tables.stg_fb_adsets, s.tables.stg_fb_ads, s.tables.stg_fb_creatives]).toEqual([acct.campaigns.length, acct.adsets.length, acct.ads.length, acct.creatives.length]);
  });

  it('sync insights: a later page refused is read again smaller, not the whole range split and re-read', async () => {
    const before = sb.counters.reducedPages;
    const s = await runLoader(loader, { env: env(), since: '2026-01-12', until: '2026-01-14', params: { steps: ['daily'] } });
    expectBalanced(s);
    expect(sb.counters.reducedPages).toBeGreaterThan(before);
    expect(sb.counters.campaignFiltered).toBe(0);
    // Every row once: on a fresh table the written count equals the truth's (a re-read writes rows twice).
    const daily = expectedFbDaily(SEED, 'act_1001', '2026-01-12', '2026-01-14');
    expect(s.tables.stg_fb_insights_daily).toBe(daily.reduce((n, d) => n + d.rows, 0));
    const [got] = await wh.query<{ cents: string }>(`SELECT toString(sum(toInt64(spend * 100))) AS cents FROM stg_fb_insights_daily FINAL`);
    expect(got!.cents).toBe(String(daily.reduce((n, d) => n + d.spendCents, 0)));
  });

  it('async report pages: halves the page size and goes on, every row once', async () => {
    const [before, jobs] = [sb.counters.reducedPages, sb.counters.asyncJobs];
    const w = await runLoader(loader, { env: env(), since: '2026-01-05', until: '2026-01-18', params: { steps: ['weekly'] } });
    expectBalanced(w);
    expect(sb.counters.reducedPages).toBeGreaterThan(before);
    expect(sb.counters.asyncJobs).toBeGreaterThan(jobs);
    const weekly = expectedFbWeekly(SEED, 'act_1001', '2026-01-05', '2026-01-12');
    expect(w.tables.stg_fb_insights_weekly).toBe(weekly.reduce((n, d) => n + d.rows, 0));
  });
});
