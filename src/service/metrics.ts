// /metrics: Prometheus text from the health cache (never a ClickHouse query per scrape) plus the default
// process metrics. Run counts, rows and durations are totals over meta_job_runs, so they survive restarts
// and agree whichever process (or CLI, or systemd timer) ran the loads; they only grow, as counters must.
import client, { Counter, Gauge, Registry, type Metric } from 'prom-client';
import type { HealthCache } from './health-cache.js';
import { freshnessRows, type SourceInfo } from './health-answers.js';
import type { Scheduler } from './scheduler.js';
import { DURATION_BUCKETS_S, type RunTotals } from './snapshot.js';

export interface MetricsSources {
  cache: HealthCache;
  sources: readonly SourceInfo[];
  scheduler?: Scheduler;
}

const RUN_STATUSES = ['success', 'failed', 'interrupted'] as const;

function sumBy<K extends string>(totals: RunTotals[], key: (t: RunTotals) => K, value: (t: RunTotals) => number): Map<K, number> {
  const out = new Map<K, number>();
  for (const t of totals) out.set(key(t), (out.get(key(t)) ?? 0) + value(t));
  return out;
}

export function createMetrics({ cache, sources, scheduler }: MetricsSources): Registry {
  const register = new Registry();
  client.collectDefaultMetrics({ register });
  // prom-client also exports these gauges under a `_total` name, which promtool rejects for non-counters;
  // the same numbers stay available as nodejs_active_handles/requests/resources.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) register.removeSingleMetric(name);
  const registers = [register];
  const totals = () => cache.state.warehouse?.totals ?? [];
  const sourceNames = () => freshnessRows({ state: cache.state, up: cache.isUp(), sources }).map((f) => f.source);

  new Gauge({
    name: 'adhouse_clickhouse_up',
    help: 'Whether the last health refresh reached ClickHouse (1) or not (0).',
    registers,
    collect() {
      this.set(cache.isUp() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'adhouse_health_snapshot_age_seconds',
    help: 'Seconds since the health cache last read ClickHouse successfully.',
    registers,
    collect() {
      const okAt = cache.state.okAt;
      if (okAt === null) this.reset();
      else this.set((Date.now() - okAt) / 1000);
    },
  });
  new Counter({
    name: 'adhouse_loader_runs_total',
    help: 'Finished loader runs by source and final status (meta_job_runs).',
    labelNames: ['source', 'status'],
    registers,
    collect() {
      this.reset();
      // Every source x status appears, at 0 when it never happened, so rate() and alerts see the series.
      for (const source of sourceNames()) for (const status of RUN_STATUSES) this.inc({ source, status }, 0);
      for (const t of totals()) this.inc({ source: t.source, status: t.status }, t.runs);
    },
  });
  new Counter({
    name: 'adhouse_loader_rows_written_total',
    help: 'Rows written by loader runs, by source.',
    labelNames: ['source'],
    registers,
    collect() {
      this.reset();
      for (const source of sourceNames()) this.inc({ source }, 0);
      for (const [source, rows] of sumBy(totals(), (t) => t.source, (t) => t.rowsWritten)) this.inc({ source }, rows);
    },
  });
  new Counter({
    name: 'adhouse_loader_rows_quarantined_total',
    help: 'Rows sent to meta_quarantine by loader runs, by source.',
    labelNames: ['source'],
    registers,
    collect() {
      this.reset();
      for (const source of sourceNames()) this.inc({ source }, 0);
      for (const [source, rows] of sumBy(totals(), (t) => t.source, (t) => t.rowsQuarantined)) this.inc({ source }, rows);
    },
  });
  register.registerMetric(durationHistogram(totals) as unknown as Metric);
  new Gauge({
    name: 'adhouse_loader_running',
    help: 'Whether the newest run of the source is still running (1) or not (0).',
    labelNames: ['source'],
    registers,
    collect() {
      this.reset();
      const last = new Map((cache.state.warehouse?.lastRuns ?? []).map((r) => [r.source, r.status]));
      for (const source of sourceNames()) this.set({ source }, last.get(source) === 'running' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'adhouse_source_last_success_age_seconds',
    help: 'Seconds since the source last loaded successfully (v_data_freshness); absent when it never did.',
    labelNames: ['source'],
    registers,
    collect() {
      this.reset();
      for (const f of freshnessRows({ state: cache.state, up: cache.isUp(), sources })) if (f.ageMinutes !== null) this.set({ source: f.source }, f.ageMinutes * 60);
    },
  });
  new Gauge({
    name: 'adhouse_source_data_age_seconds',
    help: 'Seconds since the newest day or instant in the source\'s tables (v_data_freshness.newest_data_at).',
    labelNames: ['source'],
    registers,
    collect() {
      this.reset();
      for (const f of freshnessRows({ state: cache.state, up: cache.isUp(), sources })) {
        if (f.newestDataAt) this.set({ source: f.source }, Math.max(0, (Date.now() - Date.parse(`${f.newestDataAt.replace(' ', 'T')}Z`)) / 1000));
      }
    },
  });
  new Gauge({
    name: 'adhouse_source_stale',
    help: 'Whether the source is past its freshness SLO (1) or not (0).',
    labelNames: ['source', 'enabled'],
    registers,
    collect() {
      this.reset();
      for (const f of freshnessRows({ state: cache.state, up: cache.isUp(), sources })) this.set({ source: f.source, enabled: f.enabled ? 'true' : 'false' }, f.status === 'stale' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'adhouse_alerts_firing',
    help: 'Alerts currently firing (0 until alert rules exist).',
    registers,
    collect() {
      this.set(cache.state.alerts.firing.length);
    },
  });
  if (scheduler) {
    new Counter({
      name: 'adhouse_scheduler_skipped_ticks_total',
      help: 'Scheduled ticks skipped because the job\'s previous run was still going.',
      labelNames: ['job'],
      registers,
      collect() {
        this.reset();
        for (const j of scheduler.states()) this.inc({ job: j.name }, j.skippedTicks);
      },
    });
    new Counter({
      name: 'adhouse_scheduler_job_failures_total',
      help: 'Scheduled job runs that ended failed (loads, smoke checks, ...), since the service started.',
      labelNames: ['job'],
      registers,
      collect() {
        this.reset();
        for (const j of scheduler.states()) this.inc({ job: j.name }, j.failures);
      },
    });
  }
  return register;
}

/**
 * A histogram whose buckets come from ClickHouse aggregates: prom-client's Histogram only observes single
 * values, so this object hands the registry the same shape a Histogram's get() returns.
 */
function durationHistogram(totals: () => RunTotals[]) {
  const name = 'adhouse_loader_run_duration_seconds';
  const help = 'Duration of finished loader runs, by source.';
  return {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    collect: () => undefined,
    reset: () => undefined,
    async get() {
      const bySource = new Map<string, { buckets: number[]; count: number; sum: number }>();
      for (const t of totals()) {
        const acc = bySource.get(t.source) ?? { buckets: DURATION_BUCKETS_S.map(() => 0), count: 0, sum: 0 };
        t.durationBuckets.forEach((n, i) => (acc.buckets[i] = (acc.buckets[i] ?? 0) + n));
        acc.count += t.runs;
        acc.sum += t.durationSumS;
        bySource.set(t.source, acc);
      }
      const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
      for (const [source, acc] of [...bySource].sort(([a], [b]) => a.localeCompare(b))) {
        DURATION_BUCKETS_S.forEach((le, i) => values.push({ metricName: `${name}_bucket`, labels: { le, source }, value: acc.buckets[i] ?? 0 }));
        values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf', source }, value: acc.count });
        values.push({ metricName: `${name}_sum`, labels: { source }, value: acc.sum });
        values.push({ metricName: `${name}_count`, labels: { source }, value: acc.count });
      }
      return { name, help, type: 'histogram', aggregator: 'sum', values };
    },
  };
}
