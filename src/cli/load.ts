import type { Command } from 'commander';
import { EXIT } from '../runtime/errors.js';
import { runLoader, type RunSummary } from '../runtime/run-loader.js';
import { LOADERS } from '../../loaders/registry.js';
import { checkLoaderConfig, ensureClickHouse, loaderOrExit, say, setup } from './common.js';

/** SIGINT/SIGTERM abort the run so it is recorded `interrupted`; a second signal exits at once. */
export function abortOnSignals(): AbortSignal {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    say(`${sig}: stopping; the run will be recorded as interrupted (again to exit at once)`);
    controller.abort(sig);
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  return controller.signal;
}

export function describeRun(s: RunSummary): string {
  const base = `${s.source} ${s.status} ${s.window.since}..${s.window.until}: read ${s.rowsRead}, written ${s.rowsWritten}, quarantined ${s.rowsQuarantined}, skipped ${s.rowsSkipped} in ${(s.durationMs / 1000).toFixed(1)} s (run ${s.runId})`;
  return s.status === 'success' ? base : `${base}\n${s.errorClass}: ${s.errorMessage}`;
}

/** 0 success; 2 when the run failed on our configuration (unknown --account, a rejected request); else 1. */
export function exitCodeFor(s: RunSummary): number {
  if (s.status === 'success') return EXIT.ok;
  return s.errorClass === 'config' ? EXIT.usage : EXIT.failure;
}

export function registerLoad(program: Command): void {
  program
    .command('load')
    .description('one run of one loader; without dates: from the cursor with the source\'s lookback up to yesterday')
    .argument('<source>', LOADERS.map((l) => l.name).join(' | '))
    .option('--since <date>', 'first day to load, YYYY-MM-DD (reporting time zone)')
    .option('--until <date>', 'last day to load, inclusive (default yesterday)')
    .option('--account <id>', 'only this account / client login')
    .action(async (source: string, opts: { since?: string; until?: string; account?: string }) => {
      const loader = loaderOrExit(source);
      const s = setup();
      checkLoaderConfig(loader);
      await ensureClickHouse(s);
      const summary = await runLoader(loader, { ...opts, progress: true, signal: abortOnSignals() });
      process.stdout.write(`${describeRun(summary)}\n`);
      process.exitCode = exitCodeFor(summary);
    });
}
