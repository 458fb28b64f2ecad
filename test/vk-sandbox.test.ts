// The VK fake over plain HTTP: the documented behaviours the loader relies on, plus the API client's
// answers to them (paging, 429 waits, the 200-id limit).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createVkApi, rateLimitWaitMs, type VkAccount } from '../loaders/vk_ads/api.js';
import { startSandbox, VK_SANDBOX_APPS, type VkSandbox } from '../loaders/vk_ads/sandbox.js';
import { createTokenStore } from '../loaders/vk_ads/token-store.js';
import { createHttpClient } from '../src/runtime/http.js';

const http = () => createHttpClient({ source: 'vk_ads', timeoutMs: 5000, maxRetries: 5, backoffBaseMs: 5, backoffMaxMs: 50, maxWaitMs: 5000, requestsPerSecond: 1000, concurrency: 4 });
const direct = VK_SANDBOX_APPS[0]!;

async function mint(sb: VkSandbox): Promise<string> {
  const r = await fetch(`${sb.url}/api/v2/oauth2/token.json`, { method: 'POST', body: new URLSearchParams({ grant_type: 'client_credentials', client_id: direct.client_id, client_secret: direct.client_secret }) });
  const j = (await r.json()) as { access_token: string; expires_in: unknown };
  return j.access_token;
}

function apiFor(sb: VkSandbox, index = 0) {
  const account = (JSON.parse(sb.env.VK_ADS_ACCOUNTS!) as VkAccount[])[index]!;
  const tokens = createTokenStore({ dir: mkdtempSync(path.join(os.tmpdir(), 'vk-sbx-')), apiUrl: sb.url, http: http() });
  return createVkApi({ http: http(), baseUrl: sb.url, tokens, account });
}

describe('vk sandbox: auth and lists', () => {
  let sb: VkSandbox;
  let token: string;
  const get = (p: string, t = token) => fetch(`${sb.url}${p}`, { headers: { authorization: `Bearer ${t}` } });

  beforeAll(async () => {
    sb = await startSandbox({ seed: 7, faults: new Set() });
    token = await mint(sb);
  });
  afterAll(async () => sb.close());

  it('answers the token endpoint with expires_in as a string; a bad secret is 401 invalid_client', async () => {
    const r = await fetch(`${sb.url}/api/v2/oauth2/token.json`, { method: 'POST', body: new URLSearchParams({ grant_type: 'client_credentials', client_id: direct.client_id, client_secret: direct.client_secret }) });
    const j = (await r.json()) as Record<string, unknown>;
    expect(j).toMatchObject({ token_type: 'bearer', expires_in: '86400' });
    expect(typeof j.refresh_token).toBe('string');
    const bad = await fetch(`${sb.url}/api/v2/oauth2/token.json`, { method: 'POST', body: new URLSearchParams({ grant_type: 'client_credentials', client_id: direct.client_id, client_secret: 'nope' }) });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ code: 'invalid_client' });
    expect(bad.headers.get('www-authenticate')).toMatch(/error="invalid_client"/);
  });

  it('pages with a clamped limit, default fields only, deleted objects only when asked', async () => {
    const first = (await (await get('/api/v2/banners.json?limit=500')).json()) as { count: number; limit: number; items: Array<Record<string, unknown>> };
    expect(first.limit).toBe(50);
    expect(Object.keys(first.items[0]!).sort()).toEqual(['ad_group_id', 'id']);
    const dflt = (await (await get('/api/v2/banners.json')).json()) as { items: unknown[]; limit: number };
    expect(dflt.limit).toBe(20);
    const all = (await (await get('/api/v2/banners.json?_status__in=active,blocked,deleted&fields=id,status,urls&limit=50')).json()) as { count: number; items: Array<{ status: string; urls: { primary: { id: number; url?: string } } }> };
    expect(all.count).toBeGreaterThan(first.count);
    expect(all.items.some((b) => b.status === 'deleted')).toBe(true);
    expect(all.items[0]!.urls.primary.id).toBeGreaterThan(0);
    const bad = await get('/api/v2/banners.json?fields=id,secret_sauce');
    expect(bad.status).toBe(400);
  });

  it('the API client pages through every item, deleted included', async () => {
    const api = apiFor(sb);
    let n = 0;
    let deleted = 0;
    for await (const page of api.banners()) {
      n += page.length;
      deleted += page.filter((p) => p.ok && p.value.status === 'deleted').length;
    }
    const all = (await (await get('/api/v2/banners.json?_status__in=active,blocked,deleted')).json()) as { count: number };
    expect(n).toBe(all.count);
    // Offset paging: the last page holds what is left after the offset.
    const tail = (await (await get(`/api/v2/banners.json?_status__in=active,blocked,deleted&limit=20&offset=${all.count - 3}`)).json()) as { items: unknown[]; offset: number };
    expect(tail.items).toHaveLength(3);
    expect(tail.offset).toBe(all.count - 3);
    expect(deleted).toBeGreaterThan(0);
    // Seed 1 gives the direct account 54 banners: more than one page of 50.
    const big = await startSandbox({ seed: 1, faults: new Set() });
    try {
      let pages = 0;
      let items = 0;
      for await (const page of apiFor(big).banners()) {
        pages++;
        items += page.length;
      }
      expect(pages).toBe(2);
      expect(items).toBe(54);
    } finally {
      await big.close();
    }
  });

  it('has groups whose banners carry no UTM while the group has utm', async () => {
    const groups = (await (await get('/api/v2/ad_groups.json?fields=id,utm,enable_utm&limit=50&_status__in=active,blocked,deleted')).json()) as { items: Array<{ id: number; utm: string; enable_utm: boolean }> };
    const banners = (await (await get('/api/v2/banners.json?fields=id,ad_group_id,urls&limit=50&_status__in=active,blocked,deleted')).json()) as { items: Array<{ ad_group_id: number; urls: { primary: { url?: string } } }> };
    const withUtm = new Set(groups.items.filter((g) => g.utm && g.enable_utm).map((g) => g.id));
    expect(banners.items.some((b) => withUtm.has(b.ad_group_id) && b.urls.primary.url && !b.urls.primary.url.includes('utm_'))).toBe(true);
    expect(groups.items.some((g) => g.utm && !g.enable_utm)).toBe(true);
  });

  it('sends X-RateLimit-* headers on every response and serves throttling.json', async () => {
    const r = await get('/api/v2/user.json');
    for (const w of ['RPS', 'Hourly', 'Daily']) {
      expect(r.headers.get(`x-ratelimit-${w}-limit`)).toMatch(/^\d+$/);
      expect(r.headers.get(`x-ratelimit-${w}-remaining`)).toMatch(/^\d+$/);
    }
    expect(await r.json()).toMatchObject({ currency: 'RUB' });
    const t = (await (await get('/api/v2/throttling.json')).json()) as Record<string, { v2: { READ: { limits: Record<string, number> } } }>;
    expect(t.statistics!.v2.READ.limits['1']).toBe(20);
  });

  it('lists agency clients for an agency token; an agency token sees no client objects', async () => {
    const agency = VK_SANDBOX_APPS[1]!;
    const r = await fetch(`${sb.url}/api/v2/oauth2/token.json`, { method: 'POST', body: new URLSearchParams({ grant_type: 'client_credentials', client_id: agency.client_id, client_secret: agency.client_secret }) });
    const agencyToken = ((await r.json()) as { access_token: string }).access_token;
    const clients = (await (await get('/api/v2/agency/clients.json', agencyToken)).json()) as { items: Array<{ user: { username: string } }> };
    expect(clients.items.map((c) => c.user.username)).toEqual(['agency_client_1']);
    const own = (await (await get('/api/v2/banners.json', agencyToken)).json()) as { count: number };
    expect(own.count).toBe(0);
    const stats = await get('/api/v2/statistics/banners/day.json?id=20010001&date_from=2026-01-01&date_to=2026-01-01', agencyToken);
    expect(stats.status).toBe(403);
    expect(await stats.json()).toMatchObject({ error: { code: 'ERR_ACCESS_DENIED' } });
  });
});

describe('vk sandbox: statistics', () => {
  let sb: VkSandbox;
  let token: string;
  let ids: number[];
  const get = (p: string) => fetch(`${sb.url}${p}`, { headers: { authorization: `Bearer ${token}` } });

  beforeAll(async () => {
    sb = await startSandbox({ seed: 7, faults: new Set() });
    token = await mint(sb);
    const all = (await (await get('/api/v2/banners.json?_status__in=active,blocked,deleted&limit=50')).json()) as { items: Array<{ id: number }> };
    ids = all.items.map((b) => b.id);
  });
  afterAll(async () => sb.close());

  it('returns a zero-filled row per date, money as strings, per-item and top totals', async () => {
    const r = (await (await get(`/api/v2/statistics/banners/day.json?id=${ids.slice(0, 5).join(',')}&date_from=2026-01-01&date_to=2026-01-10&metrics=base`)).json()) as {
      items: Array<{ id: number; rows: Array<{ date: string; base: { shows: number; spent: string; ctr: number } }>; total: { base: { spent: string } } }>;
      total: { base: { shows: number } };
    };
    expect(r.items).toHaveLength(5);
    for (const item of r.items) expect(item.rows.map((x) => x.date)).toHaveLength(10);
    const rows = r.items.flatMap((i) => i.rows);
    expect(rows.every((x) => typeof x.base.spent === 'string' && typeof x.base.shows === 'number' && typeof x.base.ctr === 'number')).toBe(true);
    expect(rows.some((x) => x.base.spent === '0' && x.base.shows === 0)).toBe(true);
    expect(r.total.base.shows).toBe(rows.reduce((a, x) => a + x.base.shows, 0));
    expect(typeof r.items[0]!.total.base.spent).toBe('string');
  });

  it('refuses >200 ids and >366 days with ERR_LIMIT_EXCEEDED, a bad date with ERR_WRONG_DATE, unknown ids with ERR_WRONG_BANNERS', async () => {
    const many = Array.from({ length: 201 }, (_, i) => ids[i % ids.length]).join(',');
    const a = await get(`/api/v2/statistics/banners/day.json?id=${many}&date_from=2026-01-01&date_to=2026-01-02`);
    expect(a.status).toBe(400);
    expect(await a.json()).toMatchObject({ error: { code: 'ERR_LIMIT_EXCEEDED' } });
    const b = await get(`/api/v2/statistics/banners/day.json?id=${ids[0]}&date_from=2025-01-01&date_to=2026-01-02`);
    expect(await b.json()).toMatchObject({ error: { code: 'ERR_LIMIT_EXCEEDED' } });
    const c = await get(`/api/v2/statistics/banners/day.json?id=${ids[0]}&date_from=2026-13-01`);
    expect(await c.json()).toMatchObject({ error: { code: 'ERR_WRONG_DATE' } });
    const d = await get(`/api/v2/statistics/banners/day.json?id=123&date_from=2026-01-01`);
    expect(await d.json()).toMatchObject({ error: { code: 'ERR_WRONG_BANNERS' } });
    const e = await get(`/api/v2/statistics/banners/day.json?date_from=2026-01-01`);
    expect(e.status).toBe(400);
  });

  it('the API client splits an id batch the server refuses and still gets every id', async () => {
    const api = apiFor(sb);
    const many = Array.from({ length: 300 }, (_, i) => ids[i % ids.length]!);
    const chunks = await api.bannerDays(many, '2026-01-01', '2026-01-02');
    expect(chunks.length).toBeGreaterThanOrEqual(2);
    expect(chunks.every((c) => c.ids.length <= 200)).toBe(true);
    expect(chunks.flatMap((c) => c.items).length).toBe(300);
  });

  it('serves summary.json, other levels, metric blocks, and v3 per-object totals with paging', async () => {
    const s = (await (await get(`/api/v2/statistics/banners/summary.json?id=${ids[0]}`)).json()) as { items: Array<{ total: { base: object } }> };
    expect(s.items[0]!.total.base).toBeDefined();
    const all = (await (await get(`/api/v2/statistics/users/day.json?id=1001&date_from=2026-01-01&date_to=2026-01-01&metrics=all`)).json()) as { items: Array<{ rows: Array<Record<string, unknown>> }> };
    expect(Object.keys(all.items[0]!.rows[0]!)).toEqual(expect.arrayContaining(['base', 'events', 'video', 'uniques']));
    const v3 = (await (await get(`/api/v3/statistics/banners/day.json?date_from=2026-01-01&date_to=2026-01-31&limit=10&offset=5`)).json()) as { items: Array<{ id: number; user_id: number; total: object; rows?: unknown }>; count: number; limit: number; offset: number };
    expect(v3).toMatchObject({ limit: 10, offset: 5 });
    expect(v3.items).toHaveLength(10);
    expect(v3.count).toBeGreaterThanOrEqual(ids.length);
    expect(v3.items[0]!.rows).toBeUndefined();
    expect((await get(`/api/v3/statistics/banners/day.json?date_from=2026-01-01&limit=251`)).status).toBe(400);
  });
});

describe('vk sandbox: paging while the cabinet changes (list_churn)', () => {
  type Page = { count: number; items: Array<{ id: number }> };
  const listAll = async (sb: VkSandbox, token: string, kind: string, sorting?: string) => {
    const seen: number[] = [];
    for (let offset = 0; ; ) {
      const q = `_status__in=active,blocked,deleted&limit=50&offset=${offset}${sorting ? `&sorting=${sorting}` : ''}`;
      const page = (await (await fetch(`${sb.url}/api/v2/${kind}.json?${q}`, { headers: { authorization: `Bearer ${token}` } })).json()) as Page;
      seen.push(...page.items.map((i) => i.id));
      offset += page.items.length;
      if (page.items.length === 0 || offset >= page.count) return seen;
    }
  };

  it('honours sorting=id / -id and refuses unknown sorting fields', async () => {
    const sb = await startSandbox({ seed: 1, faults: new Set() });
    try {
      const token = await mint(sb);
      const get = async (q: string) => (await (await fetch(`${sb.url}/api/v2/banners.json?_status__in=active,blocked,deleted&limit=50&${q}`, { headers: { authorization: `Bearer ${token}` } })).json()) as Page;
      const asc = (await get('sorting=id')).items.map((i) => i.id);
      expect(asc).toEqual([...asc].sort((a, b) => a - b));
      const desc = (await get('sorting=-id')).items.map((i) => i.id);
      expect(desc).toEqual([...desc].sort((a, b) => b - a));
      expect(desc[0]).toBeGreaterThan(asc[asc.length - 1]!);
      // The default order is not by id (here: recently changed first).
      const dflt = (await get('')).items.map((i) => i.id);
      expect(dflt).not.toEqual(asc);
      const bad = await fetch(`${sb.url}/api/v2/banners.json?sorting=secret`, { headers: { authorization: `Bearer ${token}` } });
      expect(bad.status).toBe(400);
    } finally {
      await sb.close();
    }
  });

  it('without sorting a new object at the front skips an existing one; the client (sorting=id) lists each exactly once', async () => {
    const base = await startSandbox({ seed: 1, faults: new Set() });
    const before = await listAll(base, await mint(base), 'banners', 'id');
    await base.close();
    expect(before.length).toBe(54); // seed 1: two pages for the direct account

    // Raw paging in the default order while objects are created / edited between pages.
    const raw = await startSandbox({ seed: 1, faults: new Set(['list_churn']) });
    try {
      const seen = await listAll(raw, await mint(raw), 'banners');
      expect(raw.counters.churned).toBeGreaterThan(0);
      const missed = before.filter((id) => !seen.includes(id));
      expect(missed.length).toBeGreaterThan(0);
    } finally {
      await raw.close();
    }

    // The API client: every pre-existing banner (and group, plan) exactly once.
    const sb = await startSandbox({ seed: 1, faults: new Set(['list_churn']) });
    try {
      const api = apiFor(sb);
      const ids: number[] = [];
      for await (const page of api.banners()) for (const b of page) if (b.ok) ids.push(b.value.id);
      expect(sb.counters.churned).toBeGreaterThan(0);
      for (const id of before) expect(ids.filter((x) => x === id)).toHaveLength(1);
      expect(new Set(ids).size).toBe(ids.length);
      for (const kind of ['adPlans', 'adGroups'] as const) {
        const got: number[] = [];
        for await (const page of api[kind]()) for (const o of page) if (o.ok) got.push(o.value.id);
        expect(new Set(got).size).toBe(got.length);
      }
    } finally {
      await sb.close();
    }
  });

  it('the client sends sorting=id on every list, agency clients included', async () => {
    const sb = await startSandbox({ seed: 1, faults: new Set() });
    try {
      const seen: string[] = [];
      const fetchImpl = (async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
        const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
        if (!url.includes('/oauth2/')) seen.push(url);
        return fetch(input, init);
      }) as typeof fetch;
      const client = createHttpClient({ source: 'vk_ads', timeoutMs: 5000, maxRetries: 0, backoffBaseMs: 5, backoffMaxMs: 50, maxWaitMs: 5000, requestsPerSecond: 1000, concurrency: 4, fetchImpl });
      const agencyApp = VK_SANDBOX_APPS[1]!;
      const account: VkAccount = { id: 'agency_self', client_id: agencyApp.client_id, client_secret: agencyApp.client_secret };
      const tokens = createTokenStore({ dir: mkdtempSync(path.join(os.tmpdir(), 'vk-sbx-')), apiUrl: sb.url, http: client });
      const agencyApi = createVkApi({ http: client, baseUrl: sb.url, tokens, account });
      const clients: string[] = [];
      for await (const page of agencyApi.agencyClients()) for (const c of page) if (c.ok) clients.push(c.value.user.username);
      expect(clients).toEqual(['agency_client_1']);
      const api = apiFor(sb);
      for (const kind of ['adPlans', 'adGroups', 'banners'] as const) for await (const _ of api[kind]()) void _;
      expect(seen.filter((u) => /agency\/clients/.test(u))).not.toHaveLength(0);
      for (const u of seen) expect(new URL(u).searchParams.get('sorting')).toBe('id');
    } finally {
      await sb.close();
    }
  });
});

describe('vk sandbox: a stricter date cap (date_limit_92)', () => {
  it('a long range refused with ERR_LIMIT_EXCEEDED is split by dates first: few failing calls, every day back', async () => {
    const sb = await startSandbox({ seed: 7, faults: new Set(['date_limit_92']) });
    try {
      const token = await mint(sb);
      const all = (await (await fetch(`${sb.url}/api/v2/banners.json?_status__in=active,blocked,deleted&limit=50&sorting=id`, { headers: { authorization: `Bearer ${token}` } })).json()) as { items: Array<{ id: number }> };
      const ids = all.items.map((b) => b.id);
      expect(ids.length).toBeGreaterThan(20);
      const refused = await fetch(`${sb.url}/api/v2/statistics/banners/day.json?id=${ids[0]}&date_from=2025-01-01&date_to=2025-04-03`, { headers: { authorization: `Bearer ${token}` } });
      expect(await refused.json()).toMatchObject({ error: { code: 'ERR_LIMIT_EXCEEDED' } });
      const failed0 = sb.counters.limitExceeded;
      const chunks = await apiFor(sb).bannerDays(ids, '2025-01-01', '2025-12-31');
      expect(sb.counters.limitExceeded - failed0).toBeLessThanOrEqual(3);
      expect(chunks.every((c) => c.ids.length === ids.length)).toBe(true);
      const days = new Set(chunks.flatMap((c) => c.items.flatMap((i) => (i.rows as Array<{ date: string }>).map((r) => r.date))));
      expect(days.size).toBe(365);
      for (const id of ids) expect(chunks.flatMap((c) => c.items).filter((i) => i.id === id)).toHaveLength(chunks.length);
    } finally {
      await sb.close();
    }
  });

  it('a short range that is refused still halves the ids first', async () => {
    const sb = await startSandbox({ seed: 7, faults: new Set() });
    try {
      const token = await mint(sb);
      const all = (await (await fetch(`${sb.url}/api/v2/banners.json?_status__in=active,blocked,deleted&limit=50&sorting=id`, { headers: { authorization: `Bearer ${token}` } })).json()) as { items: Array<{ id: number }> };
      const many = Array.from({ length: 300 }, (_, i) => all.items[i % all.items.length]!.id);
      const chunks = await apiFor(sb).bannerDays(many, '2026-01-01', '2026-01-31');
      expect(sb.counters.limitExceeded).toBe(1);
      expect(chunks.map((c) => [c.ids.length, c.from, c.to])).toEqual([[150, '2026-01-01', '2026-01-31'], [150, '2026-01-01', '2026-01-31']]);
    } finally {
      await sb.close();
    }
  });
});

describe('vk sandbox: rate limits and chaos', () => {
  it('answers 429 once the per-second budget is spent; the client waits to the next second and succeeds', async () => {
    const sb = await startSandbox({ seed: 3, faults: new Set(['rate_limit']) });
    try {
      const token = await mint(sb);
      const answers = await Promise.all(Array.from({ length: 12 }, () => fetch(`${sb.url}/api/v2/user.json`, { headers: { authorization: `Bearer ${token}` } })));
      const limited = answers.filter((r) => r.status === 429);
      expect(limited.length).toBeGreaterThan(0);
      expect(limited[0]!.headers.get('x-ratelimit-rps-remaining')).toBe('0');
      expect(limited[0]!.headers.get('retry-after')).toBeNull();
      const api = apiFor(sb);
      const results = await Promise.all(Array.from({ length: 4 }, () => api.currency()));
      expect(results).toEqual(['RUB', 'RUB', 'RUB', 'RUB']);
    } finally {
      await sb.close();
    }
  });

  it('an exhausted hourly budget waits to the hour boundary, which the runtime refuses past HTTP_MAX_WAIT_MS', async () => {
    const sb = await startSandbox({ seed: 3, faults: new Set(['rate_limit_hourly']) });
    try {
      await expect(apiFor(sb).currency()).rejects.toMatchObject({ code: 'rate_limited', message: expect.stringMatching(/HTTP_MAX_WAIT_MS/) });
    } finally {
      await sb.close();
    }
  });

  it('computes 429 waits from Retry-After, then the daily/hourly/second boundary', () => {
    const now = Date.UTC(2026, 0, 10, 12, 30, 15, 400);
    expect(rateLimitWaitMs(new Headers({ 'retry-after': '2' }), now)).toBe(2000);
    expect(rateLimitWaitMs(new Headers({ 'x-ratelimit-rps-remaining': '0' }), now)).toBe(620);
    const hourly = rateLimitWaitMs(new Headers({ 'x-ratelimit-hourly-remaining': '0', 'x-ratelimit-rps-remaining': '3' }), now);
    expect(hourly).toBe(29 * 60_000 + 44_600 + 50);
    // Moscow midnight is 21:00 UTC.
    const daily = rateLimitWaitMs(new Headers({ 'x-ratelimit-daily-remaining': '0' }), now);
    expect(daily).toBe(8 * 3_600_000 + 29 * 60_000 + 44_600 + 50);
  });

  it('sends Retry-After when that fault is on; 5xx faults are retried; a truncated body is retried', async () => {
    const sb = await startSandbox({ seed: 3, faults: new Set(['rate_limit', 'retry_after', '5xx', 'malformed']) });
    try {
      const token = await mint(sb);
      const answers = await Promise.all(Array.from({ length: 12 }, () => fetch(`${sb.url}/api/v2/user.json`, { headers: { authorization: `Bearer ${token}` } })));
      expect(answers.some((r) => r.status === 429 && r.headers.get('retry-after') === '1')).toBe(true);
      expect(answers.some((r) => r.status >= 500)).toBe(true);
      await new Promise((r) => setTimeout(r, 1100));
      const api = apiFor(sb);
      const chunks = await api.bannerDays([10010001, 10010002], '2026-01-01', '2026-01-03');
      expect(chunks[0]!.items.length).toBeGreaterThanOrEqual(2);
      expect(sb.counters.errors5xx).toBeGreaterThan(0);
    } finally {
      await sb.close();
    }
  });
});
