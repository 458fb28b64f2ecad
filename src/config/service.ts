// The service's own variables (`adhouse run` / `adhouse serve`): HTTP bind, health cache, shutdown,
// schedules of the non-loader jobs, optional basic auth. Loader schedules are <SOURCE>_SCHEDULE (sources.ts).
import cron from 'node-cron';
import { z } from 'zod';
import { ConfigError } from '../runtime/errors.js';
import { registerSecret } from '../runtime/redact.js';
import { envInt, parseEnv, type Env } from './env.js';

const cronExpression = z.string().refine((v) => cron.validate(v), { message: 'expected a cron expression (5 or 6 fields)' });

const schema = z.object({
  // 0 = any free port (tests); the address actually bound is printed at start.
  PORT: envInt(0, 65535).default(8080),
  HOST: z.string().regex(/^[A-Za-z0-9.:_-]+$/, { message: 'expected a host name or IP address to bind, such as 127.0.0.1 or 0.0.0.0' }).default('127.0.0.1'),
  HEALTH_REFRESH_MS: envInt(100, 3_600_000).default(15_000),
  SHUTDOWN_GRACE_MS: envInt(0, 3_600_000).default(30_000),
  CHECKS_SCHEDULE: cronExpression.default('0 * * * *'),
  ALERTS_SCHEDULE: cronExpression.default('*/15 * * * *'),
});

export interface ServiceConfig {
  port: number;
  host: string;
  /** How often the background refresher asks ClickHouse; handlers answer from its cache. */
  healthRefreshMs: number;
  /** How long running loads may take to finish after SIGTERM/SIGINT before they are aborted. */
  shutdownGraceMs: number;
  /** Basic auth for every route but /healthz, when set. */
  basicAuth?: { user: string; password: string };
  checksSchedule: string;
  alertsSchedule: string;
}

export function serviceConfig(env: Env = process.env): ServiceConfig {
  const c = parseEnv(schema, env);
  return {
    port: c.PORT,
    host: c.HOST,
    healthRefreshMs: c.HEALTH_REFRESH_MS,
    shutdownGraceMs: c.SHUTDOWN_GRACE_MS,
    basicAuth: basicAuth(env.HTTP_BASIC_AUTH),
    checksSchedule: c.CHECKS_SCHEDULE,
    alertsSchedule: c.ALERTS_SCHEDULE,
  };
}

/** <SOURCE>_SCHEDULE passes sources.ts's field-count check; node-cron must also accept it. */
export function assertCron(variable: string, expression: string): void {
  if (!cron.validate(expression)) throw new ConfigError(`${variable}: expected a cron expression (5 or 6 fields); got ${JSON.stringify(expression)}`);
}

/**
 * HTTP_BASIC_AUTH is parsed here, not by parseEnv: its name does not look secret, so a bad value would be
 * echoed in the error line. The value is a secret; it never appears in errors, logs or answers.
 */
function basicAuth(raw: string | undefined): ServiceConfig['basicAuth'] {
  const value = raw?.trim();
  if (!value) return undefined;
  registerSecret(value);
  const at = value.indexOf(':');
  if (at <= 0 || at === value.length - 1 || /\s/.test(value)) throw new ConfigError('HTTP_BASIC_AUTH: expected user:password; got a value that does not fit (not shown)');
  const password = value.slice(at + 1);
  registerSecret(password);
  return { user: value.slice(0, at), password };
}
