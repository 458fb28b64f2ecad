// Direct error codes -> the runtime's error classes, from the body whatever the HTTP status; and the
// same over HTTP against the sandbox (bad token, non-client login, points, HTML 502, concurrency).
import { afterEach, describe, expect, it } from 'vitest';
import { callService, classifyDirectError, getCampaigns, getClient, msToNextHour, readErrorBody, type DirectSession } from '../loaders/direct/api.js';
import { directClientToken, startSandbox } from '../loaders/direct/sandbox.js';
import { z } from 'zod';
import { AdhouseError } from '../src/runtime/errors.js';
import { createHttpClient } from '../src/runtime/http.js';
import { createLogger } from '../src/runtime/logger.js';
import type { RunningSandbox } from '../src/runtime/sandbox.js';

const log = createLogger('silent', false);
const ctx = { rateLimitWaitMs: 10_000, now: Date.UTC(2026, 2, 1, 10, 20, 0) };

function session(sb: RunningSandbox, overrides: Partial<DirectSession> = {}, maxRetries = 5): DirectSession {
  const http = createHttpClient({ source: 'direct', timeoutMs: 5000, maxRetries, backoffBaseMs: 5, backoffMaxMs: 50, maxWaitMs: 20000, requestsPerSecond: 1000, concurrency: 5, log });
  return { http, baseUrl: sb.url, token: sb.env.DIRECT_TOKEN!, log, rateLimitWaitMs: 50, ...overrides };
}

describe('direct error classification', () => {
  it.each([
    [52, 'upstream_5xx'],
    [1000, 'upstream_5xx'],
    [1001, 'upstream_5xx'],
    [1002, 'upstream_5xx'],
    [1020, 'upstream_5xx'],
    [53, 'token_invalid'],
    [58, 'token_invalid'],
    [3000, 'token_invalid'],
    [3001, 'token_invalid'],
    [54, 'config'],
    [513, 'config'],
    [8000, 'config'],
    [4001, 'config'],
    [152, 'rate_limited'],
    [506, 'rate_limited'],
    [56, 'rate_limited'],
    [9000, 'rate_limited'],
  ])('error_code %i is %s', (code, cls) => {
    expect(classifyDirectError({ error_code: code }, ctx).code).toBe(cls);
  });

  it('waits ~10 s after 506/56/9000 and until the next hourly accrual after 152', () => {
    expect(classifyDirectError({ error_code: 506 }, ctx).retryAfterMs).toBe(10_000);
    expect(classifyDirectError({ error_code: 9000 }, ctx).retryAfterMs).toBe(10_000);
    // 10:20 -> 11:00 plus a minute of slack.
    expect(classifyDirectError({ error_code: 152 }, ctx).retryAfterMs).toBe(41 * 60_000);
    expect(msToNextHour(Date.UTC(2026, 2, 1, 10, 59, 0))).toBe(2 * 60_000);
  });

  it('an unknown code under HTTP 5xx is upstream_5xx; under 200/400 it is config', () => {
    expect(classifyDirectError({ error_code: 7777 }, { ...ctx, httpStatus: 500 }).code).toBe('upstream_5xx');
    expect(classifyDirectError({ error_code: 7777 }, { ...ctx, httpStatus: 200 }).code).toBe('config');
  });

  it('puts RequestId and Units in the message', () => {
    const e = classifyDirectError({ error_code: 152, error_string: 'Not enough units', request_id: '123' }, { ...ctx, units: '0/0/64000', login: 'msk-concerts' });
    expect(e.message).toBe('Direct error 152 Not enough units (login msk-concerts, RequestId 123, Units 0/0/64000)');
  });

  it('reads error bodies with numeric or string codes, and ignores everything else', () => {
    expect(readErrorBody({ text: '{"error":{"error_code":53,"error_string":"Authorization error","request_id":"9"}}' })).toMatchObject({ error_code: 53, request_id: '9' });
    expect(readErrorBody({ text: '{"error":{"error_code":"8000"}}' })).toMatchObject({ error_code: 8000 });
    expect(readErrorBody({ text: '{"result":{"Campaigns":[]}}' })).toBeNull();
    expect(readErrorBody({ text: '<html>502 Bad Gateway</html>' })).toBeNull();
    expect(readErrorBody({ text: 'Date\tCampaignId' })).toBeNull();
  });
});

describe('direct errors over HTTP', () => {
  let sb: RunningSandbox | undefined;
  afterEach(async () => {
    await sb?.close();
    sb = undefined;
  });

  it('a bad token is token_invalid (53) and is not retried', async () => {
    sb = await startSandbox({ seed: 5, faults: new Set() });
    const s = session(sb, { token: 'not-a-token' });
    await expect(getClient(s, 'msk-concerts')).rejects.toMatchObject({ code: 'token_invalid', upstreamCode: 53 });
    expect(s.http.attempts).toBe(1);
  });

  it('an agency token needs Client-Login of its own client; otherwise config (54)', async () => {
    sb = await startSandbox({ seed: 5, faults: new Set() });
    await expect(getClient(session(sb), undefined)).rejects.toMatchObject({ code: 'config', upstreamCode: 54 });
    await expect(getClient(session(sb), 'someone-else')).rejects.toMatchObject({ code: 'config', upstreamCode: 54 });
    expect(await getClient(session(sb), 'spb-theatre')).toEqual({ Login: 'spb-theatre', Currency: 'KZT' });
  });

  it("an advertiser's own token works without Client-Login", async () => {
    sb = await startSandbox({ seed: 5, faults: new Set() });
    const s = session(sb, { token: directClientToken(5, 'msk-concerts') });
    expect(await getClient(s, undefined)).toEqual({ Login: 'msk-concerts', Currency: 'RUB' });
    await expect(getClient(s, 'spb-theatre')).rejects.toMatchObject({ code: 'config', upstreamCode: 54 });
  });

  it('sends RequestId and Units headers on service calls', async () => {
    sb = await startSandbox({ seed: 5, faults: new Set() });
    const res = await fetch(`${sb.url}/json/v5/campaigns`, {
      method: 'POST',
      headers: { authorization: `Bearer ${sb.env.DIRECT_TOKEN}`, 'client-login': 'msk-concerts' },
      body: JSON.stringify({ method: 'get', params: { SelectionCriteria: {}, FieldNames: ['Id'] } }),
    });
    expect(res.headers.get('RequestId')).toMatch(/^\d+$/);
    expect(res.headers.get('Units')).toMatch(/^\d+\/\d+\/\d+$/);
    expect(res.headers.get('Units-Used-Login')).toBe('msk-concerts');
  });

  it('exhausted points (152) are rate_limited with a wait the runtime refuses past HTTP_MAX_WAIT_MS', async () => {
    sb = await startSandbox({ seed: 5, faults: new Set(['units_exhausted']) });
    const s = session(sb);
    let err: unknown;
    try {
      for (let i = 0; i < 20; i++) for await (const _ of getCampaigns(s, 'msk-concerts')) void _;
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AdhouseError);
    expect(err).toMatchObject({ code: 'rate_limited', upstreamCode: 152 });
    expect((err as Error).message).toMatch(/HTTP_MAX_WAIT_MS/);
  });

  it('5xx answers (52, 1000, 1002, an HTML 502 page) are retried until they pass', async () => {
    sb = await startSandbox({ seed: 5, faults: new Set(['5xx']) });
    const s = session(sb);
    const pages: number[] = [];
    for (let i = 0; i < 6; i++) for await (const page of getCampaigns(s, 'msk-concerts')) pages.push(page.length);
    expect(pages.reduce((a, b) => a + b, 0)).toBe(6 * 11);
    expect(s.http.attempts).toBeGreaterThan(pages.length);
  });

  it('an HTML 502 page is upstream_5xx', async () => {
    sb = await startSandbox({ seed: 5, faults: new Set(['5xx']) });
    const s = session(sb, {}, 0);
    const classes: string[] = [];
    for (let i = 0; i < 20; i++) {
      await callService(s, 'clients', 'get', { FieldNames: ['Login'] }, 'msk-concerts', z.unknown()).catch((e: AdhouseError) => classes.push(`${e.code}:${e.upstreamCode}`));
    }
    expect(new Set(classes)).toEqual(new Set(['upstream_5xx:502', 'upstream_5xx:52', 'upstream_5xx:1000', 'upstream_5xx:1002']));
  });

  it('more than 5 simultaneous requests per login get 506', async () => {
    sb = await startSandbox({ seed: 5, faults: new Set(['slow']) });
    const call = () =>
      fetch(`${sb!.url}/json/v5/clients`, {
        method: 'POST',
        headers: { authorization: `Bearer ${sb!.env.DIRECT_TOKEN}`, 'client-login': 'msk-concerts' },
        body: JSON.stringify({ method: 'get', params: { FieldNames: ['Login'] } }),
      }).then((r) => r.json() as Promise<{ error?: { error_code: number } }>);
    const answers = await Promise.all(Array.from({ length: 8 }, call));
    const codes = answers.map((a) => a.error?.error_code ?? 0);
    expect(codes.filter((c) => c === 506).length).toBe(3);
    expect(codes.filter((c) => c === 0).length).toBe(5);
  });
  it('gzip-encoded answers are decoded transparently', async () => {
    sb = await startSandbox({ seed: 5, faults: new Set(['gzip']) });
    const encodings: Array<string | null> = [];
    const recording: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      encodings.push(res.headers.get('content-encoding'));
      return res;
    };
    const http = createHttpClient({ source: 'direct', timeoutMs: 5000, maxRetries: 0, backoffBaseMs: 5, backoffMaxMs: 50, maxWaitMs: 20000, requestsPerSecond: 1000, concurrency: 5, fetchImpl: recording, log });
    const s: DirectSession = { http, baseUrl: sb.url, token: sb.env.DIRECT_TOKEN!, log, rateLimitWaitMs: 50 };
    expect(await getClient(s, 'msk-concerts')).toEqual({ Login: 'msk-concerts', Currency: 'RUB' });
    expect(encodings).toEqual(['gzip']);
  });
});
