// What the batch can observe of Facebook's rate limits: the Facebook client logs its throttling pauses
// ({account, waitMs}) and its call counts ({account, calls}); a usage percentage ({account, usagePct})
// is picked up too when the client logs one. The runs' logger is wrapped so every log call is seen
// (also below the log level, before pino drops it) without changing where the logs go.
import type { Logger } from '../runtime/logger.js';

export interface UsageObservation {
  account: string;
  calls?: number;
  waitMs?: number;
  usagePct?: number;
}

const LOG_METHODS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace']);

function observation(args: unknown[]): UsageObservation | null {
  const first = args[0];
  if (!first || typeof first !== 'object' || first instanceof Error) return null;
  const o = first as Record<string, unknown>;
  if (typeof o.account !== 'string') return null;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const obs: UsageObservation = { account: o.account, calls: num(o.calls), waitMs: num(o.waitMs), usagePct: num(o.usagePct) };
  return obs.calls === undefined && obs.waitMs === undefined && obs.usagePct === undefined ? null : obs;
}

/** A logger that behaves like `log` (children included) and reports usage fields to `observe`. */
export function tapLogger(log: Logger, observe: (o: UsageObservation) => void): Logger {
  return new Proxy(log, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      if (prop === 'child') return (...args: unknown[]) => tapLogger((value as (...a: unknown[]) => Logger).apply(target, args), observe);
      if (typeof prop === 'string' && LOG_METHODS.has(prop)) {
        return (...args: unknown[]) => {
          const o = observation(args);
          if (o) observe(o);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
}

/** Running figures for the progress line and the summary. */
export class UsageMeter {
  calls = 0;
  pauses = 0;
  pausedMs = 0;
  readonly callsByAccount = new Map<string, number>();
  /** The newest usage percentage seen and whose it was. */
  lastPct: { account: string; pct: number; at: number } | null = null;
  lastPause: { account: string; ms: number; at: number } | null = null;

  /** Loader runs that reported no call count, per batch step (their calls are missing from `calls`). */
  readonly silentRuns = new Map<string, number>();

  /**
   * An observer for one loader run. The Facebook loader logs `calls` as the running count of the run's API
   * client of that account (after each insights grain), so a run's later line repeats its earlier calls:
   * only the growth is added. `reported()` says whether the run logged a count at all.
   */
  forRun(): { observe: (o: UsageObservation) => void; reported: () => boolean } {
    const seen = new Map<string, number>();
    return {
      observe: (o) => {
        if (o.calls !== undefined) {
          const prev = seen.get(o.account) ?? 0;
          seen.set(o.account, Math.max(prev, o.calls));
          if (o.calls > prev) this.observe({ account: o.account, calls: o.calls - prev });
        }
        if (o.waitMs !== undefined || o.usagePct !== undefined) this.observe({ account: o.account, waitMs: o.waitMs, usagePct: o.usagePct });
      },
      reported: () => seen.size > 0,
    };
  }

  noteSilentRun(step: string): void {
    this.silentRuns.set(step, (this.silentRuns.get(step) ?? 0) + 1);
  }

  observe = (o: UsageObservation): void => {
    if (o.calls !== undefined) {
      this.calls += o.calls;
      this.callsByAccount.set(o.account, (this.callsByAccount.get(o.account) ?? 0) + o.calls);
    }
    if (o.waitMs !== undefined) {
      this.pauses++;
      this.pausedMs += o.waitMs;
      this.lastPause = { account: o.account, ms: o.waitMs, at: Date.now() };
    }
    if (o.usagePct !== undefined) this.lastPct = { account: o.account, pct: o.usagePct, at: Date.now() };
  };

  /** One short phrase for the progress line. */
  describe(): string {
    const parts: string[] = [];
    if (this.lastPct) parts.push(`usage ${this.lastPct.pct.toFixed(0)}% (${this.lastPct.account})`);
    if (this.pauses > 0) parts.push(`throttled ${this.pauses}× ${(this.pausedMs / 1000).toFixed(1)} s`);
    else parts.push('no throttling');
    return parts.join(', ');
  }
}
