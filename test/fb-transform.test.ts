// Facebook payload parsing: numbers as strings, action arrays, datetimes, UTM from creatives, result
// families (first match wins, overlapping purchase types never summed), usage headers and error mapping.
import { describe, expect, it } from 'vitest';
import { classifyFbError, parseUsage, throttlePauseMs } from '../loaders/facebook/api.js';
import { adRow, creativeRow, fbTimeToUtc, insightRow, minorUnits, parseActions, parseCount, parseDecimal, resultOf, targetingSummary } from '../loaders/facebook/transform.js';
import { AdhouseError } from '../src/runtime/errors.js';

const ctx = { accountId: 'act_1', currency: 'RUB', since: '2026-01-01', until: '2026-01-31' };
const raw = {
  account_id: '1', account_currency: 'USD', campaign_id: '10', adset_id: '11', ad_id: '23850000000000001', ad_name: 'A',
  impressions: '1234', reach: '1000', frequency: '1.234', clicks: '9', inline_link_clicks: '7', spend: '14.35',
  ctr: '4.864865', cpm: '11.628849', cpc: '1.594444', optimization_goal: 'VALUE',
  actions: [{ action_type: 'link_click', value: '7', '1d_click': '7' }, { action_type: 'omni_purchase', value: '2' }, { action_type: 'offsite_conversion.fb_pixel_purchase', value: '2' }],
  action_values: [{ action_type: 'offsite_conversion.fb_pixel_purchase', value: '99.5' }],
  date_start: '2026-01-05', date_stop: '2026-01-05',
};

describe('facebook scalar parsing', () => {
  it('parses counts, decimals and budgets from strings; absent metrics are zero', () => {
    expect(parseCount('1234')).toBe(1234);
    expect(parseCount(undefined)).toBe(0);
    expect(parseCount('12.5')).toBeNull();
    expect(parseCount('-1')).toBeNull();
    expect(parseDecimal('4.864865')).toBeCloseTo(4.864865, 9);
    expect(parseDecimal('abc')).toBeNull();
    expect(minorUnits('2000')).toBe(2000);
    expect(minorUnits(1500)).toBe(1500);
    expect(minorUnits(undefined)).toBeNull();
  });

  it('converts colon-less offsets to UTC', () => {
    expect(fbTimeToUtc('2024-03-12T15:02:47-0700')).toBe('2024-03-12 22:02:47');
    expect(fbTimeToUtc('2024-03-12T15:02:47+03:00')).toBe('2024-03-12 12:02:47');
    expect(fbTimeToUtc('2024-02-30T00:00:00+0000')).toBeNull();
    expect(fbTimeToUtc(undefined)).toBeNull();
  });

  it('summarises targeting', () => {
    expect(targetingSummary({ age_min: 18, age_max: 45, geo_locations: { countries: ['RU'] }, genders: [1] })).toBe('age 18-45; genders m; countries RU');
  });
});

describe('facebook insight rows', () => {
  it('turns strings into typed columns and actions into parallel arrays', () => {
    const row = insightRow(ctx, raw);
    expect(typeof row).toBe('object');
    expect(row).toMatchObject({
      account_id: 'act_1', date: '2026-01-05', ad_id: '23850000000000001', currency: 'USD', impressions: 1234, reach: 1000, clicks: 9,
      inline_link_clicks: 7, spend: 14.35, optimization_goal: 'VALUE',
      'actions.type': ['link_click', 'omni_purchase', 'offsite_conversion.fb_pixel_purchase'], 'actions.value': [7, 2, 2],
      'action_values.type': ['offsite_conversion.fb_pixel_purchase'], 'action_values.value': [99.5],
      'cost_per_action_type.type': [], 'cost_per_action_type.value': [],
    });
    expect((row as Record<string, unknown>).frequency).toBeCloseTo(1.234, 9);
  });

  it('rejects malformed rows with a reason', () => {
    expect(insightRow(ctx, { ...raw, spend: 'n/a' })).toMatch(/spend is not a number/);
    expect(insightRow(ctx, { ...raw, impressions: '1.5' })).toMatch(/impressions is not a count/);
    expect(insightRow(ctx, { ...raw, date_start: '2025-12-31', date_stop: '2025-12-31' })).toMatch(/outside the requested window/);
    expect(insightRow(ctx, { ...raw, date_stop: '2026-01-06' })).toMatch(/not a daily row/);
    expect(insightRow(ctx, { ...raw, actions: [{ action_type: 'link_click', value: 'x' }] })).toMatch(/value is not a number/);
    expect(parseActions('x', 'actions')).toMatch(/not a list/);
  });

  it('keeps the account currency when the row has none', () => {
    const { account_currency: _, ...noCurrency } = raw;
    expect(insightRow(ctx, noCurrency)).toMatchObject({ currency: 'RUB' });
  });
});

describe('result families (CONTRACT.md)', () => {
  const a = (...pairs: Array<[string, number]>) => ({ type: pairs.map((p) => p[0]), value: pairs.map((p) => p[1]) });
  it('never sums overlapping purchase types', () => {
    expect(resultOf('VALUE', a(['purchase', 3], ['omni_purchase', 3], ['offsite_conversion.fb_pixel_purchase', 3]))).toEqual({ family: 'purchase', results: 3 });
  });
  it('first matching family wins; no match gives the first family with 0', () => {
    expect(resultOf('LEAD_GENERATION', a(['offsite_conversion.fb_pixel_lead', 2]))).toEqual({ family: 'website_lead', results: 2 });
    expect(resultOf('LEAD_GENERATION', a(['offsite_conversion.fb_pixel_lead', 2], ['onsite_conversion.lead_grouped', 5]))).toEqual({ family: 'leadgen_form', results: 5 });
    expect(resultOf('LEAD_GENERATION', a())).toEqual({ family: 'leadgen_form', results: 0 });
    expect(resultOf('LINK_CLICKS', a(['landing_page_view', 4]))).toEqual({ family: 'click', results: 4 });
    expect(resultOf('CONVERSATIONS', a(['onsite_conversion.total_messaging_connection', 6]))).toEqual({ family: 'messages', results: 6 });
    expect(resultOf('REACH', a(['link_click', 1]))).toEqual({ family: 'none', results: 0 });
  });
});

describe('creatives and UTM', () => {
  it('reads UTM from the link first and url_tags second; ads inherit their creative', () => {
    const c = { id: '5', link_url: 'https://t.example/e?utm_source=fb', url_tags: 'utm_source=facebook&utm_content=msk_05_12' };
    const row = creativeRow('act_1', c, '2026-01-10');
    expect(row).toMatchObject({ utm_source: 'fb', utm_content: 'msk_05_12', city: 'msk', utm_origin: 'mixed' });
    const story = creativeRow('act_1', { id: '6', object_story_spec: { link_data: { link: 'https://t.example/?utm_content=spb_20_12' } } }, '2026-01-10');
    expect(story).toMatchObject({ link_url: 'https://t.example/?utm_content=spb_20_12', city: 'spb', utm_origin: 'url' });
    const ad = adRow('act_1', { id: '7', adset_id: '8', campaign_id: '9', creative: { id: '5' }, created_time: '2025-11-01T10:00:00+0300' }, { link: '', urlTags: 'utm_content=kzn_15_01' }, '2026-01-10');
    expect(ad).toMatchObject({ creative_id: '5', city: 'kzn', event_date: '2026-01-15', utm_origin: 'fallback' });
  });
});

describe('usage headers and error classes', () => {
  it('takes the highest percentage of all four headers and the regain time in minutes', () => {
    const h = new Headers({
      'x-business-use-case-usage': JSON.stringify({ '9001': [{ type: 'ads_insights', call_count: 95, total_cputime: 20, total_time: 20, estimated_time_to_regain_access: 2 }] }),
      'x-ad-account-usage': JSON.stringify({ acc_id_util_pct: 9.67, reset_time_duration: 100 }),
      'x-app-usage': JSON.stringify({ call_count: 28, total_time: 25, total_cputime: 25 }),
      'x-fb-ads-insights-throttle': JSON.stringify({ app_id_util_pct: 0, acc_id_util_pct: 118 }),
    });
    expect(parseUsage(h)).toEqual({ maxPct: 118, regainMs: 120_000 });
    expect(parseUsage(new Headers({ 'x-app-usage': 'not json' }))).toEqual({ maxPct: 0, regainMs: 0 });
  });

  it('slows down above the threshold and pauses until access is regained', () => {
    const p = { slowdownPct: 75, slowdownMaxMs: 1000 };
    expect(throttlePauseMs({ maxPct: 50, regainMs: 0 }, p)).toBe(0);
    expect(throttlePauseMs({ maxPct: 87.5, regainMs: 0 }, p)).toBe(500);
    expect(throttlePauseMs({ maxPct: 130, regainMs: 0 }, p)).toBe(1000);
    expect(throttlePauseMs({ maxPct: 10, regainMs: 60_000 }, p)).toBe(60_000);
  });

  it('maps the code table to the runtime classes', () => {
    const u = { maxPct: 0, regainMs: 0 };
    const cls = (status: number, err: Record<string, unknown>, usage = u) => {
      const r = classifyFbError(status, err, usage, 777, 'x');
      return r instanceof AdhouseError ? [r.code, r.retryAfterMs] : ['split'];
    };
    expect(cls(400, { code: 190, error_subcode: 463 })).toEqual(['token_invalid', undefined]);
    expect(cls(400, { code: 10 })).toEqual(['token_invalid', undefined]);
    expect(cls(403, { code: 200 })).toEqual(['token_invalid', undefined]);
    expect(cls(400, { code: 17, error_subcode: 2446079 })).toEqual(['rate_limited', 777]);
    expect(cls(400, { code: 80000, error_subcode: 2446079 }, { maxPct: 100, regainMs: 5000 })).toEqual(['rate_limited', 5000]);
    for (const code of [4, 32, 613, 80004, 80014]) expect(cls(400, { code })[0]).toBe('rate_limited');
    expect(cls(400, { code: 2, is_transient: true })[0]).toBe('upstream_5xx');
    expect(cls(500, { code: 1, error_subcode: 99 })[0]).toBe('upstream_5xx');
    expect(cls(400, { code: 2601, error_subcode: 1815107 })[0]).toBe('upstream_5xx');
    expect(cls(400, { code: 100, error_subcode: 1487534 })).toEqual(['split']);
    expect(cls(500, { code: 1, message: "Please reduce the amount of data you're asking for, then retry your request" })).toEqual(['split']);
    expect(cls(400, { code: 100, message: 'Tried accessing nonexisting field' })[0]).toBe('config');
    expect(cls(400, { code: 2635 })[0]).toBe('config');
  });
});
