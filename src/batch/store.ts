// meta_batch_jobs and meta_batch_account_log: rows updated by appending versions (_ver), read back with
// argMax. A job whose process died is recognised by host/pid/heartbeat, like a dead loader run.
import { hostname } from 'node:os';
import { queryRows, type ClickHouseClient } from '../clickhouse/client.js';
import { sqlString } from '../clickhouse/literal.js';
import { utcDateTime } from '../runtime/dates.js';
import { redactString } from '../runtime/redact.js';
import { nextVersion, runIsDead, type RunRecord } from '../runtime/runs.js';
import type { BatchErrorType } from './errors.js';
import type { BatchStep } from './plan.js';

export type JobStatus = 'pending' | 'running' | 'paused' | 'completed' | 'failed';
export type AccountStatus = 'pending' | 'running' | 'completed' | 'failed' | 'paused' | 'interrupted' | 'skipped';
export type StepStatus = 'pending' | 'running' | 'completed' | 'failed' | 'skipped' | 'paused' | 'interrupted';

export interface JobParams {
  workers: number;
  pause_ms: number;
  limit: number | null;
  skip: BatchStep[];
  window_since: string;
  window_until: string;
}

export interface JobRecord {
  job_id: string;
  job_type: string;
  status: JobStatus;
  accounts_total: number;
  processed: number;
  failed: number;
  skipped: number;
  params: string;
  started_at: string;
  completed_at: string | null;
  heartbeat_at: string;
  host: string;
  pid: number;
  last_error: string;
  history: string[];
}

export interface AccountRecord {
  job_id: string;
  account_id: string;
  business_id: string;
  position: number;
  status: AccountStatus;
  step_fullsync: StepStatus;
  step_weekly: StepStatus;
  step_daily: StepStatus;
  step_burnout: StepStatus;
  rows_fullsync: number;
  rows_weekly: number;
  rows_daily: number;
  rows_burnout: number;
  api_calls: number;
  window_since: string | null;
  window_until: string | null;
  run_ids: string[];
  note: string;
  history: string[];
  last_error: string;
  error_type: BatchErrorType | '';
  attempts: number;
  duration_ms: number;
  worker_id: number;
  started_at: string | null;
  finished_at: string | null;
  started_ms: number;
  finished_ms: number;
}

export function stepStatus(a: AccountRecord, step: BatchStep): StepStatus {
  return a[`step_${step}`];
}

export function newJobRecord(jobId: string, jobType: string, accountsTotal: number, params: JobParams): JobRecord {
  const now = utcDateTime();
  return {
    job_id: jobId,
    job_type: jobType,
    status: 'running',
    accounts_total: accountsTotal,
    processed: 0,
    failed: 0,
    skipped: 0,
    params: JSON.stringify(params),
    started_at: now,
    completed_at: null,
    heartbeat_at: now,
    host: hostname(),
    pid: process.pid,
    last_error: '',
    history: [],
  };
}

export async function writeJob(client: ClickHouseClient, job: JobRecord): Promise<void> {
  const row = { ...job, last_error: redactString(job.last_error).slice(0, 4000), _ver: nextVersion() };
  await client.insert({ table: 'meta_batch_jobs', values: [row], format: 'JSONEachRow' });
}

export async function writeAccounts(client: ClickHouseClient, records: readonly AccountRecord[]): Promise<void> {
  if (records.length === 0) return;
  const rows = records.map((r) => ({ ...r, last_error: redactString(r.last_error).slice(0, 4000), _ver: nextVersion() }));
  await client.insert({ table: 'meta_batch_account_log', values: rows, format: 'JSONEachRow' });
}

const JOB_COLUMNS = ['job_type', 'status', 'accounts_total', 'processed', 'failed', 'skipped', 'params', 'started_at', 'completed_at', 'heartbeat_at', 'host', 'pid', 'last_error', 'history'];

export async function readJob(client: ClickHouseClient, jobId: string): Promise<JobRecord | null> {
  const rows = await queryRows<JobRecord>(
    client,
    `SELECT job_id, ${JOB_COLUMNS.map((c) => `argMax(${c}, _ver) AS ${c}`).join(', ')}
     FROM meta_batch_jobs WHERE job_id = ${sqlString(jobId)} GROUP BY job_id`,
  );
  return rows[0] ? normalizeJob(rows[0]) : null;
}

/** Jobs whose newest version says `running`, of every host. */
export async function runningJobs(client: ClickHouseClient): Promise<JobRecord[]> {
  const rows = await queryRows<JobRecord>(
    client,
    `SELECT job_id, ${JOB_COLUMNS.map((c) => `argMax(${c}, _ver) AS ${c}`).join(', ')}
     FROM meta_batch_jobs GROUP BY job_id HAVING status = 'running'`,
  );
  return rows.map(normalizeJob);
}

function normalizeJob(r: JobRecord): JobRecord {
  return { ...r, accounts_total: Number(r.accounts_total), processed: Number(r.processed), failed: Number(r.failed), skipped: Number(r.skipped), pid: Number(r.pid) };
}

const ACCOUNT_COLUMNS = [
  'business_id', 'position', 'status', 'step_fullsync', 'step_weekly', 'step_daily', 'step_burnout',
  'rows_fullsync', 'rows_weekly', 'rows_daily', 'rows_burnout', 'api_calls', 'window_since', 'window_until', 'run_ids',
  'note', 'history', 'last_error', 'error_type', 'attempts', 'duration_ms', 'worker_id', 'started_at', 'finished_at', 'started_ms', 'finished_ms',
];
const NUMERIC: ReadonlyArray<keyof AccountRecord> = ['position', 'rows_fullsync', 'rows_weekly', 'rows_daily', 'rows_burnout', 'api_calls', 'attempts', 'duration_ms', 'worker_id', 'started_ms', 'finished_ms'];

/** The newest version of every account of a job, in plan order. */
export async function readAccounts(client: ClickHouseClient, jobId: string): Promise<AccountRecord[]> {
  const rows = await queryRows<Record<string, unknown>>(
    client,
    `SELECT job_id, account_id, ${ACCOUNT_COLUMNS.map((c) => `argMax(${c}, _ver) AS ${c}`).join(', ')}
     FROM meta_batch_account_log WHERE job_id = ${sqlString(jobId)} GROUP BY job_id, account_id ORDER BY position`,
  );
  return rows.map((r) => {
    const out = { ...r } as Record<string, unknown>;
    for (const k of NUMERIC) out[k] = Number(r[k]);
    return out as unknown as AccountRecord;
  });
}

/** One line of a history column: when, then what. */
export function historyLine(what: string, at: string = utcDateTime()): string {
  return `${at} ${redactString(what).slice(0, 500)}`;
}

/** Same test as a loader run's: an old heartbeat, or a process on this host that is gone. */
export function jobIsDead(job: JobRecord): boolean {
  // runIsDead reads only these four fields of a run record.
  const probe = { run_id: job.job_id, heartbeat_at: job.heartbeat_at, host: job.host, pid: job.pid } as Pick<RunRecord, 'run_id' | 'heartbeat_at' | 'host' | 'pid'>;
  return runIsDead(probe as RunRecord);
}

/**
 * Records the truth about jobs whose process died: the job `failed` (process gone), its `running`
 * accounts `interrupted`, a refresh in progress `interrupted` in step_burnout. They can then be resumed.
 * Returns the settled job ids.
 */
export async function settleDeadJobs(client: ClickHouseClient, onlyJobId?: string): Promise<string[]> {
  const settled: string[] = [];
  for (const job of await runningJobs(client)) {
    if (onlyJobId && job.job_id !== onlyJobId) continue;
    if (!jobIsDead(job)) continue;
    const accounts = await readAccounts(client, job.job_id);
    // Died during the job's analytics refresh: the accounts' loads are done, only their refresh stopped.
    const refreshStopped = accounts
      .filter((a) => a.status !== 'running' && a.step_burnout === 'running')
      .map((a): AccountRecord => ({
        ...a,
        step_burnout: 'interrupted',
        history: [...a.history, historyLine('analytics refresh interrupted: the process running the job died', job.heartbeat_at)],
      }));
    const stopped = accounts
      .filter((a) => a.status === 'running')
      .map((a): AccountRecord => {
        const steps = Object.fromEntries(
          (['fullsync', 'weekly', 'daily', 'burnout'] as const).map((s) => [`step_${s}`, a[`step_${s}`] === 'running' ? 'interrupted' : a[`step_${s}`]]),
        ) as Pick<AccountRecord, 'step_fullsync' | 'step_weekly' | 'step_daily' | 'step_burnout'>;
        return {
          ...a,
          ...steps,
          status: 'interrupted',
          last_error: `the process running job ${job.job_id} (pid ${job.pid} on ${job.host}) died during this account`,
          history: [...a.history, historyLine(`attempt ${a.attempts} interrupted: the process running the job died`, job.heartbeat_at)],
          finished_at: job.heartbeat_at,
          finished_ms: Date.parse(`${job.heartbeat_at.replace(' ', 'T')}Z`),
        };
      });
    await writeAccounts(client, [...refreshStopped, ...stopped]);
    const why = `the process running this job (pid ${job.pid} on ${job.host}) died`;
    await writeJob(client, { ...job, status: 'failed', completed_at: job.heartbeat_at, last_error: `${why}; resumable with --resume ${job.job_id}`, history: [...job.history, historyLine(`${why} (last heartbeat); found by pid ${process.pid} on ${hostname()}`, job.heartbeat_at)] });
    settled.push(job.job_id);
  }
  return settled;
}
