import { clickhouseConfig, type ClickHouseConfig } from '../config/clickhouse.js';
import { runtimeConfig, type RuntimeConfig } from '../config/runtime.js';
import { ping, start } from '../clickhouse/server.js';
import { AdhouseError } from '../runtime/errors.js';
import { findLoader, LOADERS } from '../../loaders/registry.js';
import type { LoaderDefinition } from '../runtime/contract.js';
import { parseEnv } from '../config/env.js';
import { sourceSettings } from '../config/sources.js';

export interface Setup {
  ch: ClickHouseConfig;
  rt: RuntimeConfig;
}

export function setup(): Setup {
  return { ch: clickhouseConfig(), rt: runtimeConfig() };
}

/** Lines for the person at the terminal go to stderr; stdout carries results (tables, env lines). */
export function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** The embedded server is started on demand so every command just works; an external one must answer. */
export async function ensureClickHouse({ ch, rt }: Setup): Promise<void> {
  if (await ping(ch.url, 1500)) return;
  if (!ch.embedded) throw new AdhouseError('network', `ClickHouse at CLICKHOUSE_URL ${ch.url} does not answer /ping`);
  const { status } = await start(ch, rt.dataDir, say);
  say(`ClickHouse ${status.version} is up at ${ch.url}`);
}

export function loaderOrExit(name: string): LoaderDefinition {
  const loader = findLoader(name);
  if (!loader) throw new UsageError(`unknown source "${name}"; known sources: ${LOADERS.map((l) => l.name).join(', ')}`);
  return loader;
}

/**
 * A source's settings and its own config, parsed before anything starts: a bad variable is one line naming
 * it (exit 2) without starting ClickHouse first. Returns the loader's parsed config.
 */
export function checkLoaderConfig(loader: LoaderDefinition, env = process.env): unknown {
  sourceSettings(loader, env);
  return parseEnv(loader.config, env);
}

/** Bad command-line usage: exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A plain fixed-width table for terminals. */
export function formatTable(rows: Array<Record<string, unknown>>, columns?: string[]): string {
  if (rows.length === 0) return '(no rows)';
  const cols = columns ?? Object.keys(rows[0]!);
  const cells = rows.map((r) => cols.map((c) => formatCell(r[c])));
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const numeric = cols.map((_, i) => cells.every((row) => /^-?[\d ]+(\.\d+)?$/.test(row[i]!) || row[i] === ''));
  const line = (values: string[]) => values.map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(cols), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

function formatCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(2);
  return String(value);
}
