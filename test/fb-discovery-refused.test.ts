// Discovery when a configured token is refused (190): its accounts must not vanish silently. Accounts an
// earlier discovery found with that token are put back and fail loudly; a refused token that covers no
// account fails the run itself, named by its position and where it is configured, never by its value.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { facebookAccounts, type RefusedToken } from '../loaders/facebook/accounts.js';
import facebook from '../loaders/facebook/index.js';
import { startSandbox, type FbSandbox } from '../loaders/facebook/sandbox.js';
import { expectedFbDaily } from '../loaders/facebook/world.js';
import type { LoaderDefinition } from '../src/runtime/contract.js';
import { runLoader } from '../src/runtime/run-loader.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';
import { FB_FAST as FAST } from './support/facebook.js';

const SEED = 7331;
const loader = facebook as unknown as LoaderDefinition;
const REVOKED = 'fb-sb-2002';
// Only business tokens; act_2002's own token is configured as business 9002's (it reads act_2002 only).
const TOKENS = JSON.stringify({ '9001': 'fb-sb-biz-9001', '9002': REVOKED });
const DAY = { since: '2026-01-12', until: '2026-01-13' };

describe('facebook discovery with a refused token', () => {
  let wh: Warehouse;
  let healthy: FbSandbox;
  let revoked: FbSandbox;
  const envOf = (sb: FbSandbox) => ({ ...wh.env, ...sb.env, ...FAST, FB_DISCOVER_ACCOUNTS: 'true', FB_ACCOUNTS: '[]', FB_BUSINESS_TOKENS: TOKENS });
  beforeAll(async () => {
    wh = await freshWarehouse();
    healthy = await startSandbox({ seed: SEED, faults: new Set() });
    revoked = await startSandbox({ seed: SEED, faults: new Set(['revoked_token']) });
  });
  afterAll(async () => {
    await healthy?.close();
    await revoked?.close();
    await wh?.drop();
  });

  const spend = async () =>
    wh.query<{ a: string; cents: string }>(`SELECT account_id AS a, toString(sum(toInt64(spend * 100))) AS cents FROM stg_fb_insights_daily FINAL GROUP BY a ORDER BY a`);
  const truth = (a: string) => String(expectedFbDaily(SEED, a, DAY.since, DAY.until).reduce((n, d) => n + d.spendCents, 0));

  it('a refused token with no account known for it fails the run token_invalid, naming its place; the others load', async () => {
    const s = await runLoader(loader, { env: envOf(revoked), ...DAY, params: { steps: ['daily'] } });
    expect(s.status).toBe('failed');
    expect(s.errorClass).toBe('token_invalid');
    expect(s.errorMessage).toMatch(/0 of 2 accounts failed, 1 discovery token refused \(discovery token #2 \(FB_BUSINESS_TOKENS\["9002"\], no account known for it\): token_invalid: .*#190/);
    expect(s.errorMessage).not.toContain(REVOKED);
    expect(await spend()).toEqual(['act_1001', 'act_1002'].map((a) => ({ a, cents: truth(a) })));
  });

  it('accounts an earlier discovery found with the token are put back and fail loudly (loader and facebookAccounts)', async () => {
    // A discovery while the token still worked remembers act_2002 under it.
    expect((await facebookAccounts(envOf(healthy))).map((a) => a.id)).toEqual(['act_1001', 'act_1002', 'act_2002']);

    const heard: RefusedToken[] = [];
    const planned = await facebookAccounts(envOf(revoked), { onRefused: (r) => heard.push(r) });
    expect(planned.map((a) => a.id)).toEqual(['act_1001', 'act_1002', 'act_2002']);
    expect(heard.map((r) => ({ position: r.position, where: r.where, accounts: r.accounts }))).toEqual([{ position: 2, where: 'FB_BUSINESS_TOKENS["9002"]', accounts: ['act_2002'] }]);

    const s = await runLoader(loader, { env: envOf(revoked), ...DAY, params: { steps: ['daily'] } });
    expect(s.status).toBe('failed');
    expect(s.errorClass).toBe('token_invalid');
    expect(s.errorMessage).toMatch(/1 of 3 accounts failed \(act_2002: token_invalid: .*#190/);
    expect(s.errorMessage).not.toMatch(/discovery token/);
    expect(s.errorMessage).not.toContain(REVOKED);
    // The batch sync's per-account run of the put-back account fails the same way.
    const one = await runLoader(loader, { env: envOf(revoked), account: 'act_2002', ...DAY, params: { steps: ['daily'] } });
    expect([one.status, one.errorClass]).toEqual(['failed', 'token_invalid']);
    // Still remembered: the next run fails loudly again instead of forgetting the account.
    expect((await facebookAccounts(envOf(revoked))).map((a) => a.id)).toContain('act_2002');
  });
});
