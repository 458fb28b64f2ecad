import type { Command } from 'commander';
import { start, status, stop } from '../clickhouse/server.js';
import { say, setup } from './common.js';

export function registerClickhouse(program: Command): void {
  const cmd = program.command('clickhouse').description('manage the embedded local ClickHouse server (own config, port, data dir)');
  cmd
    .command('start')
    .description('start the embedded server (installs Debian\'s clickhouse-server with apt when missing, as root); no-op when running')
    .action(async () => {
      const s = setup();
      const { started, status: st } = await start(s.ch, s.rt.dataDir, say);
      say(started ? `started ClickHouse ${st.version}` : s.ch.embedded ? `ClickHouse ${st.version} is already running` : `using CLICKHOUSE_URL ${s.ch.url} (nothing started)`);
      printStatus(st);
    });
  cmd
    .command('stop')
    .description('stop the embedded server this data dir started (never another one)')
    .action(async () => {
      const s = setup();
      if (!s.ch.embedded) return say('CLICKHOUSE_URL is set: adhouse does not manage that server');
      say((await stop(s.ch, s.rt.dataDir)) ? 'stopped' : 'not running');
    });
  cmd
    .command('status')
    .description('print version, ports, pid and data dir; exit 1 when not running')
    .action(async () => {
      const s = setup();
      const st = await status(s.ch, s.rt.dataDir);
      printStatus(st);
      if (!st.running) process.exitCode = 1;
    });
}

function printStatus(st: Awaited<ReturnType<typeof status>>): void {
  const lines: Array<[string, unknown]> = [
    ['status', st.running ? 'running' : 'not running'],
    ['mode', st.embedded ? 'embedded' : 'external (CLICKHOUSE_URL)'],
    ['url', st.url],
    ['version', st.version ?? '-'],
  ];
  if (st.embedded) lines.push(['http port', st.httpPort], ['tcp port', st.tcpPort], ['pid', st.pid ?? '-'], ['data dir', st.dataDir]);
  for (const [k, v] of lines) process.stdout.write(`${k.padEnd(10)} ${String(v)}\n`);
}
