// The Facebook sandbox follows the fake-server checklist (shared/api/facebook.md §10): versions, tokens,
// paging with `next` only when more data exists, effective_status filtering, numbers as strings, async jobs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type FbSandbox } from '../loaders/facebook/sandbox.js';

describe('facebook sandbox', () => {
  let sb: FbSandbox;
  const get = async (path: string, token = 'fb-sb-3001', init?: RequestInit) => {
    const res = await fetch(path.startsWith('http') ? path : `${sb.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init?.headers ?? {}) } });
    return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, any> };
  };
  beforeAll(async () => {
    sb = await startSandbox({ seed: 11, faults: new Set() });
  });
  afterAll(async () => {
    await sb?.close();
  });

  it('refuses expired versions (2635) and bad tokens (190), with usage headers', async () => {
    expect((await get('/v21.0/act_3001')).json.error.code).toBe(2635);
    const bad = await get('/v24.0/act_3001', 'nope');
    expect(bad.json.error).toMatchObject({ code: 190, type: 'OAuthException' });
    expect(bad.headers.get('x-app-usage')).toBeTruthy();
    const other = await get('/v24.0/act_1001');
    expect(other.json.error).toMatchObject({ code: 100, error_subcode: 33 });
  });

  it('serves accounts with business, /me/adaccounts for a business token', async () => {
    const a = await get('/v24.0/act_1001?fields=id,currency,business,account_status', 'fb-sb-biz-9001');
    expect(a.json).toEqual({ id: 'act_1001', currency: 'RUB', business: { id: '9001', name: 'Ticket Co' }, account_status: 1 });
    expect(a.headers.get('x-business-use-case-usage')).toContain('9001');
    const me = await get('/v24.0/me/adaccounts', 'fb-sb-biz-9001');
    expect(me.json.data.map((x: { id: string }) => x.id)).toEqual(['act_1001', 'act_1002']);
  });

  it('pages with next only when more data exists and hides archived/deleted unless listed', async () => {
    const all = JSON.stringify(['ACTIVE', 'PAUSED', 'ARCHIVED', 'DELETED']);
    let url: string | undefined = `/v24.0/act_3001/ads?fields=id,effective_status,creative{id}&limit=3&effective_status=${encodeURIComponent(all)}`;
    const ids: string[] = [];
    let pages = 0;
    while (url) {
      const page = await get(url);
      pages++;
      expect(page.json.paging.cursors.after).toBeTruthy();
      ids.push(...page.json.data.map((d: { id: string }) => d.id));
      url = page.json.paging.next;
    }
    expect(pages).toBe(Math.ceil(ids.length / 3));
    const plain = await get('/v24.0/act_3001/ads?fields=id,effective_status&limit=50');
    expect(plain.json.data.length).toBeLessThan(ids.length);
    expect(plain.json.data.every((d: { effective_status: string }) => !['ARCHIVED', 'DELETED'].includes(d.effective_status))).toBe(true);
    const refused = await get(`/v24.0/act_3001/campaigns?effective_status=${encodeURIComponent('["ADSET_PAUSED"]')}`);
    expect(refused.json.error).toMatchObject({ code: 100, error_subcode: 1487561 });
  });

  it('sends numbers as strings and walks async jobs through their states', async () => {
    const q = `level=ad&time_increment=1&time_range=${encodeURIComponent('{"since":"2026-01-05","until":"2026-01-06"}')}&fields=ad_id,spend,impressions,actions`;
    const sync = await get(`/v24.0/act_3001/insights?${q}`);
    const row = sync.json.data[0];
    expect(typeof row.spend).toBe('string');
    expect(typeof row.impressions).toBe('string');
    expect(row.date_start).toBe(row.date_stop);
    expect(sync.headers.get('x-fb-ads-insights-throttle')).toBeTruthy();
    const posted = await get(`/v24.0/act_3001/insights`, 'fb-sb-3001', { method: 'POST', body: q, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    const id = posted.json.report_run_id as string;
    expect((await get(`/v24.0/${id}/insights`)).json.error).toMatchObject({ code: 2601, error_subcode: 1815107 });
    const states: string[] = [];
    for (let i = 0; i < 5; i++) states.push((await get(`/v24.0/${id}`)).json.async_status);
    expect(states).toEqual(['Job Not Started', 'Job Started', 'Job Running', 'Job Running', 'Job Completed']);
    const rows = await get(`/v24.0/${id}/insights?limit=50`);
    expect(rows.json.data.length).toBe(sync.json.data.length);
  });
});
