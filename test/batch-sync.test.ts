// The Facebook batch sync against the sandbox's default world (5 accounts, 2 businesses + 1 without):
// loaded totals equal the generator's ground truth, the job and account log tell what happened, the
// anomaly/burnout refresh runs once per job for every loaded account, a second job changes nothing, a
// failed or stopped refresh leaves the accounts completed and is run again by --resume, one business's
// accounts never overlap, faults leave only the revoked account failed (token_invalid, one attempt), and
// --dry-run writes nothing.
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startSandbox, type FbSandbox } from '../loaders/facebook/sandbox.js';
import { mondayOf } from '../loaders/facebook/transform.js';
import { expectedFbDaily, expectedFbWeekly, FB_FAULT_ACCOUNTS, FB_SANDBOX_ACCOUNTS } from '../loaders/facebook/world.js';
import { addDays, utcDateTime } from '../src/runtime/dates.js';
import { logger } from '../src/runtime/logger.js';
import { markRunActive, newRunRecord, writeRun } from '../src/runtime/runs.js';
import { refreshAnalytics } from '../src/analytics/refresh.js';
import { migrate } from '../src/clickhouse/migrate.js';
import { clickhouseConfig } from '../src/config/clickhouse.js';
import { BATCH_ERROR_TYPES } from '../src/batch/errors.js';
import { BATCH_STEPS, type BatchStep } from '../src/batch/plan.js';
import { planNewJob, planResume, runBatch, type BatchEvents, type BatchOutcome } from '../src/batch/run.js';
import { readAccounts, readJob, writeAccounts, writeJob, type AccountRecord } from '../src/batch/store.js';
import { runCli } from './support/cli.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';
import { FB_FAST as FAST } from './support/facebook.js';

// The real refresh, watched: how often the batch calls it and for which accounts.
vi.mock('../src/analytics/refresh.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/analytics/refresh.js')>();
  return { ...real, refreshAnalytics: vi.fn(real.refreshAnalytics) };
});
const refreshSpy = vi.mocked(refreshAnalytics);

const SEED = 4242;
const ACCOUNTS = FB_SANDBOX_ACCOUNTS.map((a) => a.id);
/** The sandbox's clock, fixed: today holds the hours up to now in each account's zone, the same on every read. */
const NOW = new Date();

function options(env: Record<string, string>, wh: Warehouse, opts: { workers?: number; skip?: BatchStep[]; signal?: AbortSignal; events?: BatchEvents } = {}) {
  return { env, client: wh.client, workers: opts.workers ?? 5, pauseMs: 0, skip: new Set(opts.skip ?? []), signal: opts.signal ?? new AbortController().signal, log: logger('silent'), events: opts.events };
}

async function batch(env: Record<string, string>, wh: Warehouse, opts: { workers?: number; skip?: BatchStep[] } = {}): Promise<BatchOutcome> {
  const base = options(env, wh, opts);
  const plan = await planNewJob(base);
  return runBatch(plan, base);
}

/** The refreshes `run` made: the account ids each was asked for, sorted. */
async function refreshesDuring(run: () => Promise<unknown>): Promise<string[][]> {
  const before = refreshSpy.mock.calls.length;
  await run();
  return refreshSpy.mock.calls.slice(before).map(([, o]) => [...(o?.accountIds ?? ['(all)'])].sort());
}

/** History rows per account (anomaly + burnout), optionally only those detected at one moment. */
async function historyRows(wh: Warehouse, at?: string): Promise<Record<string, number>> {
  const where = at ? `WHERE detected_at = toDateTime('${at}', 'UTC')` : '';
  const rows = await wh.query<{ account_id: string; n: string }>(
    `SELECT account_id, toString(count()) AS n FROM (SELECT account_id FROM fb_anomaly_history ${where} UNION ALL SELECT account_id FROM fb_burnout_history ${where}) GROUP BY account_id`,
  );
  return Object.fromEntries(rows.map((r) => [r.account_id, Number(r.n)]));
}

type Totals = Record<string, { rows: number; spendCents: number; impressions: number; clicks: number }>;

function sumTruth(list: Array<{ rows: number; spendCents: number; impressions: number; clicks: number }>) {
  return list.reduce((t, d) => ({ rows: t.rows + d.rows, spendCents: t.spendCents + d.spendCents, impressions: t.impressions + d.impressions, clicks: t.clicks + d.clicks }), { rows: 0, spendCents: 0, impressions: 0, clicks: 0 });
}

/** Per account: daily rows in [since, until] and weekly rows of the complete weeks, as loaded. */
async function loadedTotals(wh: Warehouse, since: string, until: string, lastMonday: string): Promise<{ daily: Totals; weekly: Totals }> {
  const q = async (table: string, dateCol: string, from: string, to: string) => {
    const rows = await wh.query<{ account_id: string; rows: string; cents: string; impressions: string; clicks: string }>(
      `SELECT account_id, count() AS rows, toString(sum(toInt64(spend * 100))) AS cents, sum(impressions) AS impressions, sum(clicks) AS clicks
       FROM ${table} FINAL WHERE _deleted = 0 AND ${dateCol} BETWEEN toDate('${from}') AND toDate('${to}') GROUP BY account_id ORDER BY account_id`,
    );
    return Object.fromEntries(rows.map((r) => [r.account_id, { rows: Number(r.rows), spendCents: Number(r.cents), impressions: Number(r.impressions), clicks: Number(r.clicks) }]));
  };
  return { daily: await q('stg_fb_insights_daily', 'date', since, until), weekly: await q('stg_fb_insights_weekly', 'week_start', mondayOf(since), lastMonday) };
}

function truthTotals(accounts: readonly string[], since: string, until: string, lastMonday: string): { daily: Totals; weekly: Totals } {
  return {
    daily: Object.fromEntries(accounts.map((a) => [a, sumTruth(expectedFbDaily(SEED, a, since, until, { now: NOW }))])),
    weekly: Object.fromEntries(accounts.map((a) => [a, sumTruth(expectedFbWeekly(SEED, a, mondayOf(since), lastMonday, { now: NOW }))])),
  };
}

/** The last Monday whose week ended before the window's last day (today: the running week is partial upstream). */
function lastCompleteMonday(until: string): string {
  const m = mondayOf(until);
  return addDays(m, 6) < until ? m : addDays(m, -7);
}

describe('batch-sync facebook', () => {
  let wh: Warehouse;
  let sandbox: FbSandbox;
  let env: Record<string, string>;
  let first: BatchOutcome;
  let firstRefreshes: string[][];
  let firstJobCalls: number;

  beforeAll(async () => {
    wh = await freshWarehouse();
    sandbox = await startSandbox({ seed: SEED, faults: new Set(), now: NOW, recordCalls: true, latencyMs: 5 });
    env = { ...wh.env, ...sandbox.env, ...FAST };
    firstRefreshes = await refreshesDuring(async () => (first = await batch(env, wh)));
    firstJobCalls = sandbox.callLog.length;
  });
  afterAll(async () => {
    await sandbox?.close();
    await wh?.drop();
  });

  it('loads every account to the ground truth and the logs tell the story', async () => {
    const params = JSON.parse(first.job.params) as { window_since: string; window_until: string };
    const { window_since: since, window_until: until } = params;
    const lastMonday = lastCompleteMonday(until);
    const truth = truthTotals(ACCOUNTS, since, until, lastMonday);
    expect(Object.values(truth.daily).reduce((n, t) => n + t.rows, 0)).toBeGreaterThan(100);
    expect(await loadedTotals(wh, since, until, lastMonday)).toEqual(truth);

    const job = (await readJob(wh.client, first.job.job_id))!;
    expect(job).toMatchObject({ job_type: 'facebook', status: 'completed', accounts_total: 5, processed: 5, failed: 0, skipped: 0, last_error: '' });
    expect(job.completed_at).not.toBeNull();

    const log = await readAccounts(wh.client, job.job_id);
    expect(log.map((a) => a.account_id).sort()).toEqual([...ACCOUNTS].sort());
    for (const a of log) {
      expect(a, a.account_id).toMatchObject({ status: 'completed', step_fullsync: 'completed', step_weekly: 'completed', step_daily: 'completed', step_burnout: 'completed', attempts: 1, error_type: '', note: '', window_since: since, window_until: until });
      expect(a.business_id).toBe(FB_SANDBOX_ACCOUNTS.find((s) => s.id === a.account_id)!.business?.id ?? '');
      // The daily step wrote exactly the account's insight rows (a fresh warehouse).
      expect(a.rows_daily).toBe(truth.daily[a.account_id]!.rows);
      expect(a.rows_fullsync).toBeGreaterThan(0);
      expect(a.finished_ms).toBeGreaterThanOrEqual(a.started_ms);
      expect(a.duration_ms).toBe(a.finished_ms - a.started_ms);
      // One successful loader run of this account for its three load steps; its rows are the steps' rows,
      // each step's the rows of its own tables (the account's row goes with the structure step, the first).
      expect(a.run_ids).toHaveLength(1);
      const runs = await wh.query<{ run_id: string; status: string; account: string; rows_written: string }>(
        `SELECT run_id, argMax(status, _ver) AS status, any(account) AS account, argMax(rows_written, _ver) AS rows_written FROM meta_job_runs
         WHERE run_id IN (${a.run_ids.map((r) => `'${r}'`).join(', ')}) GROUP BY run_id`,
      );
      expect(runs.map((r) => [r.status, r.account, Number(r.rows_written)])).toEqual([['success', a.account_id, a.rows_fullsync + a.rows_weekly + a.rows_daily]]);
      const [stored] = await wh.query<{ structure: string; weekly: string }>(
        `SELECT (SELECT count() FROM stg_fb_accounts WHERE account_id = '${a.account_id}') + (SELECT count() FROM stg_fb_campaigns WHERE account_id = '${a.account_id}')
              + (SELECT count() FROM stg_fb_adsets WHERE account_id = '${a.account_id}') + (SELECT count() FROM stg_fb_ads WHERE account_id = '${a.account_id}')
              + (SELECT count() FROM stg_fb_creatives WHERE account_id = '${a.account_id}') AS structure,
                (SELECT count() FROM stg_fb_insights_weekly WHERE account_id = '${a.account_id}') AS weekly`,
      );
      expect([a.rows_fullsync, a.rows_weekly]).toEqual([Number(stored!.structure), Number(stored!.weekly)]);
    }
  });

  it('refreshes the anomaly/burnout history once for the job, after every load, and each account records its rows', async () => {
    expect(firstRefreshes).toEqual([[...ACCOUNTS].sort()]);
    expect(first.refresh).toMatchObject({ status: 'completed', accounts: 5 });
    // One refresh = one detection time in both history tables, after the last account's loads.
    const [d] = await wh.query<{ at: string[] }>(
      `SELECT groupUniqArray(toString(detected_at)) AS at FROM (SELECT detected_at FROM fb_anomaly_history UNION ALL SELECT detected_at FROM fb_burnout_history)`,
    );
    expect(d!.at).toHaveLength(1);
    const log = await readAccounts(wh.client, first.job.job_id);
    const lastLoad = Math.max(...log.map((a) => a.finished_ms));
    expect(Date.parse(`${d!.at[0]!.replace(' ', 'T')}Z`)).toBeGreaterThanOrEqual(Math.floor(lastLoad / 1000) * 1000);
    // The history holds what the views show for every account (a fresh warehouse: all of it is new), and
    // each account's rows_burnout is its share of what the one refresh inserted.
    const views = await wh.query<{ account_id: string; n: string }>(
      `SELECT account_id, toString(count()) AS n FROM (SELECT account_id FROM v_cpr_anomalies UNION ALL SELECT account_id FROM v_burnout_risk) GROUP BY account_id`,
    );
    const expected = Object.fromEntries(views.map((r) => [r.account_id, Number(r.n)]));
    const history = await historyRows(wh, d!.at[0]);
    expect(history).toEqual(expected);
    expect(Object.keys(history).length).toBeGreaterThan(1);
    expect(Object.fromEntries(log.filter((a) => a.rows_burnout > 0).map((a) => [a.account_id, a.rows_burnout]))).toEqual(history);
    const r = first.refresh;
    expect(r?.status === 'completed' ? r.anomalies + r.burnout : -1).toBe(Object.values(history).reduce((n, x) => n + x, 0));
  });

  it('never has two calls of one business in flight at once; groups run side by side', async () => {
    const log = await readAccounts(wh.client, first.job.job_id);
    const byBusiness = new Map<string, AccountRecord[]>();
    for (const a of log) if (a.business_id) byBusiness.set(a.business_id, [...(byBusiness.get(a.business_id) ?? []), a]);
    expect([...byBusiness.keys()].sort()).toEqual(['9001', '9002']);
    // The first job's calls (the sandbox's log from its start up to the second job's).
    const calls = sandbox.callLog.slice(0, firstJobCalls);
    for (const [biz, accounts] of byBusiness) {
      expect(new Set(accounts.map((a) => a.worker_id)).size, `business ${biz}`).toBe(1);
      // Each call of the business's accounts arrives after the one before it was answered: one account
      // after the other (the next starts while the previous one's last rows are stored), one call at a time.
      const ids = new Set(accounts.map((a) => a.account_id));
      const spans = calls.filter((c) => ids.has(c.account)).sort((x, y) => x.arrived - y.arrived);
      expect(new Set(spans.map((c) => c.account)), `business ${biz}`).toEqual(ids);
      for (let i = 1; i < spans.length; i++) expect(spans[i]!.arrived, `business ${biz}, call ${i} (${spans[i]!.account})`).toBeGreaterThanOrEqual(spans[i - 1]!.answered);
    }
    // Different groups did overlap (the workers really ran in parallel), in calls and in the account log.
    const overlap = (x: { arrived: number; answered: number }, y: { arrived: number; answered: number }) => x.arrived < y.answered && y.arrived < x.answered;
    const business = (account: string) => log.find((a) => a.account_id === account)!.business_id || account;
    expect(calls.some((x) => calls.some((y) => business(x.account) !== business(y.account) && overlap(x, y)))).toBe(true);
    expect(log.some((a) => log.some((b) => a.business_id !== b.business_id && a.started_ms < b.finished_ms && b.started_ms < a.finished_ms))).toBe(true);
    expect(new Set(log.map((a) => a.worker_id)).size).toBe(3);
  });

  let again: BatchOutcome;
  it('a second job changes nothing; its failed refresh leaves the accounts completed and the job failed', async () => {
    const before = await wh.query<{ t: string; c: string }>(
      `SELECT t, c FROM (SELECT 'daily' AS t, toString(count()) AS c FROM stg_fb_insights_daily UNION ALL SELECT 'weekly' AS t, toString(count()) AS c FROM stg_fb_insights_weekly UNION ALL SELECT 'ads' AS t, toString(count()) AS c FROM stg_fb_ads) ORDER BY t`,
    );
    // The view telling whether the stored copy is current is gone: the refresh fails (`migrate` re-creates it
    // below). Nothing changed since the first job's refresh, so the views would not be computed again.
    await wh.client.command({ query: 'DROP TABLE int_fb_analytics_store_gate' });
    const refreshes = await refreshesDuring(async () => (again = await batch(env, wh, { workers: 2 })));
    expect(refreshes).toEqual([[...ACCOUNTS].sort()]);
    expect(again.job.job_id).not.toBe(first.job.job_id);
    const job = (await readJob(wh.client, again.job.job_id))!;
    expect(job).toMatchObject({ status: 'failed', processed: 5, failed: 0 });
    expect(job.last_error).toMatch(/^the analytics refresh of 5 account\(s\) failed \(\w+\): burnout: .*int_fb_analytics_store_gate.*; --resume \S+ runs it again$/);
    expect(job.history).toEqual([expect.stringMatching(/ analytics refresh failed \(\w+\): burnout: /)]);
    const log = await readAccounts(wh.client, again.job.job_id);
    for (const a of log) {
      expect(a, a.account_id).toMatchObject({ status: 'completed', step_fullsync: 'completed', step_weekly: 'completed', step_daily: 'completed', step_burnout: 'failed', rows_burnout: 0 });
      expect(BATCH_ERROR_TYPES).toContain(a.error_type);
      expect(a.last_error).toMatch(/^burnout: .*int_fb_analytics_store_gate/);
      expect(a.history).toEqual([expect.stringMatching(/ analytics refresh of 5 account\(s\) failed /)]);
    }
    expect(log.map((a) => a.rows_fullsync + a.rows_weekly + a.rows_daily)).toEqual(log.map(() => 0));
    const after = await wh.query<{ t: string; c: string }>(
      `SELECT t, c FROM (SELECT 'daily' AS t, toString(count()) AS c FROM stg_fb_insights_daily UNION ALL SELECT 'weekly' AS t, toString(count()) AS c FROM stg_fb_insights_weekly UNION ALL SELECT 'ads' AS t, toString(count()) AS c FROM stg_fb_ads) ORDER BY t`,
    );
    expect(after).toEqual(before);
    const params = JSON.parse(again.job.params) as { window_since: string; window_until: string };
    const lastMonday = lastCompleteMonday(params.window_until);
    expect(await loadedTotals(wh, params.window_since, params.window_until, lastMonday)).toEqual(truthTotals(ACCOUNTS, params.window_since, params.window_until, lastMonday));
  });

  it('--resume owes the failed refresh: a stop during it pauses the job, a death during it interrupts it, the next resume refreshes once', async () => {
    const historyBefore = await historyRows(wh);
    // A stop (SIGINT) as the refresh starts: nothing is loaded again, the refresh is paused.
    const stopper = new AbortController();
    const paused = await planResume(wh.client, again.job.job_id);
    expect(paused.groups).toEqual([]);
    const events: BatchEvents = { refreshStarted: () => stopper.abort('SIGINT') };
    const stopped = await runBatch(paused, options(env, wh, { signal: stopper.signal, events }));
    expect(stopped.refresh).toMatchObject({ status: 'paused', accounts: 5 });
    expect((await readJob(wh.client, again.job.job_id))!).toMatchObject({ status: 'paused', processed: 5, failed: 0 });
    for (const a of await readAccounts(wh.client, again.job.job_id)) expect([a.account_id, a.status, a.step_burnout]).toEqual([a.account_id, 'completed', 'paused']);

    // The process dies during a refresh (SIGKILL, a second Ctrl-C): what it leaves is a running job whose
    // pid is gone and completed accounts whose step_burnout says running. The next command records that.
    const gonePid = spawnSync(process.execPath, ['-e', '']).pid!;
    await writeJob(wh.client, { ...(await readJob(wh.client, again.job.job_id))!, status: 'running', host: hostname(), pid: gonePid, heartbeat_at: utcDateTime() });
    await writeAccounts(wh.client, (await readAccounts(wh.client, again.job.job_id)).map((a) => ({ ...a, step_burnout: 'running' as const })));

    await migrate(clickhouseConfig(wh.env), { env: wh.env });
    const plan = await planResume(wh.client, again.job.job_id);
    expect(plan.job.status).toBe('failed');
    expect(plan.accounts.map((a) => [a.status, a.step_burnout])).toEqual(plan.accounts.map(() => ['completed', 'interrupted']));
    let done!: BatchOutcome;
    const refreshes = await refreshesDuring(async () => (done = await runBatch(plan, options(env, wh))));
    expect(refreshes).toEqual([[...ACCOUNTS].sort()]);
    const job = (await readJob(wh.client, again.job.job_id))!;
    expect(job).toMatchObject({ status: 'completed', processed: 5, failed: 0, last_error: '' });
    expect(job.history.map((h) => h.replace(/^\S+ \S+ /, '').replace(/\d+/g, 'N'))).toEqual([
      expect.stringMatching(/^analytics refresh failed/),
      expect.stringMatching(/^resumed \(was failed\)/),
      'paused by SIGINT',
      expect.stringMatching(/^the process running this job \(pid N on .+\) died/),
      expect.stringMatching(/^resumed \(was failed\)/),
    ]);
    const log = await readAccounts(wh.client, again.job.job_id);
    // The loads ran once (one attempt, one run); the refresh's story is in each account's history.
    for (const a of log) {
      expect(a, a.account_id).toMatchObject({ status: 'completed', step_burnout: 'completed', error_type: '', attempts: 1 });
      expect(a.run_ids).toHaveLength(1);
      expect(a.history.map((h) => h.replace(/^\S+ \S+ /, ''))).toEqual([
        expect.stringMatching(/^analytics refresh of 5 account\(s\) failed/),
        'analytics refresh of 5 account(s) paused: SIGINT',
        'analytics refresh interrupted: the process running the job died',
      ]);
    }
    // The first job recorded every detection already: this refresh found nothing new, and says so.
    expect(done.refresh).toMatchObject({ status: 'completed', accounts: 5, anomalies: 0, burnout: 0 });
    expect(log.map((a) => a.rows_burnout)).toEqual(log.map(() => 0));
    expect(await historyRows(wh)).toEqual(historyBefore);
  });

  it('--skip-* leave steps skipped and the steps\' tables untouched', async () => {
    const wh2 = await freshWarehouse();
    try {
      let o!: BatchOutcome;
      const refreshes = await refreshesDuring(async () => (o = await batch({ ...env, ...wh2.env }, wh2, { skip: ['fullsync', 'daily', 'burnout'] })));
      expect(refreshes).toEqual([]);
      expect(o.refresh).toBeUndefined();
      expect(o.job.status).toBe('completed');
      const log = await readAccounts(wh2.client, o.job.job_id);
      for (const a of log) expect(a).toMatchObject({ status: 'completed', step_fullsync: 'skipped', step_weekly: 'completed', step_daily: 'skipped', step_burnout: 'skipped', rows_fullsync: 0, rows_daily: 0 });
      const [c] = await wh2.query<{ daily: string; weekly: string; ads: string; accounts: string }>(
        `SELECT (SELECT count() FROM stg_fb_insights_daily) AS daily, (SELECT count() FROM stg_fb_insights_weekly) AS weekly,
                (SELECT count() FROM stg_fb_ads) AS ads, (SELECT count() FROM stg_fb_accounts) AS accounts`,
      );
      expect(Number(c!.daily)).toBe(0);
      expect(Number(c!.ads)).toBe(0);
      // Without the structure step the weekly run is the first to store each account's row.
      expect(Number(c!.accounts)).toBe(5);
      expect(Number(c!.weekly) + Number(c!.accounts)).toBe(log.reduce((n, a) => n + a.rows_weekly, 0));
      expect(Number(c!.weekly)).toBeGreaterThan(0);
      expect(JSON.parse(o.job.params).skip).toEqual(BATCH_STEPS.filter((s) => s !== 'weekly'));
    } finally {
      await wh2.drop();
    }
  });

  it('with faults the batch finishes: the revoked account failed token_invalid after one attempt, the others completed', async () => {
    const wh3 = await freshWarehouse();
    const faults = ['revoked_token', 'buc_block', 'code17', 'async_fail', 'too_many_rows'];
    const faulty = await startSandbox({ seed: SEED, faults: new Set(faults), bucBlockMs: 300, tooManyRows: 30, now: NOW });
    try {
      // Two weeks: still async reports that fail (over 10 days in the sandbox) and too many rows, half the work.
      const o = await batch({ ...wh3.env, ...faulty.env, ...FAST, FACEBOOK_LOOKBACK_DAYS: '14' }, wh3);
      const revoked = FB_FAULT_ACCOUNTS.revoked_token;
      const job = (await readJob(wh3.client, o.job.job_id))!;
      expect(job).toMatchObject({ status: 'failed', accounts_total: 5, processed: 5, failed: 1 });
      expect(job.last_error).toContain(`${revoked} token_invalid`);
      const log = await readAccounts(wh3.client, o.job.job_id);
      const bad = log.find((a) => a.account_id === revoked)!;
      expect(bad).toMatchObject({ status: 'failed', error_type: 'token_invalid', attempts: 1, step_fullsync: 'failed', step_weekly: 'pending', step_daily: 'pending' });
      expect(bad.last_error).not.toMatch(/fb-sb-2002/);
      const others = log.filter((a) => a.account_id !== revoked);
      expect(others.map((a) => [a.account_id, a.status, a.error_type])).toEqual(others.map((a) => [a.account_id, 'completed', '']));
      expect(faulty.counters.tokenRejected).toBe(1);
      expect(faulty.counters.bucBlocks).toBeGreaterThan(0);
      expect(faulty.counters.code17).toBeGreaterThan(0);
      expect(faulty.counters.asyncFailed).toBeGreaterThan(0);
      expect(faulty.counters.tooManyRows).toBeGreaterThan(0);
      const params = JSON.parse(o.job.params) as { window_since: string; window_until: string };
      const lastMonday = lastCompleteMonday(params.window_until);
      const ok = ACCOUNTS.filter((a) => a !== revoked);
      expect(await loadedTotals(wh3, params.window_since, params.window_until, lastMonday)).toEqual(truthTotals(ok, params.window_since, params.window_until, lastMonday));
    } finally {
      await faulty.close();
      await wh3.drop();
    }
  });

  it('an account whose last rows fail to store after its calls retries on its business\'s turn, never beside the next one', async () => {
    const wh5 = await freshWarehouse();
    const recorded = await startSandbox({ seed: SEED, faults: new Set(), now: NOW, recordCalls: true, latencyMs: 2 });
    try {
      // The daily INSERT fails once all its rows are sent (the view's block is the whole INSERT), so the
      // failure arrives after the loader has returned and the business's next account has the turn. 18.16
      // keeps the table's rows of a failed INSERT: the retry finds them unchanged and completes.
      await wh5.client.command({ query: 'CREATE MATERIALIZED VIEW fail_daily ENGINE = Memory AS SELECT throwIf(impressions >= 0) AS x FROM stg_fb_insights_daily' });
      const env5 = { ...wh5.env, ...recorded.env, ...FAST, HTTP_BACKOFF_BASE_MS: '1', HTTP_BACKOFF_MAX_MS: '5', FACEBOOK_LOOKBACK_DAYS: '7' };
      const base = options(env5, wh5, { workers: 1, skip: ['burnout'] });
      const o = await runBatch(await planNewJob({ ...base, limit: 2 }), base);
      expect(o.job.status).toBe('completed');
      const log = await readAccounts(wh5.client, o.job.job_id);
      expect(log.map((a) => [a.account_id, a.status, a.attempts, a.step_fullsync, a.step_weekly, a.step_daily])).toEqual(
        ['act_1001', 'act_1002'].map((id) => [id, 'completed', 2, 'completed', 'completed', 'completed']),
      );
      for (const a of log) expect(a.history.join('\n')).toMatch(/attempt 1 failed \(unknown\): daily: .*throwIf/);
      const spans = [...recorded.callLog].sort((x, y) => x.arrived - y.arrived);
      for (let i = 1; i < spans.length; i++) expect(spans[i]!.arrived, `call ${i} (${spans[i]!.account})`).toBeGreaterThanOrEqual(spans[i - 1]!.answered);
      // act_1002 started when act_1001's calls were over, before its rows failed: act_1001's retry came after.
      const firstOf1002 = spans.find((c) => c.account === 'act_1002')!.arrived;
      expect(spans.some((c) => c.account === 'act_1001' && c.arrived > firstOf1002)).toBe(true);
    } finally {
      await recorded.close();
      await wh5.drop();
    }
  });

  it('a step whose rows fail to store after the next step started: that one goes back to pending, the failed one is named', async () => {
    const wh6 = await freshWarehouse();
    try {
      // Every weekly INSERT is refused (a ranking is not a UInt8); an account's few weekly rows go out in one
      // INSERT when the step completes, so the refusal arrives while the daily step is already running.
      await wh6.client.command({ query: 'ALTER TABLE stg_fb_insights_weekly MODIFY COLUMN quality_ranking UInt8' });
      const env6 = { ...wh6.env, ...sandbox.env, ...FAST, HTTP_BACKOFF_BASE_MS: '1', HTTP_BACKOFF_MAX_MS: '5', FACEBOOK_LOOKBACK_DAYS: '7' };
      const base = options(env6, wh6, { workers: 1, skip: ['burnout'] });
      const jobsBefore = sandbox.counters.asyncJobs;
      const o = await runBatch(await planNewJob({ ...base, limit: 1 }), base);
      expect(o.job.status).toBe('failed');
      // Each of the 3 attempts ran the weekly report and, before the refusal stopped it, the daily one.
      expect(sandbox.counters.asyncJobs - jobsBefore).toBe(6);
      const [a] = await readAccounts(wh6.client, o.job.job_id);
      expect(a).toMatchObject({ status: 'failed', error_type: 'unknown', attempts: 3, step_fullsync: 'completed', step_weekly: 'failed', step_daily: 'pending' });
      expect(a!.last_error).toMatch(/^weekly: .*quality_ranking/);
    } finally {
      await wh6.drop();
    }
  });

  it('--dry-run prints the plan and writes nothing', async () => {
    const wh4 = await freshWarehouse();
    try {
      const r = await runCli(['batch-sync', 'facebook', '--dry-run', '--workers', '2'], { ...wh4.env, ...sandbox.env, ...FAST });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/new job: 5 of 5 account\(s\) to run in 3 group\(s\), 2 worker\(s\)/);
      expect(r.stdout).toMatch(/business 9001\s+2\s+act_1001 act_1002/);
      expect(r.stdout).toMatch(/no business\s+1\s+act_3001/);
      expect(r.stdout).toMatch(/estimated API calls: at least \d+ per account × 5 = \d+/);
      const [c] = await wh4.query<{ jobs: string; accounts: string; runs: string; ads: string }>(
        `SELECT (SELECT count() FROM meta_batch_jobs) AS jobs, (SELECT count() FROM meta_batch_account_log) AS accounts,
                (SELECT count() FROM meta_job_runs) AS runs, (SELECT count() FROM stg_fb_accounts) AS ads`,
      );
      expect(c).toEqual({ jobs: '0', accounts: '0', runs: '0', ads: '0' });
    } finally {
      await wh4.drop();
    }
  });
});

describe('batch-sync beside another run of the source', () => {
  it('waits for a whole-source run (the scheduler pass) instead of failing the account, then completes it', async () => {
    const wh = await freshWarehouse();
    const sandbox = await startSandbox({ seed: SEED, faults: new Set(), now: NOW });
    const env = { ...wh.env, ...sandbox.env, ...FAST };
    try {
      // A live whole-source facebook run of this process (what `adhouse run`'s 15-minute pass looks like).
      const rival = newRunRecord({ run_id: 'scheduler-pass', source: 'facebook', kind: 'load', window_since: '2026-01-01', window_until: '2026-01-02', account: '', backfill_id: '' }, Date.now());
      markRunActive(rival.run_id, true);
      await writeRun(wh.client, rival);
      let sawWait!: () => void;
      const waiting = new Promise<void>((resolve) => (sawWait = resolve));
      const lines = new Writable({
        write(chunk: Buffer, _enc, done) {
          if (/is already loading .*waiting \d+ ms for it to finish/.test(chunk.toString())) sawWait();
          done();
        },
      });
      const base = { ...options(env, wh, { workers: 1, skip: ['burnout'] }), log: pino({ level: 'info' }, lines) };
      const plan = await planNewJob({ ...base, limit: 1 });
      const outcome = runBatch(plan, base);
      await waiting;
      markRunActive(rival.run_id, false);
      await writeRun(wh.client, { ...rival, status: 'success', finished_at: utcDateTime() });
      const done = await outcome;
      expect(done.job.status).toBe('completed');
      const [account] = await readAccounts(wh.client, plan.job.job_id);
      expect(account).toMatchObject({ status: 'completed', step_fullsync: 'completed', step_weekly: 'completed', step_daily: 'completed', attempts: 1, error_type: '' });
    } finally {
      await sandbox.close();
      await wh.drop();
    }
  });
});
