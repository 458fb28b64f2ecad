// VK Ads payloads -> warehouse rows. Pure functions: no I/O, no clock.
import { parseMoneyCents } from '../../src/marketing/money.js';
import { isDay } from '../../src/runtime/dates.js';
import { utmFields } from '../../src/marketing/utm.js';
import type { VkAdGroup, VkAdPlan, VkBanner, VkStatsItem } from './api.js';

export type Row = Record<string, unknown>;

/** What the stats transform needs to know about a banner (from the listings). */
export interface BannerInfo {
  banner_id: number;
  ad_group_id: number;
  ad_plan_id: number;
  url: string | null;
  /** The group's `utm` when VK appends it (enable_utm not false); null otherwise. */
  utmFallback: string | null;
}

export interface FactRow {
  account_id: string;
  date: string;
  banner_id: number;
  ad_group_id: number;
  ad_plan_id: number;
  shows: number;
  clicks: number;
  /** A JSON number: ClickHouse 18.16 reads Decimal from JSONEachRow only as a number. */
  spent: number;
  goals: number;
  currency: string;
  utm_source: string;
  utm_medium: string;
  utm_campaign: string;
  utm_content: string;
  utm_term: string;
  utm_origin: string;
  city: string;
  event_date: string | null;
}

export interface Rejected {
  reason: string;
  key: string;
  payload: unknown;
}

export interface StatsResult {
  rows: FactRow[];
  rejected: Rejected[];
  /** Earlier copies of an (id, date) that came again later in the same response; the last one wins. */
  duplicates: number;
  /** Every row in the response: rows + rejected + duplicates. */
  read: number;
}

/** VK datetimes are Europe/Moscow (A1), fixed UTC+3 since 2014; stored as DateTime('UTC'). */
export function moscowToUtc(value: string | null | undefined): string | null {
  if (typeof value !== 'string') return null;
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})$/.exec(value.trim());
  if (!m || !isDay(m[1]!)) return null;
  const t = Date.parse(`${m[1]}T${m[2]}+03:00`);
  return Number.isNaN(t) ? null : new Date(t).toISOString().slice(0, 19).replace('T', ' ');
}

function dayOrNull(value: string | null | undefined): string | null {
  return typeof value === 'string' && isDay(value.slice(0, 10)) ? value.slice(0, 10) : null;
}

// One money parser for every loader: src/marketing/money.ts.
export { parseMoneyCents };

/** Counters: JSON numbers in practice, strings per the documented types (A1). */
export function parseCount(value: unknown): number | null {
  if (value === undefined || value === null) return 0; // a block without the counter: nothing counted
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null;
  if (typeof value === 'string' && /^\d+$/.test(value.trim())) return Number(value.trim());
  return null;
}

export function budgetNumber(value: unknown): number | null {
  const cents = parseMoneyCents(value);
  return cents === null ? null : cents / 100;
}

export function planRow(accountId: string, plan: VkAdPlan): Row {
  return {
    account_id: accountId,
    ad_plan_id: plan.id,
    name: plan.name,
    status: plan.status,
    objective: plan.objective ?? '',
    budget_limit_day: budgetNumber(plan.budget_limit_day),
    date_start: dayOrNull(plan.date_start),
    date_end: dayOrNull(plan.date_end),
    created: moscowToUtc(plan.created),
    updated: moscowToUtc(plan.updated),
  };
}

export function groupRow(accountId: string, group: VkAdGroup): Row {
  return {
    account_id: accountId,
    ad_group_id: group.id,
    ad_plan_id: group.ad_plan_id,
    name: group.name,
    status: group.status,
    objective: group.objective ?? '',
    utm: group.utm ?? '',
    enable_utm: group.enable_utm === false ? 0 : 1,
    created: moscowToUtc(group.created),
    updated: moscowToUtc(group.updated),
  };
}

/** `enable_utm=false` → VK adds no tags even when `utm` is set, so it is no fallback (A4). */
export function utmFallbackOf(group: Pick<VkAdGroup, 'utm' | 'enable_utm'> | undefined): string | null {
  if (!group || group.enable_utm === false) return null;
  return group.utm && group.utm.trim() !== '' ? group.utm : null;
}

export function primaryUrl(banner: Pick<VkBanner, 'urls'>): string | null {
  const url = banner.urls?.primary?.url;
  return typeof url === 'string' && url.trim() !== '' ? url : null;
}

export function bannerInfo(banner: VkBanner, group: VkAdGroup | undefined): BannerInfo {
  return { banner_id: banner.id, ad_group_id: banner.ad_group_id, ad_plan_id: group?.ad_plan_id ?? 0, url: primaryUrl(banner), utmFallback: utmFallbackOf(group) };
}

/**
 * A banner's dimension row. Its UTM columns are parsed against the banner's creation day (the year of a
 * `msk_05_12` event day is inferred from it), or `fallbackDay` when VK sent no creation time; facts
 * parse against their own stats day.
 */
export function bannerRow(accountId: string, banner: VkBanner, group: VkAdGroup | undefined, fallbackDay: string): Row {
  const info = bannerInfo(banner, group);
  const adDay = dayOrNull(banner.created) ?? fallbackDay;
  const utm = utmFields(info.url, adDay, info.utmFallback);
  return {
    account_id: accountId,
    banner_id: banner.id,
    ad_group_id: banner.ad_group_id,
    ad_plan_id: info.ad_plan_id,
    name: banner.name,
    status: banner.status,
    moderation_status: banner.moderation_status ?? '',
    primary_url: info.url ?? '',
    ...utm,
    created: moscowToUtc(banner.created),
    updated: moscowToUtc(banner.updated),
  };
}

export interface StatsInput {
  accountId: string;
  currency: string;
  /** The window asked for in this request (inclusive). */
  from: string;
  to: string;
  items: readonly VkStatsItem[];
  banners: ReadonlyMap<number, BannerInfo>;
}

function statsKey(accountId: string, id: unknown, date: unknown): string {
  return `${accountId}|${String(id)}|${String(date)}`;
}

/** One stats row -> a fact row, or the reason it is rejected. */
export function statsRow(input: StatsInput, bannerId: number, raw: unknown): FactRow | string {
  if (!raw || typeof raw !== 'object') return 'stats row is not an object';
  const row = raw as { date?: unknown; base?: unknown };
  const date = row.date;
  if (typeof date !== 'string' || !isDay(date)) return `bad date ${JSON.stringify(date)}`;
  if (date < input.from || date > input.to) return `date ${date} outside the requested window ${input.from}..${input.to}`;
  const info = input.banners.get(bannerId);
  if (!info) return `unknown banner ${bannerId} (not in this account's banner list)`;
  if (!row.base || typeof row.base !== 'object') return 'no base metrics block';
  const base = row.base as Record<string, unknown>;
  const shows = parseCount(base.shows);
  const clicks = parseCount(base.clicks);
  const goals = parseCount(base.goals);
  if (shows === null || clicks === null || goals === null) return `bad counter: shows=${JSON.stringify(base.shows)} clicks=${JSON.stringify(base.clicks)} goals=${JSON.stringify(base.goals)}`;
  if (base.spent === undefined || base.spent === null || (typeof base.spent === 'string' && base.spent.trim() === '')) return 'empty spent';
  const cents = parseMoneyCents(base.spent);
  if (cents === null) return `spent is not a number: ${JSON.stringify(base.spent)}`;
  if (cents < 0) return `negative spent ${JSON.stringify(base.spent)}`;
  const utm = utmFields(info.url, date, info.utmFallback);
  return {
    account_id: input.accountId,
    date,
    banner_id: bannerId,
    ad_group_id: info.ad_group_id,
    ad_plan_id: info.ad_plan_id,
    shows,
    clicks,
    spent: cents / 100,
    goals,
    currency: input.currency,
    ...utm,
  };
}

/**
 * A statistics/banners/day.json answer -> fact rows. Zero-filled days are kept here (the sink decides:
 * it skips them unless a non-zero version is stored). When an (id, date) comes more than once, the last
 * copy wins and the earlier ones are counted as duplicates.
 */
export function statsToRows(input: StatsInput): StatsResult {
  const flat: Array<{ id: number; raw: unknown; key: string }> = [];
  for (const item of input.items) {
    for (const raw of item.rows) {
      const date = raw && typeof raw === 'object' ? (raw as { date?: unknown }).date : undefined;
      flat.push({ id: item.id, raw, key: statsKey(input.accountId, item.id, date) });
    }
  }
  const lastIndex = new Map<string, number>();
  flat.forEach((entry, i) => lastIndex.set(entry.key, i));
  const result: StatsResult = { rows: [], rejected: [], duplicates: 0, read: flat.length };
  flat.forEach((entry, i) => {
    if (lastIndex.get(entry.key) !== i) {
      result.duplicates++;
      return;
    }
    const out = statsRow(input, entry.id, entry.raw);
    if (typeof out === 'string') result.rejected.push({ reason: out, key: entry.key, payload: { account_id: input.accountId, banner_id: entry.id, row: entry.raw } });
    else result.rows.push(out);
  });
  return result;
}

/** VK zero-fills every day of the range (A5): such a row carries no information unless it corrects one. */
export function isEmptyFact(row: Row): boolean {
  return Number(row.shows) === 0 && Number(row.clicks) === 0 && Number(row.spent) === 0 && Number(row.goals) === 0;
}
