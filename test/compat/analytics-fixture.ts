// A hand-built Facebook data set for the analytics views (sql/views/0030–0039): three ad sets of three result
// families, a few ads over a few weeks (a week without delivery, a week short of results, a deleted row),
// daily rows with pauses, and structure rows whose updated_time explains one pause and not another.
// test/analytics-views.test.ts computes every expected column from these numbers in JavaScript;
// test/compat-current-clickhouse.test.ts loads the same statements into chDB and compares the views.

export interface FixtureWeek {
  account: string;
  ad: string;
  adset: string;
  week: string; // Monday
  spend: number;
  impressions: number;
  reach: number;
  clicks: number;
  link: number;
  results: number;
  quality?: string;
  engagement?: string;
  conversion?: string;
  deleted?: 1;
}

export const ADSETS: Array<{ account: string; adset: string; campaign: string; goal: string; action: string; family: string; updated: string | null }> = [
  { account: 'act_1', adset: 's1', campaign: 'c1', goal: 'CONVERSATIONS', action: 'onsite_conversion.total_messaging_connection', family: 'messages', updated: '2026-03-08 01:00:00' },
  { account: 'act_1', adset: 's2', campaign: 'c1', goal: 'LINK_CLICKS', action: 'link_click', family: 'click', updated: '2025-12-01 00:00:00' },
  { account: 'act_2', adset: 's3', campaign: 'c3', goal: 'VALUE', action: 'offsite_conversion.fb_pixel_purchase', family: 'purchase', updated: null },
];

export const ADS: Array<{ account: string; ad: string; adset: string; campaign: string; status: string; updated: string | null }> = [
  { account: 'act_1', ad: 'A', adset: 's1', campaign: 'c1', status: 'ACTIVE', updated: '2026-01-01 09:00:00' },
  { account: 'act_1', ad: 'B', adset: 's2', campaign: 'c1', status: 'PAUSED', updated: '2026-03-01 10:00:00' },
  { account: 'act_2', ad: 'C', adset: 's3', campaign: 'c3', status: 'ACTIVE', updated: null },
];

export const CAMPAIGNS: Array<{ account: string; campaign: string; status: string; updated: string | null }> = [
  { account: 'act_1', campaign: 'c1', status: 'ACTIVE', updated: '2025-12-01 00:00:00' },
  { account: 'act_2', campaign: 'c3', status: 'ACTIVE', updated: '2026-01-02 00:00:00' },
];

const w = (account: string, ad: string, adset: string, week: string, spend: number, impressions: number, reach: number, clicks: number, link: number, results: number, quality = 'AVERAGE', engagement = 'AVERAGE', conversion = 'UNKNOWN'): FixtureWeek =>
  ({ account, ad, adset, week, spend, impressions, reach, clicks, link, results, quality, engagement, conversion });

export const WEEKS: FixtureWeek[] = [
  // A: messages (min 5). 01-19 is short of results (4 < 5): no baseline week and no anomaly. 02-09 has no
  // delivery (no row). 02-02 and 02-16 spike, with frequency/CTR/CPM/spend/results/quality moving.
  w('act_1', 'A', 's1', '2026-01-05', 100.0, 10000, 5000, 200, 120, 20),
  w('act_1', 'A', 's1', '2026-01-12', 110.5, 10500, 5100, 205, 125, 22),
  w('act_1', 'A', 's1', '2026-01-19', 95.0, 9800, 4900, 190, 110, 4),
  w('act_1', 'A', 's1', '2026-01-26', 120.0, 11000, 5000, 180, 100, 21, 'AVERAGE', 'ABOVE_AVERAGE'),
  w('act_1', 'A', 's1', '2026-02-02', 150.0, 12000, 4500, 150, 80, 15, 'BELOW_AVERAGE_35', 'AVERAGE'),
  // 02-16's quality ranking is UNKNOWN (a NULL score): no deviation, not a -100 % trigger.
  w('act_1', 'A', 's1', '2026-02-16', 160.0, 12500, 4200, 140, 70, 12, 'UNKNOWN', 'BELOW_AVERAGE_10'),
  w('act_1', 'A', 's1', '2026-02-23', 90.0, 9000, 4500, 180, 110, 18),
  // B: clicks (min 50, results = the link_click action). 01-26 spikes; 02-02 has 40 results (< 50). B's
  // last week is before the account's last week: not in v_burnout_risk.
  w('act_1', 'B', 's2', '2026-01-05', 50.0, 20000, 15000, 400, 300, 300, 'ABOVE_AVERAGE', 'AVERAGE', 'BELOW_AVERAGE_35'),
  w('act_1', 'B', 's2', '2026-01-12', 52.0, 21000, 15500, 410, 310, 310, 'ABOVE_AVERAGE', 'AVERAGE', 'BELOW_AVERAGE_35'),
  w('act_1', 'B', 's2', '2026-01-19', 55.0, 21500, 15000, 380, 290, 290, 'ABOVE_AVERAGE', 'AVERAGE', 'BELOW_AVERAGE_35'),
  w('act_1', 'B', 's2', '2026-01-26', 80.0, 22000, 11000, 300, 200, 200, 'AVERAGE', 'BELOW_AVERAGE_35', 'BELOW_AVERAGE_35'),
  w('act_1', 'B', 's2', '2026-02-02', 40.0, 15000, 9000, 100, 40, 40, 'UNKNOWN', 'UNKNOWN', 'UNKNOWN'),
  // C: purchases (min 3) in another account. 01-19 spikes on 4 purchases; 01-26 has 2 (< 3); the deleted
  // 02-02 row must not count anywhere.
  w('act_2', 'C', 's3', '2026-01-05', 200.0, 5000, 3000, 100, 60, 5),
  w('act_2', 'C', 's3', '2026-01-12', 210.0, 5200, 3100, 100, 62, 6),
  w('act_2', 'C', 's3', '2026-01-19', 400.0, 6000, 3000, 90, 50, 4),
  w('act_2', 'C', 's3', '2026-01-26', 300.0, 5500, 2500, 80, 45, 2),
  { ...w('act_2', 'C', 's3', '2026-02-02', 999.0, 9999, 999, 9, 9, 99), deleted: 1 },
];

/** Daily impressions and spend; days not listed have no row. A row with 0 impressions is not delivery. */
export const DAYS: Array<{ account: string; ad: string; adset: string; date: string; impressions: number; spend: number }> = [
  { account: 'act_1', ad: 'A', adset: 's1', date: '2026-03-01', impressions: 100, spend: 10.5 },
  { account: 'act_1', ad: 'A', adset: 's1', date: '2026-03-02', impressions: 120, spend: 11.25 },
  { account: 'act_1', ad: 'A', adset: 's1', date: '2026-03-05', impressions: 90, spend: 9.0 },
  { account: 'act_1', ad: 'A', adset: 's1', date: '2026-03-06', impressions: 0, spend: 0 },
  { account: 'act_1', ad: 'A', adset: 's1', date: '2026-03-08', impressions: 50, spend: 5.0 },
  { account: 'act_1', ad: 'A', adset: 's1', date: '2026-03-09', impressions: 60, spend: 6.0 },
  { account: 'act_1', ad: 'B', adset: 's2', date: '2026-03-01', impressions: 300, spend: 3.0 },
  { account: 'act_1', ad: 'B', adset: 's2', date: '2026-03-04', impressions: 310, spend: 3.1 },
  { account: 'act_2', ad: 'E', adset: 's9', date: '2026-03-01', impressions: 10, spend: 1.0 },
  { account: 'act_2', ad: 'E', adset: 's9', date: '2026-03-03', impressions: 20, spend: 2.0 },
];

export function weeklyRow(x: FixtureWeek, ver: number): Record<string, unknown> {
  const set = ADSETS.find((s) => s.adset === x.adset)!;
  return {
    account_id: x.account, week_start: x.week, date_stop: x.week, ad_id: x.ad, adset_id: x.adset, campaign_id: set.campaign,
    ad_name: `ad ${x.ad}`, adset_name: `set ${x.adset}`, campaign_name: `camp ${set.campaign}`, currency: x.account === 'act_1' ? 'USD' : 'EUR',
    objective: '', optimization_goal: '', impressions: x.impressions, reach: x.reach, frequency: 0, clicks: x.clicks, inline_link_clicks: x.link,
    spend: x.spend, ctr: 0, inline_link_click_ctr: 0, cpm: 0, cpc: 0,
    quality_ranking: x.quality ?? '', engagement_rate_ranking: x.engagement ?? '', conversion_rate_ranking: x.conversion ?? '',
    // a distractor action first: the family's own type is picked, never summed with others
    'actions.type': ['post_engagement', set.action], 'actions.value': [x.results + 1000, x.results],
    'action_values.type': [], 'action_values.value': [], 'cost_per_action_type.type': [], 'cost_per_action_type.value': [],
    _hash: 0, _ver: ver, _loaded_at: '2026-03-10 00:00:00', _run_id: `r${ver}`, _deleted: x.deleted ?? 0,
  };
}

function dailyRow(x: (typeof DAYS)[number], ver: number): Record<string, unknown> {
  return {
    account_id: x.account, date: x.date, ad_id: x.ad, adset_id: x.adset, campaign_id: '', ad_name: '', adset_name: '', campaign_name: '',
    currency: 'USD', objective: '', optimization_goal: '', impressions: x.impressions, reach: x.impressions, frequency: 0, clicks: 0,
    inline_link_clicks: 0, spend: x.spend, ctr: 0, inline_link_click_ctr: 0, cpm: 0, cpc: 0, quality_ranking: '', engagement_rate_ranking: '',
    conversion_rate_ranking: '', 'actions.type': [], 'actions.value': [], 'action_values.type': [], 'action_values.value': [],
    'cost_per_action_type.type': [], 'cost_per_action_type.value': [], _hash: 0, _ver: ver, _loaded_at: '2026-03-10 00:00:00', _run_id: `r${ver}`, _deleted: 0,
  };
}

export const insert = (table: string, rows: Array<Record<string, unknown>>): string =>
  `INSERT INTO ${table} FORMAT JSONEachRow\n${rows.map((r) => JSON.stringify(r)).join('\n')}`;

/** The ad sets (their optimization goal gives each ad's result family). */
export function adsetStatement(ver = 1): string {
  const meta = { _hash: 0, _ver: ver, _loaded_at: '2026-03-10 00:00:00', _run_id: `r${ver}`, _deleted: 0 };
  return insert('stg_fb_adsets', ADSETS.map((s) => ({ account_id: s.account, adset_id: s.adset, campaign_id: s.campaign, name: s.adset, status: 'ACTIVE', effective_status: 'ACTIVE', optimization_goal: s.goal, updated_time: s.updated, ...meta })));
}

/** The fixture as INSERT statements; a second call with a higher version reloads the same rows. */
export function analyticsFixtureStatements(ver = 1): string[] {
  const meta = { _hash: 0, _ver: ver, _loaded_at: '2026-03-10 00:00:00', _run_id: `r${ver}`, _deleted: 0 };
  return [
    insert('stg_fb_insights_weekly', WEEKS.map((x) => weeklyRow(x, ver))),
    insert('stg_fb_insights_daily', DAYS.map((x) => dailyRow(x, ver))),
    adsetStatement(ver),
    insert('stg_fb_ads', ADS.map((a) => ({ account_id: a.account, ad_id: a.ad, adset_id: a.adset, campaign_id: a.campaign, name: a.ad, status: a.status, effective_status: a.status, updated_time: a.updated, ...meta }))),
    insert('stg_fb_campaigns', CAMPAIGNS.map((c) => ({ account_id: c.account, campaign_id: c.campaign, name: c.campaign, status: c.status, effective_status: c.status, updated_time: c.updated, ...meta }))),
  ];
}

/** Every analytics view, in a stable order, for comparing engines and reloads. */
export const ANALYTICS_QUERIES = [
  'SELECT * FROM v_analytics_settings',
  'SELECT * FROM v_fb_weekly_features ORDER BY account_id, ad_id, week_start',
  'SELECT * FROM v_cpr_anomalies ORDER BY account_id, ad_id, week_start',
  'SELECT * FROM v_fb_burnout_weekly ORDER BY account_id, ad_id, week_start',
  'SELECT * FROM v_burnout_risk ORDER BY account_id, ad_id',
  'SELECT * FROM v_fb_delivery_daily ORDER BY account_id, ad_id, date',
];
