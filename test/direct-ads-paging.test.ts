// ads.get / campaigns.get / agencyclients.get against the sandbox: LimitedBy paging, FieldNames
// projection, the CampaignIds cap, mixed ad types with TextAd.Href only on text ads, changes.check.
import { afterEach, describe, expect, it } from 'vitest';
import { getAds, getCampaigns, type DirectAd, type DirectSession } from '../loaders/direct/api.js';
import { directWorld, startSandbox } from '../loaders/direct/sandbox.js';
import { adLink, chunks } from '../loaders/direct/transform.js';
import { createHttpClient } from '../src/runtime/http.js';
import { createLogger } from '../src/runtime/logger.js';
import type { RunningSandbox } from '../src/runtime/sandbox.js';

const SEED = 77;
const LOGIN = 'msk-concerts';
const log = createLogger('silent', false);

function session(sb: RunningSandbox): DirectSession {
  const http = createHttpClient({ source: 'direct', timeoutMs: 5000, maxRetries: 5, backoffBaseMs: 5, backoffMaxMs: 50, maxWaitMs: 20000, requestsPerSecond: 1000, concurrency: 5, log });
  return { http, baseUrl: sb.url, token: sb.env.DIRECT_TOKEN!, log, rateLimitWaitMs: 50 };
}

async function call(sb: RunningSandbox, service: string, body: object, headers: Record<string, string> = { 'client-login': LOGIN }): Promise<{ result?: Record<string, unknown>; error?: { error_code: number } }> {
  const res = await fetch(`${sb.url}/json/v5/${service}`, { method: 'POST', headers: { authorization: `Bearer ${sb.env.DIRECT_TOKEN}`, ...headers }, body: JSON.stringify(body) });
  return (await res.json()) as { result?: Record<string, unknown>; error?: { error_code: number } };
}

describe('direct ads.get paging', () => {
  let sb: RunningSandbox | undefined;
  afterEach(async () => {
    await sb?.close();
    sb = undefined;
  });

  it('follows LimitedBy until it is absent and gets every ad exactly once', async () => {
    sb = await startSandbox({ seed: SEED, faults: new Set(), pageSize: 3 });
    const world = directWorld(SEED);
    const campaignIds = world.campaigns.filter((c) => c.login === LOGIN).map((c) => String(c.id));
    expect(campaignIds.length).toBeGreaterThan(10);
    const s = session(sb);
    const seen: DirectAd[] = [];
    let pages = 0;
    for (const ids of chunks(campaignIds, 10)) {
      for await (const page of getAds(s, LOGIN, ids)) {
        pages++;
        expect(page.length).toBeLessThanOrEqual(3);
        seen.push(...page);
      }
    }
    const expected = world.ads.filter((a) => a.login === LOGIN).map((a) => a.id).sort((a, b) => a - b);
    expect(seen.map((a) => a.Id).sort((a, b) => a - b)).toEqual(expected);
    expect(pages).toBeGreaterThanOrEqual(Math.ceil(expected.length / 3));
    // Mixed types: only text ads carry TextAd.Href; image and responsive ads have no link.
    const types = new Set(seen.map((a) => a.Type));
    expect(types).toEqual(new Set(['TEXT_AD', 'RESPONSIVE_AD', 'IMAGE_AD']));
    for (const ad of seen) {
      if (ad.Type === 'TEXT_AD') expect(ad.TextAd?.Title).toMatch(/^Билеты: /);
      else expect(adLink(ad).href).toBeNull();
    }
    expect(seen.some((a) => a.TextAd?.Href?.includes('{campaign_id}'))).toBe(true);
  });

  it('sets LimitedBy to the number of the last object returned, only when more remain', async () => {
    sb = await startSandbox({ seed: SEED, faults: new Set(), pageSize: 4 });
    const ids = directWorld(SEED).campaigns.filter((c) => c.login === LOGIN).slice(0, 10).map((c) => c.id);
    const body = (offset: number) => ({ method: 'get', params: { SelectionCriteria: { CampaignIds: ids }, FieldNames: ['Id'], Page: { Limit: 10000, Offset: offset } } });
    const first = await call(sb, 'ads', body(0));
    expect(first.result!.LimitedBy).toBe(4);
    expect(Object.keys((first.result!.Ads as object[])[0]!)).toEqual(['Id']);
    let offset = 4;
    let last = first;
    while (last.result!.LimitedBy !== undefined) {
      last = await call(sb, 'ads', body(offset));
      offset = (last.result!.LimitedBy as number | undefined) ?? offset;
    }
    expect(last.result).not.toHaveProperty('LimitedBy');
  });

  it('refuses ads.get without Ids/CampaignIds/AdGroupIds and with more than 10 CampaignIds', async () => {
    sb = await startSandbox({ seed: SEED, faults: new Set() });
    const none = await call(sb, 'ads', { method: 'get', params: { SelectionCriteria: {}, FieldNames: ['Id'] } });
    expect(none.error?.error_code).toBe(4001);
    const eleven = await call(sb, 'ads', { method: 'get', params: { SelectionCriteria: { CampaignIds: Array.from({ length: 11 }, (_, i) => i + 1) }, FieldNames: ['Id'] } });
    expect(eleven.error?.error_code).toBe(4001);
    const s = session(sb);
    expect(() => getAds(s, LOGIN, Array.from({ length: 11 }, (_, i) => String(i + 1)))).toThrow(/1\.\.10 campaign ids/);
  });

  it('campaigns.get projects FieldNames and pages; Currency comes per campaign', async () => {
    sb = await startSandbox({ seed: SEED, faults: new Set(), pageSize: 5 });
    const all = [];
    for await (const page of getCampaigns(session(sb), 'spb-theatre')) all.push(...page);
    expect(all).toHaveLength(3);
    expect(new Set(all.map((c) => c.Currency))).toEqual(new Set(['KZT']));
    const onlyIds = await call(sb, 'campaigns', { method: 'get', params: { SelectionCriteria: {}, FieldNames: ['Id', 'Name'] } });
    const first = (onlyIds.result!.Campaigns as Array<Record<string, unknown>>)[0]!;
    expect(Object.keys(first)).toEqual(['Id', 'Name']);
    const badField = await call(sb, 'campaigns', { method: 'get', params: { SelectionCriteria: {}, FieldNames: ['Nope'] } });
    expect(badField.error?.error_code).toBe(8000);
  });

  it('agencyclients.get lists the clients for an agency token, pages, and refuses advertiser tokens (54)', async () => {
    sb = await startSandbox({ seed: SEED, faults: new Set(), pageSize: 1 });
    const first = await call(sb, 'agencyclients', { method: 'get', params: { SelectionCriteria: { Archived: 'NO' }, FieldNames: ['Login'], Page: { Limit: 10000, Offset: 0 } } }, {});
    expect(first.result).toEqual({ Clients: [{ Login: 'msk-concerts' }], LimitedBy: 1 });
    const second = await call(sb, 'agencyclients', { method: 'get', params: { SelectionCriteria: {}, FieldNames: ['Login', 'Currency'], Page: { Limit: 10000, Offset: 1 } } }, {});
    expect(second.result).toEqual({ Clients: [{ Login: 'spb-theatre', Currency: 'KZT' }] });
    const res = await fetch(`${sb.url}/json/v5/agencyclients`, {
      method: 'POST',
      headers: { authorization: `Bearer fake-direct-client-msk-concerts-${SEED}` },
      body: JSON.stringify({ method: 'get', params: { SelectionCriteria: {}, FieldNames: ['Login'] } }),
    });
    expect(((await res.json()) as { error: { error_code: number } }).error.error_code).toBe(54);
  });

  it('changes.check answers CampaignsStat with BorderDate and a new Timestamp', async () => {
    sb = await startSandbox({ seed: SEED, faults: new Set() });
    const ids = directWorld(SEED).campaigns.filter((c) => c.login === LOGIN).map((c) => c.id);
    const out = await call(sb, 'changes', { method: 'check', params: { CampaignIds: ids, Timestamp: '2026-01-01T00:00:00Z', FieldNames: ['CampaignsStat'] } });
    expect(out.result!.Timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    for (const c of out.result!.CampaignsStat as Array<{ CampaignId: number; BorderDate: string }>) {
      expect(ids).toContain(c.CampaignId);
      expect(c.BorderDate).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    }
    const bad = await call(sb, 'changes', { method: 'check', params: { FieldNames: ['CampaignsStat'] } });
    expect(bad.error?.error_code).toBe(8000);
  });
});
