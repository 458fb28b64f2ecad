// Seam for the alert rules (issue 6, item 3): where the status page and /metrics learn which alerts are
// firing. Until `meta_alerts` exists the feed is never asked (the snapshot query reports the table's
// presence), so the page shows an empty section and `adhouse_alerts_firing` is 0. The alerts work owns
// FIRING_ALERTS_SQL: it must return the columns of FiringAlert; if it fails, the section says
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

/** A guess at meta_alerts' shape, to be replaced by the alerts work when it creates the table. */
export const FIRING_ALERTS_SQL = `SELECT toString(rule) AS rule, toString(severity) AS severity, toString(dedup_key) AS summary, toString(min(fired_at)) AS since
FROM meta_alerts
GROUP BY rule, severity, dedup_key
HAVING argMax(state, _ver) = 'firing'
ORDER BY since DESC
LIMIT 50`;

export const metaAlertsFeed: AlertsFeed = {
  firing: (client, signal) => queryRows<FiringAlert>(client, FIRING_ALERTS_SQL, signal),
};
