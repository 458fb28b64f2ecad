import { createHash } from 'node:crypto';
import type { Command } from 'commander';
import { connect } from '../clickhouse/client.js';
import { queryRows } from '../clickhouse/client.js';
import { sqlString } from '../clickhouse/literal.js';
import { addDays, dayChunks, isDay, todayIn } from '../runtime/dates.js';
import { runLoader } from '../runtime/run-loader.js';
import { LOADERS } from '../../loaders/registry.js';
import { checkLoaderConfig, ensureClickHouse, loaderOrExit, say, setup, UsageError } from './common.js';
import { abortOnSignals, describeRun, exitCodeFor } from './load.js';

export interface BackfillPlan {
  backfillId: string;
  chunks: Array<{ since: string; until: string }>;
}

/** Same source, range, chunking and account → same id, so re-running the command resumes it. */
export function planBackfill(source: string, since: string, until: string, chunkDays: number, account = ''): BackfillPlan {
  const backfillId = createHash('sha1').update([source, since, until, chunkDays, account].join('|')).digest('hex').slice(0, 16);
  return { backfillId, chunks: dayChunks(since, until, chunkDays) };
}

export function registerBackfill(program: Command): void {
  program
    .command('backfill')
    .description('historical load in resumable chunks (re-run the same command to resume); never moves the incremental cursor')
    .argument('<source>', LOADERS.map((l) => l.name).join(' | '))
    .requiredOption('--since <date>', 'first day, YYYY-MM-DD')
    .option('--until <date>', 'last day, inclusive (default yesterday)')
    .option('--chunk-days <n>', 'days per chunk', '7')
    .option('--account <id>', 'only this account / client login')
    .action(async (source: string, opts: { since: string; until?: string; chunkDays: string; account?: string }) => {
      const loader = loaderOrExit(source);
      const s = setup();
      const until = opts.until ?? addDays(todayIn(s.rt.reportingTz), -1);
      const chunkDays = Number(opts.chunkDays);
      if (!isDay(opts.since)) throw new UsageError(`--since: expected a date YYYY-MM-DD, got ${JSON.stringify(opts.since)}`);
      if (!isDay(until)) throw new UsageError(`--until: expected a date YYYY-MM-DD, got ${JSON.stringify(until)}`);
      if (opts.since > until) throw new UsageError(`--since ${opts.since} is after --until ${until}`);
      if (!Number.isInteger(chunkDays) || chunkDays < 1 || chunkDays > 366) throw new UsageError(`--chunk-days: expected a whole number from 1 to 366, got ${JSON.stringify(opts.chunkDays)}`);
      checkLoaderConfig(loader);
      await ensureClickHouse(s);
      const plan = planBackfill(loader.name, opts.since, until, chunkDays, opts.account);
      const client = connect(s.ch);
      const done = new Set(
        (
          await queryRows<{ since: string; until: string }>(
            client,
            `SELECT toString(window_since) AS since, toString(window_until) AS until FROM meta_job_runs
             WHERE source = ${sqlString(loader.name)} AND backfill_id = ${sqlString(plan.backfillId)}
             GROUP BY run_id, window_since, window_until HAVING argMax(status, _ver) = 'success'`,
          )
        ).map((r) => `${r.since}|${r.until}`),
      );
      await client.close();
      const todo = plan.chunks.filter((c) => !done.has(`${c.since}|${c.until}`));
      say(`backfill ${plan.backfillId}: ${plan.chunks.length} chunk(s) of ${chunkDays} day(s), ${plan.chunks.length - todo.length} already done${todo.length < plan.chunks.length ? ' (resuming)' : ''}`);
      const signal = abortOnSignals();
      let n = plan.chunks.length - todo.length;
      for (const chunk of todo) {
        n++;
        say(`chunk ${n}/${plan.chunks.length}: ${chunk.since}..${chunk.until}`);
        const summary = await runLoader(loader, { since: chunk.since, until: chunk.until, account: opts.account, kind: 'backfill', backfillId: plan.backfillId, signal, progress: true });
        process.stdout.write(`${describeRun(summary)}\n`);
        if (summary.status !== 'success') {
          say('backfill stopped; run the same command again to resume from this chunk');
          process.exitCode = exitCodeFor(summary);
          return;
        }
      }
      say(`backfill ${plan.backfillId} complete`);
    });
}
