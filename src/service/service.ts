// Puts the service together: `serve` = health cache + HTTP server; `run` = that plus the scheduler with
// one job per enabled loader, the smoke checks, and whatever JobFactory the alerts and reports add.
import { channelsFromEnv } from '../alerts/setup.js';
import { outageNotifier, type OutageNotifier } from './clickhouse-outage.js';
import type { AddressInfo } from 'node:net';
import { connect, type ClickHouseClient } from '../clickhouse/client.js';
import { clickhouseConfig } from '../config/clickhouse.js';
import { parseEnv, type Env } from '../config/env.js';
import { runtimeConfig } from '../config/runtime.js';
import { assertCron, serviceConfig, type ServiceConfig } from '../config/service.js';
import { envPrefix, sourceSettings } from '../config/sources.js';
import type { LoaderDefinition } from '../runtime/contract.js';
import { ConfigError } from '../runtime/errors.js';
import { logger as sharedLogger, type Logger } from '../runtime/logger.js';
import { LOADERS } from '../../loaders/registry.js';
import { metaAlertsFeed, type AlertsFeed } from './alerts-feed.js';
import type { SourceInfo } from './health-answers.js';
import { HealthCache } from './health-cache.js';
import { checksJob, DEFAULT_JOB_FACTORIES, loaderJobs, type JobFactory } from './jobs.js';
import { createMetrics } from './metrics.js';
import { Scheduler } from './scheduler.js';
import { buildServer } from './server.js';

export interface ServiceOptions {
  mode: 'run' | 'serve';
  env?: Env;
  /** Default: the registry, so a new loader is scheduled and reported without code changes here. */
  loaders?: readonly LoaderDefinition[];
  log?: Logger;
  /** Seam for the alert rules: where firing alerts are read from (default: meta_alerts once it exists). */
  alertsFeed?: AlertsFeed;
  /** Seam for alerts and reports: more scheduled jobs (run mode). */
  jobFactories?: readonly JobFactory[];
  /** Create the cron tasks (default true); tests start jobs with scheduler.trigger() instead. */
  cron?: boolean;
  /** Ask ClickHouse to record the health queries in system.query_log (bench/health.ts). */
  logQueries?: boolean;
}

export interface Service {
  url: string;
  port: number;
  config: ServiceConfig;
  cache: HealthCache;
  scheduler?: Scheduler;
  /** Graceful stop: no new work, running loads get SHUTDOWN_GRACE_MS then are aborted, server closed. */
  close(): Promise<void>;
}

/**
 * Every variable the mode needs, checked before anything starts: a bad one is one ConfigError line (exit 2).
 * In run mode an enabled loader's own variables are checked too; the line says how to switch it off.
 */
export function validateServiceEnv(mode: ServiceOptions['mode'], env: Env = process.env, loaders: readonly LoaderDefinition[] = LOADERS): ServiceConfig {
  clickhouseConfig(env);
  runtimeConfig(env);
  const config = serviceConfig(env);
  for (const loader of loaders) {
    const settings = sourceSettings(loader, env);
    if (mode !== 'run' || !settings.enabled) continue;
    assertCron(`${envPrefix(loader.name)}_SCHEDULE`, settings.schedule);
    try {
      parseEnv(loader.config, env);
    } catch (err) {
      if (err instanceof ConfigError) throw new ConfigError(`${err.message} (${loader.name} is enabled; set ${envPrefix(loader.name)}_ENABLED=false to run without it)`);
      throw err;
    }
  }
  return config;
}

export function sourceInfos(loaders: readonly LoaderDefinition[], env: Env): SourceInfo[] {
  return loaders.map((l) => {
    const s = sourceSettings(l, env);
    return { source: l.name, enabled: s.enabled, sloMinutes: s.sloMinutes };
  });
}

/** The ClickHouse-down notifier, when a channel and a recipient are configured (ADMIN_CHAT_ID, ALERT_*). */
function clickhouseOutageFromEnv(env: Env, log: Logger): OutageNotifier | undefined {
  const channels = channelsFromEnv(env, log);
  const telegram = [env.ADMIN_CHAT_ID, env.ALERT_TELEGRAM_CHAT_ID].filter((c): c is string => Boolean(c && c.trim()));
  const email = (env.ALERT_EMAIL_TO ?? '').split(',').map((a) => a.trim()).filter(Boolean);
  if (!channels.telegram && !channels.email) return undefined;
  return outageNotifier(channels, { telegram, email }, log);
}

export async function startService(opts: ServiceOptions): Promise<Service> {
  const env = opts.env ?? process.env;
  const loaders = opts.loaders ?? LOADERS;
  const config = validateServiceEnv(opts.mode, env, loaders);
  const ch = clickhouseConfig(env);
  const rt = runtimeConfig(env);
  const log = opts.log ?? sharedLogger(rt.logLevel);
  const sources = sourceInfos(loaders, env);

  // Two clients: the health cache's with a timeout shorter than its interval, the loads' with the long default.
  const healthClient = connect(ch, { requestTimeoutMs: Math.max(1000, Math.min(config.healthRefreshMs, 10_000)) });
  const outage = clickhouseOutageFromEnv(env, log);
  const cache = new HealthCache({
    client: healthClient,
    reportingTz: rt.reportingTz,
    refreshMs: config.healthRefreshMs,
    log,
    alertsFeed: opts.alertsFeed ?? metaAlertsFeed,
    logQueries: opts.logQueries,
    onRefresh: outage ? (state) => outage.observe(state.up, state.error) : undefined,
  });
  let jobsClient: ClickHouseClient | undefined;
  let scheduler: Scheduler | undefined;
  if (opts.mode === 'run') {
    jobsClient = connect(ch);
    const jobCtx = { env, client: jobsClient, log };
    scheduler = new Scheduler({ timezone: rt.reportingTz, log });
    for (const job of loaderJobs(loaders, jobCtx)) scheduler.add(job);
    scheduler.add(checksJob(config.checksSchedule, jobCtx));
    for (const factory of opts.jobFactories ?? DEFAULT_JOB_FACTORIES) for (const job of factory(jobCtx)) scheduler.add(job);
  }

  await cache.start();
  const app = buildServer({ cache, metrics: createMetrics({ cache, sources, scheduler }), sources, reportingTz: rt.reportingTz, log, basicAuth: config.basicAuth, scheduler });
  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    cache.stop();
    await healthClient.close();
    await jobsClient?.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') throw new ConfigError(`PORT/HOST: cannot listen on ${config.host}:${config.port} (${code})`);
    throw err;
  }
  const port = (app.server.address() as AddressInfo).port;
  const shownHost = config.host.includes(':') ? `[${config.host}]` : config.host;
  if (opts.cron !== false) scheduler?.start();

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      if (scheduler) {
        const { finished, aborted } = await scheduler.stop(config.shutdownGraceMs);
        if (finished.length || aborted.length) log.info({ finished, aborted }, `shutdown: ${finished.length} job(s) finished, ${aborted.length} aborted`);
      }
      await app.close();
      cache.stop();
      await healthClient.close();
      await jobsClient?.close();
    })());

  return { url: `http://${shownHost}:${port}`, port, config, cache, scheduler, close };
}
