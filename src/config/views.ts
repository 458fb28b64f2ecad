// Values the views need as SQL constants, rendered into `{{NAME}}` placeholders at migrate time (a time
// zone argument cannot come from a table). Changing one of these variables takes `adhouse migrate`.
import { sqlInt, sqlString } from '../clickhouse/literal.js';
import { LOADERS } from '../../loaders/registry.js';
import type { Env } from './env.js';
import { runtimeConfig } from './runtime.js';
import { sourceSettings } from './sources.js';

export function viewVars(env: Env = process.env): Record<string, string> {
  const sources = LOADERS.map((loader) => {
    const s = sourceSettings(loader, env);
    return `(${sqlString(loader.name)}, ${sqlInt(s.sloMinutes)}, ${s.enabled ? 1 : 0})`;
  });
  return {
    TZ_REPORTING: sqlString(runtimeConfig(env).reportingTz),
    // [(source, slo_minutes, enabled), ...] for v_data_freshness.
    SOURCES: `[${sources.join(', ')}]`,
  };
}
