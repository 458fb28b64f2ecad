import { z } from 'zod';
import { envBool, envInt, parseEnv, type Env } from './env.js';
import type { LoaderDefinition } from '../runtime/contract.js';

/** How old a source's last successful run may be before it counts as stale (issue 4's defaults). */
export const DEFAULT_SLO_MINUTES: Readonly<Record<string, number>> = {
  qtickets_sheets: 30,
  qtickets_api: 30,
  vk_ads: 26 * 60,
  direct: 26 * 60,
  gmail: 8 * 60,
  cbr_rates: 48 * 60,
  facebook: 60,
  avito: 3 * 60,
};

export interface SourceSettings {
  enabled: boolean;
  sloMinutes: number;
  schedule: string;
  lookbackDays: number;
  requestsPerSecond: number;
  concurrency: number;
}

export function envPrefix(source: string): string {
  return source.toUpperCase();
}

/** Per-source switches every loader has: <SOURCE>_ENABLED, _SCHEDULE, _LOOKBACK_DAYS, _RPS, _CONCURRENCY, _SLO_MINUTES. */
export function sourceSettings(loader: LoaderDefinition, env: Env = process.env): SourceSettings {
  const p = envPrefix(loader.name);
  const schema = z.object({
    [`${p}_ENABLED`]: envBool.default(loader.enabledByDefault),
    [`${p}_SCHEDULE`]: z.string().regex(/^(\S+\s+){4,5}\S+$/, { message: 'expected a cron expression with 5 or 6 fields' }).default(loader.schedule),
    [`${p}_LOOKBACK_DAYS`]: envInt(1, 3650).default(loader.lookbackDays),
    [`${p}_RPS`]: envInt(1, 10_000).default(loader.rateLimit.requestsPerSecond),
    [`${p}_CONCURRENCY`]: envInt(1, 256).default(loader.rateLimit.concurrency),
    [`${p}_SLO_MINUTES`]: envInt(1, 525_600).default(DEFAULT_SLO_MINUTES[loader.name] ?? 26 * 60),
  });
  const c = parseEnv(schema, env) as Record<string, unknown>;
  return {
    enabled: c[`${p}_ENABLED`] as boolean,
    schedule: c[`${p}_SCHEDULE`] as string,
    lookbackDays: c[`${p}_LOOKBACK_DAYS`] as number,
    requestsPerSecond: c[`${p}_RPS`] as number,
    concurrency: c[`${p}_CONCURRENCY`] as number,
    sloMinutes: c[`${p}_SLO_MINUTES`] as number,
  };
}
