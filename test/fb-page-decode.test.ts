// Insights pages decoded off the calling thread: the paging read from a body's tail without parsing its
// rows, and the decoder giving the same rows in its thread as inline (rows typed, refused rows kept for the
// quarantine, hourly placeholders counted, a body that is not a page named).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFbApi } from '../loaders/facebook/api.js';
import { pagingOf } from '../loaders/facebook/api.js';
import { decodeInsightPage, type DecodeTask } from '../loaders/facebook/page-decode.js';
import { pageDecoder } from '../loaders/facebook/page-decoder.js';
import { startSandbox, type FbSandbox } from '../loaders/facebook/sandbox.js';
import { HOURLY_BREAKDOWN, INSIGHT_TABLES } from '../loaders/facebook/transform.js';
import { createHttpClient } from '../src/runtime/http.js';
import { encodeRows, rowHash } from '../src/runtime/row-encoding.js';

const body = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const FORMAT = { key: INSIGHT_TABLES.daily.key, suffix: '"_ver":7,"_run_id":"r"}' };
const CTX = { accountId: 'act_1', currency: 'USD', since: '2026-01-05', until: '2026-01-11' };

describe('pagingOf', () => {
  it("reads the root's paging from the tail, and nothing it cannot be sure of", () => {
    const paging = { cursors: { before: 'a', after: 'b' }, next: 'https://graph.example/v24.0/1/insights?after=b' };
    expect(pagingOf(body({ data: [{ ad_id: '1' }], paging }))).toEqual(paging);
    // Pretty-printed, non-ASCII rows before it: still the root's paging.
    expect(pagingOf(Buffer.from(JSON.stringify({ data: [{ ad_name: 'Реклама ✓' }], paging }, null, 2)))).toEqual(paging);
    // Before the rows: the tail holds the rows too, and it is still the root's paging.
    expect(pagingOf(body({ paging, data: [{ ad_id: '1' }] }))).toEqual(paging);
    // Absent, or nested in a row or another key: not the root's, so unknown.
    expect(pagingOf(body({ data: [] }))).toBeUndefined();
    expect(pagingOf(body({ data: [{ edge: { data: [], paging } }] }))).toBeUndefined();
    expect(pagingOf(body({ data: [], summary: { paging } }))).toBeUndefined();
    // The text inside a string is escaped, so it never passes for the key.
    expect(pagingOf(body({ data: [{ note: '"paging":{"next":"x"}}' }] }))).toBeUndefined();
    // A paging longer than the tail read is left to the full parse.
    expect(pagingOf(body({ data: [], paging: { next: `https://x/?q=${'a'.repeat(70_000)}` } }))).toBeUndefined();
    expect(pagingOf(Buffer.from('not json "paging":{}'))).toBeUndefined();
  });
});

describe('insights page decoding', () => {
  let sb: FbSandbox;
  beforeAll(async () => {
    sb = await startSandbox({ seed: 77, faults: new Set() });
  });
  afterAll(async () => {
    await sb?.close();
  });

  function api() {
    const acct = sb.world.accounts.get('act_1001')!;
    const http = createHttpClient({ source: 'facebook', timeoutMs: 5000, requestsPerSecond: 1000, concurrency: 1, maxRetries: 0, backoffBaseMs: 1, backoffMaxMs: 1, maxWaitMs: 1000 });
    return createFbApi({
      http, baseUrl: sb.env.FB_API_URL!, version: 'v24.0', accountId: acct.id, token: acct.token, pageLimit: 100, insightsPageLimit: 50, rateLimitWaitMs: 10,
      throttle: { slowdownPct: 75, slowdownMaxMs: 1 }, syncMaxDays: 3, pollMs: 1, pollMaxMs: 1, asyncTimeoutMs: 5000, asyncAttempts: 1,
    });
  }

  it('report pages arrive unparsed, the next one asked for ahead, and decode the same in the thread as inline', async () => {
    const before = sb.counters.requests;
    const tasks: DecodeTask[] = [];
    for await (const page of api().insights('daily', '2026-01-05', '2026-01-18')) {
      // The bytes are the whole answer; its paging is the one pagingOf read.
      const parsed = JSON.parse(page.body.toString('utf8')) as { data: unknown[]; paging: { next?: string } };
      expect(pagingOf(page.body)).toEqual(parsed.paging);
      tasks.push({ body: Buffer.from(page.body), grain: 'daily', ctx: { ...CTX, accountId: 'act_1001', since: '2026-01-05', until: '2026-01-18' }, format: FORMAT });
      // While we hold a page that names a next one, the sandbox receives its request.
      if (parsed.paging.next && tasks.length === 1) {
        const at = sb.counters.requests;
        await expect.poll(() => sb.counters.requests, { timeout: 2000, interval: 5 }).toBe(at + 1);
      }
    }
    expect(tasks.length).toBeGreaterThan(2);
    expect(sb.counters.requests - before).toBeGreaterThan(tasks.length);

    const threaded = pageDecoder(1);
    let rows = 0;
    for (const task of tasks) {
      const inline = decodeInsightPage({ ...task, body: Buffer.from(task.body) });
      const moved = Buffer.from(task.body);
      const there = await threaded.decode({ ...task, body: moved });
      // The response-like buffer moved to the thread (nothing copied, nothing left here).
      expect(moved.byteLength).toBe(0);
      expect({ ...there, rows: { ...there.rows, body: Buffer.from(there.rows.body).toString('utf8') } }).toEqual({ ...inline, rows: { ...inline.rows, body: Buffer.from(inline.rows.body).toString('utf8') } });
      expect(inline.refused).toEqual([]);
      expect(inline.rows.ends).toHaveLength(inline.read);
      rows += inline.read;
    }
    // Every ad-day of the window that has delivery, once.
    const keys = new Set<string>();
    for (const task of tasks) for (const k of decodeInsightPage({ ...task, body: Buffer.from(task.body) }).rows.keys) keys.add(k);
    expect(keys.size).toBe(rows);
  });

  it('types, refuses and skips as the loader did row by row; a body that is not a page is named', () => {
    const good = { ad_id: '11', date_start: '2026-01-06', date_stop: '2026-01-06', spend: '12.50', impressions: '1000', clicks: '7' };
    const bad = { ad_id: '12', date_start: '2026-01-06', date_stop: '2026-01-06', spend: 'twelve', impressions: '5' };
    const out = decodeInsightPage({ body: body({ data: [good, bad], paging: {} }), grain: 'daily', ctx: CTX, format: FORMAT });
    expect(out).toMatchObject({ read: 2, placeholders: 0 });
    expect(out.refused).toHaveLength(1);
    expect(out.refused[0]).toMatchObject({ payload: bad, key: 'act_1|12|2026-01-06' });
    expect(out.refused[0]!.reason).toMatch(/spend/);
    // The one good row, encoded as the sink encodes a row it is given.
    const line = Buffer.from(out.rows.body).toString('utf8');
    const json = `${line.slice(0, line.indexOf(',"_hash"'))}}`;
    expect(out.rows.hashes).toEqual([rowHash(json)]);
    expect(out.rows.keys).toEqual(['act_1\t11\t2026-01-06']);
    expect(JSON.parse(line)).toMatchObject({ account_id: 'act_1', ad_id: '11', date: '2026-01-06', impressions: 1000, clicks: 7, _hash: rowHash(json), _ver: 7, _run_id: 'r' });
    expect(Buffer.from(encodeRows([JSON.parse(json) as Record<string, unknown>], FORMAT).body).toString('utf8')).toBe(line);

    // An hourly row of a day without delivery (no hour, nothing spent) is a placeholder, not a row.
    const hourly = decodeInsightPage({
      body: body({ data: [{ ad_id: '11', date_start: '2026-01-06', date_stop: '2026-01-06', impressions: '0' }, { ...good, [HOURLY_BREAKDOWN]: '10:00:00 - 10:59:59' }], paging: {} }),
      grain: 'hourly',
      ctx: { ...CTX, since: '2026-01-06', until: '2026-01-06' },
      format: { key: INSIGHT_TABLES.hourly.key, suffix: FORMAT.suffix },
    });
    expect(hourly).toMatchObject({ read: 2, placeholders: 1, refused: [] });
    expect(hourly.rows.keys).toEqual(['act_1\t11\t2026-01-06\t10']);

    expect(decodeInsightPage({ body: Buffer.from('<html>oops'), grain: 'daily', ctx: CTX, format: FORMAT }).error).toBe('the page is not JSON');
    expect(decodeInsightPage({ body: body({ data: 'x', paging: {} }), grain: 'daily', ctx: CTX, format: FORMAT }).error).toBe('no data list');
  });
});
