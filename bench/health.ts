// Health endpoint benchmark (issue 6): the service against a private ClickHouse, autocannon at 1,000
// requests/s for 20 s on /healthz/detailed. Prints p50/p99 latency and how many queries the service sent
// ClickHouse meanwhile, counted by ClickHouse itself: system.query_log rows whose query_id carries the
// health refresher's prefix, cross-checked with the server-wide `Query` counter of system.events.
// Targets: p99 ≤ 20 ms; ≤ 1 ClickHouse query per HEALTH_REFRESH_MS.
//   node --import tsx bench/health.ts [--rate N] [--duration S] [--connections N] [--refresh-ms MS]
//
// ops/clickhouse/config.xml has no <query_log> section, so the private server gets one through a
// config.d/ file (enableQueryLog in src/clickhouse/server.ts); the service's queries
// ask for log_queries=1 (ServiceOptions.logQueries) because 18.16 does not log queries by default.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { connect, queryRows, type ClickHouseClient } from '../src/clickhouse/client.js';
import { migrate } from '../src/clickhouse/migrate.js';
import { enableQueryLog, privatePorts, start, stop } from '../src/clickhouse/server.js';
import { clickhouseConfig } from '../src/config/clickhouse.js';
import { utcDateTime } from '../src/runtime/dates.js';
import { createLogger } from '../src/runtime/logger.js';
import { HEALTH_QUERY_ID_PREFIX } from '../src/service/snapshot.js';
import { startService } from '../src/service/service.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

/** Child mode: the service alone in its own process, so autocannon does not share its event loop. */
async function serveOnly(): Promise<void> {
  const service = await startService({ mode: 'serve', log: createLogger('warn', false), logQueries: true });
  process.stdout.write(`${JSON.stringify({ url: service.url })}\n`);
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  await service.close();
}



/** Some history so the snapshot query has work: ~14 days of runs of every source. */
async function seedRuns(client: ClickHouseClient): Promise<number> {
  const sources = ['cbr_rates', 'vk_ads', 'direct', 'avito', 'qtickets_api', 'qtickets_sheets'];
  const values = [];
  const now = Date.now();
  for (let i = 0; i < 14 * 96; i++) {
    for (const source of sources) {
      const started = now - i * 15 * 60_000;
      values.push({
        run_id: `${source}-${i}`, source, kind: 'load', status: i % 50 === 7 ? 'failed' : 'success',
        started_at: utcDateTime(started), finished_at: utcDateTime(started + 30_000 + (i % 90) * 1000), heartbeat_at: utcDateTime(started + 30_000),
        window_since: '2026-01-01', window_until: '2026-01-02', account: '', rows_read: 1000 + i, rows_written: 990 + i, rows_quarantined: 10,
        rows_skipped: 0, rows_deleted: 0, error_class: i % 50 === 7 ? 'network' : '', error_message: '', backfill_id: '', host: 'bench', pid: 1, _ver: started,
      });
    }
  }
  await client.insert({ table: 'meta_job_runs', values, format: 'JSONEachRow' });
  return values.length;
}

async function flushLogs(client: ClickHouseClient): Promise<void> {
  try {
    await client.command({ query: 'SYSTEM FLUSH LOGS' });
  } catch {
    await new Promise((r) => setTimeout(r, 2500)); // flush_interval_milliseconds is 1000
  }
}

async function healthQueriesLogged(client: ClickHouseClient): Promise<number> {
  await flushLogs(client);
  // type 2 = QueryFinish (a plain UInt8 on 18.16, an Enum8 later).
  const [row] = await queryRows<{ n: string }>(client, `SELECT count() AS n FROM system.query_log WHERE type = 2 AND startsWith(query_id, '${HEALTH_QUERY_ID_PREFIX}')`);
  return Number(row!.n);
}

async function serverQueryCounter(client: ClickHouseClient): Promise<number> {
  const [row] = await queryRows<{ n: string }>(client, `SELECT value AS n FROM system.events WHERE event = 'Query'`);
  return Number(row?.n ?? 0);
}

async function main(): Promise<void> {
  const rate = arg('rate', 1000);
  const duration = arg('duration', 20);
  const connections = arg('connections', 10);
  const refreshMs = arg('refresh-ms', 15_000);

  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'adhouse-bench-health-'));
  const ch = clickhouseConfig(await privatePorts());
  enableQueryLog(dataDir);
  const { status } = await start(ch, dataDir);
  const env = { CLICKHOUSE_URL: ch.url, CH_DATABASE: 'adhouse', ADHOUSE_DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
  await migrate(clickhouseConfig(env), { env });
  const client = connect(clickhouseConfig(env));
  let child: ReturnType<typeof spawn> | undefined;
  try {
    const runs = await seedRuns(client);
    const self = fileURLToPath(import.meta.url);
    child = spawn(process.execPath, ['--import', 'tsx', self, '--serve-only'], {
      env: { ...process.env, ...env, PORT: '0', HEALTH_REFRESH_MS: String(refreshMs), HTTP_BASIC_AUTH: '' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child!.stdout!.on('data', (d) => {
        out += d;
        const m = /\{"url":"([^"]+)"\}/.exec(out);
        if (m) resolve(m[1]!);
      });
      child!.once('exit', (code) => reject(new Error(`service exited with ${code} before listening`)));
    });
    console.log(`ClickHouse ${status.version}, ${runs} runs in meta_job_runs; service at ${url}, HEALTH_REFRESH_MS=${refreshMs}`);

    // Warm-up (JIT, keep-alive sockets), outside the measured window.
    await autocannon({ url: `${url}/healthz/detailed`, connections, duration: 2 });

    const logBefore = await healthQueriesLogged(client);
    const counterBefore = await serverQueryCounter(client);
    const t0 = Date.now();
    const result = await autocannon({ url: `${url}/healthz/detailed`, connections, duration, overallRate: rate });
    const elapsedMs = Date.now() - t0;
    const counterAfter = await serverQueryCounter(client);
    const logAfter = await healthQueriesLogged(client);

    const healthQueries = logAfter - logBefore;
    // The counter includes the read that took counterAfter itself.
    const allQueries = counterAfter - counterBefore - 1;
    const intervals = elapsedMs / refreshMs;
    const allowed = Math.ceil(intervals);
    const lat = result.latency;
    console.log(`\n/healthz/detailed at ${rate} req/s target, ${connections} connections, ${duration} s`);
    console.log(`requests     ${result.requests.total} (${result.requests.average.toFixed(0)} req/s average), non-2xx ${result.non2xx}, errors ${result.errors}, timeouts ${result.timeouts}`);
    console.log(`latency      p50 ${lat.p50} ms, p99 ${lat.p99} ms, max ${lat.max} ms`);
    console.log(`ClickHouse   ${healthQueries} health queries in system.query_log, ${allQueries} queries in all (system.events Query) during ${(elapsedMs / 1000).toFixed(1)} s = ${intervals.toFixed(2)} refresh interval(s)`);
    const ok = lat.p99 <= 20 && healthQueries <= allowed && allQueries <= allowed && result.non2xx === 0 && result.errors === 0;
    console.log(`targets      p99 ≤ 20 ms: ${lat.p99 <= 20 ? 'met' : 'MISSED'}; ≤ 1 query per refresh interval (≤ ${allowed}): ${healthQueries <= allowed && allQueries <= allowed ? 'met' : 'MISSED'}`);
    if (!ok) process.exitCode = 1;
  } finally {
    child?.kill('SIGTERM');
    await client.close();
    await stop(ch, dataDir);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--serve-only')) await serveOnly();
else await main();
