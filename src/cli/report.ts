import type { Command } from 'commander';
import { connect } from '../clickhouse/client.js';
import { isDay } from '../runtime/dates.js';
import { logger } from '../runtime/logger.js';
import type { Period } from '../reports/build.js';
import { emailSubject, renderTelegramReport, renderText } from '../reports/render.js';
import { reportingFromEnv, runReport, type Recipients } from '../reports/setup.js';
import { ensureClickHouse, say, setup, UsageError } from './common.js';

interface ReportOptions {
  from?: string;
  to?: string;
  toChat?: string;
  toEmail?: string;
  dryRun?: boolean;
}

function periodOf(opts: ReportOptions): Period | undefined {
  if (opts.from === undefined && opts.to === undefined) return undefined;
  for (const [flag, v] of [['--from', opts.from], ['--to', opts.to]] as const) {
    if (v !== undefined && !isDay(v)) throw new UsageError(`${flag}: expected a date YYYY-MM-DD; got ${JSON.stringify(v)}`);
  }
  const from = opts.from ?? opts.to!;
  const to = opts.to ?? opts.from!;
  if (from > to) throw new UsageError(`--from ${from} is after --to ${to}`);
  return { from, to };
}

export function registerReport(program: Command): void {
  program
    .command('report')
    .description('build a digest report (REPORTS_FILE or ops/reports/default-reports.yaml) now and send it; with dates, a historical one')
    .argument('<name>', 'the report: daily, 4h, weekly, monthly or one defined in REPORTS_FILE')
    .option('--from <date>', 'first day of the period (YYYY-MM-DD, report time zone); default: the last complete period')
    .option('--to <date>', 'last day of the period (YYYY-MM-DD)')
    .option('--to-chat <id>', 'send to this Telegram chat instead of the report\'s recipients')
    .option('--to-email <addr>', 'send to this e-mail address instead of the report\'s recipients')
    .option('--dry-run', 'print the Telegram and e-mail renderings; send nothing')
    .action(async (name: string, opts: ReportOptions) => {
      const period = periodOf(opts);
      const reporting = reportingFromEnv(process.env);
      const def = reporting.reports.find((r) => r.name === name);
      if (!def) throw new UsageError(`unknown report "${name}"; defined reports: ${reporting.reports.map((r) => r.name).join(', ')}`);
      const override: Recipients | undefined = opts.toChat || opts.toEmail ? { telegram: opts.toChat ? [opts.toChat] : [], email: opts.toEmail ? [opts.toEmail] : [] } : undefined;
      const s = setup();
      await ensureClickHouse(s);
      const client = connect(s.ch);
      try {
        const log = logger(s.rt.logLevel);
        const { report, deliveries } = await runReport(client, reporting, def, { period, to: override, dryRun: Boolean(opts.dryRun), log });
        if (opts.dryRun) {
          const to = override ?? def.recipients;
          const chunks = renderTelegramReport(report);
          const out: string[] = [];
          out.push(`== telegram (${chunks.length} message${chunks.length === 1 ? '' : 's'}) → ${to.telegram.join(', ') || '(no chats)'}`);
          chunks.forEach((c, i) => out.push(...(chunks.length > 1 ? [`-- message ${i + 1}`] : []), c));
          out.push('', `== e-mail → ${to.email.join(', ') || '(no addresses)'}`, `Subject: ${emailSubject(report)}`, '', renderText(report).trimEnd());
          process.stdout.write(`${out.join('\n')}\n`);
          return;
        }
        if (deliveries.length === 0) say(`report ${def.name} ${report.period.from}..${report.period.to}: no recipients (set REPORT_TELEGRAM_CHAT_ID / REPORT_EMAIL_TO, or use --to-chat / --to-email)`);
        for (const d of deliveries) say(`${d.channel} → ${d.recipient}: ${d.ok ? 'sent' : `FAILED (${d.error})`} report ${def.name} ${report.period.from}..${report.period.to}`);
        if (deliveries.some((d) => !d.ok)) process.exitCode = 1;
      } finally {
        await client.close();
      }
    });
}
