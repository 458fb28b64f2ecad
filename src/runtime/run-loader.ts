// Runs one loader once: window, run record, context, heartbeat, final accounting, cursor.
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { connect, type ClickHouseClient } from '../clickhouse/client.js';
import { assertMigrated } from '../clickhouse/migrate.js';
import { clickhouseConfig } from '../config/clickhouse.js';
import { parseEnv, type Env } from '../config/env.js';
import { runtimeConfig } from '../config/runtime.js';
import { sourceSettings } from '../config/sources.js';
import type { LoaderContext, LoaderDefinition, RunWindow } from './contract.js';
import { readCursor, writeCursor } from './cursor.js';
import { todayIn, utcDateTime } from './dates.js';
import { AdhouseError, errorClassOf, SourceBusyError, type ErrorClass } from './errors.js';
import { createHttpClient, sleep } from './http.js';
import { logger as sharedLogger, type Logger } from './logger.js';
import { createProgress, silentProgress } from './progress.js';
import { createQuarantine } from './quarantine.js';
import { redactString } from './redact.js';
import { HEARTBEAT_MS, latestRuns, markRunActive, newRunRecord, nextVersion, runIsDead, settleStaleRuns, writeRun, type RunRecord, type RunRecordWriter, type RunStatus } from './runs.js';
import { createSink, type SinkOptions, type TableSink } from './sink.js';
import { resolveWindow } from './window.js';

/** A run that yielded to a run claimed at the same moment claims once more after 100–500 ms (random). */
const CLAIM_RETRY_MIN_MS = 100;
const CLAIM_RETRY_JITTER_MS = 400;

export interface RunRequest {
  env?: Env;
  since?: string;
  until?: string;
  account?: string;
  kind?: 'load' | 'backfill';
  /** This run's lookback instead of <SOURCE>_LOOKBACK_DAYS (a scheduled pass with a shorter window). */
  lookbackDays?: number;
  backfillId?: string;
  /** Loader-specific options for this run (the Facebook batch sync's steps); the loader validates them. */
  params?: Readonly<Record<string, unknown>>;
  signal?: AbortSignal;
  log?: Logger;
  /** Show a progress bar/lines (CLI); off by default for the service and tests. */
  progress?: boolean;
  /** Reuse a client (the service); otherwise one is opened and closed here. */
  client?: ClickHouseClient;
  /**
   * Told of the loader's steps (LoaderContext.step): `started`, and `completed` once the step's rows are
   * stored; `rowsWritten` is the run's total so far (a step's rows are the growth since the previous step).
   */
  onStep?(step: string, state: 'started' | 'completed', rowsWritten: number): void;
  /**
   * Told once when the loader's upstream calls are over (LoaderContext.callsOver, or run() returned without
   * error): what is left is storing the last rows and recording the run (the batch sync's next account of a
   * business starts then). Not told when the loader fails before.
   */
  onLoaderDone?(): void;
  /**
   * Sinks' flushes hold their INSERT open this long for other runs' rows (SinkSettings.groupCommitMs): the
   * batch sync's concurrent accounts then share INSERTs (each costs ClickHouse a part); a function is asked
   * at each flush.
   */
  groupCommitMs?: number | (() => number);
  /** The run's INSERTs carry only its own rows (SinkSettings.shared false): a retry after a failure. */
  privateInserts?: boolean;
  /** Writes the run's final record (default: an INSERT of its own); the batch sync groups its runs' records. */
  finalRecords?: RunRecordWriter;
}

export interface RunSummary {
  runId: string;
  source: string;
  status: Exclude<RunStatus, 'running'>;
  window: RunWindow;
  rowsRead: number;
  rowsWritten: number;
  rowsQuarantined: number;
  rowsSkipped: number;
  /** Keys marked `_deleted = 1` because they vanished upstream (not part of read/written). */
  rowsDeleted: number;
  errorClass?: ErrorClass;
  errorMessage?: string;
  durationMs: number;
  /** Rows written per table. */
  tables: Record<string, number>;
}

export async function runLoader(loader: LoaderDefinition, req: RunRequest = {}): Promise<RunSummary> {
  const env = req.env ?? process.env;
  const ch = clickhouseConfig(env);
  const rt = runtimeConfig(env);
  const settings = sourceSettings(loader, env);
  const log = (req.log ?? sharedLogger(rt.logLevel)).child({ source: loader.name });
  const client = req.client ?? connect(ch);
  try {
    return await runWithClient(loader, req, env, client, ch.database, rt, settings, log);
  } finally {
    if (!req.client) await client.close();
  }
}

async function runWithClient(
  loader: LoaderDefinition,
  req: RunRequest,
  env: Env,
  client: ClickHouseClient,
  database: string,
  rt: ReturnType<typeof runtimeConfig>,
  settings: ReturnType<typeof sourceSettings>,
  log: Logger,
): Promise<RunSummary> {
  // A bad variable stops the run before anything is recorded: one line naming it (ConfigError, exit 2).
  const config = parseEnv(loader.config, env);
  await assertMigrated(client, database);
  const { interrupted, alive } = await settleStaleRuns(client, loader.name);
  for (const run of interrupted) log.warn({ runId: run.run_id }, `marked run ${run.run_id} interrupted: its process is gone`);
  // Runs of different accounts of one source may overlap (the batch sync's workers); a whole-source run
  // overlaps with nothing of its source.
  const clashes = (r: RunRecord) => !req.account || !r.account || r.account === req.account;
  const alreadyLoading = (clash: RunRecord) => {
    const what = req.account && clash.account ? `${loader.name} ${clash.account}` : loader.name;
    return new SourceBusyError(`${what} is already loading (run ${clash.run_id}, pid ${clash.pid} on ${clash.host}); a source never overlaps itself`);
  };
  const clash = alive.find(clashes);
  if (clash) throw alreadyLoading(clash);

  const cursor = req.since || req.until ? null : await readCursor(client, loader.name, req.account ?? '');
  const window = resolveWindow(req, { lookbackDays: req.lookbackDays ?? settings.lookbackDays, includeToday: loader.includeToday, initialDays: loader.initialDays }, todayIn(rt.reportingTz), cursor);

  // Claim, then look again: two runs that passed the check above at the same moment both see each other's
  // claim (or the later one sees the earlier), and a run that sees a rival yields. Both loading is never
  // possible; both yielding is, so a run that yielded claims once more after a random pause (the same
  // claim-then-check): the first of the two to come back sees the other's claim withdrawn and loads.
  const claim = async (): Promise<{ version: number; record: RunRecord; rival?: RunRecord }> => {
    const version = nextVersion();
    const record: RunRecord = newRunRecord(
      { run_id: randomUUID(), source: loader.name, kind: req.kind ?? 'load', window_since: window.since, window_until: window.until, account: req.account ?? '', backfill_id: req.backfillId ?? '' },
      version,
    );
    // Active before the record exists: a concurrent run of this process must never take it for a dead one.
    markRunActive(record.run_id, true);
    await writeRun(client, record);
    const rival = (await latestRuns(client, loader.name, 200)).find((r) => r.run_id !== record.run_id && r.status === 'running' && !runIsDead(r) && clashes(r));
    if (rival) {
      markRunActive(record.run_id, false);
      await writeRun(client, { ...record, status: 'interrupted', finished_at: utcDateTime(), error_class: 'config', error_message: `yielded to run ${rival.run_id}, started at the same moment` });
    }
    return { version, record, rival };
  };
  let claimed = await claim();
  if (claimed.rival) {
    await sleep(CLAIM_RETRY_MIN_MS + Math.random() * CLAIM_RETRY_JITTER_MS, req.signal);
    claimed = await claim();
  }
  if (claimed.rival) throw alreadyLoading(claimed.rival);
  const { version, record } = claimed;
  const runId = record.run_id;
  const started = Date.now();
  log.info({ runId, since: window.since, until: window.until, account: req.account }, `${loader.name}: loading ${window.since}..${window.until}`);

  const controller = new AbortController();
  // Every pending flush and wait of the run's sinks listens to it until it settles: tens at once are normal.
  setMaxListeners(100, controller.signal);
  const onOuterAbort = () => controller.abort(req.signal?.reason ?? 'aborted');
  req.signal?.addEventListener('abort', onOuterAbort, { once: true });
  if (req.signal?.aborted) onOuterAbort();

  const sinkBase = { client, runId, version, batchRows: rt.sink.batchRows, flushMs: rt.sink.flushMs, window, signal: controller.signal, groupCommitMs: req.groupCommitMs, shared: !req.privateInserts };
  const sinks = new Map<string, TableSink>();
  const quarantineSink = createSink({ ...sinkBase, table: 'meta_quarantine', batchRows: 1000 });
  const quarantine = createQuarantine(loader.name, quarantineSink);
  let rowsRead = 0;
  const stateDir = path.join(rt.stateDir, loader.name);

  const counts = () => {
    let written = 0;
    let skipped = 0;
    let deleted = 0;
    for (const s of sinks.values()) {
      written += s.written;
      skipped += s.skipped;
      deleted += s.deleted;
    }
    return { rows_read: rowsRead, rows_written: written, rows_quarantined: quarantine.count, rows_skipped: skipped, rows_deleted: deleted };
  };

  // Sinks' last INSERTs finish concurrently: each costs ClickHouse a part write (tens of ms).
  const flushSinks = async (list: TableSink[]) => {
    const settled = await Promise.allSettled(list.map((s) => s.flush()));
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  };
  const flushAll = () => flushSinks([...sinks.values(), quarantineSink]);
  // Completed steps' flushes, in order (LoaderContext.step); a failure fails the run at its end.
  let stepsDone: Promise<void> = Promise.resolve();
  let stepError: unknown;

  const heartbeat = setInterval(() => {
    void writeRun(client, { ...record, ...counts(), heartbeat_at: utcDateTime() }).catch((err) => log.warn({ err }, 'heartbeat write failed'));
  }, HEARTBEAT_MS);
  heartbeat.unref();

  let callsOver = false;
  const onCallsOver = () => {
    if (callsOver) return;
    callsOver = true;
    req.onLoaderDone?.();
  };

  let status: Exclude<RunStatus, 'running'> = 'success';
  let errorClass: ErrorClass | undefined;
  let errorMessage: string | undefined;
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const ctx: LoaderContext<unknown> = {
      config,
      log,
      http: createHttpClient({ source: loader.name, ...rt.http, requestsPerSecond: settings.requestsPerSecond, concurrency: settings.concurrency, signal: controller.signal, log }),
      sink(table: string, options?: SinkOptions) {
        let sink = sinks.get(table);
        if (!sink) {
          sink = createSink({ ...sinkBase, table }, options);
          sinks.set(table, sink);
        }
        return sink;
      },
      quarantine,
      window,
      account: req.account,
      params: req.params ?? {},
      signal: controller.signal,
      progress: req.progress ? createProgress(loader.name, log) : silentProgress,
      rowsRead(n: number) {
        rowsRead += n;
      },
      stateDir,
      runId,
      version,
      reportingTz: rt.reportingTz,
      callsOver: onCallsOver,
      step(name, state) {
        if (!req.onStep) return;
        const onStep = req.onStep;
        // The step's rows: everything handed to a sink so far (stored once the flush below is done).
        let rows = 0;
        for (const s of sinks.values()) rows += s.accepted;
        if (state === 'started') {
          // A step flush that failed dooms the run: stop at the next step instead of loading on.
          if (stepError !== undefined) throw stepError;
          onStep(name, state, rows);
          return;
        }
        // Only sinks holding unsent rows: a sink the next step has not written yet keeps its batch open.
        const dirty = [...sinks.values(), quarantineSink].filter((s) => s.dirty);
        stepsDone = stepsDone.then(async () => {
          if (stepError !== undefined) return;
          try {
            await flushSinks(dirty);
            onStep(name, state, rows);
          } catch (err) {
            stepError = err;
          }
        });
      },
    };
    await (loader.run as (c: LoaderContext<unknown>) => Promise<void>)(ctx);
    onCallsOver();
    ctx.progress.done();
    await stepsDone;
    if (stepError !== undefined) throw stepError;
    await flushAll();
    const c = counts();
    if (c.rows_read !== c.rows_written + c.rows_quarantined + c.rows_skipped) {
      throw new AdhouseError('internal', `row accounting does not reconcile: read ${c.rows_read} ≠ written ${c.rows_written} + quarantined ${c.rows_quarantined} + skipped ${c.rows_skipped}`);
    }
  } catch (caught) {
    // Steps that completed before the failure are still reported as such; a failed step flush is the cause
    // (what the loader failed on after it, if anything, came second).
    await stepsDone;
    const err = stepError ?? caught;
    errorClass = controller.signal.aborted ? 'aborted' : errorClassOf(err);
    status = errorClass === 'aborted' ? 'interrupted' : 'failed';
    errorMessage = redactString(err instanceof Error ? err.message : String(err));
    // Whatever reached the sinks stays: ReplacingMergeTree absorbs it on the re-run. Flush what is safe.
    await quarantineSink.flush().catch(() => undefined);
    log.error({ runId, errorClass, err }, `${loader.name} ${status}: ${errorMessage}`);
  } finally {
    markRunActive(runId, false);
    clearInterval(heartbeat);
    req.signal?.removeEventListener('abort', onOuterAbort);
  }

  const c = counts();
  const finished = { ...record, ...c, status, finished_at: utcDateTime(), heartbeat_at: utcDateTime(), error_class: errorClass ?? '', error_message: errorMessage ?? '' } satisfies RunRecord;
  await (req.finalRecords ? req.finalRecords.write(finished) : writeRun(client, finished));
  if (status === 'success' && !window.explicit) await writeCursor(client, loader.name, req.account ?? '', window.until, runId);

  const tables: Record<string, number> = {};
  for (const [name, s] of sinks) tables[name] = s.written;
  const summary: RunSummary = {
    runId,
    source: loader.name,
    status,
    window,
    rowsRead: c.rows_read,
    rowsWritten: c.rows_written,
    rowsQuarantined: c.rows_quarantined,
    rowsSkipped: c.rows_skipped,
    rowsDeleted: c.rows_deleted,
    errorClass,
    errorMessage,
    durationMs: Date.now() - started,
    tables,
  };
  log.info({ runId, status, ...c, durationMs: summary.durationMs }, `${loader.name} ${status}: read ${c.rows_read}, written ${c.rows_written}, quarantined ${c.rows_quarantined}, skipped ${c.rows_skipped}${c.rows_deleted ? `, marked deleted ${c.rows_deleted}` : ''}`);
  return summary;
}
