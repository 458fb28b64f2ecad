import type { RunWindow } from './contract.js';
import { addDays, diffDays, isDay, minDay } from './dates.js';
import { AdhouseError } from './errors.js';

export interface WindowRequest {
  since?: string;
  until?: string;
}

export interface WindowPolicy {
  lookbackDays: number;
  includeToday: boolean;
  initialDays: number;
}

/**
 * The run window. Explicit dates win. Otherwise it ends yesterday (or today for intraday sources) and
 * starts `lookbackDays` back, or earlier when the cursor says days were missed (the service was down).
 */
export function resolveWindow(req: WindowRequest, policy: WindowPolicy, today: string, cursor: string | null): RunWindow {
  for (const [flag, value] of [['--since', req.since], ['--until', req.until]] as const) {
    if (value !== undefined && !isDay(value)) throw new AdhouseError('config', `${flag}: expected a date YYYY-MM-DD, got ${JSON.stringify(value)}`);
  }
  const defaultUntil = policy.includeToday ? today : addDays(today, -1);
  if (req.since !== undefined || req.until !== undefined) {
    const until = req.until ?? defaultUntil;
    const since = req.since ?? addDays(until, -(policy.lookbackDays - 1));
    if (since > until) throw new AdhouseError('config', `--since ${since} is after --until ${until}`);
    return { since, until, explicit: true, lookbackDays: policy.lookbackDays };
  }
  const lookbackStart = addDays(defaultUntil, -(policy.lookbackDays - 1));
  const since = cursor === null ? addDays(defaultUntil, -(policy.initialDays - 1)) : minDay(addDays(cursor, 1), lookbackStart);
  return { since: since > defaultUntil ? defaultUntil : since, until: defaultUntil, explicit: false, lookbackDays: policy.lookbackDays };
}

export function windowDays(w: { since: string; until: string }): number {
  return diffDays(w.since, w.until) + 1;
}
