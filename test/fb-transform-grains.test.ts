// Weekly and hourly insight rows: bucket checks (Meta's 7-day buckets start at `since`, the last one stops at
// `until`), hour ranges, what the hourly grain leaves out, and the empty hourly placeholder rows.
import { describe, expect, it } from 'vitest';
import { INSIGHT_FIELDS } from '../loaders/facebook/api.js';
import { insightRanges } from '../loaders/facebook/index.js';
import { INSIGHT_TABLES, insightKey, insightRow, isEmptyHourPlaceholder, mondayOf, parseHourRange } from '../loaders/facebook/transform.js';

const base = {
  account_id: '1', account_currency: 'EUR', campaign_id: '10', adset_id: '11', ad_id: '238500001', impressions: '5000', reach: '3100', frequency: '1.61',
  clicks: '40', inline_link_clicks: '31', spend: '120.5', optimization_goal: 'LINK_CLICKS', quality_ranking: 'AVERAGE',
  actions: [{ action_type: 'link_click', value: '31' }],
};

describe('facebook weekly rows', () => {
  const ctx = { accountId: 'act_7', currency: 'RUB', since: '2025-12-29', until: '2026-01-28' };

  it('maps date_start/date_stop to week_start/date_stop, keeping unique reach and rankings', () => {
    const row = insightRow(ctx, { ...base, date_start: '2026-01-05', date_stop: '2026-01-11' }, 'weekly');
    expect(row).toMatchObject({ account_id: 'act_7', week_start: '2026-01-05', date_stop: '2026-01-11', reach: 3100, frequency: 1.61, quality_ranking: 'AVERAGE', spend: 120.5, currency: 'EUR' });
    expect(row).not.toHaveProperty('date');
    // The running week stops at the window end.
    expect(insightRow(ctx, { ...base, date_start: '2026-01-26', date_stop: '2026-01-28' }, 'weekly')).toMatchObject({ week_start: '2026-01-26', date_stop: '2026-01-28' });
  });

  it('rejects rows that are not one of the requested buckets', () => {
    expect(insightRow(ctx, { ...base, date_start: '2026-01-06', date_stop: '2026-01-12' }, 'weekly')).toMatch(/not a weekly bucket start: 2026-01-06/);
    expect(insightRow(ctx, { ...base, date_start: '2026-01-05', date_stop: '2026-01-12' }, 'weekly')).toMatch(/bad date_stop "2026-01-12"/);
    expect(insightRow(ctx, { ...base, date_start: '2026-01-26', date_stop: '2026-01-29' }, 'weekly')).toMatch(/bad date_stop/);
    expect(insightRow(ctx, { ...base, date_start: '2026-01-05' }, 'weekly')).toMatch(/bad date_stop undefined/);
    expect(insightRow(ctx, { ...base, date_start: '2025-12-22', date_stop: '2025-12-28' }, 'weekly')).toMatch(/outside the requested window/);
  });

  it('finds the Monday on or before a day', () => {
    expect(['2026-01-01', '2026-01-04', '2026-01-05', '2026-01-11'].map(mondayOf)).toEqual(['2025-12-29', '2025-12-29', '2026-01-05', '2026-01-05']);
  });
});

describe('facebook hourly rows', () => {
  const ctx = { accountId: 'act_7', currency: 'RUB', since: '2026-11-22', until: '2026-11-22' };
  const hourRow = { ...base, date_start: '2026-11-22', date_stop: '2026-11-22', hourly_stats_aggregated_by_advertiser_time_zone: '13:00:00 - 13:59:59' };

  it('reads the hour from the breakdown value and has no reach, frequency or rankings columns', () => {
    const row = insightRow(ctx, hourRow, 'hourly') as Record<string, unknown>;
    expect(row).toMatchObject({ date: '2026-11-22', hour: 13, impressions: 5000, clicks: 40, spend: 120.5 });
    for (const col of ['reach', 'frequency', 'quality_ranking', 'engagement_rate_ranking', 'conversion_rate_ranking']) expect(row).not.toHaveProperty(col);
    expect(insightKey('act_7', hourRow)).toBe('act_7|238500001|2026-11-22|13:00:00 - 13:59:59');
    // ...and never asks for them: Meta serves no unique counts or rankings by the hour.
    expect(INSIGHT_FIELDS.hourly).not.toContain('reach');
    expect(INSIGHT_FIELDS.hourly).not.toContain('quality_ranking');
    expect(INSIGHT_FIELDS.weekly).toContain('reach');
  });

  it('parses only well-formed hour ranges', () => {
    expect(parseHourRange('00:00:00 - 00:59:59')).toBe(0);
    expect(parseHourRange('23:00:00 - 23:59:59')).toBe(23);
    expect(parseHourRange('24:00:00 - 24:59:59')).toBeNull();
    expect(parseHourRange('13:00:00 - 14:59:59')).toBeNull();
    expect(parseHourRange(undefined)).toBeNull();
    expect(insightRow(ctx, { ...hourRow, hourly_stats_aggregated_by_advertiser_time_zone: '1pm' }, 'hourly')).toMatch(/bad hour "1pm"/);
  });

  it('treats a keyless zero row as an empty placeholder, and a keyless row with delivery as bad', () => {
    const { hourly_stats_aggregated_by_advertiser_time_zone: _, ...keyless } = hourRow;
    expect(isEmptyHourPlaceholder({ ...keyless, impressions: '0', spend: '0' })).toBe(true);
    expect(isEmptyHourPlaceholder({ ad_id: '1', date_start: '2026-11-22', date_stop: '2026-11-22' })).toBe(true);
    expect(isEmptyHourPlaceholder(keyless)).toBe(false);
    expect(isEmptyHourPlaceholder(hourRow)).toBe(false);
    expect(insightRow(ctx, keyless, 'hourly')).toMatch(/bad hour/);
  });

  it('each grain has its table and key; the stored-hash lookup is bounded by a key column', () => {
    expect(INSIGHT_TABLES.weekly).toEqual({ table: 'stg_fb_insights_weekly', key: ['account_id', 'ad_id', 'week_start'], dateColumn: 'week_start' });
    for (const t of Object.values(INSIGHT_TABLES)) expect(t.key).toContain(t.dateColumn);
    expect(INSIGHT_TABLES.hourly.key).toEqual(['account_id', 'ad_id', 'date', 'hour']);
  });
});

describe('facebook insight ranges per account', () => {
  it('weekly: whole weeks up to the account\'s today; daily: the window; hourly: the account\'s yesterday and today', () => {
    // A past window ending on a Wednesday: the last week is read through its Sunday.
    expect(insightRanges({ since: '2026-01-01', until: '2026-01-14' }, '2026-11-22')).toEqual({
      weekly: [{ since: '2025-12-29', until: '2026-01-18' }],
      daily: [{ since: '2026-01-01', until: '2026-01-14' }],
      hourly: [{ since: '2026-11-21', until: '2026-11-21' }, { since: '2026-11-22', until: '2026-11-22' }],
    });
    // The running week stops at the account's today (here a day behind the window's end).
    expect(insightRanges({ since: '2026-01-01', until: '2026-01-14' }, '2026-01-13').weekly).toEqual([{ since: '2025-12-29', until: '2026-01-13' }]);
    // A window wholly after the account's today (a Monday in the reporting zone, still Sunday there): no week yet.
    expect(insightRanges({ since: '2026-01-19', until: '2026-01-19' }, '2026-01-18').weekly).toEqual([]);
  });
});
