import type { Command } from 'commander';
import { connect } from '../clickhouse/client.js';
import { alertingFromEnv, describeReport, runAlerts } from '../alerts/setup.js';
import { logger } from '../runtime/logger.js';
import { ensureClickHouse, say, setup } from './common.js';

export function registerAlerts(program: Command): void {
  const alerts = program.command('alerts').description('alert rules (ALERT_RULES_FILE or ops/alerts/default-rules.yaml) with e-mail and Telegram delivery');
  alerts
    .command('check')
    .description('evaluate every rule once and deliver the notices; exit 1 when a rule failed or a delivery failed')
    .option('--dry-run', 'print what would be sent, per channel; send nothing and write nothing')
    .action(async (opts: { dryRun?: boolean }) => {
      const s = setup();
      await ensureClickHouse(s);
      const client = connect(s.ch);
      try {
        const log = logger(s.rt.logLevel);
        const alerting = alertingFromEnv(process.env, client, log);
        const report = await runAlerts(client, alerting, { dryRun: Boolean(opts.dryRun), log });
        for (const line of describeReport(report, Boolean(opts.dryRun))) {
          if (opts.dryRun) process.stdout.write(`${line}\n`);
          else say(line);
        }
        if (report.rules.some((r) => r.status === 'failed') || report.deliveries.some((d) => d.ok === false)) process.exitCode = 1;
      } finally {
        await client.close();
      }
    });
}
