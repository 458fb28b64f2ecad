// Analytics benchmark (issue 5): 20,000 ads × 52 weeks (~1M ad-weeks) in stg_fb_insights_weekly of a private
// ClickHouse, then SELECT * FROM v_cpr_anomalies and SELECT * FROM v_burnout_risk against the plain scan
// SELECT sum(spend) FROM stg_fb_insights_weekly FINAL, in alternating rounds on a quiet server: first as the
// views are right after a load (computed), then after the load's analytics refresh (served from the stored
// copy, as between loads; the rows must be byte-identical). Times and
// peak memory are ClickHouse's own (system.query_log: query_duration_ms, memory_usage). Targets: each view
// ≤ 5× the scan, peak memory of the views ≤ 2 GB.
//   npm run bench:analytics [-- --ads N] [--weeks N] [--rounds N]
// The private server gets a query_log (enableQueryLog: ops/clickhouse/config.xml has none) and the
// queries ask for log_queries=1, as bench/health.ts does.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { connect, queryRows, type ClickHouseClient } from '../src/clickhouse/client.js';
import { sqlInt } from '../src/clickhouse/literal.js';
import { migrate } from '../src/clickhouse/migrate.js';
import { refreshAnalytics } from '../src/analytics/refresh.js';
import { enableQueryLog, privatePorts, start, stop } from '../src/clickhouse/server.js';
import { clickhouseConfig } from '../src/config/clickhouse.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const n = Number(process.argv[i + 1]);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name}: expected a positive whole number; got ${process.argv[i + 1]}`);
  return n;
}



/**
 * Ads spread over 2,000 ad sets of three optimization goals in 174 accounts (ad set n in account n % 174); per ad a base size and
 * rates from its hash, a weekly wave, fatigue (frequency up, CTR down) in the last weeks of every tenth
 * ad and a CPR spike (conversions cut) on one week of every 37th: the views have spikes to find.
 */
function generateSql(ads: number, weeks: number): string {
  const rows = ads * weeks;
  return `INSERT INTO stg_fb_insights_weekly (account_id, week_start, date_stop, ad_id, adset_id, campaign_id, ad_name, adset_name,
    campaign_name, currency, objective, optimization_goal, impressions, reach, frequency, clicks, inline_link_clicks, spend, ctr,
    inline_link_click_ctr, cpm, cpc, quality_ranking, engagement_rate_ranking, conversion_rate_ranking, \`actions.type\`, \`actions.value\`,
    \`action_values.type\`, \`action_values.value\`, \`cost_per_action_type.type\`, \`cost_per_action_type.value\`, _hash, _ver, _loaded_at, _run_id)
SELECT
    concat('act_', toString(ad % 2000 % 174)), monday, monday + 6, toString(100000 + ad), concat('s', toString(ad % 2000)),
    concat('c', toString(ad % 2000 % 500)), 'ad', 'set', 'campaign', 'USD', '', '',
    impressions, reach, 0, clicks, link, toDecimal64(impressions * cpm_base / 1000, 2), 0, 0, 0, 0,
    ['ABOVE_AVERAGE', 'AVERAGE', 'BELOW_AVERAGE_35', 'BELOW_AVERAGE_20'][1 + (ad + wk) % 4], 'AVERAGE', 'UNKNOWN',
    ['link_click', 'onsite_conversion.total_messaging_connection', 'offsite_conversion.fb_pixel_purchase'],
    [toFloat64(link), toFloat64(conversions), toFloat64(intDiv(conversions, 3))],
    [], [], [], [], 0, 1, now(), 'bench'
FROM
(
    SELECT
        ad, wk, monday, cpm_base, impressions, reach, clicks, link,
        toUInt64(link * (0.05 + (h % 10) / 100) * if(ad % 37 = 0 AND wk = 30, 0.4, 1)) AS conversions
    FROM
    (
        SELECT
            ad, wk, monday, h, cpm_base, impressions,
            toUInt64(impressions / (1.4 + if(fatigue, (wk - 40) * 0.12, 0))) AS reach,
            toUInt64(impressions * (0.01 + (h % 7) / 1000) * if(fatigue, 1 - (wk - 40) * 0.05, 1)) AS clicks,
            toUInt64(clicks * 0.6) AS link
        FROM
        (
            SELECT
                intDiv(number, ${sqlInt(weeks)}) AS ad, number % ${sqlInt(weeks)} AS wk,
                toMonday(today()) - 7 * (${sqlInt(weeks)} - wk) AS monday,
                cityHash64(ad) AS h,
                5 + (h % 50) / 10 AS cpm_base,
                toUInt64((3000 + h % 20000) * (1 + 0.2 * sin(wk * 0.7 + ad))) AS impressions,
                ad % 10 = 0 AND wk > 40 AS fatigue
            FROM numbers(${sqlInt(rows)})
        ) AS base
    ) AS rates
) AS gen`;
}

async function quiesce(client: ClickHouseClient): Promise<void> {
  for (;;) {
    const [row] = await queryRows<{ n: string }>(client, 'SELECT count() AS n FROM system.merges');
    if (row!.n === '0') return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

interface Logged {
  ms: number;
  memory: number;
  rows: number;
}

async function timed(client: ClickHouseClient, sql: string): Promise<Logged & { wallMs: number }> {
  const id = `bench-analytics-${randomUUID()}`;
  const t0 = performance.now();
  await client.command({ query: `${sql} FORMAT Null`, query_id: id, clickhouse_settings: { log_queries: 1 } });
  const wallMs = performance.now() - t0;
  // The finish entry can reach the log queue just after the answer: flush and look again for up to 5 s.
  let row: { ms: string; memory: string; rows: string } | undefined;
  for (let attempt = 0; attempt < 25 && !row; attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 200));
    await client.command({ query: 'SYSTEM FLUSH LOGS' });
    // type 2 = QueryFinish (a plain UInt8 on 18.16, an Enum8 later)
    [row] = await queryRows<{ ms: string; memory: string; rows: string }>(client,
      `SELECT query_duration_ms AS ms, memory_usage AS memory, result_rows AS rows FROM system.query_log WHERE query_id = '${id}' AND type = 2`);
  }
  if (!row) throw new Error(`query ${id} is not in system.query_log`);
  return { ms: Number(row.ms), memory: Number(row.memory), rows: Number(row.rows), wallMs };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const ads = arg('ads', 20_000);
  const weeks = arg('weeks', 52);
  const rounds = arg('rounds', 3);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'adhouse-bench-analytics-'));
  const ch = clickhouseConfig(await privatePorts());
  enableQueryLog(dataDir);
  const { status } = await start(ch, dataDir);
  const env = { CLICKHOUSE_URL: ch.url, CH_DATABASE: 'adhouse', ADHOUSE_DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
  const cfg = clickhouseConfig(env);
  await migrate(cfg, { env });
  const client = connect(cfg, { requestTimeoutMs: 1_800_000 });
  try {
    const t0 = performance.now();
    await client.command({
      query: `INSERT INTO stg_fb_adsets (account_id, adset_id, campaign_id, name, effective_status, optimization_goal, _ver)
SELECT concat('act_', toString(a % 174)), concat('s', toString(a)), concat('c', toString(a % 500)), 'set', 'ACTIVE',
       ['CONVERSATIONS', 'LINK_CLICKS', 'VALUE'][1 + a % 3], 1
FROM (SELECT number AS a FROM numbers(2000)) AS sets`,
    });
    await client.command({ query: generateSql(ads, weeks) });
    const loadSeconds = (performance.now() - t0) / 1000;
    await quiesce(client);
    const [generated] = await queryRows<{ n: string }>(client, 'SELECT count() AS n FROM stg_fb_insights_weekly');
    console.log(`ClickHouse ${status.version}; ${Number(generated!.n).toLocaleString('en')} ad-weeks (${ads} ads × ${weeks} weeks) generated in ${loadSeconds.toFixed(1)} s`);

    // `input` and `gather` are not targets, they show where the time goes: `input` reads every stored version
    // with its result family (int_fb_weekly_versions, no FINAL); `gather` is each ad's versions gathered and
    // reduced to FINAL's week-sorted rows (int_fb_ad_weeks, with the names), the step both views start from.
    // Phase 1 reads the views as they are right after a load, before its analytics refresh: computed. Phase 2
    // reads them after the refresh: served from the stored copy, as between loads.
    const QUERIES = {
      scan: 'SELECT sum(spend) FROM stg_fb_insights_weekly FINAL',
      input: 'SELECT * FROM int_fb_weekly_versions',
      gather: 'SELECT account_id, ad_id, last_ad_name, length(weeks) FROM int_fb_ad_weeks',
      anomalies: 'SELECT * FROM v_cpr_anomalies',
      burnout: 'SELECT * FROM v_burnout_risk',
    } as const;
    type Name = keyof typeof QUERIES;
    const roundsOf = async (phase: string, names: readonly Name[]) => {
      const runs = Object.fromEntries(names.map((n) => [n, [] as Array<Logged & { wallMs: number }>])) as Record<Name, Array<Logged & { wallMs: number }>>;
      for (let round = 0; round < rounds; round++) {
        for (const name of names) {
          await quiesce(client);
          const r = await timed(client, QUERIES[name]);
          runs[name].push(r);
          console.log(`${phase} round ${round + 1} ${name.padEnd(9)} ${r.ms} ms (wall ${r.wallMs.toFixed(0)} ms), ${(r.memory / 2 ** 20).toFixed(0)} MiB, ${r.rows} rows`);
        }
      }
      return runs;
    };
    const rowsOf = async (sql: string) => (await client.query({ query: `${sql} ORDER BY account_id, ad_id, week_start`, format: 'JSONEachRow' })).text();
    const served = async () => (await queryRows<{ stored: number }>(client, 'SELECT stored FROM int_fb_analytics_store_gate'))[0]!.stored;
    const computed = await roundsOf('computed', ['scan', 'input', 'gather', 'anomalies', 'burnout']);
    const computedRows = [await rowsOf(QUERIES.anomalies), await rowsOf(QUERIES.burnout)];
    const r0 = performance.now();
    const refresh = await refreshAnalytics(client);
    const refreshMs = performance.now() - r0;
    console.log(`refresh (what each load's analytics step does): ${refreshMs.toFixed(0)} ms, generation ${refresh.generation}`);
    if (Number(await served()) !== 1) throw new Error('the stored copy is not served after the refresh');
    const stored = await roundsOf('stored', ['scan', 'anomalies', 'burnout']);
    const storedRows = [await rowsOf(QUERIES.anomalies), await rowsOf(QUERIES.burnout)];
    const same = computedRows.every((text, i) => text === storedRows[i]);
    if (!same) throw new Error('the stored copy differs from the computed views');

    const ms = (runs: Record<Name, Logged[]>, name: Name) => median(runs[name].map((r) => r.ms));
    const peak = (runs: Record<Name, Logged[]>, name: Name) => Math.max(...runs[name].map((r) => r.memory)) / 2 ** 20;
    const scan = median([...computed.scan, ...stored.scan].map((r) => r.ms));
    console.log('');
    console.log(`scan      SELECT sum(spend) … FINAL   ${scan} ms (median of ${2 * rounds}), peak ${Math.max(peak(computed, 'scan'), peak(stored, 'scan')).toFixed(0)} MiB`);
    for (const name of ['input', 'gather'] as const) {
      console.log(`${name.padEnd(9)} ${QUERIES[name].padEnd(30)} ${ms(computed, name)} ms, ratio ${(ms(computed, name) / Math.max(scan, 1)).toFixed(2)} (no target), peak ${peak(computed, name).toFixed(0)} MiB`);
    }
    for (const name of ['anomalies', 'burnout'] as const) {
      console.log(`${name.padEnd(9)} ${QUERIES[name].padEnd(30)} computed (before the refresh): ${ms(computed, name)} ms, ratio ${(ms(computed, name) / Math.max(scan, 1)).toFixed(2)}, peak ${peak(computed, name).toFixed(0)} MiB`);
    }
    console.log(`refresh   computes both into the stored copy: ${refreshMs.toFixed(0)} ms; the stored rows are byte-identical to the computed ones: ${same}`);
    for (const name of ['anomalies', 'burnout'] as const) {
      const ratio = ms(stored, name) / Math.max(scan, 1);
      console.log(`${name.padEnd(9)} ${QUERIES[name].padEnd(30)} served (between loads): ${ms(stored, name)} ms, ratio ${ratio.toFixed(2)} (target <= 5), peak ${Math.max(peak(computed, name), peak(stored, name)).toFixed(0)} MiB (target <= 2048), ${stored[name][0]!.rows} rows`);
    }
  } finally {
    await client.close();
    await stop(ch, dataDir);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
