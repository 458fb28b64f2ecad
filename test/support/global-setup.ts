// Starts a real ClickHouse for the test run on its own free ports and data dir, removed afterwards.
// With ADHOUSE_TEST_CLICKHOUSE_URL set, that server is used instead (e.g. a current release).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { clickhouseConfig } from '../../src/config/clickhouse.js';
import { privatePorts, start, stop } from '../../src/clickhouse/server.js';


export default async function setup(): Promise<() => Promise<void>> {
  if (process.env.ADHOUSE_TEST_CLICKHOUSE_URL) return async () => {};
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'adhouse-test-'));
  const ch = clickhouseConfig(await privatePorts());
  const t0 = Date.now();
  const { status } = await start(ch, dataDir, (line) => console.log(`[test clickhouse] ${line}`));
  console.log(`[test clickhouse] ${status.version} up at ${ch.url} in ${Date.now() - t0} ms (data ${dataDir})`);
  process.env.ADHOUSE_TEST_CLICKHOUSE_URL = ch.url;
  return async () => {
    await stop(ch, dataDir);
    rmSync(dataDir, { recursive: true, force: true });
  };
}
