// A fresh, migrated database on the test ClickHouse for one test file; dropped by drop().
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, queryRows, type ClickHouseClient } from '../../src/clickhouse/client.js';
import { migrate } from '../../src/clickhouse/migrate.js';
import { clickhouseConfig } from '../../src/config/clickhouse.js';

export interface Warehouse {
  client: ClickHouseClient;
  /** Env for runLoader/CLI: points at this database, quick retries, silent logs, a private state dir. */
  env: Record<string, string>;
  database: string;
  dataDir: string;
  query<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  drop(): Promise<void>;
}

export function testClickHouseUrl(): string {
  const url = process.env.ADHOUSE_TEST_CLICKHOUSE_URL;
  if (!url) throw new Error('ADHOUSE_TEST_CLICKHOUSE_URL is not set: run tests through vitest (globalSetup starts ClickHouse)');
  return url;
}

export async function freshWarehouse(extraEnv: Record<string, string> = {}): Promise<Warehouse> {
  const database = `t_${randomBytes(6).toString('hex')}`;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'adhouse-wh-'));
  const env: Record<string, string> = {
    CLICKHOUSE_URL: testClickHouseUrl(),
    CH_DATABASE: database,
    ADHOUSE_DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    HTTP_TIMEOUT_MS: '5000',
    HTTP_BACKOFF_BASE_MS: '5',
    HTTP_BACKOFF_MAX_MS: '50',
    HTTP_MAX_WAIT_MS: '20000',
    ...extraEnv,
  };
  const ch = clickhouseConfig(env);
  await migrate(ch, { env });
  const client = connect(ch);
  return {
    client,
    env,
    database,
    dataDir,
    query: <T,>(sql: string) => queryRows<T>(client, sql),
    async drop() {
      await client.command({ query: `DROP DATABASE IF EXISTS ${database}` });
      await client.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
