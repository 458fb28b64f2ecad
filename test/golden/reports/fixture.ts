// Fixture rows with known values for the report tests (hand-computed expectations in
// test/reports-build.test.ts). Report day 2026-03-02 (Moscow), previous day 2026-03-01.
import type { Warehouse } from '../../support/warehouse.js';
import type { ReportDefinition } from '../../../src/reports/definitions.js';
import { METRICS } from '../../../src/reports/definitions.js';

export const PERIOD = { from: '2026-03-02', to: '2026-03-02' };

export async function insertFixture(wh: Warehouse): Promise<void> {
  const direct = (date: string, campaign: number, name: string, ad: number, impressions: number, clicks: number, cost: number, conversions: number | null, city = '', eventDate: string | null = null) => ({
    client_login: 'acc1', date, campaign_id: campaign, campaign_name: name, ad_id: ad, impressions, clicks, cost, conversions, currency: 'RUB',
    city, event_date: eventDate, utm_content: city ? `${city}_20_03` : '', _ver: 1,
  });
  await wh.client.insert({
    table: 'fact_direct_daily',
    format: 'JSONEachRow',
    values: [
      direct('2026-03-02', 1, 'Spring <Promo> & Co', 11, 1000, 50, 500, 5, 'moscow', '2026-03-20'),
      direct('2026-03-02', 2, 'Brand', 21, 2000, 30, 300, null),
      direct('2026-03-01', 1, 'Spring <Promo> & Co', 11, 800, 40, 400, 4, 'moscow', '2026-03-20'),
      direct('2026-02-28', 2, 'Brand', 21, 9999, 999, 999, 99),
    ],
  });
  await wh.client.insert({
    table: 'fact_avito_items_daily',
    format: 'JSONEachRow',
    values: [
      { profile: 'p1', item_id: 1, date: '2026-03-02', views: 100, contacts: 7, favorites: 1, _ver: 1 },
      { profile: 'p1', item_id: 1, date: '2026-03-01', views: 80, contacts: 4, favorites: 0, _ver: 1 },
    ],
  });
  await wh.client.insert({
    table: 'fact_avito_balance',
    format: 'JSONEachRow',
    values: [
      { profile: 'p1', snapshot_at: '2026-03-01 06:00:00', date: '2026-03-01', balance_real: 1000, balance_bonus: 0, _ver: 1 },
      { profile: 'p1', snapshot_at: '2026-03-02 06:00:00', date: '2026-03-02', balance_real: 900, balance_bonus: 0, _ver: 1 },
      { profile: 'p1', snapshot_at: '2026-03-02 12:00:00', date: '2026-03-02', balance_real: 850, balance_bonus: 0, _ver: 1 },
    ],
  });
  const sale = (order: string, soldAt: string, tickets: number, revenue: number, city: string, eventDate: string) => ({
    order_id: order, line_id: `${order}#1`, event_id: `${city}-${eventDate}`, event_name: `Show ${city}`, city, event_date: eventDate, sold_at: soldAt, tickets, revenue, currency: 'RUB', _ver: 1,
  });
  await wh.client.insert({
    table: 'stg_qtickets_sheets_sales',
    format: 'JSONEachRow',
    values: [
      sale('o1', '2026-03-02 10:00:00', 2, 300, 'moscow', '2026-03-20'),
      sale('o2', '2026-03-01 21:30:00', 1, 150, 'moscow', '2026-03-20'), // 2026-03-02 00:30 in Moscow
      sale('o3', '2026-03-01 10:00:00', 3, 600, 'kazan', '2026-03-25'),
    ],
  });
}

export function definition(overrides: Partial<ReportDefinition> = {}): ReportDefinition {
  return {
    name: 'daily', title: 'Daily digest', cron: '0 9 * * *', schedule: 'daily 09:00', period: 'day', timezone: 'Europe/Moscow',
    recipients: { email: [], telegram: [] }, platforms: [], accounts: [], profiles: [], metrics: [...METRICS], topCampaigns: 5,
    ...overrides,
  };
}
