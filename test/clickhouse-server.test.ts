// `adhouse clickhouse start|stop|status`: a project-local server on its own ports and data dir.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { privatePorts } from '../src/clickhouse/server.js';
import { runCli } from './support/cli.js';
import { testClickHouseUrl } from './support/warehouse.js';


describe('embedded ClickHouse', () => {
  let env: Record<string, string>;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'adhouse-server-'));
    env = { ADHOUSE_DATA_DIR: dataDir, ...(await privatePorts()), LOG_LEVEL: 'silent' };
  });
  afterAll(async () => {
    await runCli(['clickhouse', 'stop'], env);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts once, is a no-op when running, reports status, and stops only its own server', async () => {
    const first = await runCli(['clickhouse', 'start'], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/started ClickHouse \d+\.\d+/);
    const pid = /^pid +(\d+)$/m.exec(first.stdout)?.[1];
    expect(pid).toBeDefined();

    const again = await runCli(['clickhouse', 'start'], env);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/already running/);
    expect(/^pid +(\d+)$/m.exec(again.stdout)?.[1]).toBe(pid);

    const status = await runCli(['clickhouse', 'status'], env);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^status +running$/m);
    expect(status.stdout).toMatch(new RegExp(`^http port +${env.CH_HTTP_PORT}$`, 'm'));
    expect(status.stdout).toMatch(new RegExp(`^tcp port +${env.CH_TCP_PORT}$`, 'm'));
    expect(status.stdout).toContain(path.join(dataDir, 'clickhouse'));
    expect(status.stdout).toMatch(/^version +\d+\.\d+/m);

    const stop = await runCli(['clickhouse', 'stop'], env);
    expect(stop.stderr.trim()).toBe('stopped');
    const after = await runCli(['clickhouse', 'status'], env);
    expect(after.code).toBe(1);
    expect(after.stdout).toMatch(/^status +not running$/m);
    // The test run's own server (another data dir) was not touched.
    expect((await fetch(`${testClickHouseUrl()}/ping`)).ok).toBe(true);
  });

  it('refuses a port served by a server it did not start', async () => {
    const port = new URL(testClickHouseUrl()).port;
    const r = await runCli(['clickhouse', 'start'], { ...env, CH_HTTP_PORT: port });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`CH_HTTP_PORT ${port} is already served by a ClickHouse that adhouse did not start`));
  });

  it('uses CLICKHOUSE_URL instead of starting anything', async () => {
    const r = await runCli(['clickhouse', 'start'], { ...env, CLICKHOUSE_URL: testClickHouseUrl() });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/using CLICKHOUSE_URL .* \(nothing started\)/);
  });

  it('reads .env from the working directory', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'adhouse-dotenv-'));
    writeFileSync(path.join(dir, '.env'), 'CH_TCP_PORT=notaport\n');
    const r = await runCli(['clickhouse', 'status'], { ADHOUSE_DATA_DIR: dataDir }, dir);
    rmSync(dir, { recursive: true, force: true });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('adhouse: CH_TCP_PORT: expected a whole number from 1 to 65535; got "notaport"');
  });
});
