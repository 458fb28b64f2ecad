// HTTP client for upstream APIs: timeouts, bounded exponential backoff with full jitter, upstream-specified
// waits, per-source concurrency and request-rate limits (p-queue). Hand-written retry loop because the wait
// must come from the upstream when it says one (Retry-After, Direct's retryIn, VK's X-RateLimit-*), which
// generic retry libraries add on top of their own backoff instead of replacing it.
import PQueue from 'p-queue';
import { AdhouseError, isRetryable } from './errors.js';
import type { Logger } from './logger.js';
import { redactString } from './redact.js';

export interface HttpRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  query?: Record<string, string | number | boolean | undefined | null>;
  headers?: Record<string, string | undefined>;
  /** A string or URLSearchParams is sent as is; any other object as JSON. */
  body?: string | URLSearchParams | object;
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  /** The body as bytes; `text` decodes UTF-8 on first use. */
  bytes: Buffer;
  readonly text: string;
  url: string;
}

/** Turns a response into a value, or throws an AdhouseError (retryable classes are retried). */
export type ResponseParser<T> = (res: HttpResponse) => T | Promise<T>;

export interface RetryPolicy {
  maxRetries: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** The longest upstream-requested wait accepted; longer ones fail the request. */
  maxWaitMs: number;
}

export interface HttpClientOptions extends RetryPolicy {
  source: string;
  timeoutMs: number;
  requestsPerSecond: number;
  concurrency: number;
  signal?: AbortSignal;
  log?: Logger;
  /** Injected for tests; defaults to global fetch. */
  fetchImpl?: typeof fetch;
}

export interface HttpClient {
  /** One logical request: retried on retryable errors (from the transport or thrown by `parse`). */
  request<T = unknown>(req: HttpRequest, parse?: ResponseParser<T>, policy?: Partial<RetryPolicy>): Promise<T>;
  /** Default classification of a non-2xx response, for parsers that handle only their API's special cases. */
  fail(res: HttpResponse): never;
  /** Awaits `ms` unless the run is aborted. */
  sleep(ms: number): Promise<void>;
  /** Requests sent so far (attempts, including retries). */
  readonly attempts: number;
}

/** Parses `Retry-After` (seconds or an HTTP date) into ms. */
export function retryAfterMs(headers: Headers, now = Date.now()): number | undefined {
  const value = headers.get('retry-after');
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.ceil(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The default classification: 429 rate_limited, 5xx upstream_5xx, 401/403 token_invalid, other 4xx config. */
export function classifyStatus(res: HttpResponse): AdhouseError {
  const snippet = redactString(res.text.slice(0, 300).replace(/\s+/g, ' '));
  const where = redactString(res.url.split('?')[0] ?? res.url);
  const message = `HTTP ${res.status} from ${where}: ${snippet}`;
  if (res.status === 429) return new AdhouseError('rate_limited', message, { retryAfterMs: retryAfterMs(res.headers), upstreamCode: 429 });
  if (res.status >= 500) return new AdhouseError('upstream_5xx', message, { retryAfterMs: retryAfterMs(res.headers), upstreamCode: res.status });
  if (res.status === 401 || res.status === 403) return new AdhouseError('token_invalid', message, { upstreamCode: res.status });
  return new AdhouseError('config', message, { upstreamCode: res.status });
}

export const parseJson: ResponseParser<unknown> = (res) => {
  if (res.status < 200 || res.status >= 300) throw classifyStatus(res);
  try {
    return JSON.parse(res.text) as unknown;
  } catch {
    // A truncated or HTML body on a 2xx is a transient proxy/upstream fault more often than a contract change.
    throw new AdhouseError('upstream_5xx', `invalid JSON from ${res.url.split('?')[0]}: ${redactString(res.text.slice(0, 120))}`);
  }
};

export function backoffDelay(attempt: number, policy: RetryPolicy, random = Math.random): number {
  const ceiling = Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** attempt);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function abortError(signal: AbortSignal): AdhouseError {
  return new AdhouseError('aborted', `aborted: ${String(signal.reason ?? 'signal')}`);
}

function buildUrl(req: HttpRequest): string {
  if (!req.query) return req.url;
  const url = new URL(req.url);
  for (const [k, v] of Object.entries(req.query)) if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
  return url.toString();
}

function buildBody(req: HttpRequest): { body?: string; contentType?: string } {
  if (req.body === undefined) return {};
  if (typeof req.body === 'string') return { body: req.body };
  if (req.body instanceof URLSearchParams) return { body: req.body.toString(), contentType: 'application/x-www-form-urlencoded' };
  return { body: JSON.stringify(req.body), contentType: 'application/json; charset=utf-8' };
}

export function createHttpClient(opts: HttpClientOptions): HttpClient {
  const queue = new PQueue({ concurrency: opts.concurrency, intervalCap: Math.max(1, opts.requestsPerSecond), interval: 1000 });
  const doFetch = opts.fetchImpl ?? fetch;
  let attempts = 0;

  async function once(req: HttpRequest): Promise<HttpResponse> {
    const url = buildUrl(req);
    const { body, contentType } = buildBody(req);
    const headers: Record<string, string> = {};
    if (contentType) headers['content-type'] = contentType;
    for (const [k, v] of Object.entries(req.headers ?? {})) if (v !== undefined) headers[k.toLowerCase()] = v;
    const timeout = AbortSignal.timeout(req.timeoutMs ?? opts.timeoutMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    attempts++;
    try {
      const res = await doFetch(url, { method: req.method ?? (body === undefined ? 'GET' : 'POST'), headers, body, signal });
      const bytes = Buffer.from(await res.arrayBuffer());
      let text: string | undefined;
      // Decoded on first use: large report bodies are parsed from the bytes and never held twice.
      return {
        status: res.status,
        headers: res.headers,
        bytes,
        get text() {
          return (text ??= bytes.toString('utf8'));
        },
        url,
      };
    } catch (err) {
      if (opts.signal?.aborted) throw abortError(opts.signal);
      const reason = timeout.aborted ? `timed out after ${req.timeoutMs ?? opts.timeoutMs} ms` : describeNetworkError(err);
      throw new AdhouseError('network', `${req.method ?? 'GET'} ${redactString(url.split('?')[0] ?? url)}: ${reason}`, { cause: err });
    }
  }

  const client: HttpClient = {
    get attempts() {
      return attempts;
    },
    fail(res) {
      throw classifyStatus(res);
    },
    sleep: (ms) => sleep(ms, opts.signal),
    async request<T>(req: HttpRequest, parse?: ResponseParser<T>, override?: Partial<RetryPolicy>): Promise<T> {
      const policy: RetryPolicy = { ...opts, ...override };
      const parser = (parse ?? parseJson) as ResponseParser<T>;
      for (let attempt = 0; ; attempt++) {
        try {
          const res = await queue.add(() => once(req), { signal: opts.signal });
          return await parser(res as HttpResponse);
        } catch (err) {
          if (opts.signal?.aborted) throw abortError(opts.signal);
          if (!isRetryable(err) || attempt >= policy.maxRetries) throw err;
          const e = err as AdhouseError;
          if (e.retryAfterMs !== undefined && e.retryAfterMs > policy.maxWaitMs) {
            throw new AdhouseError(e.code, `${e.message} (upstream asked to wait ${Math.round(e.retryAfterMs / 1000)} s, more than HTTP_MAX_WAIT_MS)`, { upstreamCode: e.upstreamCode });
          }
          const wait = e.retryAfterMs ?? backoffDelay(attempt, policy);
          opts.log?.warn({ source: opts.source, errorClass: e.code, attempt: attempt + 1, waitMs: wait }, `retrying after ${e.code}: ${e.message}`);
          await sleep(wait, opts.signal);
        }
      }
    },
  };
  return client;
}

function describeNetworkError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
}
