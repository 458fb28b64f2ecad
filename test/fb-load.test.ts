// End to end: the Facebook sandbox -> the facebook loader -> a real ClickHouse; per account and day the
// loaded insights (and v_fb_daily_results) must equal the generator's ground truth.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import facebook from '../loaders/facebook/index.js';
import { startSandbox, type FbSandbox } from '../loaders/facebook/sandbox.js';
import { expectedFbDaily, FB_FAULT_ACCOUNTS, FB_SANDBOX_ACCOUNTS, type FbDayTruth } from '../loaders/facebook/world.js';
import type { LoaderDefinition } from '../src/runtime/contract.js';
import { runLoader } from '../src/runtime/run-loader.js';
import { expectBalanced } from './support/run-assertions.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';
import { FB_FAST as FAST } from './support/facebook.js';

const SEED = 7331;
const SINCE = '2026-01-01';
const UNTIL = '2026-01-28';
const loader = facebook as unknown as LoaderDefinition;
const ACCOUNTS = FB_SANDBOX_ACCOUNTS.map((a) => a.id);
/** Quick polls and waits: the sandbox's jobs finish after five polls whatever the delay. */

type DayRow = { account_id: string; date: string; rows: number; spend_cents: number; impressions: number; clicks: number; results: Record<string, number> };

/** What the warehouse holds per account and day in [since, until], in the ground truth's shape. */
async function loaded(wh: Warehouse, since: string, until: string): Promise<Map<string, FbDayTruth[]>> {
  const facts = await wh.query<{ account_id: string; day: string; rows: string; cents: string; impressions: string; clicks: string }>(
    `SELECT account_id, toString(date) AS day, count() AS rows, toString(sum(toInt64(spend * 100))) AS cents, sum(impressions) AS impressions, sum(clicks) AS clicks
     FROM stg_fb_insights_daily FINAL WHERE _deleted = 0 AND date BETWEEN toDate('${since}') AND toDate('${until}')
     GROUP BY account_id, day ORDER BY account_id, day`,
  );
  const fam = await wh.query<{ account_id: string; day: string; result_family: string; total: number }>(
    `SELECT account_id, toString(date) AS day, result_family, sum(results) AS total FROM v_fb_daily_results
     WHERE date BETWEEN toDate('${since}') AND toDate('${until}') GROUP BY account_id, day, result_family HAVING total > 0`,
  );
  const byKey = new Map<string, DayRow>();
  for (const f of facts) {
    byKey.set(`${f.account_id}|${f.day}`, { account_id: f.account_id, date: f.day, rows: Number(f.rows), spend_cents: Number(f.cents), impressions: Number(f.impressions), clicks: Number(f.clicks), results: {} });
  }
  for (const r of fam) byKey.get(`${r.account_id}|${r.day}`)!.results[r.result_family] = Number(r.total);
  const out = new Map<string, FbDayTruth[]>();
  for (const d of byKey.values()) {
    const list = out.get(d.account_id) ?? [];
    list.push({ date: d.date, rows: d.rows, spendCents: d.spend_cents, impressions: d.impressions, clicks: d.clicks, results: d.results });
    out.set(d.account_id, list);
  }
  return out;
}

function truth(accounts: readonly string[], since: string, until: string, asOf: string | null = null): Map<string, FbDayTruth[]> {
  return new Map(accounts.map((a) => [a, expectedFbDaily(SEED, a, since, until, { asOf })]));
}

describe('facebook load into ClickHouse', () => {
  let wh: Warehouse;
  let sandbox: FbSandbox;
  let env: Record<string, string>;

  beforeAll(async () => {
    wh = await freshWarehouse();
    sandbox = await startSandbox({ seed: SEED, faults: new Set() });
    env = { ...wh.env, ...sandbox.env, ...FAST };
  });
  afterAll(async () => {
    await sandbox?.close();
    await wh?.drop();
  });

  it('loads 28 days of every account (RUB, USD, EUR; archived and deleted ads) matching the ground truth', async () => {
    const s = await runLoader(loader, { env, since: SINCE, until: UNTIL });
    expectBalanced(s);
    expect(s.rowsQuarantined).toBe(0);
    const expected = truth(ACCOUNTS, SINCE, UNTIL);
    expect([...expected.values()].flat().length).toBeGreaterThan(100);
    expect(await loaded(wh, SINCE, UNTIL)).toEqual(expected);
    expect(sandbox.counters.asyncJobs).toBeGreaterThanOrEqual(ACCOUNTS.length);

    const accounts = await wh.query<{ account_id: string; currency: string; business_id: string | null; label: string }>(
      `SELECT account_id, currency, business_id, label FROM stg_fb_accounts FINAL ORDER BY account_id`,
    );
    expect(accounts.map((a) => [a.account_id, a.currency, a.business_id])).toEqual([
      ['act_1001', 'RUB', '9001'], ['act_1002', 'RUB', '9001'], ['act_2001', 'USD', '9002'], ['act_2002', 'EUR', '9002'], ['act_3001', 'RUB', null],
    ]);
    const currencies = await wh.query<{ account_id: string; c: string[] }>(`SELECT account_id, groupUniqArray(currency) AS c FROM stg_fb_insights_daily GROUP BY account_id ORDER BY account_id`);
    expect(currencies.find((c) => c.account_id === 'act_2002')!.c).toEqual(['EUR']);

    // Archived and deleted ads are in the structure, and their spend is in the insights.
    const [st] = await wh.query<{ ads: string; hidden: string; hidden_rows: string; campaigns_archived: string; with_city: string; budgets: string }>(
      `SELECT (SELECT count() FROM stg_fb_ads FINAL) AS ads,
              (SELECT count() FROM stg_fb_ads FINAL WHERE effective_status IN ('ARCHIVED', 'DELETED')) AS hidden,
              (SELECT count() FROM stg_fb_insights_daily FINAL WHERE ad_id IN (SELECT ad_id FROM stg_fb_ads FINAL WHERE effective_status IN ('ARCHIVED', 'DELETED'))) AS hidden_rows,
              (SELECT count() FROM stg_fb_campaigns FINAL WHERE effective_status = 'ARCHIVED') AS campaigns_archived,
              (SELECT count() FROM stg_fb_ads FINAL WHERE city != '' AND event_date IS NOT NULL) AS with_city,
              (SELECT count() FROM stg_fb_adsets FINAL WHERE daily_budget > 0) AS budgets`,
    );
    const world = [...sandbox.world.accounts.values()];
    expect(Number(st!.ads)).toBe(world.reduce((n, a) => n + a.ads.length, 0));
    expect(Number(st!.hidden)).toBeGreaterThan(0);
    expect(Number(st!.hidden_rows)).toBeGreaterThan(0);
    expect(Number(st!.campaigns_archived)).toBeGreaterThan(0);
    expect(Number(st!.with_city)).toBe(Number(st!.ads));
    expect(Number(st!.budgets)).toBeGreaterThan(0);
  });

  it('a second load and an overlapping window change nothing', async () => {
    // Pages decoded inline this time (the first load decoded them in a thread): the same rows, the same hashes.
    const again = await runLoader(loader, { env: { ...env, FB_DECODE_THREADS: '0' }, since: SINCE, until: UNTIL });
    expectBalanced(again);
    expect(again.rowsSkipped).toBeGreaterThan(0);
    expect(again.tables.stg_fb_insights_daily ?? 0).toBe(0);
    expect(again.tables.stg_fb_ads ?? 0).toBe(0);
    const overlap = await runLoader(loader, { env, since: '2026-01-20', until: '2026-02-03' });
    expectBalanced(overlap);
    expect(await loaded(wh, SINCE, UNTIL)).toEqual(truth(ACCOUNTS, SINCE, UNTIL));
  });

  it('structure is incremental by updated_time after a full pass', async () => {
    const before = sandbox.counters.incrementalLists;
    const ad = [...sandbox.world.accounts.get('act_3001')!.ads].find((a) => a.status === 'ARCHIVED' || a.status === 'DELETED') ?? sandbox.world.accounts.get('act_3001')!.ads[0]!;
    sandbox.renameAd(ad.id, 'Renamed upstream');
    const s = await runLoader(loader, { env, since: '2026-01-27', until: '2026-01-28' });
    expectBalanced(s);
    expect(sandbox.counters.incrementalLists).toBeGreaterThan(before);
    // Only the edited ad came back from the ads edge (creatives are always read whole, unchanged → skipped).
    expect(s.tables.stg_fb_ads).toBe(1);
    const [row] = await wh.query<{ name: string; effective_status: string }>(`SELECT name, effective_status FROM stg_fb_ads FINAL WHERE ad_id = '${ad.id}'`);
    expect(row).toEqual({ name: 'Renamed upstream', effective_status: ad.status });
  });

  it('late conversions: re-pulling the lookback updates past days', async () => {
    const wh2 = await freshWarehouse();
    const late = await startSandbox({ seed: SEED, faults: new Set(), asOf: '2026-01-20' });
    const env2 = { ...wh2.env, ...late.env, ...FAST, FB_ACCOUNTS: JSON.stringify([{ id: 'act_1001', business_id: '9001' }, { id: 'act_2001', access_token: 'fb-sb-2001' }]) };
    const two = ['act_1001', 'act_2001'];
    try {
      expectBalanced(await runLoader(loader, { env: env2, since: '2026-01-01', until: '2026-01-20' }));
      const early = truth(two, '2026-01-01', '2026-01-20', '2026-01-20');
      expect(await loaded(wh2, '2026-01-01', '2026-01-20')).toEqual(early);
      // A week later the same days carry more conversions; the next run's 28-day window re-reads them.
      late.setAsOf('2026-01-28');
      const s = await runLoader(loader, { env: env2, since: '2026-01-01', until: '2026-01-28' });
      expectBalanced(s);
      const later = truth(two, '2026-01-01', '2026-01-28', '2026-01-28');
      expect(await loaded(wh2, '2026-01-01', '2026-01-28')).toEqual(later);
      const changed = later.get('act_1001')!.filter((d) => d.date <= '2026-01-20' && JSON.stringify(d) !== JSON.stringify(early.get('act_1001')!.find((e) => e.date === d.date)));
      expect(changed.length).toBeGreaterThan(0);
    } finally {
      await late.close();
      await wh2.drop();
    }
  });

  it('with faults: the others load correctly, the run fails token_invalid naming the revoked account', async () => {
    const wh3 = await freshWarehouse();
    const faults = ['revoked_token', 'buc_block', 'code17', 'throttle', 'transient', 'async_fail', 'async_skip', 'async_read_flaky', 'too_many_rows', 'reduce_data'];
    const faulty = await startSandbox({ seed: SEED, faults: new Set(faults), bucBlockMs: 300, tooManyRows: 100, reduceDataRows: 12 });
    try {
      const s = await runLoader(loader, { env: { ...wh3.env, ...faulty.env, ...FAST }, since: SINCE, until: UNTIL });
      expect(s.status).toBe('failed');
      expect(s.errorClass).toBe('token_invalid');
      expect(s.errorMessage).toContain(FB_FAULT_ACCOUNTS.revoked_token);
      const others = ACCOUNTS.filter((a) => a !== FB_FAULT_ACCOUNTS.revoked_token);
      const got = await loaded(wh3, SINCE, UNTIL);
      expect(got.has(FB_FAULT_ACCOUNTS.revoked_token)).toBe(false);
      expect(got).toEqual(truth(others, SINCE, UNTIL));
      const c = faulty.counters;
      expect(c.tokenRejected).toBe(1); // never retried
      expect(c.bucBlocks).toBeGreaterThan(0);
      expect(c.code17).toBeGreaterThan(0);
      expect(c.throttledAnswers).toBeGreaterThan(0);
      expect(c.transient).toBeGreaterThan(0);
      expect(c.asyncFailed).toBeGreaterThan(0);
      expect(c.asyncSkipped).toBeGreaterThan(0);
      expect(c.earlyReads).toBeGreaterThan(0);
      expect(c.tooManyRows).toBeGreaterThan(0);
      expect(c.reduceData).toBeGreaterThan(0);
      expect(c.campaignFiltered).toBeGreaterThan(0);
      const [runs] = await wh3.query<{ error_class: string }>(`SELECT argMax(error_class, _ver) AS error_class FROM meta_job_runs WHERE run_id = '${s.runId}'`);
      expect(runs!.error_class).toBe('token_invalid');
    } finally {
      await faulty.close();
      await wh3.drop();
    }
  });
});
