// `adhouse batch-sync facebook`: every configured ad account, grouped by business, through N workers,
// tracked in meta_batch_jobs / meta_batch_account_log (src/batch/).
import type { Command } from 'commander';
import { connect } from '../clickhouse/client.js';
import { EXIT } from '../runtime/errors.js';
import { logger } from '../runtime/logger.js';
import { BATCH_STEPS, type BatchStep } from '../batch/plan.js';
import { planNewJob, planResume, refreshTargets, runBatch, type BatchPlan } from '../batch/run.js';
import { UsageMeter } from '../batch/usage.js';
import { createProgressView, describeOutcome, describePlan } from '../batch/view.js';
import facebook from '../../loaders/facebook/index.js';
import { checkLoaderConfig, ensureClickHouse, say, setup, UsageError } from './common.js';

interface Options {
  workers: string;
  limit?: string;
  resume?: string;
  dryRun?: boolean;
  pauseMs: string;
  skipFullsync?: boolean;
  skipDaily?: boolean;
  skipBurnout?: boolean;
  verbose?: boolean;
}

function wholeNumber(flag: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) throw new UsageError(`${flag}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** SIGINT/SIGTERM pause the job (running accounts are aborted and recorded `paused`); a second signal exits at once. */
function pauseOnSignals(jobHint: () => string | undefined): AbortSignal {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    say(`${sig}: pausing the batch job ${jobHint() ?? ''} — stopping running accounts (again to exit at once)`);
    controller.abort(sig);
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  return controller.signal;
}

export function registerBatchSync(program: Command): void {
  program
    .command('batch-sync')
    .description(
      'mass sync of every configured ad account with job tracking: accounts grouped by business (a business\'s accounts never run at once), ' +
        'N workers, per account fullsync → insights weekly → insights daily over the FACEBOOK_LOOKBACK_DAYS window ending today, ' +
        'then one anomaly/burnout history refresh for the accounts that loaded; ' +
        'progress in meta_batch_jobs / meta_batch_account_log; Ctrl-C pauses the job (exit 130) and prints how to resume it',
    )
    .argument('<source>', 'facebook')
    .option('--workers <n>', 'accounts run at the same time (business groups taken from one queue)', '5')
    .option('--limit <n>', 'only the first N configured accounts')
    .option('--resume <id>', 'continue a job: completed accounts are skipped; unfinished ones and retryable failures run again, and an analytics refresh that did not complete (the job\'s window and steps are kept)')
    .option('--dry-run', 'print the plan (groups, workers, accounts, estimated API calls) and change nothing')
    .option('--pause-ms <ms>', 'pause between two accounts of one worker', '10000')
    .option('--skip-fullsync', 'skip the structure (campaigns, ad sets, ads, creatives) step')
    .option('--skip-daily', 'skip the daily insights step')
    .option('--skip-burnout', 'skip the anomaly/burnout history refresh (run once per job, after the accounts\' loads)')
    .option('--verbose', 'the loader runs\' own log lines, and a line per account instead of the bar')
    .action(async (source: string, opts: Options) => {
      if (source !== 'facebook') throw new UsageError(`batch-sync supports facebook only, got "${source}"`);
      const workers = wholeNumber('--workers', opts.workers, 1, 64);
      const pauseMs = wholeNumber('--pause-ms', opts.pauseMs, 0, 3_600_000);
      const limit = opts.limit === undefined ? undefined : wholeNumber('--limit', opts.limit, 1, 1_000_000);
      if (opts.resume !== undefined && limit !== undefined) throw new UsageError('--limit applies to a new job; a resumed job keeps its accounts');
      const skip = new Set<BatchStep>(BATCH_STEPS.filter((s) => (s === 'fullsync' && opts.skipFullsync) || (s === 'daily' && opts.skipDaily) || (s === 'burnout' && opts.skipBurnout)));

      const s = setup();
      const tty = Boolean(process.stderr.isTTY) && !opts.verbose;
      // With a bar the runs only report errors; otherwise warnings, or everything with --verbose.
      const runLevel = opts.verbose ? s.rt.logLevel : LEVELS[Math.max(LEVELS.indexOf(s.rt.logLevel), LEVELS.indexOf(tty ? 'error' : 'warn'))]!;
      const log = logger(runLevel);
      const syncMaxDays = (checkLoaderConfig(facebook) as { FB_SYNC_MAX_DAYS: number }).FB_SYNC_MAX_DAYS;
      let jobId: string | undefined;
      const signal = pauseOnSignals(() => jobId);

      // A dry run of a new job needs no ClickHouse at all: it only reads the configuration.
      const needsClickHouse = !opts.dryRun || opts.resume !== undefined;
      if (needsClickHouse) await ensureClickHouse(s);
      const client = connect(s.ch);
      try {
        let plan: BatchPlan;
        if (opts.resume !== undefined) plan = await planResume(client, opts.resume, opts.dryRun);
        else plan = await planNewJob({ env: process.env, client, workers, pauseMs, limit, skip, signal, log }, opts.dryRun);
        // The command line says how this execution runs; a resumed job keeps what it loads.
        plan.params = { ...plan.params, workers, pause_ms: pauseMs };
        if (opts.dryRun) {
          process.stdout.write(`${describePlan(plan, workers, syncMaxDays)}\n(dry run: nothing was written)\n`);
          return;
        }
        jobId = plan.job.job_id;
        const owed = plan.resumed ? refreshTargets(plan.accounts).length : 0;
        say(
          `batch job ${jobId}${plan.resumed ? ' (resumed)' : ''}: ${plan.groups.reduce((n, g) => n + g.accounts.length, 0)} account(s) in ${plan.groups.length} group(s), ${workers} worker(s)` +
            `${owed > 0 ? `, analytics refresh owed by ${owed} completed account(s)` : ''}; resume with: adhouse batch-sync facebook --resume ${jobId}`,
        );
        const usage = new UsageMeter();
        const view = createProgressView(plan.accounts.length, plan.accounts.filter((a) => !plan.groups.some((g) => g.accounts.some((x) => x.id === a.account_id))), usage, tty, say);
        let outcome;
        try {
          outcome = await runBatch(plan, { env: process.env, client, workers, pauseMs, skip, signal, log, events: view, usage });
        } finally {
          view.stop();
        }
        process.stdout.write(`${describeOutcome(outcome)}\n`);
        if (outcome.job.status === 'paused') {
          process.stdout.write(`paused; resume with: adhouse batch-sync facebook --resume ${outcome.job.job_id}\n`);
          process.exitCode = 130;
        } else {
          process.exitCode = outcome.job.status === 'completed' ? EXIT.ok : EXIT.failure;
        }
      } finally {
        await client.close();
      }
    });
}
