// The batch's last step: one refresh of the anomaly/burnout history for every account whose load steps
// completed. A refresh evaluates the analytics views over the whole warehouse (seconds at 1M ad-weeks),
// so it runs once per job, not once per account; the rows it inserted are then counted per account.
import { queryRows, type ClickHouseClient } from '../clickhouse/client.js';
import { sqlDateTime, sqlStringList } from '../clickhouse/literal.js';
import { utcDateTime } from '../runtime/dates.js';
import { analyticsViewsExist, refreshAnalytics } from '../analytics/refresh.js';

export type BurnoutResult =
  | { ran: true; anomalies: number; burnout: number; rowsByAccount: Map<string, number>; ms: number }
  | { ran: false; reason: string };

/** History rows detected at `at`, per account of `accountIds`. */
async function rowsAt(client: ClickHouseClient, accountIds: readonly string[], at: string, signal?: AbortSignal): Promise<Map<string, number>> {
  const where = `detected_at = ${sqlDateTime(at)} AND account_id IN ${sqlStringList([...accountIds])}`;
  const rows = await queryRows<{ account_id: string; n: string }>(
    client,
    `SELECT account_id, toString(count()) AS n FROM (
       SELECT account_id FROM fb_anomaly_history WHERE ${where}
       UNION ALL
       SELECT account_id FROM fb_burnout_history WHERE ${where})
     GROUP BY account_id`,
    signal,
  );
  return new Map(rows.map((r) => [r.account_id, Number(r.n)]));
}

export async function refreshBurnout(client: ClickHouseClient, accountIds: readonly string[], signal?: AbortSignal): Promise<BurnoutResult> {
  // Always true after `adhouse migrate` (0012 is a migration); kept for a warehouse not migrated since.
  if (!(await analyticsViewsExist(client, signal))) return { ran: false, reason: 'burnout: skipped, the analytics views do not exist (run adhouse migrate)' };
  const t0 = Date.now();
  // Whole seconds: refreshAnalytics writes detected_at to the second, and the rows are found by it.
  const detectedAt = new Date(Math.floor(t0 / 1000) * 1000);
  const at = utcDateTime(detectedAt.getTime());
  const before = await rowsAt(client, accountIds, at, signal);
  const r = await refreshAnalytics(client, { accountIds: [...accountIds], detectedAt, signal });
  const after = await rowsAt(client, accountIds, at, signal);
  const rowsByAccount = new Map(accountIds.map((id) => [id, (after.get(id) ?? 0) - (before.get(id) ?? 0)]));
  return { ran: true, anomalies: r.anomalies, burnout: r.burnout, rowsByAccount, ms: Date.now() - t0 };
}
