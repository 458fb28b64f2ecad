// The embedded ClickHouse server: a project-local process with its config rendered from ops/clickhouse/
// and its data, logs and pid under $ADHOUSE_DATA_DIR/clickhouse/. Used by the demo, tests and small
// installs; with CLICKHOUSE_URL set, nothing is started and that server is used.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClickHouseConfig } from '../config/clickhouse.js';
import { AdhouseError } from '../runtime/errors.js';
import { sleep } from '../runtime/http.js';

export const OPS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../ops/clickhouse');

export interface ServerPaths {
  root: string;
  etc: string;
  data: string;
  log: string;
  pidFile: string;
}

export function serverPaths(dataDir: string): ServerPaths {
  const root = path.join(dataDir, 'clickhouse');
  return { root, etc: path.join(root, 'etc'), data: path.join(root, 'data'), log: path.join(root, 'log'), pidFile: path.join(root, 'clickhouse.pid') };
}

/** A TCP port free on 127.0.0.1 now, for a private server (tests, benches) beside the usual one. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** HTTP and TCP ports for a private server, as clickhouseConfig's variables. */
export async function privatePorts(): Promise<{ CH_HTTP_PORT: string; CH_TCP_PORT: string }> {
  return { CH_HTTP_PORT: String(await freePort()), CH_TCP_PORT: String(await freePort()) };
}

/**
 * Gives a private server (before its start) a system.query_log, which ops/clickhouse/config.xml leaves out:
 * the benches read their queries' time and memory from it (queries still ask for log_queries=1).
 */
export function enableQueryLog(dataDir: string): void {
  const configD = path.join(serverPaths(dataDir).etc, 'config.d');
  mkdirSync(configD, { recursive: true });
  writeFileSync(
    path.join(configD, 'query_log.xml'),
    `<?xml version="1.0"?>
<yandex>
    <query_log>
        <database>system</database>
        <table>query_log</table>
        <flush_interval_milliseconds>1000</flush_interval_milliseconds>
    </query_log>
</yandex>
`,
  );
}

export interface ServerBinary {
  command: string;
  /** Arguments that come before --config-file (`server` for the single binary). */
  prefix: string[];
}

function onPath(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin', '/usr/bin'];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  return null;
}

/** `clickhouse` (the official single binary: `clickhouse server`) or Debian's `clickhouse-server`. */
export function findServerBinary(): ServerBinary | null {
  const single = onPath('clickhouse');
  if (single) {
    // Debian's `clickhouse` may be only the client wrapper; the single binary answers `clickhouse server --help`.
    const probe = spawnSync(single, ['server', '--help'], { encoding: 'utf8', timeout: 10_000 });
    if (probe.status === 0) return { command: single, prefix: ['server'] };
  }
  const server = onPath('clickhouse-server');
  return server ? { command: server, prefix: [] } : null;
}

/** On Debian as root, installs Debian's clickhouse-server with apt; elsewhere explains what to do. */
export function installServer(say: (line: string) => void): ServerBinary {
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || !existsSync('/etc/debian_version')) {
    throw new AdhouseError('config', 'no ClickHouse server found on PATH (clickhouse or clickhouse-server): install one (Debian: apt-get install clickhouse-server clickhouse-client) or set CLICKHOUSE_URL');
  }
  say('ClickHouse server not found: installing Debian\'s clickhouse-server with apt-get (one time)...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', 'clickhouse-server', 'clickhouse-client']]) {
    const r = spawnSync('apt-get', args, { stdio: ['ignore', 'inherit', 'inherit'], env });
    if (r.status !== 0) throw new AdhouseError('config', `apt-get ${args.join(' ')} failed (exit ${r.status}); install clickhouse-server by hand or set CLICKHOUSE_URL`);
  }
  const found = findServerBinary();
  if (!found) throw new AdhouseError('config', 'apt-get installed clickhouse-server but no server binary is on PATH');
  return found;
}

function render(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{([A-Z_]+)\}\}/g, (_, key: string) => {
    const value = values[key];
    if (value === undefined) throw new AdhouseError('internal', `ops/clickhouse template uses unknown placeholder {{${key}}}`);
    return value;
  });
}

/** Writes config.xml, users.xml and users.d/*.xml into the server's etc dir. */
export function renderConfig(paths: ServerPaths, ch: ClickHouseConfig): string {
  for (const dir of [paths.etc, paths.data, paths.log]) mkdirSync(dir, { recursive: true });
  const values = { DATA_DIR: paths.data, LOG_DIR: paths.log, HTTP_PORT: String(ch.httpPort), TCP_PORT: String(ch.tcpPort) };
  const configFile = path.join(paths.etc, 'config.xml');
  writeFileSync(configFile, render(readFileSync(path.join(OPS_DIR, 'config.xml'), 'utf8'), values));
  writeFileSync(path.join(paths.etc, 'users.xml'), readFileSync(path.join(OPS_DIR, 'users.xml'), 'utf8'));
  const usersD = path.join(OPS_DIR, 'users.d');
  rmSync(path.join(paths.etc, 'users.d'), { recursive: true, force: true });
  if (existsSync(usersD) && readdirSync(usersD).length > 0) cpSync(usersD, path.join(paths.etc, 'users.d'), { recursive: true });
  return configFile;
}

export function readPid(paths: ServerPaths): number | null {
  if (!existsSync(paths.pidFile)) return null;
  const pid = Number(readFileSync(paths.pidFile, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Is `pid` a ClickHouse server started with our config (so stop never kills a stranger)? */
function isOurServer(pid: number, paths: ServerPaths): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(path.join(paths.etc, 'config.xml'));
  } catch {
    return alive(pid);
  }
}

export async function ping(url: string, timeoutMs = 2000): Promise<boolean> {
  try {
    const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok;
  } catch {
    return false;
  }
}

export interface ServerStatus {
  running: boolean;
  embedded: boolean;
  url: string;
  version?: string;
  pid?: number;
  httpPort?: number;
  tcpPort?: number;
  dataDir?: string;
}

export async function serverVersion(ch: ClickHouseConfig): Promise<string | undefined> {
  try {
    const headers: Record<string, string> = { 'X-ClickHouse-User': ch.user };
    if (ch.password) headers['X-ClickHouse-Key'] = ch.password;
    const res = await fetch(`${ch.url}/?query=${encodeURIComponent('SELECT version()')}`, { headers, signal: AbortSignal.timeout(5000) });
    return res.ok ? (await res.text()).trim() : undefined;
  } catch {
    return undefined;
  }
}

export async function status(ch: ClickHouseConfig, dataDir: string): Promise<ServerStatus> {
  const version = await serverVersion(ch);
  if (!ch.embedded) return { running: version !== undefined, embedded: false, url: ch.url, version };
  const paths = serverPaths(dataDir);
  const pid = readPid(paths);
  const ours = pid !== null && alive(pid) && isOurServer(pid, paths);
  return { running: ours && version !== undefined, embedded: true, url: ch.url, version, pid: ours ? pid! : undefined, httpPort: ch.httpPort, tcpPort: ch.tcpPort, dataDir: paths.root };
}

export interface StartResult {
  started: boolean;
  status: ServerStatus;
}

/** Starts the embedded server if it is not running; waits for /ping. Idempotent. */
export async function start(ch: ClickHouseConfig, dataDir: string, say: (line: string) => void = () => {}, timeoutMs = 90_000): Promise<StartResult> {
  if (!ch.embedded) {
    if (!(await ping(ch.url))) throw new AdhouseError('network', `CLICKHOUSE_URL ${ch.url} does not answer /ping`);
    return { started: false, status: await status(ch, dataDir) };
  }
  const paths = serverPaths(dataDir);
  const pid = readPid(paths);
  if (pid !== null && alive(pid) && isOurServer(pid, paths)) {
    if (await waitForPing(ch.url, timeoutMs, pid)) return { started: false, status: await status(ch, dataDir) };
  }
  if (await ping(ch.url, 1000)) {
    throw new AdhouseError('config', `CH_HTTP_PORT ${ch.httpPort} is already served by a ClickHouse that adhouse did not start: choose another CH_HTTP_PORT/CH_TCP_PORT or point CLICKHOUSE_URL at it`);
  }
  const binary = findServerBinary() ?? installServer(say);
  const configFile = renderConfig(paths, ch);
  const out = openSync(path.join(paths.log, 'stdout.log'), 'a');
  const child = spawn(binary.command, [...binary.prefix, `--config-file=${configFile}`], { cwd: paths.root, detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  child.unref();
  if (!child.pid) throw new AdhouseError('internal', `could not start ${binary.command}`);
  writeFileSync(paths.pidFile, `${child.pid}\n`);
  say(`starting ClickHouse (${path.basename(binary.command)}) on http ${ch.httpPort}, tcp ${ch.tcpPort}, data ${paths.root}`);
  if (!(await waitForPing(ch.url, timeoutMs, child.pid))) {
    const errLog = path.join(paths.log, 'clickhouse-server.err.log');
    const tail = existsSync(errLog) ? readFileSync(errLog, 'utf8').split('\n').filter(Boolean).slice(-5).join('\n') : '';
    if (alive(child.pid)) process.kill(child.pid, 'SIGKILL');
    rmSync(paths.pidFile, { force: true });
    throw new AdhouseError('internal', `ClickHouse did not answer /ping within ${timeoutMs / 1000} s; last errors from ${errLog}:\n${tail}`);
  }
  return { started: true, status: await status(ch, dataDir) };
}

async function waitForPing(url: string, timeoutMs: number, pid: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ping(url, 1000)) return true;
    if (!alive(pid)) return false;
    await sleep(200);
  }
  return false;
}

/** Stops the server this data dir started (never another one). */
export async function stop(ch: ClickHouseConfig, dataDir: string, timeoutMs = 60_000): Promise<boolean> {
  if (!ch.embedded) return false;
  const paths = serverPaths(dataDir);
  const pid = readPid(paths);
  if (pid === null || !alive(pid) || !isOurServer(pid, paths)) {
    rmSync(paths.pidFile, { force: true });
    return false;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (alive(pid) && Date.now() < deadline) await sleep(100);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
  while (alive(pid)) await sleep(50);
  rmSync(paths.pidFile, { force: true });
  return true;
}
