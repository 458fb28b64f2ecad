// The HTTP side of the service on a real port against a real ClickHouse: routes and codes, freshness,
// basic auth, no secrets in answers, /metrics accepted by promtool, and ClickHouse going down and coming
// back without a restart (a ClickHouse of its own, started and stopped here).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LOADERS } from '../loaders/registry.js';
import { migrate } from '../src/clickhouse/migrate.js';
import { privatePorts, readPid, serverPaths, start, stop } from '../src/clickhouse/server.js';
import { clickhouseConfig } from '../src/config/clickhouse.js';
import { createLogger } from '../src/runtime/logger.js';
import { registerSecret } from '../src/runtime/redact.js';
import { utcDateTime } from '../src/runtime/dates.js';
import { fakeBotApi, listenBotApi, TOKEN, visibleText } from './support/fake-telegram.js';
import { startService, type Service } from '../src/service/service.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';


const silent = createLogger('silent', false);
const PASSWORD = 'pw-Very-Secret-4711';
const AUTH = `Basic ${Buffer.from(`ops:${PASSWORD}`).toString('base64')}`;

function runRow(source: string, status: string, finishedAgoMin: number, extra: Record<string, unknown> = {}) {
  const finished = Date.now() - finishedAgoMin * 60_000;
  return {
    run_id: `${source}-${status}-${finishedAgoMin}`, source, kind: 'load', status,
    started_at: utcDateTime(finished - 42_000), finished_at: utcDateTime(finished), heartbeat_at: utcDateTime(finished),
    window_since: '2026-01-01', window_until: '2026-01-02', account: '',
    rows_read: 10, rows_written: 9, rows_quarantined: 1, rows_skipped: 0, rows_deleted: 0,
    error_class: '', error_message: '', backfill_id: '', host: 'test', pid: 1, _ver: Date.now(), ...extra,
  };
}

async function get(service: Service, route: string, auth: string | null = AUTH) {
  const res = await fetch(`${service.url}${route}`, { headers: auth ? { authorization: auth } : {} });
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

describe('service HTTP against the test ClickHouse', () => {
  let wh: Warehouse;
  let service: Service;
  beforeAll(async () => {
    // vk_ads is disabled: its staleness must not turn /healthz/freshness red.
    wh = await freshWarehouse({ VK_ADS_ENABLED: 'false' });
    service = await startService({ mode: 'serve', env: { ...wh.env, PORT: '0', HEALTH_REFRESH_MS: '60000', HTTP_BASIC_AUTH: `ops:${PASSWORD}` }, log: silent });
  });
  afterAll(async () => {
    await service?.close();
    await wh?.drop();
  });

  it('answers every route with the contract codes on a fresh warehouse', async () => {
    const h = await get(service, '/healthz', null);
    expect(h.status).toBe(200);
    expect(JSON.parse(h.text)).toEqual({ status: 'ok' });

    const d = await get(service, '/healthz/detailed');
    expect(d.status).toBe(200);
    const detailed = JSON.parse(d.text);
    expect(detailed.clickhouse).toMatchObject({ up: true, version: expect.stringMatching(/^\d+\.\d+/), replication_lag_s: 0 });
    expect(detailed.sources.map((s: { source: string }) => s.source)).toEqual(expect.arrayContaining(LOADERS.map((l) => l.name)));

    const f = await get(service, '/healthz/freshness');
    expect(f.status).toBe(200);
    expect(JSON.parse(f.text).sources.every((s: { status: string }) => s.status === 'never')).toBe(true);

    const one = await get(service, '/healthz/direct');
    expect(one.status).toBe(200);
    expect(JSON.parse(one.text)).toMatchObject({ source: 'direct', status: 'never', last_run: null });

    const unknown = await get(service, '/healthz/myspace');
    expect(unknown.status).toBe(404);
    expect(unknown.type).toMatch(/application\/json/);
    expect(JSON.parse(unknown.text)).toMatchObject({ error: 'unknown source "myspace"' });

    const page = await get(service, '/');
    expect(page.status).toBe(200);
    expect(page.type).toMatch(/text\/html/);
    expect(page.text).toContain('Firing alerts');
    expect(page.text).toContain('No alerts firing.'); // meta_alerts exists (0009_alerts.sql), nothing fires on a fresh warehouse
    expect(page.text).toMatch(/<svg class="spark"/);
    expect(page.text).not.toMatch(/<script/i);
  });

  it('turns /healthz/freshness 503 when an enabled source is stale, not for a disabled one', async () => {
    await wh.client.insert({ table: 'meta_job_runs', format: 'JSONEachRow', values: [runRow('vk_ads', 'success', 5 * 24 * 60)] });
    await service.cache.refresh();
    const before = await get(service, '/healthz/freshness');
    expect(before.status).toBe(200);
    expect(JSON.parse(before.text).sources.find((s: { source: string }) => s.source === 'vk_ads')).toMatchObject({ enabled: false, status: 'stale' });

    // cbr_rates' SLO is 48 h; its last success was 3 days ago.
    await wh.client.insert({ table: 'meta_job_runs', format: 'JSONEachRow', values: [runRow('cbr_rates', 'success', 3 * 24 * 60)] });
    await service.cache.refresh();
    const after = await get(service, '/healthz/freshness');
    expect(after.status).toBe(503);
    expect(JSON.parse(after.text)).toMatchObject({ status: 'stale', stale: ['cbr_rates'] });
    const one = await get(service, '/healthz/cbr_rates');
    expect(one.status).toBe(503);
    expect(JSON.parse(one.text)).toMatchObject({ status: 'stale', slo_minutes: 2880, last_run: { status: 'success', rows_written: 9, duration_s: 42 } });
    // Liveness is about the process and ClickHouse, not about data: still 200.
    expect((await get(service, '/healthz', null)).status).toBe(200);

    const fresh = runRow('cbr_rates', 'success', 5);
    await wh.client.insert({ table: 'meta_job_runs', format: 'JSONEachRow', values: [fresh] });
    await service.cache.refresh();
    expect((await get(service, '/healthz/freshness')).status).toBe(200);
  });

  it('asks for basic auth on everything but /healthz', async () => {
    expect((await get(service, '/healthz', null)).status).toBe(200);
    for (const route of ['/', '/metrics', '/healthz/detailed', '/healthz/freshness', '/healthz/vk_ads']) {
      const anonymous = await get(service, route, null);
      expect(anonymous.status, route).toBe(401);
      expect(JSON.parse(anonymous.text)).toEqual({ error: 'authentication required' });
      const wrong = await get(service, route, `Basic ${Buffer.from('ops:guess').toString('base64')}`);
      expect(wrong.status, route).toBe(401);
    }
    const res = await fetch(`${service.url}/`);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm="adhouse"/);
  });

  it('keeps secrets and stack traces out of every answer', async () => {
    const token = 'tok-abcdef-1234567890-planted';
    registerSecret(token);
    await wh.client.insert({
      table: 'meta_job_runs',
      format: 'JSONEachRow',
      values: [runRow('direct', 'failed', 1, { error_class: 'token_invalid', error_message: `Bearer ${token} rejected\n    at Object.<anonymous> (/srv/x.js:1:1)` })],
    });
    await service.cache.refresh();
    const routes = ['/', '/metrics', '/healthz', '/healthz/detailed', '/healthz/freshness', '/healthz/direct', '/healthz/nope', '/nope', '/healthz/%E0%A4%A'];
    for (const route of routes) {
      for (const auth of [AUTH, null]) {
        const r = await get(service, route, auth);
        expect(r.text, route).not.toContain(PASSWORD);
        expect(r.text, route).not.toContain(token);
        expect(r.text, route).not.toMatch(/\n\s+at .+:\d+:\d+/);
      }
    }
    const d = JSON.parse((await get(service, '/healthz/detailed')).text);
    expect(d.sources.find((s: { source: string }) => s.source === 'direct').last_run).toMatchObject({ status: 'failed', error_class: 'token_invalid' });
  });

  it('serves /metrics that promtool accepts, with the run counters from meta_job_runs', async () => {
    await service.cache.refresh();
    const m = await get(service, '/metrics');
    expect(m.status).toBe(200);
    expect(m.type).toMatch(/^text\/plain; version=0\.0\.4/);
    // Debian's prometheus package provides promtool; `npm test` installs it (ops/scripts/setup.sh --test).
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: m.text, encoding: 'utf8' });
    expect(promtool.error, 'promtool is missing: run ops/scripts/setup.sh --test').toBeUndefined();
    expect(promtool.status, promtool.stdout + promtool.stderr).toBe(0);
    expect(m.text).toMatch(/^adhouse_clickhouse_up 1$/m);
    expect(m.text).toMatch(/^adhouse_loader_runs_total\{source="cbr_rates",status="success"\} 2$/m);
    expect(m.text).toMatch(/^adhouse_loader_runs_total\{source="direct",status="failed"\} 1$/m);
    expect(m.text).toMatch(/^adhouse_loader_rows_written_total\{source="cbr_rates"\} 18$/m);
    expect(m.text).toMatch(/^adhouse_loader_rows_quarantined_total\{source="cbr_rates"\} 2$/m);
    expect(m.text).toMatch(/^adhouse_loader_run_duration_seconds_bucket\{le="60",source="cbr_rates"\} 2$/m);
    expect(m.text).toMatch(/^adhouse_loader_run_duration_seconds_count\{source="cbr_rates"\} 2$/m);
    expect(m.text).toMatch(/^adhouse_source_last_success_age_seconds\{source="cbr_rates"\} \d+/m);
    expect(m.text).toMatch(/^adhouse_alerts_firing 0$/m);
    expect(m.text).toMatch(/^process_cpu_user_seconds_total /m);
  });
});

describe('service HTTP when ClickHouse goes away', () => {
  let dataDir: string;
  let ch: ReturnType<typeof clickhouseConfig>;
  let service: Service | undefined;
  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'adhouse-svc-ch-'));
    ch = clickhouseConfig(await privatePorts());
    await start(ch, dataDir);
  });
  afterAll(async () => {
    await service?.close();
    await stop(ch, dataDir);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers 503 within a refresh interval, tells the admin chat once, and recovers without a restart', async () => {
    const telegram = fakeBotApi();
    const telegramUrl = await listenBotApi(telegram);
    const env = { CLICKHOUSE_URL: ch.url, CH_DATABASE: 'adhouse', ADHOUSE_DATA_DIR: dataDir, LOG_LEVEL: 'silent', PORT: '0', HEALTH_REFRESH_MS: '200', TELEGRAM_BOT_TOKEN: TOKEN, TELEGRAM_API_URL: telegramUrl, ADMIN_CHAT_ID: '-42' };
    await migrate(clickhouseConfig(env), { env });
    service = await startService({ mode: 'serve', env, log: silent });
    expect((await get(service, '/healthz', null)).status).toBe(200);

    // Killed, not shut down: the way a crash or the OOM killer takes it away.
    process.kill(readPid(serverPaths(dataDir))!, 'SIGKILL');
    const stoppedAt = Date.now();
    await vi.waitFor(async () => expect((await get(service!, '/healthz', null)).status).toBe(503), { timeout: 5000, interval: 50 });
    // One interval (200 ms) plus the failing request; generous for a loaded CI machine.
    expect(Date.now() - stoppedAt).toBeLessThan(2000);
    const down = await get(service, '/healthz', null);
    expect(JSON.parse(down.text)).toEqual({ status: 'unavailable', error: expect.stringMatching(/^ClickHouse does not answer/) });
    const detailed = JSON.parse((await get(service, '/healthz/detailed', null)).text);
    expect(detailed.clickhouse).toMatchObject({ up: false, version: expect.stringMatching(/^\d+\./) }); // the last known snapshot stays visible
    expect((await get(service, '/healthz/freshness', null)).status).toBe(503);
    const metrics = await get(service, '/metrics', null);
    expect(metrics.text).toMatch(/^adhouse_clickhouse_up 0$/m);
    expect((await get(service, '/', null)).text).toContain('ClickHouse unavailable');

    // The "ClickHouse down" path: one notice to the admin chat, however many refreshes fail meanwhile.
    await vi.waitFor(() => expect(telegram.calls).toHaveLength(1), { timeout: 5000, interval: 50 });
    expect(String(telegram.calls[0]!.body.chat_id)).toBe('-42');
    expect(visibleText(String(telegram.calls[0]!.body.text))).toMatch(/FIRING.*clickhouse_down[\s\S]*ClickHouse does not answer/);

    await start(ch, dataDir);
    await vi.waitFor(async () => expect((await get(service!, '/healthz', null)).status).toBe(200), { timeout: 10_000, interval: 50 });
    expect((await get(service, '/healthz/freshness', null)).status).toBe(200);
    await vi.waitFor(() => expect(telegram.calls).toHaveLength(2), { timeout: 5000, interval: 50 });
    expect(visibleText(String(telegram.calls[1]!.body.text))).toMatch(/RESOLVED.*clickhouse_down[\s\S]*answers again/);
    await new Promise((resolve) => telegram.server.close(resolve));
  });
});
