// v_fb_daily_results against hand-made fixtures: the result family by the ad set's optimization goal,
// first matching action type wins, overlapping purchase types never summed, CPR only when results > 0.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chdbSchema, runChdb } from './support/chdb.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

interface Insight {
  ad_id: string;
  adset_id: string;
  goal?: string;
  spend: number;
  impressions: number;
  reach?: number;
  clicks: number;
  link?: number;
  actions: Array<[string, number]>;
  ver?: number;
  deleted?: number;
  date?: string;
}

function insight(i: Insight): Record<string, unknown> {
  return {
    account_id: 'act_1',
    date: i.date ?? '2026-01-10',
    ad_id: i.ad_id,
    adset_id: i.adset_id,
    campaign_id: '77',
    ad_name: `ad ${i.ad_id}`,
    adset_name: '',
    campaign_name: 'c',
    currency: 'USD',
    objective: '',
    optimization_goal: i.goal ?? '',
    impressions: i.impressions,
    reach: i.reach ?? i.impressions,
    frequency: 0,
    clicks: i.clicks,
    inline_link_clicks: i.link ?? 0,
    spend: i.spend,
    ctr: 0,
    inline_link_click_ctr: 0,
    cpm: 0,
    cpc: 0,
    quality_ranking: '',
    engagement_rate_ranking: '',
    conversion_rate_ranking: '',
    'actions.type': i.actions.map((a) => a[0]),
    'actions.value': i.actions.map((a) => a[1]),
    'action_values.type': [],
    'action_values.value': [],
    'cost_per_action_type.type': [],
    'cost_per_action_type.value': [],
    _ver: i.ver ?? 2,
    _deleted: i.deleted ?? 0,
  };
}

const adsets: Array<[string, string]> = [
  ['1', 'VALUE'],
  ['2', 'LEAD_GENERATION'],
  ['3', 'LEAD_GENERATION'],
  ['4', 'CONVERSATIONS'],
  ['5', 'LINK_CLICKS'],
  ['7', 'REACH'],
  ['8', 'VALUE'],
];

interface ViewRow {
  ad_id: string;
  result_family: string;
  results: number;
  cpr: number | null;
  cpc: number | null;
  ctr: number;
  link_ctr: number;
  cpm: number;
  frequency: number;
  spend: string;
  optimization_goal: string;
}

const ADSET_ROWS = adsets.map(([id, goal]) => ({ account_id: 'act_1', adset_id: id, campaign_id: '77', name: id, optimization_goal: goal, _ver: 1 }));
const VIEW_QUERY = `SELECT ad_id, result_family, results, cpr, cpc, ctr, link_ctr, cpm, frequency, toString(toFloat64(spend)) AS spend, optimization_goal FROM v_fb_daily_results ORDER BY ad_id`;

describe('v_fb_daily_results', () => {
  let wh: Warehouse;
  let rows: Map<string, ViewRow>;
  let insights: Array<Record<string, unknown>>;

  beforeAll(async () => {
    wh = await freshWarehouse();
    await wh.client.insert({
      table: 'stg_fb_adsets',
      format: 'JSONEachRow',
      values: ADSET_ROWS,
    });
    insights = [
        // One purchase under three overlapping types: 3 purchases, not 9.
        insight({ ad_id: '101', adset_id: '1', spend: 30, impressions: 2000, reach: 1000, clicks: 40, link: 30, actions: [['link_click', 30], ['purchase', 3], ['omni_purchase', 3], ['offsite_conversion.fb_pixel_purchase', 3]] }),
        // An older version of the same ad-day: FINAL hides it.
        insight({ ad_id: '101', adset_id: '1', spend: 999, impressions: 1, clicks: 1, actions: [['offsite_conversion.fb_pixel_purchase', 50]], ver: 1 }),
        // LEAD_GENERATION with only pixel leads → website_lead.
        insight({ ad_id: '102', adset_id: '2', spend: 20, impressions: 1000, clicks: 10, actions: [['lead', 4], ['offsite_conversion.fb_pixel_lead', 4]] }),
        // Both lead kinds: the instant form comes first in the family order.
        insight({ ad_id: '103', adset_id: '3', spend: 10, impressions: 1000, clicks: 10, actions: [['offsite_conversion.fb_pixel_lead', 2], ['onsite_conversion.lead_grouped', 5]] }),
        // No actions at all: messages with 0 results, no CPR; no clicks, no CPC.
        insight({ ad_id: '104', adset_id: '4', spend: 5, impressions: 100, clicks: 0, actions: [] }),
        // Clicks family: link_click absent, landing_page_view used.
        insight({ ad_id: '105', adset_id: '5', spend: 7, impressions: 700, clicks: 9, actions: [['landing_page_view', 7]] }),
        // Ad set unknown to the structure: the insight row's own goal decides.
        insight({ ad_id: '106', adset_id: '6', goal: 'THRUPLAY', spend: 4, impressions: 400, clicks: 2, actions: [['video_view', 100]] }),
        // A goal without a family.
        insight({ ad_id: '107', adset_id: '7', spend: 1, impressions: 10, clicks: 1, actions: [['link_click', 1]] }),
        // VALUE without purchases but with a pixel lead → website_lead.
        insight({ ad_id: '108', adset_id: '8', spend: 8, impressions: 800, clicks: 8, actions: [['offsite_conversion.fb_pixel_lead', 2], ['purchase', 1]] }),
        // A deleted ad-day is not shown.
        insight({ ad_id: '109', adset_id: '1', spend: 50, impressions: 10, clicks: 1, actions: [], deleted: 1 }),
    ];
    await wh.client.insert({ table: 'stg_fb_insights_daily', format: 'JSONEachRow', values: insights });
    const list = await wh.query<ViewRow>(VIEW_QUERY);
    rows = new Map(list.map((r) => [r.ad_id, r]));
  });
  afterAll(async () => {
    await wh?.drop();
  });

  it('never sums overlapping purchase types and reads the newest version only', () => {
    const r = rows.get('101')!;
    expect(r).toMatchObject({ result_family: 'purchase', results: 3 });
    expect(Number(r.spend)).toBe(30);
    expect(r.cpr).toBeCloseTo(10, 9);
    expect(r.ctr).toBeCloseTo(2, 9);
    expect(r.link_ctr).toBeCloseTo(1.5, 9);
    expect(r.cpm).toBeCloseTo(15, 9);
    expect(r.cpc).toBeCloseTo(0.75, 9);
    expect(r.frequency).toBeCloseTo(2, 9);
  });

  it('chooses the family by the ad set goal, first matching action type wins', () => {
    expect(rows.get('102')).toMatchObject({ result_family: 'website_lead', results: 4 });
    expect(rows.get('102')!.cpr).toBeCloseTo(5, 9);
    expect(rows.get('103')).toMatchObject({ result_family: 'leadgen_form', results: 5 });
    expect(rows.get('105')).toMatchObject({ result_family: 'click', results: 7 });
    expect(rows.get('106')).toMatchObject({ result_family: 'video_view', results: 100, optimization_goal: 'THRUPLAY' });
    expect(rows.get('107')).toMatchObject({ result_family: 'none', results: 0, cpr: null });
    expect(rows.get('108')).toMatchObject({ result_family: 'website_lead', results: 2 });
  });

  it('has no CPR without results and no CPC without clicks; hides deleted rows', () => {
    expect(rows.get('104')).toMatchObject({ result_family: 'messages', results: 0, cpr: null, cpc: null });
    expect(rows.has('109')).toBe(false);
    expect(rows.size).toBe(8);
  });

  it('answers the same on a current ClickHouse (chDB)', async () => {
    const { setup, migrations, views } = chdbSchema();
    const insert = (table: string, values: Array<Record<string, unknown>>) => `INSERT INTO ${table} FORMAT JSONEachRow\n${values.map((v) => JSON.stringify(v)).join('\n')}`;
    const statements = [
      ...setup,
      ...migrations,
      ...views,
      insert('stg_fb_adsets', ADSET_ROWS),
      insert('stg_fb_insights_daily', insights),
      VIEW_QUERY,
    ];
    const { status, stderr, results } = runChdb(statements);
    expect(status, stderr).toBe(0);
    expect(results.map((r, i) => (r.error ? `${statements[i]!.slice(0, 100)} -> ${r.error}` : null)).filter(Boolean)).toEqual([]);
    const num = (v: unknown) => (v === null ? null : typeof v === 'string' && /^-?[\d.]+$/.test(v) ? Number(v) : v);
    const norm = (list: Array<Record<string, unknown>>) =>
      list.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof num(v) === 'number' ? Math.round((num(v) as number) * 1e6) / 1e6 : v])));
    expect(norm(results.at(-1)!.rows!)).toEqual(norm([...rows.values()] as unknown as Array<Record<string, unknown>>));
  });
});
