// meta_job_runs: one row per loader run, updated by appending new versions (_ver = ms). A run is never
// left `running` forever: the next run of the same source marks a dead one `interrupted`.
import { hostname } from 'node:os';
import type { ClickHouseClient } from '../clickhouse/client.js';
import { queryRows } from '../clickhouse/client.js';
import { sqlString } from '../clickhouse/literal.js';
import { utcDateTime } from './dates.js';
import type { ErrorClass } from './errors.js';
import { redactString } from './redact.js';

export type RunStatus = 'running' | 'success' | 'failed' | 'interrupted';

export interface RunRecord {
  run_id: string;
  source: string;
  kind: 'load' | 'backfill';
  status: RunStatus;
  started_at: string;
  finished_at: string | null;
  heartbeat_at: string;
  window_since: string;
  window_until: string;
  account: string;
  rows_read: number;
  rows_written: number;
  rows_quarantined: number;
  rows_skipped: number;
  rows_deleted: number;
  error_class: ErrorClass | '';
  error_message: string;
  backfill_id: string;
  host: string;
  pid: number;
}

/** A run whose heartbeat is older than this is dead even if its host cannot be asked. */
export const STALE_AFTER_MS = 10 * 60_000;
export const HEARTBEAT_MS = 30_000;

/** Monotonic per process so two versions written in the same millisecond still order. */
let lastVersion = 0;
export function nextVersion(): number {
  lastVersion = Math.max(Date.now(), lastVersion + 1);
  return lastVersion;
}

function runRow(record: RunRecord): RunRecord & { _ver: number } {
  return { ...record, error_message: redactString(record.error_message).slice(0, 4000), _ver: nextVersion() };
}

export async function writeRun(client: ClickHouseClient, record: RunRecord): Promise<void> {
  await client.insert({ table: 'meta_job_runs', values: [runRow(record)], format: 'JSONEachRow' });
}

/** Writes run records; `writeRun` alone, or grouped with other runs' records (groupedRunWriter). */
export interface RunRecordWriter {
  write(record: RunRecord): Promise<void>;
}

/**
 * Run records written within `lingerMs()` of each other go in one INSERT (each is a part: tens of ms of
 * ClickHouse CPU whatever its size). For records off the critical path: the batch sync's final records,
 * whose accounts have handed their turn on. `lingerMs()` is asked at each write; 0 sends what waits at once.
 * Each write resolves when its record is stored, or rejects with its error (after a failed shared INSERT,
 * each record is tried once more alone).
 */
export function groupedRunWriter(client: ClickHouseClient, lingerMs: () => number): RunRecordWriter {
  let waiting: Array<{ row: RunRecord & { _ver: number }; done: { resolve: () => void; reject: (err: unknown) => void } }> = [];
  let timer: NodeJS.Timeout | undefined;
  const send = (): void => {
    clearTimeout(timer);
    timer = undefined;
    const batch = waiting;
    waiting = [];
    if (batch.length === 0) return;
    const insert = (rows: Array<(typeof batch)[number]['row']>) => client.insert({ table: 'meta_job_runs', values: rows, format: 'JSONEachRow' });
    insert(batch.map((w) => w.row)).then(
      () => batch.forEach((w) => w.done.resolve()),
      // One refused or lost INSERT must not fail every run in it: each record is tried again on its own.
      () => batch.forEach((w) => insert([w.row]).then(w.done.resolve, w.done.reject)),
    );
  };
  return {
    write(record) {
      const written = new Promise<void>((resolve, reject) => waiting.push({ row: runRow(record), done: { resolve, reject } }));
      const linger = lingerMs();
      if (linger <= 0) send();
      else if (!timer) timer = setTimeout(send, linger);
      return written;
    },
  };
}

export function newRunRecord(fields: Pick<RunRecord, 'run_id' | 'source' | 'kind' | 'window_since' | 'window_until' | 'account' | 'backfill_id'>, startedMs: number): RunRecord {
  const started = utcDateTime(startedMs);
  return {
    ...fields,
    status: 'running',
    started_at: started,
    finished_at: null,
    heartbeat_at: started,
    rows_read: 0,
    rows_written: 0,
    rows_quarantined: 0,
    rows_skipped: 0,
    rows_deleted: 0,
    error_class: '',
    error_message: '',
    host: hostname(),
    pid: process.pid,
  };
}

const LATEST = `SELECT run_id, source, kind, argMax(status, _ver) AS status, started_at,
  argMax(finished_at, _ver) AS finished_at, argMax(heartbeat_at, _ver) AS heartbeat_at,
  window_since, window_until, account,
  argMax(rows_read, _ver) AS rows_read, argMax(rows_written, _ver) AS rows_written,
  argMax(rows_quarantined, _ver) AS rows_quarantined, argMax(rows_skipped, _ver) AS rows_skipped, argMax(rows_deleted, _ver) AS rows_deleted,
  argMax(error_class, _ver) AS error_class, argMax(error_message, _ver) AS error_message,
  backfill_id, host, pid
FROM meta_job_runs`;

/** The newest version of each run of a source (most recent first). */
export async function latestRuns(client: ClickHouseClient, source: string, limit = 50): Promise<RunRecord[]> {
  const rows = await queryRows<RunRecord>(
    client,
    `${LATEST} WHERE source = ${sqlString(source)}
     GROUP BY run_id, source, kind, started_at, window_since, window_until, account, backfill_id, host, pid
     ORDER BY started_at DESC LIMIT ${Math.trunc(limit)}`,
  );
  return rows.map((r) => ({ ...r, rows_read: Number(r.rows_read), rows_written: Number(r.rows_written), rows_quarantined: Number(r.rows_quarantined), rows_skipped: Number(r.rows_skipped), rows_deleted: Number(r.rows_deleted), pid: Number(r.pid) }));
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs this process is executing now: a record with our pid that is not here is dead (a write that was lost). */
const activeRunIds = new Set<string>();
/**
 * Runs of this process that ended lately (ms): a `running` version of one of them read just before its final
 * version was written is a stale read, not a dead run — marking it interrupted would overwrite its success.
 */
const endedRunIds = new Map<string, number>();
export function markRunActive(runId: string, active: boolean, now = Date.now()): void {
  if (active) activeRunIds.add(runId);
  else {
    activeRunIds.delete(runId);
    endedRunIds.set(runId, now);
    for (const [id, at] of endedRunIds) if (now - at > STALE_AFTER_MS) endedRunIds.delete(id);
  }
}

/**
 * Is the process behind a `running` record gone? A heartbeat older than STALE_AFTER_MS always means yes
 * (a reused pid after a reboot cannot keep it alive); our own pid means "is it one of our active runs";
 * another pid on this host is asked of the OS.
 */
export function runIsDead(run: RunRecord, now = Date.now()): boolean {
  if (now - Date.parse(`${run.heartbeat_at.replace(' ', 'T')}Z`) > STALE_AFTER_MS) return true;
  if (run.host !== hostname()) return false;
  if (run.pid === process.pid) return !activeRunIds.has(run.run_id) && !endedRunIds.has(run.run_id);
  return !processAlive(run.pid);
}

/** Marks dead `running` runs of the source `interrupted`; returns the live ones (another process is loading). */
export async function settleStaleRuns(client: ClickHouseClient, source: string): Promise<{ interrupted: RunRecord[]; alive: RunRecord[] }> {
  const running = (await latestRuns(client, source, 200)).filter((r) => r.status === 'running');
  const interrupted: RunRecord[] = [];
  const alive: RunRecord[] = [];
  for (const run of running) {
    if (runIsDead(run)) {
      const ended: RunRecord = { ...run, status: 'interrupted', finished_at: run.heartbeat_at, error_class: 'aborted', error_message: 'the process running this load died (found by a later run)' };
      await writeRun(client, ended);
      interrupted.push(ended);
    } else {
      alive.push(run);
    }
  }
  return { interrupted, alive };
}
