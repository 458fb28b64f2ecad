// Builds a digest for a period [from, to] of days in the report's time zone: totals per metric for the
// period and the previous period of the same length (Δ, Δ%), the top campaigns by spend, a ROMI summary
// (v_romi_kpi) and, when their objects exist, new CPR anomalies (fb_anomaly_history) and at-risk ads
// (v_burnout_risk). SQL in the views' style: portable to ClickHouse 18.16 and current releases (no window
// functions, aliased subqueries); dates are inlined only through sqlDate.
import { queryRows, type ClickHouseClient } from '../clickhouse/client.js';
import { sqlDate, sqlInt, sqlString, sqlStringList } from '../clickhouse/literal.js';
import { addDays, diffDays, isDay, todayIn } from '../runtime/dates.js';
import type { Metric, PeriodKind, ReportDefinition } from './definitions.js';

export interface Period {
  from: string;
  to: string;
}

export type Totals = Record<Metric, number | null>;

export interface MetricRow {
  metric: Metric;
  current: number | null;
  previous: number | null;
  delta: number | null;
  /** Fraction (0.25 = +25 %); null when the previous value is 0 or unknown. */
  deltaPct: number | null;
}

export interface CampaignRow {
  platform: string;
  accountId: string;
  campaignId: string;
  campaignName: string;
  spend: number;
  impressions: number;
  clicks: number;
  results: number;
  cpr: number | null;
}

export interface RomiRow {
  city: string;
  eventDate: string;
  revenue: number;
  spend: number;
  roas: number | null;
}

export interface RomiSummary {
  /** Events (city × event day) on or after the period's start, by status. */
  counts: Record<'green' | 'yellow' | 'red' | 'no_spend', number>;
  red: RomiRow[];
}

export interface Report {
  name: string;
  title: string;
  timezone: string;
  period: Period;
  previous: Period;
  metrics: MetricRow[];
  topCampaigns: CampaignRow[];
  romi: RomiSummary | null;
  /** Undefined: fb_anomaly_history does not exist (the section is omitted). */
  anomalies?: Array<{ accountId: string; adId: string; detectedAt: string }>;
  /** Undefined: v_burnout_risk does not exist (the section is omitted). */
  atRisk?: Array<{ platform: string; accountId: string; adId: string; riskLevel: string }>;
  /** Sections that failed to build (reported, never fatal). */
  notes: string[];
}

function firstOfMonth(day: string): string {
  return `${day.slice(0, 8)}01`;
}

/** The last complete period of a kind, as of `now`: yesterday; today so far; last Mon–Sun; last month. */
export function defaultPeriod(kind: PeriodKind, timeZone: string, now: Date = new Date()): Period {
  const today = todayIn(timeZone, now);
  switch (kind) {
    case 'day':
      return { from: addDays(today, -1), to: addDays(today, -1) };
    case 'today':
      return { from: today, to: today };
    case 'week': {
      const weekday = (new Date(`${today}T00:00:00Z`).getUTCDay() + 6) % 7; // Monday = 0
      const monday = addDays(today, -weekday);
      return { from: addDays(monday, -7), to: addDays(monday, -1) };
    }
    case 'month': {
      const to = addDays(firstOfMonth(today), -1);
      return { from: firstOfMonth(to), to };
    }
  }
}

/** The period of the same length just before. */
export function previousPeriod(p: Period): Period {
  const days = diffDays(p.from, p.to) + 1;
  return { from: addDays(p.from, -days), to: addDays(p.from, -1) };
}

export function checkPeriod(p: Period): void {
  if (!isDay(p.from) || !isDay(p.to)) throw new TypeError(`expected dates YYYY-MM-DD; got ${p.from} .. ${p.to}`);
  if (p.from > p.to) throw new TypeError(`--from ${p.from} is after --to ${p.to}`);
}

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const ratio = (a: number, b: number): number | null => (b > 0 ? a / b : null);

function adsFilter(def: ReportDefinition): string {
  const parts: string[] = [];
  if (def.platforms.length) parts.push(`platform IN ${sqlStringList(def.platforms)}`);
  if (def.accounts.length) parts.push(`(platform = 'avito' OR account_id IN ${sqlStringList(def.accounts)})`);
  if (def.profiles.length) parts.push(`(platform != 'avito' OR account_id IN ${sqlStringList(def.profiles)})`);
  return parts.map((p) => ` AND ${p}`).join('');
}

const between = (column: string, p: Period) => `${column} BETWEEN ${sqlDate(p.from)} AND ${sqlDate(p.to)}`;

async function totals(client: ClickHouseClient, def: ReportDefinition, p: Period, signal?: AbortSignal): Promise<Totals> {
  const wantAvito = def.platforms.length === 0 || def.platforms.includes('avito');
  const profiles = def.profiles.length ? ` AND profile IN ${sqlStringList(def.profiles)}` : '';
  const [ads, sales, avito, balance] = await Promise.all([
    queryRows<Record<string, unknown>>(client, `SELECT sum(impressions) AS imp, sum(clicks) AS clk, round(sum(ifNull(spend_rub, 0)), 2) AS spend_sum, sum(results) AS res
FROM v_ads_daily
WHERE ${between('date', p)}${adsFilter(def)}`, signal),
    queryRows<Record<string, unknown>>(client, `SELECT sum(tickets) AS tix, round(sum(ifNull(revenue_rub, 0)), 2) AS rev
FROM v_sales_latest
WHERE ${between(`toDate(sold_at, ${sqlString(def.timezone)})`, p)}`, signal),
    wantAvito
      ? queryRows<Record<string, unknown>>(client, `SELECT sum(views) AS v, sum(contacts) AS c FROM v_avito_daily WHERE ${between('date', p)}${profiles}`, signal)
      : Promise.resolve([]),
    wantAvito
      ? queryRows<Record<string, unknown>>(client, `SELECT count() AS n, sum(bal) AS b
FROM
(
    SELECT profile, argMax(balance_real, snapshot_at) AS bal
    FROM fact_avito_balance FINAL
    WHERE _deleted = 0 AND date <= ${sqlDate(p.to)}${profiles}
    GROUP BY profile
) AS balances`, signal)
      : Promise.resolve([]),
  ]);
  const a = ads[0] ?? {};
  const spend = num(a.spend_sum);
  const impressions = num(a.imp);
  const clicks = num(a.clk);
  const results = num(a.res);
  const revenue = num(sales[0]?.rev);
  return {
    spend,
    impressions,
    clicks,
    ctr: ratio(clicks, impressions),
    cpc: ratio(spend, clicks),
    cpm: impressions > 0 ? (spend * 1000) / impressions : null,
    results,
    cpr: ratio(spend, results),
    revenue,
    tickets: num(sales[0]?.tix),
    roas: ratio(revenue, spend),
    romi: spend > 0 ? (revenue - spend) / spend : null,
    avito_views: wantAvito ? num(avito[0]?.v) : null,
    avito_contacts: wantAvito ? num(avito[0]?.c) : null,
    avito_balance: wantAvito && num(balance[0]?.n) > 0 ? num(balance[0]?.b) : null,
  };
}

async function topCampaigns(client: ClickHouseClient, def: ReportDefinition, p: Period, signal?: AbortSignal): Promise<CampaignRow[]> {
  if (def.topCampaigns === 0) return [];
  const rows = await queryRows<Record<string, unknown>>(client, `SELECT platform, account_id, campaign_id, campaign_label, spend_sum, imp, clk, res
FROM
(
    SELECT platform, account_id, campaign_id, any(campaign_name) AS campaign_label,
        round(sum(ifNull(spend_rub, 0)), 2) AS spend_sum, sum(impressions) AS imp, sum(clicks) AS clk, sum(results) AS res
    FROM v_ads_daily
    WHERE ${between('date', p)} AND campaign_id != ''${adsFilter(def)}
    GROUP BY platform, account_id, campaign_id
) AS campaigns
WHERE spend_sum > 0
ORDER BY spend_sum DESC, platform, account_id, campaign_id
LIMIT ${sqlInt(def.topCampaigns)}`, signal);
  return rows.map((r) => {
    const spend = num(r.spend_sum);
    const results = num(r.res);
    return {
      platform: String(r.platform),
      accountId: String(r.account_id),
      campaignId: String(r.campaign_id),
      campaignName: String(r.campaign_label ?? ''),
      spend,
      impressions: num(r.imp),
      clicks: num(r.clk),
      results,
      cpr: ratio(spend, results),
    };
  });
}

async function romi(client: ClickHouseClient, p: Period, signal?: AbortSignal): Promise<RomiSummary> {
  const [counts, red] = await Promise.all([
    queryRows<{ status: string; n: string }>(client, `SELECT status, count() AS n FROM v_romi_kpi WHERE event_date >= ${sqlDate(p.from)} GROUP BY status ORDER BY status`, signal),
    queryRows<Record<string, unknown>>(client, `SELECT city, toString(event_date) AS day, revenue, spend_rub, roas
FROM v_romi_kpi
WHERE event_date >= ${sqlDate(p.from)} AND status = 'red'
ORDER BY spend_rub DESC, city, day
LIMIT 10`, signal),
  ]);
  const summary: RomiSummary = { counts: { green: 0, yellow: 0, red: 0, no_spend: 0 }, red: [] };
  for (const c of counts) if (c.status in summary.counts) summary.counts[c.status as keyof RomiSummary['counts']] = Number(c.n);
  summary.red = red.map((r) => ({ city: String(r.city), eventDate: String(r.day), revenue: num(r.revenue), spend: num(r.spend_rub), roas: r.roas === null ? null : num(r.roas) }));
  return summary;
}

async function existing(client: ClickHouseClient, names: string[], signal?: AbortSignal): Promise<Set<string>> {
  const rows = await queryRows<{ name: string }>(client, `SELECT name FROM system.tables WHERE database = currentDatabase() AND name IN ${sqlStringList(names)}`, signal);
  return new Set(rows.map((r) => r.name));
}

export interface BuildOptions {
  period: Period;
  signal?: AbortSignal;
}

export async function buildReport(client: ClickHouseClient, def: ReportDefinition, opts: BuildOptions): Promise<Report> {
  checkPeriod(opts.period);
  const period = opts.period;
  const previous = previousPeriod(period);
  const signal = opts.signal;
  const notes: string[] = [];
  const [cur, prev, top, present] = await Promise.all([
    totals(client, def, period, signal),
    totals(client, def, previous, signal),
    topCampaigns(client, def, period, signal),
    existing(client, ['fb_anomaly_history', 'v_burnout_risk'], signal),
  ]);
  const metrics: MetricRow[] = def.metrics.map((metric) => {
    const current = cur[metric];
    const before = prev[metric];
    const delta = current !== null && before !== null ? current - before : null;
    return { metric, current, previous: before, delta, deltaPct: delta !== null && before !== null && before !== 0 ? delta / Math.abs(before) : null };
  });
  const report: Report = { name: def.name, title: def.title, timezone: def.timezone, period, previous, metrics, topCampaigns: top, romi: null, notes };
  const wantsRomi = def.metrics.some((m) => m === 'roas' || m === 'romi' || m === 'revenue');
  if (wantsRomi) {
    try {
      report.romi = await romi(client, period, signal);
    } catch (err) {
      notes.push(`ROMI summary unavailable: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  const accounts = def.accounts.length ? ` AND account_id IN ${sqlStringList(def.accounts)}` : '';
  if (present.has('fb_anomaly_history')) {
    try {
      const rows = await queryRows<Record<string, unknown>>(client, `SELECT account_id, ad_id, toString(detected_at) AS at
FROM fb_anomaly_history
WHERE ${between(`toDate(detected_at, ${sqlString(def.timezone)})`, period)}${accounts}
ORDER BY detected_at DESC, account_id, ad_id
LIMIT 20`, signal);
      report.anomalies = rows.map((r) => ({ accountId: String(r.account_id), adId: String(r.ad_id), detectedAt: String(r.at) }));
    } catch (err) {
      notes.push(`new anomalies unavailable: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  if (present.has('v_burnout_risk')) {
    try {
      const rows = await queryRows<Record<string, unknown>>(client, `SELECT platform, account_id, ad_id, risk_level
FROM v_burnout_risk
WHERE risk_level IN ('high', 'critical')${accounts}
ORDER BY risk_level = 'critical' DESC, platform, account_id, ad_id
LIMIT 20`, signal);
      report.atRisk = rows.map((r) => ({ platform: String(r.platform), accountId: String(r.account_id), adId: String(r.ad_id), riskLevel: String(r.risk_level) }));
    } catch (err) {
      notes.push(`at-risk ads unavailable: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return report;
}
