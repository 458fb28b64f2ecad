// The analytics model of sql/views/README.md written again in plain JavaScript, from raw weekly numbers, for
// the exactness tests: no SQL is shared with the views (different formulas where there is a choice: the
// slope is mean-centred here, sums-based in SQL).
export const METRICS = ['spend', 'impressions', 'reach', 'frequency', 'clicks', 'ctr', 'link_ctr', 'cpm', 'cpc', 'results', 'cpr', 'quality_score', 'engagement_score', 'conversion_score'] as const;
export type Metric = (typeof METRICS)[number];
type Vec = Record<Metric, number | null>;

export interface RawWeek {
  account: string;
  ad: string;
  week: string;
  family: string;
  spend: number;
  impressions: number;
  reach: number;
  clicks: number;
  link: number;
  results: number;
  quality: string;
  engagement: string;
  conversion: string;
}

export interface Settings {
  spikeRatio: number;
  minBaselineWeeks: number;
  scoreScale: number;
  maturityDays: number;
  minResults: Record<string, number>;
  deviation: Record<Metric, number>;
  weights: number[];
  fullAt: number[];
  levels: [number, number, number];
}

export const DEFAULTS: Settings = {
  spikeRatio: 1.2,
  minBaselineWeeks: 2,
  scoreScale: 0.5,
  maturityDays: 7,
  minResults: { messages: 5, leadgen_form: 5, website_lead: 5, purchase: 3, click: 50, default: 5 },
  deviation: { spend: 30, impressions: 0, reach: 0, frequency: 15, clicks: 0, ctr: -15, link_ctr: -15, cpm: 15, cpc: 0, results: -20, cpr: 20, quality_score: -20, engagement_score: -20, conversion_score: -20 },
  weights: [0.25, 0.15, 0.2, 0.15, 0.1, 0.1, 0.05],
  fullAt: [30, 10, -30, -10, 30, -30, 50],
  levels: [0.25, 0.5, 0.75],
};

const RANK: Record<string, number> = { ABOVE_AVERAGE: 5, AVERAGE: 4, BELOW_AVERAGE_35: 3, BELOW_AVERAGE_20: 2, BELOW_AVERAGE_10: 1 };

export function vector(x: RawWeek): Vec {
  return {
    spend: x.spend,
    impressions: x.impressions,
    reach: x.reach,
    frequency: x.reach > 0 ? x.impressions / x.reach : 0,
    clicks: x.clicks,
    ctr: x.impressions > 0 ? (x.clicks / x.impressions) * 100 : 0,
    link_ctr: x.impressions > 0 ? (x.link / x.impressions) * 100 : 0,
    cpm: x.impressions > 0 ? (x.spend / x.impressions) * 1000 : 0,
    cpc: x.clicks > 0 ? x.spend / x.clicks : null,
    results: x.results,
    cpr: x.results > 0 ? x.spend / x.results : null,
    quality_score: RANK[x.quality] ?? null,
    engagement_score: RANK[x.engagement] ?? null,
    conversion_score: RANK[x.conversion] ?? null,
  };
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function slope(points: Array<[number, number]>): number | null {
  if (points.length < 2) return null;
  const mx = points.reduce((a, p) => a + p[0], 0) / points.length;
  const my = points.reduce((a, p) => a + p[1], 0) / points.length;
  const sxx = points.reduce((a, p) => a + (p[0] - mx) ** 2, 0);
  if (sxx === 0) return null;
  return points.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0) / sxx;
}

const days = (a: string, b: string) => (Date.parse(`${a}T00:00:00Z`) - Date.parse(`${b}T00:00:00Z`)) / 86_400_000;

export interface FeatureRow {
  account: string;
  ad: string;
  week: string;
  index: number; // 0-based among the ad's delivered weeks
  minResults: number;
  enough: boolean;
  baselineWeeks: number;
  cur: Vec;
  base: Vec;
  delta: Vec;
  lag1: Vec;
  lag2: Vec;
  slope: Vec;
  lag1Week: string | null;
  lag2Week: string | null;
}

const nulls = (): Vec => Object.fromEntries(METRICS.map((m) => [m, null])) as Vec;

/** Per ad, its delivered weeks in order, with baselines, deltas, lags and slopes. */
export function features(weeks: RawWeek[], s: Settings = DEFAULTS): FeatureRow[] {
  const byAd = new Map<string, RawWeek[]>();
  for (const x of weeks) byAd.set(`${x.account}|${x.ad}`, [...(byAd.get(`${x.account}|${x.ad}`) ?? []), x]);
  const out: FeatureRow[] = [];
  for (const list of byAd.values()) {
    list.sort((a, b) => a.week.localeCompare(b.week));
    const vecs = list.map(vector);
    const need = list.map((x) => s.minResults[x.family] ?? s.minResults.default!);
    const enough = list.map((x, i) => x.results > 0 && x.results >= need[i]!);
    list.forEach((x, i) => {
      const earlier = [...Array(i).keys()].filter((j) => enough[j]).slice(-4);
      const base = nulls();
      const delta = nulls();
      const sl = nulls();
      for (const m of METRICS) {
        base[m] = median(earlier.map((j) => vecs[j]![m]).filter((v): v is number => v !== null));
        const v = vecs[i]![m];
        delta[m] = v !== null && base[m] !== null && base[m]! > 0 ? ((v - base[m]!) / base[m]!) * 100 : null;
        const pts: Array<[number, number]> = [];
        for (let j = Math.max(0, i - 3); j <= i; j++) {
          const y = vecs[j]![m];
          if (y !== null) pts.push([days(list[j]!.week, x.week) / 7, y]);
        }
        sl[m] = slope(pts);
      }
      out.push({
        account: x.account, ad: x.ad, week: x.week, index: i, minResults: need[i]!, enough: enough[i]!, baselineWeeks: earlier.length,
        cur: vecs[i]!, base, delta, slope: sl,
        lag1: i >= 1 ? vecs[i - 1]! : nulls(), lag2: i >= 2 ? vecs[i - 2]! : nulls(),
        lag1Week: i >= 1 ? list[i - 1]!.week : null, lag2Week: i >= 2 ? list[i - 2]!.week : null,
      });
    });
  }
  return out;
}

export type Deviation = [string, number, number];

/** Metrics whose delta crosses the threshold in the bad direction, strongest first (ties: metric order). */
export function deviations(r: FeatureRow, s: Settings = DEFAULTS): Deviation[] {
  return METRICS.map((m, i) => ({ m, i, d: r.delta[m], t: s.deviation[m] }))
    .filter((x) => x.t !== 0 && x.d !== null && x.d / x.t >= 1)
    .sort((a, b) => b.d! / b.t - a.d! / a.t || a.i - b.i)
    .map((x) => [x.m, r.cur[x.m] ?? 0, x.d!]);
}

export interface AnomalyRow {
  account: string;
  ad: string;
  week: string;
  current: number;
  baseline: number;
  deltaPct: number;
  results: number;
  baselineWeeks: number;
  score: number;
  confidence: number;
  triggers: Deviation[];
  preceding: Array<[number, string, Deviation[]]>;
}

/** The CPR spikes; with `today` (YYYY-MM-DD) only the weeks matured by then (week + 6 + maturityDays < today). */
export function anomalies(rows: FeatureRow[], s: Settings = DEFAULTS, today?: string): AnomalyRow[] {
  const out: AnomalyRow[] = [];
  for (const r of rows) {
    const cpr = r.cur.cpr;
    const base = r.base.cpr;
    if (today !== undefined && days(today, r.week) <= 6 + s.maturityDays) continue;
    if (!r.enough || r.baselineWeeks < s.minBaselineWeeks || cpr === null || base === null || !(cpr >= s.spikeRatio * base)) continue;
    const prev = (k: number) => rows.find((x) => x.account === r.account && x.ad === r.ad && x.index === r.index - k);
    const preceding: Array<[number, string, Deviation[]]> = [[0, r.week, deviations(r, s)]];
    for (const k of [1, 2]) {
      const p = prev(k);
      if (p) preceding.push([-k, p.week, deviations(p, s)]);
    }
    out.push({
      account: r.account, ad: r.ad, week: r.week, current: cpr, baseline: base, deltaPct: ((cpr - base) / base) * 100,
      results: r.cur.results!, baselineWeeks: r.baselineWeeks,
      score: 1 - Math.exp(-(cpr / base - s.spikeRatio) / s.scoreScale),
      confidence: (r.cur.results! / (r.cur.results! + r.minResults)) * (r.baselineWeeks / 4),
      triggers: deviations(r, s).filter((d) => d[0] !== 'cpr'),
      preceding,
    });
  }
  return out;
}

export const INDICATORS = ['frequency_delta', 'frequency_slope', 'ctr_delta', 'ctr_slope', 'cpc_delta', 'reach_delta', 'spend_delta'] as const;

export interface BurnoutRow {
  account: string;
  ad: string;
  week: string;
  baselineWeeks: number;
  indicators: Array<number | null>;
  score: number;
  level: string;
  drivers: Array<[string, number, number]>;
  predicted: number | null;
}

export function burnout(rows: FeatureRow[], s: Settings = DEFAULTS): BurnoutRow[] {
  return rows.map((r) => {
    const scored = r.baselineWeeks >= s.minBaselineWeeks;
    const rel = (m: Metric, v: number | null) => (scored && r.base[m] !== null && r.base[m]! > 0 && v !== null ? (v / r.base[m]!) * 100 : null);
    const dlt = (m: Metric) => (scored ? r.delta[m] : null);
    const indicators = [dlt('frequency'), rel('frequency', r.slope.frequency), dlt('ctr'), rel('ctr', r.slope.ctr), dlt('cpc'), dlt('reach'), dlt('spend')];
    const contributions = indicators.map((v, i) => s.weights[i]! * Math.min(Math.max((v ?? 0) / s.fullAt[i]!, 0), 1));
    const score = Math.min(contributions.reduce((a, b) => a + b, 0), 1);
    const level = score >= s.levels[2] ? 'critical' : score >= s.levels[1] ? 'high' : score >= s.levels[0] ? 'medium' : 'low';
    const drivers = INDICATORS.map((n, i) => ({ n, i, v: indicators[i] ?? 0, c: contributions[i]! }))
      .filter((x) => x.c > 0)
      .sort((a, b) => b.c - a.c || a.i - b.i)
      .slice(0, 3)
      .map((x): [string, number, number] => [x.n, x.v, x.c]);
    const cpm = r.cur.cpm ?? 0;
    const ctr = r.cur.ctr ?? 0;
    const cpmBase = r.base.cpm ?? 0;
    const ctrBase = r.base.ctr ?? 0;
    const predicted = scored && cpmBase > 0 && ctrBase > 0
      ? ((Math.max(cpm + (r.slope.cpm ?? 0), 0.1 * cpm) / cpmBase) / (Math.max(ctr + (r.slope.ctr ?? 0), 0.1 * ctr) / ctrBase) - 1) * 100
      : null;
    return { account: r.account, ad: r.ad, week: r.week, baselineWeeks: r.baselineWeeks, indicators, score, level, drivers, predicted };
  });
}
