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

/** Every distinct configured token: the accounts' own, then the businesses'. */
function configuredTokens(c: AccountsConfig, configured: readonly FbAccountTarget[]): string[] {
  return [...new Set([...configured.map((a) => a.token), ...Object.values(c.FB_BUSINESS_TOKENS ?? {})])];
}

export interface DiscoverOptions {
  http: HttpClient;
  pageLimit?: number;
  log?: Logger;
}

/**
 * The configured accounts plus those /me/adaccounts returns for each configured token (paged). A configured
 * account keeps its configured token; a discovered one takes the first token that listed it. A token that
 * is refused (190, permissions) discovers nothing and is logged: its configured accounts still fail loudly
 * when they load. Other errors (network after retries) fail the discovery.
 */
export async function discoverAccounts(c: AccountsConfig, configured: readonly FbAccountTarget[], opts: DiscoverOptions): Promise<FbAccountTarget[]> {
  const out = [...configured];
  const byId = new Map(out.map((a) => [a.id, a]));
  for (const [i, token] of configuredTokens(c, configured).entries()) {
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
      // The token's position, never the token itself.
      opts.log?.warn({ token: i + 1, errorClass: 'token_invalid' }, `facebook discovery: configured token #${i + 1} was refused: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return out;
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

/** A discovered account from a recent discovery, with its token still configured; else null. */
export async function rememberedAccount(c: AccountsConfig, configured: readonly FbAccountTarget[], stateDir: string, id: string, now = Date.now()): Promise<FbAccountTarget | null> {
  const file = await readStateFile<DiscoveryFile>(discoveryFile(stateDir));
  if (!file || !Array.isArray(file.accounts) || now - Number(file.at) > DISCOVERY_MAX_AGE_MS) return null;
  const hit = file.accounts.find((a) => a.id === id);
  const token = hit ? configuredTokens(c, configured).find((t) => tokenTag(t) === hit.tokenTag) : undefined;
  return hit && token ? { id, businessId: hit.businessId, token, discovered: true } : null;
}

/**
 * The accounts a Facebook load would cover: FB_ACCOUNTS, plus (with `discover`, or FB_DISCOVER_ACCOUNTS=true)
 * the accounts /me/adaccounts lists for the configured tokens. For the batch sync's plan.
 */
export async function facebookAccounts(env: Env, opts: { discover?: boolean; signal?: AbortSignal; log?: Logger } = {}): Promise<FbAccountRef[]> {
  const c = parseEnv(accountsEnv.superRefine(checkAccounts), env);
  const configured = configuredAccounts(c);
  const discover = opts.discover ?? c.FB_DISCOVER_ACCOUNTS;
  let targets = configured;
  if (discover) {
    targets = await discoverAccounts(c, configured, { http: discoveryHttp(env, opts.signal, opts.log), log: opts.log });
    await rememberDiscovery(path.join(runtimeConfig(env).stateDir, 'facebook'), targets);
  }
  return targets.map(({ id, businessId, label }) => ({ id, businessId, ...(label ? { label } : {}) }));
}

function discoveryHttp(env: Env, signal: AbortSignal | undefined, log: Logger | undefined): HttpClient {
  const rt = runtimeConfig(env);
  return createHttpClient({ source: 'facebook', ...rt.http, requestsPerSecond: 10, concurrency: 1, signal, log });
}
