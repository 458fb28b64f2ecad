// The batch sync as a process: SIGKILL in the middle then --resume gives the ground-truth totals, leaves
// no account `running` and runs the job's one analytics refresh for all its accounts (those completed
// before the kill too); SIGINT pauses the job (exit 130, the resume command printed) and the paused job
// resumes to the same totals.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startSandbox, type FbSandbox } from '../loaders/facebook/sandbox.js';
import { expectedFbDaily, FB_SANDBOX_ACCOUNTS } from '../loaders/facebook/world.js';
import { runCli, startCli } from './support/cli.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';
import { FB_FAST as FAST } from './support/facebook.js';

const SEED = 5150;
const ACCOUNTS = FB_SANDBOX_ACCOUNTS.map((a) => a.id);
/** The sandbox's clock, fixed: today holds the hours up to now in each account's zone, the same on every read. */
const NOW = new Date();
/** A few rows per INSERT: accounts long enough to stop one in the middle. */
const SLOW = { SINK_BATCH_ROWS: '3', SINK_FLUSH_MS: '10000' };

type Latest = { account_id: string; status: string; step_fullsync: string; step_daily: string };

async function accountStates(wh: Warehouse, jobId?: string): Promise<Latest[]> {
  return wh.query<Latest>(
    `SELECT account_id, argMax(status, _ver) AS status, argMax(step_fullsync, _ver) AS step_fullsync, argMax(step_daily, _ver) AS step_daily
     FROM meta_batch_account_log ${jobId ? `WHERE job_id = '${jobId}'` : ''} GROUP BY job_id, account_id ORDER BY account_id`,
  );
}

async function onlyJob(wh: Warehouse): Promise<{ job_id: string; status: string; processed: number; failed: number; last_error: string }> {
  const jobs = await wh.query<{ job_id: string; status: string; processed: number; failed: number; last_error: string }>(
    `SELECT job_id, argMax(status, _ver) AS status, argMax(processed, _ver) AS processed, argMax(failed, _ver) AS failed, argMax(last_error, _ver) AS last_error FROM meta_batch_jobs GROUP BY job_id`,
  );
  expect(jobs).toHaveLength(1);
  return jobs[0]!;
}

/** Per account over the job's window: loaded daily totals against the generator's. */
async function expectTruth(wh: Warehouse, jobId: string): Promise<void> {
  const [p] = await wh.query<{ params: string }>(`SELECT argMax(params, _ver) AS params FROM meta_batch_jobs WHERE job_id = '${jobId}'`);
  const { window_since: since, window_until: until } = JSON.parse(p!.params) as { window_since: string; window_until: string };
  const rows = await wh.query<{ account_id: string; rows: string; cents: string; impressions: string; clicks: string }>(
    `SELECT account_id, count() AS rows, toString(sum(toInt64(spend * 100))) AS cents, sum(impressions) AS impressions, sum(clicks) AS clicks
     FROM stg_fb_insights_daily FINAL WHERE _deleted = 0 AND date BETWEEN toDate('${since}') AND toDate('${until}') GROUP BY account_id ORDER BY account_id`,
  );
  const loaded = rows.map((r) => [r.account_id, Number(r.rows), Number(r.cents), Number(r.impressions), Number(r.clicks)]);
  const truth = ACCOUNTS.map((a) => {
    const days = expectedFbDaily(SEED, a, since, until, { now: NOW });
    return [a, days.reduce((n, d) => n + d.rows, 0), days.reduce((n, d) => n + d.spendCents, 0), days.reduce((n, d) => n + d.impressions, 0), days.reduce((n, d) => n + d.clicks, 0)];
  });
  expect(loaded).toEqual(truth);
}

describe('batch-sync facebook as a process', () => {
  let sandbox: FbSandbox;
  beforeAll(async () => {
    sandbox = await startSandbox({ seed: SEED, faults: new Set(), now: NOW });
  });
  afterAll(async () => {
    await sandbox?.close();
  });

  it('SIGKILL in the middle, then --resume: identical totals, the story told, no account left running, one refresh for all', async () => {
    const wh = await freshWarehouse();
    try {
      const env = { ...wh.env, ...sandbox.env, ...FAST };
      const child = startCli(['batch-sync', 'facebook', '--workers', '2', '--pause-ms', '0'], { ...env, ...SLOW });
      const exited = new Promise((resolve) => child.on('exit', resolve));
      // Kill once an account has completed and another is in the middle of a step.
      await vi.waitFor(
        async () => {
          const states = await accountStates(wh);
          expect(states.some((s) => s.status === 'completed')).toBe(true);
          expect(states.some((s) => s.status === 'running' && s.step_fullsync === 'completed')).toBe(true);
        },
        { timeout: 60_000, interval: 50 },
      );
      child.kill('SIGKILL');
      await exited;

      const killed = await onlyJob(wh);
      expect(killed.status).toBe('running');
      const atKill = await accountStates(wh, killed.job_id);
      const wasRunning = atKill.filter((s) => s.status === 'running').map((s) => s.account_id);
      const wasCompleted = atKill.filter((s) => s.status === 'completed').map((s) => s.account_id);
      const runIdsBefore = await wh.query<{ account_id: string; run_ids: string[] }>(
        `SELECT account_id, argMax(run_ids, _ver) AS run_ids FROM meta_batch_account_log WHERE job_id = '${killed.job_id}' GROUP BY account_id ORDER BY account_id`,
      );
      expect(wasRunning.length).toBeGreaterThan(0);
      expect(atKill.filter((s) => s.status === 'completed').length).toBeLessThan(ACCOUNTS.length);

      const r = await runCli(['batch-sync', 'facebook', '--resume', killed.job_id, '--pause-ms', '0'], env);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(r.stdout).toContain(`batch job ${killed.job_id}: completed`);
      expect(r.stdout).toMatch(/analytics refresh of 5 account\(s\): \d+ anomaly \+ \d+ burnout history rows/);

      const job = await onlyJob(wh);
      expect(job).toMatchObject({ job_id: killed.job_id, status: 'completed', processed: 5, failed: 0 });
      const after = await accountStates(wh, job.job_id);
      expect(after.map((s) => s.status)).toEqual(ACCOUNTS.map(() => 'completed'));
      // The history says what happened: the job was found dead, its running accounts interrupted, then re-run.
      const [jh] = await wh.query<{ history: string[] }>(`SELECT argMax(history, _ver) AS history FROM meta_batch_jobs WHERE job_id = '${job.job_id}'`);
      expect(jh!.history.map((h) => h.replace(/^\S+ \S+ /, '').replace(/\d+/g, 'N'))).toEqual([
        expect.stringMatching(/^the process running this job \(pid N on .+\) died \(last heartbeat\); found by pid N on /),
        expect.stringMatching(/^resumed \(was failed\) by pid N on /),
      ]);
      for (const id of wasRunning) {
        const [a] = await wh.query<{ status: string; attempts: number; history: string[] }>(
          `SELECT argMax(status, _ver) AS status, argMax(attempts, _ver) AS attempts, argMax(history, _ver) AS history FROM meta_batch_account_log WHERE job_id = '${job.job_id}' AND account_id = '${id}'`,
        );
        expect(a).toEqual({ status: 'completed', attempts: 2, history: [expect.stringMatching(/attempt 1 interrupted: the process running the job died$/)] });
      }
      // Accounts completed before the kill were skipped by the resume: same runs, one attempt.
      const runIdsAfter = await wh.query<{ account_id: string; run_ids: string[]; attempts: number }>(
        `SELECT account_id, argMax(run_ids, _ver) AS run_ids, argMax(attempts, _ver) AS attempts FROM meta_batch_account_log WHERE job_id = '${job.job_id}' GROUP BY account_id ORDER BY account_id`,
      );
      for (const id of wasCompleted) {
        const after = runIdsAfter.find((r) => r.account_id === id)!;
        expect(after.run_ids).toEqual(runIdsBefore.find((r) => r.account_id === id)!.run_ids);
        expect(after.attempts).toBe(1);
      }
      // The refresh ran once, after the resume's loads, for the accounts completed before the kill as well:
      // the history holds what the views show for each of them (one detection time).
      const refreshed = await wh.query<{ account_id: string; step_burnout: string; rows_burnout: string }>(
        `SELECT account_id, argMax(step_burnout, _ver) AS step_burnout, toString(argMax(rows_burnout, _ver)) AS rows_burnout FROM meta_batch_account_log WHERE job_id = '${job.job_id}' GROUP BY account_id ORDER BY account_id`,
      );
      expect(refreshed.map((a) => a.step_burnout)).toEqual(ACCOUNTS.map(() => 'completed'));
      const [h] = await wh.query<{ at: string }>(`SELECT toString(uniqExact(detected_at)) AS at FROM (SELECT detected_at FROM fb_anomaly_history UNION ALL SELECT detected_at FROM fb_burnout_history)`);
      expect(h!.at).toBe('1');
      const perAccount = async (sql: string) => Object.fromEntries((await wh.query<{ account_id: string; n: string }>(sql)).map((x) => [x.account_id, Number(x.n)]));
      const views = await perAccount(`SELECT account_id, toString(count()) AS n FROM (SELECT account_id FROM v_cpr_anomalies UNION ALL SELECT account_id FROM v_burnout_risk) GROUP BY account_id`);
      const history = await perAccount(`SELECT account_id, toString(count()) AS n FROM (SELECT account_id FROM fb_anomaly_history UNION ALL SELECT account_id FROM fb_burnout_history) GROUP BY account_id`);
      expect(history).toEqual(views);
      expect(wasCompleted.filter((id) => (history[id] ?? 0) > 0).length + wasRunning.filter((id) => (history[id] ?? 0) > 0).length).toBeGreaterThan(0);
      expect(Object.fromEntries(refreshed.filter((a) => Number(a.rows_burnout) > 0).map((a) => [a.account_id, Number(a.rows_burnout)]))).toEqual(history);
      const [left] = await wh.query<{ n: string }>(
        `SELECT count() AS n FROM (SELECT run_id, argMax(status, _ver) AS s FROM meta_job_runs WHERE source = 'facebook' GROUP BY run_id) WHERE s = 'running'`,
      );
      expect(left!.n).toBe('0');
      await expectTruth(wh, job.job_id);
    } finally {
      await wh.drop();
    }
  }, 180_000);

  it('SIGINT pauses the job (exit 130, resume command printed); --resume finishes it to the same totals', async () => {
    const wh = await freshWarehouse();
    try {
      const env = { ...wh.env, ...sandbox.env, ...FAST };
      const child = startCli(['batch-sync', 'facebook', '--workers', '2', '--pause-ms', '0', '--skip-burnout'], { ...env, ...SLOW });
      let stdout = '';
      child.stdout!.on('data', (d) => (stdout += d));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      await vi.waitFor(
        async () => {
          const states = await accountStates(wh);
          expect(states.some((s) => s.status === 'running' && s.step_fullsync === 'completed')).toBe(true);
        },
        { timeout: 60_000, interval: 50 },
      );
      child.kill('SIGINT');
      expect(await exited).toBe(130);

      const job = await onlyJob(wh);
      expect(job.status).toBe('paused');
      expect(stdout).toContain(`adhouse batch-sync facebook --resume ${job.job_id}`);
      const states = await accountStates(wh, job.job_id);
      expect(states.filter((s) => s.status === 'running')).toEqual([]);
      expect(states.some((s) => s.status === 'paused')).toBe(true);
      const [jh] = await wh.query<{ history: string[] }>(`SELECT argMax(history, _ver) AS history FROM meta_batch_jobs WHERE job_id = '${job.job_id}'`);
      expect(jh!.history).toEqual([expect.stringMatching(/ paused by SIGINT$/)]);
      // The aborted loader runs are recorded interrupted by the runtime, none left running.
      const runs = await wh.query<{ s: string; n: string }>(
        `SELECT s, count() AS n FROM (SELECT run_id, argMax(status, _ver) AS s FROM meta_job_runs WHERE source = 'facebook' GROUP BY run_id) GROUP BY s ORDER BY s`,
      );
      expect(runs.map((r) => r.s)).toContain('interrupted');
      expect(runs.map((r) => r.s)).not.toContain('running');

      const r = await runCli(['batch-sync', 'facebook', '--resume', job.job_id, '--pause-ms', '0'], env);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      const done = await onlyJob(wh);
      expect(done).toMatchObject({ status: 'completed', processed: 5, failed: 0 });
      expect((await accountStates(wh, job.job_id)).map((s) => s.status)).toEqual(ACCOUNTS.map(() => 'completed'));
      await expectTruth(wh, job.job_id);
    } finally {
      await wh.drop();
    }
  }, 180_000);
});
