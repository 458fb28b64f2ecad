import { createClient, ClickHouseLogLevel, type ClickHouseClient } from '@clickhouse/client';
import type { ClickHouseConfig } from '../config/clickhouse.js';

export type { ClickHouseClient };

/**
 * A client bound to the warehouse database (or to no database, for CREATE DATABASE).
 * Only features ClickHouse 18.16 understands are used: HTTP, JSON formats, no query parameters.
 */
export function connect(cfg: ClickHouseConfig, opts: { database?: string | null; requestTimeoutMs?: number } = {}): ClickHouseClient {
  return createClient({
    url: cfg.url,
    username: cfg.user,
    password: cfg.password,
    database: opts.database === null ? undefined : (opts.database ?? cfg.database),
    request_timeout: opts.requestTimeoutMs ?? 300_000,
    // Each sink streams its INSERT while rows arrive, holding a socket until its batch ends: a loader with
    // six sinks, times the batch sync's five workers, outgrew the default 10 and stalled until flush timers
    // fired (a 0.6 s structure step took 10 s). ClickHouse's own max_concurrent_queries is 100.
    max_open_connections: 64,
    // Our own logger reports failures with context; the client's would print each one again.
    log: { level: ClickHouseLogLevel.OFF },
    application: 'adhouse',
  });
}

/** Runs a SELECT and returns its rows as objects (64-bit integers come back as strings). */
export async function queryRows<T = Record<string, unknown>>(client: ClickHouseClient, query: string, signal?: AbortSignal): Promise<T[]> {
  const rs = await client.query({ query, format: 'JSONEachRow', abort_signal: signal });
  return (await rs.json()) as T[];
}
