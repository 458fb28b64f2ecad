// The incremental cursor: the last day an incremental run loaded completely. Backfills and explicit
// windows never move it (DESIGN.md).
import type { ClickHouseClient } from '../clickhouse/client.js';
import { queryRows } from '../clickhouse/client.js';
import { sqlString } from '../clickhouse/literal.js';
import { utcDateTime } from './dates.js';
import { nextVersion } from './runs.js';

export async function readCursor(client: ClickHouseClient, source: string, account = ''): Promise<string | null> {
  const rows = await queryRows<{ d: string }>(
    client,
    `SELECT toString(argMax(cursor_date, _ver)) AS d FROM meta_load_state
     WHERE source = ${sqlString(source)} AND account = ${sqlString(account)} HAVING count() > 0`,
  );
  return rows[0]?.d ?? null;
}

export async function writeCursor(client: ClickHouseClient, source: string, account: string, day: string, runId: string): Promise<void> {
  await client.insert({
    table: 'meta_load_state',
    values: [{ source, account, cursor_date: day, run_id: runId, updated_at: utcDateTime(), _ver: nextVersion() }],
    format: 'JSONEachRow',
  });
}
