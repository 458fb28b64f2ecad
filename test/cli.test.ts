// The `adhouse` command as a user meets it: help, exit codes, one-line config errors, backfill resume.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startSandbox as startDirectSandbox } from '../loaders/direct/sandbox.js';
import { startSandbox, type VkSandbox } from '../loaders/vk_ads/sandbox.js';
import { SANDBOX_EVENTS } from '../src/runtime/sandbox.js';
import { runCli, startCli } from './support/cli.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

describe('adhouse CLI', () => {
  it('--help lists the commands that exist, and only those', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    const commands = [...r.stdout.matchAll(/^ {2}([a-z-]+)(?: |\[|<)/gm)].map((m) => m[1]);
    expect(commands).toEqual(['clickhouse', 'migrate', 'load', 'backfill', 'batch-sync', 'check', 'alerts', 'analytics', 'report', 'run', 'serve', 'export', 'sandbox', 'demo', 'help']);
  });

  it('exits 2 with one line naming a bad variable', async () => {
    const r = await runCli(['migrate'], { CH_HTTP_PORT: 'abc' });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual(['adhouse: CH_HTTP_PORT: expected a whole number from 1 to 65535; got "abc"']);
  });

  it('exits 2 for an unknown source or a bad flag', async () => {
    const unknown = await runCli(['load', 'myspace'], { CLICKHOUSE_URL: 'http://127.0.0.1:1' });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown source "myspace"; known sources: cbr_rates, facebook, vk_ads, direct, avito, qtickets_sheets, qtickets_api, gmail/);
    const flag = await runCli(['load', 'vk_ads', '--frobnicate']);
    expect(flag.code).toBe(2);
  });

  it('sandbox prints export lines that point loaders at running fakes, and stops on SIGINT', async () => {
    const child = startCli(['sandbox', '--seed', '9', '--faults', 'direct:long_queue'], {});
    let stdout = '';
    child.stdout!.on('data', (d) => (stdout += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    await vi.waitFor(() => expect(stdout).toMatch(/^export DIRECT_CLIENT_LOGINS=/m), { timeout: 20_000, interval: 50 });
    const env = Object.fromEntries([...stdout.matchAll(/^export ([A-Z_]+)='(.*)'$/gm)].map((m) => [m[1]!, m[2]!.replace(/'\\''/g, "'")]));
    expect(Object.keys(env)).toEqual(expect.arrayContaining(['VK_ADS_API_URL', 'VK_ADS_ACCOUNTS', 'DIRECT_API_URL', 'DIRECT_TOKEN']));
    expect(JSON.parse(env.VK_ADS_ACCOUNTS!)).toHaveLength(2);
    const res = await fetch(`${env.VK_ADS_API_URL}/api/v2/user.json`);
    expect(res.status).toBe(401); // a real fake: no token, no data
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });

  describe('against ClickHouse', () => {
    let wh: Warehouse;
    let sandbox: VkSandbox;
    beforeAll(async () => {
      wh = await freshWarehouse();
      sandbox = await startSandbox({ seed: 5, faults: new Set() });
    });
    afterAll(async () => {
      await sandbox?.close();
      await wh?.drop();
    });

    it('names a missing loader credential variable and exits 2', async () => {
      const r = await runCli(['load', 'vk_ads', '--since', '2026-01-01', '--until', '2026-01-02'], { ...wh.env, VK_ADS_ACCOUNTS: '' });
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toMatch(/^adhouse: VK_ADS_ACCOUNTS: .*it is not set$/);
    });

    it('exits 2 for an --account that is not configured, naming the known ones', async () => {
      const r = await runCli(['load', 'vk_ads', '--since', '2026-01-01', '--until', '2026-01-01', '--account', 'nope'], { ...wh.env, ...sandbox.env });
      expect(r.code).toBe(2);
      expect(r.stdout).toMatch(/config: VK_ADS_ACCOUNTS has no account "nope" \(known: vk_direct, vk_agency_client\)/);
    });

    it('backfills in chunks, resumes a finished backfill without reloading, and leaves the cursor alone', async () => {
      const env = { ...wh.env, ...sandbox.env, LOG_LEVEL: 'debug' };
      const args = ['backfill', 'vk_ads', '--since', '2026-02-01', '--until', '2026-02-10', '--chunk-days', '4'];
      const first = await runCli(args, env);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stderr).toMatch(/3 chunk\(s\) of 4 day\(s\), 0 already done/);
      expect(first.stdout.match(/vk_ads success 2026-02-\d\d\.\.2026-02-\d\d/g)).toHaveLength(3);
      const again = await runCli(args, env);
      expect(again.code).toBe(0);
      expect(again.stderr).toMatch(/3 chunk\(s\) of 4 day\(s\), 3 already done/);
      expect(again.stdout).toBe('');
      const [state] = await wh.query<{ c: string }>(`SELECT count() AS c FROM meta_load_state WHERE source = 'vk_ads'`);
      expect(state!.c).toBe('0');
      // Debug logs of a whole load never carry a credential.
      const secrets = JSON.parse(sandbox.env.VK_ADS_ACCOUNTS!) as Array<{ client_secret: string }>;
      for (const { client_secret } of secrets) expect(first.stderr).not.toContain(client_secret);
      expect(first.stderr).not.toMatch(/Bearer [A-Za-z0-9]/);
      const [runs] = await wh.query<{ leaked: string }>(
        `SELECT count() AS leaked FROM meta_job_runs WHERE ${secrets.map((s) => `position(error_message, '${s.client_secret}') > 0`).join(' OR ')}`,
      );
      expect(runs!.leaked).toBe('0');
    });

    it('demo loads every source from its sandbox and prints rows per table and spend by platform and city', async () => {
      const env = { ...wh.env, CH_DATABASE: `${wh.database}_demo` };
      const r = await runCli(['demo', '--seed', '3'], env);
      // The smoke checks pass on the demo data, and name the check a planted violation breaks.
      const check = await runCli(['check'], env);
      await wh.client.insert({
        table: `${wh.database}_demo.stg_qtickets_sales_raw`,
        format: 'JSONEachRow',
        values: [{ source: 'qtickets_api', order_id: 'planted', line_id: '1', event_id: 'no-such-event', event_name: 'x', city: 'msk', event_date: '2026-12-05', sold_at: '2026-11-01 10:00:00', tickets: 1, revenue: 100, currency: 'RUB', status: 'paid', src_msg_id: '', _hash: 0, _ver: 1, _loaded_at: '2026-11-01 10:00:00', _run_id: 't' }],
      });
      const planted = await runCli(['check'], env);
      const [history] = await wh.query<{ n: string }>(`SELECT count() AS n FROM ${wh.database}_demo.fb_anomaly_history`);
      await wh.client.command({ query: `DROP DATABASE IF EXISTS ${wh.database}_demo` });
      expect(r.code, r.stderr).toBe(0);
      expect(check.code, check.stderr + check.stdout).toBe(0);
      expect(planted.code).toBe(1);
      expect(planted.stderr).toMatch(/FAIL 0007_sales_for_known_events\.sql \(1 row\(s\)\)/);
      expect(planted.stderr.match(/^FAIL /gm)).toHaveLength(1);
      expect(r.stderr).toMatch(/vk_ads success .*quarantined 0/);
      expect(r.stderr).toMatch(/direct success .*quarantined 0/);
      const rows = (table: string) => Number(new RegExp(`^${table} +(\\d+)$`, 'm').exec(r.stdout)?.[1] ?? -1);
      expect(rows('fact_vk_ads_daily')).toBeGreaterThan(100);
      expect(rows('fact_direct_daily')).toBeGreaterThan(100);
      for (const source of ['cbr_rates', 'facebook', 'avito', 'qtickets_sheets', 'qtickets_api']) expect(r.stderr).toMatch(new RegExp(`${source} success .*quarantined 0`));
      expect(r.stdout).toMatch(/^vk_ads +msk +[\d.]+/m);
      expect(r.stdout).toMatch(/^direct +\S+ +[\d.]+/m);
      expect(r.stdout).toMatch(/^avito +\(no utm city\) +[\d.]+/m);
      // ROMI joins sales and spend for the sandboxes' shared events; not a TTY, so statuses are plain words.
      expect(r.stdout).toMatch(/ROMI by city and event date/);
      // The analytics refresh ran over the loaded Facebook weeks and says what it recorded.
      expect(r.stdout).toMatch(new RegExp(`^Ad analytics \\(adhouse analytics refresh\\): ${history!.n} CPR anomalies and \\d+ burnout rows recorded; \\d+ ads at high`, 'm'));
      expect(r.stdout).toMatch(/^msk +2\d{3}-12-05 +[\d.]+ +[\d.]+ +[\d.]+ +-?[\d.]+ +(green|yellow|red)$/m);
    });

    it('keeps the Direct token out of debug logs and run records, also when it is revoked mid-run', async () => {
      const direct = await startDirectSandbox({ seed: 4, faults: new Set(['token_revoked']) });
      try {
        const env = { ...wh.env, ...direct.env, LOG_LEVEL: 'debug', DIRECT_RPS: '50' };
        const r = await runCli(['load', 'direct', '--since', '2026-03-01', '--until', '2026-03-05'], env);
        expect(r.code).toBe(1);
        expect(r.stdout).toMatch(/token_invalid/);
        expect(r.stderr + r.stdout).not.toContain(direct.env.DIRECT_TOKEN!);
        const [leak] = await wh.query<{ n: string }>(`SELECT count() AS n FROM meta_job_runs WHERE position(error_message, '${direct.env.DIRECT_TOKEN}') > 0`);
        expect(leak!.n).toBe('0');
        const [run] = await wh.query<{ status: string; error_class: string }>(`SELECT argMax(status, _ver) AS status, argMax(error_class, _ver) AS error_class FROM meta_job_runs WHERE source = 'direct' GROUP BY run_id`);
        expect(run).toEqual({ status: 'failed', error_class: 'token_invalid' });
      } finally {
        await direct.close();
      }
    });

    it('check passes on healthy data and fails naming the check when a violation is planted', async () => {
      const own = await freshWarehouse();
      try {
        // The RUB cabinet only: the USD one would need CBR rates (check 0009 would rightly fail).
        const load = await runCli(['load', 'vk_ads', '--since', '2026-02-01', '--until', '2026-02-07', '--account', 'vk_direct'], { ...own.env, ...sandbox.env });
        expect(load.code, load.stderr).toBe(0);
        // The sandbox's ads promote these events; with them known, every spend city is an event city.
        await own.client.insert({
          table: 'dim_events',
          format: 'JSONEachRow',
          values: SANDBOX_EVENTS.map((e, i) => ({ source: 'qtickets_sheets', event_id: `e${i}`, show_id: '', event_name: e, city: e.replace(/_\d+_\d+$/, ''), event_date: '2026-12-01', venue: '', capacity: 100, _hash: 0, _ver: 1, _loaded_at: '2026-01-01 00:00:00', _run_id: 't' })),
        });
        const ok = await runCli(['check'], own.env);
        expect(ok.code, ok.stderr + ok.stdout).toBe(0);
        expect(ok.stderr).toMatch(/ok {3}0001_job_runs_reconcile\.sql/);
        expect(ok.stderr).toMatch(/ok {3}0005_no_negative_money\.sql/);

        await own.client.insert({
          table: 'fact_vk_ads_daily',
          format: 'JSONEachRow',
          values: [{ account_id: 'planted', date: '2026-02-03', banner_id: 1, shows: 1, clicks: 0, spent: -5, goals: 0, currency: 'RUB', _hash: 0, _ver: 1, _loaded_at: '2026-01-01 00:00:00', _run_id: 't' }],
        });
        const bad = await runCli(['check'], own.env);
        expect(bad.code).toBe(1);
        expect(bad.stderr).toMatch(/FAIL 0005_no_negative_money\.sql \(1 row\(s\)\)/);
        expect(bad.stdout).toMatch(/planted/);
      } finally {
        await own.drop();
      }
    });
  });
});
