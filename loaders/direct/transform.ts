// Direct payloads -> warehouse rows (pure). Ids stay decimal strings (UInt64), money a JSON number with
// two decimals (18.16 reads Decimal from JSONEachRow only as a number), UTM from the ad's TextAd.Href.
import { createHash } from 'node:crypto';
import { utmFields } from '../../src/marketing/utm.js';
import type { DirectAd, DirectCampaign } from './api.js';
import type { BadLineKey, ReportRecord } from './tsv.js';

/** What the fact needs of an ad: its link (TEXT_AD only; image and responsive ads have none here). */
export interface AdLink {
  href: string | null;
}

export const DEFAULT_CURRENCY = 'RUB';

export function campaignRow(login: string, c: DirectCampaign, fallbackCurrency: string): Record<string, unknown> {
  return {
    client_login: login,
    campaign_id: String(c.Id),
    name: c.Name ?? '',
    type: c.Type ?? '',
    state: c.State ?? '',
    status: c.Status ?? '',
    currency: c.Currency || fallbackCurrency,
  };
}

export function adRow(login: string, ad: DirectAd): Record<string, unknown> {
  return {
    client_login: login,
    ad_id: String(ad.Id),
    campaign_id: String(ad.CampaignId ?? 0),
    ad_group_id: String(ad.AdGroupId ?? 0),
    state: ad.State ?? '',
    status: ad.Status ?? '',
    type: ad.Type ?? '',
    href: ad.TextAd?.Href ?? '',
    title: ad.TextAd?.Title ?? '',
  };
}

export function adLink(ad: DirectAd): AdLink {
  const href = ad.TextAd?.Href;
  return { href: href ? href : null };
}

export interface FactContext {
  login: string;
  currency: string;
  includeVat: boolean;
}

/**
 * One fact row per (login, campaign, ad, day). Campaign Master rows have ad_id 0 and no link, so their
 * UTM columns are empty with utm_origin 'none'.
 */
export function factRow(r: ReportRecord, ad: AdLink | undefined, ctx: FactContext): Record<string, unknown> {
  const utm = utmFields(ad?.href ?? null, r.date);
  return {
    client_login: ctx.login,
    date: r.date,
    campaign_id: r.campaignId,
    campaign_name: r.campaignName,
    ad_group_id: r.adGroupId,
    ad_group_name: r.adGroupName,
    ad_id: r.adId,
    impressions: r.impressions,
    clicks: r.clicks,
    cost: r.cost,
    cost_includes_vat: ctx.includeVat ? 1 : 0,
    conversions: r.conversions,
    currency: ctx.currency,
    ...utm,
  };
}

/**
 * The fact table's natural key, also the key skipUnchanged compares hashes under and deleteUnseen hands
 * to its match: it must hold client_login and date (tombstones are scoped by login and report period).
 */
export const FACT_KEY = ['client_login', 'campaign_id', 'ad_id', 'date'] as const;

/**
 * Whether a stored fact key (deleteUnseen's strings, login already matched) could be the row a
 * quarantined line stands for: every field the bad line still shows must agree; an unreadable field
 * could be anything.
 */
export function coveredByBadLine(key: Record<string, string>, bad: BadLineKey): boolean {
  return (bad.date === undefined || key.date === bad.date) && (bad.campaignId === undefined || key.campaign_id === bad.campaignId) && (bad.adId === undefined || key.ad_id === bad.adId);
}

/** Stable quarantine key for a bad report line: login + the line's own text. */
export function quarantineKey(login: string, raw: string): string {
  return `${login}:${createHash('sha1').update(raw).digest('hex')}`;
}

/** Splits ids into chunks of `size` (ads.get takes at most 10 CampaignIds). */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
