// Facebook run params (the batch sync runs one step per call) and account discovery through /me/adaccounts,
// against the sandbox and a real ClickHouse.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoveryFile, facebookAccounts } from '../loaders/facebook/accounts.js';
import facebook, { planOf } from '../loaders/facebook/index.js';
import { startSandbox, type FbSandbox } from '../loaders/facebook/sandbox.js';
import { expectedFbDaily } from '../loaders/facebook/world.js';
import type { LoaderDefinition } from '../src/runtime/contract.js';
import { runtimeConfig } from '../src/config/runtime.js';
import { runLoader } from '../src/runtime/run-loader.js';
import { expectBalanced } from './support/run-assertions.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';
import { FB_FAST as FAST } from './support/facebook.js';

const SEED = 4242;
const loader = facebook as unknown as LoaderDefinition;
const SINCE = '2026-01-05';
const UNTIL = '2026-01-11';
const INSIGHT_TABLES = ['stg_fb_insights_weekly', 'stg_fb_insights_daily', 'stg_fb_insights_hourly'];
const STRUCTURE_TABLES = ['stg_fb_campaigns', 'stg_fb_adsets', 'stg_fb_ads', 'stg_fb_creatives'];

async function counts(wh: Warehouse): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of [...STRUCTURE_TABLES, ...INSIGHT_TABLES]) {
    const [r] = await wh.query<{ n: string }>(`SELECT count() AS n FROM ${t}`);
    out[t] = Number(r!.n);
  }
  return out;
}

describe('facebook run params: steps', () => {
  it('plans the default pass from the window and refuses bad params with one clear line', () => {
    const w = { since: '2026-01-01', until: '2026-01-28' };
    expect([...planOf({}, w, '2026-02-10').steps]).toEqual(['structure', 'weekly', 'daily']);
    expect([...planOf({}, w, '2026-01-28').steps]).toEqual(['structure', 'weekly', 'daily', 'hourly']);
    expect(planOf({ steps: ['hourly'], structure: 'full' }, w, '2026-02-10')).toMatchObject({ structure: 'full', today: '2026-02-10' });
    expect(() => planOf({ steps: ['weekly', 'monthly'] }, w, '2026-02-10')).toThrow(/facebook params: steps\.1: expected steps from structure, weekly, daily, hourly/);
    expect(() => planOf({ steps: [] }, w, '2026-02-10')).toThrow(/steps: expected at least one step/);
    expect(() => planOf({ structure: 'partial' }, w, '2026-02-10')).toThrow(/structure: expected full or auto/);
    expect(() => planOf({ step: ['daily'] }, w, '2026-02-10')).toThrow(/facebook params: .*step/);
  });

  let wh: Warehouse;
  let sandbox: FbSandbox;
  let env: Record<string, string>;
  beforeAll(async () => {
    wh = await freshWarehouse();
    sandbox = await startSandbox({ seed: SEED, faults: new Set() });
    env = { ...wh.env, ...sandbox.env, ...FAST };
  });
  afterAll(async () => {
    await sandbox?.close();
    await wh?.drop();
  });

  it('runs only the named steps for the named account', async () => {
    const daily = await runLoader(loader, { env, account: 'act_2001', since: SINCE, until: UNTIL, params: { steps: ['daily'] } });
    expectBalanced(daily);
    let c = await counts(wh);
    expect(c).toEqual({ ...Object.fromEntries([...STRUCTURE_TABLES, ...INSIGHT_TABLES].map((t) => [t, 0])), stg_fb_insights_daily: c.stg_fb_insights_daily });
    expect(c.stg_fb_insights_daily).toBe(expectedFbDaily(SEED, 'act_2001', SINCE, UNTIL).reduce((n, d) => n + d.rows, 0));
    const [acct] = await wh.query<{ ids: string[] }>(`SELECT groupUniqArray(account_id) AS ids FROM stg_fb_insights_daily`);
    expect(acct!.ids).toEqual(['act_2001']);

    const structure = await runLoader(loader, { env, account: 'act_2001', since: SINCE, until: UNTIL, params: { steps: ['structure'] } });
    expectBalanced(structure);
    c = await counts(wh);
    for (const t of STRUCTURE_TABLES) expect(c[t], t).toBeGreaterThan(0);
    expect(c.stg_fb_insights_weekly + c.stg_fb_insights_hourly).toBe(0);

    // structure: 'full' reads everything again although a pass just ran; 'auto' would be incremental.
    const before = sandbox.counters.incrementalLists;
    expectBalanced(await runLoader(loader, { env, account: 'act_2001', since: SINCE, until: UNTIL, params: { steps: ['structure'], structure: 'full' } }));
    expect(sandbox.counters.incrementalLists).toBe(before);
    expectBalanced(await runLoader(loader, { env, account: 'act_2001', since: SINCE, until: UNTIL, params: { steps: ['structure'] } }));
    expect(sandbox.counters.incrementalLists).toBeGreaterThan(before);

    // Hourly alone: today's hours, nothing else.
    const hourly = await runLoader(loader, { env, account: 'act_2001', since: SINCE, until: UNTIL, params: { steps: ['hourly'] } });
    expectBalanced(hourly);
    expect(Object.keys(hourly.tables).filter((t) => (hourly.tables[t] ?? 0) > 0).sort()).toEqual(['stg_fb_insights_hourly']);
  });

  it('a bad params value fails the run as a config error before any call', async () => {
    const requests = sandbox.counters.requests;
    const s = await runLoader(loader, { env, account: 'act_2001', since: SINCE, until: UNTIL, params: { steps: ['everything'] } });
    expect(s.status).toBe('failed');
    expect(s.errorClass).toBe('config');
    expect(s.errorMessage).toMatch(/facebook params: steps\.0/);
    expect(sandbox.counters.requests).toBe(requests);
  });
});

describe('facebook account discovery', () => {
  let wh: Warehouse;
  let sandbox: FbSandbox;
  let base: Record<string, string>;
  beforeAll(async () => {
    wh = await freshWarehouse();
    sandbox = await startSandbox({ seed: SEED, faults: new Set() });
    // Only act_1001 is configured; its business token (9001) also reads act_1002.
    base = { ...wh.env, ...sandbox.env, ...FAST, FB_ACCOUNTS: JSON.stringify([{ id: 'act_1001', business_id: '9001', label: 'ticketco' }, { id: 'act_3001', access_token: 'fb-sb-3001' }]) };
  });
  afterAll(async () => {
    await sandbox?.close();
    await wh?.drop();
  });

  it('facebookAccounts: the configured accounts, plus /me/adaccounts of every configured token with discover', async () => {
    expect(await facebookAccounts(base)).toEqual([
      { id: 'act_1001', businessId: '9001', label: 'ticketco' },
      { id: 'act_3001', businessId: null },
    ]);
    expect(await facebookAccounts(base, { discover: true })).toEqual([
      { id: 'act_1001', businessId: '9001', label: 'ticketco' },
      { id: 'act_3001', businessId: null },
      { id: 'act_1002', businessId: '9001' },
    ]);
    expect(await facebookAccounts({ ...base, FB_DISCOVER_ACCOUNTS: 'true' })).toHaveLength(3);
  });

  it('facebookAccounts: FB_BUSINESS_TOKENS alone is enough with discovery; a missing token is a config error', async () => {
    const onlyTokens = { ...base, FB_ACCOUNTS: '[]', FB_DISCOVER_ACCOUNTS: 'true' };
    expect((await facebookAccounts(onlyTokens)).map((a) => a.id)).toEqual(['act_1001', 'act_1002']);
    await expect(facebookAccounts({ ...base, FB_ACCOUNTS: '[]' })).rejects.toThrow(/^FB_ACCOUNTS: expected at least one account/);
    await expect(facebookAccounts({ ...base, FB_ACCOUNTS: JSON.stringify([{ id: 'act_9' }]) })).rejects.toThrow(/account act_9 has no access_token/);
  });

  it('the loader discovers with FB_DISCOVER_ACCOUNTS=true and loads a discovered account with the token that found it', async () => {
    const s = await runLoader(loader, { env: { ...base, FB_DISCOVER_ACCOUNTS: 'true' }, since: SINCE, until: UNTIL, params: { steps: ['daily'] } });
    expectBalanced(s);
    const got = await wh.query<{ account_id: string; cents: string }>(
      `SELECT account_id, toString(sum(toInt64(spend * 100))) AS cents FROM stg_fb_insights_daily FINAL GROUP BY account_id ORDER BY account_id`,
    );
    const truth = (a: string) => String(expectedFbDaily(SEED, a, SINCE, UNTIL).reduce((n, d) => n + d.spendCents, 0));
    expect(got).toEqual(['act_1001', 'act_1002', 'act_3001'].map((a) => ({ account_id: a, cents: truth(a) })));

    // --account of a discovered account (the batch sync's per-account runs) takes its token from the last
    // discovery without asking /me/adaccounts again; without discovery the account is unknown.
    await facebookAccounts(base, { discover: true });
    const lists = sandbox.counters.adAccountLists;
    const one = await runLoader(loader, { env: { ...base, FB_DISCOVER_ACCOUNTS: 'true' }, account: 'act_1002', since: SINCE, until: SINCE, params: { steps: ['structure'] } });
    expectBalanced(one);
    expect(one.tables.stg_fb_ads).toBe(sandbox.world.accounts.get('act_1002')!.ads.length);
    expect(sandbox.counters.adAccountLists).toBe(lists);

    // FB_DISCOVER_ACCOUNTS=false (the batch sync plans with facebookAccounts(env, {discover: true})): a discovered
    // --account still loads from the remembered discovery, without asking again.
    const remembered = await runLoader(loader, { env: base, account: 'act_1002', since: '2026-01-12', until: '2026-01-12', params: { steps: ['daily'] } });
    expectBalanced(remembered);
    expect(sandbox.counters.adAccountLists).toBe(lists);
    expect(remembered.tables.stg_fb_insights_daily).toBe(expectedFbDaily(SEED, 'act_1002', '2026-01-12', '2026-01-12')[0]!.rows);

    // An account neither configured nor remembered is refused with one clear line, before any call.
    const unknown = await runLoader(loader, { env: base, account: 'act_9999', since: SINCE, until: SINCE });
    expect(unknown.status).toBe('failed');
    expect(unknown.errorClass).toBe('config');
    expect(unknown.errorMessage).toMatch(/FB_ACCOUNTS has no account "act_9999" \(known: act_1001, act_3001\), and no discovery of the last 24 h lists it/);
    // Without a remembered discovery, the discovered account is unknown too.
    rmSync(discoveryFile(path.join(runtimeConfig(base).stateDir, 'facebook')));
    const forgotten = await runLoader(loader, { env: base, account: 'act_1002', since: SINCE, until: SINCE });
    expect(forgotten.status).toBe('failed');
    expect(forgotten.errorMessage).toMatch(/FB_ACCOUNTS has no account "act_1002"/);
    expect(sandbox.counters.adAccountLists).toBe(lists);
  });
});

describe('facebook account discovery with a revoked token', () => {
  it('the refused token discovers nothing; the configured accounts are all still listed', async () => {
    const sandbox = await startSandbox({ seed: SEED, faults: new Set(['revoked_token']) });
    const stateDir = mkdtempSync(path.join(os.tmpdir(), 'adhouse-fb-discovery-'));
    try {
      const got = await facebookAccounts({ ...sandbox.env, HTTP_BACKOFF_BASE_MS: '1', HTTP_BACKOFF_MAX_MS: '5', STATE_DIR: stateDir }, { discover: true });
      expect(got.map((a) => a.id)).toEqual(JSON.parse(sandbox.env.FB_ACCOUNTS!).map((a: { id: string }) => a.id));
      expect(sandbox.counters.tokenRejected).toBe(1);
    } finally {
      await sandbox.close();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
