// End to end: the VK sandbox -> the vk_ads loader -> a real ClickHouse; totals compared with the ground truth.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import vkAds from '../loaders/vk_ads/index.js';
import { expectedVkTotals, startSandbox, type VkSandbox } from '../loaders/vk_ads/sandbox.js';
import { runLoader, type RunSummary } from '../src/runtime/run-loader.js';
import { expectBalanced } from './support/run-assertions.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

const SEED = 4242;
const SINCE = '2026-01-01';
const UNTIL = '2026-01-30';

interface Totals {
  rows: string;
  shows: string;
  clicks: string;
  spent: string;
}

async function factTotals(wh: Warehouse): Promise<{ rows: number; shows: number; clicks: number; spent: number }> {
  const [t] = await wh.query<Totals>(
    `SELECT count() AS rows, sum(shows) AS shows, sum(clicks) AS clicks, toString(sum(spent)) AS spent
     FROM fact_vk_ads_daily FINAL WHERE date BETWEEN toDate('${SINCE}') AND toDate('${UNTIL}') AND _deleted = 0`,
  );
  return { rows: Number(t!.rows), shows: Number(t!.shows), clicks: Number(t!.clicks), spent: Number(t!.spent) };
}


describe('vk_ads load into ClickHouse', () => {
  let wh: Warehouse;
  let sandbox: VkSandbox;
  const truth = expectedVkTotals(SEED, SINCE, UNTIL);
  const truthRow = { rows: truth.rows, shows: truth.shows, clicks: truth.clicks, spent: truth.spent };

  beforeAll(async () => {
    wh = await freshWarehouse();
    sandbox = await startSandbox({ seed: SEED, faults: new Set() });
  });
  afterAll(async () => {
    await sandbox?.close();
    await wh?.drop();
  });

  it('loads a 30-day window that matches the ground truth', async () => {
    expect(truth.rows).toBeGreaterThan(500);
    const s = await runLoader(vkAds, { env: { ...wh.env, ...sandbox.env }, since: SINCE, until: UNTIL });
    expectBalanced(s);
    expect(s.rowsQuarantined).toBe(0);
    expect(await factTotals(wh)).toEqual(truthRow);
    // Zero-filled days were read and skipped, not written.
    expect(s.rowsSkipped).toBeGreaterThan(0);
    const [structure] = await wh.query<{ plans: string; groups: string; banners: string; deleted: string }>(
      `SELECT (SELECT count() FROM stg_vk_ad_plans FINAL) AS plans, (SELECT count() FROM stg_vk_ad_groups FINAL) AS groups,
              (SELECT count() FROM stg_vk_banners FINAL) AS banners, (SELECT count() FROM stg_vk_banners FINAL WHERE status = 'deleted') AS deleted`,
    );
    expect(Number(structure!.banners)).toBeGreaterThanOrEqual(60);
    expect(Number(structure!.deleted)).toBeGreaterThan(0);
    const origins = await wh.query<{ utm_origin: string }>(`SELECT DISTINCT utm_origin FROM fact_vk_ads_daily FINAL ORDER BY utm_origin`);
    expect(origins.map((o) => o.utm_origin)).toEqual(expect.arrayContaining(['url', 'fallback', 'mixed']));
    // Each account in its own currency (user.json): the agency client's cabinet is in US dollars.
    const cur = await wh.query<{ account_id: string; c: string[] }>(`SELECT account_id, groupUniqArray(currency) AS c FROM fact_vk_ads_daily GROUP BY account_id ORDER BY account_id`);
    expect(cur).toEqual([{ account_id: 'vk_agency_client', c: ['USD'] }, { account_id: 'vk_direct', c: ['RUB'] }]);
  });

  it('a second load and an overlapping window change nothing', async () => {
    const again = await runLoader(vkAds, { env: { ...wh.env, ...sandbox.env }, since: SINCE, until: UNTIL });
    expectBalanced(again);
    // Every non-zero row is unchanged, so nothing facts-wise is rewritten.
    expect(again.tables.fact_vk_ads_daily ?? 0).toBe(0);
    const overlap = await runLoader(vkAds, { env: { ...wh.env, ...sandbox.env }, since: '2026-01-20', until: '2026-02-05' });
    expectBalanced(overlap);
    expect(await factTotals(wh)).toEqual(truthRow);
  });

  it('--account loads only that account', async () => {
    const one = await freshWarehouse();
    try {
      const s = await runLoader(vkAds, { env: { ...one.env, ...sandbox.env }, since: SINCE, until: UNTIL, account: 'vk_agency_client' });
      expectBalanced(s);
      const rows = await one.query<{ account_id: string }>(`SELECT DISTINCT account_id FROM fact_vk_ads_daily`);
      expect(rows).toEqual([{ account_id: 'vk_agency_client' }]);
      const t = expectedVkTotals(SEED, SINCE, UNTIL, ['vk_agency_client']);
      const [c] = await one.query<{ n: string }>(`SELECT count() AS n FROM fact_vk_ads_daily FINAL`);
      expect(Number(c!.n)).toBe(t.rows);
    } finally {
      await one.drop();
    }
  });

  it('a day corrected to zero upstream (refund) replaces the stored non-zero row with a zero row', async () => {
    const wh3 = await freshWarehouse();
    const refunded = await startSandbox({ seed: SEED, faults: new Set(['refund']) });
    try {
      const first = await runLoader(vkAds, { env: { ...wh3.env, ...sandbox.env }, since: SINCE, until: UNTIL });
      expectBalanced(first);
      expect(await factTotals(wh3)).toEqual(truthRow);
      const after = expectedVkTotals(SEED, SINCE, UNTIL, undefined, { refund: true });
      expect(after.zeroed).toBeGreaterThan(10);
      // A second pull of the same window from an upstream that has zeroed those days.
      const second = await runLoader(vkAds, { env: { ...wh3.env, ...refunded.env }, since: SINCE, until: UNTIL });
      expectBalanced(second);
      expect(second.tables.fact_vk_ads_daily).toBe(after.zeroed);
      // FINAL sums equal the corrected truth; the corrected days are present as zero rows.
      expect(await factTotals(wh3)).toEqual({ rows: after.rows + after.zeroed, shows: after.shows, clicks: after.clicks, spent: after.spent });
      const [z] = await wh3.query<{ n: string; nonzero: string }>(
        `SELECT count() AS n, countIf(shows != 0 OR spent != 0 OR clicks != 0) AS nonzero FROM fact_vk_ads_daily FINAL
         WHERE date BETWEEN toDate('${SINCE}') AND toDate('${UNTIL}') AND _deleted = 0 AND shows = 0 AND spent = 0`,
      );
      expect(Number(z!.n)).toBe(after.zeroed);
      expect(Number(z!.nonzero)).toBe(0);
      // A third pull changes nothing: zero rows that are stored as zero are not rewritten.
      const third = await runLoader(vkAds, { env: { ...wh3.env, ...refunded.env }, since: SINCE, until: UNTIL });
      expectBalanced(third);
      expect(third.tables.fact_vk_ads_daily ?? 0).toBe(0);
    } finally {
      await refunded.close();
      await wh3.drop();
    }
  });

  it('with rate limits, 5xx, token expiry and malformed rows: same totals, bad rows quarantined', async () => {
    const faulty = await startSandbox({ seed: SEED, faults: new Set(['rate_limit', '5xx', 'token_expiry', 'malformed', 'duplicate_rows', 'list_churn']) });
    const wh2 = await freshWarehouse();
    try {
      const s = await runLoader(vkAds, { env: { ...wh2.env, ...faulty.env }, since: SINCE, until: UNTIL });
      expectBalanced(s);
      expect(s.rowsQuarantined).toBeGreaterThan(0);
      expect(await factTotals(wh2)).toEqual(truthRow);
      expect(faulty.counters.rateLimited).toBeGreaterThan(0);
      expect(faulty.counters.errors5xx).toBeGreaterThan(0);
      expect(faulty.counters.expiredAnswers).toBeGreaterThan(0);
      expect(faulty.counters.refreshes).toBeGreaterThan(0);
      const reasons = await wh2.query<{ reason: string }>(`SELECT reason FROM meta_quarantine FINAL WHERE source = 'vk_ads' AND target_table = 'fact_vk_ads_daily'`);
      const text = reasons.map((r) => r.reason).join('\n');
      expect(text).toMatch(/negative spent/);
      expect(text).toMatch(/empty spent/);
      expect(text).toMatch(/outside the requested window/);
      expect(text).toMatch(/unknown banner/);
    } finally {
      await faulty.close();
      await wh2.drop();
    }
  });
});
