// Facebook / Meta Ads: ad accounts, campaigns, ad sets, ads, creatives and ad-level daily insights.
// Upstream surprises and how each is handled: BEHAVIOR.md next to this file.
import path from 'node:path';
import { z } from 'zod';
import { envInt, envJson, envUrl } from '../../src/config/env.js';
import { defineLoader, type LoaderContext } from '../../src/runtime/contract.js';
import { AdhouseError, errorClassOf } from '../../src/runtime/errors.js';
import { readStateFile, safeFileName, writeStateFile } from '../../src/runtime/state-file.js';
import type { TableSink } from '../../src/runtime/sink.js';
import { createFbApi, type Entity, type FbApi } from './api.js';
import { accountRow, adRow, adsetRow, campaignRow, creativeLink, creativeRow, insightKey, insightRow, type CreativeUtm } from './transform.js';

const accountSchema = z
  .object({
    id: z.string().regex(/^act_\d+$/, { message: 'account ids look like act_<digits>' }),
    access_token: z.string().min(1).optional(),
    business_id: z.string().min(1).optional(),
    label: z.string().min(1).optional(),
  })
  .strict();

const config = z
  .object({
    FB_API_URL: envUrl.default('https://graph.facebook.com'),
    FB_API_VERSION: z.string().regex(/^v\d+\.\d+$/, { message: 'expected a Graph API version like v24.0' }).default('v24.0'),
    /** [{"id":"act_123","access_token"?:"..","business_id"?:"..","label"?:".."}] */
    FB_ACCOUNTS: envJson(
      z
        .array(accountSchema, { message: 'expected a JSON array of {id:"act_<n>", access_token?, business_id?, label?}' })
        .min(1, { message: 'expected at least one account' })
        .refine((a) => new Set(a.map((x) => x.id)).size === a.length, { message: 'account ids must be unique' }),
    ),
    /** {"<business_id>":"<token>"}: the token of accounts that name a business_id and carry no token of their own. */
    FB_BUSINESS_TOKENS: envJson(z.record(z.string(), z.string().min(1), { message: 'expected a JSON object {"<business_id>":"<token>"}' })).optional(),
    FB_PAGE_LIMIT: envInt(1, 500).default(100),
    /** Insights over at most this many days use the synchronous endpoint; longer ranges run as async reports. */
    FB_SYNC_MAX_DAYS: envInt(1, 90).default(3),
    FB_POLL_MS: envInt(1, 600_000).default(2000),
    FB_POLL_MAX_MS: envInt(1, 600_000).default(30_000),
    FB_ASYNC_TIMEOUT_MS: envInt(1000, 7_200_000).default(3_600_000),
    FB_ASYNC_ATTEMPTS: envInt(1, 10).default(2),
    /** Wait after codes 4/17/32/613/800xx when no estimated_time_to_regain_access is given. */
    FB_RATE_LIMIT_WAIT_MS: envInt(0, 3_600_000).default(60_000),
    FB_SLOWDOWN_PCT: envInt(1, 99).default(75),
    FB_SLOWDOWN_MAX_MS: envInt(0, 3_600_000).default(30_000),
    /** A full structure pass when the last one is older than this; otherwise only objects updated since the last pass. */
    FB_FULL_SYNC_HOURS: envInt(0, 24 * 365).default(24),
  })
  .superRefine((c, ctx) => {
    for (const a of c.FB_ACCOUNTS) {
      if (a.access_token || (a.business_id && c.FB_BUSINESS_TOKENS?.[a.business_id])) continue;
      ctx.addIssue({ code: 'custom', path: ['FB_ACCOUNTS'], message: `account ${a.id} has no access_token and no FB_BUSINESS_TOKENS entry for its business_id` });
    }
  });

type Config = z.infer<typeof config>;
type Ctx = LoaderContext<Config>;
type AccountConfig = Config['FB_ACCOUNTS'][number];

export const INSIGHTS_TABLE = 'stg_fb_insights_daily';
/** Objects updated shortly before the previous pass started may be missed by a clock skew: overlap a little. */
const INCREMENTAL_OVERLAP_S = 15 * 60;

interface StructureState {
  lastFullAt: number;
  lastPassAt: number;
}

interface Sinks {
  accounts: TableSink;
  campaign: TableSink;
  adset: TableSink;
  ad: TableSink;
  creative: TableSink;
  insights: TableSink;
}

export default defineLoader({
  name: 'facebook',
  description: 'Facebook / Meta Ads: accounts, campaigns, ad sets, ads, creatives and ad-level daily insights',
  // The nightly pass re-pulls the whole lookback (late conversions); `adhouse load facebook` does the same.
  schedule: '0 3 * * *',
  enabledByDefault: true,
  lookbackDays: 28,
  // Every 15 minutes, today and yesterday only: fresh numbers without re-reading four weeks each time.
  passes: [{ name: 'recent', schedule: '*/15 * * * *', lookbackDays: 2 }],
  includeToday: true,
  initialDays: 28,
  rateLimit: { requestsPerSecond: 20, concurrency: 4 },
  config,
  async run(ctx) {
    const accounts = ctx.config.FB_ACCOUNTS.filter((a) => !ctx.account || a.id === ctx.account);
    if (accounts.length === 0) {
      throw new AdhouseError('config', `FB_ACCOUNTS has no account "${ctx.account}" (known: ${ctx.config.FB_ACCOUNTS.map((a) => a.id).join(', ')})`);
    }
    const sinks: Sinks = {
      accounts: ctx.sink('stg_fb_accounts', { skipUnchanged: { key: ['account_id'] } }),
      campaign: ctx.sink('stg_fb_campaigns', { skipUnchanged: { key: ['account_id', 'campaign_id'] } }),
      adset: ctx.sink('stg_fb_adsets', { skipUnchanged: { key: ['account_id', 'adset_id'] } }),
      ad: ctx.sink('stg_fb_ads', { skipUnchanged: { key: ['account_id', 'ad_id'] } }),
      creative: ctx.sink('stg_fb_creatives', { skipUnchanged: { key: ['account_id', 'creative_id'] } }),
      insights: ctx.sink(INSIGHTS_TABLE, { skipUnchanged: { key: ['account_id', 'ad_id', 'date'], dateColumn: 'date' } }),
    };
    // One account's failure (a revoked token, a block longer than HTTP_MAX_WAIT_MS) does not stop the others;
    // the run fails at the end, naming every failed account, with the class of the most serious failure.
    const failures: Array<{ account: string; err: unknown }> = [];
    for (const account of accounts) {
      if (ctx.signal.aborted) throw new AdhouseError('aborted', 'aborted');
      try {
        await loadAccount(ctx, sinks, account);
      } catch (err) {
        if (ctx.signal.aborted || errorClassOf(err) === 'aborted') throw err;
        ctx.log.error({ account: account.id, errorClass: errorClassOf(err), err }, `facebook ${account.id} failed`);
        failures.push({ account: account.id, err });
      }
    }
    for (const sink of Object.values(sinks)) await sink.flush();
    if (failures.length > 0) {
      const order = ['token_invalid', 'config', 'rate_limited', 'upstream_5xx', 'network', 'data', 'internal'];
      const worst = failures.map((f) => errorClassOf(f.err)).sort((a, b) => order.indexOf(a) - order.indexOf(b))[0]!;
      const detail = failures.map((f) => `${f.account}: ${errorClassOf(f.err)}: ${f.err instanceof Error ? f.err.message : String(f.err)}`).join('; ');
      throw new AdhouseError(worst, `facebook: ${failures.length} of ${accounts.length} accounts failed (${detail})`);
    }
  },
});

function tokenOf(ctx: Ctx, account: AccountConfig): string {
  const token = account.access_token ?? (account.business_id ? ctx.config.FB_BUSINESS_TOKENS?.[account.business_id] : undefined);
  if (!token) throw new AdhouseError('config', `FB_ACCOUNTS: account ${account.id} has no token`);
  return token;
}

function apiFor(ctx: Ctx, account: AccountConfig): FbApi {
  const c = ctx.config;
  return createFbApi({
    http: ctx.http,
    baseUrl: c.FB_API_URL,
    version: c.FB_API_VERSION,
    accountId: account.id,
    token: tokenOf(ctx, account),
    pageLimit: c.FB_PAGE_LIMIT,
    rateLimitWaitMs: c.FB_RATE_LIMIT_WAIT_MS,
    throttle: { slowdownPct: c.FB_SLOWDOWN_PCT, slowdownMaxMs: c.FB_SLOWDOWN_MAX_MS },
    syncMaxDays: c.FB_SYNC_MAX_DAYS,
    pollMs: c.FB_POLL_MS,
    pollMaxMs: c.FB_POLL_MAX_MS,
    asyncTimeoutMs: c.FB_ASYNC_TIMEOUT_MS,
    asyncAttempts: c.FB_ASYNC_ATTEMPTS,
    log: ctx.log,
  });
}

async function loadAccount(ctx: Ctx, sinks: Sinks, account: AccountConfig): Promise<void> {
  const api = apiFor(ctx, account);
  const info = accountRow(account.id, account.label, await api.account());
  ctx.rowsRead(1);
  await sinks.accounts.write({ ...info });

  await loadStructure(ctx, sinks, api, account.id);

  ctx.progress.start(`${account.id} insights`, 1);
  const insightCtx = { accountId: account.id, currency: info.currency, since: ctx.window.since, until: ctx.window.until };
  let rows = 0;
  for await (const page of api.insightsDaily(ctx.window.since, ctx.window.until)) {
    ctx.rowsRead(page.rows.length);
    for (const raw of page.rows) {
      const row = insightRow(insightCtx, raw);
      if (typeof row === 'string') await ctx.quarantine.add({ table: INSIGHTS_TABLE, reason: row, payload: raw, key: insightKey(account.id, raw) });
      else {
        rows++;
        await sinks.insights.write(row);
      }
    }
  }
  ctx.progress.tick();
  ctx.progress.done();
  ctx.log.info({ account: account.id, rows, calls: api.stats.calls, splits: api.stats.splits, asyncJobs: api.stats.asyncJobs, throttledMs: api.stats.throttledMs }, `facebook ${account.id}: ${rows} insight rows`);
}

/**
 * Structure: a full pass (every object, every effective_status) when none ran in FB_FULL_SYNC_HOURS;
 * otherwise campaigns, ad sets and ads updated since the previous pass started (minus an overlap).
 * Creatives have no updated_time filter and are small: always read whole (they also feed ads' UTM).
 */
async function loadStructure(ctx: Ctx, sinks: Sinks, api: FbApi, accountId: string): Promise<void> {
  const stateFile = path.join(ctx.stateDir, `structure-${safeFileName(accountId)}.json`);
  const state = await readStateFile<StructureState>(stateFile);
  const startedAt = Date.now();
  const full = !state || startedAt - state.lastFullAt >= ctx.config.FB_FULL_SYNC_HOURS * 3_600_000;
  const updatedAfter = full ? undefined : Math.floor(state.lastPassAt / 1000) - INCREMENTAL_OVERLAP_S;
  ctx.progress.start(`${accountId} structure (${full ? 'full' : 'incremental'})`, 4);

  const creatives = new Map<string, CreativeUtm>();
  for await (const page of api.list('creative')) {
    ctx.rowsRead(page.length);
    for (const c of page) {
      creatives.set(String(c.id), { link: creativeLink(c), urlTags: typeof c.url_tags === 'string' ? c.url_tags : '' });
      await sinks.creative.write(creativeRow(accountId, c, ctx.window.until));
    }
  }
  ctx.progress.tick();
  const rowOf: Record<Exclude<Entity, 'creative'>, (o: Record<string, unknown>) => Record<string, unknown>> = {
    campaign: (o) => campaignRow(accountId, o),
    adset: (o) => adsetRow(accountId, o),
    ad: (o) => adRow(accountId, o, creatives.get(String((o.creative as { id?: unknown } | undefined)?.id ?? '')), ctx.window.until),
  };
  for (const entity of ['campaign', 'adset', 'ad'] as const) {
    for await (const page of api.list(entity, updatedAfter)) {
      ctx.rowsRead(page.length);
      for (const o of page) {
        if (typeof o.id !== 'string' || !/^\d+$/.test(o.id)) {
          await ctx.quarantine.add({ table: sinks[entity].table, reason: `${entity} without a numeric id`, payload: o });
          continue;
        }
        await sinks[entity].write(rowOf[entity](o));
      }
    }
    ctx.progress.tick();
  }
  ctx.progress.done();
  await writeStateFile(stateFile, { lastFullAt: full ? startedAt : state!.lastFullAt, lastPassAt: startedAt } satisfies StructureState);
}
