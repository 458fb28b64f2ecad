// The Avito token cache against the sandbox: 0600 files, reuse, refresh 60 s before expiry, one mint for
// concurrent callers, 401 -> one new token and one replay, refused credentials -> token_invalid.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAvitoApi, type AvitoProfile } from '../loaders/avito/api.js';
import { AVITO_SANDBOX_PROFILES, startSandbox, type AvitoSandbox } from '../loaders/avito/sandbox.js';
import { accountFileName, createTokenStore, tokenFileName } from '../loaders/avito/token-store.js';
import { AdhouseError } from '../src/runtime/errors.js';
import { createHttpClient } from '../src/runtime/http.js';

const http = () => createHttpClient({ source: 'avito', timeoutMs: 5000, maxRetries: 3, backoffBaseMs: 5, backoffMaxMs: 20, maxWaitMs: 5000, requestsPerSecond: 1000, concurrency: 4 });

describe('avito token store', () => {
  let sandbox: AvitoSandbox;
  let bad: AvitoSandbox;
  let dir: string;
  let msk: AvitoProfile;
  let spb: AvitoProfile;
  const mints = (sb: AvitoSandbox, p: AvitoProfile) => sb.counters.mints[p.client_id] ?? 0;

  beforeAll(async () => {
    sandbox = await startSandbox({ seed: 1, faults: new Set() });
    bad = await startSandbox({ seed: 1, faults: new Set(['bad_credentials']) });
    [msk, spb] = JSON.parse(sandbox.env.AVITO_PROFILES!) as AvitoProfile[];
  });
  afterAll(async () => {
    await sandbox.close();
    await bad.close();
  });
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'avito-tokens-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('mints once, keeps the token in a 0600 file and reuses it', async () => {
    const before = mints(sandbox, msk!);
    const store = createTokenStore({ dir, apiUrl: sandbox.url, http: http() });
    const a = await store.getToken(msk!);
    const b = await createTokenStore({ dir, apiUrl: sandbox.url, http: http() }).getToken(msk!); // another run
    expect(a).toBe(b);
    expect(mints(sandbox, msk!) - before).toBe(1);
    expect(readdirSync(dir)).toEqual([tokenFileName(msk!)]);
    expect(statSync(path.join(dir, tokenFileName(msk!))).mode & 0o777).toBe(0o600);
  });

  it('concurrent callers share one mint', async () => {
    const before = mints(sandbox, msk!);
    const store = createTokenStore({ dir, apiUrl: sandbox.url, http: http() });
    const tokens = await Promise.all(Array.from({ length: 5 }, () => store.getToken(msk!)));
    expect(new Set(tokens).size).toBe(1);
    expect(mints(sandbox, msk!) - before).toBe(1);
  });

  it('refreshes 60 s before expiry, not earlier', async () => {
    let now = 1_000_000;
    const store = createTokenStore({ dir, apiUrl: sandbox.url, http: http(), now: () => now });
    const first = await store.getToken(msk!);
    now += 86_400_000 - 61_000; // 61 s left: still fresh
    expect(await store.getToken(msk!)).toBe(first);
    now += 2_000; // 59 s left: refreshed
    const second = await store.getToken(msk!);
    expect(second).not.toBe(first);
  });

  it('a 401 gets one new token and one replay; user_id is resolved and cached beside it', async () => {
    const store = createTokenStore({ dir, apiUrl: sandbox.url, http: http() });
    const api = createAvitoApi({ http: http(), baseUrl: sandbox.url, tokens: store, profile: msk! });
    expect((await api.self()).id).toBe(AVITO_SANDBOX_PROFILES.avito_msk.userId);
    await store.writeAccount(msk!, { user_id: AVITO_SANDBOX_PROFILES.avito_msk.userId, resolved_at: 1 });
    expect(await store.readAccount(msk!)).toMatchObject({ user_id: AVITO_SANDBOX_PROFILES.avito_msk.userId });
    expect(statSync(path.join(dir, accountFileName(msk!))).mode & 0o777).toBe(0o600);
    const before = mints(sandbox, msk!);
    const expired = sandbox.counters.expiredAnswers;
    sandbox.expireTokens();
    const balance = await api.balance(AVITO_SANDBOX_PROFILES.avito_msk.userId);
    expect(balance.real).toBeGreaterThan(0);
    expect(api.tokenRenewals).toBe(1);
    expect(mints(sandbox, msk!) - before).toBe(1);
    expect(sandbox.counters.expiredAnswers - expired).toBe(1);
  });

  it('refused credentials are token_invalid naming the profile; a 401 after the replay too', async () => {
    const store = createTokenStore({ dir, apiUrl: bad.url, http: http() });
    const err = await store.getToken(spb!).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdhouseError);
    expect((err as AdhouseError).code).toBe('token_invalid');
    expect((err as AdhouseError).message).toMatch(/profile avito_spb/);
    expect((err as AdhouseError).message).not.toMatch(/sandbox-spb-secret/);
    // A token obtained before the secret changed is revoked: 401, new token refused -> token_invalid.
    const good = createTokenStore({ dir, apiUrl: sandbox.url, http: http() });
    await good.getToken(spb!);
    const api = createAvitoApi({ http: http(), baseUrl: bad.url, tokens: createTokenStore({ dir, apiUrl: bad.url, http: http() }), profile: spb! });
    await expect(api.self()).rejects.toMatchObject({ code: 'token_invalid' });
    expect(readdirSync(dir)).not.toContain(tokenFileName(spb!));
  });
});
