// The JSON answers of the /healthz routes, as pure functions of the cached state (no I/O here).
// Instants are ISO 8601 UTC; nothing in an answer comes from an error's stack or a secret.
import type { HealthState } from './health-cache.js';
import type { JobState } from './scheduler.js';
import type { RunInfo, SourceFreshness } from './snapshot.js';

export interface Answer {
  code: number;
  body: unknown;
}

/** A registered source as the service knows it (enabled/SLO from the env when the view predates it). */
export interface SourceInfo {
  source: string;
  enabled: boolean;
  sloMinutes: number;
}

export interface AnswerContext {
  state: HealthState;
  up: boolean;
  sources: readonly SourceInfo[];
  jobs?: JobState[];
}

export function isoUtc(ts: string | null): string | null {
  return ts ? `${ts.replace(' ', 'T')}Z` : null;
}

/** Registered sources merged with v_data_freshness (a source newer than the last migrate shows as `never`). */
export function freshnessRows(ctx: AnswerContext): SourceFreshness[] {
  const fromView = new Map((ctx.state.warehouse?.freshness ?? []).map((f) => [f.source, f]));
  const rows: SourceFreshness[] = ctx.sources.map((s) => fromView.get(s.source) ?? { source: s.source, enabled: s.enabled, lastSuccessAt: null, newestDataAt: null, ageMinutes: null, sloMinutes: s.sloMinutes, status: 'never' });
  for (const f of fromView.values()) if (!ctx.sources.some((s) => s.source === f.source)) rows.push(f);
  return rows;
}

function freshnessJson(f: SourceFreshness) {
  return {
    source: f.source,
    enabled: f.enabled,
    status: f.status,
    last_success_at: isoUtc(f.lastSuccessAt),
    newest_data_at: isoUtc(f.newestDataAt),
    age_minutes: f.ageMinutes,
    slo_minutes: f.sloMinutes,
  };
}

function runJson(r: RunInfo | undefined) {
  if (!r) return null;
  return {
    run_id: r.runId,
    kind: r.kind,
    status: r.status,
    started_at: isoUtc(r.startedAt),
    finished_at: isoUtc(r.finishedAt),
    rows_written: r.rowsWritten,
    rows_quarantined: r.rowsQuarantined,
    duration_s: r.durationS,
    error_class: r.errorClass || null,
  };
}

function clickhouseJson(ctx: AnswerContext) {
  const w = ctx.state.warehouse;
  return {
    up: ctx.up,
    version: w?.version ?? null,
    query_ms: w?.queryMs ?? null,
    replication_lag_s: w?.replicationLagS ?? null,
    checked_at: ctx.state.checkedAt === null ? null : new Date(ctx.state.checkedAt).toISOString(),
    last_ok_at: ctx.state.okAt === null ? null : new Date(ctx.state.okAt).toISOString(),
    error: ctx.up ? null : ctx.state.error,
  };
}

export function healthz(ctx: AnswerContext): Answer {
  return ctx.up ? { code: 200, body: { status: 'ok' } } : { code: 503, body: { status: 'unavailable', error: ctx.state.error ?? 'ClickHouse does not answer' } };
}

export function detailed(ctx: AnswerContext): Answer {
  const lastRuns = new Map((ctx.state.warehouse?.lastRuns ?? []).map((r) => [r.source, r]));
  const body: Record<string, unknown> = {
    status: ctx.up ? 'ok' : 'unavailable',
    clickhouse: clickhouseJson(ctx),
    sources: freshnessRows(ctx).map((f) => ({ source: f.source, enabled: f.enabled, freshness: f.status, last_run: runJson(lastRuns.get(f.source)) })),
  };
  if (ctx.jobs) body.jobs = ctx.jobs.map((j) => ({ name: j.name, schedule: j.schedule, running: j.running, runs: j.runs, skipped_ticks: j.skippedTicks, last_started_at: j.lastStartedAt, last_finished_at: j.lastFinishedAt, last_outcome: j.lastOutcome, last_message: j.lastMessage }));
  return { code: ctx.up ? 200 : 503, body };
}

export function freshness(ctx: AnswerContext): Answer {
  const rows = freshnessRows(ctx);
  const stale = rows.filter((f) => f.enabled && f.status === 'stale').map((f) => f.source);
  const ok = ctx.up && ctx.state.warehouse !== null && stale.length === 0;
  const body: Record<string, unknown> = { status: !ctx.up ? 'unavailable' : stale.length ? 'stale' : 'ok', stale, sources: rows.map(freshnessJson) };
  if (!ctx.up) body.error = ctx.state.error;
  return { code: ok ? 200 : 503, body };
}

export function oneSource(ctx: AnswerContext, source: string): Answer {
  const f = freshnessRows(ctx).find((r) => r.source === source);
  if (!f) return { code: 404, body: { error: `unknown source "${source.slice(0, 64)}"`, known: freshnessRows(ctx).map((r) => r.source) } };
  const last = ctx.state.warehouse?.lastRuns.find((r) => r.source === source);
  const ok = ctx.up && ctx.state.warehouse !== null && !(f.enabled && f.status === 'stale');
  const body: Record<string, unknown> = { ...freshnessJson(f), last_run: runJson(last) };
  if (!ctx.up) body.error = ctx.state.error;
  return { code: ok ? 200 : 503, body };
}
