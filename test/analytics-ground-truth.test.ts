// Scores the analytics views against the Facebook world's planted patterns (loaders/facebook/world.ts):
// the generated weeks of a scaled world go into a fresh warehouse as the loader would store them, then
//   v_cpr_anomalies: precision and recall against the planted CPR spikes (spike and burnout weeks) of at
//     least 1.5× with enough results that week (issue 5 target: both >= 0.95);
//   v_fb_burnout_weekly: the share of planted burnouts flagged high or critical at least one week before
//     their spike, against the false-alarm rate on ads with nothing planted.
// The confusion figures are printed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adWeekStats, fbWorld, MIN_WEEKLY_RESULTS, type PlantedPattern, type SbAd } from '../loaders/facebook/world.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

const SEED = 11;
const SHAPE = { accounts: 24, adsPerAccount: 40, weeks: 16, start: '2026-01-05', plant: true };
const MONDAYS = Array.from({ length: SHAPE.weeks }, (_, k) => new Date(Date.parse('2026-01-05T00:00:00Z') + k * 7 * 86_400_000).toISOString().slice(0, 10));

interface Loaded {
  weeks: Map<string, { results: number }>;
  ads: SbAd[];
}

function weeklyRows(): { rows: Array<Record<string, unknown>>; adsets: Array<Record<string, unknown>>; loaded: Loaded } {
  const world = fbWorld(SEED, SHAPE);
  const rows: Array<Record<string, unknown>> = [];
  const adsets: Array<Record<string, unknown>> = [];
  const loaded: Loaded = { weeks: new Map(), ads: [] };
  for (const acct of world.accounts.values()) {
    for (const s of acct.adsets) adsets.push({ account_id: acct.id, adset_id: s.id, campaign_id: s.campaignId, name: s.name, status: s.status, effective_status: s.status, optimization_goal: s.goal, _ver: 1 });
    for (const ad of acct.ads) {
      loaded.ads.push(ad);
      for (const monday of MONDAYS) {
        const w = adWeekStats(SEED, ad, monday);
        if (!w) continue;
        loaded.weeks.set(`${ad.id}|${monday}`, { results: w.results });
        rows.push({
          account_id: acct.id, week_start: monday, date_stop: w.dateStop, ad_id: ad.id, adset_id: ad.adsetId, campaign_id: ad.campaignId,
          ad_name: ad.name, adset_name: '', campaign_name: '', currency: acct.currency, objective: '', optimization_goal: ad.goal,
          impressions: w.impressions, reach: w.reach, frequency: 0, clicks: w.clicks, inline_link_clicks: w.linkClicks, spend: w.spendCents / 100,
          ctr: 0, inline_link_click_ctr: 0, cpm: 0, cpc: 0,
          quality_ranking: w.rankings.quality, engagement_rate_ranking: w.rankings.engagement, conversion_rate_ranking: w.rankings.conversion,
          'actions.type': w.actions.map((a) => a[0]), 'actions.value': w.actions.map((a) => a[1]),
          'action_values.type': w.actionValues.map((a) => a[0]), 'action_values.value': w.actionValues.map((a) => a[1]),
          'cost_per_action_type.type': [], 'cost_per_action_type.value': [], _hash: 0, _ver: 1, _loaded_at: '2026-05-01 00:00:00', _run_id: 'gt',
        });
      }
    }
  }
  return { rows, adsets, loaded };
}

const ratio = (a: number, b: number) => (b === 0 ? 1 : a / b);

describe('analytics views against the planted ground truth', () => {
  let wh: Warehouse;
  let planted: PlantedPattern[];
  let loaded: Loaded;
  beforeAll(async () => {
    wh = await freshWarehouse();
    const gen = weeklyRows();
    loaded = gen.loaded;
    planted = fbWorld(SEED, SHAPE).planted;
    await wh.client.insert({ table: 'stg_fb_adsets', values: gen.adsets, format: 'JSONEachRow' });
    for (let i = 0; i < gen.rows.length; i += 5000) await wh.client.insert({ table: 'stg_fb_insights_weekly', values: gen.rows.slice(i, i + 5000), format: 'JSONEachRow' });
  }, 300_000);
  afterAll(async () => wh?.drop());

  it('v_cpr_anomalies finds the planted spikes of >= 1.5× with enough results (precision and recall >= 0.95)', async () => {
    const scored = planted.filter((p) => p.factor >= 1.5 && (loaded.weeks.get(`${p.adId}|${p.spikeWeek}`)?.results ?? 0) >= (MIN_WEEKLY_RESULTS[p.family] ?? Infinity));
    const positives = new Set(scored.map((p) => `${p.adId}|${p.spikeWeek}`));
    const anyPlanted = new Set(planted.map((p) => `${p.adId}|${p.spikeWeek}`));
    const found = (await wh.query<{ ad_id: string; week_start: string }>('SELECT ad_id, toString(week_start) AS week_start FROM v_cpr_anomalies')).map((r) => `${r.ad_id}|${r.week_start}`);
    const tp = found.filter((k) => positives.has(k)).length;
    const fp = found.filter((k) => !anyPlanted.has(k));
    const ignored = found.length - tp - fp.length; // planted below 1.5× or short of results: not scored
    const fn = positives.size - tp;
    const precision = ratio(tp, tp + fp.length);
    const recall = ratio(tp, positives.size);
    console.log(`[ground truth] ${loaded.ads.length} ads, ${loaded.weeks.size} ad-weeks, ${planted.length} planted (${planted.filter((p) => p.kind === 'cpr_spike').length} spikes, ${planted.filter((p) => p.kind === 'burnout').length} burnouts)`);
    console.log(`[ground truth] CPR spikes >= 1.5x with enough results: ${positives.size}; detected ${found.length}: TP ${tp}, FP ${fp.length}, FN ${fn}, not scored ${ignored}; precision ${precision.toFixed(3)}, recall ${recall.toFixed(3)}`);
    if (fp.length) console.log(`[ground truth] false positives (first 10): ${fp.slice(0, 10).join(', ')}`);
    expect(positives.size).toBeGreaterThan(20);
    expect(precision).toBeGreaterThanOrEqual(0.95);
    expect(recall).toBeGreaterThanOrEqual(0.95);
  });

  it('v_fb_burnout_weekly flags planted burnouts high/critical at least a week before the spike, far more often than healthy ads', async () => {
    const burnouts = planted.filter((p) => p.kind === 'burnout');
    const touched = new Set(planted.map((p) => p.adId));
    const rows = await wh.query<{ ad_id: string; week_start: string; risk_level: string }>(
      "SELECT ad_id, toString(week_start) AS week_start, risk_level FROM v_fb_burnout_weekly WHERE risk_level IN ('high', 'critical')",
    );
    const flagged = new Map<string, string[]>();
    for (const r of rows) flagged.set(r.ad_id, [...(flagged.get(r.ad_id) ?? []), r.week_start]);
    const early = burnouts.filter((p) => (flagged.get(p.adId) ?? []).some((w) => w >= p.onsetWeek! && w < p.spikeWeek)).length;
    const healthyAds = loaded.ads.filter((a) => !touched.has(a.id));
    const healthyWeeks = [...loaded.weeks.keys()].filter((k) => !touched.has(k.split('|')[0]!));
    const healthyFlaggedWeeks = rows.filter((r) => !touched.has(r.ad_id)).length;
    const healthyFlaggedAds = healthyAds.filter((a) => flagged.has(a.id)).length;
    const share = ratio(early, burnouts.length);
    const falseWeeks = ratio(healthyFlaggedWeeks, healthyWeeks.length);
    const falseAds = ratio(healthyFlaggedAds, healthyAds.length);
    console.log(`[ground truth] burnouts flagged high/critical >= 1 week before the spike: ${early}/${burnouts.length} = ${share.toFixed(3)}`);
    console.log(`[ground truth] healthy ads: ${healthyFlaggedWeeks}/${healthyWeeks.length} ad-weeks flagged (${falseWeeks.toFixed(3)}), ${healthyFlaggedAds}/${healthyAds.length} ads flagged at least once (${falseAds.toFixed(3)})`);
    expect(burnouts.length).toBeGreaterThan(20);
    expect(share).toBeGreaterThanOrEqual(0.9);
    expect(falseWeeks).toBeLessThanOrEqual(0.05);
  });
});
