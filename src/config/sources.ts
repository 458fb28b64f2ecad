import { z } from 'zod';
import { envBool, envInt, parseEnv, type Env } from './env.js';
import type { LoaderDefinition } from '../runtime/contract.js';
import { ConfigError } from '../runtime/errors.js';

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

/**
 * Other names a source's settings are accepted under ({ alias: canonical }): names an issue or an older
 * deployment used. Both set to different values is a config error naming both.
 */
export const SOURCE_ENV_ALIASES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  // Issue 3 calls the lookback FB_LOOKBACK_DAYS; the runtime's convention is <SOURCE>_LOOKBACK_DAYS.
  facebook: { FB_LOOKBACK_DAYS: 'FACEBOOK_LOOKBACK_DAYS' },
};

const isSet = (v: string | undefined): v is string => v !== undefined && v.trim() !== '';

/**
 * The env with each alias copied to its canonical name, plus which canonical names came from an alias
 * (so an error names the variable that was actually set). Values are never echoed: aliases may be secrets.
 */
export function applyEnvAliases(env: Env, aliases: Readonly<Record<string, string>>): { env: Env; via: Map<string, string> } {
  const out: Env = { ...env };
  const via = new Map<string, string>();
  for (const [alias, canonical] of Object.entries(aliases)) {
    const a = env[alias];
    if (!isSet(a)) continue;
    const c = env[canonical];
    if (isSet(c)) {
      if (c.trim() !== a.trim()) throw new ConfigError(`${alias} and ${canonical} are both set, to different values; ${alias} is another name for ${canonical}: set one of them`);
      continue;
    }
    out[canonical] = a;
    via.set(canonical, alias);
  }
  return { env: out, via };
}

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
export function sourceSettings(loader: LoaderDefinition, rawEnv: Env = process.env): SourceSettings {
  const p = envPrefix(loader.name);
  const { env, via } = applyEnvAliases(rawEnv, SOURCE_ENV_ALIASES[loader.name] ?? {});
  const schema = z.object({
    [`${p}_ENABLED`]: envBool.default(loader.enabledByDefault),
    [`${p}_SCHEDULE`]: z.string().regex(/^(\S+\s+){4,5}\S+$/, { message: 'expected a cron expression with 5 or 6 fields' }).default(loader.schedule),
    [`${p}_LOOKBACK_DAYS`]: envInt(1, 3650).default(loader.lookbackDays),
    [`${p}_RPS`]: envInt(1, 10_000).default(loader.rateLimit.requestsPerSecond),
    [`${p}_CONCURRENCY`]: envInt(1, 256).default(loader.rateLimit.concurrency),
    [`${p}_SLO_MINUTES`]: envInt(1, 525_600).default(DEFAULT_SLO_MINUTES[loader.name] ?? 26 * 60),
  });
  let c: Record<string, unknown>;
  try {
    c = parseEnv(schema, env) as Record<string, unknown>;
  } catch (err) {
    // "FACEBOOK_LOOKBACK_DAYS: expected ..." when the user set FB_LOOKBACK_DAYS would send them looking for the wrong name.
    const name = err instanceof ConfigError ? /^(\w+):/.exec(err.message)?.[1] : undefined;
    const alias = name ? via.get(name) : undefined;
    if (alias) throw new ConfigError(`${alias} (another name for ${name})${err instanceof Error ? err.message.slice(name!.length) : ''}`);
    throw err;
  }
  return {
    enabled: c[`${p}_ENABLED`] as boolean,
    schedule: c[`${p}_SCHEDULE`] as string,
    lookbackDays: c[`${p}_LOOKBACK_DAYS`] as number,
    requestsPerSecond: c[`${p}_RPS`] as number,
    concurrency: c[`${p}_CONCURRENCY`] as number,
    sloMinutes: c[`${p}_SLO_MINUTES`] as number,
  };
}
