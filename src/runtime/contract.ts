// The loader contract (DESIGN.md): a loader is a value { name, schedule, config, run(ctx) }.
// Everything a loader may touch arrives through the context; nothing else is shared between loaders.
import type { z } from 'zod';
import type { Logger } from './logger.js';
import type { HttpClient } from './http.js';
import type { TableSink, SinkOptions } from './sink.js';
import type { Quarantine } from './quarantine.js';
import type { Progress } from './progress.js';
import type { ClickHouseClient } from '../clickhouse/client.js';

/** Days are 'YYYY-MM-DD' strings in the reporting time zone; `until` is inclusive. */
export interface RunWindow {
  since: string;
  until: string;
  /** True when the dates came from --since/--until or a backfill chunk, not from the cursor + lookback. */
  explicit: boolean;
  lookbackDays: number;
}

export interface LoaderContext<C> {
  /** The loader's own config section, parsed and validated by its zod schema. */
  config: C;
  log: Logger;
  /** Retrying, rate-limited HTTP client scoped to this source. */
  http: HttpClient;
  /** The insert sink for one table; stamps _ver, _loaded_at, _run_id, batches and applies back-pressure. */
  sink(table: string, options?: SinkOptions): TableSink;
  quarantine: Quarantine;
  window: RunWindow;
  /** --account: only this account/login/profile, when set. */
  account?: string;
  /** Loader-specific options of this run (RunRequest.params), {} when none; the loader validates them. */
  params: Readonly<Record<string, unknown>>;
  signal: AbortSignal;
  progress: Progress;
  /** Count rows received from upstream; must equal written + quarantined + skipped at the end. */
  rowsRead(n: number): void;
  /** Token caches and other small state files (mode 0600); a per-source subfolder of STATE_DIR. */
  stateDir: string;
  runId: string;
  /** The run's start time in ms, used as _ver of every row it writes. */
  version: number;
  reportingTz: string;
  /**
   * Marks the start or the end of a named step of this run (Facebook: structure, weekly, daily, hourly), for
   * a caller that tracks steps (the batch sync, RunRequest.onStep). On `completed` the rows written so far
   * are made durable (the sinks holding unsent rows are flushed) in the background while the loader goes
   * on, and only then is the step reported complete, so a step reported complete survives a failure of a
   * later one; the run ends after every such flush. Without a listener it costs nothing and flushes nothing.
   */
  step(name: string, state: 'started' | 'completed'): void;
  /**
   * The loader has made its last upstream call; what is left is storing rows. Optional: returning from run()
   * says the same. The batch sync's next account of a business starts calling then (RunRequest.onLoaderDone).
   */
  callsOver(): void;
}

export interface LoaderDefinition<S extends z.ZodObject = z.ZodObject> {
  /** One of the source names in CONTRACT.md. */
  name: string;
  description: string;
  /** node-cron expression in the reporting time zone; overridable with <SOURCE>_SCHEDULE. */
  schedule: string;
  /** Loaders that are off unless <SOURCE>_ENABLED=true. */
  enabledByDefault: boolean;
  /** Days re-pulled on each incremental run; overridable with <SOURCE>_LOOKBACK_DAYS. */
  lookbackDays: number;
  /** Whether the incremental window ends today (intraday sources) or yesterday (daily stats). */
  includeToday: boolean;
  /** Days loaded by the very first incremental run, when there is no cursor yet. */
  initialDays: number;
  /**
   * More scheduled passes of the same loader with their own window (Facebook: today and yesterday every
   * 15 minutes besides the nightly full lookback). They share the source's no-overlap rule.
   */
  passes?: ReadonlyArray<{ name: string; schedule: string; lookbackDays: number }>;
  /** Request-rate and concurrency limits for this source's HTTP client (env <SOURCE>_RPS, <SOURCE>_CONCURRENCY). */
  rateLimit: { requestsPerSecond: number; concurrency: number };
  /**
   * zod object whose keys are env variable names (VK_ADS_API_URL, ...): parsed at the start of a run,
   * a bad value stops it with one line naming the variable. Use the parsers in src/config/env.ts.
   */
  config: S;
  run(ctx: LoaderContext<z.infer<S>>): Promise<void>;
  /**
   * Work a scheduled run's success is followed by, on the loaders' client (Facebook: the analytics refresh,
   * so the stored copy of the anomaly and burnout views is current again). Returns a line for the job's
   * message; a failure fails the job, the load stays stored.
   */
  afterLoad?(client: ClickHouseClient, signal: AbortSignal): Promise<string>;
}

/** Identity helper that keeps the config type inferred. */
export function defineLoader<S extends z.ZodObject>(definition: LoaderDefinition<S>): LoaderDefinition<S> {
  return definition;
}
