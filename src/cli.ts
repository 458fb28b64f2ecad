// The `adhouse` command line. Exit codes (CONTRACT.md): 0 ok, 1 failure, 2 bad usage or configuration.
import { Command, CommanderError } from 'commander';
import { loadDotenvFiles } from './config/env.js';
import { AdhouseError, EXIT } from './runtime/errors.js';
import { redactString } from './runtime/redact.js';
import { UsageError } from './cli/common.js';
import { registerAlerts } from './cli/alerts.js';
import { registerAnalytics } from './cli/analytics.js';
import { registerBackfill } from './cli/backfill.js';
import { registerBatchSync } from './cli/batch-sync.js';
import { registerCheck } from './cli/check.js';
import { registerClickhouse } from './cli/clickhouse.js';
import { registerDemo } from './cli/demo.js';
import { registerExport } from './cli/export.js';
import { registerLoad } from './cli/load.js';
import { registerMigrate } from './cli/migrate.js';
import { registerReport } from './cli/report.js';
import { registerRun } from './cli/run.js';
import { registerSandbox } from './cli/sandbox.js';
import { registerServe } from './cli/serve.js';

export function buildProgram(): Command {
  const program = new Command('adhouse')
    .description('ClickHouse ELT warehouse for marketing and ticket-sales data')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerClickhouse(program);
  registerMigrate(program);
  registerLoad(program);
  registerBackfill(program);
  registerBatchSync(program);
  registerCheck(program);
  registerAlerts(program);
  registerAnalytics(program);
  registerReport(program);
  registerRun(program);
  registerServe(program);
  registerExport(program);
  registerSandbox(program);
  registerDemo(program);
  return program;
}

async function main(): Promise<void> {
  loadDotenvFiles();
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    const message = redactString(err instanceof Error ? err.message : String(err));
    if (err instanceof UsageError || (err instanceof AdhouseError && err.code === 'config')) {
      process.stderr.write(`adhouse: ${message}\n`);
      process.exitCode = EXIT.usage;
      return;
    }
    const code = err instanceof AdhouseError ? `${err.code}: ` : '';
    process.stderr.write(`adhouse: ${code}${message}\n`);
    if (process.env.LOG_LEVEL === 'debug' && err instanceof Error && err.stack) process.stderr.write(`${redactString(err.stack)}\n`);
    process.exitCode = EXIT.failure;
  }
}

await main();
