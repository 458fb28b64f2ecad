// Puts the alerting pieces together from the environment: rules, the configured channels, the smoke
// checks as a row source. Used by `adhouse alerts check` and by the `alerts` job of `adhouse run`.
import type { ClickHouseClient } from '../clickhouse/client.js';
import { runChecks } from '../cli/check.js';
import type { Channels } from '../channels/channel.js';
import { emailChannel } from '../channels/email.js';
import { telegramChannel } from '../channels/telegram.js';
import { alertsConfig } from '../config/alerts.js';
import type { Env } from '../config/env.js';
import { viewVars } from '../config/views.js';
import type { Logger } from '../runtime/logger.js';
import { evaluateAlerts, type EvaluationReport } from './evaluate.js';
import { plainText } from './message.js';
import type { SmokeChecks } from './query.js';
import { loadRules, type AlertRule } from './rules.js';

export interface Alerting {
  rules: AlertRule[];
  channels: Channels;
  smokeChecks: SmokeChecks;
}

/** The channels whose variables are set (SMTP_*, TELEGRAM_*); none configured = an empty set. */
export function channelsFromEnv(env: Env, log?: Logger, signal?: AbortSignal): Channels {
  const cfg = alertsConfig(env);
  const channels: Channels = {};
  if (cfg.smtp) channels.email = emailChannel({ config: cfg.smtp, attempts: cfg.deliveryAttempts, log });
  if (cfg.telegram) channels.telegram = telegramChannel({ config: cfg.telegram, attempts: cfg.deliveryAttempts, log, signal });
  return channels;
}

/** Reads and checks ALERT_RULES_FILE and the channel variables; a problem is a ConfigError (exit 2). */
export function alertingFromEnv(env: Env, client: ClickHouseClient, log?: Logger, signal?: AbortSignal): Alerting {
  const cfg = alertsConfig(env);
  const rules = loadRules(cfg.rulesFile, env);
  const channels = channelsFromEnv(env, log, signal);
  const smokeChecks: SmokeChecks = async () => (await runChecks(client, undefined, viewVars(env))).filter((r) => r.violations.length > 0).map((r) => ({ check: r.name, rows: r.violations.length }));
  return { rules, channels, smokeChecks };
}

export function runAlerts(client: ClickHouseClient, alerting: Alerting, opts: { now?: Date; dryRun?: boolean; log?: Logger; signal?: AbortSignal } = {}): Promise<EvaluationReport> {
  return evaluateAlerts({ client, ...alerting, ...opts });
}

/** A few lines for a terminal or a job result. */
export function describeReport(report: EvaluationReport, dryRun: boolean): string[] {
  const lines: string[] = [];
  for (const r of report.rules) {
    lines.push(`${r.status === 'ok' ? 'ok     ' : r.status === 'skipped' ? 'skipped' : 'FAILED '} ${r.rule}${r.status === 'ok' ? `: ${r.active} active, ${r.firing} firing` : `: ${r.reason}`}`);
  }
  for (const c of report.unconfiguredChannels) lines.push(`note: rules name ${c} recipients but the ${c} channel is not configured (${c === 'email' ? 'SMTP_HOST' : 'TELEGRAM_BOT_TOKEN'} unset)`);
  if (report.deliveries.length === 0) lines.push(dryRun ? 'nothing would be sent' : 'nothing to send');
  for (const d of report.deliveries) {
    const verdict = dryRun ? 'would send' : d.ok ? 'sent' : `FAILED (${d.error})`;
    lines.push(`${d.channel} → ${d.recipient}: ${verdict} ${d.kind} ${d.rule}`);
    if (dryRun) lines.push(...plainText(d.message).split('\n').map((l) => `    ${l}`));
  }
  return lines;
}
