// Ingest benchmark: 1,000,000 fact_vk_ads_daily rows through the insert sink, then the same rows through
// `clickhouse-client --query "INSERT ... FORMAT JSONEachRow"`. Prints both rates, their ratio and the
// sink's peak RSS. Targets (issue 2): ratio ≥ 0.7, peak RSS ≤ 300 MB.
//   npm run bench:ingest [-- --rows N]
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createReadStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { connect, queryRows } from '../src/clickhouse/client.js';
import { migrate } from '../src/clickhouse/migrate.js';
import { clickhouseConfig } from '../src/config/clickhouse.js';
import { runtimeConfig } from '../src/config/runtime.js';
import { loadDotenvFiles } from '../src/config/env.js';
import { ensureClickHouse } from '../src/cli/common.js';
import { addDays } from '../src/runtime/dates.js';
import { createSink, type Row } from '../src/runtime/sink.js';

const rowsArg = process.argv.indexOf('--rows');
const ROWS = rowsArg > 0 ? Number(process.argv[rowsArg + 1]) : 1_000_000;
const CITIES = ['msk', 'spb', 'kzn', 'ekb', 'nsk'];

function row(i: number): Row {
  const banner = 100_000 + (i % 5000);
  const date = addDays('2025-01-01', Math.floor(i / 5000) % 365);
  const city = CITIES[i % CITIES.length]!;
  return {
    account_id: `acc_${i % 7}`,
    date,
    banner_id: banner,
    ad_group_id: 5000 + (banner % 300),
    ad_plan_id: 900 + (banner % 40),
    shows: 1000 + (i % 977),
    clicks: i % 53,
    spent: Math.round((i % 100_000) * 1.37) / 100,
    goals: i % 5,
    currency: 'RUB',
    utm_source: 'vk',
    utm_medium: 'cpc',
    utm_campaign: `camp_${banner % 40}`,
    utm_content: `${city}_${String((i % 28) + 1).padStart(2, '0')}_12`,
    utm_term: '',
    utm_origin: 'url',
    city,
    event_date: `2025-12-${String((i % 28) + 1).padStart(2, '0')}`,
  };
}

async function database(name: string) {
  const ch = { ...clickhouseConfig(), database: name };
  const admin = connect(ch, { database: null });
  await admin.command({ query: `DROP DATABASE IF EXISTS ${name}` });
  await admin.close();
  await migrate(ch);
  return ch;
}

async function main(): Promise<void> {
  loadDotenvFiles();
  const ch0 = clickhouseConfig();
  const rt = runtimeConfig();
  await ensureClickHouse({ ch: ch0, rt });
  const version = Date.now();

  // 1. The sink (row generation and serialization included in its time).
  const chSink = await database('adhouse_bench_sink');
  const client = connect(chSink);
  const sink = createSink({ client, table: 'fact_vk_ads_daily', runId: 'bench', version, batchRows: rt.sink.batchRows, flushMs: rt.sink.flushMs }, { hash: true });
  const t0 = performance.now();
  for (let i = 0; i < ROWS; i++) await sink.write(row(i));
  await sink.flush();
  const sinkSeconds = (performance.now() - t0) / 1000;
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  const [sinkCount] = await queryRows<{ c: string }>(client, 'SELECT count() AS c FROM fact_vk_ads_daily');
  await client.close();

  // 2. clickhouse-client reading the same rows from a file (written beforehand, not timed).
  const chCli = await database('adhouse_bench_cli');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'adhouse-bench-'));
  const file = path.join(dir, 'rows.jsonl');
  const out = createWriteStream(file);
  const meta = `"_ver":${version},"_loaded_at":"${new Date(version).toISOString().slice(0, 19).replace('T', ' ')}","_run_id":"bench"`;
  for (let i = 0; i < ROWS; i++) {
    const json = JSON.stringify(row(i));
    if (!out.write(`${json.slice(0, -1)},"_hash":"0",${meta}}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  const args = ['--host', new URL(chCli.url).hostname, '--port', String(chCli.tcpPort), '--user', chCli.user, '--database', chCli.database, '--query', 'INSERT INTO fact_vk_ads_daily FORMAT JSONEachRow'];
  if (chCli.password) args.push('--password', chCli.password);
  const t1 = performance.now();
  const child = spawn('clickhouse-client', args, { stdio: ['pipe', 'inherit', 'inherit'] });
  createReadStream(file).pipe(child.stdin);
  const [code] = (await once(child, 'exit')) as [number];
  const cliSeconds = (performance.now() - t1) / 1000;
  if (code !== 0) throw new Error(`clickhouse-client exited ${code}`);
  const cliClient = connect(chCli);
  const [cliCount] = await queryRows<{ c: string }>(cliClient, 'SELECT count() AS c FROM fact_vk_ads_daily');
  await cliClient.close();
  const fileMb = statSync(file).size / 1024 / 1024;
  rmSync(dir, { recursive: true, force: true });

  const sinkRate = ROWS / sinkSeconds;
  const cliRate = ROWS / cliSeconds;
  console.log(`rows                      ${ROWS} (${fileMb.toFixed(0)} MB of JSONEachRow)`);
  console.log(`sink                      ${sinkSeconds.toFixed(2)} s, ${Math.round(sinkRate)} rows/s (${sinkCount!.c} rows stored)`);
  console.log(`clickhouse-client         ${cliSeconds.toFixed(2)} s, ${Math.round(cliRate)} rows/s (${cliCount!.c} rows stored)`);
  console.log(`ratio sink / client       ${(sinkRate / cliRate).toFixed(2)} (target >= 0.7)`);
  console.log(`sink peak RSS             ${peakRssMb.toFixed(0)} MB (target <= 300)`);
  const admin = connect(ch0, { database: null });
  for (const db of ['adhouse_bench_sink', 'adhouse_bench_cli']) await admin.command({ query: `DROP DATABASE IF EXISTS ${db}` });
  await admin.close();
}

await main();
