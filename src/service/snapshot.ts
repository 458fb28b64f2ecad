// What the health endpoints, metrics and status page show, read from ClickHouse in ONE query per refresh
// (scalar subqueries folded into a single SELECT), so the service costs the warehouse one query per
// HEALTH_REFRESH_MS whatever the probe traffic. Only SQL that ClickHouse 18.16 understands.
import { randomUUID } from 'node:crypto';
import type { ClickHouseClient } from '../clickhouse/client.js';
import { sqlInt, sqlString } from '../clickhouse/literal.js';

/** Upper bounds (seconds) of the run-duration histogram buckets. */
export const DURATION_BUCKETS_S = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200] as const;
/** Days of rows-loaded history for the status page's sparklines (today included). */
export const SPARK_DAYS = 14;
/** Prefix of every query_id the health refresher uses, so its queries can be told apart in system.query_log. */
export const HEALTH_QUERY_ID_PREFIX = 'adhouse-health-';

export type FreshnessStatus = 'fresh' | 'stale' | 'never';

export interface SourceFreshness {
  source: string;
  enabled: boolean;
  /** UTC 'YYYY-MM-DD hh:mm:ss', or null when no run ever succeeded. */
  lastSuccessAt: string | null;
  newestDataAt: string | null;
  ageMinutes: number | null;
  sloMinutes: number;
  status: FreshnessStatus;
}

export interface RunInfo {
  source: string;
  runId: string;
  kind: string;
  status: string;
  startedAt: string;
  finishedAt: string | null;
  rowsWritten: number;
  rowsQuarantined: number;
  /** Seconds from start to finish (to the refresh, while running). */
  durationS: number;
  errorClass: string;
}

export interface RunTotals {
  source: string;
  status: string;
  runs: number;
  rowsWritten: number;
  rowsQuarantined: number;
  durationSumS: number;
  /** Cumulative counts per DURATION_BUCKETS_S bound. */
  durationBuckets: number[];
}

export interface DailyRows {
  source: string;
  /** 'YYYY-MM-DD' in the reporting time zone. */
  day: string;
  rows: number;
}

export interface WarehouseSnapshot {
  version: string;
  /** ClickHouse's own clock, UTC. */
  serverNow: string;
  /** Max replication delay (system.replicas.absolute_delay); 0 on a single node. */
  replicationLagS: number;
  /** Round trip of the snapshot query. */
  queryMs: number;
  freshness: SourceFreshness[];
  lastRuns: RunInfo[];
  recentRuns: RunInfo[];
  totals: RunTotals[];
  dailyRows: DailyRows[];
  /** Whether meta_alerts exists yet (the alerts feed is asked only then). */
  hasAlertsTable: boolean;
}

// One row per run, its newest version.
const RUNS = `(
  SELECT source, run_id, started_at, argMax(kind, _ver) AS kind, argMax(status, _ver) AS status,
    argMax(finished_at, _ver) AS finished_at, argMax(rows_written, _ver) AS rows_written,
    argMax(rows_quarantined, _ver) AS rows_quarantined, argMax(error_class, _ver) AS error_class
  FROM meta_job_runs
  GROUP BY source, run_id, started_at
)`;

const RUN_TUPLE = `tuple(source, run_id, kind, status, toString(started_at), ifNull(toString(finished_at), ''),
  toUInt64(rows_written), toUInt64(rows_quarantined), toInt64(dateDiff('second', started_at, ifNull(finished_at, now()))), error_class)`;

export function snapshotSql(reportingTz: string): string {
  const buckets = DURATION_BUCKETS_S.map((b) => `countIf(duration_s <= ${sqlInt(b)})`).join(', ');
  return `SELECT
  version() AS version,
  toString(now(), 'UTC') AS server_now,
  (SELECT toUInt64(max(absolute_delay)) FROM system.replicas) AS replication_lag_s,
  (SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'meta_alerts') AS has_alerts_table,
  (SELECT groupArray(tuple(source, toUInt8(enabled), ifNull(toString(last_success_at), ''), ifNull(toString(newest_data_at), ''),
      toInt64(ifNull(age_minutes, -1)), toUInt32(slo_minutes), status)) FROM v_data_freshness) AS freshness,
  (SELECT groupArray(${RUN_TUPLE}) FROM (SELECT * FROM ${RUNS} ORDER BY started_at DESC LIMIT 1 BY source)) AS last_runs,
  (SELECT groupArray(${RUN_TUPLE}) FROM (SELECT * FROM ${RUNS} ORDER BY started_at DESC LIMIT 15)) AS recent_runs,
  (SELECT groupArray(tuple(source, status, runs, rows_written, rows_quarantined, duration_sum, buckets)) FROM (
      SELECT source, status, count() AS runs, sum(rows_written) AS rows_written, sum(rows_quarantined) AS rows_quarantined,
        sum(duration_s) AS duration_sum, [${buckets}] AS buckets
      FROM (SELECT source, status, rows_written, rows_quarantined, toInt64(dateDiff('second', started_at, ifNull(finished_at, started_at))) AS duration_s FROM ${RUNS})
      WHERE status != 'running'
      GROUP BY source, status)) AS totals,
  (SELECT groupArray(tuple(source, toString(day), rows)) FROM (
      SELECT source, toDate(started_at, ${sqlString(reportingTz)}) AS day, sum(rows_written) AS rows
      FROM ${RUNS}
      WHERE started_at >= now() - ${sqlInt((SPARK_DAYS + 1) * 86_400)}
      GROUP BY source, day)) AS daily_rows`;
}

type Row = {
  version: string;
  server_now: string;
  replication_lag_s: string | number;
  has_alerts_table: string | number;
  freshness: unknown[][];
  last_runs: unknown[][];
  recent_runs: unknown[][];
  totals: unknown[][];
  daily_rows: unknown[][];
};

const str = (v: unknown): string => (v === null || v === undefined ? '' : String(v));
const num = (v: unknown): number => Number(v ?? 0);
const orNull = (v: unknown): string | null => (str(v) === '' ? null : str(v));

function runInfo(t: unknown[]): RunInfo {
  return {
    source: str(t[0]),
    runId: str(t[1]),
    kind: str(t[2]),
    status: str(t[3]),
    startedAt: str(t[4]),
    finishedAt: orNull(t[5]),
    rowsWritten: num(t[6]),
    rowsQuarantined: num(t[7]),
    durationS: Math.max(0, num(t[8])),
    errorClass: str(t[9]),
  };
}

export function parseSnapshot(row: Row, queryMs: number): WarehouseSnapshot {
  return {
    version: str(row.version),
    serverNow: str(row.server_now),
    replicationLagS: num(row.replication_lag_s),
    queryMs,
    hasAlertsTable: num(row.has_alerts_table) > 0,
    freshness: row.freshness.map((t) => ({
      source: str(t[0]),
      enabled: num(t[1]) === 1,
      lastSuccessAt: orNull(t[2]),
      newestDataAt: orNull(t[3]),
      ageMinutes: num(t[4]) < 0 ? null : num(t[4]),
      sloMinutes: num(t[5]),
      status: (['fresh', 'stale', 'never'].includes(str(t[6])) ? str(t[6]) : 'never') as FreshnessStatus,
    })),
    lastRuns: row.last_runs.map(runInfo),
    recentRuns: row.recent_runs.map(runInfo),
    totals: row.totals.map((t) => ({
      source: str(t[0]),
      status: str(t[1]),
      runs: num(t[2]),
      rowsWritten: num(t[3]),
      rowsQuarantined: num(t[4]),
      durationSumS: num(t[5]),
      durationBuckets: (t[6] as unknown[]).map(num),
    })),
    dailyRows: row.daily_rows.map((t) => ({ source: str(t[0]), day: str(t[1]), rows: num(t[2]) })),
  };
}

/** The one query of a refresh. `logQueries` asks ClickHouse to record it in system.query_log (the bench). */
export async function readSnapshot(client: ClickHouseClient, reportingTz: string, opts: { signal?: AbortSignal; logQueries?: boolean } = {}): Promise<WarehouseSnapshot> {
  const t0 = performance.now();
  const rs = await client.query({
    query: snapshotSql(reportingTz),
    format: 'JSONEachRow',
    query_id: `${HEALTH_QUERY_ID_PREFIX}${randomUUID()}`,
    abort_signal: opts.signal,
    clickhouse_settings: opts.logQueries ? { log_queries: 1 } : undefined,
  });
  const rows = (await rs.json()) as Row[];
  if (rows.length !== 1) throw new Error(`health snapshot query returned ${rows.length} rows`);
  return parseSnapshot(rows[0]!, Math.round(performance.now() - t0));
}
