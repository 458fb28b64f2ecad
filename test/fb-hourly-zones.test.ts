// Hourly insights are read per account for its own yesterday and today (Meta's hours are in the account's
// time zone), so no hour is lost at day ends, also for an account far west of the reporting zone.
// Sandbox (real clock, per account zone) -> loader -> a real ClickHouse; truth from world.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import facebook from '../loaders/facebook/index.js';
import { startSandbox, type FbSandbox } from '../loaders/facebook/sandbox.js';
import { expectedFbDaily } from '../loaders/facebook/world.js';
import type { LoaderDefinition } from '../src/runtime/contract.js';
import { addDays, formatInZone } from '../src/runtime/dates.js';
import { runLoader } from '../src/runtime/run-loader.js';
import { expectBalanced } from './support/run-assertions.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';
import { FB_FAST as FAST } from './support/facebook.js';

const SEED = 7331;
const loader = facebook as unknown as LoaderDefinition;
const ZONES = { act_1001: 'Europe/Moscow', act_2001: 'America/New_York' } as const;

/** Each account's local day and hour now. */
const clocks = () => Object.fromEntries(Object.entries(ZONES).map(([a, tz]) => [a, formatInZone(Date.now(), tz).slice(0, 13)])) as Record<keyof typeof ZONES, string>;

describe('facebook hourly insights per account zone', () => {
  let wh: Warehouse;
  let sb: FbSandbox;
  let env: Record<string, string>;
  beforeAll(async () => {
    wh = await freshWarehouse();
    sb = await startSandbox({ seed: SEED, faults: new Set() });
    // The reporting zone is UTC+14: its today is New York's tomorrow most of the day, Moscow's for part of it.
    env = { ...wh.env, ...sb.env, ...FAST, TZ_REPORTING: 'Pacific/Kiritimati', FB_ACCOUNTS: JSON.stringify([{ id: 'act_1001', business_id: '9001' }, { id: 'act_2001', access_token: 'fb-sb-2001' }]) };
  });
  afterAll(async () => {
    await sb?.close();
    await wh?.drop();
  });

  it('reads yesterday (whole) and today (so far) in each account\'s zone; a second run writes nothing', async () => {
    // The assertions need the same local hour during both runs: an hour turning mid-test repeats it (once).
    let stamp = clocks();
    let second = 0;
    for (let attempt = 0; attempt < 2; attempt++) {
      stamp = clocks();
      expectBalanced(await runLoader(loader, { env, params: { steps: ['hourly'] } }));
      const again = await runLoader(loader, { env, params: { steps: ['hourly'] } });
      expectBalanced(again);
      second = again.tables.stg_fb_insights_hourly ?? 0;
      if (JSON.stringify(clocks()) === JSON.stringify(stamp)) break;
    }
    expect(second).toBe(0);
    for (const [a, now] of Object.entries(stamp) as Array<[keyof typeof ZONES, string]>) {
      const today = now.slice(0, 10);
      const hour = Number(now.slice(11, 13));
      const yesterday = addDays(today, -1);
      const days = await wh.query<{ date: string; ads: string; hours: string; last: number; cents: string; impressions: string; clicks: string }>(
        `SELECT toString(date) AS date, uniqExact(ad_id) AS ads, count() AS hours, max(hour) AS last, toString(sum(toInt64(spend * 100))) AS cents,
                toString(sum(impressions)) AS impressions, toString(sum(clicks)) AS clicks
         FROM stg_fb_insights_hourly FINAL WHERE account_id = '${a}' GROUP BY date ORDER BY date`,
      );
      expect(days.map((d) => d.date).every((d) => d === yesterday || d === today), a).toBe(true);
      // Yesterday: every hour, adding up to the world's whole day.
      const [truth] = expectedFbDaily(SEED, a, yesterday, yesterday);
      const y = days.find((d) => d.date === yesterday);
      expect(y, `${a} ${yesterday}`).toBeDefined();
      expect({ ads: Number(y!.ads), cents: Number(y!.cents), impressions: Number(y!.impressions), clicks: Number(y!.clicks) }, a).toEqual({
        ads: truth!.rows, cents: truth!.spendCents, impressions: truth!.impressions, clicks: truth!.clicks,
      });
      expect(Number(y!.last), a).toBe(23);
      // Today: no hour after the account's local hour.
      expect(Number(days.find((d) => d.date === today)?.last ?? -1), a).toBeLessThanOrEqual(hour);
    }
  });
});
