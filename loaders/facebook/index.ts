// Facebook / Meta Ads: ad accounts, campaigns, ad sets, ads, creatives and ad-level weekly, daily and hourly insights.
// Upstream surprises and how each is handled: BEHAVIOR.md next to this file.
import path from 'node:path';
import { z } from 'zod';
import { envInt } from '../../src/config/env.js';
import { todayIn } from '../../src/runtime/dates.js';
import { defineLoader, type LoaderContext } from '../../src/runtime/contract.js';
import { AdhouseError, errorClassOf } from '../../src/runtime/errors.js';
import { readStateFile, safeFileName, writeStateFile } from '../../src/runtime/state-file.js';
import type { TableSink } from '../../src/runtime/sink.js';
import { accountsEnvShape, checkAccounts, configuredAccounts, discoverAccounts, rememberDiscovery, rememberedAccount, type FbAccountTarget } from './accounts.js';
import { createFbApi, type Entity, type FbApi } from './api.js';
import { accountRow, adRow, adsetRow, campaignRow, creativeLink, creativeRow, INSIGHT_TABLES, insightKey, insightRow, isEmptyHourPlaceholder, mondayOf, type CreativeUtm, type InsightGrain } from './transform.js';

const config = z
  .object({
    ...accountsEnvShape,
    FB_PAGE_LIMIT: envInt(1, 500).default(100),
    /** Rows per insights page: Meta serves a few hundred; fewer pages matter at 174 accounts × 84 days. */
    FB_INSIGHTS_PAGE_LIMIT: envInt(1, 5000).default(500),
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
  .superRefine(checkAccounts);

type Config = z.infer<typeof config>;
type Ctx = LoaderContext<Config>;

export const STEPS = ['structure', 'weekly', 'daily', 'hourly'] as const;
export type FbStep = (typeof STEPS)[number];

/** `RunRequest.params` of a Facebook run (the batch sync runs one step per call). */
export const paramsSchema = z
  .object({
    steps: z.array(z.enum(STEPS, { message: `expected steps from ${STEPS.join(', ')}` })).min(1, { message: 'expected at least one step' }).optional(),
    /** full: every object now; auto: full when none ran in FB_FULL_SYNC_HOURS, else updated objects only. */
    structure: z.enum(['full', 'auto'], { message: 'expected full or auto' }).optional(),
  })
  .strict();
export type FbParams = z.infer<typeof paramsSchema>;

interface Plan {
  steps: ReadonlySet<FbStep>;
  structure: 'full' | 'auto';
  /** The day hourly insights are read for (today in the reporting zone). */
  today: string;
}

/** No params = the default pass: structure (auto), weekly, daily, and hourly when the window includes today. */
export function planOf(params: Readonly<Record<string, unknown>>, window: { since: string; until: string }, today: string): Plan {
  const parsed = paramsSchema.safeParse(params);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length ? issue.path.join('.') : 'params';
    throw new AdhouseError('config', `facebook params: ${where}: ${issue.message}; got ${JSON.stringify(params).slice(0, 200)}`);
  }
  const p = parsed.data;
  const withToday = window.since <= today && today <= window.until;
  const steps: FbStep[] = p.steps ?? ['structure', 'weekly', 'daily', ...(withToday ? (['hourly'] as const) : [])];
  return { steps: new Set(steps), structure: p.structure ?? 'auto', today };
}

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
  insights: Record<InsightGrain, TableSink>;
}

export default defineLoader({
  name: 'facebook',
  description: 'Facebook / Meta Ads: accounts, campaigns, ad sets, ads, creatives and ad-level weekly, daily and hourly insights',
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
    const plan = planOf(ctx.params, ctx.window, todayIn(ctx.reportingTz));
    const accounts = await accountsOf(ctx);
    const insightSink = (grain: InsightGrain) => {
      const t = INSIGHT_TABLES[grain];
      return ctx.sink(t.table, { skipUnchanged: { key: t.key, dateColumn: t.dateColumn } });
    };
    const sinks: Sinks = {
      accounts: ctx.sink('stg_fb_accounts', { skipUnchanged: { key: ['account_id'] } }),
      campaign: ctx.sink('stg_fb_campaigns', { skipUnchanged: { key: ['account_id', 'campaign_id'] } }),
      adset: ctx.sink('stg_fb_adsets', { skipUnchanged: { key: ['account_id', 'adset_id'] } }),
      ad: ctx.sink('stg_fb_ads', { skipUnchanged: { key: ['account_id', 'ad_id'] } }),
      creative: ctx.sink('stg_fb_creatives', { skipUnchanged: { key: ['account_id', 'creative_id'] } }),
      insights: { daily: insightSink('daily'), weekly: insightSink('weekly'), hourly: insightSink('hourly') },
    };
    // One account's failure (a revoked token, a block longer than HTTP_MAX_WAIT_MS) does not stop the others;
    // the run fails at the end, naming every failed account, with the class of the most serious failure.
    const failures: Array<{ account: string; err: unknown }> = [];
    for (const account of accounts) {
      if (ctx.signal.aborted) throw new AdhouseError('aborted', 'aborted');
      try {
        await loadAccount(ctx, sinks, account, plan);
      } catch (err) {
        if (ctx.signal.aborted || errorClassOf(err) === 'aborted') throw err;
        ctx.log.error({ account: account.id, errorClass: errorClassOf(err), err }, `facebook ${account.id} failed`);
        failures.push({ account: account.id, err });
      }
    }
    for (const sink of [sinks.accounts, sinks.campaign, sinks.adset, sinks.ad, sinks.creative, ...Object.values(sinks.insights)]) await sink.flush();
    if (failures.length > 0) {
      const order = ['token_invalid', 'config', 'rate_limited', 'upstream_5xx', 'network', 'data', 'internal'];
      const worst = failures.map((f) => errorClassOf(f.err)).sort((a, b) => order.indexOf(a) - order.indexOf(b))[0]!;
      const detail = failures.map((f) => `${f.account}: ${errorClassOf(f.err)}: ${f.err instanceof Error ? f.err.message : String(f.err)}`).join('; ');
      throw new AdhouseError(worst, `facebook: ${failures.length} of ${accounts.length} accounts failed (${detail})`);
    }
  },
});

/**
 * The accounts of this run: the configured ones, plus discovered ones with FB_DISCOVER_ACCOUNTS=true;
 * --account narrows to one. A configured --account needs no discovery; a discovered one is looked up in
 * the last discovery (rememberedAccount, what the batch sync's per-account runs hit) before asking again.
 */
async function accountsOf(ctx: Ctx): Promise<FbAccountTarget[]> {
  const configured = configuredAccounts(ctx.config);
  const discover = ctx.config.FB_DISCOVER_ACCOUNTS;
  if (ctx.account) {
    const known = configured.find((a) => a.id === ctx.account) ?? (discover ? await rememberedAccount(ctx.config, configured, ctx.stateDir, ctx.account) : null);
    if (known) return [known];
  }
  let all = configured;
  if (discover) {
    all = await discoverAccounts(ctx.config, configured, { http: ctx.http, pageLimit: ctx.config.FB_PAGE_LIMIT, log: ctx.log });
    await rememberDiscovery(ctx.stateDir, all);
    ctx.log.info({ configured: configured.length, discovered: all.length - configured.length }, `facebook: ${all.length - configured.length} accounts discovered through /me/adaccounts`);
  }
  const accounts = all.filter((a) => !ctx.account || a.id === ctx.account);
  if (accounts.length === 0) {
    const known = all.map((a) => a.id).join(', ') || 'none';
    throw new AdhouseError('config', `${discover ? 'FB_ACCOUNTS and discovery have' : 'FB_ACCOUNTS has'} no account "${ctx.account ?? ''}" (known: ${known})`);
  }
  return accounts;
}

function apiFor(ctx: Ctx, account: FbAccountTarget): FbApi {
  const c = ctx.config;
  return createFbApi({
    http: ctx.http,
    baseUrl: c.FB_API_URL,
    version: c.FB_API_VERSION,
    accountId: account.id,
    token: account.token,
    pageLimit: c.FB_PAGE_LIMIT,
    insightsPageLimit: c.FB_INSIGHTS_PAGE_LIMIT,
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

async function loadAccount(ctx: Ctx, sinks: Sinks, account: FbAccountTarget, plan: Plan): Promise<void> {
  const api = apiFor(ctx, account);
  const info = accountRow(account.id, account.label, await api.account());
  ctx.rowsRead(1);
  await sinks.accounts.write({ ...info });

  if (plan.steps.has('structure')) await loadStructure(ctx, sinks, api, account.id, plan.structure);
  const { since, until } = ctx.window;
  const ranges: Record<Exclude<FbStep, 'structure'>, { since: string; until: string }> = {
    // Monday-aligned buckets covering the window; the last one is the running (partial) week.
    weekly: { since: mondayOf(since), until },
    daily: { since, until },
    // Today only, whatever the window: intraday numbers for the 15-minute pass and reports.
    hourly: { since: plan.today, until: plan.today },
  };
  for (const grain of ['weekly', 'daily', 'hourly'] as const) {
    if (!plan.steps.has(grain)) continue;
    const rows = await loadInsights(ctx, sinks.insights[grain], api, grain, ranges[grain], info.currency, account.id);
    ctx.log.info({ account: account.id, grain, rows, calls: api.stats.calls, splits: api.stats.splits, asyncJobs: api.stats.asyncJobs, throttledMs: api.stats.throttledMs }, `facebook ${account.id}: ${rows} ${grain} insight rows`);
  }
}

/** One grain of one account: pages → typed rows (bad ones quarantined, empty hourly placeholders skipped). */
async function loadInsights(ctx: Ctx, sink: TableSink, api: FbApi, grain: InsightGrain, range: { since: string; until: string }, currency: string, accountId: string): Promise<number> {
  ctx.progress.start(`${accountId} ${grain} insights`, 1);
  const insightCtx = { accountId, currency, ...range };
  let rows = 0;
  for await (const page of api.insights(grain, range.since, range.until)) {
    ctx.rowsRead(page.rows.length);
    for (const raw of page.rows) {
      if (grain === 'hourly' && isEmptyHourPlaceholder(raw)) {
        sink.skip();
        continue;
      }
      const row = insightRow(insightCtx, raw, grain);
      if (typeof row === 'string') await ctx.quarantine.add({ table: sink.table, reason: row, payload: raw, key: insightKey(accountId, raw) });
      else {
        rows++;
        await sink.write(row);
      }
    }
  }
  ctx.progress.tick();
  ctx.progress.done();
  return rows;
}

/**
 * Structure: a full pass (every object, every effective_status) when none ran in FB_FULL_SYNC_HOURS;
 * otherwise campaigns, ad sets and ads updated since the previous pass started (minus an overlap).
 * Creatives have no updated_time filter and are small: always read whole (they also feed ads' UTM).
 */
async function loadStructure(ctx: Ctx, sinks: Sinks, api: FbApi, accountId: string, mode: 'full' | 'auto'): Promise<void> {
  const stateFile = path.join(ctx.stateDir, `structure-${safeFileName(accountId)}.json`);
  const state = await readStateFile<StructureState>(stateFile);
  const startedAt = Date.now();
  const full = mode === 'full' || !state || startedAt - state.lastFullAt >= ctx.config.FB_FULL_SYNC_HOURS * 3_600_000;
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
