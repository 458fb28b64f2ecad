// A current ClickHouse (chDB from PyPI) for the compatibility tests: the schema as `adhouse migrate` builds
// it, in a database named compat, and a runner for a list of statements in one chDB session.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { readSqlFiles, renderViewSql, splitStatements, SQL_DIR } from '../../src/clickhouse/migrate.js';
import { viewVars } from '../../src/config/views.js';

export interface ChdbResult {
  rows?: Array<Record<string, unknown>>;
  error?: string;
}

/** CREATE DATABASE compat, the migrations and the views (rendered as migrate renders them for that database). */
export function chdbSchema(): { setup: string[]; migrations: string[]; views: string[] } {
  const vars = { ...viewVars({}), DATABASE: "'compat'" };
  return {
    setup: [
      'CREATE DATABASE compat',
      'USE compat',
      "CREATE TABLE IF NOT EXISTS meta_schema_migrations (name String, checksum String, applied_at DateTime('UTC')) ENGINE = MergeTree ORDER BY name",
    ],
    migrations: readSqlFiles(path.join(SQL_DIR, 'migrations')).flatMap((f) => splitStatements(f.text)),
    views: readSqlFiles(path.join(SQL_DIR, 'views')).flatMap((f) => splitStatements(renderViewSql(f.text, vars, f.name))),
  };
}

/** Runs the statements in one chDB session; per statement its JSONEachRow rows or its error. */
export function runChdb(statements: string[]): { status: number | null; stderr: string; results: ChdbResult[] } {
  const py = spawnSync('python3', [path.join(__dirname, '..', 'compat', 'chdb_run.py')], { input: JSON.stringify(statements), encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: py.status, stderr: py.stderr, results: py.status === 0 ? (JSON.parse(py.stdout) as ChdbResult[]) : [] };
}
