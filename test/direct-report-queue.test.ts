// The Reports offline queue over HTTP against the sandbox: 201 -> 202... -> 200 with a retryIn that
// changes between polls, the bounded total wait, ReportName-keyed jobs and the Reports limits.
import { afterEach, describe, expect, it } from 'vitest';
import { fetchReport, reportDefinition, type DirectSession } from '../loaders/direct/api.js';
import { correctedSince, directWorld, startSandbox } from '../loaders/direct/sandbox.js';
import { parseReportTsv } from '../loaders/direct/tsv.js';
import { addDays, todayIn } from '../src/runtime/dates.js';
import { createHttpClient } from '../src/runtime/http.js';
import { createLogger } from '../src/runtime/logger.js';
import type { RunningSandbox } from '../src/runtime/sandbox.js';

const SEED = 31;
const LOGIN = 'msk-concerts';
const log = createLogger('silent', false);

interface Seen {
  at: number;
  status: number;
  retryIn: string | null;
  reportsInQueue: string | null;
}

function session(sb: RunningSandbox, seen: Seen[] = []): DirectSession {
  const recording: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    seen.push({ at: Date.now(), status: res.status, retryIn: res.headers.get('retryIn'), reportsInQueue: res.headers.get('reportsInQueue') });
    return res;
  };
  const http = createHttpClient({ source: 'direct', timeoutMs: 5000, maxRetries: 5, backoffBaseMs: 5, backoffMaxMs: 50, maxWaitMs: 20000, requestsPerSecond: 1000, concurrency: 5, fetchImpl: recording, log });
  return { http, baseUrl: sb.url, token: sb.env.DIRECT_TOKEN!, log, rateLimitWaitMs: 50 };
}

function definition(since = '2026-03-01', until = '2026-03-30', runId = 'run-1') {
  return reportDefinition({ login: LOGIN, period: { since, until }, includeVat: false, runId });
}

async function rowCount(body: Buffer): Promise<number> {
  let n = 0;
  for await (const line of parseReportTsv(body, { money: 'currency' })) if (line.kind === 'row') n++;
  return n;
}

/** A raw Reports call, for the limits the loader itself never hits. */
async function rawReport(sb: RunningSandbox, params: object, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${sb.url}/json/v5/reports`, {
    method: 'POST',
    headers: { authorization: `Bearer ${sb.env.DIRECT_TOKEN}`, 'client-login': LOGIN, processingMode: 'offline', ...headers },
    body: JSON.stringify({ params }),
  });
}

describe('direct report queue', () => {
  let sb: RunningSandbox | undefined;
  afterEach(async () => {
    await sb?.close();
    sb = undefined;
  });

  it('polls 201 -> 202 -> 200, re-sending the identical request after each retryIn', async () => {
    sb = await startSandbox({ seed: SEED, faults: new Set() });
    const seen: Seen[] = [];
    const report = await fetchReport(session(sb, seen), { clientLogin: LOGIN, definition: definition(), money: 'currency', maxWaitMs: 30_000 });
    expect(seen.map((s) => s.status)).toEqual([201, 202, 202, 200]);
    expect(report.polls).toBe(4);
    expect(seen[0]!.reportsInQueue).toBe('1');
    expect(await rowCount(report.body)).toBeGreaterThan(100);
  });

  it('reads retryIn afresh on every poll of a long queue', async () => {
    sb = await startSandbox({ seed: SEED, faults: new Set(['long_queue']) });
    const seen: Seen[] = [];
    await fetchReport(session(sb, seen), { clientLogin: LOGIN, definition: definition(), money: 'currency', maxWaitMs: 60_000 });
    const waits = seen.filter((s) => s.status === 201 || s.status === 202);
    expect(waits.length).toBeGreaterThanOrEqual(8);
    expect(new Set(waits.map((w) => w.retryIn)).size).toBeGreaterThan(1);
    // Each gap honours the retryIn of the answer before it (at least the 200 ms floor for retryIn 0).
    for (let i = 1; i < seen.length; i++) {
      const asked = Number(seen[i - 1]!.retryIn) * 1000;
      expect(seen[i]!.at - seen[i - 1]!.at).toBeGreaterThanOrEqual(Math.max(200, asked) - 20);
    }
  });

  it('gives up after the bounded wait with upstream_5xx saying the queue did not finish', async () => {
    sb = await startSandbox({ seed: SEED, faults: new Set(['queue_never_ends']) });
    const t0 = Date.now();
    const err = await fetchReport(session(sb), { clientLogin: LOGIN, definition: definition(), money: 'currency', maxWaitMs: 1500 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'upstream_5xx' });
    expect(String((err as Error).message)).toMatch(/report queue did not finish within 2 s/);
    expect(Date.now() - t0).toBeLessThan(4000);
  });

  it('survives 5xx and rate-limit answers in the middle of polling', async () => {
    sb = await startSandbox({ seed: SEED, faults: new Set(['5xx', 'rate_limit', 'long_queue']) });
    const seen: Seen[] = [];
    const report = await fetchReport(session(sb, seen), { clientLogin: LOGIN, definition: definition(), money: 'currency', maxWaitMs: 60_000 });
    expect(seen.some((s) => s.status === 500 || s.status === 502)).toBe(true);
    expect(seen.some((s) => s.status === 400)).toBe(true);
    expect(await rowCount(report.body)).toBeGreaterThan(100);
  });

  it('answers small auto-mode reports online with 200 at once', async () => {
    sb = await startSandbox({ seed: SEED, faults: new Set() });
    const seen: Seen[] = [];
    await fetchReport(session(sb, seen), { clientLogin: LOGIN, definition: definition('2026-03-01', '2026-03-01'), money: 'currency', maxWaitMs: 30_000 });
    expect(seen.map((s) => s.status)).toEqual([200]);
  });

  it('AUTO: the fake picks the corrected-since day, and the loader reads the period from the Date column', async () => {
    sb = await startSandbox({ seed: SEED, faults: new Set() });
    const def = reportDefinition({ login: LOGIN, period: null, includeVat: false, runId: 'auto' });
    expect(def.DateRangeType).toBe('AUTO');
    expect(def.SelectionCriteria).toEqual({});
    const report = await fetchReport(session(sb), { clientLogin: LOGIN, definition: def, money: 'currency', maxWaitMs: 30_000 });
    const dates = new Set<string>();
    for await (const line of parseReportTsv(report.body, { money: 'currency' })) if (line.kind === 'row') dates.add(line.record.date);
    const today = todayIn('Europe/Moscow');
    const sorted = [...dates].sort();
    expect(sorted[0]).toBe(correctedSince(SEED, LOGIN, today));
    expect(sorted.at(-1)).toBe(addDays(today, -1));
  });

  it('rejects a known ReportName with a different body (400, 8000)', async () => {
    sb = await startSandbox({ seed: SEED, faults: new Set() });
    const def = definition();
    expect((await rawReport(sb, def)).status).toBe(201);
    const res = await rawReport(sb, { ...def, IncludeVAT: 'YES' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { error_code: number } }).error.error_code).toBe(8000);
  });

  it('refuses a 6th queued offline report (400, 9000)', async () => {
    sb = await startSandbox({ seed: SEED, faults: new Set() });
    for (let i = 0; i < 5; i++) expect((await rawReport(sb, definition('2026-03-01', '2026-03-30', `q${i}`))).status).toBe(201);
    const sixth = await rawReport(sb, definition('2026-03-01', '2026-03-30', 'q6'));
    expect(sixth.status).toBe(400);
    expect(((await sixth.json()) as { error: { error_code: number } }).error.error_code).toBe(9000);
  });

  it('refuses more than 20 Reports requests per 10 s (error 56)', async () => {
    sb = await startSandbox({ seed: SEED, faults: new Set() });
    const codes: number[] = [];
    for (let i = 0; i < 21; i++) {
      const res = await rawReport(sb, definition('2026-03-01', '2026-03-01', `r${i}`), { processingMode: 'online' });
      codes.push(res.status === 200 ? 0 : ((await res.json()) as { error: { error_code: number } }).error.error_code);
    }
    expect(codes.slice(0, 20).every((c) => c === 0)).toBe(true);
    expect(codes[20]).toBe(56);
  });

  it('validates report definitions (400, 8000) and honours the skip* headers', async () => {
    sb = await startSandbox({ seed: SEED, faults: new Set() });
    const { ReportName: _name, ...noName } = definition();
    const bad = await rawReport(sb, noName);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { error_code: number } }).error.error_code).toBe(8000);
    const full = await rawReport(sb, definition('2026-03-01', '2026-03-01', 'skip'), { processingMode: 'online' });
    const text = await full.text();
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^"adhouse_[0-9a-f]+ \(2026-03-01 - 2026-03-01\)"$/);
    expect(lines[1]!.split('\t')[0]).toBe('Date');
    expect(lines.at(-1)).toMatch(/^Total rows: \d+$/);
    // Money in micros unless returnMoneyInMicros: false.
    const cost = lines[2]!.split('\t')[8]!;
    expect(cost).toMatch(/^\d+0000$/);
    const skipped = await rawReport(sb, definition('2026-03-01', '2026-03-01', 'skip2'), {
      processingMode: 'online',
      skipReportHeader: 'true',
      skipColumnHeader: 'true',
      skipReportSummary: 'true',
      returnMoneyInMicros: 'false',
    });
    const rows = (await skipped.text()).trimEnd().split('\n');
    expect(rows[0]).toMatch(/^2026-03-01\t/);
    expect(rows.at(-1)).not.toMatch(/Total rows/);
    expect(rows[0]!.split('\t')[8]).toMatch(/^\d+\.\d{2}$/);
    expect(directWorld(SEED).campaigns.length).toBe(14);
  });
});
