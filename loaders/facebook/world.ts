// The Facebook sandbox's synthetic world and its ground truth: accounts, structure and per-ad-day statistics
// as pure functions of the seed. The fake server (sandbox.ts) serves it; tests and benches score against it.
import { formatInZone } from '../../src/runtime/dates.js';
import { hashSeed, SANDBOX_EVENTS, seededRandom } from '../../src/runtime/sandbox.js';

// Day arithmetic on the hot path (millions of ad-days in benches): day strings ⇄ day numbers, memoised.
const DAY_MS = 86_400_000;
const dayNums = new Map<string, number>();
const dayStrs = new Map<number, string>();
function dayNum(day: string): number {
  let n = dayNums.get(day);
  if (n === undefined) {
    n = Math.round(Date.parse(`${day}T00:00:00Z`) / DAY_MS);
    dayNums.set(day, n);
  }
  return n;
}
function dayStr(n: number): string {
  let s = dayStrs.get(n);
  if (s === undefined) {
    s = new Date(n * DAY_MS).toISOString().slice(0, 10);
    dayStrs.set(n, s);
  }
  return s;
}

/** addDays on the memoised day numbers (same answers, no Date work once a day has been seen). */
const plusDays = (day: string, n: number): string => dayStr(dayNum(day) + n);

export type SbStatus = 'ACTIVE' | 'PAUSED' | 'ARCHIVED' | 'DELETED';
export type SbGoal = 'LINK_CLICKS' | 'CONVERSATIONS' | 'LEAD_GENERATION' | 'VALUE' | 'THRUPLAY';
export type SbFamily = 'click' | 'messages' | 'leadgen_form' | 'website_lead' | 'purchase' | 'video_view';

export interface SbAd {
  id: string;
  accountId: string;
  campaignId: string;
  adsetId: string;
  creativeId: string;
  name: string;
  status: SbStatus;
  goal: SbGoal;
  /** LEAD_GENERATION ads: an instant form (lead_grouped) or a pixel lead on the site. */
  leadKind: 'form' | 'pixel';
  /** First and last day of delivery (inclusive); null = still running. */
  start: string;
  stop: string | null;
  created: string;
  updated: string;
  /** Spend per impression relative to a RUB account. */
  priceScale: number;
  /** Planted pattern effects (scaled worlds with `plant`): multipliers on the days they cover. */
  plan?: PlanStep[];
}
/** Multipliers on one ad-day: delivery volume, clicks per impression, spend per impression, results per link click, reach. */
export interface DayEffect {
  impressions?: number;
  ctr?: number;
  price?: number;
  conversion?: number;
  reach?: number;
}
export interface PlanStep {
  since: string;
  until: string;
  effect: DayEffect;
}
export interface SbAdset {
  id: string;
  campaignId: string;
  name: string;
  status: SbStatus;
  goal: SbGoal;
  dailyBudget: number;
  created: string;
  updated: string;
}
export interface SbCampaign {
  id: string;
  name: string;
  status: SbStatus;
  objective: string;
  created: string;
  updated: string;
}
export interface SbCreative {
  id: string;
  name: string;
  link: string;
  urlTags: string;
  /** true: the link sits in object_story_spec.link_data (no link_url). */
  inStorySpec: boolean;
}
export interface SbAccount {
  id: string;
  name: string;
  currency: 'RUB' | 'USD' | 'EUR';
  timezone: string;
  business: { id: string; name: string } | null;
  token: string;
  campaigns: SbCampaign[];
  adsets: SbAdset[];
  ads: SbAd[];
  creatives: SbCreative[];
}

/** Accounts of the synthetic world: two businesses, one account without a business, three currencies. */
export const FB_SANDBOX_ACCOUNTS = [
  { id: 'act_1001', currency: 'RUB', timezone: 'Europe/Moscow', business: { id: '9001', name: 'Ticket Co' }, token: 'fb-sb-biz-9001', campaigns: 4, label: 'ticketco' },
  { id: 'act_1002', currency: 'RUB', timezone: 'Europe/Moscow', business: { id: '9001', name: 'Ticket Co' }, token: 'fb-sb-biz-9001', campaigns: 3 },
  { id: 'act_2001', currency: 'USD', timezone: 'America/New_York', business: { id: '9002', name: 'Events Agency' }, token: 'fb-sb-2001', campaigns: 2, label: 'agency-usd' },
  { id: 'act_2002', currency: 'EUR', timezone: 'Europe/Berlin', business: { id: '9002', name: 'Events Agency' }, token: 'fb-sb-2002', campaigns: 2 },
  { id: 'act_3001', currency: 'RUB', timezone: 'Europe/Moscow', business: null, token: 'fb-sb-3001', campaigns: 2 },
] as const;
export const BUSINESS_TOKENS: Record<string, string> = { '9001': 'fb-sb-biz-9001' };
/** The account whose token the `revoked_token` fault revokes; `buc_block`, `code17`, `throttle` hit these. */
export const FB_FAULT_ACCOUNTS = { revoked_token: 'act_2002', buc_block: 'act_2001', code17: 'act_1002', throttle: 'act_1001' } as const;

const GOALS: readonly SbGoal[] = ['LINK_CLICKS', 'CONVERSATIONS', 'LEAD_GENERATION', 'VALUE', 'THRUPLAY'];
const OBJECTIVE: Record<SbGoal, string> = { LINK_CLICKS: 'OUTCOME_TRAFFIC', CONVERSATIONS: 'OUTCOME_ENGAGEMENT', LEAD_GENERATION: 'OUTCOME_LEADS', VALUE: 'OUTCOME_SALES', THRUPLAY: 'OUTCOME_AWARENESS' };
const WORLD_START = '2025-11-20';

const p2 = (n: number) => String(n).padStart(2, '0');

/** Object datetimes as Meta sends them: `YYYY-MM-DDTHH:MM:SS±hhmm`. */
function stamp(day: string, rng: () => number): string {
  return `${day}T${p2(Math.floor(rng() * 24))}:${p2(Math.floor(rng() * 60))}:${p2(Math.floor(rng() * 60))}${rng() < 0.5 ? '-0700' : '+0300'}`;
}

function buildAccount(seed: number, spec: (typeof FB_SANDBOX_ACCOUNTS)[number]): SbAccount {
  const rng = seededRandom(hashSeed(seed, 'fb-account', spec.id));
  const num = spec.id.slice(4);
  const acct: SbAccount = {
    id: spec.id,
    name: `Sandbox ${spec.id} (${spec.currency})`,
    currency: spec.currency,
    timezone: spec.timezone,
    business: spec.business,
    token: spec.token,
    campaigns: [],
    adsets: [],
    ads: [],
    creatives: [],
  };
  const priceScale = spec.currency === 'RUB' ? 1 : 1 / 90;
  for (let c = 0; c < spec.campaigns; c++) {
    const campaignId = `2385${num}${p2(c + 1)}`;
    // The last campaign of bigger accounts is archived: its ads' history still counts.
    const cStatus: SbStatus = c === spec.campaigns - 1 && spec.campaigns > 2 ? 'ARCHIVED' : 'ACTIVE';
    const cDay = plusDays(WORLD_START, Math.floor(rng() * 20));
    const goal0 = GOALS[(hashSeed(seed, spec.id, c) + c) % GOALS.length]!;
    acct.campaigns.push({ id: campaignId, name: `Campaign ${c + 1} ${spec.id}`, status: cStatus, objective: OBJECTIVE[goal0], created: stamp(cDay, rng), updated: stamp(plusDays(cDay, 1), rng) });
    const nAdsets = 2 + Math.floor(rng() * 2);
    for (let s = 0; s < nAdsets; s++) {
      const adsetId = `${campaignId}${p2(s + 1)}`;
      const goal = s === 0 ? goal0 : GOALS[Math.floor(rng() * GOALS.length)]!;
      const sStatus: SbStatus = cStatus !== 'ACTIVE' ? cStatus : rng() < 0.15 ? 'PAUSED' : 'ACTIVE';
      acct.adsets.push({ id: adsetId, campaignId, name: `Ad set ${s + 1} ${goal}`, status: sStatus, goal, dailyBudget: (5 + Math.floor(rng() * 50)) * (spec.currency === 'RUB' ? 10000 : 100), created: stamp(cDay, rng), updated: stamp(plusDays(cDay, 2), rng) });
      const nAds = 2 + Math.floor(rng() * 3);
      for (let a = 0; a < nAds; a++) {
        const adId = `${adsetId}${p2(a + 1)}`;
        const start = plusDays(cDay, Math.floor(rng() * 45));
        const roll = rng();
        const status: SbStatus = sStatus !== 'ACTIVE' && sStatus !== 'PAUSED' ? sStatus : roll < 0.15 ? 'ARCHIVED' : roll < 0.25 ? 'DELETED' : roll < 0.35 ? 'PAUSED' : 'ACTIVE';
        const stop = status === 'ACTIVE' ? null : plusDays(start, 8 + Math.floor(rng() * 25));
        const event = SANDBOX_EVENTS[Math.floor(rng() * SANDBOX_EVENTS.length)]!;
        const creativeId = `1200${adId}`;
        const inStorySpec = rng() < 0.3;
        const tagsInLink = rng() < 0.25;
        const tags = `utm_source=facebook&utm_medium=paid&utm_campaign=c${campaignId}&utm_content=${event}`;
        acct.creatives.push({
          id: creativeId,
          name: `Creative ${adId}`,
          link: tagsInLink ? `https://tickets.example.ru/e/${event}?${tags}` : `https://tickets.example.ru/e/${event}`,
          urlTags: tagsInLink ? '' : tags,
          inStorySpec,
        });
        acct.ads.push({
          id: adId,
          accountId: spec.id,
          campaignId,
          adsetId,
          creativeId,
          name: `Ad ${adId}`,
          status,
          goal,
          leadKind: rng() < 0.5 ? 'form' : 'pixel',
          start,
          stop,
          created: stamp(start, rng),
          updated: stamp(stop ?? plusDays(start, 3), rng),
          priceScale,
        });
      }
    }
  }
  return acct;
}

/** A scaled world: `accounts` × `adsPerAccount` ads delivering from `start` for `weeks` weeks. */
export interface WorldShape {
  accounts: number;
  adsPerAccount: number;
  /** Businesses sharing one token each (default: one per ~12 accounts, at least 2 from 4 accounts); every tenth account has none. */
  businesses?: number;
  /** First delivery day, YYYY-MM-DD (default 2026-01-05). */
  start?: string;
  /** Weeks the world's launches, stops and planted patterns fall within (default 12). */
  weeks?: number;
  /** Plant CPR spikes and burnouts (ground truth in `FbWorld.planted`). */
  plant?: boolean;
}

export interface PlantedPattern {
  kind: 'cpr_spike' | 'burnout';
  accountId: string;
  adId: string;
  family: SbFamily;
  /** Monday of the CPR spike. */
  spikeWeek: string;
  /** Burnout: the first week of rising frequency and falling CTR, 1–2 weeks before spikeWeek. */
  onsetWeek?: string;
  /** Planted CPR multiple at spikeWeek against the ad's own untouched CPR. */
  factor: number;
  /** What moved at the spike: spend per impression, results per click, or clicks per impression. */
  cause: 'price' | 'conversion' | 'ctr';
}

export interface FbWorld {
  accounts: Map<string, SbAccount>;
  /** Business id → the one token that reads all its accounts. */
  businessTokens: Record<string, string>;
  planted: PlantedPattern[];
  shape: WorldShape | null;
}

const SHAPE_START = '2026-01-05';
const SHAPE_WEEKS = 12;

function mondayOf(day: string): string {
  const dow = (new Date(`${day}T00:00:00Z`).getUTCDay() + 6) % 7;
  return plusDays(day, -dow);
}

const minDayStr = (a: string, b: string): string => (a < b ? a : b);

function normalShape(shape: WorldShape): Required<WorldShape> {
  const accounts = Math.floor(shape.accounts);
  const ads = Math.floor(shape.adsPerAccount);
  if (!(accounts >= 1 && accounts <= 9999)) throw new Error(`world shape: accounts must be 1..9999, got ${shape.accounts}`);
  if (!(ads >= 1 && ads <= 9999)) throw new Error(`world shape: adsPerAccount must be 1..9999, got ${shape.adsPerAccount}`);
  const weeks = Math.floor(shape.weeks ?? SHAPE_WEEKS);
  if (!(weeks >= 1 && weeks <= 520)) throw new Error(`world shape: weeks must be 1..520, got ${shape.weeks}`);
  const businesses = Math.floor(shape.businesses ?? (accounts < 4 ? 1 : Math.max(2, Math.round(accounts / 12))));
  if (!(businesses >= 0 && businesses <= 999)) throw new Error(`world shape: businesses must be 0..999, got ${shape.businesses}`);
  const start = shape.start ?? SHAPE_START;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(start) || Number.isNaN(Date.parse(`${start}T00:00:00Z`))) throw new Error(`world shape: start must be YYYY-MM-DD, got ${start}`);
  return { accounts, adsPerAccount: ads, businesses, start, weeks, plant: shape.plant ?? false };
}

const TIMEZONE = { RUB: 'Europe/Moscow', USD: 'America/New_York', EUR: 'Europe/Berlin' } as const;

/** Scaled accounts: ids act_5NNNN, businesses 95NNN with one token each, every tenth account (the 5th, 15th, …) on its own token. */
function buildScaled(seed: number, shape: Required<WorldShape>): { accounts: SbAccount[]; businessTokens: Record<string, string> } {
  const rng = seededRandom(hashSeed(seed, 'fb-scaled', shape.accounts, shape.adsPerAccount, shape.businesses, shape.start, shape.weeks));
  const businessTokens: Record<string, string> = {};
  const accounts: SbAccount[] = [];
  const lastDay = plusDays(mondayOf(shape.start), shape.weeks * 7 - 1);
  let inBusiness = 0;
  for (let i = 0; i < shape.accounts; i++) {
    const num = `5${String(i + 1).padStart(4, '0')}`;
    const id = `act_${num}`;
    // Mostly RUB with USD and EUR accounts spread through, as an agency's client list looks.
    const currency = i % 7 === 1 ? 'USD' : i % 7 === 2 ? 'EUR' : 'RUB';
    let business: SbAccount['business'] = null;
    let token = `fb-sb-${num}`;
    if (shape.businesses > 0 && i % 10 !== 4) {
      // The first accounts open every business, the rest land unevenly (a few big clients, many small).
      const b = inBusiness < shape.businesses ? inBusiness : Math.floor(rng() ** 1.6 * shape.businesses);
      inBusiness++;
      const bid = `95${String(b + 1).padStart(3, '0')}`;
      business = { id: bid, name: `Business ${bid}` };
      token = `fb-sb-biz-${bid}`;
      businessTokens[bid] = token;
    }
    const acct: SbAccount = { id, name: `Sandbox ${id} (${currency})`, currency, timezone: TIMEZONE[currency], business, token, campaigns: [], adsets: [], ads: [], creatives: [] };
    const priceScale = currency === 'RUB' ? 1 : 1 / 90;
    const budgetUnit = currency === 'RUB' ? 10000 : 100;
    for (let c = 1; acct.ads.length < shape.adsPerAccount; c++) {
      const campaignId = `2385${num}${String(c).padStart(3, '0')}`;
      const cStatus: SbStatus = rng() < 0.08 ? 'ARCHIVED' : 'ACTIVE';
      const cDay = plusDays(shape.start, -3 - Math.floor(rng() * 10));
      const goal0 = GOALS[Math.floor(rng() * GOALS.length)]!;
      acct.campaigns.push({ id: campaignId, name: `Campaign ${c} ${id}`, status: cStatus, objective: OBJECTIVE[goal0], created: stamp(cDay, rng), updated: stamp(plusDays(cDay, 1), rng) });
      const nAdsets = 1 + Math.floor(rng() * 3);
      for (let s = 1; s <= nAdsets && acct.ads.length < shape.adsPerAccount; s++) {
        const adsetId = `${campaignId}${String(s).padStart(2, '0')}`;
        const goal = s === 1 ? goal0 : GOALS[Math.floor(rng() * GOALS.length)]!;
        const sStatus: SbStatus = cStatus !== 'ACTIVE' ? cStatus : rng() < 0.1 ? 'PAUSED' : 'ACTIVE';
        acct.adsets.push({ id: adsetId, campaignId, name: `Ad set ${s} ${goal}`, status: sStatus, goal, dailyBudget: (5 + Math.floor(rng() * 50)) * budgetUnit, created: stamp(cDay, rng), updated: stamp(plusDays(cDay, 2), rng) });
        const nAds = 2 + Math.floor(rng() * 5);
        for (let a = 1; a <= nAds && acct.ads.length < shape.adsPerAccount; a++) {
          const adId = `${adsetId}${String(a).padStart(2, '0')}`;
          // Half the ads launch in the first days, the rest through the first two thirds of the span.
          const lr = rng();
          const offset = lr < 0.5 ? Math.floor(rng() * 3) : Math.floor(rng() * Math.max(1, shape.weeks * 7 * 0.66));
          const start = plusDays(shape.start, offset);
          const roll = rng();
          const status: SbStatus = cStatus === 'ARCHIVED' ? 'ARCHIVED' : roll < 0.1 ? 'ARCHIVED' : roll < 0.18 ? 'DELETED' : roll < 0.3 ? 'PAUSED' : 'ACTIVE';
          let stop = status === 'ACTIVE' ? null : plusDays(start, 10 + Math.floor(rng() * shape.weeks * 7));
          if (stop !== null && stop > lastDay) stop = lastDay;
          if (stop !== null && stop < start) stop = start;
          const event = SANDBOX_EVENTS[Math.floor(rng() * SANDBOX_EVENTS.length)]!;
          const creativeId = `1200${adId}`;
          const inStorySpec = rng() < 0.3;
          const tagsInLink = rng() < 0.25;
          const tags = `utm_source=facebook&utm_medium=paid&utm_campaign=c${campaignId}&utm_content=${event}`;
          acct.creatives.push({
            id: creativeId,
            name: `Creative ${adId}`,
            link: tagsInLink ? `https://tickets.example.ru/e/${event}?${tags}` : `https://tickets.example.ru/e/${event}`,
            urlTags: tagsInLink ? '' : tags,
            inStorySpec,
          });
          acct.ads.push({
            id: adId, accountId: id, campaignId, adsetId, creativeId, name: `Ad ${adId}`, status, goal,
            leadKind: rng() < 0.5 ? 'form' : 'pixel',
            start, stop,
            created: stamp(plusDays(start, -1), rng),
            updated: stamp(stop ?? plusDays(start, 3), rng),
            priceScale,
          });
        }
      }
    }
    accounts.push(acct);
  }
  return { accounts, businessTokens };
}

const worldCache = new Map<string, FbWorld>();
export function fbWorld(seed: number, shape?: WorldShape): FbWorld {
  const norm = shape ? normalShape(shape) : null;
  const key = `${seed}|${norm ? JSON.stringify(norm) : ''}`;
  const cached = worldCache.get(key);
  if (cached) return cached;
  let world: FbWorld;
  if (!norm) {
    world = { accounts: new Map(FB_SANDBOX_ACCOUNTS.map((s) => [s.id, buildAccount(seed, s)])), businessTokens: { ...BUSINESS_TOKENS }, planted: [], shape: null };
  } else {
    const { accounts, businessTokens } = buildScaled(seed, norm);
    const planted = norm.plant ? plantPatterns(seed, norm, accounts) : [];
    world = { accounts: new Map(accounts.map((a) => [a.id, a])), businessTokens, planted, shape: norm };
  }
  worldCache.set(key, world);
  return world;
}

// ---- The noise model: per-ad base rates drawn once, small bounded daily noise, a lifecycle. ----

interface AdProfile {
  family: SbFamily;
  /** Mature daily impressions. */
  imps: number;
  /** Spend per impression in RUB kopecks (times the ad's priceScale for other currencies). */
  price: number;
  ctr: number;
  linkShare: number;
  /** Results per link click (video: views per impression; click family: 1). */
  conv: number;
  /** Daily impressions per person, and how much of a day's audience comes back on other days of the week. */
  freq: number;
  overlap: number;
  /** Extra CPR on launch day, fading over the learning phase (LEARN_DAYS). */
  learn: number;
  /** CTR lost (and frequency gained, doubled) at full fatigue; fatigue's time constant in days. */
  fatigue: number;
  fatigueDays: number;
  /** Latent creative quality (ranking), phase of the rounding sequence. */
  quality: number;
  phase: number;
  /** Seeds the ad's per-day draws. */
  dayHash: number;
}

const LEARN_DAYS = 10;
const FATIGUE_AFTER = 21;
/** Share of days an ad inside its span does not deliver (budget out, review, schedule). */
const IDLE_DAYS = 0.05;
/** Weekly minimum results per family (CONTRACT.md): the planted patterns need weeks above them. */
export const MIN_WEEKLY_RESULTS: Partial<Record<SbFamily, number>> = { messages: 5, leadgen_form: 5, website_lead: 5, purchase: 3, click: 50 };
/** The "market" rates the rankings compare an ad with. */
const REF_CTR = 0.015;
const REF_CONV: Record<SbFamily, number> = { click: 0.75, messages: 0.25, leadgen_form: 0.12, website_lead: 0.12, purchase: 0.05, video_view: 0.2 };

/** The family an ad's results count in (a pixel-lead ad's days without leads show leadgen_form 0). */
function goalFamily(ad: SbAd): SbFamily {
  switch (ad.goal) {
    case 'CONVERSATIONS': return 'messages';
    case 'LEAD_GENERATION': return ad.leadKind === 'form' ? 'leadgen_form' : 'website_lead';
    case 'VALUE': return 'purchase';
    case 'THRUPLAY': return 'video_view';
    default: return 'click';
  }
}

const logUniform = (lo: number, hi: number, u: number) => lo * (hi / lo) ** u;

const profiles = new WeakMap<SbAd, { seed: number; p: AdProfile }>();
function adProfile(seed: number, ad: SbAd): AdProfile {
  const hit = profiles.get(ad);
  if (hit && hit.seed === seed) return hit.p;
  const r = seededRandom(hashSeed(seed, 'fb-ad-profile', ad.id));
  const family = goalFamily(ad);
  const ctr = logUniform(0.007, 0.03, r());
  const linkShare = 0.6 + r() * 0.3;
  // Volume is drawn as mature daily results, so most ads clear the weekly minimums with room to spare.
  let conv = 1;
  let imps: number;
  const u = r();
  switch (family) {
    case 'messages': conv = 0.15 + r() * 0.25; imps = logUniform(5, 30, u) / (ctr * linkShare * conv); break;
    case 'leadgen_form': case 'website_lead': conv = 0.07 + r() * 0.13; imps = logUniform(4, 20, u) / (ctr * linkShare * conv); break;
    case 'purchase': conv = 0.03 + r() * 0.05; imps = logUniform(3, 15, u) / (ctr * linkShare * conv); break;
    case 'video_view': conv = 0.1 + r() * 0.2; imps = logUniform(2000, 20000, u); break;
    default: imps = logUniform(40, 400, u) / (ctr * linkShare); break;
  }
  const p: AdProfile = {
    family,
    imps,
    price: logUniform(15, 70, r()),
    ctr,
    linkShare,
    conv,
    freq: 1.05 + r() * 0.3,
    overlap: 0.05 + r() * 0.07,
    learn: 0.3 + r() * 0.5,
    fatigue: 0.04 + r() * 0.1,
    fatigueDays: 70 + r() * 140,
    quality: 0.6 + r() * 0.9,
    phase: r(),
    dayHash: hashSeed(seed, 'fb-day', ad.id),
  };
  // A few traffic and video ads run on a niche audience: a few hundred impressions a day (rankings UNKNOWN).
  if ((family === 'click' || family === 'video_view') && r() < 0.1) p.imps *= logUniform(0.01, 0.05, r());
  profiles.set(ad, { seed, p });
  return p;
}

/**
 * Integer counts from expected values. A low-discrepancy offset (golden-ratio steps over the ad's days)
 * instead of independent coin flips keeps a week's rounding error within about one result, so small
 * families (3 purchases a day) do not show rounding spikes in weekly CPR.
 */
function roundSeq(x: number, phase: number, age: number, k: number): number {
  const u = (phase + k * 0.381966 + age * 0.6180339887) % 1;
  return Math.floor(x + u);
}

function ranking(ratio: number): string {
  return ratio >= 1.25 ? 'ABOVE_AVERAGE' : ratio >= 0.8 ? 'AVERAGE' : ratio >= 0.6 ? 'BELOW_AVERAGE_35' : ratio >= 0.45 ? 'BELOW_AVERAGE_20' : 'BELOW_AVERAGE_10';
}

export interface Rankings {
  quality: string;
  engagement: string;
  conversion: string;
}
const UNKNOWN_RANKINGS: Rankings = { quality: 'UNKNOWN', engagement: 'UNKNOWN', conversion: 'UNKNOWN' };

/** Meta's three rankings from realised rates; UNKNOWN under 500 impressions. */
function rankingsFor(p: AdProfile, impressions: number, clicks: number, linkClicks: number, fullResults: number): Rankings {
  if (impressions < 500) return UNKNOWN_RANKINGS;
  const engagement = clicks / impressions / REF_CTR;
  const rate = p.family === 'click' ? linkClicks / Math.max(1, clicks) : p.family === 'video_view' ? fullResults / impressions : fullResults / Math.max(1, linkClicks);
  const conversion = rate / REF_CONV[p.family];
  return { quality: ranking(p.quality * Math.sqrt(engagement)), engagement: ranking(engagement), conversion: ranking(conversion) };
}

/**
 * A per-ad, per-day multiplier hook for tests: impressions scale delivery, ctr clicks per impression, price
 * spend per impression, conversion results per link click, reach the day's reach. Absent → 1. Planted
 * patterns use the same multipliers from the ad's own plan.
 */
export type AdDayModifier = (ad: SbAd, date: string) => DayEffect | undefined;

export interface AdDay {
  impressions: number;
  reach: number;
  clicks: number;
  linkClicks: number;
  spendCents: number;
  /** Action counts by type as served (overlapping purchase types carry equal values). */
  actions: Array<[string, number]>;
  /** Revenue (major units) of value-bearing actions. */
  actionValues: Array<[string, number]>;
  family: SbFamily;
  /** Results of the ad's family (what v_fb_daily_results must show). */
  results: number;
  /** Results before the late-conversion cut (what the day will show once complete). */
  resultsFull: number;
  rankings: Rankings;
}

/** Conversions reported for `date` when read on `asOf`: Meta keeps adding late conversions for ~a week. */
export function lateShare(full: number, date: string, asOf: string | null): number {
  if (asOf === null) return full;
  const age = dayNum(asOf) - dayNum(date);
  if (age >= 7 || age < 0) return full;
  return Math.floor((full * (age + 1)) / 8);
}

function effectOn(ad: SbAd, date: string, modifier?: AdDayModifier): DayEffect {
  const m = modifier?.(ad, date);
  if (!ad.plan) return m ?? {};
  let out: DayEffect = m ?? {};
  for (const step of ad.plan) {
    if (date < step.since || date > step.until) continue;
    const e = step.effect;
    out = {
      impressions: (out.impressions ?? 1) * (e.impressions ?? 1),
      ctr: (out.ctr ?? 1) * (e.ctr ?? 1),
      price: (out.price ?? 1) * (e.price ?? 1),
      conversion: (out.conversion ?? 1) * (e.conversion ?? 1),
      reach: (out.reach ?? 1) * (e.reach ?? 1),
    };
  }
  return out;
}

/** One ad on one day; null = no delivery (no row). A pure function of (seed, ad, date, asOf, modifier). */
export function adDayStats(seed: number, ad: SbAd, date: string, asOf: string | null = null, modifier?: AdDayModifier): AdDay | null {
  if (date < ad.start || (ad.stop !== null && date > ad.stop)) return null;
  const p = adProfile(seed, ad);
  // The day's draws: the ad's hash mixed with the day number (no string building on this hot path).
  const r = seededRandom(Math.imul(p.dayHash ^ Math.imul(dayNum(date), 0x9e3779b1), 0x85ebca6b) ^ p.dayHash);
  if (r() < IDLE_DAYS) return null;
  const m = effectOn(ad, date, modifier);
  const age = dayNum(date) - dayNum(ad.start);
  // Lifecycle: delivery ramps up over the first days; the learning phase costs more per result and settles
  // by LEARN_DAYS; after FATIGUE_AFTER the audience slowly tires (CTR down, frequency up), saturating.
  const ramp = Math.min(1, 0.5 + age * 0.25);
  const learn = 1 + p.learn * Math.max(0, 1 - age / LEARN_DAYS);
  const fat = 1 - Math.exp(-Math.max(0, age - FATIGUE_AFTER) / p.fatigueDays);
  const noise = (amp: number) => 1 + amp * (2 * r() - 1);
  const impressions = Math.max(1, Math.round(p.imps * ramp * noise(0.1) * (m.impressions ?? 1)));
  const ctr = p.ctr * (1 - p.fatigue * fat) * noise(0.04) * (m.ctr ?? 1);
  const clicks = Math.min(impressions, roundSeq(impressions * ctr, p.phase, age, 1));
  const linkClicks = Math.min(clicks, roundSeq(clicks * p.linkShare * noise(0.03), p.phase, age, 2));
  const spendCents = Math.max(1, Math.round(impressions * p.price * ad.priceScale * Math.sqrt(learn) * noise(0.04) * (m.price ?? 1)));
  const freq = p.freq * (1 + 2 * p.fatigue * fat) * noise(0.03);
  const reach = Math.min(impressions, Math.max(1, Math.round((impressions / freq) * (m.reach ?? 1))));
  const convRate = (p.conv / Math.sqrt(learn)) * noise(0.04) * (m.conversion ?? 1);
  const actions: Array<[string, number]> = [];
  const actionValues: Array<[string, number]> = [];
  const lpv = Math.floor(linkClicks * 0.7);
  if (linkClicks > 0) actions.push(['link_click', linkClicks]);
  if (lpv > 0) actions.push(['landing_page_view', lpv]);
  actions.push(['post_engagement', clicks + Math.floor(impressions * 0.01)]);
  let family: SbFamily = 'click';
  let full = linkClicks;
  let results = linkClicks;
  switch (ad.goal) {
    case 'CONVERSATIONS': {
      full = roundSeq(linkClicks * convRate, p.phase, age, 3);
      const n = lateShare(full, date, asOf);
      family = 'messages';
      results = n;
      if (n > 0) actions.push(['onsite_conversion.total_messaging_connection', n], ['onsite_conversion.messaging_conversation_started_7d', Math.floor(n * 0.8)]);
      break;
    }
    case 'LEAD_GENERATION': {
      full = roundSeq(linkClicks * convRate, p.phase, age, 3);
      const n = lateShare(full, date, asOf);
      // A pixel-lead ad with no lead at all shows no lead action: the first family (leadgen_form) with 0.
      family = ad.leadKind === 'form' || n === 0 ? 'leadgen_form' : 'website_lead';
      results = n;
      if (n > 0) actions.push([ad.leadKind === 'form' ? 'onsite_conversion.lead_grouped' : 'offsite_conversion.fb_pixel_lead', n], ['lead', n]);
      break;
    }
    case 'VALUE': {
      full = roundSeq(linkClicks * convRate, p.phase, age, 3);
      const n = lateShare(full, date, asOf);
      family = 'purchase';
      results = n;
      if (n > 0) {
        // One purchase is reported under three overlapping types with equal values (never to be summed).
        const revenue = Math.round(n * (20 + r() * 80) * 100 * (ad.priceScale === 1 ? 90 : 1)) / 100;
        for (const t of ['purchase', 'omni_purchase', 'offsite_conversion.fb_pixel_purchase']) {
          actions.push([t, n]);
          actionValues.push([t, revenue]);
        }
      }
      break;
    }
    case 'THRUPLAY': {
      full = roundSeq(impressions * convRate, p.phase, age, 3);
      family = 'video_view';
      results = full;
      if (full > 0) actions.push(['video_view', full]);
      break;
    }
    default:
      break;
  }
  const rankings = rankingsFor(p, impressions, clicks, linkClicks, full);
  return { impressions, reach, clicks, linkClicks, spendCents, actions, actionValues, family, results, resultsFull: full, rankings };
}

/** A week of one ad: the day's fields summed over the week (reach is the week's unique reach). */
export interface AdWeek extends AdDay {
  /** Monday and the Sunday after it. */
  dateStart: string;
  dateStop: string;
  /** Delivering days. */
  days: number;
}

/** The additive numbers of any bucket (an hour, a day, a week): what sums over days. */
export interface Additive {
  impressions: number;
  clicks: number;
  linkClicks: number;
  spendCents: number;
  actions: Array<[string, number]>;
  actionValues: Array<[string, number]>;
}

/**
 * Sums of buckets' additive numbers, actions in first-seen order; revenue is added in cents so sums stay
 * exact. The one aggregation of the world's weeks and of the sandbox's other buckets (running weeks, part days).
 */
export function sumAdditive(parts: readonly Additive[]): Additive {
  const out: Additive = { impressions: 0, clicks: 0, linkClicks: 0, spendCents: 0, actions: [], actionValues: [] };
  const actions = new Map<string, number>();
  const values = new Map<string, number>();
  for (const p of parts) {
    out.impressions += p.impressions;
    out.clicks += p.clicks;
    out.linkClicks += p.linkClicks;
    out.spendCents += p.spendCents;
    for (const [t, v] of p.actions) actions.set(t, (actions.get(t) ?? 0) + v);
    for (const [t, v] of p.actionValues) values.set(t, (values.get(t) ?? 0) + Math.round(v * 100));
  }
  out.actions = [...actions];
  out.actionValues = [...values].map(([t, c]) => [t, c / 100]);
  return out;
}

/** One ad over the Monday-aligned week; null = no delivery that week. Counts are the days' sums; reach is unique. */
export function adWeekStats(seed: number, ad: SbAd, weekStart: string, asOf: string | null = null, modifier?: AdDayModifier): AdWeek | null {
  const monday = dayNum(weekStart);
  const dateStop = dayStr(monday + 6);
  if (dateStop < ad.start || (ad.stop !== null && weekStart > ad.stop)) return null;
  const days: AdDay[] = [];
  for (let i = 0; i < 7; i++) {
    const s = adDayStats(seed, ad, dayStr(monday + i), asOf, modifier);
    if (s) days.push(s);
  }
  if (days.length === 0) return null;
  let results = 0;
  let resultsFull = 0;
  let sumReach = 0;
  let maxReach = 0;
  let family: SbFamily | null = null;
  for (const s of days) {
    results += s.results;
    resultsFull += s.resultsFull;
    sumReach += s.reach;
    maxReach = Math.max(maxReach, s.reach);
    // The week's family is what its summed actions show: a pixel lead on any day makes it website_lead.
    if (family === null || (family === 'leadgen_form' && s.family === 'website_lead')) family = s.family;
  }
  const w: AdWeek = { dateStart: weekStart, dateStop, days: days.length, ...sumAdditive(days), reach: 0, family: family!, results, resultsFull, rankings: UNKNOWN_RANKINGS };
  // People reached on several days count once: the audience overlaps more the more days the ad ran.
  const p = adProfile(seed, ad);
  w.reach = Math.min(sumReach, Math.max(maxReach, Math.round(sumReach / (1 + p.overlap * (w.days - 1)))));
  w.rankings = rankingsFor(p, w.impressions, w.clicks, w.linkClicks, w.resultsFull);
  return w;
}

// ---- The hours of a day and the clock of an account (the sandbox's `now`). ----

/** Cumulative shares of a day's 24 hours for one ad-day: an evening-heavy curve with some noise, deterministic. */
function hourShares(seed: number, adId: string, date: string): number[] {
  const r = seededRandom(hashSeed(seed, 'fb-hour', adId, date));
  const w = Array.from({ length: 24 }, (_, h) => (0.3 + Math.max(0, Math.sin(((h - 6) / 24) * 2 * Math.PI)) + (h >= 18 && h <= 22 ? 0.6 : 0)) * (0.7 + 0.6 * r()));
  const total = w.reduce((a, x) => a + x, 0);
  let acc = 0;
  return w.map((x, h) => (h === 23 ? 1 : (acc += x / total)));
}

/** Splits an integer total over the hours: floor of the cumulative share, so the hours sum to the total exactly. */
function splitInt(total: number, cum: readonly number[]): number[] {
  let prev = 0;
  return cum.map((c) => {
    const upTo = Math.floor(total * c);
    const v = upTo - prev;
    prev = upTo;
    return v;
  });
}

/**
 * A day's numbers by the advertiser's hour (24 slices, empty ones included): every additive number split with
 * the same shares, so each sums to the day exactly. The hourly breakdown serves the on-Meta part of them;
 * today's daily row is the sum of the hours so far.
 */
export function hourSlices(seed: number, ad: SbAd, date: string, day: Additive): Additive[] {
  const cum = hourShares(seed, ad.id, date);
  const per = (n: number) => splitInt(n, cum);
  const impressions = per(day.impressions);
  const clicks = per(day.clicks);
  const linkClicks = per(day.linkClicks);
  const spend = per(day.spendCents);
  const actions = day.actions.map(([t, v]) => [t, per(v)] as const);
  const values = day.actionValues.map(([t, v]) => [t, per(Math.round(v * 100))] as const);
  return Array.from({ length: 24 }, (_, h) => ({
    impressions: impressions[h]!,
    clicks: clicks[h]!,
    linkClicks: linkClicks[h]!,
    spendCents: spend[h]!,
    actions: actions.map(([t, v]) => [t, v[h]!] as [string, number]).filter(([, v]) => v > 0),
    actionValues: values.map(([t, v]) => [t, v[h]! / 100] as [string, number]).filter(([, v]) => v > 0),
  }));
}

/** An account's local day and hour at an instant (its `timezone`). */
export interface LocalClock {
  today: string;
  hour: number;
}
export function localClock(timezone: string, now: Date): LocalClock {
  const t = formatInZone(now.getTime(), timezone);
  return { today: t.slice(0, 10), hour: Number(t.slice(11, 13)) };
}

/**
 * One ad on one day as its account's clock sees it: null after the local today (ads do not deliver in the
 * future); today the sum of its hours up to the local hour (hourSlices, every action), reach in proportion to
 * impressions, results as the family's own action so far; past days whole (adDayStats).
 */
export function adDayAt(seed: number, ad: SbAd, date: string, local: LocalClock, asOf: string | null = null, modifier?: AdDayModifier): AdDay | null {
  if (date > local.today) return null;
  const day = adDayStats(seed, ad, date, asOf, modifier);
  if (!day || date < local.today) return day;
  const cum = hourShares(seed, ad.id, date)[local.hour]!;
  const sofar = sumAdditive(hourSlices(seed, ad, date, day).slice(0, local.hour + 1));
  if (sofar.impressions === 0 && sofar.spendCents === 0 && sofar.clicks === 0) return null;
  const reach = Math.min(sofar.impressions, Math.max(1, Math.round((day.reach * sofar.impressions) / day.impressions)));
  // The hours of any count add up to floor(count × cumulative share): results are one action's count.
  return { ...day, ...sofar, reach, results: Math.floor(day.results * cum), resultsFull: Math.floor(day.resultsFull * cum) };
}

/** The unique reach of some days of one week: the week's own overlap applied to those days (all days → the week's reach). */
function restrictedReach(weekReach: number, weekDays: readonly number[], present: readonly number[]): number {
  if (present.length === 0) return 0;
  const max = (xs: readonly number[]) => xs.reduce((m, x) => Math.max(m, x), 0);
  const sum = (xs: readonly number[]) => xs.reduce((a, x) => a + x, 0);
  const spread = sum(weekDays) - max(weekDays);
  const share = spread > 0 ? (weekReach - max(weekDays)) / spread : 1;
  return max(present) + Math.round(share * (sum(present) - max(present)));
}

/**
 * One ad over from..to inside one Monday week, as the account's clock (`local`, null = none) sees it: the
 * whole week once it is over is adWeekStats; a part of it (the running week, a bucket cut by a request) sums
 * its days (adDayAt) with the week's reach restricted to them, the week's rankings and family rule.
 * null = no delivery in those days.
 */
export function adPartWeek(seed: number, ad: SbAd, from: string, to: string, local: LocalClock | null, asOf: string | null = null, modifier?: AdDayModifier): AdWeek | null {
  const monday = mondayOf(from);
  const sunday = plusDays(monday, 6);
  if (from === monday && to === sunday && (!local || sunday < local.today)) return adWeekStats(seed, ad, monday, asOf, modifier);
  const days: AdDay[] = [];
  for (let d = from; d <= to; d = plusDays(d, 1)) {
    const s = local ? adDayAt(seed, ad, d, local, asOf, modifier) : adDayStats(seed, ad, d, asOf, modifier);
    if (s) days.push(s);
  }
  const week = days.length > 0 ? adWeekStats(seed, ad, monday, asOf, modifier) : null;
  if (!week) return null;
  const weekDays: number[] = [];
  for (let d = monday; d <= sunday; d = plusDays(d, 1)) weekDays.push(adDayStats(seed, ad, d, asOf, modifier)?.reach ?? 0);
  let family: SbFamily | null = null;
  for (const s of days) if (family === null || (family === 'leadgen_form' && s.family === 'website_lead')) family = s.family;
  return {
    dateStart: from, dateStop: to, days: days.length, ...sumAdditive(days),
    reach: restrictedReach(week.reach, weekDays, days.map((x) => x.reach)),
    family: family!, results: days.reduce((n, x) => n + x.results, 0), resultsFull: days.reduce((n, x) => n + x.resultsFull, 0), rankings: week.rankings,
  };
}

// ---- Planted patterns: CPR spikes and burnouts on ads with a clean baseline, with their ground truth. ----

const BASELINE_WEEKS = 4;

/** Expected weekly results of a mature ad, before fatigue (the profile's volume times delivering days). */
function expectedWeeklyResults(p: AdProfile): number {
  const perDay = p.family === 'video_view' ? p.imps * p.conv : p.imps * p.ctr * p.linkShare * (p.family === 'click' ? 1 : p.conv);
  return perDay * 7 * (1 - IDLE_DAYS) * (1 - p.fatigue);
}

function plantPatterns(seed: number, shape: Required<WorldShape>, accounts: SbAccount[]): PlantedPattern[] {
  const rng = seededRandom(hashSeed(seed, 'fb-plant', shape.accounts, shape.adsPerAccount, shape.start, shape.weeks));
  const monday0 = mondayOf(shape.start);
  const week = (k: number) => plusDays(monday0, 7 * k);
  // Candidates: families with a weekly minimum, enough volume for a spike's drop in results, a spike week
  // followed by a normal one inside the span, and BASELINE_WEEKS clean post-learning weeks first.
  type Cand = { acct: SbAccount; ad: SbAd; p: AdProfile; first: number; last: number };
  const cands: Cand[] = [];
  let total = 0;
  for (const acct of accounts) {
    for (const ad of acct.ads) {
      total++;
      const p = adProfile(seed, ad);
      const min = MIN_WEEKLY_RESULTS[p.family];
      if (min === undefined || expectedWeeklyResults(p) < 4 * min) continue;
      // First baseline week: its Monday at least a week after launch (learning has faded).
      const b0 = Math.max(0, Math.ceil(((dayNum(ad.start) - dayNum(monday0)) + 7) / 7));
      const first = b0 + BASELINE_WEEKS;
      // The spike week is followed by a normal week inside the span; the ad must deliver through it.
      // Only ads still running: a stopped ad's last, partial week (a day or two, a handful of results) is
      // noisy enough to look like a spike of its own, which would blur the ground truth.
      if (ad.stop !== null) continue;
      const last = shape.weeks - 2;
      if (last < first) continue;
      cands.push({ acct, ad, p, first, last });
    }
  }
  // Deterministic shuffle, then ~7.5 % of all ads get a spike and ~7.5 % a burnout (fewer if too few qualify).
  for (let i = cands.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [cands[i], cands[j]] = [cands[j]!, cands[i]!];
  }
  const want = Math.round(total * 0.075);
  const planted: PlantedPattern[] = [];
  let spikes = 0;
  let burnouts = 0;
  for (const c of cands) {
    if (spikes >= want && burnouts >= want) break;
    const min = MIN_WEEKLY_RESULTS[c.p.family]!;
    const weekly = expectedWeeklyResults(c.p);
    const weekAt = (k: number) => {
      const w = adWeekStats(seed, c.ad, week(k));
      return w !== null && w.results >= min ? w : null;
    };
    if (burnouts < want && c.last - c.first >= 1 && (spikes >= want || rng() < 0.5)) {
      // Burnout: 1–2 onset weeks of rising frequency and falling CTR with CPR kept near baseline, then the spike.
      const onsetWeeks = c.last - c.first >= 2 && rng() < 0.6 ? 2 : 1;
      const onset = c.first + Math.floor(rng() * (c.last - c.first - onsetWeeks + 1));
      const spike = onset + onsetWeeks;
      const factor = round2(1.8 + rng() * 0.8);
      // Frequency +20–26 % then +32–40 % (one onset week: +25–32 %), CTR −19–25 % then −27–33 % (−22–30 %).
      const steps = onsetWeeks === 1 ? [[0.25, 0.07, 0.22, 0.08]] : [[0.2, 0.06, 0.19, 0.06], [0.32, 0.08, 0.27, 0.06]];
      const plan: PlanStep[] = steps.map(([f0, fw, c0, cw], k) => ({
        since: week(onset + k),
        until: plusDays(week(onset + k), 6),
        effect: onsetEffect(c.p.family, f0! + rng() * fw!, c0! + rng() * cw!, 1.02 + rng() * 0.04),
      }));
      // The spike week: fatigue peaks (frequency +50–65 %, CTR −35–45 %) and CPR jumps to `factor`.
      const ctrDown = 0.35 + rng() * 0.1;
      const reach = 1 / (1.5 + rng() * 0.15);
      if (weekly * (1 - ctrDown) < 2 * min) continue;
      const pre = Array.from({ length: BASELINE_WEEKS }, (_, k) => weekAt(onset - BASELINE_WEEKS + k));
      if (pre.some((w) => w === null)) continue;
      c.ad.plan = plan;
      // Checked on the real weeks: each onset week shows the lead indicators against the 4 weeks before the
      // onset, frequency climbs week over week, and CPR stays under 1.15× its own baseline (so the spike
      // week is the ad's first anomaly).
      const weeks = pre as AdWeek[];
      const bf = median(weeks.map(freqOf));
      const bc = median(weeks.map(ctrOf));
      let ok = true;
      for (let k = 0; k < onsetWeeks && ok; k++) {
        const w = weekAt(onset + k);
        ok = w !== null && cprOf(w) < 1.15 * median(weeks.slice(-BASELINE_WEEKS).map(cprOf)) && freqOf(w) >= 1.18 * bf && ctrOf(w) <= 0.82 * bc && freqOf(w) > 1.03 * freqOf(weeks[weeks.length - 1]!);
        if (w) weeks.push(w);
      }
      const spikeBase = median(weeks.slice(-BASELINE_WEEKS).map(cprOf));
      const spikeStep = (mult: number): PlanStep => ({ since: week(spike), until: plusDays(week(spike), 6), effect: { reach, ctr: 1 - ctrDown, price: mult * (1 - ctrDown) } });
      const got = ok ? calibrate(c.ad, factor, spikeBase, () => weekAt(spike), (mult) => [...plan, spikeStep(mult)]) : null;
      if (got === null || freqOf(got.week) <= 1.03 * freqOf(weeks[weeks.length - 1]!)) {
        delete c.ad.plan;
        continue;
      }
      // A burnt-out ad is switched off after its bad week, as advertisers do.
      if (c.ad.stop === null || c.ad.stop > plusDays(week(spike), 6)) {
        c.ad.stop = plusDays(week(spike), 6);
        if (c.ad.status === 'ACTIVE') c.ad.status = 'PAUSED';
        c.ad.updated = `${plusDays(week(spike), 7)}T10:00:00+0300`;
      }
      planted.push({ kind: 'burnout', accountId: c.acct.id, adId: c.ad.id, family: c.p.family, spikeWeek: week(spike), onsetWeek: week(onset), factor: got.factor, cause: 'price' });
      burnouts++;
    } else if (spikes < want) {
      // CPR spike: one week at 1.6–3× the ad's CPR through price, conversion or CTR, then back to normal.
      const spike = c.first + Math.floor(rng() * (c.last - c.first + 1));
      const factor = round2(1.6 + rng() * 1.4);
      const roll = rng();
      const cause: PlantedPattern['cause'] = roll < 0.4 || weekly / factor < 2.2 * min ? 'price' : roll < 0.7 && c.p.family !== 'click' ? 'conversion' : 'ctr';
      const pre = Array.from({ length: BASELINE_WEEKS }, (_, k) => weekAt(spike - BASELINE_WEEKS + k));
      if (pre.some((w) => w === null)) continue;
      const effect = (mult: number): DayEffect => (cause === 'price' ? { price: mult } : cause === 'conversion' ? { conversion: 1 / mult } : { ctr: 1 / mult });
      const got = calibrate(c.ad, factor, median((pre as AdWeek[]).map(cprOf)), () => weekAt(spike), (mult) => [{ since: week(spike), until: plusDays(week(spike), 6), effect: effect(mult) }]);
      if (got === null) {
        delete c.ad.plan;
        continue;
      }
      planted.push({ kind: 'cpr_spike', accountId: c.acct.id, adId: c.ad.id, family: c.p.family, spikeWeek: week(spike), factor: got.factor, cause });
      spikes++;
    }
  }
  return planted;
}

const cprOf = (w: AdWeek) => w.spendCents / w.results;
const freqOf = (w: AdWeek) => w.impressions / w.reach;
const ctrOf = (w: AdWeek) => w.clicks / w.impressions;

/**
 * Sets the ad's plan with a spike multiplier and measures the spike as the views will (CPR over the median
 * of the 4 previous weeks): the ad's own noise and the rounding of small counts move it a little, so one
 * correction follows. Returns the measured factor (the ground truth), or null when the spike week lacks
 * results or stays under 1.5×.
 */
function calibrate(ad: SbAd, target: number, base: number, spikeWeek: () => AdWeek | null, planFor: (mult: number) => PlanStep[]): { factor: number; week: AdWeek } | null {
  let mult = target;
  for (let i = 0; i < 2; i++) {
    ad.plan = planFor(mult);
    const w = spikeWeek();
    if (w === null) return null;
    const got = cprOf(w) / base;
    if (i === 1 || Math.abs(got - target) < 0.005) return got < 1.5 ? null : { factor: round2(got), week: w };
    mult *= target / got;
  }
  return null;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 === 1 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
};

const round2 = (x: number) => Math.round(x * 100) / 100;

/**
 * An onset week: reach down (frequency up by freqUp), CTR down by ctrDown, and CPR only up by cprUp: the
 * clicks that remain convert better (conversion families) or cost less per impression (clicks, where the
 * result is the click itself), so the week is a lead indicator, not yet an anomaly.
 */
function onsetEffect(family: SbFamily, freqUp: number, ctrDown: number, cprUp: number): DayEffect {
  const kept = 1 - ctrDown;
  if (family === 'click') return { reach: 1 / (1 + freqUp), ctr: kept, price: kept * cprUp };
  return { reach: 1 / (1 + freqUp), ctr: kept, conversion: 1 / (kept * cprUp) };
}

// ---- Ground truth for loads: per account and day / week. ----

export interface FbDayTruth {
  date: string;
  rows: number;
  spendCents: number;
  impressions: number;
  clicks: number;
  /** Results per family, zero families left out. */
  results: Partial<Record<SbFamily, number>>;
}

export interface FbTruthOptions {
  asOf?: string | null;
  /** Daily truth as an account sees it at this instant (adDayAt: nothing after its local today, today so far). */
  now?: Date;
  modifier?: AdDayModifier;
  /** The scaled world the account belongs to (absent: the default world). */
  shape?: WorldShape;
}

function accountOf(seed: number, accountId: string, shape?: WorldShape): SbAccount {
  const acct = fbWorld(seed, shape).accounts.get(accountId);
  if (!acct) throw new Error(`unknown sandbox account ${accountId}`);
  return acct;
}

/** Ground truth: per day, what one account's loaded insights (and v_fb_daily_results) must add up to. */
export function expectedFbDaily(seed: number, accountId: string, since: string, until: string, opts: FbTruthOptions = {}): FbDayTruth[] {
  const acct = accountOf(seed, accountId, opts.shape);
  const local = opts.now ? localClock(acct.timezone, opts.now) : null;
  const out: FbDayTruth[] = [];
  for (let d = since; d <= until; d = dayStr(dayNum(d) + 1)) {
    const day: FbDayTruth = { date: d, rows: 0, spendCents: 0, impressions: 0, clicks: 0, results: {} };
    for (const ad of acct.ads) {
      const s = local ? adDayAt(seed, ad, d, local, opts.asOf ?? null, opts.modifier) : adDayStats(seed, ad, d, opts.asOf ?? null, opts.modifier);
      if (!s) continue;
      day.rows++;
      day.spendCents += s.spendCents;
      day.impressions += s.impressions;
      day.clicks += s.clicks;
      if (s.results > 0) day.results[s.family] = (day.results[s.family] ?? 0) + s.results;
    }
    if (day.rows > 0) out.push(day);
  }
  return out;
}

export interface FbWeekTruth {
  /** Monday. */
  weekStart: string;
  rows: number;
  spendCents: number;
  impressions: number;
  clicks: number;
  /** Sum over ads of each ad's unique weekly reach. */
  reach: number;
  results: Partial<Record<SbFamily, number>>;
}

/**
 * Ground truth per Monday week in [sinceMonday, untilMonday]: what stg_fb_insights_weekly / v_fb_weekly_results
 * add up to. With `now`: as the account sees it then (the loader reads the running week up to the account's
 * today: adPartWeek), no week after its today.
 */
export function expectedFbWeekly(seed: number, accountId: string, sinceMonday: string, untilMonday: string, opts: FbTruthOptions = {}): FbWeekTruth[] {
  if (mondayOf(sinceMonday) !== sinceMonday || mondayOf(untilMonday) !== untilMonday) throw new Error(`expectedFbWeekly: ${sinceMonday} and ${untilMonday} must be Mondays`);
  const acct = accountOf(seed, accountId, opts.shape);
  const local = opts.now ? localClock(acct.timezone, opts.now) : null;
  const out: FbWeekTruth[] = [];
  for (let m = sinceMonday; m <= untilMonday; m = plusDays(m, 7)) {
    const wk: FbWeekTruth = { weekStart: m, rows: 0, spendCents: 0, impressions: 0, clicks: 0, reach: 0, results: {} };
    if (local && m > local.today) break;
    for (const ad of acct.ads) {
      const s = local ? adPartWeek(seed, ad, m, minDayStr(plusDays(m, 6), local.today), local, opts.asOf ?? null, opts.modifier) : adWeekStats(seed, ad, m, opts.asOf ?? null, opts.modifier);
      if (!s) continue;
      wk.rows++;
      wk.spendCents += s.spendCents;
      wk.impressions += s.impressions;
      wk.clicks += s.clicks;
      wk.reach += s.reach;
      if (s.results > 0) wk.results[s.family] = (wk.results[s.family] ?? 0) + s.results;
    }
    if (wk.rows > 0) out.push(wk);
  }
  return out;
}
