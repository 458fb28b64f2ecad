// The scheduler of `adhouse run`: a source never overlaps itself (the extra tick is logged and skipped),
// and shutdown lets a load finish within the grace period or aborts it so it is recorded `interrupted`.
// Jobs are started with scheduler.trigger() (the path a cron tick takes), never by waiting for the clock.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { LOADERS } from '../loaders/registry.js';
import { envPrefix } from '../src/config/sources.js';
import { defineLoader, type LoaderDefinition } from '../src/runtime/contract.js';
import { startService, type Service } from '../src/service/service.js';
import { startCli } from './support/cli.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

/** A loader that stays in run() until the test releases it, or until its signal aborts it. */
function slowLoader(name: string) {
  const waiting: Array<() => void> = [];
  const loader = defineLoader({
    name,
    description: 'a slow fake loader for scheduler tests',
    schedule: '0 0 1 1 *',
    enabledByDefault: true,
    lookbackDays: 1,
    includeToday: true,
    initialDays: 1,
    rateLimit: { requestsPerSecond: 1, concurrency: 1 },
    config: z.object({}),
    async run(ctx) {
      await new Promise<void>((resolve, reject) => {
        waiting.push(resolve);
        ctx.signal.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })), { once: true });
      });
    },
  }) as unknown as LoaderDefinition;
  return {
    loader,
    /** Waits until a run is inside run(), then lets it finish. */
    async release() {
      await vi.waitFor(() => expect(waiting.length).toBeGreaterThan(0), { timeout: 10_000, interval: 10 });
      waiting.shift()!();
    },
    async entered() {
      await vi.waitFor(() => expect(waiting.length).toBeGreaterThan(0), { timeout: 10_000, interval: 10 });
    },
  };
}

function captureLog() {
  const lines: Array<{ msg: string; job?: string }> = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { log, lines };
}

async function runStatuses(wh: Warehouse, source: string) {
  return wh.query<{ run_id: string; status: string; error_class: string }>(
    `SELECT run_id, argMax(status, _ver) AS status, argMax(error_class, _ver) AS error_class FROM meta_job_runs WHERE source = '${source}' GROUP BY run_id, started_at ORDER BY started_at`,
  );
}

describe('scheduler', () => {
  let wh: Warehouse;
  beforeAll(async () => {
    wh = await freshWarehouse();
  });
  afterAll(async () => {
    await wh?.drop();
  });

  async function service(name: string, graceMs: number, log = captureLog()) {
    const fake = slowLoader(name);
    const svc: Service = await startService({ mode: 'run', env: { ...wh.env, PORT: '0', SHUTDOWN_GRACE_MS: String(graceMs), HEALTH_REFRESH_MS: '60000' }, loaders: [fake.loader], cron: false, log: log.log });
    return { svc, fake, log };
  }

  it('runs a loader\'s extra pass with its own window, never at the same time as the main job', async () => {
    const fake = slowLoader('two_pass');
    const loader = { ...fake.loader, lookbackDays: 10, passes: [{ name: 'recent', schedule: '*/15 * * * *', lookbackDays: 2 }] } as LoaderDefinition;
    const log = captureLog();
    const svc: Service = await startService({ mode: 'run', env: { ...wh.env, PORT: '0', HEALTH_REFRESH_MS: '60000' }, loaders: [loader], cron: false, log: log.log });
    try {
      expect(svc.scheduler!.states().map((j) => [j.name, j.schedule])).toEqual(expect.arrayContaining([['two_pass', '0 0 1 1 *'], ['two_pass:recent', '*/15 * * * *']]));
      // The main pass first (the cold start), so the cursor exists and the short pass uses its lookback.
      const main = svc.scheduler!.runNow('two_pass');
      await fake.release();
      await (main.started && main.done);
      const recent = svc.scheduler!.trigger('two_pass:recent', 'schedule');
      expect(recent.started).toBe(true);
      await fake.entered();
      // The nightly pass finds its source busy: skipped, logged, not queued.
      expect(svc.scheduler!.trigger('two_pass', 'schedule')).toEqual({ started: false, reason: 'busy' });
      expect(log.lines.some((l) => /two_pass: tick skipped, two_pass:recent .* is still going/.test(l.msg))).toBe(true);
      await fake.release();
      await (recent.started && recent.done);
      const [run] = await wh.query<{ since: string; until: string }>(`SELECT toString(window_since) AS since, toString(window_until) AS until FROM meta_job_runs WHERE source = 'two_pass' ORDER BY started_at DESC, _ver DESC LIMIT 1`);
      // Lookback 2, today included: yesterday and today.
      expect(new Date(`${run!.until}T00:00:00Z`).getTime() - new Date(`${run!.since}T00:00:00Z`).getTime()).toBe(86_400_000);
    } finally {
      await svc.close();
    }
  });

  it('never overlaps a source: a tick while it runs is logged and skipped, not queued', async () => {
    const { svc, fake, log } = await service('slow_one', 10_000);
    try {
      const first = svc.scheduler!.trigger('slow_one', 'schedule');
      expect(first.started).toBe(true);
      await fake.entered();
      expect(svc.scheduler!.trigger('slow_one', 'schedule')).toEqual({ started: false, reason: 'busy' });
      expect(svc.scheduler!.trigger('slow_one', 'schedule')).toEqual({ started: false, reason: 'busy' });
      expect(log.lines.filter((l) => /slow_one: tick skipped, the previous run .* is still going/.test(l.msg))).toHaveLength(2);
      await fake.release();
      expect(first.started && (await first.done)).toMatchObject({ outcome: 'success' });
      // Nothing was queued: the skipped ticks did not start runs of their own.
      expect(svc.scheduler!.running()).toEqual([]);
      expect(await runStatuses(wh, 'slow_one')).toEqual([expect.objectContaining({ status: 'success' })]);

      const second = svc.scheduler!.runNow('slow_one');
      expect(second.started).toBe(true);
      await fake.release();
      expect(second.started && (await second.done)).toMatchObject({ outcome: 'success' });
      expect(svc.scheduler!.states().find((j) => j.name === 'slow_one')).toMatchObject({ runs: 2, skippedTicks: 2, lastOutcome: 'success' });
      expect(svc.scheduler!.states().map((j) => j.name)).toEqual(['slow_one', 'checks', 'alerts']);
    } finally {
      await svc.close();
    }
  });

  it('lets a running load finish within the grace period on shutdown and takes no new work', async () => {
    const { svc, fake } = await service('slow_two', 20_000);
    const run = svc.scheduler!.trigger('slow_two');
    await fake.entered();
    const closing = svc.close();
    expect(svc.scheduler!.trigger('slow_two')).toEqual({ started: false, reason: 'stopping' });
    await fake.release();
    await closing;
    expect(run.started && (await run.done)).toMatchObject({ outcome: 'success' });
    expect(await runStatuses(wh, 'slow_two')).toEqual([expect.objectContaining({ status: 'success' })]);
  });

  it('aborts a load still running after the grace period; it is recorded interrupted', async () => {
    const { svc, fake, log } = await service('slow_three', 100);
    const run = svc.scheduler!.trigger('slow_three');
    await fake.entered();
    await svc.close();
    expect(run.started && (await run.done)).toMatchObject({ outcome: 'interrupted' });
    expect(await runStatuses(wh, 'slow_three')).toEqual([expect.objectContaining({ status: 'interrupted', error_class: 'aborted' })]);
    expect(log.lines.some((l) => /slow_three: still running after the grace period; aborting/.test(l.msg))).toBe(true);
    // The server is closed too.
    await expect(fetch(`${svc.url}/healthz`)).rejects.toThrow();
  });

  it('adhouse run: starts loads on their cron, skips overlapping ticks, and on SIGTERM aborts after the grace period and exits 0', async () => {
    // An upstream that accepts requests and never answers keeps cbr_rates busy until it is aborted.
    let requests = 0;
    const upstream = http.createServer(() => void requests++);
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const only = Object.fromEntries(LOADERS.map((l) => [`${envPrefix(l.name)}_ENABLED`, l.name === 'cbr_rates' ? 'true' : 'false']));
    const child = startCli(['run'], {
      ...wh.env,
      ...only,
      LOG_LEVEL: 'info',
      PORT: '0',
      CBR_API_URL: upstreamUrl,
      CBR_RATES_SCHEDULE: '* * * * * *', // every second
      HTTP_TIMEOUT_MS: '60000',
      SHUTDOWN_GRACE_MS: '300',
      HEALTH_REFRESH_MS: '500',
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      await vi.waitFor(() => expect(stderr).toMatch(/adhouse run: listening on (http:\/\/\S+);/), { timeout: 20_000, interval: 50 });
      const url = /listening on (http:\/\/\S+);/.exec(stderr)![1]!;
      expect(stderr).toMatch(/3 job\(s\) scheduled: cbr_rates \(\* \* \* \* \* \*\), checks \(0 \* \* \* \*\), alerts \(\*\/15 \* \* \* \*\)/);
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      await vi.waitFor(() => expect(requests).toBeGreaterThan(0), { timeout: 10_000, interval: 50 });
      await vi.waitFor(() => expect(stderr).toMatch(/cbr_rates: tick skipped, the previous run .* is still going/), { timeout: 10_000, interval: 50 });

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stderr).toMatch(/SIGTERM: stopping the service/);
      expect(stderr).toMatch(/cbr_rates: still running after the grace period; aborting/);
      const runs = await runStatuses(wh, 'cbr_rates');
      expect(runs).toEqual([expect.objectContaining({ status: 'interrupted', error_class: 'aborted' })]);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      upstream.closeAllConnections();
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    }
  });

  it('adhouse run refuses a bad variable with one line and exit 2', async () => {
    const { runCli } = await import('./support/cli.js');
    const bad = await runCli(['run'], { ...wh.env, HEALTH_REFRESH_MS: 'often' });
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toEqual(['adhouse: HEALTH_REFRESH_MS: expected a whole number from 100 to 3600000; got "often"']);
    const cron = await runCli(['run'], { ...wh.env, CBR_RATES_SCHEDULE: '99 * * * *' });
    expect(cron.code).toBe(2);
    expect(cron.stderr.trim()).toBe('adhouse: CBR_RATES_SCHEDULE: expected a cron expression (5 or 6 fields); got "99 * * * *"');
    const auth = await runCli(['serve'], { ...wh.env, HTTP_BASIC_AUTH: 'no-colon-secretvalue' });
    expect(auth.code).toBe(2);
    expect(auth.stderr.trim()).toBe('adhouse: HTTP_BASIC_AUTH: expected user:password; got a value that does not fit (not shown)');
  });
});
