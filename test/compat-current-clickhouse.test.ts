// The same migrations, fixtures and queries on ClickHouse 18.16 (the test server) and on a current engine
// (chDB from PyPI): both must accept every statement and give the same answers.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSqlFiles, SQL_DIR } from '../src/clickhouse/migrate.js';
import { chdbSchema, runChdb } from './support/chdb.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

const FIXTURES = [
  // Two versions of the same VK day (the later wins), one other day, one deleted row.
  `INSERT INTO fact_vk_ads_daily (account_id, date, banner_id, shows, clicks, spent, goals, currency, city, event_date, _hash, _ver, _loaded_at, _run_id) FORMAT JSONEachRow
   {"account_id":"a","date":"2026-01-01","banner_id":"1","shows":100,"clicks":5,"spent":10.5,"goals":1,"currency":"RUB","city":"msk","event_date":"2026-01-05","_hash":"1","_ver":"1","_loaded_at":"2026-01-02 00:00:00","_run_id":"r1"}
   {"account_id":"a","date":"2026-01-01","banner_id":"1","shows":120,"clicks":6,"spent":12.25,"goals":1,"currency":"RUB","city":"msk","event_date":"2026-01-05","_hash":"2","_ver":"2","_loaded_at":"2026-01-03 00:00:00","_run_id":"r2"}
   {"account_id":"a","date":"2026-01-02","banner_id":"1","shows":50,"clicks":1,"spent":3.1,"goals":0,"currency":"RUB","city":"","event_date":null,"_hash":"3","_ver":"1","_loaded_at":"2026-01-03 00:00:00","_run_id":"r1"}`,
  `INSERT INTO fact_direct_daily (client_login, date, campaign_id, campaign_name, ad_group_id, ad_id, impressions, clicks, cost, conversions, currency, _hash, _ver, _loaded_at, _run_id, _deleted) FORMAT JSONEachRow
   {"client_login":"l","date":"2026-01-01","campaign_id":"7","campaign_name":"Концерт \\"Весна\\"","ad_group_id":"0","ad_id":"0","impressions":10,"clicks":2,"cost":1.99,"conversions":null,"currency":"RUB","_hash":"1","_ver":"5","_loaded_at":"2026-01-02 00:00:00","_run_id":"r1","_deleted":0}
   {"client_login":"l","date":"2026-01-02","campaign_id":"7","campaign_name":"x","ad_group_id":"1","ad_id":"9","impressions":5,"clicks":1,"cost":0.5,"conversions":3,"currency":"RUB","_hash":"2","_ver":"5","_loaded_at":"2026-01-02 00:00:00","_run_id":"r1","_deleted":1}`,
  `INSERT INTO meta_job_runs (run_id, source, kind, status, started_at, finished_at, heartbeat_at, window_since, window_until, account, rows_read, rows_written, rows_quarantined, rows_skipped, error_class, error_message, backfill_id, host, pid, _ver) FORMAT JSONEachRow
   {"run_id":"r1","source":"vk_ads","kind":"load","status":"running","started_at":"2026-01-02 00:00:00","finished_at":null,"heartbeat_at":"2026-01-02 00:00:00","window_since":"2026-01-01","window_until":"2026-01-01","account":"","rows_read":0,"rows_written":0,"rows_quarantined":0,"rows_skipped":0,"error_class":"","error_message":"","backfill_id":"","host":"h","pid":1,"_ver":1}
   {"run_id":"r1","source":"vk_ads","kind":"load","status":"success","started_at":"2026-01-02 00:00:00","finished_at":"2026-01-02 00:01:00","heartbeat_at":"2026-01-02 00:01:00","window_since":"2026-01-01","window_until":"2026-01-01","account":"","rows_read":4,"rows_written":3,"rows_quarantined":0,"rows_skipped":0,"error_class":"","error_message":"","backfill_id":"","host":"h","pid":1,"_ver":2}`,
];

const QUERIES = [
  `SELECT count() AS n, sum(shows) AS shows, sum(clicks) AS clicks, toFloat64(sum(spent)) AS spent, countIf(event_date IS NULL) AS no_event FROM fact_vk_ads_daily FINAL`,
  `SELECT count() AS n, toFloat64(sum(cost)) AS cost, sum(conversions) AS conv, any(campaign_name) AS name FROM fact_direct_daily FINAL WHERE _deleted = 0`,
  `SELECT toString(toMonday(toDate('2026-01-07'))) AS monday, toString(cityHash64('adhouse')) AS h`,
  ...readSqlFiles(path.join(SQL_DIR, 'checks')).map((f) => f.text.trim().replace(/;\s*$/, '')),
];

/** Columns computed from now(): the two engines run a moment apart, so a minute boundary may fall between. */
const VOLATILE = new Set(['age_minutes']);

/** Numbers and numeric strings compare as numbers (engines differ in quoting 64-bit ints and decimals). */
function normalize(rows: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return rows.map((r) =>
    Object.fromEntries(Object.entries(r).filter(([k]) => !VOLATILE.has(k)).map(([k, v]) => [k, typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v])),
  );
}

describe('compatibility: ClickHouse 18.16 and a current release (chDB)', () => {
  let wh: Warehouse;
  beforeAll(async () => {
    wh = await freshWarehouse();
  });
  afterAll(async () => wh.drop());

  it('accepts every migration and view and answers the same queries identically', async () => {
    const { setup, migrations, views } = chdbSchema();
    const statements = [...setup, ...migrations, ...views, ...FIXTURES, ...QUERIES];
    const { status, stderr, results } = runChdb(statements);
    expect(status, `python3 chdb_run.py failed (is chdb installed? ops/scripts/setup.sh installs it): ${stderr}`).toBe(0);
    const failures = results.map((r, i) => (r.error ? `${statements[i]!.slice(0, 120)} -> ${r.error}` : null)).filter(Boolean);
    expect(failures).toEqual([]);

    for (const sql of FIXTURES) await wh.client.command({ query: sql });
    const current = results.slice(statements.length - QUERIES.length);
    for (const [i, sql] of QUERIES.entries()) {
      const old = await wh.query<Record<string, unknown>>(sql);
      expect(normalize(old), sql).toEqual(normalize(current[i]!.rows!));
    }
    // The fixtures mean something: the later version won and the deleted row is gone.
    expect(normalize(current[0]!.rows!)[0]).toMatchObject({ n: 2, shows: 170, spent: 15.35, no_event: 1 });
    expect(normalize(current[1]!.rows!)[0]).toMatchObject({ n: 1, cost: 1.99 });
  });
});

describe('compatibility: the digest reports\' queries', () => {
  it('every query a report sends also runs on a current release (chDB)', async () => {
    const { buildReport } = await import('../src/reports/build.js');
    const { definition, PERIOD } = await import('./golden/reports/fixture.js');
    const { METRICS } = await import('../src/reports/definitions.js');
    const wh = await freshWarehouse();
    try {
      // Record what the report sends to 18.16, then replay it on chDB over the same schema.
      const sent: string[] = [];
      const recording = new Proxy(wh.client, {
        get(target, prop, receiver) {
          if (prop !== 'query') return Reflect.get(target, prop, receiver);
          return (params: { query: string }) => {
            sent.push(params.query);
            return target.query(params as Parameters<typeof target.query>[0]);
          };
        },
      });
      await buildReport(recording, definition({ metrics: [...METRICS] }), { period: PERIOD });
      expect(sent.length).toBeGreaterThan(3);
      const { setup, migrations, views } = chdbSchema();
      const statements = [...setup, ...migrations, ...views, ...sent];
      const { status, stderr, results } = runChdb(statements);
      expect(status, stderr).toBe(0);
      const failures = results.map((r, i) => (r.error ? `${statements[i]!.slice(0, 160)} -> ${r.error}` : null)).filter(Boolean);
      expect(failures).toEqual([]);
    } finally {
      await wh.drop();
    }
  });
});

describe('compatibility: the analytics views and their refresh', () => {
  it('the analytics fixture gives the same view rows on 18.16 and chDB (floats within 1e-9), and the refresh SQL runs on both', async () => {
    const { analyticsFixtureStatements, ANALYTICS_QUERIES } = await import('./compat/analytics-fixture.js');
    const { diff } = await import('./compat/diff.js');
    const { refreshAnalytics } = await import('../src/analytics/refresh.js');
    const wh = await freshWarehouse();
    try {
      const fixture = [...analyticsFixtureStatements(1), ...analyticsFixtureStatements(2)];
      for (const sql of fixture) await wh.client.command({ query: sql });
      const old: Array<Array<Record<string, unknown>>> = [];
      for (const sql of ANALYTICS_QUERIES) old.push(await wh.query<Record<string, unknown>>(sql));
      // Record the refresh's SQL on 18.16, replay it on chDB, then compare the history both wrote.
      const sent: string[] = [];
      const recording = new Proxy(wh.client, {
        get(target, prop, receiver) {
          if (prop !== 'query' && prop !== 'command') return Reflect.get(target, prop, receiver);
          return (params: { query: string }) => {
            sent.push(params.query);
            return prop === 'query' ? target.query(params as Parameters<typeof target.query>[0]) : target.command(params as Parameters<typeof target.command>[0]);
          };
        },
      });
      const counts = await refreshAnalytics(recording, { detectedAt: new Date('2026-03-10T08:00:00Z') });
      expect(counts.anomalies).toBeGreaterThan(0);
      const HISTORY = [
        'SELECT * FROM fb_anomaly_history ORDER BY account_id, ad_id, week_start',
        'SELECT * FROM fb_burnout_history ORDER BY account_id, ad_id, week_start',
      ];
      for (const sql of HISTORY) old.push(await wh.query<Record<string, unknown>>(sql));

      // Then the stored copy on chDB: the replayed refresh wrote generation G with 18.16's fingerprint, which
      // chDB's tables do not have; a state with chDB's own fingerprint makes chDB serve G, and the views must
      // give the same rows again.
      const generation = /INSERT INTO fb_analytics_store_state[^]*?VALUES \((\d+),/.exec(sent.join('\n'))?.[1];
      expect(generation).toBeDefined();
      const serve = [
        `INSERT INTO fb_analytics_store_state SELECT ${generation}, fingerprint, today(), now() FROM int_fb_analytics_fingerprint`,
        'SELECT toString(generation) AS generation, stored FROM int_fb_analytics_store_gate',
      ];
      const { setup, migrations, views } = chdbSchema();
      const queries = [...ANALYTICS_QUERIES, ...HISTORY];
      const statements = [...setup, ...migrations, ...views, ...fixture, ...ANALYTICS_QUERIES, ...sent, ...HISTORY, ...serve, ...ANALYTICS_QUERIES];
      const { status, stderr, results } = runChdb(statements);
      expect(status, stderr).toBe(0);
      const failures = results.map((r, i) => (r.error ? `${statements[i]!.slice(0, 160)} -> ${r.error}` : null)).filter(Boolean);
      expect(failures).toEqual([]);
      const viewsAt = setup.length + migrations.length + views.length + fixture.length;
      const historyAt = viewsAt + ANALYTICS_QUERIES.length + sent.length;
      const current = [...results.slice(viewsAt, viewsAt + ANALYTICS_QUERIES.length), ...results.slice(historyAt, historyAt + HISTORY.length)].map((r) => r.rows!);
      queries.forEach((sql, i) => {
        expect(current[i]!.length, sql).toBe(old[i]!.length);
        expect(diff(current[i], old[i]), sql).toEqual([]);
      });
      expect(results[historyAt + HISTORY.length + 1]!.rows).toEqual([{ generation, stored: 1 }]);
      const served = results.slice(statements.length - ANALYTICS_QUERIES.length).map((r) => r.rows!);
      ANALYTICS_QUERIES.forEach((sql, i) => expect(diff(served[i], old[i]), `served: ${sql}`).toEqual([]));
      // The comparison covers real rows: anomalies, burnout, delivery and history are not empty.
      expect(old.map((rows) => rows.length).every((n) => n > 0)).toBe(true);
    } finally {
      await wh.drop();
    }
  });
});
