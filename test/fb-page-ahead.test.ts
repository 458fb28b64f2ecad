// The Facebook client asks for page N+1 while its caller works on page N (one call at a time still): the
// answer's latency overlaps the parsing and writing of the page before. Every object still comes once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFbApi } from '../loaders/facebook/api.js';
import { startSandbox, type FbSandbox } from '../loaders/facebook/sandbox.js';
import { createHttpClient } from '../src/runtime/http.js';

describe('facebook paging reads one page ahead', () => {
  let sb: FbSandbox;
  beforeAll(async () => {
    sb = await startSandbox({ seed: 4242, faults: new Set() });
  });
  afterAll(async () => {
    await sb?.close();
  });

  it('the next page is requested before the caller asks for it, and every ad comes once', async () => {
    const acct = sb.world.accounts.get('act_1001')!;
    const http = createHttpClient({ source: 'facebook', timeoutMs: 5000, requestsPerSecond: 1000, concurrency: 1, maxRetries: 0, backoffBaseMs: 1, backoffMaxMs: 1, maxWaitMs: 1000 });
    const api = createFbApi({
      http, baseUrl: sb.env.FB_API_URL!, version: 'v24.0', accountId: acct.id, token: acct.token, pageLimit: 10, rateLimitWaitMs: 10,
      throttle: { slowdownPct: 75, slowdownMaxMs: 1 }, syncMaxDays: 7, pollMs: 1, pollMaxMs: 1, asyncTimeoutMs: 5000, asyncAttempts: 1,
    });
    const ids: string[] = [];
    let pages = 0;
    const before = sb.counters.requests;
    for await (const page of api.list('ad')) {
      pages++;
      ids.push(...page.map((o) => String(o.id)));
      // While we still hold page 1, the sandbox receives the request for page 2 (waited for, not slept on).
      if (pages === 1) await expect.poll(() => sb.counters.requests - before, { timeout: 2000, interval: 5 }).toBe(2);
    }
    // No call beyond the last page: one request per page.
    expect(sb.counters.requests - before).toBe(pages);
    expect(pages).toBeGreaterThan(2);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(acct.ads.length);
  });
});
