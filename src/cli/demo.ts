import type { Command } from 'commander';
import { connect, queryRows } from '../clickhouse/client.js';
import { migrate } from '../clickhouse/migrate.js';
import { addDays, todayIn } from '../runtime/dates.js';
import { runLoader } from '../runtime/run-loader.js';
import { LOADERS } from '../../loaders/registry.js';
import { ensureClickHouse, formatTable, say, setup } from './common.js';
import { describeRun } from './load.js';
import { startSandboxes } from './sandbox.js';

const DEMO_DAYS = 30;

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(`everything end to end: embedded ClickHouse, migrations, sandbox APIs, the last ${DEMO_DAYS} days from every source, a summary table`)
    .option('--seed <n>', 'seed of the synthetic data', '1')
    .action(async (opts: { seed: string }) => {
      const s = setup();
      await ensureClickHouse(s);
      const { applied, views } = await migrate(s.ch, { say });
      say(`database ${s.ch.database}: ${applied.length} migration(s) applied, ${views.length} view(s) re-created`);
      const sandboxes = await startSandboxes({ seed: Number(opts.seed) || 1 });
      const until = addDays(todayIn(s.rt.reportingTz), -1);
      const since = addDays(until, -(DEMO_DAYS - 1));
      let failed = 0;
      try {
        for (const loader of LOADERS) {
          say(`loading ${loader.name} ${since}..${until} from its sandbox`);
          // The demo narrates itself; loader logs only speak up for warnings unless LOG_LEVEL asks for more.
          const summary = await runLoader(loader, { env: { LOG_LEVEL: 'warn', ...process.env, ...sandboxes.env }, since, until, progress: true });
          say(describeRun(summary));
          if (summary.status !== 'success') failed++;
        }
      } finally {
        await sandboxes.close();
      }
      const client = connect(s.ch);
      try {
        process.stdout.write(`\nRows per table (${s.ch.database}, FINAL):\n`);
        const tables = await queryRows<{ name: string }>(client, `SELECT name FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree' AND (name LIKE 'stg_%' OR name LIKE 'fact_%' OR name LIKE 'meta_%') ORDER BY name`);
        const counts: Array<Record<string, unknown>> = [];
        for (const { name } of tables) {
          const [row] = await queryRows<{ rows: string }>(client, `SELECT count() AS rows FROM ${name}${name === 'meta_schema_migrations' ? '' : ' FINAL'}`);
          counts.push({ table: name, rows: Number(row!.rows) });
        }
        process.stdout.write(`${formatTable(counts)}\n`);
        process.stdout.write(`\nSpend by platform and city, ${since}..${until}:\n`);
        const spend = await queryRows(
          client,
          `SELECT platform, if(city = '', '(unknown)', city) AS city, currency, sum(spend) AS spend, sum(clicks) AS clicks, sum(impressions) AS impressions
           FROM (
             SELECT 'vk_ads' AS platform, city, currency, toFloat64(spent) AS spend, clicks, shows AS impressions FROM fact_vk_ads_daily FINAL WHERE _deleted = 0
             UNION ALL
             SELECT 'direct' AS platform, city, currency, toFloat64(cost) AS spend, clicks, impressions FROM fact_direct_daily FINAL WHERE _deleted = 0
           )
           GROUP BY platform, city, currency ORDER BY platform, spend DESC`,
        );
        process.stdout.write(`${formatTable(spend.map((r) => ({ ...r, spend: Number(r.spend), clicks: Number(r.clicks), impressions: Number(r.impressions) })))}\n`);
      } finally {
        await client.close();
      }
      if (failed) process.exitCode = 1;
    });
}
