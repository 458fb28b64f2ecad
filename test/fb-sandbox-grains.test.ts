// The Facebook sandbox's weekly buckets, hourly breakdown, page caps, latency and scaled worlds, checked on
// the wire against the world (world.ts) computed independently here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type FbSandbox } from '../loaders/facebook/sandbox.js';
import { adDayStats, adWeekStats, fbWorld, type WorldShape } from '../loaders/facebook/world.js';
import { addDays } from '../src/runtime/dates.js';

const SEED = 99;
type Json = Record<string, any>;

async function getJson(sb: FbSandbox, path: string, token: string): Promise<{ status: number; json: Json }> {
  const res = await fetch(path.startsWith('http') ? path : `${sb.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, json: (await res.json()) as Json };
}

/** Every row of a paged answer, following `next`. */
async function allRows(sb: FbSandbox, path: string, token: string): Promise<{ rows: Json[]; pages: number }> {
  const rows: Json[] = [];
  let pages = 0;
  let url: string | undefined = path;
  while (url) {
    const { json } = await getJson(sb, url, token);
    if (json.error) throw new Error(JSON.stringify(json.error));
    pages++;
    rows.push(...json.data);
    url = json.paging?.next;
  }
  return { rows, pages };
}

const ALL_ADS = encodeURIComponent(JSON.stringify([{ field: 'ad.effective_status', operator: 'IN', value: ['ACTIVE', 'PAUSED', 'ARCHIVED', 'DELETED'] }]));
const insights = (since: string, until: string, extra: string) =>
  `/v24.0/act_3001/insights?level=ad&limit=500&filtering=${ALL_ADS}&time_range=${encodeURIComponent(JSON.stringify({ since, until }))}&${extra}`;

describe('facebook sandbox: weekly and hourly insights', () => {
  let sb: FbSandbox;
  beforeAll(async () => {
    sb = await startSandbox({ seed: SEED, faults: new Set() });
  });
  afterAll(async () => {
    await sb?.close();
  });

  it('action items carry one key per requested action_attribution_windows entry, and none unasked', async () => {
    const plain = await allRows(sb, insights('2026-01-05', '2026-01-06', 'time_increment=1&fields=ad_id,actions'), 'fb-sb-3001');
    const withWindows = await allRows(sb, insights('2026-01-05', '2026-01-06', `time_increment=1&fields=ad_id,actions&action_attribution_windows=${encodeURIComponent('["1d_click","7d_click"]')}`), 'fb-sb-3001');
    const items = (rows: Json[]) => rows.flatMap((r) => (r.actions ?? []) as Json[]);
    expect(items(plain.rows).length).toBeGreaterThan(0);
    expect(new Set(items(plain.rows).map((a) => Object.keys(a).join(',')))).toEqual(new Set(['action_type,value']));
    expect(new Set(items(withWindows.rows).map((a) => Object.keys(a).join(',')))).toEqual(new Set(['action_type,value,1d_click,7d_click']));
    expect(items(withWindows.rows).every((a) => a['1d_click'] === a.value && a['7d_click'] === a.value)).toBe(true);
  });

  it('time_increment=7 buckets start at since; whole Monday weeks are the world week, the last bucket stops at until', async () => {
    const { rows } = await allRows(sb, insights('2026-01-05', '2026-01-21', 'time_increment=7&fields=ad_id,spend,impressions,reach,quality_ranking'), 'fb-sb-3001');
    expect(new Set(rows.map((r) => `${r.date_start}..${r.date_stop}`))).toEqual(new Set(['2026-01-05..2026-01-11', '2026-01-12..2026-01-18', '2026-01-19..2026-01-21']));
    const ads = sb.world.accounts.get('act_3001')!.ads;
    for (const r of rows) {
      const ad = ads.find((a) => a.id === r.ad_id)!;
      if (r.date_stop === addDays(r.date_start, 6)) {
        const w = adWeekStats(SEED, ad, r.date_start)!;
        expect({ spend: Math.round(Number(r.spend) * 100), impressions: Number(r.impressions), reach: Number(r.reach), q: r.quality_ranking }).toEqual({
          spend: w.spendCents, impressions: w.impressions, reach: w.reach, q: w.rankings.quality,
        });
      } else {
        const days = [0, 1, 2].map((i) => adDayStats(SEED, ad, addDays(r.date_start, i))).filter((d) => d !== null);
        expect(Number(r.impressions)).toBe(days.reduce((n, d) => n + d.impressions, 0));
        expect(Number(r.reach)).toBeGreaterThanOrEqual(Math.max(...days.map((d) => d.reach)));
        expect(Number(r.reach)).toBeLessThanOrEqual(days.reduce((n, d) => n + d.reach, 0));
      }
    }
    // Ads with no delivery in a bucket have no row for it.
    const expectedRows = ads.reduce((n, ad) => n + [0, 1].filter((k) => adWeekStats(SEED, ad, addDays('2026-01-05', 7 * k)) !== null).length, 0);
    expect(rows.filter((r) => r.date_stop !== '2026-01-21').length).toBe(expectedRows);
  });

  it('daily rows carry the world rankings', async () => {
    const { rows } = await allRows(sb, insights('2026-01-07', '2026-01-07', 'time_increment=1&fields=ad_id,quality_ranking,engagement_rate_ranking,conversion_rate_ranking'), 'fb-sb-3001');
    expect(rows.length).toBeGreaterThan(0);
    const ads = sb.world.accounts.get('act_3001')!.ads;
    for (const r of rows) {
      const d = adDayStats(SEED, ads.find((a) => a.id === r.ad_id)!, '2026-01-07')!;
      expect([r.quality_ranking, r.engagement_rate_ranking, r.conversion_rate_ranking]).toEqual([d.rankings.quality, d.rankings.engagement, d.rankings.conversion]);
    }
  });

  it('the hourly breakdown: "HH:00:00 - HH:59:59" rows that sum to the day, no reach or rankings, no pixel actions', async () => {
    const day = '2026-01-14';
    const { rows } = await allRows(
      sb,
      insights(day, day, 'time_increment=1&breakdowns=hourly_stats_aggregated_by_advertiser_time_zone&fields=ad_id,spend,impressions,clicks,reach,frequency,quality_ranking,actions'),
      'fb-sb-3001',
    );
    const ads = sb.world.accounts.get('act_3001')!.ads;
    const byAd = new Map<string, Json[]>();
    for (const r of rows) {
      expect(r.hourly_stats_aggregated_by_advertiser_time_zone).toMatch(/^(\d{2}):00:00 - \1:59:59$/);
      expect(r).not.toHaveProperty('reach');
      expect(r).not.toHaveProperty('frequency');
      expect(r).not.toHaveProperty('quality_ranking');
      expect((r.actions ?? []).filter((a: Json) => a.action_type.startsWith('offsite_conversion.'))).toEqual([]);
      byAd.set(r.ad_id, [...(byAd.get(r.ad_id) ?? []), r]);
    }
    const delivering = ads.filter((a) => adDayStats(SEED, a, day) !== null);
    expect([...byAd.keys()].sort()).toEqual(delivering.map((a) => a.id).sort());
    for (const ad of delivering) {
      const d = adDayStats(SEED, ad, day)!;
      const hours = byAd.get(ad.id)!;
      expect(new Set(hours.map((h) => h.hourly_stats_aggregated_by_advertiser_time_zone)).size).toBe(hours.length);
      const sum = (f: (h: Json) => number) => hours.reduce((n, h) => n + f(h), 0);
      expect(sum((h) => Math.round(Number(h.spend) * 100))).toBe(d.spendCents);
      expect(sum((h) => Number(h.impressions))).toBe(d.impressions);
      expect(sum((h) => Number(h.clicks))).toBe(d.clicks);
      for (const [type, value] of d.actions.filter(([t]) => !t.startsWith('offsite_conversion.'))) {
        expect(sum((h) => Number((h.actions ?? []).find((a: Json) => a.action_type === type)?.value ?? 0)), type).toBe(value);
      }
    }
  });

  it('insights pages hold up to 500 rows; structure edges stay at 50', async () => {
    const { rows, pages } = await allRows(sb, insights('2026-01-01', '2026-01-28', 'time_increment=1&fields=ad_id'), 'fb-sb-3001');
    expect(rows.length).toBeGreaterThan(50);
    expect(pages).toBe(Math.ceil(rows.length / 500));
    const ads = await getJson(sb, '/v24.0/act_3001/ads?fields=id&limit=500', 'fb-sb-3001');
    expect(ads.json.data.length).toBeLessThanOrEqual(50);
  });
});

describe('facebook sandbox: latency and scaled worlds', () => {
  it('latencyMs delays every answer with a timer: concurrent requests overlap', async () => {
    const sb = await startSandbox({ seed: SEED, faults: new Set(), latencyMs: 50 });
    try {
      const one = Date.now();
      await getJson(sb, '/v24.0/act_3001?fields=id', 'fb-sb-3001');
      expect(Date.now() - one).toBeGreaterThanOrEqual(49);
      const t0 = Date.now();
      const answers = await Promise.all(Array.from({ length: 20 }, () => getJson(sb, '/v24.0/act_3001?fields=id', 'fb-sb-3001')));
      const took = Date.now() - t0;
      expect(answers.every((a) => a.json.id === 'act_3001')).toBe(true);
      // 20 answers one after another would take 1 s; a busy wait would serialise them too.
      expect(took).toBeGreaterThanOrEqual(49);
      expect(took).toBeLessThan(500);
      expect(sb.counters.requests).toBe(21);
    } finally {
      await sb.close();
    }
  });

  it('a shape serves the scaled world, with env derived from its accounts and business tokens', async () => {
    const shape: WorldShape = { accounts: 12, adsPerAccount: 4, businesses: 3 };
    const world = fbWorld(SEED, shape);
    const sb = await startSandbox({ seed: SEED, faults: new Set(['revoked_token']), shape, faultAccounts: { revoked_token: [...world.accounts.values()].find((a) => !a.business)!.id } });
    try {
      const configured = JSON.parse(sb.env.FB_ACCOUNTS!) as Array<{ id: string; access_token?: string; business_id?: string }>;
      expect(configured.map((a) => a.id)).toEqual([...world.accounts.keys()]);
      expect(JSON.parse(sb.env.FB_BUSINESS_TOKENS!)).toEqual(world.businessTokens);
      for (const a of configured) {
        const acct = world.accounts.get(a.id)!;
        expect(a.business_id ?? null).toBe(acct.business?.id ?? null);
        expect(a.access_token ?? world.businessTokens[a.business_id!]).toBe(acct.token);
      }
      // A business token lists exactly its business's accounts.
      const [biz, token] = Object.entries(world.businessTokens)[0]!;
      const { rows } = await allRows(sb, '/v24.0/me/adaccounts?fields=id,business&limit=5', token);
      expect(rows.map((r) => r.id).sort()).toEqual([...world.accounts.values()].filter((a) => a.business?.id === biz).map((a) => a.id).sort());
      // The revoked account is the one named, not the default world's act_2002.
      const revoked = [...world.accounts.values()].find((a) => !a.business)!;
      expect((await getJson(sb, `/v24.0/${revoked.id}?fields=id`, revoked.token)).json.error.code).toBe(190);
    } finally {
      await sb.close();
    }
  });
});
