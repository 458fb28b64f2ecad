// End to end: the Direct sandbox -> the direct loader -> a real ClickHouse; totals compared with the ground truth.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import direct from '../loaders/direct/index.js';
import { chooseDateRange } from '../loaders/direct/index.js';
import { correctedSince, DIRECT_SANDBOX_LOGINS, directWorld, expectedDirectTotals, reportRows, startSandbox, vanishes } from '../loaders/direct/sandbox.js';
import { MICROS_MIN_EVIDENCE } from '../loaders/direct/tsv.js';
import { writeCursor } from '../src/runtime/cursor.js';
import { addDays, todayIn } from '../src/runtime/dates.js';
import type { RunningSandbox } from '../src/runtime/sandbox.js';
import { runLoader, type RunSummary } from '../src/runtime/run-loader.js';
import { expectBalanced } from './support/run-assertions.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

const SEED = 2718;
const SINCE = '2026-03-01';
const UNTIL = '2026-03-30';
// The loader's default 2 requests/s is for the real API; the fake takes more, and tests stay short.
const FAST = { DIRECT_RPS: '20' };

interface Totals {
  rows: number;
  impressions: number;
  clicks: number;
  cost: number;
}

async function factTotals(wh: Warehouse, since = SINCE, until = UNTIL): Promise<Totals> {
  const [t] = await wh.query<Record<string, string>>(
    `SELECT count() AS rows, sum(impressions) AS impressions, sum(clicks) AS clicks, toString(sum(cost)) AS cost
     FROM fact_direct_daily FINAL WHERE date BETWEEN toDate('${since}') AND toDate('${until}') AND _deleted = 0`,
  );
  return { rows: Number(t!.rows), impressions: Number(t!.impressions), clicks: Number(t!.clicks), cost: Number(t!.cost) };
}

function truthOf(since = SINCE, until = UNTIL, logins: readonly string[] = DIRECT_SANDBOX_LOGINS, opts: { vanishing?: boolean } = {}): Totals {
  const t = expectedDirectTotals(SEED, since, until, logins, opts);
  return { rows: t.rows, impressions: t.impressions, clicks: t.clicks, cost: Math.round(t.cost * 100) / 100 };
}

/** The fact keys (login, campaign, ad, date) that the vanishing_rows fault leaves out of the report. */
function vanishedKeys(since: string, until: string, logins: readonly string[] = DIRECT_SANDBOX_LOGINS): string[] {
  const world = directWorld(SEED);
  const keys: string[] = [];
  for (const login of logins) {
    for (const r of reportRows(world, SEED, login, since, until)) if (vanishes(SEED, r)) keys.push(`${login}|${r.campaign.id}|${r.ad!.id}|${r.date}`);
  }
  return keys.sort();
}

async function deletedKeys(wh: Warehouse): Promise<string[]> {
  const rows = await wh.query<{ k: string }>(
    `SELECT concat(client_login, '|', toString(campaign_id), '|', toString(ad_id), '|', toString(date)) AS k FROM fact_direct_daily FINAL WHERE _deleted = 1 ORDER BY k`,
  );
  return rows.map((r) => r.k);
}


describe('direct load into ClickHouse', () => {
  let wh: Warehouse;
  let sandbox: RunningSandbox;

  beforeAll(async () => {
    wh = await freshWarehouse();
    sandbox = await startSandbox({ seed: SEED, faults: new Set() });
  });
  afterAll(async () => {
    await sandbox?.close();
    await wh?.drop();
  });

  it('loads a 30-day window that matches the ground truth', async () => {
    const truth = truthOf();
    expect(truth.rows).toBeGreaterThan(500);
    const s = await runLoader(direct, { env: { ...wh.env, ...sandbox.env, ...FAST }, since: SINCE, until: UNTIL });
    expectBalanced(s);
    expect(s.rowsQuarantined).toBe(0);
    expect(await factTotals(wh)).toEqual(truth);

    // Campaign Master rows: no ad group, no ad, no link.
    const [cm] = await wh.query<{ n: string; names: string[] }>(
      `SELECT count() AS n, groupUniqArray(campaign_name) AS names FROM fact_direct_daily FINAL WHERE ad_id = 0 AND ad_group_id = 0 AND utm_origin = 'none'`,
    );
    expect(Number(cm!.n)).toBeGreaterThan(0);
    expect(cm!.names).toEqual(['Мастер кампаний: Москва']);
    // Cyrillic with quotes survives TSV, conversions `--` became NULL, currencies per login.
    const [names] = await wh.query<{ quoted: string; nulls: string; withConv: string }>(
      `SELECT countIf(campaign_name = 'Спектакль "Щелкунчик" — РСЯ') AS quoted, countIf(isNull(conversions)) AS nulls, countIf(isNotNull(conversions)) AS withConv FROM fact_direct_daily FINAL`,
    );
    expect(Number(names!.quoted)).toBeGreaterThan(0);
    expect(Number(names!.nulls)).toBeGreaterThan(0);
    expect(Number(names!.withConv)).toBeGreaterThan(0);
    const currencies = await wh.query<{ client_login: string; currency: string }>(`SELECT DISTINCT client_login, currency FROM fact_direct_daily FINAL ORDER BY client_login`);
    expect(currencies).toEqual([
      { client_login: 'msk-concerts', currency: 'RUB' },
      { client_login: 'spb-theatre', currency: 'KZT' },
    ]);
    // UTM from TextAd.Href: city and event day from utm_content; image/responsive ads have none.
    const origins = await wh.query<{ utm_origin: string }>(`SELECT DISTINCT utm_origin FROM fact_direct_daily FINAL ORDER BY utm_origin`);
    expect(origins.map((o) => o.utm_origin)).toEqual(['none', 'url']);
    const [utm] = await wh.query<{ cities: string; dated: string }>(`SELECT uniqExact(city) AS cities, countIf(isNotNull(event_date)) AS dated FROM fact_direct_daily FINAL WHERE city != ''`);
    expect(Number(utm!.cities)).toBeGreaterThan(1);
    expect(Number(utm!.dated)).toBeGreaterThan(0);
    const [ads] = await wh.query<{ n: string; types: string[]; hrefs: string }>(
      `SELECT count() AS n, arraySort(groupUniqArray(type)) AS types, countIf(href != '') AS hrefs FROM stg_direct_ads FINAL`,
    );
    expect(Number(ads!.n)).toBeGreaterThanOrEqual(20);
    expect(ads!.types).toEqual(['IMAGE_AD', 'RESPONSIVE_AD', 'TEXT_AD']);
    expect(Number(ads!.hrefs)).toBeGreaterThan(0);
  });

  it('a second load and an overlapping window change nothing', async () => {
    const truth = truthOf();
    const again = await runLoader(direct, { env: { ...wh.env, ...sandbox.env, ...FAST }, since: SINCE, until: UNTIL });
    expectBalanced(again);
    // Every fact row is unchanged: skipped by hash, not rewritten.
    expect(again.tables.fact_direct_daily ?? 0).toBe(0);
    expect(again.rowsSkipped).toBe(truth.rows);
    const overlap = await runLoader(direct, { env: { ...wh.env, ...sandbox.env, ...FAST }, since: '2026-03-20', until: '2026-04-05' });
    expectBalanced(overlap);
    expect(await factTotals(wh)).toEqual(truth);
    expect(await factTotals(wh, '2026-03-20', '2026-04-05')).toEqual(truthOf('2026-03-20', '2026-04-05'));
  });

  it('--account loads only that login', async () => {
    const one = await freshWarehouse();
    try {
      const s = await runLoader(direct, { env: { ...one.env, ...sandbox.env, ...FAST }, since: SINCE, until: UNTIL, account: 'spb-theatre' });
      expectBalanced(s);
      expect(await factTotals(one)).toEqual(truthOf(SINCE, UNTIL, ['spb-theatre']));
      const logins = await one.query<{ client_login: string }>(`SELECT DISTINCT client_login FROM fact_direct_daily`);
      expect(logins).toEqual([{ client_login: 'spb-theatre' }]);
    } finally {
      await one.drop();
    }
  });

  it('with long_queue, 5xx, rate_limit and malformed faults: the same totals, bad lines quarantined', async () => {
    const chaos = await startSandbox({ seed: SEED, faults: new Set(['long_queue', '5xx', 'rate_limit', 'malformed']) });
    const other = await freshWarehouse({ HTTP_MAX_RETRIES: '8' });
    try {
      const s = await runLoader(direct, { env: { ...other.env, ...chaos.env, ...FAST }, since: SINCE, until: UNTIL });
      expectBalanced(s);
      expect(await factTotals(other)).toEqual(truthOf());
      // Three bad lines per login's report: wrong column count, non-numeric Impressions, a bad Date.
      expect(s.rowsQuarantined).toBe(6);
      const reasons = await other.query<{ reason: string }>(`SELECT reason FROM meta_quarantine FINAL WHERE source = 'direct' AND target_table = 'fact_direct_daily' ORDER BY reason`);
      expect(reasons).toHaveLength(6);
      const text = reasons.map((r) => r.reason).join('\n');
      expect(text).toMatch(/expected 10 tab-separated columns, got 8/);
      expect(text).toMatch(/non-numeric Impressions "n\/a"/);
      expect(text).toMatch(/bad Date "2026-02-30"/);
      const [run] = await other.query<Record<string, string>>(`SELECT rows_read, rows_written, rows_quarantined, rows_skipped FROM meta_job_runs FINAL WHERE run_id = '${s.runId}'`);
      expect(Number(run!.rows_read)).toBe(Number(run!.rows_written) + Number(run!.rows_quarantined) + Number(run!.rows_skipped));
    } finally {
      await chaos.close();
      await other.drop();
    }
  });

  it('money in micros despite returnMoneyInMicros: false is detected and divided', async () => {
    // Detection needs strong evidence: every login's report here has ≥ 20 non-zero costs.
    for (const login of DIRECT_SANDBOX_LOGINS) {
      const nonZero = [...reportRows(directWorld(SEED), SEED, login, SINCE, '2026-03-07')].filter((r) => r.stat.costCents > 0).length;
      expect(nonZero).toBeGreaterThanOrEqual(MICROS_MIN_EVIDENCE);
    }
    const micros = await startSandbox({ seed: SEED, faults: new Set(['micros']) });
    const other = await freshWarehouse();
    try {
      const s = await runLoader(direct, { env: { ...other.env, ...micros.env, ...FAST }, since: SINCE, until: '2026-03-07' });
      expectBalanced(s);
      expect(await factTotals(other, SINCE, '2026-03-07')).toEqual(truthOf(SINCE, '2026-03-07'));
    } finally {
      await micros.close();
      await other.drop();
    }
  });

  it('a token revoked mid-run fails the run as token_invalid', async () => {
    const revoked = await startSandbox({ seed: SEED, faults: new Set(['token_revoked']) });
    const other = await freshWarehouse();
    try {
      const s = await runLoader(direct, { env: { ...other.env, ...revoked.env, ...FAST }, since: SINCE, until: UNTIL });
      expect(s.status).toBe('failed');
      expect(s.errorClass).toBe('token_invalid');
      expect(s.errorMessage).toMatch(/Direct error 53/);
      expect(s.errorMessage).not.toContain('fake-direct-agency');
    } finally {
      await revoked.close();
      await other.drop();
    }
  });

  it('AUTO only for the normal lookback window of a scheduled run (chooseDateRange)', () => {
    const w = (since: string, until: string, explicit = false) => ({ since, until, explicit, lookbackDays: 3 });
    expect(chooseDateRange('auto', w('2026-03-28', '2026-03-30'))).toBe('AUTO');
    expect(chooseDateRange('auto', w('2026-03-30', '2026-03-30'))).toBe('AUTO');
    expect(chooseDateRange('auto', w('2026-03-27', '2026-03-30'))).toBe('CUSTOM_DATE');
    expect(chooseDateRange('auto', w('2026-03-01', '2026-03-30'))).toBe('CUSTOM_DATE');
    expect(chooseDateRange('auto', w('2026-03-28', '2026-03-30', true))).toBe('CUSTOM_DATE');
    expect(chooseDateRange('days', w('2026-03-28', '2026-03-30'))).toBe('CUSTOM_DATE');
  });

  it('DIRECT_LOOKBACK_MODE=auto on the normal lookback window loads the period Direct picks (AUTO)', async () => {
    const other = await freshWarehouse();
    try {
      const today = todayIn('Europe/Moscow');
      // The last scheduled run loaded through the day before yesterday: the window is the 3-day lookback.
      await writeCursor(other.client, 'direct', '', addDays(today, -2), 'previous-run');
      const s = await runLoader(direct, { env: { ...other.env, ...sandbox.env, ...FAST, DIRECT_LOOKBACK_MODE: 'auto' } });
      expectBalanced(s);
      expect(s.window).toMatchObject({ explicit: false, since: addDays(today, -3), until: addDays(today, -1) });
      const periods = await other.query<{ client_login: string; since: string; until: string }>(
        `SELECT client_login, toString(min(date)) AS since, toString(max(date)) AS until FROM fact_direct_daily FINAL GROUP BY client_login ORDER BY client_login`,
      );
      expect(periods).toEqual(DIRECT_SANDBOX_LOGINS.map((l) => ({ client_login: l, since: correctedSince(SEED, l, today), until: addDays(today, -1) })));
    } finally {
      await other.drop();
    }
  });

  it('DIRECT_LOOKBACK_MODE=auto: a first scheduled run (no cursor) loads the whole initial window', async () => {
    const other = await freshWarehouse();
    try {
      const today = todayIn('Europe/Moscow');
      const s = await runLoader(direct, { env: { ...other.env, ...sandbox.env, ...FAST, DIRECT_LOOKBACK_MODE: 'auto' } });
      expectBalanced(s);
      expect(s.window).toMatchObject({ explicit: false, since: addDays(today, -30), until: addDays(today, -1) });
      expect(await factTotals(other, s.window.since, s.window.until)).toEqual(truthOf(s.window.since, s.window.until));
    } finally {
      await other.drop();
    }
  });

  it('DIRECT_LOOKBACK_MODE=auto after a 10-day outage loads every day since the cursor', async () => {
    const other = await freshWarehouse();
    try {
      const today = todayIn('Europe/Moscow');
      await writeCursor(other.client, 'direct', '', addDays(today, -11), 'before-outage');
      const s = await runLoader(direct, { env: { ...other.env, ...sandbox.env, ...FAST, DIRECT_LOOKBACK_MODE: 'auto' } });
      expectBalanced(s);
      expect(s.window).toMatchObject({ explicit: false, since: addDays(today, -10), until: addDays(today, -1) });
      expect(await factTotals(other, s.window.since, s.window.until)).toEqual(truthOf(s.window.since, s.window.until));
      // Nothing outside the window, where the cursor moves to.
      const [range] = await other.query<{ lo: string; hi: string }>(`SELECT toString(min(date)) AS lo, toString(max(date)) AS hi FROM fact_direct_daily FINAL`);
      expect(range).toEqual({ lo: s.window.since, hi: s.window.until });
    } finally {
      await other.drop();
    }
  });

  it('rows gone from a re-pulled report are marked _deleted = 1 (only for the logins loaded) and come back when they reappear', async () => {
    const since = '2026-03-01';
    const until = '2026-03-10';
    const vanishing = await startSandbox({ seed: SEED, faults: new Set(['vanishing_rows']) });
    const other = await freshWarehouse();
    try {
      const env = { ...other.env, ...FAST };
      const all = vanishedKeys(since, until);
      const spb = vanishedKeys(since, until, ['spb-theatre']);
      expect(spb.length).toBeGreaterThan(0);
      expect(all.length).toBeGreaterThan(spb.length);

      const first = await runLoader(direct, { env: { ...env, ...sandbox.env }, since, until });
      expectBalanced(first);
      expect(first.rowsDeleted).toBe(0);
      expect(await factTotals(other, since, until)).toEqual(truthOf(since, until));

      // --account: only that login's vanished rows are marked; msk-concerts is not looked at.
      const one = await runLoader(direct, { env: { ...env, ...vanishing.env }, since, until, account: 'spb-theatre' });
      expectBalanced(one);
      expect(one.rowsDeleted).toBe(spb.length);
      expect(await deletedKeys(other)).toEqual(spb);

      const both = await runLoader(direct, { env: { ...env, ...vanishing.env }, since, until });
      expectBalanced(both);
      expect(both.rowsDeleted).toBe(all.length - spb.length);
      expect(both.tables.fact_direct_daily ?? 0).toBe(0);
      expect(await deletedKeys(other)).toEqual(all);
      expect(await factTotals(other, since, until)).toEqual(truthOf(since, until, DIRECT_SANDBOX_LOGINS, { vanishing: true }));
      const [run] = await other.query<{ rows_deleted: string }>(`SELECT rows_deleted FROM meta_job_runs FINAL WHERE run_id = '${both.runId}'`);
      expect(Number(run!.rows_deleted)).toBe(all.length - spb.length);

      // The rows are back upstream: written again with _deleted = 0.
      const back = await runLoader(direct, { env: { ...env, ...sandbox.env }, since, until });
      expectBalanced(back);
      expect(back.rowsDeleted).toBe(0);
      expect(back.tables.fact_direct_daily).toBe(all.length);
      expect(await deletedKeys(other)).toEqual([]);
      expect(await factTotals(other, since, until)).toEqual(truthOf(since, until));
    } finally {
      await vanishing.close();
      await other.drop();
    }
  });

  it('a row quarantined on a re-pull is not marked deleted: it still exists upstream', async () => {
    const since = '2026-03-01';
    const until = '2026-03-10';
    const garbled = await startSandbox({ seed: SEED, faults: new Set(['garbled_rows']) });
    const other = await freshWarehouse();
    try {
      const env = { ...other.env, ...FAST };
      const first = await runLoader(direct, { env: { ...env, ...sandbox.env }, since, until });
      expectBalanced(first);
      const again = await runLoader(direct, { env: { ...env, ...garbled.env }, since, until });
      expectBalanced(again);
      expect(again.rowsQuarantined).toBe(vanishedKeys(since, until).length);
      expect(again.rowsDeleted).toBe(0);
      expect(await deletedKeys(other)).toEqual([]);
      expect(await factTotals(other, since, until)).toEqual(truthOf(since, until));
    } finally {
      await garbled.close();
      await other.drop();
    }
  });

  it('a report queue that never finishes fails within DIRECT_REPORT_MAX_WAIT_S as upstream_5xx', async () => {
    const stuck = await startSandbox({ seed: SEED, faults: new Set(['queue_never_ends']) });
    const other = await freshWarehouse();
    try {
      const t0 = Date.now();
      const s = await runLoader(direct, { env: { ...other.env, ...stuck.env, ...FAST, DIRECT_REPORT_MAX_WAIT_S: '2' }, since: SINCE, until: UNTIL });
      expect(s.status).toBe('failed');
      expect(s.errorClass).toBe('upstream_5xx');
      expect(s.errorMessage).toMatch(/report queue did not finish within 2 s/);
      expect(Date.now() - t0).toBeLessThan(15_000);
    } finally {
      await stuck.close();
      await other.drop();
    }
  });
});
