import type { Command } from 'commander';
import { connect, queryRows } from '../clickhouse/client.js';
import { sqlDate } from '../clickhouse/literal.js';
import { envPrefix, sourceSettings } from '../config/sources.js';
import { migrate } from '../clickhouse/migrate.js';
import { refreshAnalytics } from '../analytics/refresh.js';
import { addDays, todayIn } from '../runtime/dates.js';
import { runLoader } from '../runtime/run-loader.js';
import { LOADERS } from '../../loaders/registry.js';
import { ensureClickHouse, formatTable, say, setup } from './common.js';
import { describeRun } from './load.js';
import { startSandboxes } from './sandbox.js';

const DEMO_DAYS = 30;

type RomiStatus = 'green' | 'yellow' | 'red' | 'no_spend';
const ANSI: Record<RomiStatus, string> = { green: '\x1b[32m', yellow: '\x1b[33m', red: '\x1b[31m', no_spend: '\x1b[90m' };

/** ROMI statuses in their colours on a terminal, as plain words elsewhere. */
function colouriser(tty: boolean): (status: RomiStatus) => string {
  return (status) => (tty ? `${ANSI[status]}${status}\x1b[0m` : status);
}

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
          if (!sourceSettings(loader).enabled) {
            say(`skipping ${loader.name}: disabled (${envPrefix(loader.name)}_ENABLED=true to include it)`);
            continue;
          }
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
        process.stdout.write(`\nSpend by platform and city, ${since}..${until} (v_marketing_daily, RUB at CBR rates):\n`);
        const spend = await queryRows<Record<string, unknown>>(
          client,
          `SELECT platform, if(city = '', '(no utm city)', city) AS city, round(sum(spend_rub), 2) AS spend_rub, sum(clicks) AS clicks, sum(impressions) AS impressions, sum(results) AS results
           FROM v_marketing_daily
           WHERE date BETWEEN ${sqlDate(since)} AND ${sqlDate(until)}
           GROUP BY platform, city ORDER BY platform, spend_rub DESC`,
        );
        process.stdout.write(`${formatTable(spend.map((r) => ({ ...r, spend_rub: Number(r.spend_rub), clicks: Number(r.clicks), impressions: Number(r.impressions), results: Number(r.results) })))}\n`);
        process.stdout.write('\nROMI by city and event date (v_romi_kpi):\n');
        const romi = await queryRows<Record<string, unknown>>(client, 'SELECT city, event_date, revenue, spend_rub, roas, romi, status FROM v_romi_kpi ORDER BY event_date, city');
        const colour = colouriser(Boolean(process.stdout.isTTY));
        process.stdout.write(
          `${formatTable(
            romi.map((r) => ({ ...r, revenue: Number(r.revenue), spend_rub: Number(r.spend_rub), roas: r.roas === null ? '' : Number(r.roas).toFixed(2), romi: r.romi === null ? '' : Number(r.romi).toFixed(2) })),
          ).replace(/\b(green|yellow|red|no_spend)\s*$/gm, (status) => colour(status.trim() as RomiStatus) + ' '.repeat(status.length - status.trim().length))}\n`,
        );
        // The ad analytics over the Facebook weeks just loaded (what the batch sync's last step records).
        const recorded = await refreshAnalytics(client);
        const [risk] = await queryRows<{ n: string }>(client, `SELECT count() AS n FROM v_burnout_risk WHERE risk_level IN ('high', 'critical')`);
        process.stdout.write(`\nAd analytics (adhouse analytics refresh): ${recorded.anomalies} CPR anomalies and ${recorded.burnout} burnout rows recorded; ${Number(risk!.n)} ads at high or critical burnout risk (v_cpr_anomalies, v_burnout_risk)\n`);
      } finally {
        await client.close();
      }
      if (failed) process.exitCode = 1;
    });
}
