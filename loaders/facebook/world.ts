// The Facebook sandbox's synthetic world and its ground truth: accounts, structure and per-ad-day statistics
// as pure functions of the seed. The fake server (sandbox.ts) serves it; tests and benches score against it.
import { addDays, diffDays } from '../../src/runtime/dates.js';
import { hashSeed, SANDBOX_EVENTS, seededRandom } from '../../src/runtime/sandbox.js';

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
    const cDay = addDays(WORLD_START, Math.floor(rng() * 20));
    const goal0 = GOALS[(hashSeed(seed, spec.id, c) + c) % GOALS.length]!;
    acct.campaigns.push({ id: campaignId, name: `Campaign ${c + 1} ${spec.id}`, status: cStatus, objective: OBJECTIVE[goal0], created: stamp(cDay, rng), updated: stamp(addDays(cDay, 1), rng) });
    const nAdsets = 2 + Math.floor(rng() * 2);
    for (let s = 0; s < nAdsets; s++) {
      const adsetId = `${campaignId}${p2(s + 1)}`;
      const goal = s === 0 ? goal0 : GOALS[Math.floor(rng() * GOALS.length)]!;
      const sStatus: SbStatus = cStatus !== 'ACTIVE' ? cStatus : rng() < 0.15 ? 'PAUSED' : 'ACTIVE';
      acct.adsets.push({ id: adsetId, campaignId, name: `Ad set ${s + 1} ${goal}`, status: sStatus, goal, dailyBudget: (5 + Math.floor(rng() * 50)) * (spec.currency === 'RUB' ? 10000 : 100), created: stamp(cDay, rng), updated: stamp(addDays(cDay, 2), rng) });
      const nAds = 2 + Math.floor(rng() * 3);
      for (let a = 0; a < nAds; a++) {
        const adId = `${adsetId}${p2(a + 1)}`;
        const start = addDays(cDay, Math.floor(rng() * 45));
        const roll = rng();
        const status: SbStatus = sStatus !== 'ACTIVE' && sStatus !== 'PAUSED' ? sStatus : roll < 0.15 ? 'ARCHIVED' : roll < 0.25 ? 'DELETED' : roll < 0.35 ? 'PAUSED' : 'ACTIVE';
        const stop = status === 'ACTIVE' ? null : addDays(start, 8 + Math.floor(rng() * 25));
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
          updated: stamp(stop ?? addDays(start, 3), rng),
          priceScale,
        });
      }
    }
  }
  return acct;
}

export interface FbWorld {
  accounts: Map<string, SbAccount>;
}

const worldCache = new Map<number, FbWorld>();
export function fbWorld(seed: number): FbWorld {
  const cached = worldCache.get(seed);
  if (cached) return cached;
  const world: FbWorld = { accounts: new Map(FB_SANDBOX_ACCOUNTS.map((s) => [s.id, buildAccount(seed, s)])) };
  worldCache.set(seed, world);
  return world;
}

/**
 * A per-ad, per-day multiplier hook for planted patterns (CPR spikes, burnout: the next session):
 * impressions scale delivery, ctr scales clicks per impression, price scales spend per impression,
 * conversion scales results per link click. Absent → 1.
 */
export type AdDayModifier = (ad: SbAd, date: string) => { impressions?: number; ctr?: number; price?: number; conversion?: number } | undefined;

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
}

/** Conversions reported for `date` when read on `asOf`: Meta keeps adding late conversions for ~a week. */
export function lateShare(full: number, date: string, asOf: string | null): number {
  if (asOf === null) return full;
  const age = diffDays(date, asOf);
  if (age >= 7 || age < 0) return full;
  return Math.floor((full * (age + 1)) / 8);
}

/** One ad on one day; null = no delivery (no row). A pure function of (seed, ad, date, asOf, modifier). */
export function adDayStats(seed: number, ad: SbAd, date: string, asOf: string | null = null, modifier?: AdDayModifier): AdDay | null {
  if (date < ad.start || (ad.stop !== null && date > ad.stop)) return null;
  const r = seededRandom(hashSeed(seed, 'fb-day', ad.id, date));
  if (r() < 0.12) return null;
  const m = modifier?.(ad, date) ?? {};
  const impressions = Math.max(1, Math.floor((300 + r() * 5000) * (m.impressions ?? 1)));
  const reach = Math.max(1, Math.floor(impressions * (0.6 + r() * 0.35)));
  const clicks = Math.min(impressions, Math.floor(impressions * (0.005 + r() * 0.03) * (m.ctr ?? 1)));
  const linkClicks = Math.floor(clicks * (0.6 + r() * 0.35));
  const spendCents = Math.max(1, Math.floor(impressions * (50 + r() * 250) * ad.priceScale * (m.price ?? 1)));
  const conv = (rate: number) => lateShare(Math.floor(linkClicks * rate * (m.conversion ?? 1)), date, asOf);
  const actions: Array<[string, number]> = [];
  const actionValues: Array<[string, number]> = [];
  const lpv = Math.floor(linkClicks * 0.7);
  if (linkClicks > 0) actions.push(['link_click', linkClicks]);
  if (lpv > 0) actions.push(['landing_page_view', lpv]);
  actions.push(['post_engagement', clicks + Math.floor(impressions * 0.01)]);
  let family: SbFamily = 'click';
  let results = linkClicks;
  switch (ad.goal) {
    case 'CONVERSATIONS': {
      const n = conv(0.35 + r() * 0.2);
      family = 'messages';
      results = n;
      if (n > 0) actions.push(['onsite_conversion.total_messaging_connection', n], ['onsite_conversion.messaging_conversation_started_7d', Math.floor(n * 0.8)]);
      break;
    }
    case 'LEAD_GENERATION': {
      const n = conv(0.1 + r() * 0.15);
      // A pixel-lead ad with no lead at all shows no lead action: the first family (leadgen_form) with 0.
      family = ad.leadKind === 'form' || n === 0 ? 'leadgen_form' : 'website_lead';
      results = n;
      if (n > 0) actions.push([ad.leadKind === 'form' ? 'onsite_conversion.lead_grouped' : 'offsite_conversion.fb_pixel_lead', n], ['lead', n]);
      break;
    }
    case 'VALUE': {
      const n = conv(0.03 + r() * 0.07);
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
      const n = Math.floor(impressions * (0.1 + r() * 0.2));
      family = 'video_view';
      results = n;
      if (n > 0) actions.push(['video_view', n]);
      break;
    }
    default:
      break;
  }
  return { impressions, reach, clicks, linkClicks, spendCents, actions, actionValues, family, results };
}

export interface FbDayTruth {
  date: string;
  rows: number;
  spendCents: number;
  impressions: number;
  clicks: number;
  /** Results per family, zero families left out. */
  results: Partial<Record<SbFamily, number>>;
}

/** Ground truth: per day, what one account's loaded insights (and v_fb_daily_results) must add up to. */
export function expectedFbDaily(seed: number, accountId: string, since: string, until: string, opts: { asOf?: string | null; modifier?: AdDayModifier } = {}): FbDayTruth[] {
  const acct = fbWorld(seed).accounts.get(accountId);
  if (!acct) throw new Error(`unknown sandbox account ${accountId}`);
  const out: FbDayTruth[] = [];
  for (let d = since; d <= until; d = addDays(d, 1)) {
    const day: FbDayTruth = { date: d, rows: 0, spendCents: 0, impressions: 0, clicks: 0, results: {} };
    for (const ad of acct.ads) {
      const s = adDayStats(seed, ad, d, opts.asOf ?? null, opts.modifier);
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

