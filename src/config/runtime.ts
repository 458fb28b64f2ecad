import path from 'node:path';
import { z } from 'zod';
import { envInt, parseEnv, type Env } from './env.js';

const schema = z.object({
  ADHOUSE_DATA_DIR: z.string().default('.data'),
  STATE_DIR: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { message: 'expected one of fatal, error, warn, info, debug, trace, silent' }).default('info'),
  TZ_REPORTING: z.string().refine(isTimeZone, { message: 'expected an IANA time zone such as Europe/Moscow' }).default('Europe/Moscow'),
  HTTP_TIMEOUT_MS: envInt(100, 600_000).default(30_000),
  HTTP_MAX_RETRIES: envInt(0, 20).default(5),
  HTTP_BACKOFF_BASE_MS: envInt(1, 60_000).default(500),
  HTTP_BACKOFF_MAX_MS: envInt(1, 600_000).default(30_000),
  /** Longest upstream-requested wait we accept before giving up (Retry-After, retryIn). */
  HTTP_MAX_WAIT_MS: envInt(0, 3_600_000).default(600_000),
  SINK_BATCH_ROWS: envInt(1, 10_000_000).default(100_000),
  SINK_FLUSH_MS: envInt(10, 3_600_000).default(5_000),
});

export interface RuntimeConfig {
  dataDir: string;
  stateDir: string;
  logLevel: string;
  reportingTz: string;
  http: { timeoutMs: number; maxRetries: number; backoffBaseMs: number; backoffMaxMs: number; maxWaitMs: number };
  sink: { batchRows: number; flushMs: number };
}

/** Whether Intl knows the IANA time zone (Europe/Moscow, UTC, ...). */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export function runtimeConfig(env: Env = process.env): RuntimeConfig {
  const c = parseEnv(schema, env);
  const dataDir = path.resolve(c.ADHOUSE_DATA_DIR);
  return {
    dataDir,
    stateDir: path.resolve(c.STATE_DIR ?? path.join(dataDir, 'state')),
    logLevel: c.LOG_LEVEL,
    reportingTz: c.TZ_REPORTING,
    http: { timeoutMs: c.HTTP_TIMEOUT_MS, maxRetries: c.HTTP_MAX_RETRIES, backoffBaseMs: c.HTTP_BACKOFF_BASE_MS, backoffMaxMs: c.HTTP_BACKOFF_MAX_MS, maxWaitMs: c.HTTP_MAX_WAIT_MS },
    sink: { batchRows: c.SINK_BATCH_ROWS, flushMs: c.SINK_FLUSH_MS },
  };
}
