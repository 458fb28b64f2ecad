// OAuth2 tokens for VK Ads, shared by every run and process through files in STATE_DIR.
// Why so careful (api notes A2): a refresh rotates the access token and the old value dies at once, so two
// workers refreshing together break each other; and there are at most 5 tokens per (client_id, user),
// a 6th mint is refused with 403. So: one JSON file per (client_id, user), mode 0600; reads are lock-free,
// every mint/refresh happens under an in-process mutex plus a lock file (open 'wx'; a stale lock is taken
// over by an atomic rename, and a holder renews its lock's mtime), and re-reads the file first in case
// another worker already did the job.
import { randomUUID } from 'node:crypto';
import { link, mkdir, open, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import { keyedMutex, safeFileName, writeStateFile } from '../../src/runtime/state-file.js';
import { z } from 'zod';
import { AdhouseError } from '../../src/runtime/errors.js';
import type { HttpClient, HttpResponse } from '../../src/runtime/http.js';
import { classifyStatus } from '../../src/runtime/http.js';
import type { Logger } from '../../src/runtime/logger.js';
import { registerSecret } from '../../src/runtime/redact.js';

export interface VkCredentials {
  client_id: string;
  client_secret: string;
  agency_client_name?: string;
  agency_client_id?: string;
}

export interface StoredToken {
  access_token: string;
  refresh_token: string | null;
  /** Epoch ms. */
  expires_at: number;
  obtained_at: number;
}

export interface TokenStoreOptions {
  dir: string;
  apiUrl: string;
  http: HttpClient;
  log?: Logger;
  /** Refresh this long before expiry (default 30 min; capped at half the token's lifetime). */
  refreshBeforeMs?: number;
  /** A lock file older than this belongs to a dead worker and is taken over. */
  lockStaleMs?: number;
  lockTimeoutMs?: number;
  /** While a lock is held its mtime is renewed this often (default 10 s), so a slow token call is not judged stale. */
  lockRenewMs?: number;
  now?: () => number;
  /** Test hooks into the lock protocol (awaited, so a test can hold a worker at a given point). */
  lockProbe?: LockProbe;
}

export interface LockProbe {
  /** This worker found the lock older than lockStaleMs and is about to take it over. */
  staleSeen?(lock: string): Promise<void> | void;
  /** This worker found the lock held (fresh) and waits. */
  waiting?(lock: string): Promise<void> | void;
  /** This worker, holding the lock, renewed its mtime. */
  renewed?(lock: string): Promise<void> | void;
}

export type RejectReason = 'expired_token' | 'invalid_token';

export interface TokenStore {
  /** A usable access token: the stored one while it is fresh, otherwise refreshed or minted under the lock. */
  getToken(cred: VkCredentials): Promise<string>;
  /** The API rejected `token`: expired → refresh, invalid → mint new; unless someone already replaced it. */
  renew(cred: VkCredentials, token: string, reason: RejectReason): Promise<string>;
}

const tokenResponse = z.object({
  access_token: z.string().min(1),
  refresh_token: z.string().optional().nullable(),
  // A string in the client_credentials/refresh examples, a number in the authorization_code one (A2).
  expires_in: z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]).optional(),
});

const DEFAULT_LIFETIME_S = 86_400;

/** The user part of a token file name: the agency client, or the app's own account. */
export function tokenUser(cred: VkCredentials): string {
  if (cred.agency_client_id) return `id-${cred.agency_client_id}`;
  if (cred.agency_client_name) return `name-${cred.agency_client_name}`;
  return 'self';
}

export function tokenFileName(cred: VkCredentials): string {
  const safe = safeFileName;
  return `token-${safe(cred.client_id)}-${safe(tokenUser(cred))}.json`;
}


export function createTokenStore(opts: TokenStoreOptions): TokenStore {
  const now = opts.now ?? Date.now;
  const refreshBefore = opts.refreshBeforeMs ?? 30 * 60_000;
  const lockStaleMs = opts.lockStaleMs ?? 60_000;
  const lockTimeoutMs = opts.lockTimeoutMs ?? 120_000;
  const lockRenewMs = opts.lockRenewMs ?? 10_000;
  const mutex = keyedMutex();
  let dirReady: Promise<unknown> | null = null;

  const fileOf = (cred: VkCredentials) => path.join(opts.dir, tokenFileName(cred));

  async function readStored(file: string): Promise<StoredToken | null> {
    try {
      const parsed = JSON.parse(await readFile(file, 'utf8')) as StoredToken;
      if (typeof parsed.access_token !== 'string' || typeof parsed.expires_at !== 'number') return null;
      registerSecret(parsed.access_token);
      registerSecret(parsed.refresh_token);
      return parsed;
    } catch {
      return null; // missing or half-written by a crashed worker: treat as no token
    }
  }

  const writeStored = (file: string, token: StoredToken) => writeStateFile(file, token);

  /** Fresh enough to use without refreshing: more than min(30 min, half its lifetime) left. */
  function isFresh(t: StoredToken): boolean {
    const lifetime = Math.max(0, t.expires_at - t.obtained_at);
    return t.expires_at - now() > Math.min(refreshBefore, lifetime / 2);
  }

  const isMissing = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';

  /**
   * Takes over a lock judged stale (`seen` = its stat then). Only one waiter's rename of the lock path can
   * succeed; the others get ENOENT. A waiter whose verdict is out of date (the stale lock was already
   * replaced by a live one) finds a fresh file under its rename and puts it back. Returns when the caller
   * should try `open 'wx'` again.
   */
  async function takeOverStale(lock: string, seen: { ino: number; dev: number }): Promise<void> {
    const grave = `${lock}.stale.${randomUUID()}`;
    try {
      await rename(lock, grave);
    } catch (err) {
      if (isMissing(err)) return; // someone else took it over (or the holder released it)
      throw err;
    }
    const moved = await stat(grave).catch(() => null);
    if (moved && moved.ino === seen.ino && moved.dev === seen.dev && Date.now() - moved.mtimeMs > lockStaleMs) {
      opts.log?.warn({ lock }, 'took over a stale VK token lock');
      await unlink(grave).catch(() => undefined);
      return;
    }
    // We moved a live lock (it replaced the stale one after our stat): put it back unless a new one exists.
    await link(grave, lock).catch(() => undefined);
    await unlink(grave).catch(() => undefined);
  }

  async function withLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
    return mutex(file, async () => {
      dirReady ??= mkdir(opts.dir, { recursive: true, mode: 0o700 });
      await dirReady;
      const lock = `${file}.lock`;
      const owner = `${process.pid} ${randomUUID()}`;
      const deadline = Date.now() + lockTimeoutMs;
      for (;;) {
        try {
          const handle = await open(lock, 'wx', 0o600);
          await handle.writeFile(`${owner} ${new Date().toISOString()}\n`);
          await handle.close();
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
          const seen = await stat(lock).catch(() => null);
          if (!seen) continue; // released between our open and stat
          if (Date.now() - seen.mtimeMs > lockStaleMs) {
            await opts.lockProbe?.staleSeen?.(lock);
            await takeOverStale(lock, seen);
            continue;
          }
          await opts.lockProbe?.waiting?.(lock);
          if (Date.now() > deadline) throw new AdhouseError('internal', `VK token lock ${lock} is held for more than ${lockTimeoutMs} ms`);
          await new Promise((r) => setTimeout(r, 25 + Math.random() * 25));
        }
      }
      const ours = async () => (await readFile(lock, 'utf8').catch(() => '')).startsWith(`${owner} `);
      // Keep the lock's mtime fresh while we hold it: a token call slower than lockStaleMs must not be
      // mistaken for a dead worker.
      let renewing: Promise<void> = Promise.resolve();
      const timer = setInterval(() => {
        renewing = renewing.then(async () => {
          if (!(await ours())) return;
          const t = new Date();
          await utimes(lock, t, t).catch(() => undefined);
          await opts.lockProbe?.renewed?.(lock);
        }).catch(() => undefined);
      }, lockRenewMs);
      timer.unref();
      try {
        return await fn();
      } finally {
        clearInterval(timer);
        await renewing;
        if (await ours()) await unlink(lock).catch(() => undefined);
        else opts.log?.warn({ lock }, 'VK token lock was no longer ours at release');
      }
    });
  }

  async function tokenCall(form: Record<string, string | undefined>, path_: string): Promise<{ status: number; res: HttpResponse }> {
    const body = new URLSearchParams();
    for (const [k, v] of Object.entries(form)) if (v !== undefined) body.set(k, v);
    return opts.http.request({ method: 'POST', url: `${opts.apiUrl}${path_}`, body }, (res) => {
      // 403 is the 5-token ceiling on a mint and 401 a refused grant: both handled by the caller.
      if (res.status === 401 || res.status === 403 || (res.status >= 200 && res.status < 300)) return { status: res.status, res };
      throw classifyStatus(res);
    });
  }

  function toStored(res: HttpResponse, previousRefresh: string | null): StoredToken {
    let json: unknown;
    try {
      json = JSON.parse(res.text);
    } catch {
      throw new AdhouseError('upstream_5xx', 'VK token endpoint returned invalid JSON');
    }
    const parsed = tokenResponse.safeParse(json);
    if (!parsed.success) throw new AdhouseError('internal', `VK token endpoint answered an unexpected shape: ${parsed.error.issues[0]?.message}`);
    registerSecret(parsed.data.access_token);
    registerSecret(parsed.data.refresh_token ?? undefined);
    const t = now();
    return {
      access_token: parsed.data.access_token,
      refresh_token: parsed.data.refresh_token ?? previousRefresh,
      expires_at: t + (parsed.data.expires_in ?? DEFAULT_LIFETIME_S) * 1000,
      obtained_at: t,
    };
  }

  function errorCode(res: HttpResponse): string {
    try {
      const j = JSON.parse(res.text) as { code?: string; error?: { code?: string } | string };
      return String(j.code ?? (typeof j.error === 'object' ? j.error?.code : j.error) ?? res.status);
    } catch {
      return String(res.status);
    }
  }

  async function mint(cred: VkCredentials, file: string, allowDelete = true): Promise<StoredToken> {
    const grant = cred.agency_client_name || cred.agency_client_id ? 'agency_client_credentials' : 'client_credentials';
    const { status, res } = await tokenCall(
      { grant_type: grant, client_id: cred.client_id, client_secret: cred.client_secret, agency_client_name: cred.agency_client_name, agency_client_id: cred.agency_client_id },
      '/api/v2/oauth2/token.json',
    );
    if (status === 403 && allowDelete) {
      // The 5-token ceiling: wipe this user's tokens for the client_id (it kills other holders too), mint once.
      opts.log?.warn({ clientId: cred.client_id, user: tokenUser(cred) }, 'VK token limit reached: deleting this user\'s tokens and minting one');
      await deleteTokens(cred);
      return mint(cred, file, false);
    }
    if (status === 401 || status === 403) {
      throw new AdhouseError('token_invalid', `VK refused a ${grant} token for client ${cred.client_id} (${tokenUser(cred)}): HTTP ${status} ${errorCode(res)}`, { upstreamCode: errorCode(res) });
    }
    const token = toStored(res, null);
    await writeStored(file, token);
    return token;
  }

  async function deleteTokens(cred: VkCredentials): Promise<void> {
    const { status, res } = await tokenCall(
      { client_id: cred.client_id, client_secret: cred.client_secret, username: cred.agency_client_name, user_id: cred.agency_client_id },
      '/api/v2/oauth2/token/delete.json',
    );
    if (status === 401 || status === 403) throw new AdhouseError('token_invalid', `VK token delete refused for client ${cred.client_id}: HTTP ${status} ${errorCode(res)}`);
  }

  async function refresh(cred: VkCredentials, file: string, current: StoredToken): Promise<StoredToken> {
    if (!current.refresh_token) return mint(cred, file);
    const { status, res } = await tokenCall(
      { grant_type: 'refresh_token', refresh_token: current.refresh_token, client_id: cred.client_id, client_secret: cred.client_secret },
      '/api/v2/oauth2/token.json',
    );
    if (status === 401 || status === 403) {
      opts.log?.warn({ clientId: cred.client_id, code: errorCode(res) }, 'VK refresh refused: minting a new token');
      return mint(cred, file);
    }
    const token = toStored(res, current.refresh_token);
    await writeStored(file, token);
    return token;
  }

  return {
    async getToken(cred) {
      const file = fileOf(cred);
      const cached = await readStored(file);
      if (cached && isFresh(cached)) return cached.access_token;
      return withLock(file, async () => {
        const current = await readStored(file); // another worker may have refreshed while we waited
        if (current && isFresh(current)) return current.access_token;
        // Near or past expiry: refresh (the refresh token outlives the access token); no token at all: mint.
        if (current?.refresh_token) return (await refresh(cred, file, current)).access_token;
        return (await mint(cred, file)).access_token;
      });
    },
    async renew(cred, token, reason) {
      const file = fileOf(cred);
      return withLock(file, async () => {
        const current = await readStored(file);
        if (current && current.access_token !== token && current.expires_at > now()) return current.access_token;
        if (reason === 'expired_token' && current?.refresh_token) return (await refresh(cred, file, current)).access_token;
        return (await mint(cred, file)).access_token;
      });
    },
  };
}
