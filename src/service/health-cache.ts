// The only place the HTTP side talks to ClickHouse: a background loop that reads one snapshot every
// HEALTH_REFRESH_MS. Handlers answer from the last result, so a probe storm costs ClickHouse nothing,
// ClickHouse going away shows within one interval, and coming back needs no restart.
import type { ClickHouseClient } from '../clickhouse/client.js';
import type { Logger } from '../runtime/logger.js';
import { redactString } from '../runtime/redact.js';
import type { AlertsFeed, FiringAlert } from './alerts-feed.js';
import { readSnapshot, type WarehouseSnapshot } from './snapshot.js';

export interface AlertsView {
  /** False until meta_alerts exists (no alert rules yet) or when the feed failed. */
  available: boolean;
  firing: FiringAlert[];
  error?: string;
}

export interface HealthState {
  /** Bumped on every refresh; answers derived from a state can be memoised on it. */
  generation: number;
  /** Did the last refresh reach ClickHouse and read the snapshot? */
  up: boolean;
  /** Short, secret-free reason when not up. */
  error: string | null;
  checkedAt: number | null;
  okAt: number | null;
  /** The last good snapshot; kept while ClickHouse is down so the page still shows what was known. */
  warehouse: WarehouseSnapshot | null;
  alerts: AlertsView;
}

export interface HealthCacheOptions {
  client: ClickHouseClient;
  reportingTz: string;
  refreshMs: number;
  log: Logger;
  alertsFeed: AlertsFeed;
  /** Ask ClickHouse to log the snapshot queries in system.query_log (bench/health.ts counts them). */
  logQueries?: boolean;
  /** Told after every refresh (the ClickHouse-down notifier listens here); must not throw. */
  onRefresh?: (state: HealthState) => Promise<void> | void;
}

export class HealthCache {
  private current: HealthState = { generation: 0, up: false, error: 'starting: ClickHouse not asked yet', checkedAt: null, okAt: null, warehouse: null, alerts: { available: false, firing: [] } };
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private stopped = false;
  private readonly controller = new AbortController();

  constructor(private readonly opts: HealthCacheOptions) {}

  get state(): HealthState {
    return this.current;
  }

  get refreshMs(): number {
    return this.opts.refreshMs;
  }

  /** Up = the last refresh succeeded and it is recent (a refresh that hangs must not keep us green). */
  isUp(now = Date.now()): boolean {
    const s = this.current;
    return s.up && s.okAt !== null && now - s.okAt <= 2 * this.opts.refreshMs + 1000;
  }

  /** Reads the first snapshot (whatever its outcome), then keeps refreshing in the background. */
  async start(): Promise<void> {
    await this.refresh();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.controller.abort();
  }

  /** One refresh now (also used by tests); concurrent callers share it. */
  refresh(): Promise<void> {
    this.inFlight ??= this.doRefresh().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private schedule(): void {
    if (this.stopped) return;
    // setTimeout after each refresh, not setInterval: a slow ClickHouse never gets overlapping queries.
    this.timer = setTimeout(() => void this.refresh().finally(() => this.schedule()), this.opts.refreshMs);
    this.timer.unref();
  }

  private async doRefresh(): Promise<void> {
    const now = Date.now();
    const prev = this.current;
    try {
      const warehouse = await readSnapshot(this.opts.client, this.opts.reportingTz, { signal: this.controller.signal, logQueries: this.opts.logQueries });
      const alerts = warehouse.hasAlertsTable ? await this.readAlerts() : { available: false, firing: [] };
      if (!prev.up && prev.generation > 0) this.opts.log.info('health: ClickHouse answers again');
      this.current = { generation: prev.generation + 1, up: true, error: null, checkedAt: now, okAt: Date.now(), warehouse, alerts };
    } catch (err) {
      if (this.stopped) return;
      const error = describeClickHouseError(err);
      if (prev.up || prev.generation === 0) this.opts.log.warn({ error }, `health: ${error}`);
      this.current = { ...prev, generation: prev.generation + 1, up: false, error, checkedAt: now };
    }
    await Promise.resolve(this.opts.onRefresh?.(this.current)).catch((err) => this.opts.log.warn({ err }, 'health: refresh listener failed'));
  }

  private async readAlerts(): Promise<AlertsView> {
    try {
      return { available: true, firing: await this.opts.alertsFeed.firing(this.opts.client, this.controller.signal) };
    } catch (err) {
      return { available: false, firing: [], error: describeClickHouseError(err) };
    }
  }
}

/** A short reason for an answer: no stack, no query text, no secret. */
export function describeClickHouseError(err: unknown): string {
  const e = err as { code?: unknown; type?: unknown; name?: unknown; message?: unknown; cause?: { code?: unknown } };
  const sysCode = String(e?.cause?.code ?? e?.code ?? '');
  if (/^(ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENOTFOUND|EPIPE|ETIMEDOUT|UND_ERR_SOCKET)$/.test(sysCode)) return `ClickHouse does not answer (${sysCode})`;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (/timeout|timed out|socket hang up/i.test(message) || e?.name === 'AbortError') return 'ClickHouse does not answer (timeout)';
  if (typeof e?.type === 'string' && e.type) {
    const first = redactString(message.split('\n')[0] ?? '').replace(/\s*\(version [^)]*\)\s*$/, '').slice(0, 160);
    return `ClickHouse error ${e.type}: ${first}`;
  }
  return `ClickHouse unavailable: ${redactString(message.split('\n')[0] ?? '').slice(0, 160)}`;
}
