import path from 'node:path';
import type { Command } from 'commander';
import { connect, queryRows } from '../clickhouse/client.js';
import { readSqlFiles, renderViewSql, SQL_DIR } from '../clickhouse/migrate.js';
import { viewVars } from '../config/views.js';
import { ensureClickHouse, formatTable, say, setup } from './common.js';

export interface CheckResult {
  name: string;
  violations: Array<Record<string, unknown>>;
}

/** Runs every sql/checks query; each returns offending rows, zero rows = pass. */
export async function runChecks(client: ReturnType<typeof connect>, dir = path.join(SQL_DIR, 'checks'), vars = viewVars()): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const file of readSqlFiles(dir)) {
    const sql = renderViewSql(file.text, vars, file.name).trim().replace(/;\s*$/, '');
    out.push({ name: file.name, violations: await queryRows(client, `SELECT * FROM (${sql}) LIMIT 100`) });
  }
  return out;
}

export function registerCheck(program: Command): void {
  program
    .command('check')
    .description('run the smoke checks in sql/checks; exit 1 on any violation')
    .action(async () => {
      const s = setup();
      await ensureClickHouse(s);
      const client = connect(s.ch);
      try {
        const results = await runChecks(client);
        for (const r of results) {
          say(`${r.violations.length === 0 ? 'ok  ' : 'FAIL'} ${r.name}${r.violations.length ? ` (${r.violations.length} row(s))` : ''}`);
          if (r.violations.length) process.stdout.write(`${formatTable(r.violations)}\n`);
        }
        if (results.some((r) => r.violations.length > 0)) process.exitCode = 1;
      } finally {
        await client.close();
      }
    });
}
