// Facebook Marketing API payloads -> warehouse rows. Pure functions: no I/O, no clock.
// Every number arrives as a JSON string (api notes §4); money in insights is major units, budgets minor.
import { parseMoneyCents } from '../../src/marketing/money.js';
import { utmFields, type UtmFields } from '../../src/marketing/utm.js';
import { addDays, diffDays, isDay, minDay } from '../../src/runtime/dates.js';

export type Row = Record<string, unknown>;
type Obj = Record<string, unknown>;

// ---- scalar parsers ---------------------------------------------------------------------------

/** Object datetimes: `2024-03-12T15:02:47-0700` (colon-less offset) or with a colon / `Z` → 'YYYY-MM-DD hh:mm:ss' UTC. */
export function fbTimeToUtc(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})$/.exec(value.trim());
  if (!m || !isDay(m[1]!)) return null;
  const zone = m[3] === 'Z' ? 'Z' : `${m[3]!.slice(0, 3)}:${m[3]!.slice(-2)}`;
  const t = Date.parse(`${m[1]}T${m[2]}${zone}`);
  return Number.isNaN(t) ? null : new Date(t).toISOString().slice(0, 19).replace('T', ' ');
}

/** Integer counters ("1234" or 1234); absent → 0 (Meta omits metrics that do not apply); junk → null. */
export function parseCount(value: unknown): number | null {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null;
  if (typeof value === 'string' && /^\d+$/.test(value.trim())) {
    const n = Number(value.trim());
    return Number.isSafeInteger(n) ? n : null;
  }
  return null;
}

/** Decimal strings ("4.864865", "5339.5"); absent → 0; junk → null. */
export function parseDecimal(value: unknown): number | null {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string' && /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(value.trim())) return Number(value.trim());
  return null;
}

/** Budgets and bid amounts: minor units, a numeric string (or an int for bid_amount). Absent/junk → null. */
export function minorUnits(value: unknown): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : null;
  if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) {
    const n = Number(value.trim());
    return Number.isSafeInteger(n) ? n : null;
  }
  return null;
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : '';
}

function obj(value: unknown): Obj | null {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Obj) : null;
}

// ---- accounts and structure -------------------------------------------------------------------

export interface AccountInfo {
  account_id: string;
  name: string;
  currency: string;
  timezone_name: string;
  business_id: string | null;
  business_name: string | null;
  account_status: number;
  label: string;
}

export function accountRow(accountId: string, label: string | undefined, raw: Obj): AccountInfo {
  const business = obj(raw.business);
  const status = minorUnits(raw.account_status);
  return {
    account_id: accountId,
    name: str(raw.name),
    currency: str(raw.currency).toUpperCase() || 'USD',
    timezone_name: str(raw.timezone_name),
    business_id: business && str(business.id) ? str(business.id) : null,
    business_name: business && str(business.name) ? str(business.name) : typeof raw.business_name === 'string' && raw.business_name ? raw.business_name : null,
    account_status: status ?? 0,
    label: label ?? '',
  };
}

export function campaignRow(accountId: string, c: Obj): Row {
  return {
    account_id: accountId,
    campaign_id: str(c.id),
    name: str(c.name),
    status: str(c.status),
    configured_status: str(c.configured_status),
    effective_status: str(c.effective_status),
    objective: str(c.objective),
    buying_type: str(c.buying_type),
    bid_strategy: str(c.bid_strategy),
    daily_budget: minorUnits(c.daily_budget),
    lifetime_budget: minorUnits(c.lifetime_budget),
    budget_remaining: minorUnits(c.budget_remaining),
    spend_cap: minorUnits(c.spend_cap),
    start_time: fbTimeToUtc(c.start_time),
    stop_time: fbTimeToUtc(c.stop_time),
    created_time: fbTimeToUtc(c.created_time),
    updated_time: fbTimeToUtc(c.updated_time),
  };
}

/** A short, stable text of the targeting object: what an analyst scans for, not the whole spec. */
export function targetingSummary(targeting: unknown): string {
  const t = obj(targeting);
  if (!t) return '';
  const parts: string[] = [];
  if (t.age_min !== undefined || t.age_max !== undefined) parts.push(`age ${str(t.age_min) || '?'}-${str(t.age_max) || '?'}`);
  const genders = Array.isArray(t.genders) ? t.genders.map(String) : [];
  parts.push(`genders ${genders.length === 0 ? 'all' : genders.map((g) => (g === '1' ? 'm' : g === '2' ? 'f' : g)).join(',')}`);
  const geo = obj(t.geo_locations);
  if (geo) {
    if (Array.isArray(geo.countries) && geo.countries.length > 0) parts.push(`countries ${geo.countries.map(String).join(',')}`);
    if (Array.isArray(geo.cities) && geo.cities.length > 0) parts.push(`cities ${geo.cities.length}`);
  }
  if (Array.isArray(t.publisher_platforms) && t.publisher_platforms.length > 0) parts.push(`platforms ${t.publisher_platforms.map(String).join(',')}`);
  return parts.join('; ');
}

export function adsetRow(accountId: string, a: Obj): Row {
  return {
    account_id: accountId,
    adset_id: str(a.id),
    campaign_id: str(a.campaign_id),
    name: str(a.name),
    status: str(a.status),
    effective_status: str(a.effective_status),
    optimization_goal: str(a.optimization_goal),
    billing_event: str(a.billing_event),
    bid_strategy: str(a.bid_strategy),
    bid_amount: minorUnits(a.bid_amount),
    daily_budget: minorUnits(a.daily_budget),
    lifetime_budget: minorUnits(a.lifetime_budget),
    budget_remaining: minorUnits(a.budget_remaining),
    destination_type: str(a.destination_type),
    targeting_summary: targetingSummary(a.targeting),
    start_time: fbTimeToUtc(a.start_time),
    end_time: fbTimeToUtc(a.end_time),
    created_time: fbTimeToUtc(a.created_time),
    updated_time: fbTimeToUtc(a.updated_time),
  };
}

/** The landing URL of a creative: link_url, else the link of the story spec (link or video ad). */
export function creativeLink(c: Obj): string {
  if (typeof c.link_url === 'string' && c.link_url) return c.link_url;
  const spec = obj(c.object_story_spec);
  const linkData = obj(spec?.link_data);
  if (linkData && typeof linkData.link === 'string') return linkData.link;
  const cta = obj(obj(obj(spec?.video_data)?.call_to_action)?.value);
  if (cta && typeof cta.link === 'string') return cta.link;
  return '';
}

export interface CreativeUtm {
  link: string;
  urlTags: string;
}

/**
 * UTM of a creative: Meta appends `url_tags` to the link at click time, so tags in the link come first
 * and `url_tags` fill in (utm_origin says which). `day` anchors the year of a `<city>_<dd>_<mm>` event.
 */
export function creativeUtm(c: CreativeUtm, day: string): UtmFields {
  return utmFields(c.link || null, day, c.urlTags || null);
}

export function creativeRow(accountId: string, c: Obj, day: string): Row {
  const link = creativeLink(c);
  const urlTags = str(c.url_tags);
  return {
    account_id: accountId,
    creative_id: str(c.id),
    name: str(c.name),
    status: str(c.status),
    title: str(c.title),
    body: str(c.body),
    object_type: str(c.object_type),
    call_to_action_type: str(c.call_to_action_type),
    link_url: link,
    url_tags: urlTags,
    ...creativeUtm({ link, urlTags }, day),
  };
}

/** `fallbackDay` anchors UTM event years when the ad has no created_time. */
export function adRow(accountId: string, a: Obj, creative: CreativeUtm | undefined, fallbackDay: string): Row {
  const created = fbTimeToUtc(a.created_time);
  const creativeId = str(obj(a.creative)?.id);
  const utm = creativeUtm(creative ?? { link: '', urlTags: '' }, created ? created.slice(0, 10) : fallbackDay);
  return {
    account_id: accountId,
    ad_id: str(a.id),
    adset_id: str(a.adset_id),
    campaign_id: str(a.campaign_id),
    name: str(a.name),
    status: str(a.status),
    effective_status: str(a.effective_status),
    creative_id: creativeId,
    ...utm,
    created_time: created,
    updated_time: fbTimeToUtc(a.updated_time),
  };
}

// ---- insights ---------------------------------------------------------------------------------

export interface ActionArrays {
  type: string[];
  value: number[];
}

/** A list<AdsActionStats> → parallel arrays; absent → empty; a malformed item → an error text. */
export function parseActions(value: unknown, field: string): ActionArrays | string {
  const out: ActionArrays = { type: [], value: [] };
  if (value === undefined || value === null) return out;
  if (!Array.isArray(value)) return `${field} is not a list`;
  for (const item of value) {
    const o = obj(item);
    if (!o || typeof o.action_type !== 'string' || o.action_type === '') return `${field} item without action_type: ${JSON.stringify(item)}`;
    const v = parseDecimal(o.value);
    if (v === null || o.value === undefined) return `${field} ${o.action_type}: value is not a number: ${JSON.stringify(o.value)}`;
    out.type.push(o.action_type);
    out.value.push(v);
  }
  return out;
}

export interface InsightContext {
  accountId: string;
  /** The account currency (stg_fb_accounts); a row's account_currency wins when present. */
  currency: string;
  /** The requested range (weekly: from the Monday the buckets start at). */
  since: string;
  until: string;
}

export type InsightGrain = 'daily' | 'weekly' | 'hourly';

/** Where each grain's rows go; the key columns are the tables' ORDER BY (sql/migrations 0008, 0010). */
export const INSIGHT_TABLES: Readonly<Record<InsightGrain, { table: string; key: readonly string[]; dateColumn: string }>> = {
  daily: { table: 'stg_fb_insights_daily', key: ['account_id', 'ad_id', 'date'], dateColumn: 'date' },
  // week_start (a key column: all versions of a bucket are looked up together; date_stop changes between
  // them) over the weekly request's own range (the loader passes it: the first bucket starts before the window).
  weekly: { table: 'stg_fb_insights_weekly', key: ['account_id', 'ad_id', 'week_start'], dateColumn: 'week_start' },
  hourly: { table: 'stg_fb_insights_hourly', key: ['account_id', 'ad_id', 'date', 'hour'], dateColumn: 'date' },
};

/** The Monday on or before a day: weekly buckets start there. */
export function mondayOf(day: string): string {
  return addDays(day, -((new Date(`${day}T00:00:00Z`).getUTCDay() + 6) % 7));
}

/** The Sunday on or after a day: the last day of its weekly bucket. */
export function sundayOf(day: string): string {
  return addDays(mondayOf(day), 6);
}

/** The hourly breakdown: hours in the account's (advertiser's) time zone. The request and the row key. */
export const HOURLY_BREAKDOWN = 'hourly_stats_aggregated_by_advertiser_time_zone';

/** "00:00:00 - 00:59:59" (the HOURLY_BREAKDOWN value) → 0; anything else → null. */
export function parseHourRange(value: unknown): number | null {
  if (typeof value !== 'string') return null;
  const m = /^(\d{2}):00:00 - (\d{2}):59:59$/.exec(value.trim());
  if (!m || m[1] !== m[2]) return null;
  const h = Number(m[1]);
  return h <= 23 ? h : null;
}

/** The bucket of a row per grain: its date columns, or why the row does not fit the request. */
function bucketOf(ctx: InsightContext, r: Obj, grain: InsightGrain): Row | string {
  const date = r.date_start;
  if (typeof date !== 'string' || !isDay(date)) return `bad date_start ${JSON.stringify(date)}`;
  if (date < ctx.since || date > ctx.until) return `date ${date} outside the requested window ${ctx.since}..${ctx.until}`;
  if (grain !== 'weekly') {
    if (r.date_stop !== undefined && r.date_stop !== date) return `not a daily row: ${date}..${String(r.date_stop)}`;
    if (grain === 'daily') return { date };
    const hour = parseHourRange(r[HOURLY_BREAKDOWN]);
    if (hour === null) return `bad hour ${JSON.stringify(r[HOURLY_BREAKDOWN])}`;
    return { date, hour };
  }
  // Meta's 7-day buckets start at `since` (a Monday); the last one stops at `until` (the running week).
  if (diffDays(ctx.since, date) % 7 !== 0) return `not a weekly bucket start: ${date} (buckets start at ${ctx.since})`;
  const stop = r.date_stop;
  const lastDay = minDay(addDays(date, 6), ctx.until);
  if (typeof stop !== 'string' || !isDay(stop) || stop < date || stop > lastDay) return `bad date_stop ${JSON.stringify(stop)} for the week of ${date}`;
  return { week_start: date, date_stop: stop };
}

/**
 * One ad-level insights row of a grain → a row of its table (INSIGHT_TABLES), or the reason it is
 * rejected. Hourly rows carry no reach, frequency or rankings (Meta does not serve them by hour).
 */
export function insightRow(ctx: InsightContext, raw: unknown, grain: InsightGrain = 'daily'): Row | string {
  const r = obj(raw);
  if (!r) return 'insights row is not an object';
  const bucket = bucketOf(ctx, r, grain);
  if (typeof bucket === 'string') return bucket;
  const adId = str(r.ad_id);
  if (!/^\d+$/.test(adId)) return `bad ad_id ${JSON.stringify(r.ad_id)}`;
  const hourly = grain === 'hourly';
  const counts: Record<string, number> = {};
  for (const k of hourly ? (['impressions', 'clicks', 'inline_link_clicks'] as const) : (['impressions', 'reach', 'clicks', 'inline_link_clicks'] as const)) {
    const v = parseCount(r[k]);
    if (v === null) return `${k} is not a count: ${JSON.stringify(r[k])}`;
    counts[k] = v;
  }
  const decimals: Record<string, number> = {};
  for (const k of hourly ? (['ctr', 'inline_link_click_ctr', 'cpm', 'cpc'] as const) : (['frequency', 'ctr', 'inline_link_click_ctr', 'cpm', 'cpc'] as const)) {
    const v = parseDecimal(r[k]);
    if (v === null) return `${k} is not a number: ${JSON.stringify(r[k])}`;
    decimals[k] = v;
  }
  const cents = r.spend === undefined ? 0 : parseMoneyCents(r.spend);
  if (cents === null) return `spend is not a number: ${JSON.stringify(r.spend)}`;
  if (cents < 0) return `negative spend ${JSON.stringify(r.spend)}`;
  const actions = parseActions(r.actions, 'actions');
  if (typeof actions === 'string') return actions;
  const values = parseActions(r.action_values, 'action_values');
  if (typeof values === 'string') return values;
  const costs = parseActions(r.cost_per_action_type, 'cost_per_action_type');
  if (typeof costs === 'string') return costs;
  return {
    account_id: ctx.accountId,
    ...bucket,
    ad_id: adId,
    adset_id: str(r.adset_id),
    campaign_id: str(r.campaign_id),
    ad_name: str(r.ad_name),
    adset_name: str(r.adset_name),
    campaign_name: str(r.campaign_name),
    currency: (str(r.account_currency) || ctx.currency).toUpperCase(),
    objective: str(r.objective),
    optimization_goal: str(r.optimization_goal),
    ...counts,
    ...decimals,
    // A JSON number: ClickHouse 18.16 reads Decimal from JSONEachRow only as a number.
    spend: cents / 100,
    ...(hourly
      ? {}
      : { quality_ranking: str(r.quality_ranking), engagement_rate_ranking: str(r.engagement_rate_ranking), conversion_rate_ranking: str(r.conversion_rate_ranking) }),
    'actions.type': actions.type,
    'actions.value': actions.value,
    'action_values.type': values.type,
    'action_values.value': values.value,
    'cost_per_action_type.type': costs.type,
    'cost_per_action_type.value': costs.value,
  };
}

/**
 * An hourly row without the hour key and without impressions or spend: Meta sends such rows for days
 * without delivery (singer-io fills a placeholder, Airbyte drops them). Nothing to store: skipped.
 */
export function isEmptyHourPlaceholder(raw: unknown): boolean {
  const r = obj(raw);
  if (!r || r[HOURLY_BREAKDOWN] !== undefined) return false;
  return parseCount(r.impressions) === 0 && (r.spend === undefined || parseMoneyCents(r.spend) === 0);
}

/** The quarantine key of a row: account|ad|day (|hour for hourly rows). */
export function insightKey(accountId: string, raw: unknown): string {
  const r = obj(raw);
  const hour = r?.[HOURLY_BREAKDOWN];
  return `${accountId}|${str(r?.ad_id)}|${str(r?.date_start)}${hour === undefined ? '' : `|${str(hour)}`}`;
}

// ---- result families (CONTRACT.md) --------------------------------------------------------------

export type ResultFamily = 'messages' | 'leadgen_form' | 'website_lead' | 'purchase' | 'click' | 'video_view' | 'app_install' | 'none';

/** Action types of each family, in priority order: the first present wins; types are never summed. */
export const FAMILY_ACTION_TYPES: Readonly<Record<Exclude<ResultFamily, 'none'>, readonly string[]>> = {
  messages: ['onsite_conversion.total_messaging_connection'],
  leadgen_form: ['onsite_conversion.lead_grouped'],
  website_lead: ['offsite_conversion.fb_pixel_lead'],
  purchase: ['offsite_conversion.fb_pixel_purchase'],
  click: ['link_click', 'landing_page_view'],
  video_view: ['video_view'],
  app_install: ['app_install', 'mobile_app_install'],
};

/**
 * Families per optimization goal, first matching wins (CONTRACT.md for LEAD_GENERATION, CONVERSATIONS,
 * LINK_CLICKS, VALUE; the rest are our extension, mirrored in sql/views/0000_v_fb_results.sql).
 */
export const GOAL_FAMILIES: Readonly<Record<string, readonly Exclude<ResultFamily, 'none'>[]>> = {
  LEAD_GENERATION: ['leadgen_form', 'website_lead'],
  QUALITY_LEAD: ['leadgen_form', 'website_lead'],
  CONVERSATIONS: ['messages'],
  LINK_CLICKS: ['click'],
  LANDING_PAGE_VIEWS: ['click'],
  VALUE: ['purchase', 'website_lead'],
  OFFSITE_CONVERSIONS: ['purchase', 'website_lead'],
  THRUPLAY: ['video_view'],
  APP_INSTALLS: ['app_install'],
};

/** The TypeScript twin of the view's rule (used by tests and the sandbox's ground truth). */
export function resultOf(goal: string, actions: ActionArrays): { family: ResultFamily; results: number } {
  const families = GOAL_FAMILIES[goal];
  if (!families) return { family: 'none', results: 0 };
  for (const family of families) {
    for (const type of FAMILY_ACTION_TYPES[family]) {
      const i = actions.type.indexOf(type);
      if (i >= 0) return { family, results: actions.value[i]! };
    }
  }
  return { family: families[0]!, results: 0 };
}
