// Starts jobs (loaders, smoke checks, later alerts and reports) on node-cron schedules in the reporting
// time zone. A job never overlaps itself: a tick while its previous run is still going is logged and
// skipped, not queued. stop() takes no new work, lets running jobs finish within a grace period, then
// aborts them (a loader's run is then recorded `interrupted`).
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from '../runtime/logger.js';
import { redactString } from '../runtime/redact.js';

export type JobOutcome = 'success' | 'failed' | 'interrupted';

export interface JobResult {
  outcome: JobOutcome;
  /** One short line for logs and /healthz/detailed (already free of secrets). */
  message?: string;
}

export interface ScheduledJob {
  /** A loader's source name, or `checks`, `alerts`, `report:<name>`. */
  name: string;
  /** node-cron expression (5 or 6 fields) in the scheduler's time zone. */
  schedule: string;
  /** Jobs of one group never overlap each other (a source's passes); default: the job's own name. */
  group?: string;
  run(signal: AbortSignal): Promise<JobResult>;
}

export interface JobState {
  name: string;
  schedule: string;
  running: boolean;
  runs: number;
  skippedTicks: number;
  failures: number;
  lastStartedAt: string | null;
  lastFinishedAt: string | null;
  lastOutcome: JobOutcome | null;
  lastMessage: string | null;
}

export type TriggerResult = { started: true; done: Promise<JobResult> } | { started: false; reason: 'busy' | 'stopping' | 'unknown' };

/** How long stop() waits for aborted jobs to record themselves before giving up on them. */
const ABORT_SETTLE_MS = 15_000;

interface Entry {
  job: ScheduledJob;
  state: JobState;
  task?: ScheduledTask;
  current?: { controller: AbortController; done: Promise<JobResult> };
}

export class Scheduler {
  private readonly entries = new Map<string, Entry>();
  private stopping = false;

  constructor(private readonly opts: { timezone: string; log: Logger }) {}

  add(job: ScheduledJob): void {
    if (this.entries.has(job.name)) throw new Error(`job ${job.name} is scheduled twice`);
    this.entries.set(job.name, {
      job,
      state: { name: job.name, schedule: job.schedule, running: false, runs: 0, skippedTicks: 0, failures: 0, lastStartedAt: null, lastFinishedAt: null, lastOutcome: null, lastMessage: null },
    });
  }

  /** Creates the cron tasks. Without it, jobs run only through trigger() (tests, `runNow`). */
  start(): void {
    for (const entry of this.entries.values()) {
      if (entry.task) continue;
      entry.task = cron.schedule(entry.job.schedule, () => void this.trigger(entry.job.name, 'schedule'), { timezone: this.opts.timezone, name: entry.job.name });
    }
    this.opts.log.info({ jobs: [...this.entries.values()].map((e) => `${e.job.name} (${e.job.schedule})`) }, `scheduler: ${this.entries.size} job(s) in ${this.opts.timezone}`);
  }

  /** Starts a job now unless it is still running (then the tick is logged and skipped) or we are stopping. */
  trigger(name: string, reason: 'schedule' | 'manual' = 'manual'): TriggerResult {
    const entry = this.entries.get(name);
    if (!entry) return { started: false, reason: 'unknown' };
    if (this.stopping) return { started: false, reason: 'stopping' };
    const group = entry.job.group ?? entry.job.name;
    const busy = [...this.entries.values()].find((e) => e.current && (e.job.group ?? e.job.name) === group);
    if (busy) {
      entry.state.skippedTicks++;
      this.opts.log.warn({ job: name, reason, busy: busy.job.name, startedAt: busy.state.lastStartedAt }, `${name}: tick skipped, ${busy.job.name === name ? 'the previous run' : busy.job.name} (started ${busy.state.lastStartedAt}) is still going`);
      return { started: false, reason: 'busy' };
    }
    const controller = new AbortController();
    entry.state.running = true;
    entry.state.runs++;
    entry.state.lastStartedAt = new Date().toISOString();
    this.opts.log.info({ job: name, reason }, `${name}: starting (${reason})`);
    const done = this.execute(entry, controller.signal);
    entry.current = { controller, done };
    return { started: true, done };
  }

  /** Same as trigger(name): run one job at once, outside its schedule. */
  runNow(name: string): TriggerResult {
    return this.trigger(name, 'manual');
  }

  private async execute(entry: Entry, signal: AbortSignal): Promise<JobResult> {
    let result: JobResult;
    try {
      result = await entry.job.run(signal);
    } catch (err) {
      // A job that throws (ClickHouse down before its run record, a bug) must never stop the scheduler.
      result = { outcome: signal.aborted ? 'interrupted' : 'failed', message: shortMessage(err) };
    }
    const s = entry.state;
    s.running = false;
    s.lastFinishedAt = new Date().toISOString();
    s.lastOutcome = result.outcome;
    s.lastMessage = result.message ?? null;
    if (result.outcome === 'failed') s.failures++;
    entry.current = undefined;
    const line = `${entry.job.name}: ${result.outcome}${result.message ? `: ${result.message}` : ''}`;
    if (result.outcome === 'success') this.opts.log.info({ job: entry.job.name, outcome: result.outcome }, line);
    else this.opts.log.warn({ job: entry.job.name, outcome: result.outcome }, line);
    return result;
  }

  states(): JobState[] {
    return [...this.entries.values()].map((e) => ({ ...e.state }));
  }

  running(): string[] {
    return [...this.entries.values()].filter((e) => e.current).map((e) => e.job.name);
  }

  /** No new work; running jobs get `graceMs` to finish, then are aborted and awaited (bounded). */
  async stop(graceMs: number): Promise<{ finished: string[]; aborted: string[] }> {
    this.stopping = true;
    for (const entry of this.entries.values()) {
      await entry.task?.destroy();
      entry.task = undefined;
    }
    const busy = [...this.entries.values()].filter((e) => e.current);
    if (busy.length === 0) return { finished: [], aborted: [] };
    this.opts.log.info({ jobs: busy.map((e) => e.job.name), graceMs }, `scheduler: waiting up to ${graceMs} ms for ${busy.map((e) => e.job.name).join(', ')}`);
    await settleWithin(busy.map((e) => e.current!.done), graceMs);
    const aborted = busy.filter((e) => e.current);
    for (const e of aborted) {
      this.opts.log.warn({ job: e.job.name }, `${e.job.name}: still running after the grace period; aborting`);
      e.current!.controller.abort(new Error('service shutdown'));
    }
    await settleWithin(aborted.map((e) => e.current?.done ?? Promise.resolve()), ABORT_SETTLE_MS);
    const abortedNames = aborted.map((e) => e.job.name);
    return { finished: busy.map((e) => e.job.name).filter((n) => !abortedNames.includes(n)), aborted: abortedNames };
  }
}

/** Resolves when all promises settle or after `ms`, whichever comes first. */
async function settleWithin(promises: Array<Promise<unknown>>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([Promise.allSettled(promises), deadline]);
  clearTimeout(timer);
}

export function shortMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const firstLine = text.split('\n')[0] ?? '';
  return redactString(firstLine).slice(0, 300);
}
