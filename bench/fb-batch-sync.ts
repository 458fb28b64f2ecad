// Facebook batch sync benchmark (issue 3): 174 accounts × 50 ads × 12 weeks in the sandbox, every answer
// delayed 50 ms, `adhouse batch-sync facebook --workers 5 --pause-ms 0` as a child process.
// Prints the wall time, the lower bound the sandbox's latency implies, their ratio (target ≤ 1.3), the API
// calls made (sandbox counter) and the sync's peak RSS (target ≤ 400 MB).
//
// Lower bound: each API call takes at least the sandbox latency L, and one account's calls are made one after
// the other (the loader awaits each page/poll), as are the accounts of one business (they never run at once).
// With R calls in all, N accounts of equal shape (R/N calls each), W workers and the biggest business having
// B accounts:  bound = L × max(R / W, B × R / N)  — either the work shared perfectly by W workers, or the
// longest chain that cannot be split. Our own waits are set to ~0 (poll interval 1 ms, no pause, no request
// rate cap), and the sandbox's usage budget is never reached, so nothing else is enforced.
// --burnout 1 runs the job's one analytics refresh too (ClickHouse only, outside the bound): its time is
// printed on its own and left out of the ratio.
//   npm run bench:fb-batch [-- --accounts N] [--ads N] [--weeks N] [--latency MS] [--workers N] [--heap MB] [--burnout 1] [--profile DIR] [--calls FILE]
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, queryRows } from '../src/clickhouse/client.js';
import { migrate } from '../src/clickhouse/migrate.js';
import { clickhouseConfig } from '../src/config/clickhouse.js';
import { loadDotenvFiles } from '../src/config/env.js';
import { runtimeConfig } from '../src/config/runtime.js';
import { ensureClickHouse } from '../src/cli/common.js';
import { status as serverStatus } from '../src/clickhouse/server.js';
import { addDays, todayIn } from '../src/runtime/dates.js';
import { startSandbox, type FbSandbox } from '../loaders/facebook/sandbox.js';
import type { SbAccount } from '../loaders/facebook/world.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const ACCOUNTS = arg('accounts', 174);
const ADS = arg('ads', 50);
const WEEKS = arg('weeks', 12);
const LATENCY_MS = arg('latency', 50);
const WORKERS = arg('workers', 5);
/** V8 heap cap of the batch-sync process in MB (0 = Node's default), to see how much of the peak is garbage. */
const HEAP_MB = arg('heap', 0);
const BURNOUT = arg('burnout', 0) === 1;
/** --profile DIR: the batch-sync process writes a V8 CPU profile there (open it in Chrome DevTools). */
const PROFILE_DIR = process.argv.includes('--profile') ? process.argv[process.argv.indexOf('--profile') + 1] : undefined;
/** --calls FILE: writes the sandbox's call log (account, what, arrived, answered, chars) there as JSON. */
const CALLS_FILE = process.argv.includes('--calls') ? process.argv[process.argv.indexOf('--calls') + 1] : undefined;
const DATABASE = 'adhouse_bench_fb_batch';
const ADHOUSE_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/bin/adhouse.mjs');

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat; 0 once it is gone. */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return 0;
  }
}

/** Peak RSS of a running process from /proc (VmHWM is its high-water mark), in bytes; 0 once it is gone. */
function peakRss(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

async function main(): Promise<void> {
  loadDotenvFiles();
  const rt = runtimeConfig();
  const ch0 = clickhouseConfig();
  await ensureClickHouse({ ch: ch0, rt });
  const ch = { ...ch0, database: DATABASE };
  const admin = connect(ch0, { database: null });
  await admin.command({ query: `DROP DATABASE IF EXISTS ${DATABASE}` });
  await admin.close();
  await migrate(ch);

  // The world's 12 weeks end today, so the batch's window (the lookback ending today) covers all of them.
  const days = WEEKS * 7;
  const today = todayIn(rt.reportingTz);
  const shape = { accounts: ACCOUNTS, adsPerAccount: ADS, weeks: WEEKS, start: addDays(today, -(days - 1)) };
  const sandbox = await startSandbox({ seed: 2026, faults: new Set(), shape, latencyMs: LATENCY_MS, recordCalls: true });
  const groups = new Map<string, number>();
  for (const a of sandbox.world.accounts.values()) {
    const key = a.business ? `b${a.business.id}` : `a${a.id}`;
    groups.set(key, (groups.get(key) ?? 0) + 1);
  }
  const biggest = Math.max(...groups.values());
  process.stderr.write(`sandbox: ${sandbox.world.accounts.size} accounts in ${groups.size} groups (biggest ${biggest}), ${ADS} ads each, ${WEEKS} weeks from ${shape.start}, latency ${LATENCY_MS} ms\n`);

  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    ...sandbox.env,
    CH_DATABASE: DATABASE,
    FACEBOOK_LOOKBACK_DAYS: String(days),
    FB_POLL_MS: '1',
    FB_POLL_MAX_MS: '1',
    FACEBOOK_RPS: '10000',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  };
  // Where the CPU goes: the batch process, the sandbox (this process) and ClickHouse (when embedded).
  const serverPid = ch0.embedded ? (await serverStatus(ch0, rt.dataDir)).pid : undefined;
  const serverCpu0 = cpuSeconds(serverPid);
  const sandboxCpu0 = process.cpuUsage();
  const started = Date.now();
  const startedAt = performance.now();
  const nodeArgs = [...(HEAP_MB > 0 ? [`--max-old-space-size=${HEAP_MB}`] : []), ...(PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [])];
  const child = spawn(process.execPath, [...nodeArgs, ADHOUSE_BIN, 'batch-sync', 'facebook', '--workers', String(WORKERS), '--pause-ms', '0', ...(BURNOUT ? [] : ['--skip-burnout'])], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout!.on('data', (d) => (stdout += d));
  let rss = 0;
  let childCpu = 0;
  const sampler = setInterval(() => {
    rss = Math.max(rss, peakRss(child.pid!));
    childCpu = Math.max(childCpu, cpuSeconds(child.pid));
  }, 200);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  const exitedAt = performance.now();
  clearInterval(sampler);
  const wallMs = Date.now() - started;
  const sandboxCpu = process.cpuUsage(sandboxCpu0);
  const serverCpu = cpuSeconds(serverPid) - serverCpu0;
  const requests = sandbox.counters.requests;
  if (CALLS_FILE) writeFileSync(CALLS_FILE, JSON.stringify({ startedAt, exitedAt, calls: sandbox.callLog }));
  await sandbox.close();
  process.stdout.write(stdout);
  if (code !== 0) throw new Error(`batch-sync exited with ${code}`);

  const client = connect(ch);
  const [facts] = await queryRows<{ daily: string; weekly: string; ads: string }>(
    client,
    `SELECT (SELECT count() FROM stg_fb_insights_daily FINAL) AS daily, (SELECT count() FROM stg_fb_insights_weekly FINAL) AS weekly, (SELECT count() FROM stg_fb_ads FINAL) AS ads`,
  );
  await client.close();

  const n = sandbox.world.accounts.size;
  const boundMs = LATENCY_MS * Math.max(requests / WORKERS, (biggest * requests) / n);
  // What the batch itself reported (its summary), to compare with the sandbox's count.
  const reported = /API calls (\d+)( \([^)]*\))?/.exec(stdout);
  const refresh = /analytics refresh of \d+ account\(s\): .* in ([\d.]+) s/.exec(stdout);
  const refreshMs = refresh ? Number(refresh[1]) * 1000 : 0;
  const loadMs = wallMs - refreshMs;
  const lines = [
    '',
    `accounts ${n}, workers ${WORKERS}, latency ${LATENCY_MS} ms; loaded ${facts!.ads} ads, ${facts!.weekly} weekly and ${facts!.daily} daily insight rows`,
    `wall time        ${(wallMs / 1000).toFixed(1)} s`,
    `lower bound      ${(boundMs / 1000).toFixed(1)} s  = ${LATENCY_MS} ms × max(${requests} calls / ${WORKERS} workers, ${biggest} accounts × ${requests} / ${n} calls)`,
    ...(BURNOUT ? [`analytics refresh ${(refreshMs / 1000).toFixed(1)} s  (once for the job, after the loads; ${refresh ? 'from the summary' : 'not found in the summary'})`] : []),
    `ratio            ${(loadMs / boundMs).toFixed(2)}  (target ≤ 1.3${BURNOUT ? '; wall time less the refresh' : ''})`,
    `API calls        ${requests}  (${(requests / n).toFixed(1)} per account; sandbox counter)  — the batch's summary: ${reported ? `${reported[1]}${reported[2] ?? ''}` : 'no figure'}`,
    `peak RSS         ${(rss / 1048576).toFixed(0)} MB  (target ≤ 400 MB; VmHWM of the batch-sync process, ${HEAP_MB > 0 ? `node --max-old-space-size=${HEAP_MB}` : "Node's default heap"})`,
    `CPU seconds      batch ${childCpu.toFixed(1)} (sampled every 200 ms), sandbox ${((sandboxCpu.user + sandboxCpu.system) / 1e6).toFixed(1)}, ClickHouse ${serverPid ? serverCpu.toFixed(1) : 'n/a (not embedded)'}; ${os.cpus().length} cores × wall = ${((os.cpus().length * wallMs) / 1000).toFixed(0)}`,
    ...timeline(sandbox.callLog, sandbox.world.accounts.values(), startedAt, exitedAt),
    `load average     ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} (${os.cpus().length} cores): figures from a busy machine are not comparable`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/**
 * Where the wall time went, from the sandbox's call log: the batch's start (spawn to first call) and end (last
 * answer to exit); per account, the time from its first call to its last answer split into answers and the
 * gaps between them, and the gap from one account's last answer to its business's next account's first call.
 * Answers and gaps are broken down by what was asked (the gap by the call that ends it): answers longer than
 * the latency are the sandbox's own CPU; gaps are the batch's work between an answer and the next call.
 * "span = answers + gaps" holds because one account's calls are made one at a time (the bound's premise too).
 */
function timeline(log: FbSandbox['callLog'], accounts: Iterable<SbAccount>, startedAt: number, exitedAt: number): string[] {
  if (log.length === 0) return [];
  const byAccount = new Map<string, FbSandbox['callLog']>();
  for (const c of log) byAccount.set(c.account, [...(byAccount.get(c.account) ?? []), c]);
  const kind = (what: string) => what.replace(/^GET report run$/, 'GET report run (poll)');
  const answersBy = new Map<string, { n: number; ms: number }>();
  const gapsBy = new Map<string, { n: number; ms: number }>();
  const add = (m: Map<string, { n: number; ms: number }>, k: string, ms: number) => {
    const e = m.get(k) ?? { n: 0, ms: 0 };
    e.n++;
    e.ms += ms;
    m.set(k, e);
  };
  let spans = 0;
  const spanOf = new Map<string, { first: number; last: number }>();
  for (const [account, calls] of byAccount) {
    calls.sort((a, b) => a.arrived - b.arrived);
    calls.forEach((c, i) => {
      add(answersBy, kind(c.what), c.answered - c.arrived);
      if (i > 0) add(gapsBy, kind(c.what), Math.max(0, c.arrived - calls[i - 1]!.answered));
    });
    const first = calls[0]!.arrived;
    const last = calls.reduce((m, c) => Math.max(m, c.answered), 0);
    spans += last - first;
    spanOf.set(account, { first, last });
  }
  // Hand-overs within a business: its accounts in the order they started, each first call after the previous one's last answer.
  const byBusiness = new Map<string, Array<{ first: number; last: number }>>();
  for (const a of accounts) {
    const span = spanOf.get(a.id);
    if (!span) continue;
    const key = a.business ? `b${a.business.id}` : `a${a.id}`;
    byBusiness.set(key, [...(byBusiness.get(key) ?? []), span]);
  }
  let handovers = 0;
  let handoverMs = 0;
  for (const list of byBusiness.values()) {
    list.sort((a, b) => a.first - b.first);
    for (let i = 1; i < list.length; i++) {
      handovers++;
      handoverMs += Math.max(0, list[i]!.first - list[i - 1]!.last);
    }
  }
  const n = byAccount.size;
  const total = (m: Map<string, { n: number; ms: number }>) => [...m.values()].reduce((t, e) => t + e.ms, 0);
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const rows = [...answersBy.keys()].sort((a, b) => (gapsBy.get(b)?.ms ?? 0) - (gapsBy.get(a)?.ms ?? 0));
  return [
    `timeline         start ${s(log.reduce((m, c) => Math.min(m, c.arrived), Infinity) - startedAt)} (spawn to first call), end ${s(exitedAt - log.reduce((m, c) => Math.max(m, c.answered), 0))} (last answer to exit)`,
    `per account      ${s(spans / n)} from first call to last answer = answers ${s(total(answersBy) / n)} + gaps ${s(total(gapsBy) / n)}; then ${handovers ? s(handoverMs / handovers) : 'n/a'} to its business's next account's first call`,
    `  by call        calls/account  answer ms  gap before ms  gap ms/account`,
    ...rows.map((k) => {
      const a = answersBy.get(k)!;
      const g = gapsBy.get(k);
      return `  ${k.padEnd(28)} ${(a.n / n).toFixed(1).padStart(5)}  ${(a.ms / a.n).toFixed(1).padStart(9)}  ${(g ? (g.ms / g.n).toFixed(1) : '-').padStart(13)}  ${(g ? (g.ms / n).toFixed(0) : '-').padStart(14)}`;
    }),
  ];
}

await main();
