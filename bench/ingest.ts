// Ingest benchmark: 1,000,000 fact_vk_ads_daily rows through the insert sink (plain, and with the change
// detection the vk_ads loader uses), then the same rows through
// `clickhouse-client --query "INSERT ... FORMAT JSONEachRow"`. Prints the rates, their ratios and the
// sink's peak RSS. Targets (issue 2): ratio ≥ 0.7, peak RSS ≤ 300 MB.
//   npm run bench:ingest [-- --rows N] [--rounds N]
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
const roundsArg = process.argv.indexOf('--rounds');
const ROUNDS = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : 3;
const CITIES = ['msk', 'spb', 'kzn', 'ekb', 'nsk'];

// Precomputed so the harness's own date arithmetic is not billed to the sink.
const DAYS = Array.from({ length: 365 }, (_, d) => addDays('2025-01-01', d));

function row(i: number): Row {
  const banner = 100_000 + (i % 5000);
  const date = DAYS[Math.floor(i / 5000) % 365]!;
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

/** Background merges of one phase would slow the next: start each phase on a quiet server. */
async function quiesce(ch: ReturnType<typeof clickhouseConfig>): Promise<void> {
  const client = connect(ch, { database: null });
  for (;;) {
    const [row] = await queryRows<{ n: string }>(client, 'SELECT count() AS n FROM system.merges');
    if (row!.n === '0') break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await client.close();
}

async function database(name: string) {
  const ch = { ...clickhouseConfig(), database: name };
  const admin = connect(ch, { database: null });
  await admin.command({ query: `DROP DATABASE IF EXISTS ${name}` });
  await admin.close();
  await migrate(ch);
  return ch;
}

/** Plain: what every sink does. Change detection: skipUnchanged as the vk_ads loader uses it (stored hashes looked up, every row hashed). */
type SinkMode = 'plain' | 'change detection';

async function sinkRound(rt: ReturnType<typeof runtimeConfig>, version: number, mode: SinkMode): Promise<number> {
  const ch = await database('adhouse_bench_sink');
  await quiesce(ch);
  const client = connect(ch);
  const window = { since: '2025-01-01', until: '2025-12-31' };
  const options = mode === 'plain' ? {} : { skipUnchanged: { key: ['account_id', 'banner_id', 'date'], dateColumn: 'date' } };
  const sink = createSink({ client, table: 'fact_vk_ads_daily', runId: 'bench', version, batchRows: rt.sink.batchRows, flushMs: rt.sink.flushMs, window }, options);
  const t0 = performance.now();
  for (let i = 0; i < ROWS; i++) await sink.write(row(i));
  await sink.flush();
  const seconds = (performance.now() - t0) / 1000;
  const [stored] = await queryRows<{ c: string }>(client, 'SELECT count() AS c FROM fact_vk_ads_daily');
  await client.close();
  if (Number(stored!.c) !== ROWS) throw new Error(`sink stored ${stored!.c} rows, expected ${ROWS}`);
  return seconds;
}

async function clientRound(file: string): Promise<number> {
  const ch = await database('adhouse_bench_cli');
  const args = ['--host', new URL(ch.url).hostname, '--port', String(ch.tcpPort), '--user', ch.user, '--database', ch.database, '--query', 'INSERT INTO fact_vk_ads_daily FORMAT JSONEachRow'];
  if (ch.password) args.push('--password', ch.password);
  await quiesce(ch);
  const t0 = performance.now();
  const child = spawn('clickhouse-client', args, { stdio: ['pipe', 'inherit', 'inherit'] });
  createReadStream(file).pipe(child.stdin);
  const [code] = (await once(child, 'exit')) as [number];
  const seconds = (performance.now() - t0) / 1000;
  if (code !== 0) throw new Error(`clickhouse-client exited ${code}`);
  const client = connect(ch);
  const [stored] = await queryRows<{ c: string }>(client, 'SELECT count() AS c FROM fact_vk_ads_daily');
  await client.close();
  if (Number(stored!.c) !== ROWS) throw new Error(`clickhouse-client stored ${stored!.c} rows, expected ${ROWS}`);
  return seconds;
}

/** The same rows as the sink sends them, for clickhouse-client (written once, not timed). */
async function writeRowsFile(file: string, version: number): Promise<void> {
  const out = createWriteStream(file);
  const meta = `"_ver":${version},"_loaded_at":"${new Date(version).toISOString().slice(0, 19).replace('T', ' ')}","_run_id":"bench"`;
  for (let i = 0; i < ROWS; i++) {
    const json = JSON.stringify(row(i));
    if (!out.write(`${json.slice(0, -1)},"_hash":"0",${meta}}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  loadDotenvFiles();
  const ch0 = clickhouseConfig();
  const rt = runtimeConfig();
  await ensureClickHouse({ ch: ch0, rt });
  const version = Date.now();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'adhouse-bench-'));
  const file = path.join(dir, 'rows.jsonl');

  // Rounds alternate the sink modes and the client on a quiet server; medians damp the noise of a small
  // shared machine (single runs vary by ±30 % here).
  const plainSeconds: number[] = [];
  const detectSeconds: number[] = [];
  const cliSeconds: number[] = [];
  let peakRssMb = 0;
  for (let round = 0; round < ROUNDS; round++) {
    plainSeconds.push(await sinkRound(rt, version, 'plain'));
    detectSeconds.push(await sinkRound(rt, version, 'change detection'));
    // Read before the client's file is written, so the figure is the sink's own.
    peakRssMb = Math.max(peakRssMb, process.resourceUsage().maxRSS / 1024);
    if (round === 0) await writeRowsFile(file, version);
    cliSeconds.push(await clientRound(file));
    console.log(`round ${round + 1}: sink ${plainSeconds[round]!.toFixed(2)} s, sink with change detection ${detectSeconds[round]!.toFixed(2)} s, clickhouse-client ${cliSeconds[round]!.toFixed(2)} s`);
  }
  const fileMb = statSync(file).size / 1024 / 1024;
  rmSync(dir, { recursive: true, force: true });

  const rate = (xs: number[]) => ROWS / median(xs);
  const cliRate = rate(cliSeconds);
  const line = (label: string, xs: number[]) => `${label.padEnd(34)} ${median(xs).toFixed(2)} s, ${Math.round(rate(xs))} rows/s`;
  console.log(`rows                               ${ROWS} per round, ${ROUNDS} rounds (${fileMb.toFixed(0)} MB of JSONEachRow), batches of ${rt.sink.batchRows}`);
  console.log(line('sink (median)', plainSeconds));
  console.log(line('sink, change detection (median)', detectSeconds));
  console.log(line('clickhouse-client (median)', cliSeconds));
  console.log(`ratio sink / client                ${(rate(plainSeconds) / cliRate).toFixed(2)} (target >= 0.7)`);
  console.log(`ratio change detection / client    ${(rate(detectSeconds) / cliRate).toFixed(2)}`);
  console.log(`sink peak RSS                      ${peakRssMb.toFixed(0)} MB (target <= 300)`);
  const admin = connect(ch0, { database: null });
  for (const db of ['adhouse_bench_sink', 'adhouse_bench_cli']) await admin.command({ query: `DROP DATABASE IF EXISTS ${db}` });
  await admin.close();
}

await main();
