// Migration 0014 rebuilds the Facebook daily and weekly insights tables partitioned by year: every stored
// row (every version, nested arrays, tombstones) survives, the partition key changes, and a run that
// stopped half way (a partial copy left behind) is repaired by running it again.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, queryRows, type ClickHouseClient } from '../src/clickhouse/client.js';
import { migrate } from '../src/clickhouse/migrate.js';
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

  it('run again after stopping half way (a partial copy left), it ends with the rows once', async () => {
    const { ch, client } = await databaseBefore0014();
    await seed(client);
    const before = await Promise.all(TABLES.map((t) => snapshot(client, t.table, t.day)));
    // What a copy interrupted by a dying server leaves: the new table with some of the rows.
    await client.command({ query: `CREATE TABLE stg_fb_insights_daily_by_year AS stg_fb_insights_daily ENGINE = ReplacingMergeTree(_ver) PARTITION BY toYear(date) ORDER BY (account_id, ad_id, date)` });
    await client.command({ query: `INSERT INTO stg_fb_insights_daily_by_year SELECT * FROM stg_fb_insights_daily LIMIT 40` });
    expect((await migrate(ch, { sqlDir: path.resolve(SQL_MIGRATIONS, '..') })).applied).toContain(MIGRATION);
    expect(await Promise.all(TABLES.map((t) => snapshot(client, t.table, t.day)))).toEqual(before);
    await client.close();
  });
});
