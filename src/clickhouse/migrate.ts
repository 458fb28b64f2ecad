// `adhouse migrate`: create the database, apply sql/migrations/*.sql in order (each once, checksummed),
// then re-create every view in sql/views/ in file order. 18.16 has no CREATE OR REPLACE VIEW: drop, create.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClickHouseConfig } from '../config/clickhouse.js';
import { AdhouseError } from '../runtime/errors.js';
import { utcDateTime } from '../runtime/dates.js';
import { connect, queryRows, type ClickHouseClient } from './client.js';
import { sqlIdent, sqlString } from './literal.js';
import type { Env } from '../config/env.js';
import { viewVars } from '../config/views.js';

export const SQL_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../sql');

export interface SqlFile {
  name: string;
  text: string;
  checksum: string;
}

export function readSqlFiles(dir: string): SqlFile[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => /^\d{4}_.+\.sql$/.test(f)).sort();
  } catch {
    return [];
  }
  return names.map((name) => {
    const text = readFileSync(path.join(dir, name), 'utf8');
    return { name, text, checksum: createHash('sha256').update(text).digest('hex') };
  });
}

/** Splits a file into statements at `;` outside quotes and comments. */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let current = '';
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i]!;
    const next = sql[i + 1];
    if (ch === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end + 1;
      current += '\n';
      continue;
    }
    if (ch === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end === -1 ? sql.length : end + 2;
      current += ' ';
      continue;
    }
    if (ch === "'" || ch === '"' || ch === '`') {
      let j = i + 1;
      while (j < sql.length && sql[j] !== ch) j += sql[j] === '\\' ? 2 : 1;
      current += sql.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (ch === ';') {
      if (current.trim()) out.push(current.trim());
      current = '';
      i++;
      continue;
    }
    current += ch;
    i++;
  }
  if (current.trim()) out.push(current.trim());
  return out;
}

/** The view a statement creates, so the runner can drop it first. */
export function viewName(statement: string): string | null {
  const m =
    /^\s*CREATE\s+(?:MATERIALIZED\s+)?VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:[A-Za-z_][A-Za-z0-9_]*\.)?([A-Za-z_][A-Za-z0-9_]*)/i.exec(statement) ??
    // A Merge table stores nothing (it reads other tables), so it is re-created like a view.
    /^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:[A-Za-z_][A-Za-z0-9_]*\.)?([A-Za-z_][A-Za-z0-9_]*)[^;]*\bENGINE\s*=\s*Merge\s*\(/i.exec(statement);
  return m ? m[1]! : null;
}

export interface MigrateResult {
  applied: string[];
  views: string[];
}

async function ensureMigrationsTable(client: ClickHouseClient): Promise<void> {
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS meta_schema_migrations
      (name String, checksum String, applied_at DateTime('UTC'))
      ENGINE = MergeTree ORDER BY name`,
  });
}

/**
 * Refuses to work on a database whose schema is behind the code (pending migrations) or was built from
 * edited files; commands that read or write data call it first, so the answer is "run adhouse migrate",
 * not an unknown-column error halfway through a load.
 */
/**
 * Databases found up to date per client, with the migration files there were then: applied migrations stay
 * applied, so a process asks ClickHouse again only when a file appears (a deploy: loads then refuse until
 * `adhouse migrate`, as before) instead of on every run.
 */
const migratedSeen = new WeakMap<ClickHouseClient, Map<string, string>>();

export async function assertMigrated(client: ClickHouseClient, database: string, sqlDir = SQL_DIR): Promise<void> {
  const key = `${database}\n${sqlDir}`;
  const files = readdirSync(path.join(sqlDir, 'migrations')).filter((f) => f.endsWith('.sql')).sort().join('\n');
  if (migratedSeen.get(client)?.get(key) === files) return;
  await checkMigrated(client, database, sqlDir);
  let seen = migratedSeen.get(client);
  if (!seen) migratedSeen.set(client, (seen = new Map()));
  seen.set(key, files);
}

async function checkMigrated(client: ClickHouseClient, database: string, sqlDir: string): Promise<void> {
  const files = readSqlFiles(path.join(sqlDir, 'migrations'));
  let done: Map<string, string>;
  try {
    done = new Map((await queryRows<{ name: string; checksum: string }>(client, 'SELECT name, checksum FROM meta_schema_migrations')).map((r) => [r.name, r.checksum]));
  } catch {
    throw new AdhouseError('config', `database ${database} has no schema yet: run \`adhouse migrate\` first`);
  }
  const edited = files.filter((f) => done.has(f.name) && done.get(f.name) !== f.checksum).map((f) => f.name);
  if (edited.length) throw new AdhouseError('config', `migration ${edited[0]} was edited after it was applied (checksum differs); add a new migration file instead of changing an applied one`);
  const pending = files.filter((f) => !done.has(f.name)).map((f) => f.name);
  if (pending.length) throw new AdhouseError('config', `database ${database} is behind the code (pending: ${pending.join(', ')}): run \`adhouse migrate\``);
}

/**
 * View files may use `{{NAME}}` for values that must be constants in SQL (a time zone argument cannot come
 * from a table). Values are rendered by literal.ts from validated configuration; an unknown name is an error.
 *
 * A file that serves several grains of one logic (v_fb_daily_results and v_fb_weekly_results) carries one
 * `-- render: NAME=ident NAME=ident ...` line per copy: the text is rendered once per line with those
 * identifiers added to the values, so the SQL exists once.
 */
export function renderViewSql(text: string, vars: Readonly<Record<string, string>>, file: string): string {
  const copies = [...text.matchAll(/^-- render:(.*)$/gm)].map((m) => {
    const extra: Record<string, string> = {};
    for (const pair of m[1]!.trim().split(/\s+/)) {
      const kv = /^([A-Z_]+)=([a-z_][a-z0-9_]*)$/.exec(pair);
      if (!kv) throw new AdhouseError('config', `view file ${file}: bad render line item ${JSON.stringify(pair)} (expected NAME=identifier)`);
      extra[kv[1]!] = kv[2]!;
    }
    return extra;
  });
  const renderOnce = (values: Readonly<Record<string, string>>) =>
    text.replace(/\{\{([A-Z_]+)\}\}/g, (_, name: string) => {
      const value = values[name];
      if (value === undefined) throw new AdhouseError('config', `view file ${file} uses {{${name}}}, which migrate does not provide`);
      return value;
    });
  if (copies.length === 0) return renderOnce(vars);
  // splitStatements cuts on ';' at line ends: each copy ends with its own statement terminator.
  return copies.map((extra) => renderOnce({ ...vars, ...extra }).trimEnd()).join('\n\n');
}

export async function migrate(ch: ClickHouseConfig, opts: { sqlDir?: string; say?: (line: string) => void; env?: Env } = {}): Promise<MigrateResult> {
  const sqlDir = opts.sqlDir ?? SQL_DIR;
  const say = opts.say ?? (() => {});
  // DATABASE: the views that read system tables name their own database (a view's tables are its database's,
  // but currentDatabase() is the caller's).
  const vars = { ...viewVars(opts.env), DATABASE: sqlString(ch.database) };
  const admin = connect(ch, { database: null });
  try {
    await admin.command({ query: `CREATE DATABASE IF NOT EXISTS ${sqlIdent(ch.database)}` });
  } finally {
    await admin.close();
  }
  const client = connect(ch);
  try {
    await ensureMigrationsTable(client);
    const done = new Map(
      (await queryRows<{ name: string; checksum: string }>(client, 'SELECT name, checksum FROM meta_schema_migrations')).map((r) => [r.name, r.checksum]),
    );
    const applied: string[] = [];
    const migrations = readSqlFiles(path.join(sqlDir, 'migrations'));
    // Refuse before applying anything when history was edited: the schema no longer matches the files.
    for (const m of migrations) {
      const known = done.get(m.name);
      if (known !== undefined && known !== m.checksum) {
        throw new AdhouseError('config', `migration ${m.name} was edited after it was applied (checksum differs); add a new migration file instead of changing an applied one`);
      }
    }
    for (const m of migrations) {
      if (done.has(m.name)) continue;
      for (const statement of splitStatements(m.text)) {
        try {
          await client.command({ query: statement });
        } catch (err) {
          throw new AdhouseError('config', `migration ${m.name} failed: ${(err as Error).message.split('\n')[0]}`, { cause: err });
        }
      }
      await client.insert({ table: 'meta_schema_migrations', values: [{ name: m.name, checksum: m.checksum, applied_at: utcDateTime() }], format: 'JSONEachRow' });
      applied.push(m.name);
      say(`applied ${m.name}`);
    }
    const views: string[] = [];
    for (const file of readSqlFiles(path.join(sqlDir, 'views'))) {
      for (const statement of splitStatements(renderViewSql(file.text, vars, file.name))) {
        const name = viewName(statement);
        if (name) await client.command({ query: `DROP TABLE IF EXISTS ${sqlIdent(name)}` });
        try {
          await client.command({ query: statement });
        } catch (err) {
          throw new AdhouseError('config', `view file ${file.name} failed: ${(err as Error).message.split('\n')[0]}`, { cause: err });
        }
        if (name) views.push(name);
      }
    }
    if (views.length) say(`re-created ${views.length} view(s)`);
    return { applied, views };
  } finally {
    await client.close();
  }
}
