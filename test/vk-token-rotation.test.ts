// The VK token store against the sandbox: reuse, refresh before expiry under a lock, the 5-token ceiling,
// expired_token / invalid_token recovery.
import { mkdtempSync, rmSync, statSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createVkApi, type VkAccount } from '../loaders/vk_ads/api.js';
import { startSandbox, VK_SANDBOX_APPS, type VkSandbox } from '../loaders/vk_ads/sandbox.js';
import { createTokenStore, tokenFileName } from '../loaders/vk_ads/token-store.js';
import { AdhouseError } from '../src/runtime/errors.js';
import { createHttpClient } from '../src/runtime/http.js';

const http = () => createHttpClient({ source: 'vk_ads', timeoutMs: 5000, maxRetries: 5, backoffBaseMs: 5, backoffMaxMs: 50, maxWaitMs: 5000, requestsPerSecond: 1000, concurrency: 4 });
const DAY = 86_400_000;

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * An HTTP client whose first token-endpoint call is held until `open()`: a worker that is "slow" inside the
 * lock, for as long as the test wants. `firstCall` resolves when that call arrives; `calls` counts them all.
 */
function gatedHttp() {
  const arrived = deferred();
  const gate = deferred();
  const state = { calls: 0 };
  const fetchImpl = (async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (url.includes('/oauth2/token.json')) {
      state.calls++;
      if (state.calls === 1) {
        arrived.resolve();
        await gate.promise;
      }
    }
    return fetch(input, init);
  }) as typeof fetch;
  const client = createHttpClient({ source: 'vk_ads', timeoutMs: 30_000, maxRetries: 0, backoffBaseMs: 5, backoffMaxMs: 50, maxWaitMs: 5000, requestsPerSecond: 1000, concurrency: 4, fetchImpl });
  return { http: client, firstCall: arrived.promise, open: gate.resolve, get calls() { return state.calls; } };
}

describe('vk token store', () => {
  let sandbox: VkSandbox;
  let dir: string;
  let direct: VkAccount;
  let agencyClient: VkAccount;

  beforeAll(async () => {
    sandbox = await startSandbox({ seed: 1, faults: new Set() });
    const accounts = JSON.parse(sandbox.env.VK_ADS_ACCOUNTS!) as VkAccount[];
    direct = accounts[0]!;
    agencyClient = accounts[1]!;
  });
  afterAll(async () => sandbox.close());
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'vk-tokens-'));
  });
  afterEach(async () => {
    // Start every test from an empty token table for both apps.
    for (const app of VK_SANDBOX_APPS) {
      for (const username of ['direct_user', 'agency_client_1']) {
        await fetch(`${sandbox.url}/api/v2/oauth2/token/delete.json`, { method: 'POST', body: new URLSearchParams({ client_id: app.client_id, client_secret: app.client_secret, ...(app.client_id === 'vk-agency-app' ? { username } : {}) }) });
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const store = (now?: () => number) => createTokenStore({ dir, apiUrl: sandbox.url, http: http(), now });
  const userJson = (token: string) => fetch(`${sandbox.url}/api/v2/user.json`, { headers: { authorization: `Bearer ${token}` } });

  it('mints once, stores the token in a 0600 file and reuses it', async () => {
    const mints = sandbox.counters.mints;
    const s = store();
    const a = await s.getToken(direct);
    const b = await s.getToken(direct);
    expect(a).toBe(b);
    expect(sandbox.counters.mints - mints).toBe(1);
    const file = path.join(dir, tokenFileName(direct));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // A second store (another process) reads the same file instead of minting.
    expect(await store().getToken(direct)).toBe(a);
    expect(sandbox.counters.mints - mints).toBe(1);
    expect((await userJson(a)).status).toBe(200);
  });

  it('refreshes ~30 min before expiry; the old token is dead at once', async () => {
    const old = await store().getToken(direct);
    const refreshes = sandbox.counters.refreshes;
    const later = store(() => Date.now() + DAY - 20 * 60_000); // 20 min before expiry
    const fresh = await later.getToken(direct);
    expect(fresh).not.toBe(old);
    expect(sandbox.counters.refreshes - refreshes).toBe(1);
    const dead = await userJson(old);
    expect(dead.status).toBe(401);
    expect(await dead.json()).toMatchObject({ code: 'invalid_token' });
    expect((await userJson(fresh)).status).toBe(200);
  });

  it('two concurrent getToken calls (one store, and two stores sharing the lock file) refresh once', async () => {
    await store().getToken(direct);
    const refreshes = sandbox.counters.refreshes;
    const clock = () => Date.now() + DAY - 10 * 60_000;
    const one = store(clock);
    const [a, b] = await Promise.all([one.getToken(direct), one.getToken(direct)]);
    expect(a).toBe(b);
    expect(sandbox.counters.refreshes - refreshes).toBe(1);

    const clock2 = () => Date.now() + 2 * DAY - 10 * 60_000;
    const [c, d] = await Promise.all([store(clock2).getToken(direct), store(clock2).getToken(direct)]);
    expect(c).toBe(d);
    expect(sandbox.counters.refreshes - refreshes).toBe(2);
    expect(readdirSync(dir).filter((f) => f.endsWith('.lock'))).toEqual([]);
  });

  it('on the 5-token limit: delete.json for that user, then mint once', async () => {
    const app = VK_SANDBOX_APPS.find((a) => a.client_id === agencyClient.client_id)!;
    for (let i = 0; i < 5; i++) {
      const r = await fetch(`${sandbox.url}/api/v2/oauth2/token.json`, { method: 'POST', body: new URLSearchParams({ grant_type: 'agency_client_credentials', client_id: app.client_id, client_secret: app.client_secret, agency_client_name: 'agency_client_1' }) });
      expect(r.status).toBe(200);
    }
    const sixth = await fetch(`${sandbox.url}/api/v2/oauth2/token.json`, { method: 'POST', body: new URLSearchParams({ grant_type: 'agency_client_credentials', client_id: app.client_id, client_secret: app.client_secret, agency_client_name: 'agency_client_1' }) });
    expect(sixth.status).toBe(403);
    const deletes = sandbox.counters.deletes;
    const token = await store().getToken(agencyClient);
    expect(sandbox.counters.deletes - deletes).toBe(1);
    expect(sandbox.liveTokens(app.client_id, 'agency_client_1')).toBe(1);
    expect((await userJson(token)).status).toBe(200);
  });

  it('expired_token -> refresh and retry; invalid_token -> mint new', async () => {
    const s = store();
    const api = createVkApi({ http: http(), baseUrl: sandbox.url, tokens: s, account: direct });
    expect(await api.currency()).toBe('RUB');
    const refreshes = sandbox.counters.refreshes;
    sandbox.advanceClock(DAY + 1000); // the server's clock says the token is expired; ours does not know yet
    try {
      expect(await api.currency()).toBe('RUB');
      expect(sandbox.counters.expiredAnswers).toBeGreaterThan(0);
      expect(sandbox.counters.refreshes - refreshes).toBe(1);
    } finally {
      sandbox.advanceClock(-(DAY + 1000));
    }
    // Someone wipes every token of the user (delete.json): ours is now unknown.
    await fetch(`${sandbox.url}/api/v2/oauth2/token/delete.json`, { method: 'POST', body: new URLSearchParams({ client_id: direct.client_id, client_secret: direct.client_secret }) });
    const mints = sandbox.counters.mints;
    expect(await api.currency()).toBe('RUB');
    expect(sandbox.counters.mints - mints).toBe(1);
  });

  it('a bad secret is token_invalid (no retry)', async () => {
    const s = store();
    await expect(s.getToken({ ...direct, client_secret: 'wrong' })).rejects.toMatchObject({ code: 'token_invalid' });
  });

  it('an agency client token cannot read another account’s objects', async () => {
    const s = store();
    const api = createVkApi({ http: http(), baseUrl: sandbox.url, tokens: s, account: agencyClient });
    const err = await api.bannerDays([10010001], '2026-01-01', '2026-01-02').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdhouseError);
    expect((err as AdhouseError).code).toBe('token_invalid');
    expect((err as AdhouseError).upstreamCode).toBe('ERR_ACCESS_DENIED');
  });

  it('short-lived tokens are refreshed after half their lifetime, not on every call', async () => {
    const short = await startSandbox({ seed: 1, faults: new Set(['short_token']) });
    try {
      const s = createTokenStore({ dir, apiUrl: short.url, http: http() });
      const acc = (JSON.parse(short.env.VK_ADS_ACCOUNTS!) as VkAccount[])[0]!;
      const a = await s.getToken(acc);
      expect(await s.getToken(acc)).toBe(a); // 3 s lifetime: still fresh for half of it
      await new Promise((r) => setTimeout(r, 1700));
      const b = await s.getToken(acc);
      expect(b).not.toBe(a);
      expect(short.counters.refreshes).toBe(1);
    } finally {
      await short.close();
    }
  });

  it('accepts expires_in as a number (authorization_code style) as well as a string', async () => {
    const fetchImpl = (async () => new Response(JSON.stringify({ access_token: 'numeric-expiry-token', token_type: 'bearer', expires_in: 3600, refresh_token: 'rt-1' }), { status: 200 })) as typeof fetch;
    const client = createHttpClient({ source: 'vk_ads', timeoutMs: 5000, maxRetries: 0, backoffBaseMs: 5, backoffMaxMs: 50, maxWaitMs: 5000, requestsPerSecond: 1000, concurrency: 4, fetchImpl });
    const t0 = Date.now();
    const s = createTokenStore({ dir, apiUrl: 'http://vk.invalid', http: client, now: () => t0 });
    expect(await s.getToken(direct)).toBe('numeric-expiry-token');
    const stored = JSON.parse((await import('node:fs')).readFileSync(path.join(dir, tokenFileName(direct)), 'utf8')) as { expires_at: number };
    expect(stored.expires_at).toBe(t0 + 3600_000);
  });

  it('takes over a stale lock file left by a dead worker', async () => {
    const { writeFileSync, utimesSync, existsSync } = await import('node:fs');
    const lock = path.join(dir, `${tokenFileName(direct)}.lock`);
    writeFileSync(lock, '99999 dead\n');
    const old = new Date(Date.now() - 5 * 60_000);
    utimesSync(lock, old, old);
    const token = await store().getToken(direct);
    expect((await userJson(token)).status).toBe(200);
    expect(existsSync(lock)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('.lock'))).toEqual([]);
  });

  it('two workers that both judge a lock stale: only one takes it over, the other waits; one mint', async () => {
    const { writeFileSync, utimesSync } = await import('node:fs');
    const lock = path.join(dir, `${tokenFileName(direct)}.lock`);
    writeFileSync(lock, '99999 dead\n');
    const old = new Date(Date.now() - 5 * 60_000);
    utimesSync(lock, old, old);
    const mints = sandbox.counters.mints;
    const net = gatedHttp();
    // Worker B (its own store = its own process) sees the stale lock and is held right there...
    const bSawStale = deferred();
    const releaseB = deferred();
    let released = false;
    let bWaitsAfterRelease = 0;
    const storeB = createTokenStore({
      dir,
      apiUrl: sandbox.url,
      http: net.http,
      lockProbe: {
        staleSeen: async () => {
          bSawStale.resolve();
          await releaseB.promise;
        },
        waiting: () => {
          if (released) bWaitsAfterRelease++;
        },
      },
    });
    const b = storeB.getToken(direct);
    await bSawStale.promise;
    // ...while worker A also judges it stale, takes it over and is inside its (held) mint.
    const a = createTokenStore({ dir, apiUrl: sandbox.url, http: net.http }).getToken(direct);
    await net.firstCall;
    // Now B acts on its (outdated) stale verdict: it must not take A's fresh lock.
    released = true;
    releaseB.resolve();
    await vi.waitFor(() => expect(bWaitsAfterRelease > 0 || net.calls > 1).toBe(true), { timeout: 5000, interval: 5 });
    expect(net.calls).toBe(1); // B never reached the token endpoint while A held the lock
    net.open();
    const [ta, tb] = await Promise.all([a, b]);
    expect(tb).toBe(ta);
    expect(sandbox.counters.mints - mints).toBe(1);
    expect((await userJson(ta)).status).toBe(200);
    expect(readdirSync(dir).filter((f) => f.includes('.lock'))).toEqual([]);
  });

  it('many workers racing for a stale lock: one mint, one live token', async () => {
    const { writeFileSync, utimesSync } = await import('node:fs');
    const lock = path.join(dir, `${tokenFileName(direct)}.lock`);
    writeFileSync(lock, '99999 dead\n');
    const old = new Date(Date.now() - 5 * 60_000);
    utimesSync(lock, old, old);
    const mints = sandbox.counters.mints;
    const tokens = await Promise.all(Array.from({ length: 8 }, () => store().getToken(direct)));
    expect(new Set(tokens).size).toBe(1);
    expect(sandbox.counters.mints - mints).toBe(1);
    expect(sandbox.liveTokens(direct.client_id, 'direct_user')).toBe(1);
    expect(readdirSync(dir).filter((f) => f.includes('.lock'))).toEqual([]);
  });

  it('a holder whose token call outlasts the stale age renews its lock and is not taken over', async () => {
    const timing = { lockStaleMs: 200, lockRenewMs: 40 };
    const net = gatedHttp();
    let renewals = 0;
    let bWaits = 0;
    const mints = sandbox.counters.mints;
    const a = createTokenStore({ dir, apiUrl: sandbox.url, http: net.http, ...timing, lockProbe: { renewed: () => void renewals++ } }).getToken(direct);
    await net.firstCall; // A holds the lock and its mint hangs
    const heldSince = Date.now();
    const b = createTokenStore({ dir, apiUrl: sandbox.url, http: net.http, ...timing, lockProbe: { waiting: () => void bWaits++ } }).getToken(direct);
    // Until A has held the lock for 3x the stale age (or B wrongly took it and called the token endpoint).
    await vi.waitFor(
      () => {
        if (net.calls > 1) return;
        expect(Date.now() - heldSince).toBeGreaterThan(3 * timing.lockStaleMs);
        expect(bWaits).toBeGreaterThan(0);
      },
      { timeout: 5000, interval: 20 },
    );
    expect(net.calls).toBe(1);
    expect(renewals).toBeGreaterThan(0);
    net.open();
    const [ta, tb] = await Promise.all([a, b]);
    expect(tb).toBe(ta);
    expect(sandbox.counters.mints - mints).toBe(1);
    expect((await userJson(ta)).status).toBe(200);
    expect(readdirSync(dir).filter((f) => f.includes('.lock'))).toEqual([]);
  });
});
