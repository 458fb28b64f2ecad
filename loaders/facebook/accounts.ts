// Which Facebook ad accounts to load, and with which token: the configured ones (FB_ACCOUNTS, tokens of
// their own or of their business in FB_BUSINESS_TOKENS) plus, when asked, every account /me/adaccounts
// returns for each configured token. A discovered account loads with the token that found it.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { z } from 'zod';
import { envBool, envJson, envUrl, parseEnv, type Env } from '../../src/config/env.js';
import { runtimeConfig } from '../../src/config/runtime.js';
import { AdhouseError, errorClassOf } from '../../src/runtime/errors.js';
import { createHttpClient, type HttpClient } from '../../src/runtime/http.js';
import type { Logger } from '../../src/runtime/logger.js';
import { readStateFile, writeStateFile } from '../../src/runtime/state-file.js';
import { createFbApi } from './api.js';

const accountSchema = z
  .object({
    id: z.string().regex(/^act_\d+$/, { message: 'account ids look like act_<digits>' }),
    access_token: z.string().min(1).optional(),
    business_id: z.string().min(1).optional(),
    label: z.string().min(1).optional(),
  })
  .strict();

/** The env variables that say which accounts exist and how to reach them; the loader's config spreads these in. */
export const accountsEnvShape = {
  FB_API_URL: envUrl.default('https://graph.facebook.com'),
  FB_API_VERSION: z.string().regex(/^v\d+\.\d+$/, { message: 'expected a Graph API version like v24.0' }).default('v24.0'),
  /** [{"id":"act_123","access_token"?:"..","business_id"?:"..","label"?:".."}] */
  FB_ACCOUNTS: envJson(
    z
      .array(accountSchema, { message: 'expected a JSON array of {id:"act_<n>", access_token?, business_id?, label?}' })
      .refine((a) => new Set(a.map((x) => x.id)).size === a.length, { message: 'account ids must be unique' }),
  ).default([]),
  /** {"<business_id>":"<token>"}: the token of accounts that name a business_id and carry no token of their own. */
  FB_BUSINESS_TOKENS: envJson(z.record(z.string(), z.string().min(1), { message: 'expected a JSON object {"<business_id>":"<token>"}' })).optional(),
  /** Also load every account /me/adaccounts returns for the configured tokens. */
  FB_DISCOVER_ACCOUNTS: envBool.default(false),
};

const accountsEnv = z.object(accountsEnvShape);
export type AccountsConfig = z.infer<typeof accountsEnv>;

/** Config checks that need more than one variable: every account has a token; something to load. */
export function checkAccounts(c: AccountsConfig, ctx: z.RefinementCtx): void {
  if (c.FB_ACCOUNTS.length === 0 && !(c.FB_DISCOVER_ACCOUNTS && Object.keys(c.FB_BUSINESS_TOKENS ?? {}).length > 0)) {
    ctx.addIssue({ code: 'custom', path: ['FB_ACCOUNTS'], message: 'expected at least one account (or FB_DISCOVER_ACCOUNTS=true with FB_BUSINESS_TOKENS)' });
  }
  for (const a of c.FB_ACCOUNTS) {
    if (a.access_token || (a.business_id && c.FB_BUSINESS_TOKENS?.[a.business_id])) continue;
    ctx.addIssue({ code: 'custom', path: ['FB_ACCOUNTS'], message: `account ${a.id} has no access_token and no FB_BUSINESS_TOKENS entry for its business_id` });
  }
}

/** What the batch sync plans with: accounts of one business share rate limits. */
export interface FbAccountRef {
  id: string;
  businessId: string | null;
  label?: string;
}

/** An account the loader can load: its ref plus the token to use (never logged). */
export interface FbAccountTarget extends FbAccountRef {
  token: string;
  discovered: boolean;
}

/** The configured accounts, in configuration order. */
export function configuredAccounts(c: AccountsConfig): FbAccountTarget[] {
  return c.FB_ACCOUNTS.map((a) => {
    const token = a.access_token ?? (a.business_id ? c.FB_BUSINESS_TOKENS?.[a.business_id] : undefined);
    if (!token) throw new AdhouseError('config', `FB_ACCOUNTS: account ${a.id} has no token`);
    return { id: a.id, businessId: a.business_id ?? null, ...(a.label ? { label: a.label } : {}), token, discovered: false };
  });
}

/** Every distinct configured token: the accounts' own, then the businesses'; `where` names it without its value. */
function configuredTokens(c: AccountsConfig, configured: readonly FbAccountTarget[]): Array<{ token: string; where: string }> {
  const out = new Map<string, string>();
  for (const a of configured) if (!out.has(a.token)) out.set(a.token, a.businessId && c.FB_BUSINESS_TOKENS?.[a.businessId] === a.token ? `FB_BUSINESS_TOKENS["${a.businessId}"]` : `the access_token of ${a.id}`);
  for (const [business, token] of Object.entries(c.FB_BUSINESS_TOKENS ?? {})) if (!out.has(token)) out.set(token, `FB_BUSINESS_TOKENS["${business}"]`);
  return [...out].map(([token, where]) => ({ token, where }));
}

/** A configured token /me/adaccounts refused (190, permissions): named by position and place, never by value. */
export interface RefusedToken {
  /** 1-based, in configuredTokens order. */
  position: number;
  /** Where it is configured: `FB_BUSINESS_TOKENS["<business>"]` or `the access_token of act_<n>`. */
  where: string;
  /** The refusal (token_invalid). */
  error: unknown;
  /** Accounts that will load with it and fail loudly: configured ones and those remembered from earlier discoveries. */
  accounts: string[];
}

export interface DiscoverOptions {
  http: HttpClient;
  pageLimit?: number;
  log?: Logger;
}

/**
 * The configured accounts plus those /me/adaccounts returns for each configured token (paged). A configured
 * account keeps its configured token; a discovered one takes the first token that listed it. A refused
 * token (190, permissions) lists nothing and is returned in `refused`; other errors fail the discovery.
 */
export async function discoverAccounts(c: AccountsConfig, configured: readonly FbAccountTarget[], opts: DiscoverOptions): Promise<{ targets: FbAccountTarget[]; refused: RefusedToken[] }> {
  const out = [...configured];
  const refused: RefusedToken[] = [];
  const byId = new Map(out.map((a) => [a.id, a]));
  for (const [i, { token, where }] of configuredTokens(c, configured).entries()) {
    const api = createFbApi({
      http: opts.http,
      baseUrl: c.FB_API_URL,
      version: c.FB_API_VERSION,
      accountId: 'me',
      token,
      pageLimit: opts.pageLimit ?? 100,
      rateLimitWaitMs: 60_000,
      throttle: { slowdownPct: 99, slowdownMaxMs: 0 },
      syncMaxDays: 1,
      pollMs: 1,
      pollMaxMs: 1,
      asyncTimeoutMs: 1000,
      asyncAttempts: 1,
      log: opts.log,
    });
    try {
      for await (const page of api.adAccounts()) {
        for (const raw of page) {
          const id = String(raw.id ?? '');
          if (!/^act_\d+$/.test(id)) continue;
          const business = raw.business && typeof raw.business === 'object' ? String((raw.business as { id?: unknown }).id ?? '') : '';
          const known = byId.get(id);
          // Configuration wins; discovery only fills in a business the configuration did not name.
          if (known) {
            if (known.businessId === null && business) known.businessId = business;
            continue;
          }
          const found: FbAccountTarget = { id, businessId: business || null, token, discovered: true };
          out.push(found);
          byId.set(id, found);
        }
      }
    } catch (err) {
      if (errorClassOf(err) !== 'token_invalid') throw err;
      refused.push({ position: i + 1, where, error: err, accounts: configured.filter((a) => a.token === token).map((a) => a.id) });
    }
  }
  return { targets: out, refused };
}

// ---- what discovery found, remembered between runs ----------------------------------------------

/**
 * The batch sync plans with discovery once, then runs each account step by step (`--account`): those runs
 * find a discovered account's token here instead of asking /me/adaccounts of every token again. Tokens are
 * stored as a hash prefix (no secret at rest) and matched against the configured tokens.
 */
export const DISCOVERY_MAX_AGE_MS = 24 * 3_600_000;
interface DiscoveryFile {
  at: number;
  accounts: Array<{ id: string; businessId: string | null; tokenTag: string }>;
}
const tokenTag = (token: string): string => createHash('sha256').update(token).digest('hex').slice(0, 16);
export const discoveryFile = (stateDir: string): string => path.join(stateDir, 'discovered-accounts.json');

export async function rememberDiscovery(stateDir: string, targets: readonly FbAccountTarget[]): Promise<void> {
  const accounts = targets.filter((t) => t.discovered).map((t) => ({ id: t.id, businessId: t.businessId, tokenTag: tokenTag(t.token) }));
  await writeStateFile(discoveryFile(stateDir), { at: Date.now(), accounts } satisfies DiscoveryFile);
}

async function readDiscovery(stateDir: string): Promise<DiscoveryFile | null> {
  const file = await readStateFile<DiscoveryFile>(discoveryFile(stateDir));
  return file && Array.isArray(file.accounts) ? file : null;
}

/** A discovered account from a recent discovery, with its token still configured; else null. */
export async function rememberedAccount(c: AccountsConfig, configured: readonly FbAccountTarget[], stateDir: string, id: string, now = Date.now()): Promise<FbAccountTarget | null> {
  const file = await readDiscovery(stateDir);
  if (!file || now - Number(file.at) > DISCOVERY_MAX_AGE_MS) return null;
  const hit = file.accounts.find((a) => a.id === id);
  const token = hit ? configuredTokens(c, configured).find((t) => tokenTag(t.token) === hit.tokenTag)?.token : undefined;
  return hit && token ? { id, businessId: hit.businessId, token, discovered: true } : null;
}

export interface ResolveOptions extends DiscoverOptions {
  /** Ask /me/adaccounts of every configured token (FB_DISCOVER_ACCOUNTS, or the caller's override). */
  discover: boolean;
  /** STATE_DIR/facebook: where the last discovery is remembered. */
  stateDir: string;
  /** One account only (--account): a configured or remembered one needs no discovery. */
  account?: string;
}

/**
 * The accounts of a load, and the tokens discovery found refused: the one path of the loader and of
 * facebookAccounts (the batch sync's plan). An --account that is neither configured nor remembered from a
 * discovery of the last 24 h is discovered when `discover`, else a config error saying how to find it.
 * A refused token's accounts remembered from an earlier discovery (any age) are put back with it, so they
 * fail loudly when they load instead of vanishing; a refused token that covers no account is in `refused`
 * with no accounts (the loader fails the run for it).
 */
export async function resolveAccounts(c: AccountsConfig, opts: ResolveOptions): Promise<{ targets: FbAccountTarget[]; refused: RefusedToken[] }> {
  const configured = configuredAccounts(c);
  if (opts.account) {
    const known = configured.find((a) => a.id === opts.account) ?? (await rememberedAccount(c, configured, opts.stateDir, opts.account));
    if (known) return { targets: [known], refused: [] };
    if (!opts.discover) {
      const ids = configured.map((a) => a.id).join(', ') || 'none';
      throw new AdhouseError('config', `FB_ACCOUNTS has no account "${opts.account}" (known: ${ids}), and no discovery of the last 24 h lists it (set FB_DISCOVER_ACCOUNTS=true, or plan with discovery first)`);
    }
  }
  if (!opts.discover) return { targets: configured, refused: [] };
  const { targets, refused } = await discoverAccounts(c, configured, opts);
  opts.log?.info({ configured: configured.length, discovered: targets.length - configured.length }, `facebook: ${targets.length - configured.length} accounts discovered through /me/adaccounts`);
  if (refused.length > 0) {
    const file = await readDiscovery(opts.stateDir);
    const tokens = configuredTokens(c, configured);
    for (const r of refused) {
      const tag = tokenTag(tokens[r.position - 1]!.token);
      for (const a of file?.accounts ?? []) {
        if (a.tokenTag !== tag || targets.some((t) => t.id === a.id)) continue;
        targets.push({ id: a.id, businessId: a.businessId, token: tokens[r.position - 1]!.token, discovered: true });
        r.accounts.push(a.id);
      }
      const message = r.error instanceof Error ? r.error.message : String(r.error);
      opts.log?.error({ token: r.position, errorClass: 'token_invalid', accounts: r.accounts }, `facebook discovery: token #${r.position} (${r.where}) was refused: ${message}; ${r.accounts.length > 0 ? `its accounts ${r.accounts.join(', ')} will fail` : 'no account is known for it'}`);
    }
  }
  await rememberDiscovery(opts.stateDir, targets);
  if (opts.account) {
    const hit = targets.find((t) => t.id === opts.account);
    if (hit) return { targets: [hit], refused: [] };
    const ids = targets.map((a) => a.id).join(', ') || 'none';
    const lost = refused.filter((r) => r.accounts.length === 0).map((r) => `token #${r.position} (${r.where}) was refused`);
    throw new AdhouseError(lost.length > 0 ? 'token_invalid' : 'config', `FB_ACCOUNTS and discovery have no account "${opts.account}" (known: ${ids})${lost.length > 0 ? `; ${lost.join('; ')}` : ''}`);
  }
  return { targets, refused };
}

/**
 * The accounts a Facebook load would cover: FB_ACCOUNTS, plus (with `discover`, or FB_DISCOVER_ACCOUNTS=true)
 * the accounts /me/adaccounts lists for the configured tokens, and those remembered for a refused token (they
 * fail in their own runs). For the batch sync's plan; `onRefused` hears of every refused token (a refused
 * token with no account is otherwise only logged: there is no account to fail).
 */
export async function facebookAccounts(env: Env, opts: { discover?: boolean; signal?: AbortSignal; log?: Logger; onRefused?: (r: RefusedToken) => void } = {}): Promise<FbAccountRef[]> {
  const c = parseEnv(accountsEnv.superRefine(checkAccounts), env);
  const { targets, refused } = await resolveAccounts(c, {
    discover: opts.discover ?? c.FB_DISCOVER_ACCOUNTS,
    stateDir: path.join(runtimeConfig(env).stateDir, 'facebook'),
    http: discoveryHttp(env, opts.signal, opts.log),
    log: opts.log,
  });
  for (const r of refused) opts.onRefused?.(r);
  return targets.map(({ id, businessId, label }) => ({ id, businessId, ...(label ? { label } : {}) }));
}

function discoveryHttp(env: Env, signal: AbortSignal | undefined, log: Logger | undefined): HttpClient {
  const rt = runtimeConfig(env);
  return createHttpClient({ source: 'facebook', ...rt.http, requestsPerSecond: 10, concurrency: 1, signal, log });
}
