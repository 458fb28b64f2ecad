// googleapis (gaxios) accepts a custom fetch: ours sends every Google API request through the runtime's
// HTTP client, so pacing, error classes, upstream waits and backoff are the same as for every other
// source (googleapis' own retries are turned off by the callers). 429, 5xx and unparseable JSON are
// retried there; other answers go back to gaxios, which turns them into its errors.
import { AdhouseError } from './errors.js';
import { classifyStatus, type HttpClient, type HttpResponse } from './http.js';
import { redactString } from './redact.js';

/** An API-specific retryable answer (Gmail's quota 403s, say), or undefined to use the default rule. */
export type ExtraClassifier = (res: HttpResponse) => AdhouseError | undefined;

export function gaxiosFetch(http: HttpClient, extra?: ExtraClassifier): typeof fetch {
  const parse = (res: HttpResponse): HttpResponse => {
    const special = extra?.(res);
    if (special) throw special;
    if (res.status === 429 || res.status >= 500) throw classifyStatus(res);
    if (res.status >= 200 && res.status < 300) {
      try {
        JSON.parse(res.text);
      } catch {
        throw new AdhouseError('upstream_5xx', `invalid JSON from ${res.url.split('?')[0]}: ${redactString(res.text.slice(0, 120))}`);
      }
    }
    return res;
  };
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const url = input instanceof URL ? input.href : typeof input === 'string' ? input : input.url;
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((value, key) => {
      // undici already decodes gzip; the rebuilt Response must not claim an encoding again.
      if (key !== 'accept-encoding') headers[key] = value;
    });
    const res = await http.request({ method: 'GET', url, headers }, parse);
    const out = new Headers();
    res.headers.forEach((value, key) => {
      if (key !== 'content-encoding' && key !== 'content-length') out.set(key, value);
    });
    return new Response(new Uint8Array(res.bytes), { status: res.status, headers: out });
  }) as typeof fetch;
}
