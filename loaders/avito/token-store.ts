// OAuth2 client_credentials tokens and the resolved user_id of each Avito profile, cached in STATE_DIR.
// Unlike VK, a new Avito token does not revoke the previous one (no refresh grant, no rotation), so
// there is no lock file: an in-process mutex per client_id keeps one run from minting twice, and two
// processes that race merely both hold a valid token. Files are written atomically (tmp + rename), 0600.
import { mkdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { keyedMutex, readStateFile, safeFileName, writeStateFile } from '../../src/runtime/state-file.js';
import { z } from 'zod';
import { AdhouseError } from '../../src/runtime/errors.js';
import type { HttpClient, HttpResponse } from '../../src/runtime/http.js';
import { classifyStatus } from '../../src/runtime/http.js';
import type { Logger } from '../../src/runtime/logger.js';
import { registerSecret } from '../../src/runtime/redact.js';

export interface AvitoCredentials {
  /** Our label of the profile (stored as `profile`), used in messages. */
  name: string;
  client_id: string;
  client_secret: string;
}

export interface StoredToken {
  access_token: string;
  /** Epoch ms. */
  expires_at: number;
  obtained_at: number;
}

export interface StoredAccount {
  user_id: number;
  name?: string;
  resolved_at: number;
}

export interface TokenStoreOptions {
  dir: string;
  apiUrl: string;
  http: HttpClient;
  log?: Logger;
  /** Refresh this long before expiry (default 60 s, the practice of public clients). */
  refreshBeforeMs?: number;
  now?: () => number;
}

export interface TokenStore {
  /** A token with more than `refreshBeforeMs` left: the cached one, or a new one from POST /token. */
  getToken(cred: AvitoCredentials): Promise<string>;
  /**
   * The API answered 401 to `token`: forget it and get a new one, unless another request of this process
   * already replaced it (then that one is returned and no second mint happens).
   */
  renew(cred: AvitoCredentials, token: string): Promise<string>;
  /** Forget the cached token (a refused or revoked one). */
  invalidate(cred: AvitoCredentials): Promise<void>;
  readAccount(cred: AvitoCredentials): Promise<StoredAccount | null>;
  writeAccount(cred: AvitoCredentials, account: StoredAccount): Promise<void>;
}

const tokenResponse = z.looseObject({
  access_token: z.string().min(1),
  // A number in the spec; accept a numeric string too.
  expires_in: z.union([z.number().positive(), z.string().regex(/^\d+$/).transform(Number)]).optional(),
  token_type: z.string().optional(),
});

/** The documented lifetime (24 h), used when a token answer has no expires_in. */
const DEFAULT_LIFETIME_S = 86_400;

const safe = safeFileName;
export const tokenFileName = (cred: Pick<AvitoCredentials, 'client_id'>) => `token-${safe(cred.client_id)}.json`;
export const accountFileName = (cred: Pick<AvitoCredentials, 'client_id'>) => `account-${safe(cred.client_id)}.json`;


/** The error text of a refused token request: `{error:{code,message}}`, `{error, error_description}` or `{code, message}`. */
export function tokenErrorText(res: HttpResponse): string {
  try {
    const j = JSON.parse(res.text) as Record<string, unknown>;
    const e = j.error;
    if (e && typeof e === 'object') return String((e as { message?: unknown }).message ?? (e as { code?: unknown }).code ?? res.status);
    if (typeof e === 'string') return typeof j.error_description === 'string' ? `${e}: ${j.error_description}` : e;
    if (typeof j.message === 'string') return j.message;
  } catch {
    /* not JSON */
  }
  return `HTTP ${res.status}`;
}

export function createTokenStore(opts: TokenStoreOptions): TokenStore {
  const now = opts.now ?? Date.now;
  const refreshBefore = opts.refreshBeforeMs ?? 60_000;
  const mutex = keyedMutex();
  let dirReady: Promise<unknown> | null = null;
  const ensureDir = () => (dirReady ??= mkdir(opts.dir, { recursive: true, mode: 0o700 }));
  const tokenFile = (cred: AvitoCredentials) => path.join(opts.dir, tokenFileName(cred));
  const accountFile = (cred: AvitoCredentials) => path.join(opts.dir, accountFileName(cred));

  const readJson = readStateFile;
  const writeJson = writeStateFile;

  async function readToken(cred: AvitoCredentials): Promise<StoredToken | null> {
    const t = await readJson<StoredToken>(tokenFile(cred));
    if (!t || typeof t.access_token !== 'string' || typeof t.expires_at !== 'number') return null;
    registerSecret(t.access_token);
    return t;
  }

  const isFresh = (t: StoredToken) => t.expires_at - now() > refreshBefore;

  async function mint(cred: AvitoCredentials): Promise<StoredToken> {
    const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: cred.client_id, client_secret: cred.client_secret });
    const res = await opts.http.request({ method: 'POST', url: `${opts.apiUrl}/token`, body }, (r) => {
      // 400/401/403: the credentials are refused (the exact shape is unverified); a person has to act.
      if (r.status === 400 || r.status === 401 || r.status === 403) {
        throw new AdhouseError('token_invalid', `Avito refused the credentials of profile ${cred.name} (client ${cred.client_id}): HTTP ${r.status} ${tokenErrorText(r)}`, { upstreamCode: r.status });
      }
      if (r.status < 200 || r.status >= 300) throw classifyStatus(r);
      return r;
    });
    let json: unknown;
    try {
      json = JSON.parse(res.text);
    } catch {
      throw new AdhouseError('upstream_5xx', 'Avito token endpoint returned invalid JSON');
    }
    const parsed = tokenResponse.safeParse(json);
    if (!parsed.success) {
      // A 200 carrying {error:{...}} instead of a token is a refusal too.
      const err = (json as { error?: unknown } | null)?.error;
      if (err) throw new AdhouseError('token_invalid', `Avito refused the credentials of profile ${cred.name} (client ${cred.client_id}): ${JSON.stringify(err).slice(0, 200)}`);
      throw new AdhouseError('internal', `Avito token endpoint answered an unexpected shape: ${parsed.error.issues[0]?.message}`);
    }
    registerSecret(parsed.data.access_token);
    const t = now();
    const token: StoredToken = { access_token: parsed.data.access_token, expires_at: t + (parsed.data.expires_in ?? DEFAULT_LIFETIME_S) * 1000, obtained_at: t };
    await writeJson(tokenFile(cred), token);
    opts.log?.info({ profile: cred.name }, 'Avito: new access token');
    return token;
  }

  return {
    async getToken(cred) {
      const cached = await readToken(cred);
      if (cached && isFresh(cached)) return cached.access_token;
      return mutex(cred.client_id, async () => {
        const current = await readToken(cred); // another request may have minted while we waited
        if (current && isFresh(current)) return current.access_token;
        return (await mint(cred)).access_token;
      });
    },
    async renew(cred, token) {
      return mutex(cred.client_id, async () => {
        const current = await readToken(cred);
        if (current && current.access_token !== token && isFresh(current)) return current.access_token;
        await unlink(tokenFile(cred)).catch(() => undefined);
        return (await mint(cred)).access_token;
      });
    },
    async invalidate(cred) {
      await unlink(tokenFile(cred)).catch(() => undefined);
    },
    async readAccount(cred) {
      const a = await readJson<StoredAccount>(accountFile(cred));
      return a && typeof a.user_id === 'number' ? a : null;
    },
    async writeAccount(cred, account) {
      await writeJson(accountFile(cred), account);
    },
  };
}
