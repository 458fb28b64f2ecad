// Snapshots of the live analytics views into their history tables (`adhouse analytics refresh`, and the batch
// sync's last step, once per job for the accounts it loaded). The views recompute from the current data on every read; the history
// records when a detection was first seen, so alerts and reports can ask "what is new since T".
//   fb_anomaly_history: (ad, week) spikes not recorded yet — the table holds first detections only.
//   fb_burnout_history: (ad, week, risk_level) not recorded yet — an escalation of a week is a new row.
// Rows are only ever inserted: a past detection is never rewritten.
import { queryRows, type ClickHouseClient } from '../clickhouse/client.js';
import { sqlDateTime, sqlStringList } from '../clickhouse/literal.js';
import { utcDateTime } from '../runtime/dates.js';

/** The objects a refresh reads and writes; all come from migration 0012 and views 0030–0039. */
export const ANALYTICS_OBJECTS = ['v_cpr_anomalies', 'v_burnout_risk', 'fb_anomaly_history', 'fb_burnout_history'] as const;

const ANOMALY_COLUMNS = [
  'platform', 'account_id', 'campaign_id', 'adset_id', 'ad_id', 'ad_name', 'currency', 'result_family', 'week_start',
  'anomaly_type', 'current_value', 'baseline_value', 'delta_pct', 'results', 'baseline_weeks', 'anomaly_score', 'confidence',
  // likely_triggers / preceding_deviations as the table's parallel arrays (0012_analytics.sql says why)
  'arrayMap(z -> z.1, likely_triggers) AS trigger_metrics',
  'arrayMap(z -> z.2, likely_triggers) AS trigger_values',
  'arrayMap(z -> z.3, likely_triggers) AS trigger_deltas_pct',
  'arrayMap(w -> w.1, preceding_deviations) AS deviation_week_offsets',
  'arrayMap(w -> w.2, preceding_deviations) AS deviation_weeks',
  'arrayMap(w -> arrayMap(z -> z.1, w.3), preceding_deviations) AS deviation_metrics',
  'arrayMap(w -> arrayMap(z -> z.2, w.3), preceding_deviations) AS deviation_values',
  'arrayMap(w -> arrayMap(z -> z.3, w.3), preceding_deviations) AS deviation_deltas_pct',
];

const BURNOUT_COLUMNS = [
  'platform', 'account_id', 'campaign_id', 'adset_id', 'ad_id', 'ad_name', 'week_start', 'risk_score', 'risk_level',
  'arrayMap(z -> z.1, top_drivers) AS driver_names',
  'arrayMap(z -> z.2, top_drivers) AS driver_values',
  'arrayMap(z -> z.3, top_drivers) AS driver_contributions',
  'predicted_cpr_change_pct',
];

export interface RefreshOptions {
  /** Only these accounts (`act_<n>`); undefined or empty: every account. */
  accountIds?: string[];
  /** The detection time written to the rows (default now); whole seconds, UTC. */
  detectedAt?: Date;
  signal?: AbortSignal;
}

export interface RefreshResult {
  anomalies: number;
  burnout: number;
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
 * Inserts the view rows not yet in history with detected_at = opts.detectedAt. Returns the rows inserted.
 * Two refreshes of the same accounts at the same moment could both insert a row; the batch sync runs one
 * refresh per job at a time, so this is not guarded further.
 */
export async function refreshAnalytics(client: ClickHouseClient, opts: RefreshOptions = {}): Promise<RefreshResult> {
  const at = sqlDateTime(utcDateTime((opts.detectedAt ?? new Date()).getTime()));
  const accounts = opts.accountIds?.length ? `account_id IN ${sqlStringList(opts.accountIds)}` : '1';
  const anomalies = await insertNew(client, {
    table: 'fb_anomaly_history',
    view: 'v_cpr_anomalies',
    columns: ANOMALY_COLUMNS,
    key: ['platform', 'account_id', 'ad_id', 'week_start'],
    accounts,
    at,
    signal: opts.signal,
  });
  const burnout = await insertNew(client, {
    table: 'fb_burnout_history',
    view: 'v_burnout_risk',
    columns: BURNOUT_COLUMNS,
    key: ['platform', 'account_id', 'ad_id', 'week_start', 'risk_level'],
    accounts,
    at,
    signal: opts.signal,
  });
  return { anomalies, burnout };
}

/** The column a SELECT item writes: `expr AS name` → name. */
const columnName = (item: string): string => item.replace(/^.* AS /, '');

interface InsertSpec {
  table: string;
  view: string;
  columns: string[];
  key: string[];
  accounts: string;
  at: string;
  signal?: AbortSignal;
}

async function insertNew(client: ClickHouseClient, s: InsertSpec): Promise<number> {
  const key = `(${s.key.join(', ')})`;
  const names = s.columns.map(columnName).join(', ');
  const fresh = `SELECT ${s.columns.join(', ')}
FROM ${s.view}
WHERE ${s.accounts} AND ${key} NOT IN (SELECT ${s.key.join(', ')} FROM ${s.table} WHERE ${s.accounts})`;
  // Counted on the history table before and after (cheap), so the views are evaluated once.
  const written = async () => {
    const [row] = await queryRows<{ n: string }>(client, `SELECT count() AS n FROM ${s.table} WHERE detected_at = ${s.at} AND ${s.accounts}`, s.signal);
    return Number(row?.n ?? 0);
  };
  const before = await written();
  await client.command({
    query: `INSERT INTO ${s.table} (detected_at, ${names}) SELECT ${s.at} AS detected_at, ${names} FROM (${fresh})`,
    abort_signal: s.signal,
    // 18.16 pushes the account filter down into the views only when asked (current releases always do):
    // one account of 174 on 1M ad-weeks took 16 s without, 3 s with.
    clickhouse_settings: { enable_optimize_predicate_expression: 1 },
  });
  return (await written()) - before;
}
