import type { Command } from 'commander';
import { ping, start } from '../clickhouse/server.js';
import { startService, validateServiceEnv, type Service } from '../service/service.js';
import { say, setup } from './common.js';

/**
 * The embedded ClickHouse is started when it is not running; if that fails the service still starts and
 * answers 503 until ClickHouse is back (it recovers without a restart). An external one is never started.
 */
export async function bringUpClickHouse(): Promise<void> {
  const { ch, rt } = setup();
  if (!ch.embedded || (await ping(ch.url, 1500))) return;
  try {
    const { status } = await start(ch, rt.dataDir, say);
    say(`ClickHouse ${status.version} is up at ${ch.url}`);
  } catch (err) {
    say(`could not start the embedded ClickHouse (${err instanceof Error ? err.message.split('\n')[0] : String(err)}); serving 503 until it answers`);
  }
}

/** Resolves on the first SIGINT/SIGTERM; a second one exits at once. */
export function untilSignal(what: string): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let seen = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (seen) process.exit(130);
      seen = true;
      say(`${sig}: stopping ${what} (again to exit at once)`);
      resolve(sig);
    };
    process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  });
}

export async function serveUntilSignal(service: Service, what: string): Promise<void> {
  await untilSignal(what);
  await service.close();
  say('stopped');
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('the HTTP server alone: /healthz, /healthz/detailed, /healthz/freshness, /healthz/<source>, /metrics, status page at /')
    .action(async () => {
      validateServiceEnv('serve');
      await bringUpClickHouse();
      const service = await startService({ mode: 'serve' });
      say(`adhouse serve: listening on ${service.url}`);
      await serveUntilSignal(service, 'the server');
    });
}
