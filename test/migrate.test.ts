import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../src/clickhouse/client.js';
import { assertMigrated, migrate, renderViewSql, splitStatements, viewName } from '../src/clickhouse/migrate.js';
import { clickhouseConfig } from '../src/config/clickhouse.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

describe('migrate', () => {
  let wh: Warehouse;
  beforeAll(async () => {
    wh = await freshWarehouse();
  });
  afterAll(async () => wh.drop());

  it('applied every migration once and records name, checksum and time', async () => {
    const rows = await wh.query<{ name: string; checksum: string }>('SELECT name, checksum FROM meta_schema_migrations ORDER BY name');
    expect(rows.map((r) => r.name)).toContain('0001_meta.sql');
    expect(rows.every((r) => /^[0-9a-f]{64}$/.test(r.checksum))).toBe(true);
    const again = await migrate(clickhouseConfig(wh.env));
    expect(again.applied).toEqual([]);
    const count = await wh.query<{ c: string }>('SELECT count() AS c FROM meta_schema_migrations');
    expect(Number(count[0]!.c)).toBe(rows.length);
  });

  it('stores every view in a form the server can parse back (it re-reads them at start-up)', async () => {
    // ClickHouse keeps a view as its own formatting of the query and parses that again when it starts; 18.16
    // formats some expressions in ways it cannot parse (arrayElement(t.1, k) became t.1[k]), and then the
    // server does not start at all. Creating each view again from its stored text finds such a view now.
    const views = await wh.query<{ name: string }>(`SELECT name FROM system.tables WHERE database = '${wh.database}' AND engine = 'View' ORDER BY name`);
    expect(views.length).toBeGreaterThan(20);
    for (const { name } of views) {
      const [shown] = await wh.query<{ statement: string }>(`SHOW CREATE TABLE ${name}`);
      const text = shown!.statement.replace(new RegExp(`^CREATE VIEW \\S*?\\b${name}\\b`), `CREATE VIEW ${name}_reparsed`);
      expect(text, name).toMatch(new RegExp(`^CREATE VIEW ${name}_reparsed `));
      await expect(wh.client.command({ query: text }).then(() => 'parsed'), name).resolves.toBe('parsed');
      await wh.client.command({ query: `DROP TABLE ${name}_reparsed` });
    }
  });

  it('refuses to continue, naming the file, when an applied migration was edited', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'adhouse-sql-'));
    mkdirSync(path.join(dir, 'migrations'));
    mkdirSync(path.join(dir, 'views'));
    const ch = clickhouseConfig({ ...wh.env, CH_DATABASE: `${wh.database}_edit` });
    writeFileSync(path.join(dir, 'migrations', '0001_a.sql'), 'CREATE TABLE IF NOT EXISTS a (x UInt8) ENGINE = MergeTree ORDER BY x;');
    writeFileSync(path.join(dir, 'views', '0001_v_a.sql'), '-- grain: x\nCREATE VIEW v_a AS SELECT x FROM a;');
    expect((await migrate(ch, { sqlDir: dir })).applied).toEqual(['0001_a.sql']);
    // Views are re-created on every run (drop, then create: no CREATE OR REPLACE on 18.16).
    expect((await migrate(ch, { sqlDir: dir })).views).toEqual(['v_a']);
    writeFileSync(path.join(dir, 'migrations', '0001_a.sql'), 'CREATE TABLE IF NOT EXISTS a (x UInt16) ENGINE = MergeTree ORDER BY x;');
    await expect(migrate(ch, { sqlDir: dir })).rejects.toThrow(/0001_a\.sql was edited/);
    const client = connect(ch);
    await expect(assertMigrated(client, ch.database, dir)).rejects.toThrow(/0001_a\.sql was edited/);
    writeFileSync(path.join(dir, 'migrations', '0001_a.sql'), 'CREATE TABLE IF NOT EXISTS a (x UInt8) ENGINE = MergeTree ORDER BY x;');
    writeFileSync(path.join(dir, 'migrations', '0002_b.sql'), 'CREATE TABLE IF NOT EXISTS b (x UInt8) ENGINE = MergeTree ORDER BY x;');
    await expect(assertMigrated(client, ch.database, dir)).rejects.toThrow(/is behind the code \(pending: 0002_b\.sql\): run `adhouse migrate`/);
    await client.close();
    await wh.client.command({ query: `DROP DATABASE IF EXISTS ${wh.database}_edit` });
  });
});

describe('assertMigrated', () => {
  it('asks once per client while the migration files stay the same, and again when one appears', async () => {
    const wh = await freshWarehouse();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'adhouse-sql-'));
    mkdirSync(path.join(dir, 'migrations'));
    mkdirSync(path.join(dir, 'views'));
    writeFileSync(path.join(dir, 'migrations', '0001_a.sql'), 'CREATE TABLE IF NOT EXISTS a (x UInt8) ENGINE = MergeTree ORDER BY x;');
    const ch = clickhouseConfig({ ...wh.env, CH_DATABASE: `${wh.database}_cache` });
    await migrate(ch, { sqlDir: dir });
    const client = connect(ch);
    await assertMigrated(client, ch.database, dir);
    // A deploy brings a new file: the next run refuses until it is applied, whatever was found before.
    writeFileSync(path.join(dir, 'migrations', '0002_b.sql'), 'CREATE TABLE IF NOT EXISTS b (x UInt8) ENGINE = MergeTree ORDER BY x;');
    await expect(assertMigrated(client, ch.database, dir)).rejects.toThrow(/pending: 0002_b\.sql/);
    await migrate(ch, { sqlDir: dir });
    await assertMigrated(client, ch.database, dir);
    await client.close();
    await wh.client.command({ query: `DROP DATABASE IF EXISTS ${ch.database}` });
    await wh.drop();
  });
});

describe('loads refuse an unmigrated database', () => {
  it('names the command to run', async () => {
    const wh = await freshWarehouse();
    const ch = clickhouseConfig({ ...wh.env, CH_DATABASE: `${wh.database}_empty` });
    const admin = connect(ch, { database: null });
    await admin.command({ query: `CREATE DATABASE ${ch.database}` });
    const client = connect(ch);
    await expect(assertMigrated(client, ch.database)).rejects.toThrow(/has no schema yet: run `adhouse migrate` first/);
    await client.close();
    await admin.command({ query: `DROP DATABASE ${ch.database}` });
    await admin.close();
    await wh.drop();
  });
});

describe('splitStatements', () => {
  it('splits on semicolons outside strings and comments', () => {
    const sql = "-- a; comment\nCREATE TABLE a (s String DEFAULT ';') ENGINE = Log;\n/* b; */ SELECT 'x\\';y';\n";
    expect(splitStatements(sql)).toEqual(["CREATE TABLE a (s String DEFAULT ';') ENGINE = Log", "SELECT 'x\\';y'"]);
  });
  it('finds the view a statement creates', () => {
    expect(viewName('CREATE VIEW IF NOT EXISTS db.v_x AS SELECT 1')).toBe('v_x');
    expect(viewName('CREATE TABLE t (x UInt8) ENGINE = Log')).toBeNull();
    // A Merge table stores nothing: re-created like a view. Any other table is left alone.
    expect(viewName("CREATE TABLE m (x UInt8) ENGINE = Merge('db', '^v_')")).toBe('m');
    expect(viewName('CREATE TABLE t (x UInt8) ENGINE = MergeTree ORDER BY x')).toBeNull();
  });
});

describe('renderViewSql', () => {
  it('renders a file once per render line, each copy its own statement', () => {
    const text = '-- render: VIEW=v_a T=t_a\n-- render: VIEW=v_b T=t_b\nCREATE VIEW {{VIEW}} AS SELECT {{TZ}} AS tz FROM {{T}};\n';
    const statements = splitStatements(renderViewSql(text, { TZ: "'UTC'" }, 'x.sql'));
    expect(statements).toEqual(["CREATE VIEW v_a AS SELECT 'UTC' AS tz FROM t_a", "CREATE VIEW v_b AS SELECT 'UTC' AS tz FROM t_b"]);
    expect(statements.map(viewName)).toEqual(['v_a', 'v_b']);
  });
  it('renders once without render lines, and refuses unknown names and non-identifier values', () => {
    expect(renderViewSql('SELECT {{TZ}};', { TZ: "'UTC'" }, 'x.sql')).toBe("SELECT 'UTC';");
    expect(() => renderViewSql('SELECT {{NOPE}};', {}, 'x.sql')).toThrow(/x\.sql uses \{\{NOPE\}\}/);
    expect(() => renderViewSql("-- render: T=t'; DROP\nSELECT 1 FROM {{T}};", {}, 'x.sql')).toThrow(/bad render line item/);
  });
});
