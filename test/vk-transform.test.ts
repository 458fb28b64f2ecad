import { describe, expect, it } from 'vitest';
import { adGroupSchema, bannerSchema, adPlanSchema, type VkStatsItem } from '../loaders/vk_ads/api.js';
import {
  bannerInfo,
  bannerRow,
  groupRow,
  isEmptyFact,
  moscowToUtc,
  parseCount,
  parseMoneyCents,
  planRow,
  primaryUrl,
  statsToRows,
  utmFallbackOf,
  type BannerInfo,
} from '../loaders/vk_ads/transform.js';

const banners = new Map<number, BannerInfo>([
  [11, { banner_id: 11, ad_group_id: 5, ad_plan_id: 2, url: 'https://t.ru/e?utm_source=vk&utm_medium=cpc&utm_content=msk_05_12', utmFallback: null }],
  [12, { banner_id: 12, ad_group_id: 6, ad_plan_id: 2, url: 'https://t.ru/landing', utmFallback: 'utm_source=vk&utm_medium=paid&utm_content=spb_20_12' }],
]);

function stats(items: Array<{ id: number; rows: unknown[] }>, from = '2025-11-01', to = '2025-11-03') {
  return statsToRows({ accountId: 'acc', currency: 'RUB', from, to, items: items as VkStatsItem[], banners });
}

const base = (spent: unknown, shows: unknown = 100, clicks: unknown = 5, goals: unknown = 1) => ({ shows, clicks, goals, spent, ctr: 5, cpm: '1.00' });

describe('vk transform: money and counters', () => {
  it('parses decimal strings and numbers into exact kopecks', () => {
    expect(parseMoneyCents('23328.92')).toBe(2332892);
    expect(parseMoneyCents('0')).toBe(0);
    expect(parseMoneyCents('12.5')).toBe(1250);
    expect(parseMoneyCents('1.0050')).toBe(101); // half up on the third decimal
    expect(parseMoneyCents('1.005')).toBeNull(); // one separator + three digits: 1005 or 1.005? refused
    expect(parseMoneyCents('7,25')).toBe(725);
    expect(parseMoneyCents(3.1)).toBe(310);
    expect(parseMoneyCents('-3.50')).toBe(-350);
    expect(parseMoneyCents('')).toBeNull();
    expect(parseMoneyCents('abc')).toBeNull();
    expect(parseMoneyCents(null)).toBeNull();
    expect(parseMoneyCents(Number.NaN)).toBeNull();
  });
  it('parses counters from numbers or digit strings; a missing counter is 0', () => {
    expect(parseCount(5)).toBe(5);
    expect(parseCount('17')).toBe(17);
    expect(parseCount(undefined)).toBe(0);
    expect(parseCount(-1)).toBeNull();
    expect(parseCount(1.5)).toBeNull();
    expect(parseCount('x')).toBeNull();
  });
  it('converts Moscow datetimes to UTC', () => {
    expect(moscowToUtc('2025-03-04 10:00:00')).toBe('2025-03-04 07:00:00');
    expect(moscowToUtc('2025-01-01 01:30:00')).toBe('2024-12-31 22:30:00');
    expect(moscowToUtc('yesterday')).toBeNull();
    expect(moscowToUtc(undefined)).toBeNull();
    expect(moscowToUtc('2025-02-30 00:00:00')).toBeNull();
  });
});

describe('vk transform: stats rows', () => {
  it('maps a valid row with UTM from the banner URL and money as a number', () => {
    const r = stats([{ id: 11, rows: [{ date: '2025-11-02', base: base('123.45') }] }]);
    expect(r.read).toBe(1);
    expect(r.rejected).toEqual([]);
    expect(r.rows[0]).toMatchObject({ account_id: 'acc', date: '2025-11-02', banner_id: 11, ad_group_id: 5, ad_plan_id: 2, shows: 100, clicks: 5, goals: 1, spent: 123.45, currency: 'RUB', utm_source: 'vk', utm_content: 'msk_05_12', city: 'msk', event_date: '2025-12-05', utm_origin: 'url' });
    expect(typeof r.rows[0]!.spent).toBe('number');
  });

  it('fills UTM from the group when the URL has none', () => {
    const r = stats([{ id: 12, rows: [{ date: '2025-11-01', base: base('1') }] }]);
    expect(r.rows[0]).toMatchObject({ utm_origin: 'fallback', utm_medium: 'paid', city: 'spb', event_date: '2025-12-20' });
  });

  it('keeps zero-filled days (the sink decides) and flags them as empty', () => {
    const r = stats([{ id: 11, rows: [{ date: '2025-11-01', base: base('0', 0, 0, 0) }] }]);
    expect(r.rows).toHaveLength(1);
    expect(isEmptyFact(r.rows[0] as never)).toBe(true);
    expect(isEmptyFact({ ...r.rows[0], spent: 0.01 })).toBe(false);
  });

  it('accepts counters as strings and money as a number', () => {
    const r = stats([{ id: 11, rows: [{ date: '2025-11-01', base: base(10.5, '100', '3', '0') }] }]);
    expect(r.rows[0]).toMatchObject({ shows: 100, clicks: 3, goals: 0, spent: 10.5 });
  });

  it.each([
    [{ date: '2025-11-02', base: base('-3.50') }, /negative spent/],
    [{ date: '2025-11-02', base: base('') }, /empty spent/],
    [{ date: '2025-11-02', base: { shows: 1, clicks: 0, goals: 0 } }, /empty spent/],
    [{ date: '2025-11-02', base: base('lots') }, /not a number/],
    [{ date: '2025-11-04', base: base('1.00') }, /outside the requested window/],
    [{ date: '2025-10-31', base: base('1.00') }, /outside the requested window/],
    [{ date: '02.11.2025', base: base('1.00') }, /bad date/],
    [{ date: '2025-11-02' }, /no base metrics/],
    [{ date: '2025-11-02', base: base('1', -5) }, /bad counter/],
    ['junk', /not an object/],
  ])('quarantines %j', (row, reason) => {
    const r = stats([{ id: 11, rows: [row] }]);
    expect(r.rows).toEqual([]);
    expect(r.rejected).toHaveLength(1);
    expect(r.rejected[0]!.reason).toMatch(reason);
    expect(r.rejected[0]!.payload).toEqual({ account_id: 'acc', banner_id: 11, row });
    expect(r.read).toBe(1);
  });

  it('quarantines a row of a banner the account never listed', () => {
    const r = stats([{ id: 999, rows: [{ date: '2025-11-02', base: base('1.00') }] }]);
    expect(r.rejected[0]).toMatchObject({ key: 'acc|999|2025-11-02' });
    expect(r.rejected[0]!.reason).toMatch(/unknown banner 999/);
  });

  it('keeps the last of duplicate (id, date) rows and counts the others', () => {
    const r = stats([
      { id: 11, rows: [{ date: '2025-11-01', base: base('5.00', 107) }, { date: '2025-11-01', base: base('4.00', 100) }, { date: '2025-11-02', base: base('1') }] },
      { id: 11, rows: [{ date: '2025-11-02', base: base('2') }] },
    ]);
    expect(r.read).toBe(4);
    expect(r.duplicates).toBe(2);
    expect(r.rows.map((x) => [x.date, x.spent, x.shows])).toEqual([
      ['2025-11-01', 4, 100],
      ['2025-11-02', 2, 100],
    ]);
    expect(r.rows.length + r.rejected.length + r.duplicates).toBe(r.read);
  });

  it('ignores unknown metric blocks', () => {
    const r = stats([{ id: 11, rows: [{ date: '2025-11-02', base: base('1'), mystery_block: { x: 1 } }] }]);
    expect(r.rows).toHaveLength(1);
  });
});

describe('vk transform: structure rows', () => {
  const group = adGroupSchema.parse({ id: '6', ad_plan_id: 2, name: 'G', status: 'active', utm: 'utm_source=vk&utm_content=spb_20_12', enable_utm: 'true', created: '2025-02-01 12:00:00' });

  it('uses the group utm as fallback only when VK appends it', () => {
    expect(utmFallbackOf(group)).toBe('utm_source=vk&utm_content=spb_20_12');
    expect(utmFallbackOf({ ...group, enable_utm: false })).toBeNull();
    expect(utmFallbackOf({ ...group, utm: '' })).toBeNull();
    expect(utmFallbackOf({ ...group, enable_utm: null })).toBe('utm_source=vk&utm_content=spb_20_12');
    expect(utmFallbackOf(undefined)).toBeNull();
  });

  it('maps plans and groups', () => {
    const plan = adPlanSchema.parse({ id: 2, name: 'P', status: 'deleted', objective: 'traffic', created: '2025-01-10 03:00:00', date_start: '2025-01-10', budget_limit_day: '1500' });
    expect(planRow('acc', plan)).toMatchObject({ account_id: 'acc', ad_plan_id: 2, status: 'deleted', budget_limit_day: 1500, date_start: '2025-01-10', date_end: null, created: '2025-01-10 00:00:00', updated: null });
    expect(groupRow('acc', group)).toMatchObject({ ad_group_id: 6, ad_plan_id: 2, enable_utm: 1, utm: 'utm_source=vk&utm_content=spb_20_12', created: '2025-02-01 09:00:00' });
    expect(groupRow('acc', { ...group, enable_utm: false })).toMatchObject({ enable_utm: 0 });
  });

  it('maps banners: primary URL, UTM parsed against the creation day, group fallback', () => {
    const b = bannerSchema.parse({ id: 12, ad_group_id: 6, name: 'B', status: 'active', created: '2025-11-20 10:00:00', urls: { primary: { id: 77, url: 'https://t.ru/landing' } } });
    const row = bannerRow('acc', b, group, '2026-01-01');
    expect(row).toMatchObject({ banner_id: 12, ad_plan_id: 2, primary_url: 'https://t.ru/landing', utm_origin: 'fallback', city: 'spb', event_date: '2025-12-20' });
    const noUrl = bannerSchema.parse({ id: 13, ad_group_id: 99, urls: { primary: { id: 78 } } });
    expect(primaryUrl(noUrl)).toBeNull();
    expect(bannerInfo(noUrl, undefined)).toEqual({ banner_id: 13, ad_group_id: 99, ad_plan_id: 0, url: null, utmFallback: null });
    expect(bannerRow('acc', noUrl, undefined, '2026-01-01')).toMatchObject({ primary_url: '', utm_origin: 'none', created: null });
  });
});
