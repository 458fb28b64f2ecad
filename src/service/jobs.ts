// The jobs `adhouse run` schedules: one per enabled loader in the registry (so a new loader is picked up
// without code changes here), the hourly smoke checks, and the seam where alerts and reports plug in.
import { alertingFromEnv, runAlerts } from '../alerts/setup.js';
import type { ClickHouseClient } from '../clickhouse/client.js';
import { runChecks } from '../cli/check.js';
import type { Env } from '../config/env.js';
import { serviceConfig } from '../config/service.js';
import { sourceSettings } from '../config/sources.js';
import { viewVars } from '../config/views.js';
import type { LoaderDefinition } from '../runtime/contract.js';
import type { Logger } from '../runtime/logger.js';
import { runLoader } from '../runtime/run-loader.js';
import { reportingFromEnv, runReport } from '../reports/setup.js';
import type { JobResult, ScheduledJob } from './scheduler.js';

export interface JobContext {
  env: Env;
  /** The loaders' client (long request timeout), shared by every job; not the health cache's. */
  client: ClickHouseClient;
  log: Logger;
}

export function loaderJob(loader: LoaderDefinition, ctx: JobContext, pass?: { name: string; schedule: string; lookbackDays: number }): ScheduledJob {
  const settings = sourceSettings(loader, ctx.env);
  return {
    name: pass ? `${loader.name}:${pass.name}` : loader.name,
    schedule: pass ? pass.schedule : settings.schedule,
    group: loader.name,
    async run(signal): Promise<JobResult> {
      const s = await runLoader(loader, { env: ctx.env, signal, client: ctx.client, log: ctx.log, lookbackDays: pass?.lookbackDays });
      const rows = `written ${s.rowsWritten}, quarantined ${s.rowsQuarantined}, skipped ${s.rowsSkipped} in ${(s.durationMs / 1000).toFixed(1)} s (run ${s.runId})`;
      if (s.status === 'success') {
        const after = loader.afterLoad ? await loader.afterLoad(ctx.client, signal) : '';
        return { outcome: 'success', message: after ? `${rows}; ${after}` : rows };
      }
      return { outcome: s.status, message: `${s.errorClass}: ${s.errorMessage ?? ''}`.slice(0, 300) };
    },
  };
}

export function loaderJobs(loaders: readonly LoaderDefinition[], ctx: JobContext): ScheduledJob[] {
  return loaders
    .filter((l) => sourceSettings(l, ctx.env).enabled)
    .flatMap((l) => [loaderJob(l, ctx), ...(l.passes ?? []).map((pass) => loaderJob(l, ctx, pass))]);
}

/** sql/checks on a schedule; a failing check is logged with its rows' count and makes the job `failed`. */
export function checksJob(schedule: string, ctx: JobContext): ScheduledJob {
  return {
    name: 'checks',
    schedule,
    async run(): Promise<JobResult> {
      const results = await runChecks(ctx.client, undefined, viewVars(ctx.env));
      const failing = results.filter((r) => r.violations.length > 0);
      for (const r of failing) ctx.log.error({ check: r.name, rows: r.violations.length }, `smoke check ${r.name} failed: ${r.violations.length} offending row(s)`);
      if (failing.length === 0) return { outcome: 'success', message: `${results.length} check(s) passed` };
      return { outcome: 'failed', message: `${failing.length} of ${results.length} check(s) failing: ${failing.map((r) => r.name).join(', ')}` };
    },
  };
}

/**
 * Jobs other pieces of the service contribute. The alert rules (issue 6 item 3) add
 * `{ name: 'alerts', schedule: serviceConfig().alertsSchedule, run }` here, and digest reports (item 5)
 * one `report:<name>` job per configured report; each returns a JobResult and must honour the signal.
 */
export type JobFactory = (ctx: JobContext) => ScheduledJob[];

/**
 * The alert rules on ALERTS_SCHEDULE: one evaluation per tick (state in meta_alerts, so a restart or a
 * skipped tick loses nothing). Rules and channels are read when the factory runs, so a bad rules file
 * stops `adhouse run` at start-up with one line. A failed rule or delivery makes the job `failed`.
 */
export const alertsJobFactory: JobFactory = (ctx) => {
  const alerting = alertingFromEnv(ctx.env, ctx.client, ctx.log);
  return [
    {
      name: 'alerts',
      schedule: serviceConfig(ctx.env).alertsSchedule,
      async run(signal): Promise<JobResult> {
        const report = await runAlerts(ctx.client, alerting, { log: ctx.log, signal });
        const failedRules = report.rules.filter((r) => r.status === 'failed').map((r) => r.rule);
        const failedDeliveries = report.deliveries.filter((d) => d.ok === false).length;
        const firing = report.rules.reduce((n, r) => n + r.firing, 0);
        const message = `${report.rules.length} rule(s), ${firing} firing, ${report.deliveries.length} notice(s) sent${failedDeliveries ? `, ${failedDeliveries} failed` : ''}${failedRules.length ? `; failed rules: ${failedRules.join(', ')}` : ''}`;
        return { outcome: failedRules.length || failedDeliveries ? 'failed' : 'success', message };
      },
    },
  ];
};

/**
 * One `report:<name>` job per digest report (REPORTS_FILE or the built-ins), on the report's schedule
 * (a cron in the scheduler's time zone). Each tick builds the last complete period of the report's kind
 * and sends it; a failed delivery makes the job `failed`. A bad reports file stops start-up with one line.
 * A report without recipients (e.g. REPORT_TELEGRAM_CHAT_ID and REPORT_EMAIL_TO unset) is not scheduled.
 */
export const reportsJobFactory: JobFactory = (ctx) => {
  const reporting = reportingFromEnv(ctx.env);
  const active = reporting.reports.filter((def) => def.recipients.email.length + def.recipients.telegram.length > 0);
  for (const def of reporting.reports) if (!active.includes(def)) ctx.log.info({ report: def.name }, `report ${def.name}: no recipients, not scheduled`);
  return active.map((def) => ({
    name: `report:${def.name}`,
    schedule: def.cron,
    async run(signal): Promise<JobResult> {
      const { report, deliveries } = await runReport(ctx.client, reporting, def, { log: ctx.log, signal });
      const failed = deliveries.filter((d) => !d.ok);
      const message = `${report.period.from}..${report.period.to}: ${deliveries.length - failed.length} of ${deliveries.length} deliveries sent${failed.length ? `; failed: ${failed.map((d) => `${d.channel} ${d.recipient}`).join(', ')}` : ''}`;
      return { outcome: failed.length ? 'failed' : 'success', message };
    },
  }));
};

/** What `adhouse run` adds to the loaders and checks (service.ts: `opts.jobFactories ?? DEFAULT_JOB_FACTORIES`). */
export const DEFAULT_JOB_FACTORIES: readonly JobFactory[] = [alertsJobFactory, reportsJobFactory];
