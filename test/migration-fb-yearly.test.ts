// Migration 0014 rebuilds the Facebook daily and weekly insights tables partitioned by year: every stored
// row (every version, nested arrays, tombstones) survives, the partition key changes, and a load writing
// while it runs loses nothing (the new table takes the name first, the old rows follow).
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, queryRows, type ClickHouseClient } from '../src/clickhouse/client.js';
import { migrate, splitStatements } from '../src/clickhouse/migrate.js';
import { clickhouseConfig } from '../src/config/clickhouse.js';
import { testClickHouseUrl } from './support/warehouse.js';

const MIGRATION = '0014_facebook_insights_yearly.sql';
const SQL_MIGRATIONS = path.resolve(import.meta.dirname, '../sql/migrations');

/** A sql dir with the migrations before 0014 (and no views: they are not what is tested). */
function sqlDirBefore(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'adhouse-mig14-'));
  mkdirSync(path.join(dir, 'migrations'));
  mkdirSync(path.join(dir, 'views'));
  for (const f of readdirSync(SQL_MIGRATIONS)) if (f < MIGRATION) copyFileSync(path.join(SQL_MIGRATIONS, f), path.join(dir, 'migrations', f));
  return dir;
}

const TABLES = [
  { table: 'stg_fb_insights_daily', day: 'date' },
  { table: 'stg_fb_insights_weekly', day: 'week_start' },
] as const;

/** Rows over three months and a year end: several versions of one key, a tombstone, nested arrays. */
async function seed(client: ClickHouseClient): Promise<void> {
  for (const { table, day } of TABLES) {
    await client.command({
      query: `INSERT INTO ${table} (account_id, ${day}, ad_id, adset_id, spend, impressions, \`actions.type\`, \`actions.value\`, _hash, _ver, _deleted)
              SELECT concat('act_', toString(n % 3)), toDate('2025-11-03') + 7 * (n % 12), toString(1000 + n % 7), 's1',
                     toDecimal64(n / 10, 2), n, ['link_click', 'lead'], [toFloat64(n), toFloat64(n % 5)], n, 1 + intDiv(n, 84), toUInt8(n = 100)
              FROM (SELECT number AS n FROM numbers(252)) AS g`,
    });
  }
}

const snapshot = (client: ClickHouseClient, table: string, day: string) =>
  queryRows(client, `SELECT account_id, toString(${day}) AS d, ad_id, toString(spend) AS spend, impressions, \`actions.type\` AS t, \`actions.value\` AS v, _ver, _deleted
                     FROM ${table} ORDER BY account_id, ad_id, d, _ver, impressions`);

describe('migration 0014: Facebook insights partitioned by year', () => {
  let admin: ClickHouseClient;
  const dirs: string[] = [];
  const databases: string[] = [];
  beforeAll(() => {
    admin = connect(clickhouseConfig({ CLICKHOUSE_URL: testClickHouseUrl() }), { database: null });
  });
  afterAll(async () => {
    for (const db of databases) await admin.command({ query: `DROP DATABASE IF EXISTS ${db}` });
    await admin.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  async function databaseBefore0014(): Promise<{ ch: ReturnType<typeof clickhouseConfig>; client: ClickHouseClient }> {
    const database = `t_mig14_${randomBytes(4).toString('hex')}`;
    databases.push(database);
    const dir = sqlDirBefore();
    dirs.push(dir);
    const ch = clickhouseConfig({ CLICKHOUSE_URL: testClickHouseUrl(), CH_DATABASE: database, LOG_LEVEL: 'silent' });
    await migrate(ch, { sqlDir: dir });
    return { ch, client: connect(ch) };
  }

  it('keeps every row and version, and partitions by year', async () => {
    const { ch, client } = await databaseBefore0014();
    await seed(client);
    const before = await Promise.all(TABLES.map((t) => snapshot(client, t.table, t.day)));
    expect(before[0]!.length).toBe(252);
    expect((await migrate(ch, { sqlDir: path.resolve(SQL_MIGRATIONS, '..') })).applied).toContain(MIGRATION);
    const after = await Promise.all(TABLES.map((t) => snapshot(client, t.table, t.day)));
    expect(after).toEqual(before);
    for (const { table, day } of TABLES) {
      const [meta] = await queryRows<{ partition_key: string; engine: string }>(client, `SELECT partition_key, engine FROM system.tables WHERE database = '${ch.database}' AND name = '${table}'`);
      expect(meta).toEqual({ partition_key: `toYear(${day})`, engine: 'ReplacingMergeTree' });
      const partitions = await queryRows<{ partition: string }>(client, `SELECT DISTINCT partition FROM system.parts WHERE database = '${ch.database}' AND table = '${table}' AND active ORDER BY partition`);
      expect(partitions.map((p) => p.partition)).toEqual(['2025', '2026']);
    }
    // Nothing left behind.
    const leftovers = await queryRows<{ name: string }>(client, `SELECT name FROM system.tables WHERE database = '${ch.database}' AND (name LIKE '%_monthly' OR name LIKE '%_by_year')`);
    expect(leftovers).toEqual([]);
    await client.close();
  });

  it('a load writing during the copy loses nothing: the new table has the name before the old rows arrive', async () => {
    const { client } = await databaseBefore0014();
    await seed(client);
    // What the swap leaves for a concurrent writer: stop after the renames (the runner is statement by
    // statement), write a newer version of one key, then let the rest run.
    const daily = splitStatements(readFileSync(path.join(SQL_MIGRATIONS, MIGRATION), 'utf8')).slice(0, 5);
    for (const st of daily.slice(0, 3)) await client.command({ query: st });
    await client.command({ query: `INSERT INTO stg_fb_insights_daily (account_id, date, ad_id, spend, _ver) VALUES ('act_0', '2025-11-03', '1000', 99.5, 1000)` });
    for (const st of daily.slice(3)) await client.command({ query: st });
    const [row] = await queryRows<{ spend: string }>(client, `SELECT toString(spend) AS spend FROM stg_fb_insights_daily FINAL WHERE account_id = 'act_0' AND ad_id = '1000' AND date = '2025-11-03'`);
    expect(row!.spend).toBe('99.50');
    const [n] = await queryRows<{ c: string }>(client, `SELECT count() AS c FROM stg_fb_insights_daily`);
    expect(Number(n!.c)).toBe(253);
    await client.close();
  });
});
