// Runs one rule: its query (operator-written SQL, trusted like a migration) or a built-in row source.
// A rule over a table that does not exist yet (fb_anomaly_history before the Facebook anomaly work)
// is skipped with the reason, so one missing table never fails the whole evaluation.
import { queryRows, type ClickHouseClient } from '../clickhouse/client.js';
import { sqlStringList } from '../clickhouse/literal.js';
import type { AlertRule } from './rules.js';

export type RuleRows = { status: 'ok'; rows: Array<Record<string, unknown>> } | { status: 'skipped'; reason: string } | { status: 'failed'; error: string };

/** Failing smoke checks as rows ({check, rows}); injected so the evaluator does not depend on the CLI. */
export type SmokeChecks = () => Promise<Array<{ check: string; rows: number }>>;

// 18.16: "Table db.x doesn't exist."; current: "Table db.x does not exist" or "Unknown table expression identifier 'x'".
const MISSING_TABLE = /Table (?:[A-Za-z0-9_]+\.)?([A-Za-z0-9_]+) (?:doesn't|does not) exist|Unknown table expression identifier '(?:[A-Za-z0-9_]+\.)?([A-Za-z0-9_]+)'/;

export function missingTable(message: string): string | undefined {
  const m = MISSING_TABLE.exec(message);
  return m ? (m[1] ?? m[2]) : undefined;
}

export async function runRule(client: ClickHouseClient, rule: AlertRule, smokeChecks: SmokeChecks, signal?: AbortSignal): Promise<RuleRows> {
  try {
    if (rule.requires.length > 0) {
      const present = new Set((await queryRows<{ name: string }>(client, `SELECT name FROM system.tables WHERE database = currentDatabase() AND name IN ${sqlStringList(rule.requires)}`, signal)).map((r) => r.name));
      const missing = rule.requires.filter((t) => !present.has(t));
      if (missing.length > 0) return { status: 'skipped', reason: `table ${missing.join(', ')} not present` };
    }
    if (rule.builtin === 'smoke_checks') return { status: 'ok', rows: (await smokeChecks()).filter((r) => !rule.excludeChecks.includes(String(r.check))) };
    return { status: 'ok', rows: await queryRows(client, rule.query!, signal) };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const table = missingTable(message);
    if (table) return { status: 'skipped', reason: `table ${table} not present` };
    return { status: 'failed', error: message.split('\n')[0]!.slice(0, 500) };
  }
}
