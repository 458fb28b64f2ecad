// The Facebook sandbox's synthetic world (loaders/facebook/world.ts) on its own, no ClickHouse: scaled shapes,
// weekly numbers against the days they sum, the noise model's natural false-spike rate, and the planted
// CPR spikes and burnouts really looking like what their ground truth claims.
import { beforeAll, describe, expect, it, vi } from 'vitest';
import {
  adDayStats,
  adWeekStats,
  BUSINESS_TOKENS,
  expectedFbDaily,
  expectedFbWeekly,
  FB_SANDBOX_ACCOUNTS,
  fbWorld,
  MIN_WEEKLY_RESULTS,
  type AdWeek,
  type FbWorld,
  type SbAd,
  type WorldShape,
} from '../loaders/facebook/world.js';
import { addDays } from '../src/runtime/dates.js';
import { SANDBOX_EVENTS } from '../src/runtime/sandbox.js';

// FB_WORLD_SEED runs the same checks on another world.
const SEED = Number(process.env.FB_WORLD_SEED ?? 4242);
const START = '2026-01-05'; // a Monday
const WEEKS = 12;
const BENCH: WorldShape = { accounts: 174, adsPerAccount: 50, start: START, weeks: WEEKS, plant: true };
const mondays = Array.from({ length: WEEKS }, (_, k) => addDays(START, 7 * k));

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 === 1 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
};
const enough = (w: AdWeek): boolean => {
  const min = MIN_WEEKLY_RESULTS[w.family];
  return min !== undefined && w.results >= min;
};
const cpr = (w: AdWeek): number => w.spendCents / w.results;
const freq = (w: AdWeek): number => w.impressions / w.reach;
const ctr = (w: AdWeek): number => w.clicks / w.impressions;

/** Each qualifying week's CPR against the median of up to 4 earlier qualifying weeks (≥ 2), as v_cpr_anomalies judges. */
function cprRatios(weeks: Array<AdWeek | null>): Map<string, { ratio: number; baseWeeks: number }> {
  const out = new Map<string, { ratio: number; baseWeeks: number }>();
  const hist: number[] = [];
  for (const w of weeks) {
    if (!w || !enough(w)) continue;
    const base = hist.slice(-4);
    if (base.length >= 2) out.set(w.dateStart, { ratio: cpr(w) / median(base), baseWeeks: base.length });
    hist.push(cpr(w));
  }
  return out;
}

describe('facebook synthetic world', () => {
  let world: FbWorld;
  let buildMs: number;
  const weekly = new Map<string, Array<AdWeek | null>>();
  const ads = new Map<string, SbAd>();

  beforeAll(async () => {
    // A fresh module instance: an empty world cache, so the timing is a real build.
    vi.resetModules();
    const fresh = await import('../loaders/facebook/world.js');
    // CPU time, not wall time: other test files share the machine.
    const t0 = process.cpuUsage();
    fresh.fbWorld(SEED, BENCH);
    const used = process.cpuUsage(t0);
    buildMs = (used.user + used.system) / 1000;
    world = fbWorld(SEED, BENCH);
    for (const acct of world.accounts.values()) {
      for (const ad of acct.ads) {
        ads.set(ad.id, ad);
        weekly.set(ad.id, mondays.map((m) => adWeekStats(SEED, ad, m)));
      }
    }
  });

  it('keeps the default world: five accounts, their ids, tokens and businesses, nothing planted', () => {
    const def = fbWorld(SEED);
    expect([...def.accounts.keys()]).toEqual(FB_SANDBOX_ACCOUNTS.map((a) => a.id));
    for (const spec of FB_SANDBOX_ACCOUNTS) {
      const a = def.accounts.get(spec.id)!;
      expect([a.token, a.currency, a.business?.id ?? null]).toEqual([spec.token, spec.currency, spec.business?.id ?? null]);
    }
    expect(def.businessTokens).toEqual(BUSINESS_TOKENS);
    expect(def.planted).toEqual([]);
    expect(def.shape).toBeNull();
  });

  it('is a pure function of seed and shape: a fresh module instance builds the same world and the same days', async () => {
    vi.resetModules();
    const fresh = await import('../loaders/facebook/world.js');
    const again = fresh.fbWorld(SEED, BENCH);
    const strip = (w: FbWorld) => JSON.stringify([[...w.accounts.values()], w.businessTokens, w.planted]);
    expect(strip(again)).toBe(strip(world));
    const sample = [...ads.values()].filter((_, i) => i % 97 === 0);
    for (const ad of sample) {
      const twin = again.accounts.get(ad.accountId)!.ads.find((a) => a.id === ad.id)!;
      for (const m of mondays) expect(fresh.adWeekStats(SEED, twin, m)).toEqual(adWeekStats(SEED, ad, m));
    }
    // Another seed is another world.
    expect(strip(fbWorld(SEED + 1, BENCH))).not.toBe(strip(world));
  });

  it('builds 174 accounts × 50 ads fast, with consistent structure', () => {
    console.log(`[fb-world] 174×50 world built in ${buildMs.toFixed(0)} ms of CPU`);
    expect(buildMs).toBeLessThan(2000);
    expect(world.accounts.size).toBe(174);
    const adIds = new Set<string>();
    for (const acct of world.accounts.values()) {
      expect(acct.id).toMatch(/^act_5\d{4}$/);
      expect(acct.ads).toHaveLength(50);
      const campaigns = new Set(acct.campaigns.map((c) => c.id));
      const adsets = new Map(acct.adsets.map((s) => [s.id, s]));
      const creatives = new Map(acct.creatives.map((c) => [c.id, c]));
      for (const ad of acct.ads) {
        adIds.add(ad.id);
        expect(ad.accountId).toBe(acct.id);
        expect(campaigns.has(ad.campaignId)).toBe(true);
        expect(adsets.get(ad.adsetId)?.goal).toBe(ad.goal);
        const cr = creatives.get(ad.creativeId)!;
        const utm = /utm_content=([a-z_0-9]+)/.exec(cr.urlTags || cr.link)?.[1];
        expect(SANDBOX_EVENTS).toContain(utm);
        if (ad.stop !== null) expect(ad.stop >= ad.start).toBe(true);
      }
    }
    expect(adIds.size).toBe(174 * 50);
    const statuses = new Set([...ads.values()].map((a) => a.status));
    expect([...statuses].sort()).toEqual(['ACTIVE', 'ARCHIVED', 'DELETED', 'PAUSED']);
    const small = fbWorld(SEED, { accounts: 3, adsPerAccount: 7 });
    expect([...small.accounts.values()].map((a) => a.ads.length)).toEqual([7, 7, 7]);
    expect(small.planted).toEqual([]);
  });

  it('spreads accounts over several businesses with one token each, some without a business, in RUB, USD and EUR', () => {
    const accts = [...world.accounts.values()];
    const byBusiness = new Map<string, Set<string>>();
    for (const a of accts) if (a.business) byBusiness.set(a.business.id, (byBusiness.get(a.business.id) ?? new Set()).add(a.token));
    expect(byBusiness.size).toBeGreaterThanOrEqual(5);
    expect(Object.keys(world.businessTokens).sort()).toEqual([...byBusiness.keys()].sort());
    for (const [bid, tokens] of byBusiness) expect([...tokens]).toEqual([world.businessTokens[bid]]);
    const loose = accts.filter((a) => a.business === null);
    expect(loose.length).toBeGreaterThanOrEqual(5);
    expect(new Set(loose.map((a) => a.token)).size).toBe(loose.length);
    for (const a of loose) expect(Object.values(world.businessTokens)).not.toContain(a.token);
    const currencies = new Map<string, number>();
    for (const a of accts) currencies.set(a.currency, (currencies.get(a.currency) ?? 0) + 1);
    expect([...currencies.keys()].sort()).toEqual(['EUR', 'RUB', 'USD']);
    expect(currencies.get('RUB')!).toBeGreaterThan(accts.length / 2);
  });

  it('weekly stats: additive fields are the sums of the days, reach is unique (≥ the largest day, ≤ the sum)', () => {
    const sample = [...ads.values()].filter((_, i) => i % 23 === 0);
    const asOf = addDays(START, 7 * 6 + 3); // mid-week: late conversions cut the last days
    const modifier = (ad: SbAd, date: string) => (date.endsWith('5') ? { impressions: 0.5, reach: 0.8 } : undefined);
    let weeksChecked = 0;
    for (const ad of sample) {
      for (const m of mondays.slice(0, 8)) {
        for (const opts of [{ asOf: null, modifier: undefined }, { asOf, modifier }]) {
          const w = adWeekStats(SEED, ad, m, opts.asOf, opts.modifier);
          const days = Array.from({ length: 7 }, (_, i) => adDayStats(SEED, ad, addDays(m, i), opts.asOf, opts.modifier)).filter((d) => d !== null);
          if (days.length === 0) {
            expect(w).toBeNull();
            continue;
          }
          weeksChecked++;
          expect(w).not.toBeNull();
          const sum = (f: (d: (typeof days)[number]) => number) => days.reduce((n, d) => n + f(d), 0);
          expect([w!.days, w!.impressions, w!.clicks, w!.linkClicks, w!.spendCents, w!.results]).toEqual([
            days.length, sum((d) => d.impressions), sum((d) => d.clicks), sum((d) => d.linkClicks), sum((d) => d.spendCents), sum((d) => d.results),
          ]);
          const actions = new Map<string, number>();
          for (const d of days) for (const [t, v] of d.actions) actions.set(t, (actions.get(t) ?? 0) + v);
          expect(new Map(w!.actions)).toEqual(actions);
          expect(w!.reach).toBeGreaterThanOrEqual(Math.max(...days.map((d) => d.reach)));
          expect(w!.reach).toBeLessThanOrEqual(sum((d) => d.reach));
          if (days.length >= 3) expect(w!.reach).toBeLessThan(sum((d) => d.reach));
          expect([w!.dateStart, w!.dateStop]).toEqual([m, addDays(m, 6)]);
          if (w!.impressions < 500) expect(w!.rankings).toEqual({ quality: 'UNKNOWN', engagement: 'UNKNOWN', conversion: 'UNKNOWN' });
          else for (const r of Object.values(w!.rankings)) expect(r).toMatch(/^(ABOVE_AVERAGE|AVERAGE|BELOW_AVERAGE_(35|20|10))$/);
        }
      }
    }
    expect(weeksChecked).toBeGreaterThan(400);
    // Niche ads exist: some days under 500 impressions carry UNKNOWN rankings, the rest real ones.
    let unknown = 0;
    for (const ad of ads.values()) {
      const d = adDayStats(SEED, ad, addDays(START, 20));
      if (!d) continue;
      expect(d.rankings.engagement === 'UNKNOWN').toBe(d.impressions < 500);
      if (d.impressions < 500) unknown++;
    }
    expect(unknown).toBeGreaterThan(0);
  });

  it('expectedFbWeekly equals the daily truth summed per Monday week (and the reach of the ads’ weeks)', () => {
    const accountIds = [...world.accounts.keys()].filter((_, i) => i % 29 === 0);
    for (const acct of accountIds) {
      const week = expectedFbWeekly(SEED, acct, mondays[0]!, mondays[5]!, { shape: BENCH });
      const daily = expectedFbDaily(SEED, acct, mondays[0]!, addDays(mondays[5]!, 6), { shape: BENCH });
      expect(week.length).toBeGreaterThan(0);
      for (const w of week) {
        const days = daily.filter((d) => d.date >= w.weekStart && d.date <= addDays(w.weekStart, 6));
        expect([w.spendCents, w.impressions, w.clicks]).toEqual([
          days.reduce((n, d) => n + d.spendCents, 0), days.reduce((n, d) => n + d.impressions, 0), days.reduce((n, d) => n + d.clicks, 0),
        ]);
        const fam: Record<string, number> = {};
        for (const d of days) for (const [f, v] of Object.entries(d.results)) fam[f] = (fam[f] ?? 0) + v;
        // A pixel-lead ad's days without leads count as leadgen_form 0; the week shows website_lead.
        const sumResults = (r: Record<string, number>) => Object.values(r).reduce((n, v) => n + v, 0);
        expect(sumResults(w.results as Record<string, number>)).toBe(sumResults(fam));
        const delivering = world.accounts.get(acct)!.ads.map((ad) => adWeekStats(SEED, ad, w.weekStart)).filter((x) => x !== null);
        expect(w.rows).toBe(delivering.length);
        expect(w.reach).toBe(delivering.reduce((n, x) => n + x.reach, 0));
      }
    }
  });

  it('volumes: most delivering ad-weeks clear the weekly minimum results of their family', () => {
    let full = 0;
    let cleared = 0;
    for (const weeks of weekly.values()) {
      for (const w of weeks) {
        if (!w || w.days < 7 || MIN_WEEKLY_RESULTS[w.family] === undefined) continue;
        full++;
        if (w.results >= 2 * MIN_WEEKLY_RESULTS[w.family]!) cleared++;
      }
    }
    console.log(`[fb-world] full ad-weeks ${full}, with ≥ 2× the minimum results ${cleared} (${((100 * cleared) / full).toFixed(1)} %)`);
    expect(full).toBeGreaterThan(20000);
    expect(cleared / full).toBeGreaterThan(0.9);
  });

  it('lifecycle: the launch week costs more per result than the mature weeks after it', () => {
    const ratios: number[] = [];
    for (const [id, weeks] of weekly) {
      const ad = ads.get(id)!;
      const launch = weeks.find((w) => w !== null && ad.start >= w.dateStart && ad.start <= w.dateStop && w.days >= 4 && enough(w));
      if (!launch) continue;
      const later = weeks.filter((w) => w !== null && w.dateStart >= addDays(launch.dateStart, 14) && w.dateStart <= addDays(launch.dateStart, 35) && enough(w));
      if (later.length < 2) continue;
      ratios.push(cpr(launch) / median(later.map((w) => cpr(w!))));
    }
    expect(ratios.length).toBeGreaterThan(1000);
    expect(median(ratios)).toBeGreaterThan(1.1);
  });

  it('healthy ads rarely cross 1.2× their own CPR baseline (natural false spikes well under 1 %)', () => {
    const planted = new Set(world.planted.map((p) => p.adId));
    let judged = 0;
    let crossed = 0;
    for (const [id, weeks] of weekly) {
      if (planted.has(id)) continue;
      for (const { ratio } of cprRatios(weeks).values()) {
        judged++;
        if (ratio >= 1.2) crossed++;
      }
    }
    console.log(`[fb-world] healthy ad-weeks judged ${judged}, CPR ≥ 1.2× baseline ${crossed} (${((100 * crossed) / judged).toFixed(3)} %)`);
    expect(judged).toBeGreaterThan(20000);
    expect(crossed / judged).toBeLessThan(0.002);
  });

  it('a longer world (30 weeks, fatigue under way) keeps natural false spikes rare too', () => {
    const shape: WorldShape = { accounts: 30, adsPerAccount: 50, start: START, weeks: 30 };
    const long = fbWorld(SEED, shape);
    expect(long.planted).toEqual([]);
    let judged = 0;
    let crossed = 0;
    for (const acct of long.accounts.values()) {
      for (const ad of acct.ads) {
        const weeks = Array.from({ length: 30 }, (_, k) => adWeekStats(SEED, ad, addDays(START, 7 * k)));
        for (const { ratio } of cprRatios(weeks).values()) {
          judged++;
          if (ratio >= 1.2) crossed++;
        }
      }
    }
    console.log(`[fb-world] 30-week world: ad-weeks judged ${judged}, CPR ≥ 1.2× baseline ${crossed} (${((100 * crossed) / judged).toFixed(3)} %)`);
    expect(judged).toBeGreaterThan(15000);
    expect(crossed / judged).toBeLessThan(0.002);
  });

  it('plants 5–10 % spikes and 5–10 % burnouts, one pattern per ad, each after ≥ 4 weeks with enough results', () => {
    const total = ads.size;
    const spikes = world.planted.filter((p) => p.kind === 'cpr_spike');
    const burnouts = world.planted.filter((p) => p.kind === 'burnout');
    for (const n of [spikes.length, burnouts.length]) {
      expect(n / total).toBeGreaterThanOrEqual(0.05);
      expect(n / total).toBeLessThanOrEqual(0.1);
    }
    expect(new Set(world.planted.map((p) => p.adId)).size).toBe(world.planted.length);
    for (const p of world.planted) {
      const ad = ads.get(p.adId)!;
      expect(ad.accountId).toBe(p.accountId);
      const weeks = weekly.get(p.adId)!;
      const first = p.onsetWeek ?? p.spikeWeek;
      const before = weeks.filter((w) => w !== null && w.dateStart < first && enough(w));
      expect(before.length, p.adId).toBeGreaterThanOrEqual(4);
      const spike = weeks.find((w) => w?.dateStart === p.spikeWeek)!;
      expect(spike.family).toBe(p.family);
      expect(enough(spike), `${p.adId} spike week has enough results`).toBe(true);
      if (p.kind === 'burnout') {
        const gap = (Date.parse(p.spikeWeek) - Date.parse(p.onsetWeek!)) / (7 * 86_400_000);
        expect([1, 2]).toContain(gap);
      }
    }
  });

  it('planted spikes reach their factor in weekly CPR, and cpr_spike ads return to normal the week after', () => {
    const got: number[] = [];
    for (const p of world.planted) {
      const ratios = cprRatios(weekly.get(p.adId)!);
      const at = ratios.get(p.spikeWeek)!;
      expect(at.baseWeeks).toBe(4);
      got.push(at.ratio / p.factor);
      expect(at.ratio, `${p.kind} ${p.adId}`).toBeGreaterThanOrEqual(1.5);
      // The factor is the spike as a median-baseline view measures it (rounded to 0.01).
      expect(Math.abs(at.ratio - p.factor), `${p.kind} ${p.adId} factor ${p.factor}`).toBeLessThanOrEqual(0.005 + 1e-9);
      // No other anomaly on the planted ad: the spike week is the only one at ≥ 1.2×.
      for (const [week, r] of ratios) if (week !== p.spikeWeek) expect(r.ratio, `${p.adId} ${week}`).toBeLessThan(1.2);
      if (p.kind === 'cpr_spike') expect(ratios.get(addDays(p.spikeWeek, 7))?.ratio ?? 0).toBeLessThan(1.2);
    }
    console.log(`[fb-world] planted ${world.planted.length}: measured/planted factor median ${median(got).toFixed(3)}, min ${Math.min(...got).toFixed(3)}, max ${Math.max(...got).toFixed(3)}`);
  });

  it('burnout onsets show rising frequency and falling CTR before the spike, with CPR still below 1.2×', () => {
    const freqUp: number[] = [];
    const ctrDown: number[] = [];
    for (const p of world.planted.filter((x) => x.kind === 'burnout')) {
      const weeks = weekly.get(p.adId)!;
      const base = weeks.filter((w) => w !== null && w.dateStart < p.onsetWeek!).slice(-4) as AdWeek[];
      const bf = median(base.map(freq));
      const bc = median(base.map(ctr));
      const ratios = cprRatios(weeks);
      let firstF = bf;
      for (let m = p.onsetWeek!; m <= p.spikeWeek; m = addDays(m, 7)) {
        const w = weeks.find((x) => x?.dateStart === m)!;
        const f = freq(w) / bf;
        const c = ctr(w) / bc;
        if (m < p.spikeWeek) {
          expect(ratios.get(m)!.ratio, `${p.adId} ${m} onset CPR vs its baseline`).toBeLessThan(1.2);
          freqUp.push(f - 1);
          ctrDown.push(1 - c);
        }
        expect(f, `${p.adId} ${m} frequency vs baseline`).toBeGreaterThan(1.15);
        expect(c, `${p.adId} ${m} ctr vs baseline`).toBeLessThan(0.85);
        // Frequency climbs: every week after the onset's first is above it.
        if (m > p.onsetWeek!) expect(freq(w), `${p.adId} ${m} frequency rising`).toBeGreaterThan(firstF);
        else firstF = freq(w);
      }
    }
    console.log(`[fb-world] burnout onset weeks ${freqUp.length}: frequency +${(100 * median(freqUp)).toFixed(0)} % (median), CTR −${(100 * median(ctrDown)).toFixed(0)} % (median)`);
    expect(median(freqUp)).toBeGreaterThan(0.2);
    expect(median(freqUp)).toBeLessThan(0.45);
    expect(median(ctrDown)).toBeGreaterThan(0.2);
    expect(median(ctrDown)).toBeLessThan(0.35);
  });
});
