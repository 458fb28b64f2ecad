import type { Command } from 'commander';
import { startService, validateServiceEnv } from '../service/service.js';
import { say } from './common.js';
import { bringUpClickHouse, serveUntilSignal } from './serve.js';

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('the long-running service: scheduler (every enabled loader on <SOURCE>_SCHEDULE, smoke checks) + HTTP server; SIGTERM/SIGINT stop it gracefully')
    .action(async () => {
      validateServiceEnv('run');
      await bringUpClickHouse();
      const service = await startService({ mode: 'run' });
      const jobs = service.scheduler!.states();
      say(`adhouse run: listening on ${service.url}; ${jobs.length} job(s) scheduled: ${jobs.map((j) => `${j.name} (${j.schedule})`).join(', ')}`);
      await serveUntilSignal(service, `the service (running loads get ${service.config.shutdownGraceMs} ms to finish)`);
    });
}
