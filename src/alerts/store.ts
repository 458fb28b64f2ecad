// meta_alerts and meta_alert_deliveries: the evaluator reads every instance's latest version at the start
// of each evaluation (so a restart loses nothing) and appends new versions; rows go in as JSONEachRow.
import { queryRows, type ClickHouseClient } from '../clickhouse/client.js';
import { utcDateTime } from '../runtime/dates.js';
import type { AlertInstance, AlertState, NoticeKind } from './state.js';

const LATEST_SQL = `SELECT rule, dedup_key,
    argMax(state, _ver) AS state, argMax(severity, _ver) AS severity,
    argMax(label_keys, _ver) AS label_keys, argMax(label_values, _ver) AS label_values,
    argMax(summary, _ver) AS summary,
    toString(argMax(first_seen, _ver)) AS first_seen, toString(argMax(fired_at, _ver)) AS fired_at,
    toString(argMax(resolved_at, _ver)) AS resolved_at, toString(argMax(last_seen, _ver)) AS last_seen,
    toString(argMax(last_notified_at, _ver)) AS last_notified_at,
    argMax(notify_count, _ver) AS notify_count, argMax(last_delivery_error, _ver) AS last_delivery_error,
    toString(max(_ver)) AS ver
FROM meta_alerts
GROUP BY rule, dedup_key`;

interface Row {
  rule: string;
  dedup_key: string;
  state: string;
  severity: string;
  label_keys: string[];
  label_values: string[];
  summary: string;
  first_seen: string;
  fired_at: string;
  resolved_at: string;
  last_seen: string;
  last_notified_at: string;
  notify_count: number | string;
  last_delivery_error: string;
  ver: string;
}

const ms = (utc: string): number => {
  const t = Date.parse(`${utc.replace(' ', 'T')}Z`);
  return Number.isNaN(t) || t <= 0 ? 0 : t;
};

export const instanceId = (rule: string, dedupKey: string): string => JSON.stringify([rule, dedupKey]);

export async function readInstances(client: ClickHouseClient, signal?: AbortSignal): Promise<Map<string, AlertInstance>> {
  const rows = await queryRows<Row>(client, LATEST_SQL, signal);
  const out = new Map<string, AlertInstance>();
  for (const r of rows) {
    const labels: Record<string, string> = {};
    r.label_keys.forEach((k, i) => (labels[k] = r.label_values[i] ?? ''));
    out.set(instanceId(r.rule, r.dedup_key), {
      rule: r.rule,
      dedupKey: r.dedup_key,
      state: r.state as AlertState,
      severity: r.severity,
      labels,
      summary: r.summary,
      firstSeen: ms(r.first_seen),
      firedAt: ms(r.fired_at),
      resolvedAt: ms(r.resolved_at),
      lastSeen: ms(r.last_seen),
      lastNotifiedAt: ms(r.last_notified_at),
      notifyCount: Number(r.notify_count),
      lastDeliveryError: r.last_delivery_error,
      ver: Number(r.ver),
    });
  }
  return out;
}

export function instanceRow(a: AlertInstance) {
  const keys = Object.keys(a.labels).sort();
  return {
    rule: a.rule,
    dedup_key: a.dedupKey,
    state: a.state,
    severity: a.severity,
    label_keys: keys,
    label_values: keys.map((k) => a.labels[k]!),
    summary: a.summary,
    first_seen: utcDateTime(a.firstSeen),
    fired_at: utcDateTime(a.firedAt),
    resolved_at: utcDateTime(a.resolvedAt),
    last_seen: utcDateTime(a.lastSeen),
    last_notified_at: utcDateTime(a.lastNotifiedAt),
    notify_count: a.notifyCount,
    last_delivery_error: a.lastDeliveryError.slice(0, 1000),
    _ver: a.ver,
  };
}

export interface DeliveryRecord {
  rule: string;
  kind: NoticeKind;
  dedupKeys: string[];
  channel: string;
  recipient: string;
  at: number;
  ok: boolean;
  attempts: number;
  error: string;
}

export async function writeInstances(client: ClickHouseClient, instances: readonly AlertInstance[]): Promise<void> {
  if (instances.length === 0) return;
  await client.insert({ table: 'meta_alerts', values: instances.map(instanceRow), format: 'JSONEachRow' });
}

export async function writeDeliveries(client: ClickHouseClient, deliveries: readonly DeliveryRecord[], ver: number): Promise<void> {
  if (deliveries.length === 0) return;
  await client.insert({
    table: 'meta_alert_deliveries',
    values: deliveries.map((d) => ({ rule: d.rule, kind: d.kind, dedup_keys: d.dedupKeys, channel: d.channel, recipient: d.recipient, at: utcDateTime(d.at), ok: d.ok ? 1 : 0, attempts: d.attempts, error: d.error.slice(0, 1000), _ver: ver })),
    format: 'JSONEachRow',
  });
}
