// The Facebook sandbox's clock: each account lives in its own time zone; nothing is delivered after its local
// today, today holds only the hours up to its local hour, and today's daily row is the sum of those hours.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type FbSandbox } from '../loaders/facebook/sandbox.js';
import { adDayStats, expectedFbDaily, expectedFbWeekly } from '../loaders/facebook/world.js';

const SEED = 99;
type Json = Record<string, any>;
// 03:30 UTC: 06:30 on the 14th in Moscow (act_1001), 22:30 on the 13th in New York (act_2001).
const NOW = new Date('2026-01-14T03:30:00Z');
const ALL_ADS = encodeURIComponent(JSON.stringify([{ field: 'ad.effective_status', operator: 'IN', value: ['ACTIVE', 'PAUSED', 'ARCHIVED', 'DELETED'] }]));

async function rows(sb: FbSandbox, account: string, token: string, since: string, until: string, extra = 'time_increment=1'): Promise<Json[]> {
  const out: Json[] = [];
  let url: string | undefined = `${sb.url}/v24.0/${account}/insights?level=ad&limit=500&filtering=${ALL_ADS}&time_range=${encodeURIComponent(JSON.stringify({ since, until }))}&fields=ad_id,spend,impressions,clicks,reach&${extra}`;
  while (url) {
    const json = (await (await fetch(url, { headers: { authorization: `Bearer ${token}` } })).json()) as Json;
    if (json.error) throw new Error(JSON.stringify(json.error));
    out.push(...json.data);
    url = json.paging?.next;
  }
  return out;
}
const cents = (rs: Json[]) => rs.reduce((n, r) => n + Math.round(Number(r.spend) * 100), 0);
const HOURLY = 'breakdowns=hourly_stats_aggregated_by_advertiser_time_zone';

describe('facebook sandbox clock', () => {
  let sb: FbSandbox;
  beforeAll(async () => {
    sb = await startSandbox({ seed: SEED, faults: new Set(), now: NOW });
  });
  afterAll(async () => {
    await sb?.close();
  });

  it('serves nothing after each account\'s local today, whatever the ads\' plans', async () => {
    const ny = await rows(sb, 'act_2001', 'fb-sb-2001', '2026-01-12', '2026-01-16');
    const msk = await rows(sb, 'act_1001', 'fb-sb-biz-9001', '2026-01-12', '2026-01-16');
    expect(new Set(ny.map((r) => r.date_start))).toEqual(new Set(['2026-01-12', '2026-01-13']));
    expect(new Set(msk.map((r) => r.date_start))).toEqual(new Set(['2026-01-12', '2026-01-13', '2026-01-14']));
    // The world has deliveries on those later days: the clock, not the plan, keeps them out.
    const ads = sb.world.accounts.get('act_2001')!.ads;
    expect(ads.some((ad) => adDayStats(SEED, ad, '2026-01-15') !== null)).toBe(true);
  });

  it('past days are whole; today has the hours up to the local hour, and its daily row is their sum', async () => {
    for (const [account, token, yesterday, today, hour] of [
      ['act_2001', 'fb-sb-2001', '2026-01-12', '2026-01-13', 22],
      ['act_1001', 'fb-sb-biz-9001', '2026-01-13', '2026-01-14', 6],
    ] as const) {
      const ads = sb.world.accounts.get(account)!.ads;
      const world = (day: string) => ads.reduce((n, ad) => n + (adDayStats(SEED, ad, day)?.spendCents ?? 0), 0);
      const past = await rows(sb, account, token, yesterday, yesterday);
      expect(cents(past), account).toBe(world(yesterday));
      const pastHours = await rows(sb, account, token, yesterday, yesterday, HOURLY);
      expect(cents(pastHours), account).toBe(world(yesterday));
      expect(Math.max(...pastHours.map((r) => Number(String(r.hourly_stats_aggregated_by_advertiser_time_zone).slice(0, 2)))), account).toBe(23);

      const day = await rows(sb, account, token, today, today);
      const hours = await rows(sb, account, token, today, today, HOURLY);
      const hourOf = (r: Json) => Number(String(r.hourly_stats_aggregated_by_advertiser_time_zone).slice(0, 2));
      expect(Math.max(...hours.map(hourOf)), account).toBe(hour);
      expect(cents(hours), account).toBe(cents(day));
      expect(hours.reduce((n, r) => n + Number(r.impressions), 0), account).toBe(day.reduce((n, r) => n + Number(r.impressions), 0));
      expect(cents(day), account).toBeLessThan(world(today));
      expect(cents(day), account).toBeGreaterThan(0);
      // A partial day still has reach, at most its impressions.
      for (const r of day) expect(Number(r.reach)).toBeLessThanOrEqual(Number(r.impressions));
    }
  });

  it('expectedFbDaily({ now }) is the daily truth as the sandbox serves it at that instant', async () => {
    for (const [account, token] of [['act_2001', 'fb-sb-2001'], ['act_1001', 'fb-sb-biz-9001']] as const) {
      const served = await rows(sb, account, token, '2026-01-12', '2026-01-16');
      const truth = expectedFbDaily(SEED, account, '2026-01-12', '2026-01-16', { now: NOW });
      const byDay = (rs: Json[]) => Object.fromEntries([...new Set(rs.map((r) => r.date_start as string))].sort().map((d) => [d, rs.filter((r) => r.date_start === d)]));
      expect(Object.entries(byDay(served)).map(([date, rs]) => ({ date, rows: rs.length, cents: cents(rs), impressions: rs.reduce((n, r) => n + Number(r.impressions), 0), clicks: rs.reduce((n, r) => n + Number(r.clicks), 0) })), account)
        .toEqual(truth.map((t) => ({ date: t.date, rows: t.rows, cents: t.spendCents, impressions: t.impressions, clicks: t.clicks })));
    }
  });

  it('a week that includes the local today is the sum of its days so far', async () => {
    const week = await rows(sb, 'act_2001', 'fb-sb-2001', '2026-01-12', '2026-01-18', 'time_increment=7');
    const days = await rows(sb, 'act_2001', 'fb-sb-2001', '2026-01-12', '2026-01-18');
    expect(cents(week)).toBe(cents(days));
    expect(new Set(days.map((r) => r.date_start))).toEqual(new Set(['2026-01-12', '2026-01-13']));
    // expectedFbWeekly({ now }) is that week as the account sees it; no week after its today.
    const truth = expectedFbWeekly(SEED, 'act_2001', '2026-01-12', '2026-01-19', { now: NOW });
    expect(truth.map((t) => ({ week: t.weekStart, rows: t.rows, cents: t.spendCents, reach: t.reach }))).toEqual([
      { week: '2026-01-12', rows: week.length, cents: cents(week), reach: week.reduce((n, r) => n + Number(r.reach), 0) },
    ]);
    // Without a clock the truth is the whole week, more than so far.
    expect(expectedFbWeekly(SEED, 'act_2001', '2026-01-12', '2026-01-12')[0]!.spendCents).toBeGreaterThan(cents(week));
  });

  it('the clock may be a function (a test moves time on)', async () => {
    let now = new Date('2026-01-14T03:30:00Z');
    const moving = await startSandbox({ seed: SEED, faults: new Set(), now: () => now });
    try {
      expect(new Set((await rows(moving, 'act_2001', 'fb-sb-2001', '2026-01-14', '2026-01-14')).map((r) => r.date_start)).size).toBe(0);
      now = new Date('2026-01-15T12:00:00Z');
      expect(cents(await rows(moving, 'act_2001', 'fb-sb-2001', '2026-01-14', '2026-01-14'))).toBe(sb.world.accounts.get('act_2001')!.ads.reduce((n, ad) => n + (adDayStats(SEED, ad, '2026-01-14')?.spendCents ?? 0), 0));
    } finally {
      await moving.close();
    }
  });
});
