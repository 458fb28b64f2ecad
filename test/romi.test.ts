// ROMI from the sandboxes' ground truth: revenue from the ticket-sales fake, spend from the loaded ad
// facts converted at the CBR fake's rate of each day — for RUB, USD (a VK cabinet) and KZT (a Direct login).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import cbrRates from '../loaders/cbr_rates/index.js';
import { expectedRate, startSandbox as startCbr } from '../loaders/cbr_rates/sandbox.js';
import direct from '../loaders/direct/index.js';
import { startSandbox as startDirect } from '../loaders/direct/sandbox.js';
import qticketsApi from '../loaders/qtickets_api/index.js';
import { expectedApiSales, startSandbox as startQtickets } from '../loaders/qtickets_api/sandbox.js';
import vkAds from '../loaders/vk_ads/index.js';
import { startSandbox as startVk } from '../loaders/vk_ads/sandbox.js';
import type { LoaderDefinition } from '../src/runtime/contract.js';
import { addDays, todayIn } from '../src/runtime/dates.js';
import type { RunningSandbox } from '../src/runtime/sandbox.js';
import { runLoader } from '../src/runtime/run-loader.js';
import { expectBalanced } from './support/run-assertions.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

const SEED = 1;
const round2 = (x: number) => Math.round(x * 100) / 100;

interface RomiRow {
  city: string;
  event_date: string;
  revenue: number;
  spend_rub: number;
  roas: number | null;
  romi: number | null;
  status: string;
}

describe('v_romi_kpi against the ground truth', () => {
  let wh: Warehouse;
  let sandboxes: RunningSandbox[];
  const until = addDays(todayIn('Europe/Moscow'), -1);
  const since = addDays(until, -29);

  beforeAll(async () => {
    wh = await freshWarehouse();
    sandboxes = await Promise.all([startCbr, startVk, startDirect, startQtickets].map((start) => start({ seed: SEED, faults: new Set() })));
    const env = { ...wh.env, ...Object.assign({}, ...sandboxes.map((s) => s.env)), CBR_RATES_RPS: '50', VK_ADS_RPS: '50', DIRECT_RPS: '50', QTICKETS_API_RPS: '50' };
    for (const loader of [cbrRates, vkAds, direct, qticketsApi] as unknown as LoaderDefinition[]) expectBalanced(await runLoader(loader, { env, since, until }));
  });
  afterAll(async () => {
    await Promise.all((sandboxes ?? []).map((s) => s.close()));
    await wh?.drop();
  });

  it('equals revenue from sales and spend converted at each day’s rate, with the status colours', async () => {
    // Spend: each loaded ad-day (already proven equal to the ad fakes' truth by their own tests), converted
    // here in JS with the CBR fake's rate for that day and currency, rounded per row as the view does.
    const facts = await wh.query<{ city: string; event_date: string; date: string; currency: string; spend: string }>(
      `SELECT city, toString(event_date) AS event_date, toString(date) AS date, currency, toString(spent) AS spend FROM fact_vk_ads_daily FINAL WHERE _deleted = 0 AND city != '' AND event_date IS NOT NULL
       UNION ALL
       SELECT city, toString(event_date), toString(date), currency, toString(cost) FROM fact_direct_daily FINAL WHERE _deleted = 0 AND city != '' AND event_date IS NOT NULL`,
    );
    const expected = new Map<string, { revenue: number; spend: number }>();
    const at = (city: string, day: string) => {
      const key = `${city}|${day}`;
      if (!expected.has(key)) expected.set(key, { revenue: 0, spend: 0 });
      return expected.get(key)!;
    };
    const currencies = new Set<string>();
    for (const f of facts) {
      currencies.add(f.currency);
      const rate = f.currency === 'RUB' ? 1 : expectedRate(SEED, f.currency, f.date).rubPerUnit;
      at(f.city, f.event_date).spend += f.currency === 'RUB' ? Number(f.spend) : round2(Number(f.spend) * rate);
    }
    expect([...currencies].sort()).toEqual(['KZT', 'RUB', 'USD']);
    for (const t of expectedApiSales(SEED, since, until).totals) at(t.city, t.event_date).revenue += t.revenue;

    const rows = await wh.query<RomiRow>('SELECT city, toString(event_date) AS event_date, revenue, spend_rub, roas, romi, status FROM v_romi_kpi ORDER BY city, event_date');
    expect(rows.map((r) => `${r.city}|${r.event_date}`).sort()).toEqual([...expected.keys()].sort());
    const statuses = new Set<string>();
    for (const r of rows) {
      const e = expected.get(`${r.city}|${r.event_date}`)!;
      expect(r.revenue).toBeCloseTo(e.revenue, 2);
      expect(r.spend_rub).toBeCloseTo(e.spend, 2);
      const roas = e.spend > 0 ? e.revenue / e.spend : null;
      if (roas === null) expect(r.roas).toBeNull();
      else {
        expect(r.roas!).toBeCloseTo(roas, 6);
        expect(r.romi!).toBeCloseTo((e.revenue - e.spend) / e.spend, 6);
      }
      const status = roas === null ? 'no_spend' : roas >= 1.5 ? 'green' : roas >= 1 ? 'yellow' : 'red';
      expect(r.status, `${r.city} ${r.event_date}`).toBe(status);
      statuses.add(status);
    }
    // The fixture is meaningful: several colours, and revenue where there is spend.
    expect(statuses.size).toBeGreaterThanOrEqual(2);
    expect(rows.filter((r) => r.revenue > 0 && r.spend_rub > 0).length).toBeGreaterThan(2);
  });

  it('converts every non-RUB spend row (no missing rate) and the smoke checks on rates pass', async () => {
    const [missing] = await wh.query<{ n: string }>(`SELECT count() AS n FROM v_ads_daily WHERE spend_rub IS NULL`);
    expect(missing!.n).toBe('0');
    const [usd] = await wh.query<{ n: string }>(`SELECT count() AS n FROM v_ads_daily WHERE currency = 'USD' AND spend_rub > toFloat64(spend) * 10`);
    expect(Number(usd!.n)).toBeGreaterThan(0);
  });
});
