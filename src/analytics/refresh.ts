// Refreshes the analytics (`adhouse analytics refresh`, the batch sync's last step, the demo):
//   1. the stored copy of v_cpr_anomalies and v_burnout_risk (fb_anomaly_store, fb_burnout_store): computed once
//      when the current one no longer matches the data, and served by the views until the data changes
//      (int_fb_analytics_store_gate, sql/views/README.md "Stored copy");
//   2. the history: the stored rows not recorded yet go to
//      fb_anomaly_history: (ad, week) spikes not recorded yet — the table holds first detections only;
//      fb_burnout_history: (ad, week, risk_level) not recorded yet — an escalation of a week is a new row.
// History rows are only ever inserted: a past detection is never rewritten.
import { randomInt } from 'node:crypto';
import { queryRows, type ClickHouseClient } from '../clickhouse/client.js';
import { sqlDate, sqlDateTime, sqlIdent, sqlInt, sqlString, sqlStringList } from '../clickhouse/literal.js';
import { utcDateTime } from '../runtime/dates.js';

/** The objects a refresh reads and writes; all come from migrations 0012, 0015 and views 0030–0039. */
export const ANALYTICS_OBJECTS = [
  'v_cpr_anomalies', 'v_burnout_risk', 'fb_anomaly_history', 'fb_burnout_history',
  'fb_analytics_store_state', 'fb_anomaly_store', 'fb_burnout_store',
] as const;

/** fb_anomaly_history's columns but detected_at (fb_anomaly_store has them all). */
const ANOMALY_HISTORY_COLUMNS = [
  'platform', 'account_id', 'campaign_id', 'adset_id', 'ad_id', 'ad_name', 'currency', 'result_family', 'week_start',
  'anomaly_type', 'current_value', 'baseline_value', 'delta_pct', 'results', 'baseline_weeks', 'anomaly_score', 'confidence',
  'trigger_metrics', 'trigger_values', 'trigger_deltas_pct', 'deviation_week_offsets', 'deviation_weeks', 'deviation_metrics',
  'deviation_values', 'deviation_deltas_pct',
];

/** fb_burnout_history's columns but detected_at (fb_burnout_store has them all). */
const BURNOUT_HISTORY_COLUMNS = [
  'platform', 'account_id', 'campaign_id', 'adset_id', 'ad_id', 'ad_name', 'week_start', 'risk_score', 'risk_level',
  'driver_names', 'driver_values', 'driver_contributions', 'predicted_cpr_change_pct',
];

export interface RefreshOptions {
  /** Only these accounts' history (`act_<n>`); undefined or empty: every account. The stored copy is always whole. */
  accountIds?: string[];
  /** The detection time written to the rows (default now); whole seconds, UTC. */
  detectedAt?: Date;
  signal?: AbortSignal;
}

export interface RefreshResult {
  anomalies: number;
  burnout: number;
  /** The stored copy's generation the history was read from. */
  generation: string;
  /** True when this refresh computed the views (the stored copy did not match the data); false: it was current. */
  computed: boolean;
}

/** True when the views and history tables exist in the client's database (migrate has run 0012). */
export async function analyticsViewsExist(client: ClickHouseClient, signal?: AbortSignal): Promise<boolean> {
  const rows = await queryRows<{ name: string }>(
    client,
    `SELECT name FROM system.tables WHERE database = currentDatabase() AND name IN ${sqlStringList([...ANALYTICS_OBJECTS])}`,
    signal,
  );
  return rows.length === ANALYTICS_OBJECTS.length;
}

/**
 * Brings the stored copy up to date, then inserts its rows not yet in history with detected_at =
 * opts.detectedAt. Returns the history rows inserted. Two refreshes at the same moment could both insert a
 * history row; the batch sync runs one refresh per job at a time, so this is not guarded further.
 */
export async function refreshAnalytics(client: ClickHouseClient, opts: RefreshOptions = {}): Promise<RefreshResult> {
  const store = await refreshStore(client, opts.signal);
  const at = sqlDateTime(utcDateTime((opts.detectedAt ?? new Date()).getTime()));
  const accounts = opts.accountIds?.length ? `account_id IN ${sqlStringList(opts.accountIds)}` : '1';
  const from = (table: string) => `${table} WHERE generation = ${sqlInt(BigInt(store.generation))} AND ${accounts}`;
  const anomalies = await insertNew(client, {
    table: 'fb_anomaly_history',
    from: from('fb_anomaly_store'),
    columns: ANOMALY_HISTORY_COLUMNS,
    key: ['platform', 'account_id', 'ad_id', 'week_start'],
    accounts,
    at,
    signal: opts.signal,
  });
  const burnout = await insertNew(client, {
    table: 'fb_burnout_history',
    from: from('fb_burnout_store'),
    columns: BURNOUT_HISTORY_COLUMNS,
    key: ['platform', 'account_id', 'ad_id', 'week_start', 'risk_level'],
    accounts,
    at,
    signal: opts.signal,
  });
  return { anomalies, burnout, ...store };
}

/** A Facebook load's follow-up (LoaderDefinition.afterLoad): the refresh, when the views exist. */
export async function refreshAfterLoad(client: ClickHouseClient, signal: AbortSignal): Promise<string> {
  if (!(await analyticsViewsExist(client, signal))) return '';
  const r = await refreshAnalytics(client, { signal });
  return `analytics ${r.computed ? 'refreshed' : 'current'}: ${r.anomalies} new CPR anomal${r.anomalies === 1 ? 'y' : 'ies'}, ${r.burnout} new burnout row(s)`;
}

/**
 * The stored copy's current generation: the served one when it still matches the data, else a new one,
 * computed now. The fingerprint and day are read before the views are computed, so rows that land while they
 * are computed make the new generation stale at once (served again only after the next refresh), never wrong.
 * Concurrent refreshes each write a generation; the newest start wins (its data is the newest).
 */
export async function refreshStore(client: ClickHouseClient, signal?: AbortSignal): Promise<{ generation: string; computed: boolean }> {
  const [now] = await queryRows<{ fingerprint: string; day: string; stored: number; newest: string }>(
    client,
    `SELECT fingerprint, toString(today()) AS day, gate.1 AS stored, toString(gate.2) AS newest
     FROM (SELECT fingerprint, (SELECT (stored, generation) FROM int_fb_analytics_store_gate) AS gate FROM int_fb_analytics_fingerprint)`,
    signal,
  );
  if (Number(now!.stored) === 1) return { generation: now!.newest, computed: false };
  // Milliseconds of the start × 1000 plus a random part: a refresh that starts later has the greater
  // generation (to the millisecond), and the newest state wins whatever order concurrent refreshes finish in.
  const generation = BigInt(Date.now()) * 1000n + BigInt(randomInt(1000));
  const g = sqlInt(generation);
  // The *_rows_computed views have the store tables' columns in their order, after the generation.
  await client.command({ query: `INSERT INTO fb_anomaly_store SELECT ${g} AS generation, * FROM int_fb_anomaly_rows_computed`, abort_signal: signal });
  await client.command({ query: `INSERT INTO fb_burnout_store SELECT ${g} AS generation, * FROM int_fb_burnout_rows_computed`, abort_signal: signal });
  await client.command({
    query: `INSERT INTO fb_analytics_store_state (generation, fingerprint, day, written_at)
VALUES (${g}, ${sqlString(now!.fingerprint)}, ${sqlDate(now!.day)}, ${sqlDateTime(utcDateTime())})`,
    abort_signal: signal,
  });
  // Keep this generation and the one served before it (a read that chose it may still be reading it).
  const keepFrom = BigInt(now!.newest);
  await dropGenerations(client, (p) => p < keepFrom, signal);
  return { generation: generation.toString(), computed: true };
}

/** Drops the stored copy's partitions (one per generation) that `drop` selects. */
async function dropGenerations(client: ClickHouseClient, drop: (generation: bigint) => boolean, signal?: AbortSignal): Promise<void> {
  const parts = await queryRows<{ table: string; partition: string }>(
    client,
    `SELECT DISTINCT table, partition FROM system.parts
     WHERE database = currentDatabase() AND active AND table IN ('fb_anomaly_store', 'fb_burnout_store')`,
    signal,
  );
  for (const p of parts) {
    if (!/^\d+$/.test(p.partition) || !drop(BigInt(p.partition))) continue;
    await client.command({ query: `ALTER TABLE ${sqlIdent(p.table)} DROP PARTITION ${sqlInt(BigInt(p.partition))}`, abort_signal: signal });
  }
}

interface InsertSpec {
  table: string;
  /** `table WHERE …`: the stored rows to record. */
  from: string;
  columns: string[];
  key: string[];
  accounts: string;
  at: string;
  signal?: AbortSignal;
}

async function insertNew(client: ClickHouseClient, s: InsertSpec): Promise<number> {
  const key = `(${s.key.join(', ')})`;
  const names = s.columns.join(', ');
  // Counted on the history table before and after (cheap).
  const written = async () => {
    const [row] = await queryRows<{ n: string }>(client, `SELECT count() AS n FROM ${s.table} WHERE detected_at = ${s.at} AND ${s.accounts}`, s.signal);
    return Number(row?.n ?? 0);
  };
  const before = await written();
  await client.command({
    query: `INSERT INTO ${s.table} (detected_at, ${names})
SELECT ${s.at} AS detected_at, ${names} FROM ${s.from} AND ${key} NOT IN (SELECT ${s.key.join(', ')} FROM ${s.table} WHERE ${s.accounts})`,
    abort_signal: s.signal,
  });
  return (await written()) - before;
}
