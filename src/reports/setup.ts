// Puts a digest together from the environment: the definitions (REPORTS_FILE or the built-ins), the
// channels (SMTP_*, TELEGRAM_*; the same variables as the alerts), building and delivering. A delivery
// failure is retried within ALERT_DELIVERY_ATTEMPTS, logged and reported, never thrown.
import nodemailer from 'nodemailer';
import type { ClickHouseClient } from '../clickhouse/client.js';
import { parseTelegram } from '../channels/telegram.js';
import { alertsConfig, type SmtpConfig, type TelegramConfig } from '../config/alerts.js';
import { parseEnv, type Env } from '../config/env.js';
import { runtimeConfig } from '../config/runtime.js';
import { createHttpClient, sleep } from '../runtime/http.js';
import type { Logger } from '../runtime/logger.js';
import { redactString, registerSecret } from '../runtime/redact.js';
import { z } from 'zod';
import { buildReport, defaultPeriod, type Period, type Report } from './build.js';
import { loadReports, type ReportDefinition } from './definitions.js';
import { emailSubject, renderEmailHtml, renderTelegramReport, renderText } from './render.js';

const schema = z.object({ REPORTS_FILE: z.string().optional() });

export interface ReportingSetup {
  reports: ReportDefinition[];
  smtp?: SmtpConfig;
  telegram?: TelegramConfig;
  attempts: number;
}

/** Reads and checks REPORTS_FILE and the channel variables; a problem is a ConfigError (exit 2). */
export function reportingFromEnv(env: Env): ReportingSetup {
  const { REPORTS_FILE } = parseEnv(schema, env);
  const cfg = alertsConfig(env);
  const reports = loadReports(REPORTS_FILE, env, runtimeConfig(env).reportingTz);
  return { reports, smtp: cfg.smtp, telegram: cfg.telegram, attempts: cfg.deliveryAttempts };
}

export interface Delivery {
  channel: 'email' | 'telegram';
  recipient: string;
  ok: boolean;
  error?: string;
}

export interface Recipients {
  email: string[];
  telegram: string[];
}

async function sendTelegram(cfg: TelegramConfig, attempts: number, chatId: string, chunks: string[], log?: Logger, signal?: AbortSignal): Promise<void> {
  registerSecret(cfg.token);
  const http = createHttpClient({
    source: 'telegram', timeoutMs: 15_000, requestsPerSecond: 25, concurrency: 1, maxRetries: Math.max(0, attempts - 1),
    backoffBaseMs: 500, backoffMaxMs: 10_000, maxWaitMs: 120_000, log, signal,
  });
  const url = `${cfg.apiUrl}/bot${cfg.token}/sendMessage`;
  try {
    for (const text of chunks) {
      await http.request({ method: 'POST', url, body: { chat_id: chatId, text, parse_mode: 'HTML', link_preview_options: { is_disabled: true } } }, parseTelegram);
    }
  } catch (err) {
    throw new Error(redactString((err instanceof Error ? err.message : String(err)).split(cfg.token).join('***')));
  }
}

async function sendEmail(cfg: SmtpConfig, attempts: number, to: string, report: Report, log?: Logger): Promise<void> {
  registerSecret(cfg.password);
  const transporter = nodemailer.createTransport({
    host: cfg.host, port: cfg.port, secure: cfg.secure, auth: cfg.user ? { user: cfg.user, pass: cfg.password ?? '' } : undefined,
    connectionTimeout: 15_000, greetingTimeout: 10_000, socketTimeout: 30_000,
  });
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        await transporter.sendMail({ from: cfg.from, to, subject: emailSubject(report), text: renderText(report), html: renderEmailHtml(report) });
        return;
      } catch (err) {
        const message = redactString(err instanceof Error ? err.message : String(err));
        log?.warn({ channel: 'email', attempt }, `report e-mail to ${to} failed: ${message}`);
        if (attempt >= attempts || /^5\d\d/.test(String((err as { responseCode?: number }).responseCode ?? ''))) throw new Error(message);
        await sleep(1000 * 2 ** (attempt - 1));
      }
    }
  } finally {
    transporter.close();
  }
}

/** Sends a built report to every recipient; a channel that is not configured is a failed delivery. */
export async function deliverReport(setup: ReportingSetup, report: Report, to: Recipients, opts: { log?: Logger; signal?: AbortSignal } = {}): Promise<Delivery[]> {
  const out: Delivery[] = [];
  const chunks = renderTelegramReport(report);
  for (const chat of to.telegram) {
    try {
      if (!setup.telegram) throw new Error('the telegram channel is not configured (TELEGRAM_BOT_TOKEN unset)');
      await sendTelegram(setup.telegram, setup.attempts, chat, chunks, opts.log, opts.signal);
      out.push({ channel: 'telegram', recipient: chat, ok: true });
    } catch (err) {
      opts.log?.error({ channel: 'telegram', chat, report: report.name }, `report ${report.name} to Telegram ${chat} failed: ${(err as Error).message}`);
      out.push({ channel: 'telegram', recipient: chat, ok: false, error: (err as Error).message });
    }
  }
  for (const addr of to.email) {
    try {
      if (!setup.smtp) throw new Error('the email channel is not configured (SMTP_HOST unset)');
      await sendEmail(setup.smtp, setup.attempts, addr, report, opts.log);
      out.push({ channel: 'email', recipient: addr, ok: true });
    } catch (err) {
      opts.log?.error({ channel: 'email', to: addr, report: report.name }, `report ${report.name} to ${addr} failed: ${(err as Error).message}`);
      out.push({ channel: 'email', recipient: addr, ok: false, error: (err as Error).message });
    }
  }
  return out;
}

export interface RunReportOptions {
  period?: Period;
  /** Instead of the report's own recipients. */
  to?: Recipients;
  dryRun?: boolean;
  now?: Date;
  log?: Logger;
  signal?: AbortSignal;
}

export async function runReport(client: ClickHouseClient, setup: ReportingSetup, def: ReportDefinition, opts: RunReportOptions = {}): Promise<{ report: Report; deliveries: Delivery[] }> {
  const period = opts.period ?? defaultPeriod(def.period, def.timezone, opts.now);
  const report = await buildReport(client, def, { period, signal: opts.signal });
  if (opts.dryRun) return { report, deliveries: [] };
  const deliveries = await deliverReport(setup, report, opts.to ?? def.recipients, { log: opts.log, signal: opts.signal });
  return { report, deliveries };
}
