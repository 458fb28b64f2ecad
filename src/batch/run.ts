// The batch sync of Facebook ad accounts: N workers take business groups from one queue and run each
// account's load steps (fullsync → weekly → daily) in one loader run, retrying by error type; then one
// anomaly/burnout refresh (the burnout step) covers every account whose load steps completed. Every change
// is recorded in meta_batch_jobs / meta_batch_account_log. A stop (signal) pauses the job; --resume
// continues it; a job whose process died is recorded as such and can be resumed too.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import PQueue from 'p-queue';
import type { ClickHouseClient } from '../clickhouse/client.js';
import { parseEnv, type Env } from '../config/env.js';
import { runtimeConfig } from '../config/runtime.js';
import { sourceSettings } from '../config/sources.js';
import type { LoaderDefinition } from '../runtime/contract.js';
import { todayIn, utcDateTime } from '../runtime/dates.js';
import { AdhouseError, errorClassOf, SourceBusyError } from '../runtime/errors.js';
import { backoffDelay, sleep } from '../runtime/http.js';
import type { Logger } from '../runtime/logger.js';
import { redactString } from '../runtime/redact.js';
import { runLoader } from '../runtime/run-loader.js';
import { GROUP_COMMIT_MS } from '../runtime/sink.js';
import { groupedRunWriter, HEARTBEAT_MS, markRunActive } from '../runtime/runs.js';
import { resolveWindow, windowDays } from '../runtime/window.js';
import { facebookAccounts } from '../../loaders/facebook/accounts.js';
import facebook from '../../loaders/facebook/index.js';
import { refreshBurnout } from './analytics-step.js';
import { batchErrorType, MAX_ATTEMPTS, mayRetry, type BatchErrorType } from './errors.js';
import { BATCH_STEPS, groupAccounts, mondayWeeks, type AccountGroup, type BatchAccount, type BatchStep } from './plan.js';
import {
  newJobRecord,
  readAccounts,
  readJob,
  runningJobs,
  settleDeadJobs,
  historyLine,
  stepStatus,
  writeAccounts,
  writeJob,
  type AccountRecord,
  type JobParams,
  type JobRecord,
  type StepStatus,
} from './store.js';
import { tapLogger, UsageMeter } from './usage.js';

export const JOB_TYPE = 'facebook';
/** While another run of the source is loading (the scheduler's pass), a step waits 5 s, doubling to 1 min. */
export const BUSY_WAIT_MS = 5_000;
const BUSY_WAIT_MAX_MS = 60_000;
/** The account log's write-behind: the newest versions of changed accounts go out together at most this often. */
const ACCOUNT_LOG_INTERVAL_MS = 1_000;
const loader = facebook as unknown as LoaderDefinition;

/** Resolves with the release of the queue's (one) slot when it is this caller's turn (FIFO). */
function takeTurn(turns: PQueue): Promise<() => void> {
  return new Promise((granted) => {
    void turns.add(() => new Promise<void>((release) => granted(release)));
  });
}

/** The steps each account runs on its own (one loader run); `burnout` is the job's one refresh after them. */
export const LOAD_STEPS = BATCH_STEPS.filter((s): s is Exclude<BatchStep, 'burnout'> => s !== 'burnout');
type LoadStep = (typeof LOAD_STEPS)[number];

/** The Facebook loader's step (its `steps` param and LoaderContext.step name) for each load step; fullsync is a full structure pass. */
const LOADER_STEP_NAMES: Record<LoadStep, string> = { fullsync: 'structure', weekly: 'weekly', daily: 'daily' };

/** What the job's analytics refresh did. */
export type RefreshOutcome =
  | { status: 'completed'; accounts: number; anomalies: number; burnout: number; ms: number }
  | { status: 'skipped'; accounts: number; reason: string }
  | { status: 'paused'; accounts: number; ms: number }
  | { status: 'failed'; accounts: number; errorType: BatchErrorType; error: string; ms: number };

export interface BatchEvents {
  accountStarted?(a: AccountRecord): void;
  accountFinished?(a: AccountRecord): void;
  refreshStarted?(accounts: number): void;
  refreshFinished?(r: RefreshOutcome): void;
}

export interface BatchOptions {
  env: Env;
  client: ClickHouseClient;
  workers: number;
  pauseMs: number;
  limit?: number;
  skip: ReadonlySet<BatchStep>;
  signal: AbortSignal;
  /** The runs' logger (wrapped to observe rate-limit usage). */
  log: Logger;
  events?: BatchEvents;
  usage?: UsageMeter;
}

export interface BatchPlan {
  job: JobRecord;
  params: JobParams;
  resumed: boolean;
  /** Every account of the job, in plan order. */
  accounts: AccountRecord[];
  /** What this execution will run: groups in queue order (accounts still to do). */
  groups: AccountGroup[];
}

export interface BatchOutcome {
  job: JobRecord;
  accounts: AccountRecord[];
  /** Accounts this execution ran (the others were done before a resume). */
  ran: number;
  /** The analytics refresh of this execution; undefined when none ran (skipped steps, nothing to refresh, a stop). */
  refresh?: RefreshOutcome;
  durationMs: number;
  usage: UsageMeter;
}

/** The window every account loads: the source's lookback ending today (FACEBOOK_LOOKBACK_DAYS). */
export function batchWindow(env: Env): { since: string; until: string } {
  const rt = runtimeConfig(env);
  const { lookbackDays } = sourceSettings(loader, env);
  const w = resolveWindow({}, { lookbackDays, includeToday: loader.includeToday, initialDays: lookbackDays }, todayIn(rt.reportingTz), null);
  return { since: w.since, until: w.until };
}

export function windowShape(p: { window_since: string; window_until: string }): { days: number; weeks: number } {
  return { days: windowDays({ since: p.window_since, until: p.window_until }), weeks: mondayWeeks(p.window_since, p.window_until) };
}

/** Accounts of the configuration (FB_ACCOUNTS, plus discovery when FB_DISCOVER_ACCOUNTS=true), first `limit`. */
export async function plannedAccounts(env: Env, limit: number | undefined, signal?: AbortSignal, log?: Logger): Promise<BatchAccount[]> {
  // The loader's own config is checked first, so a bad variable stops the command before a job exists.
  parseEnv(loader.config, env);
  const all = await facebookAccounts(env, { signal, log });
  return limit === undefined ? all : all.slice(0, limit);
}

function pendingAccount(jobId: string, a: BatchAccount, position: number, skip: ReadonlySet<BatchStep>, params: JobParams): AccountRecord {
  const step = (s: BatchStep): StepStatus => (skip.has(s) ? 'skipped' : 'pending');
  return {
    job_id: jobId,
    account_id: a.id,
    business_id: a.businessId ?? '',
    position,
    status: 'pending',
    step_fullsync: step('fullsync'),
    step_weekly: step('weekly'),
    step_daily: step('daily'),
    step_burnout: step('burnout'),
    rows_fullsync: 0,
    rows_weekly: 0,
    rows_daily: 0,
    rows_burnout: 0,
    api_calls: 0,
    window_since: params.window_since,
    window_until: params.window_until,
    run_ids: [],
    note: '',
    history: [],
    last_error: '',
    error_type: '',
    attempts: 0,
    duration_ms: 0,
    worker_id: 0,
    started_at: null,
    finished_at: null,
    started_ms: 0,
    finished_ms: 0,
  };
}

/**
 * Whether --resume runs this account's load steps again: unfinished ones, and failures a retry may cure.
 * A completed account whose refresh did not complete is not run again: the job's refresh takes it along.
 */
export function needsRun(a: AccountRecord): boolean {
  if (a.status === 'completed' || a.status === 'skipped') return false;
  if (a.status !== 'failed') return true;
  const type = (a.error_type || 'unknown') as BatchErrorType;
  if (MAX_ATTEMPTS[type] <= 1) return false;
  return type !== 'unknown' || a.attempts < MAX_ATTEMPTS.unknown;
}

export function totals(accounts: readonly AccountRecord[]): Pick<JobRecord, 'processed' | 'failed' | 'skipped'> {
  let processed = 0;
  let failed = 0;
  let skipped = 0;
  for (const a of accounts) {
    if (a.status === 'completed' || a.status === 'failed') processed++;
    if (a.status === 'failed') failed++;
    if (a.status === 'skipped') skipped++;
  }
  return { processed, failed, skipped };
}

function groupsToRun(accounts: readonly AccountRecord[]): AccountGroup[] {
  return groupAccounts(accounts.filter(needsRun).map((a) => ({ id: a.account_id, businessId: a.business_id || null })));
}

/** A new job: refuses while another batch job of this type is alive; dead ones are recorded first. */
export async function planNewJob(opts: Pick<BatchOptions, 'env' | 'client' | 'workers' | 'pauseMs' | 'limit' | 'skip' | 'signal' | 'log'>, dryRun = false): Promise<BatchPlan> {
  const accounts = await plannedAccounts(opts.env, opts.limit, opts.signal, opts.log);
  if (accounts.length === 0) throw new AdhouseError('config', 'no Facebook accounts to sync (FB_ACCOUNTS is empty)');
  const window = batchWindow(opts.env);
  const params: JobParams = { workers: opts.workers, pause_ms: opts.pauseMs, limit: opts.limit ?? null, skip: BATCH_STEPS.filter((s) => opts.skip.has(s)), window_since: window.since, window_until: window.until };
  const jobId = randomUUID();
  const job = newJobRecord(jobId, JOB_TYPE, accounts.length, params);
  const records = accounts.map((a, i) => pendingAccount(jobId, a, i, opts.skip, params));
  if (!dryRun) {
    await settleDeadJobs(opts.client);
    const alive = await aliveJobs(opts.client);
    if (alive) throw new AdhouseError('config', `batch job ${alive.job_id} is running (pid ${alive.pid} on ${alive.host}); one batch sync at a time`);
    await writeJob(opts.client, job);
    await writeAccounts(opts.client, records);
  }
  return { job, params, resumed: false, accounts: records, groups: groupsToRun(records) };
}

async function aliveJobs(client: ClickHouseClient): Promise<JobRecord | undefined> {
  return (await runningJobs(client)).find((j) => j.job_type === JOB_TYPE);
}

/** Continue a job: completed accounts stay, unfinished and retryable ones run again. */
export async function planResume(client: ClickHouseClient, jobId: string, dryRun = false): Promise<BatchPlan> {
  let job = await readJob(client, jobId);
  if (!job) throw new AdhouseError('config', `--resume: no batch job ${jobId}`);
  if (job.job_type !== JOB_TYPE) throw new AdhouseError('config', `--resume: job ${jobId} is a ${job.job_type} job`);
  if (job.status === 'running' && !dryRun) {
    const settled = await settleDeadJobs(client, jobId);
    if (settled.length === 0) throw new AdhouseError('config', `--resume: job ${jobId} is still running (pid ${job.pid} on ${job.host})`);
    job = (await readJob(client, jobId))!;
  }
  const params = JSON.parse(job.params) as JobParams;
  const accounts = await readAccounts(client, jobId);
  return { job, params, resumed: true, accounts, groups: groupsToRun(accounts) };
}

/** Completed accounts the job's refresh still owes: burnout pending, or paused, interrupted or failed before. */
export function refreshTargets(accounts: readonly AccountRecord[]): AccountRecord[] {
  return accounts.filter((a) => a.status === 'completed' && a.step_burnout !== 'completed' && a.step_burnout !== 'skipped');
}

/**
 * Runs the plan's groups, then the one analytics refresh of the accounts whose load steps completed; returns
 * when all is done or the signal stopped the job.
 */
export async function runBatch(plan: BatchPlan, opts: BatchOptions): Promise<BatchOutcome> {
  const { client } = opts;
  const started = Date.now();
  const usage = opts.usage ?? new UsageMeter();
  const log = opts.log;
  const rt = runtimeConfig(opts.env);
  const fbConfig = parseEnv(loader.config, opts.env) as { FB_RATE_LIMIT_WAIT_MS: number };
  const byId = new Map(plan.accounts.map((a) => [a.account_id, a]));

  // This execution owns the job now (a resume takes over a paused or dead job).
  let job: JobRecord = { ...plan.job, status: 'running', completed_at: null, heartbeat_at: utcDateTime(), host: plan.job.host, pid: plan.job.pid, last_error: '' };
  if (plan.resumed) {
    job = { ...job, host: hostname(), pid: process.pid, history: [...job.history, historyLine(`resumed (was ${plan.job.status}) by pid ${process.pid} on ${hostname()}`)] };
    // A resumed account starts its unfinished steps again; completed steps stay done.
    const reset: AccountRecord[] = [];
    for (const g of plan.groups) {
      for (const ref of g.accounts) {
        const a = byId.get(ref.id)!;
        for (const s of LOAD_STEPS) {
          const st = stepStatus(a, s);
          if (st !== 'completed' && st !== 'skipped') a[`step_${s}`] = 'pending';
        }
        a.status = 'pending';
        reset.push(a);
      }
    }
    await writeAccounts(client, reset);
  }
  markRunActive(job.job_id, true);
  await writeJob(client, { ...job, ...totals(plan.accounts) });

  // Internal stop: the caller's signal, or a failure of the batch's own bookkeeping (ClickHouse gone).
  const stop = new AbortController();
  const onStop = () => stop.abort(opts.signal.reason ?? 'stopped');
  opts.signal.addEventListener('abort', onStop, { once: true });
  if (opts.signal.aborted) onStop();
  let fatal: unknown;

  const heartbeat = setInterval(() => {
    void writeJob(client, { ...job, ...totals(plan.accounts), heartbeat_at: utcDateTime() }).catch((err) => log.warn({ err }, 'batch heartbeat write failed'));
  }, HEARTBEAT_MS);
  heartbeat.unref();

  // Account log versions are written in the background, in order, off the accounts' critical path (an
  // INSERT costs ClickHouse a part, tens of ms): while one INSERT is out, the newest version of each
  // changed account waits, and the next INSERT carries all of them (the workers' changes share parts).
  // All are awaited before the job's final status; a failed one stops the batch.
  // At most one INSERT per ACCOUNT_LOG_INTERVAL_MS while accounts run: five workers' step changes would
  // otherwise cost a part each; a kill loses at most that much of the story, which --resume redoes anyway.
  // Once every account has finished (settled()), the last versions go at once.
  let writes: Promise<void> = Promise.resolve();
  let writeError: unknown;
  let lastWriteAt = 0;
  const unsaved = new Map<string, AccountRecord>();
  /** Aborted when every account has finished: the last versions are written without waiting the interval. */
  const finishing = new AbortController();
  const save = (a: AccountRecord): void => {
    const queued = unsaved.size > 0;
    unsaved.set(a.account_id, { ...a });
    if (queued) return; // the INSERT already queued will carry this version
    writes = writes
      .then(async () => {
        const wait = lastWriteAt + ACCOUNT_LOG_INTERVAL_MS - Date.now();
        if (wait > 0) await sleep(wait, finishing.signal).catch(() => undefined);
        const batch = [...unsaved.values()];
        unsaved.clear();
        lastWriteAt = Date.now();
        return writeAccounts(client, batch);
      })
      .catch((err: unknown) => {
        writeError ??= err;
      });
  };
  const settled = async (): Promise<void> => {
    finishing.abort();
    await writes;
    if (writeError !== undefined) throw writeError;
  };

  type RunOutcome = { ok: true } | { ok: false; step: LoadStep; aborted: boolean; busy?: boolean; type: BatchErrorType; message: string };
  /**
   * One loader run for the account's remaining load steps: the loader reports each step's start and end
   * (LoaderContext.step), so each step's status and rows are recorded as they happen, and a failure names
   * the step it stopped in. One run instead of one per step saves each account a run's bookkeeping (run
   * records, the clash check, the account call and the sinks' lookups).
   */
  async function runSteps(steps: LoadStep[], a: AccountRecord, onLoaderDone: () => void, retry: boolean): Promise<RunOutcome> {
    // Each run gets its own view of the usage fields its log lines carry (call counts are per run).
    const meter = usage.forRun();
    const byLoaderStep = new Map(steps.map((st) => [LOADER_STEP_NAMES[st], st] as const));
    let rowsBefore = 0; // the run's rows written at the previous step's end
    const unfinished = () => steps.find((st) => a[`step_${st}`] !== 'completed') ?? steps[steps.length - 1]!;
    const onStep = (name: string, state: 'started' | 'completed', rowsWritten: number) => {
      const step = byLoaderStep.get(name);
      if (!step) return;
      if (state === 'started') a[`step_${step}`] = 'running';
      else {
        a[`step_${step}`] = 'completed';
        a[`rows_${step}`] += rowsWritten - rowsBefore;
        rowsBefore = rowsWritten;
      }
      save(a);
    };
    try {
      const s = await runLoader(loader, {
        env: opts.env,
        client,
        account: a.account_id,
        since: a.window_since ?? plan.params.window_since,
        until: a.window_until ?? plan.params.window_until,
        params: { steps: steps.map((st) => LOADER_STEP_NAMES[st]), structure: 'full' },
        onStep,
        onLoaderDone,
        // Each flush waits for other accounts' rows of its tables, so they share INSERTs (a part each, tens of
        // ms of ClickHouse CPU whatever the size); off the critical path, the next account having started.
        // Once no account is left to start (or the job stops), a flush waits only for rows already in its INSERT.
        groupCommitMs: lingerMs,
        finalRecords,
        // A retry writes its own INSERTs: rows ClickHouse refuses fail the account that sent them, not again
        // the accounts whose rows shared its INSERT.
        privateInserts: retry,
        signal: stop.signal,
        log: tapLogger(log, meter.observe),
      });
      if (!meter.reported()) usage.noteSilentRun(steps.join('+'));
      a.run_ids = [...a.run_ids, s.runId];
      // Rows of a step that did not finish (a failure, a stop) still count, for the step they belong to.
      if (s.rowsWritten > rowsBefore) a[`rows_${unfinished()}`] += s.rowsWritten - rowsBefore;
      if (s.status === 'success') return { ok: true };
      const step = settleUnfinished();
      if (s.status === 'interrupted' || stop.signal.aborted) return { ok: false, step, aborted: true, type: 'unknown', message: s.errorMessage ?? 'interrupted' };
      return { ok: false, step, aborted: false, type: batchErrorType(s.errorClass), message: `${step}: ${s.errorMessage ?? s.errorClass ?? 'failed'}` };
    } catch (err) {
      const step = settleUnfinished();
      const cls = errorClassOf(err);
      const message = redactString(err instanceof Error ? err.message : String(err));
      if (cls === 'aborted' || stop.signal.aborted) return { ok: false, step, aborted: true, type: 'unknown', message };
      // Another run of this account or of the whole source (the scheduler's pass) is loading: wait for it.
      if (err instanceof SourceBusyError) return { ok: false, step, aborted: false, busy: true, type: 'unknown', message };
      return { ok: false, step, aborted: false, type: batchErrorType(cls), message: `${step}: ${message}` };
    }

    /**
     * The step the run stopped in (the first not completed); a later step already reported started (a step's
     * completion is told after its flush, the next one's start at once) goes back to pending.
     */
    function settleUnfinished(): LoadStep {
      const step = unfinished();
      for (const st of steps) if (st !== step && a[`step_${st}`] === 'running') a[`step_${st}`] = 'pending';
      return step;
    }
  }

  const callsAtStart = new Map<string, number>();
  function finish(a: AccountRecord, status: AccountRecord['status'], t0: number): void {
    const now = Date.now();
    a.status = status;
    a.finished_ms = now;
    a.finished_at = utcDateTime(now);
    a.duration_ms += now - t0;
    a.api_calls += (usage.callsByAccount.get(a.account_id) ?? 0) - (callsAtStart.get(a.account_id) ?? 0);
  }

  /**
   * Runs the account's load steps, retrying by error type, holding its business's turn (`turn`) while it
   * calls the API: the turn goes back when the loader returns (its last rows are stored and the run recorded
   * after that), when the account stops, or when it ends. A retry after the turn went back (the last rows
   * failed to store) waits for the business's turn again.
   */
  async function runAccount(a: AccountRecord, workerId: number, turns: PQueue, turn: () => void): Promise<void> {
    let release: (() => void) | null = turn;
    const giveBack = () => {
      release?.();
      release = null;
    };
    try {
      await runAccountSteps(a, workerId, async () => {
        release ??= await takeTurn(turns);
      }, giveBack);
    } finally {
      giveBack();
    }
  }

  async function runAccountSteps(a: AccountRecord, workerId: number, haveTurn: () => Promise<void>, giveBack: () => void): Promise<void> {
    if (writeError !== undefined) throw writeError;
    const t0 = Date.now();
    callsAtStart.set(a.account_id, usage.callsByAccount.get(a.account_id) ?? 0);
    Object.assign(a, { status: 'running', worker_id: workerId, attempts: a.attempts + 1, started_ms: t0, started_at: utcDateTime(t0), finished_ms: 0, finished_at: null, error_type: '', last_error: '' });
    save(a);
    opts.events?.accountStarted?.(a);
    let busyWaits = 0;
    let retry = false;
    for (;;) {
      const steps = LOAD_STEPS.filter((st) => stepStatus(a, st) !== 'completed' && stepStatus(a, st) !== 'skipped');
      if (steps.length === 0) break;
      await haveTurn();
      // A retry that got its turn after a stop does not start a run only to stop it.
      const r: RunOutcome = stop.signal.aborted ? { ok: false, step: steps[0]!, aborted: true, type: 'unknown', message: 'stopped' } : await runSteps(steps, a, giveBack, retry);
      if (r.ok) break;
      const step = r.step;
      if (r.busy) {
        // Not an attempt and not an error of the account: the other run ends on its own.
        const wait = Math.min(BUSY_WAIT_MAX_MS, BUSY_WAIT_MS * 2 ** Math.min(busyWaits++, 10));
        a[`step_${step}`] = 'pending';
        save(a);
        log.info({ account: a.account_id, waitMs: wait }, `batch: ${a.account_id} ${step}: ${r.message}; waiting ${wait} ms for it to finish`);
        try {
          await sleep(wait, stop.signal);
          continue;
        } catch {
          r.aborted = true;
        }
      }
      if (r.aborted) {
        a[`step_${step}`] = 'paused';
        a.history = [...a.history, historyLine(`attempt ${a.attempts} paused during ${step}: ${String(opts.signal.reason ?? 'stopped')}`)];
        finish(a, 'paused', t0);
        save(a);
        opts.events?.accountFinished?.(a);
        return;
      }
      a.error_type = r.type;
      a.last_error = r.message;
      if (!mayRetry(r.type, a.attempts) || stop.signal.aborted) {
        a[`step_${step}`] = 'failed';
        a.history = [...a.history, historyLine(`attempt ${a.attempts} failed (${r.type}): ${r.message}`)];
        finish(a, 'failed', t0);
        save(a);
        opts.events?.accountFinished?.(a);
        return;
      }
      // Retry from the failed step after the wait its type calls for; the attempt is recorded first.
      const wait = r.type === 'rate_limited' ? fbConfig.FB_RATE_LIMIT_WAIT_MS : backoffDelay(a.attempts, rt.http);
      a[`step_${step}`] = 'pending';
      a.history = [...a.history, historyLine(`attempt ${a.attempts} failed (${r.type}): ${r.message}; retrying in ${wait} ms`)];
      save(a);
      log.warn({ account: a.account_id, errorType: r.type, attempt: a.attempts }, `batch: ${a.account_id} ${r.message}; retrying in ${wait} ms`);
      try {
        await sleep(wait, stop.signal);
      } catch {
        a[`step_${step}`] = 'paused';
        a.history = [...a.history, historyLine(`attempt ${a.attempts} paused while waiting to retry ${step}: ${String(opts.signal.reason ?? 'stopped')}`)];
        finish(a, 'paused', t0);
        save(a);
        opts.events?.accountFinished?.(a);
        return;
      }
      a.attempts++;
      retry = true;
    }
    // A retried account that completed keeps its last error as history; its type is cleared. Its burnout
    // step stays pending until the job's refresh.
    a.error_type = '';
    finish(a, 'completed', t0);
    save(a);
    opts.events?.accountFinished?.(a);
  }

  let nextGroup = 0;
  /** Accounts of the plan not started yet: while there are some, flushes linger for their rows. */
  let accountsToStart = plan.groups.reduce((n, g) => n + g.accounts.length, 0);
  // After a stop nothing is worth waiting for: what is left to store goes at once.
  const lingerMs = () => (accountsToStart > 0 && !stop.signal.aborted ? GROUP_COMMIT_MS : 0);
  // The runs' final records share INSERTs too (each a part, 21 columns): written after the turn went on.
  const finalRecords = groupedRunWriter(client, lingerMs);
  /** Accounts started, until each has finished (stored its last rows, recorded its run). */
  const accountsFinished: Array<Promise<void>> = [];
  const onFatal = (err: unknown) => {
    fatal ??= err;
    stop.abort('the batch could not record its progress');
  };
  async function worker(workerId: number): Promise<void> {
    let ranBefore = false;
    /** This worker's accounts: at most one finishes (stores its last rows) while the next one calls the API. */
    const mine: Array<Promise<void>> = [];
    while (!stop.signal.aborted) {
      const group = plan.groups[nextGroup++];
      if (!group) return;
      // One business's accounts take turns on this worker: they share its rate limits, so one calls the API
      // at a time. The next one starts when the previous one's calls are over, while its last rows are stored.
      const turns = new PQueue({ concurrency: 1 });
      for (const ref of group.accounts) {
        const turn = await takeTurn(turns);
        await mine[mine.length - 2];
        if (stop.signal.aborted) return turn();
        if (ranBefore && plan.params.pause_ms > 0) {
          try {
            await sleep(plan.params.pause_ms, stop.signal);
          } catch {
            return turn();
          }
        }
        ranBefore = true;
        accountsToStart--;
        const finished = runAccount(byId.get(ref.id)!, workerId, turns, turn).catch(onFatal);
        accountsFinished.push(finished);
        mine.push(finished);
      }
      // The worker takes the next group once this one's last account has made its calls.
      (await takeTurn(turns))();
    }
  }

  /**
   * The job's one analytics refresh, for every completed account it still owes one (this execution's and,
   * after --resume, earlier ones'). Each of them records the result in step_burnout; a failure leaves the
   * accounts `completed` (their loads are) with step_burnout `failed` and the error, and fails the job.
   */
  async function refreshStep(): Promise<RefreshOutcome | undefined> {
    const targets = refreshTargets(plan.accounts);
    if (targets.length === 0) return undefined;
    const ids = targets.map((a) => a.account_id);
    for (const a of targets) a.step_burnout = 'running';
    await writeAccounts(client, targets);
    opts.events?.refreshStarted?.(targets.length);
    const t0 = Date.now();
    let outcome: RefreshOutcome;
    try {
      const r = await refreshBurnout(client, ids, stop.signal);
      if (r.ran) {
        for (const a of targets) {
          a.step_burnout = 'completed';
          a.rows_burnout += r.rowsByAccount.get(a.account_id) ?? 0;
          // As after a retried load step: the earlier failure stays in last_error/history, its type goes.
          a.error_type = '';
        }
        outcome = { status: 'completed', accounts: targets.length, anomalies: r.anomalies, burnout: r.burnout, ms: r.ms };
      } else {
        for (const a of targets) Object.assign(a, { step_burnout: 'skipped', note: r.reason });
        outcome = { status: 'skipped', accounts: targets.length, reason: r.reason };
      }
    } catch (err) {
      const cls = errorClassOf(err);
      // One line: ClickHouse's messages carry newlines, and this one lands in every target's row.
      const message = redactString(err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
      if (cls === 'aborted' || stop.signal.aborted) {
        const line = historyLine(`analytics refresh of ${targets.length} account(s) paused: ${String(opts.signal.reason ?? 'stopped')}`);
        for (const a of targets) Object.assign(a, { step_burnout: 'paused', history: [...a.history, line] });
        outcome = { status: 'paused', accounts: targets.length, ms: Date.now() - t0 };
      } else {
        const type = batchErrorType(cls);
        const line = historyLine(`analytics refresh of ${targets.length} account(s) failed (${type}): ${message}`);
        for (const a of targets) Object.assign(a, { step_burnout: 'failed', error_type: type, last_error: `burnout: ${message}`, history: [...a.history, line] });
        outcome = { status: 'failed', accounts: targets.length, errorType: type, error: `burnout: ${message}`, ms: Date.now() - t0 };
      }
    }
    await writeAccounts(client, targets);
    opts.events?.refreshFinished?.(outcome);
    return outcome;
  }

  const workers = Math.max(1, Math.min(opts.workers, plan.groups.length || 1));
  let refresh: RefreshOutcome | undefined;
  try {
    await Promise.all(Array.from({ length: workers }, (_, i) => worker(i + 1).catch(onFatal)));
    await Promise.all(accountsFinished);
    await settled().catch((err: unknown) => {
      fatal ??= err;
    });
    // After every account's load steps, unless the job stopped (a resume refreshes what is owed).
    if (fatal === undefined && !stop.signal.aborted) {
      refresh = await refreshStep().catch((err: unknown) => {
        fatal ??= err;
        return undefined;
      });
    }
  } finally {
    clearInterval(heartbeat);
    opts.signal.removeEventListener('abort', onStop);
    markRunActive(job.job_id, false);
  }

  const t = totals(plan.accounts);
  const failedAccounts = plan.accounts.filter((a) => a.status === 'failed');
  const event = (what: string) => [...job.history, historyLine(what)];
  if (fatal !== undefined) {
    job = { ...job, ...t, history: event(`stopped: ${fatal instanceof Error ? fatal.message : String(fatal)}`), status: 'failed', completed_at: utcDateTime(), last_error: `the batch stopped: ${redactString(fatal instanceof Error ? fatal.message : String(fatal))}; resumable with --resume ${job.job_id}` };
  } else if (stop.signal.aborted) {
    job = { ...job, ...t, history: event(`paused by ${String(opts.signal.reason ?? 'a stop request')}`), status: 'paused', completed_at: null, last_error: `paused by ${String(opts.signal.reason ?? 'a stop request')}; resume with --resume ${job.job_id}` };
  } else if (failedAccounts.length > 0 || refresh?.status === 'failed') {
    const why = [
      ...(failedAccounts.length > 0 ? [`${failedAccounts.length} of ${plan.accounts.length} account(s) failed: ${failedAccounts.map((a) => `${a.account_id} ${a.error_type}`).join(', ')}`] : []),
      ...(refresh?.status === 'failed' ? [`the analytics refresh of ${refresh.accounts} account(s) failed (${refresh.errorType}): ${refresh.error}; --resume ${job.job_id} runs it again`] : []),
    ];
    const history = refresh?.status === 'failed' ? event(`analytics refresh failed (${refresh.errorType}): ${refresh.error}`) : job.history;
    job = { ...job, ...t, history, status: 'failed', completed_at: utcDateTime(), last_error: why.join('; ') };
  } else {
    job = { ...job, ...t, status: 'completed', completed_at: utcDateTime(), last_error: '' };
  }
  job.heartbeat_at = utcDateTime();
  await writeJob(client, job);
  if (fatal !== undefined) throw fatal;
  const ran = plan.groups.reduce((n, g) => n + g.accounts.length, 0);
  return { job, accounts: plan.accounts, ran, refresh, durationMs: Date.now() - started, usage };
}
