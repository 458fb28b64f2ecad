// Where the status page and /metrics learn which alerts are firing: meta_alerts, written by src/alerts.
// Until the table exists the feed is never asked (the snapshot query reports the table's presence), so
// the page shows an empty section and `adhouse_alerts_firing` is 0; if the query fails, the section says
// "unavailable" and health is not affected.
import type { ClickHouseClient } from '../clickhouse/client.js';
import { queryRows } from '../clickhouse/client.js';

export interface FiringAlert {
  rule: string;
  severity: string;
  /** The dedup key or a short human summary of what fires. */
  summary: string;
  /** UTC 'YYYY-MM-DD hh:mm:ss' when it started firing. */
  since: string;
}

export interface AlertsFeed {
  firing(client: ClickHouseClient, signal?: AbortSignal): Promise<FiringAlert[]>;
}

/** Firing instances from meta_alerts (sql/migrations/0009_alerts.sql): the latest version of each (rule, dedup key). */
export const FIRING_ALERTS_SQL = `SELECT rule, severity, summary, since
FROM
(
    SELECT rule, dedup_key, argMax(state, _ver) AS state, argMax(severity, _ver) AS severity,
        if(argMax(summary, _ver) = '', dedup_key, argMax(summary, _ver)) AS summary,
        toString(argMax(fired_at, _ver)) AS since
    FROM meta_alerts
    GROUP BY rule, dedup_key
)
WHERE state = 'firing'
ORDER BY since DESC, rule, summary
LIMIT 50`;

export const metaAlertsFeed: AlertsFeed = {
  firing: (client, signal) => queryRows<FiringAlert>(client, FIRING_ALERTS_SQL, signal),
};
