// The upstream HTTP client against a local fake server: retries, upstream-specified waits, classification.
import type http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdhouseError } from '../src/runtime/errors.js';
import { backoffDelay, createHttpClient, retryAfterMs, type HttpClientOptions } from '../src/runtime/http.js';
import { listen } from '../src/runtime/sandbox.js';

type Script = (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void;

describe('http client', () => {
  let url: string;
  let close: () => Promise<void>;
  let script: Script = () => {};
  let hits = 0;
  const arrivals: number[] = [];
  beforeAll(async () => {
    const srv = await listen((req, res) => {
      hits++;
      arrivals.push(Date.now());
      script(req, res, hits);
    });
    url = srv.url;
    close = srv.close;
  });
  afterAll(async () => close());

  const client = (over: Partial<HttpClientOptions> = {}) =>
    createHttpClient({ source: 'test', timeoutMs: 2000, maxRetries: 4, backoffBaseMs: 1, backoffMaxMs: 5, maxWaitMs: 5000, requestsPerSecond: 1000, concurrency: 4, ...over });
  const reset = (s: Script) => {
    hits = 0;
    arrivals.length = 0;
    script = s;
  };

  it('retries 5xx and succeeds', async () => {
    reset((_, res, n) => (n < 3 ? res.writeHead(503).end('busy') : res.writeHead(200).end('{"ok":true}')));
    expect(await client().request({ url })).toEqual({ ok: true });
    expect(hits).toBe(3);
  });

  it('waits as Retry-After says on 429', async () => {
    reset((_, res, n) => (n === 1 ? res.writeHead(429, { 'retry-after': '1' }).end() : res.writeHead(200).end('[]')));
    await client().request({ url });
    expect(arrivals[1]! - arrivals[0]!).toBeGreaterThanOrEqual(950);
  });

  it('does not retry token errors and gives up after maxRetries', async () => {
    reset((_, res) => res.writeHead(401).end('{"code":"invalid_token"}'));
    await expect(client().request({ url })).rejects.toMatchObject({ code: 'token_invalid' });
    expect(hits).toBe(1);
    reset((_, res) => res.writeHead(500).end('oops'));
    await expect(client({ maxRetries: 2 }).request({ url })).rejects.toMatchObject({ code: 'upstream_5xx' });
    expect(hits).toBe(3);
  });

  it('refuses an upstream wait longer than the limit instead of hanging', async () => {
    reset((_, res) => res.writeHead(429, { 'retry-after': '3600' }).end());
    await expect(client().request({ url })).rejects.toThrow(/more than HTTP_MAX_WAIT_MS/);
    expect(hits).toBe(1);
  });

  it('classifies a timeout as network and a truncated JSON body as upstream_5xx', async () => {
    reset(() => {}); // never answers
    await expect(client({ timeoutMs: 100, maxRetries: 0 }).request({ url })).rejects.toMatchObject({ code: 'network' });
    reset((_, res) => res.writeHead(200).end('{"items":[1,2'));
    await expect(client({ maxRetries: 0 }).request({ url })).rejects.toMatchObject({ code: 'upstream_5xx' });
  });

  it('retries errors a parser throws, with the parser deciding the class', async () => {
    reset((_, res, n) => res.writeHead(200).end(n < 2 ? '{"error":{"error_code":1000}}' : '{"result":1}'));
    const value = await client().request({ url }, (res) => {
      const body = JSON.parse(res.text) as { error?: unknown; result?: number };
      if (body.error) throw new AdhouseError('upstream_5xx', 'server temporarily unavailable');
      return body.result;
    });
    expect(value).toBe(1);
    expect(hits).toBe(2);
  });

  it('keeps to the request rate and never exceeds the concurrency limit', async () => {
    let open = 0;
    let maxOpen = 0;
    reset((_, res) => {
      open++;
      maxOpen = Math.max(maxOpen, open);
      setImmediate(() => {
        open--;
        res.writeHead(200).end('{}');
      });
    });
    const c = client({ requestsPerSecond: 5, concurrency: 2 });
    await Promise.all(Array.from({ length: 10 }, () => c.request({ url })));
    expect(maxOpen).toBeLessThanOrEqual(2);
    // 10 requests at 5 per second need at least one full interval between the first and the last.
    expect(arrivals[9]! - arrivals[0]!).toBeGreaterThanOrEqual(950);
  });

  it('stops waiting when the run is aborted', async () => {
    reset((_, res) => res.writeHead(503).end());
    const controller = new AbortController();
    const c = client({ signal: controller.signal, backoffBaseMs: 10_000, backoffMaxMs: 10_000 });
    const pending = c.request({ url });
    setImmediate(() => controller.abort('test'));
    await expect(pending).rejects.toMatchObject({ code: 'aborted' });
  });
});

describe('backoff and Retry-After parsing', () => {
  it('grows exponentially with jitter and stays under the cap', () => {
    const policy = { maxRetries: 10, backoffBaseMs: 100, backoffMaxMs: 2000, maxWaitMs: 0 };
    expect(backoffDelay(0, policy, () => 0)).toBe(50);
    expect(backoffDelay(0, policy, () => 1)).toBe(100);
    expect(backoffDelay(3, policy, () => 1)).toBe(800);
    expect(backoffDelay(20, policy, () => 1)).toBe(2000);
  });
  it('reads seconds and HTTP dates', () => {
    expect(retryAfterMs(new Headers({ 'retry-after': '2' }))).toBe(2000);
    expect(retryAfterMs(new Headers({ 'retry-after': new Date(10_000).toUTCString() }), 4000)).toBe(6000);
    expect(retryAfterMs(new Headers({}))).toBeUndefined();
  });
});
