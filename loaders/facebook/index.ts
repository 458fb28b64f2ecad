// Facebook / Meta Ads: ad accounts, campaigns, ad sets, ads, creatives and ad-level weekly, daily and hourly insights.
// Upstream surprises and how each is handled: BEHAVIOR.md next to this file.
import path from 'node:path';
import { z } from 'zod';
import { refreshAfterLoad } from '../../src/analytics/refresh.js';
import { envInt } from '../../src/config/env.js';
import { addDays, minDay, todayIn } from '../../src/runtime/dates.js';
import { defineLoader, type LoaderContext } from '../../src/runtime/contract.js';
import { AdhouseError, errorClassOf } from '../../src/runtime/errors.js';
import { readStateFile, safeFileName, writeStateFile } from '../../src/runtime/state-file.js';
import type { TableSink } from '../../src/runtime/sink.js';
import { accountsEnvShape, checkAccounts, resolveAccounts, type FbAccountTarget } from './accounts.js';
import { createFbApi, type Entity, type FbApi } from './api.js';
import type { DecodedPage } from './page-decode.js';
import { pageDecoder, type PageDecoder } from './page-decoder.js';
import { accountRow, adRow, adsetRow, campaignRow, creativeLink, creativeRow, INSIGHT_TABLES, mondayOf, sundayOf, type CreativeUtm, type InsightGrain } from './transform.js';

const config = z
  .object({
    ...accountsEnvShape,
    FB_PAGE_LIMIT: envInt(1, 500).default(100),
    /** Rows per insights page: Meta serves a few hundred; fewer pages matter at 174 accounts × 84 days. */
    FB_INSIGHTS_PAGE_LIMIT: envInt(1, 5000).default(500),
    /** Insights over at most this many days use the synchronous endpoint; longer ranges run as async reports. */
    FB_SYNC_MAX_DAYS: envInt(1, 90).default(3),
    /** Threads that parse and type insights pages, off the thread making the calls; 0 = on it. */
    FB_DECODE_THREADS: envInt(0, 16).default(1),
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
  /** Today in the reporting zone: whether the default pass reads hours; accounts read their own yesterday and today. */
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

/** What one account's load works with besides its API. */
interface Sinks {
  accounts: TableSink;
  campaign: TableSink;
  adset: TableSink;
  ad: TableSink;
  creative: TableSink;
  insights: Record<InsightGrain, TableSink>;
  decoder: PageDecoder;
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
  // The anomaly and burnout views compute live until the stored copy is refreshed for the new rows.
  afterLoad: refreshAfterLoad,
  rateLimit: { requestsPerSecond: 20, concurrency: 4 },
  config,
  async run(ctx) {
    const plan = planOf(ctx.params, ctx.window, todayIn(ctx.reportingTz));
    const { targets: accounts, refused } = await resolveAccounts(ctx.config, {
      discover: ctx.config.FB_DISCOVER_ACCOUNTS,
      stateDir: ctx.stateDir,
      account: ctx.account,
      http: ctx.http,
      pageLimit: ctx.config.FB_PAGE_LIMIT,
      log: ctx.log,
    });
    const sinks: Sinks = {
      accounts: ctx.sink('stg_fb_accounts', { skipUnchanged: { key: ['account_id'], ...scopeOf(ctx) } }),
      campaign: ctx.sink('stg_fb_campaigns', { skipUnchanged: { key: ['account_id', 'campaign_id'], ...scopeOf(ctx) } }),
      adset: ctx.sink('stg_fb_adsets', { skipUnchanged: { key: ['account_id', 'adset_id'], ...scopeOf(ctx) } }),
      ad: ctx.sink('stg_fb_ads', { skipUnchanged: { key: ['account_id', 'ad_id'], ...scopeOf(ctx) } }),
      creative: ctx.sink('stg_fb_creatives', { skipUnchanged: { key: ['account_id', 'creative_id'], ...scopeOf(ctx) } }),
      insights: {
        daily: insightSink(ctx, 'daily', ctx.window),
        // The weekly buckets' own range: they start on the Monday before the window.
        weekly: insightSink(ctx, 'weekly', { since: mondayOf(ctx.window.since), until: ctx.window.until }),
        // Yesterday and today in each account's zone: within a few days of the reporting zone's today.
        hourly: insightSink(ctx, 'hourly', { since: addDays(plan.today, -3), until: addDays(plan.today, 2) }),
      },
      decoder: pageDecoder(ctx.config.FB_DECODE_THREADS),
    };
    // The stored versions the planned steps compare against are read while the first API calls run.
    sinks.accounts.prefetch();
    if (plan.steps.has('structure')) for (const sink of [sinks.campaign, sinks.adset, sinks.ad, sinks.creative]) sink.prefetch();
    const insightSteps = (['weekly', 'daily', 'hourly'] as const).filter((grain) => plan.steps.has(grain));
    for (const grain of insightSteps) sinks.insights[grain].prefetch();
    if (insightSteps.length > 0) sinks.decoder.warm();
    // One account's failure (a revoked token, a block longer than HTTP_MAX_WAIT_MS) does not stop the others;
    // the run fails at the end, naming every failed account, with the class of the most serious failure.
    // A refused discovery token that covers no account is a failure of its own (named by position, not value).
    const failures: Array<{ account: string; err: unknown }> = refused
      .filter((r) => r.accounts.length === 0)
      .map((r) => ({ account: `discovery token #${r.position} (${r.where}, no account known for it)`, err: r.error }));
    const failed = (account: FbAccountTarget, err: unknown): void => {
      if (ctx.signal.aborted || errorClassOf(err) === 'aborted') throw err;
      ctx.log.error({ account: account.id, errorClass: errorClassOf(err), err }, `facebook ${account.id} failed`);
      failures.push({ account: account.id, err });
    };
    // Each account's last rows are stored while the next one calls the API.
    const stored: Array<Promise<void>> = [];
    for (const account of accounts) {
      if (ctx.signal.aborted) throw new AdhouseError('aborted', 'aborted');
      try {
        const { done } = await loadAccount(ctx, sinks, account, plan);
        stored.push(done.catch((err: unknown) => failed(account, err)));
      } catch (err) {
        failed(account, err);
      }
    }
    ctx.callsOver();
    await Promise.all(stored);
    if (failures.length > 0) {
      // The accounts that loaded keep their rows (the runtime stores a successful run's last rows itself).
      await Promise.all([sinks.accounts, sinks.campaign, sinks.adset, sinks.ad, sinks.creative, ...Object.values(sinks.insights)].map((sink) => sink.flush()));
      const order = ['token_invalid', 'config', 'rate_limited', 'upstream_5xx', 'network', 'data', 'internal'];
      const worst = failures.map((f) => errorClassOf(f.err)).sort((a, b) => order.indexOf(a) - order.indexOf(b))[0]!;
      const detail = failures.map((f) => `${f.account}: ${errorClassOf(f.err)}: ${f.err instanceof Error ? f.err.message : String(f.err)}`).join('; ');
      const failedAccounts = failures.filter((f) => accounts.some((a) => a.id === f.account)).length;
      const tokens = failures.length - failedAccounts;
      throw new AdhouseError(worst, `facebook: ${failedAccounts} of ${accounts.length} accounts failed${tokens > 0 ? `, ${tokens} discovery token${tokens > 1 ? 's' : ''} refused` : ''} (${detail})`);
    }
  },
});

function insightSink(ctx: Ctx, grain: InsightGrain, range: { since: string; until: string }): TableSink {
  const t = INSIGHT_TABLES[grain];
  return ctx.sink(t.table, { skipUnchanged: { key: t.key, dateColumn: t.dateColumn, ...range, ...scopeOf(ctx) } });
}

function scopeOf(ctx: Ctx): { where?: Record<string, string> } {
  return ctx.account ? { where: { account_id: ctx.account } } : {};
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

/** The account's own today: Meta reads insight dates in its timezone_name (the reporting zone if unusable). */
function accountToday(ctx: Ctx, accountId: string, timezone: string): string {
  try {
    if (timezone) return todayIn(timezone);
  } catch {
    // An unknown zone name: fall through.
  }
  ctx.log.warn({ account: accountId, timezone }, `facebook ${accountId}: unusable timezone_name ${JSON.stringify(timezone)}, using ${ctx.reportingTz}`);
  return todayIn(ctx.reportingTz);
}

/**
 * The ranges each insights step reads for one account. Weekly: the Monday weeks covering the window, each
 * whole up to the account's today, so only the running week is ever stored partial (a window ending
 * mid-week must not overwrite a complete week with Mon..until). Daily: the window. Hourly: yesterday and
 * today in the account's zone, one day per call, whatever the window (no hour lost at day ends).
 */
export function insightRanges(window: { since: string; until: string }, today: string): { weekly: Array<{ since: string; until: string }>; daily: Array<{ since: string; until: string }>; hourly: Array<{ since: string; until: string }> } {
  const weekly = { since: mondayOf(window.since), until: minDay(sundayOf(window.until), today) };
  const yesterday = addDays(today, -1);
  return {
    // A window wholly after the account's today (an account west of the reporting zone) has no week yet.
    weekly: weekly.since <= weekly.until ? [weekly] : [],
    daily: [window],
    hourly: [
      { since: yesterday, until: yesterday },
      { since: today, until: today },
    ],
  };
}

/**
 * One account. Its calls go one after the other; insights pages are decoded and stored behind them, in
 * order, each grain's step completing once its rows are stored. Resolves when the account's calls are over,
 * with `done`, which settles when everything it read is stored.
 */
async function loadAccount(ctx: Ctx, sinks: Sinks, account: FbAccountTarget, plan: Plan): Promise<{ done: Promise<void> }> {
  const api = apiFor(ctx, account);
  let structureSaved: Promise<void> = Promise.resolve();
  let stored: Promise<void> = Promise.resolve();
  try {
    const info = accountRow(account.id, account.label, await api.account());
    ctx.rowsRead(1);
    await sinks.accounts.write({ ...info });

    if (plan.steps.has('structure')) {
      ctx.step('structure', 'started');
      structureSaved = (await loadStructure(ctx, sinks, api, account.id, plan.structure)).saved;
      ctx.step('structure', 'completed');
    }
    const ranges = insightRanges(ctx.window, accountToday(ctx, account.id, info.timezone_name));
    for (const grain of ['weekly', 'daily', 'hourly'] as const) {
      if (!plan.steps.has(grain)) continue;
      ctx.step(grain, 'started');
      const rows = { n: 0 };
      for (const range of ranges[grain]) stored = (await readInsights(ctx, sinks, api, grain, range, info.currency, account.id, stored, rows)).stored;
      stored = stored.then(() => {
        ctx.step(grain, 'completed');
        ctx.log.info({ account: account.id, grain, rows: rows.n, ranges: ranges[grain] }, `facebook ${account.id}: ${rows.n} ${grain} insight rows`);
      });
    }
  } catch (err) {
    // After a failure what was read still settles before the account counts as done (a failure of its own,
    // if any, comes second to the one already thrown).
    await Promise.allSettled([structureSaved, stored]);
    logCalls(ctx, account.id, api);
    throw err;
  }
  logCalls(ctx, account.id, api);
  const done = Promise.all([structureSaved, stored]).then(() => undefined);
  // Awaited by the caller; this only keeps a failure from counting as unhandled while the next account loads.
  done.catch(() => undefined);
  return { done };
}

/** The account's call total, also for structure-only and failed runs (the batch sync sums these). */
function logCalls(ctx: Ctx, accountId: string, api: FbApi): void {
  const { calls, splits, asyncJobs, throttledMs } = api.stats;
  ctx.log.info({ account: accountId, calls, splits, asyncJobs, throttledMs }, `facebook ${accountId}: ${calls} API calls`);
}

/** Pages of one grain decoded or waiting to be stored at once (each holds its answer's bytes). */
const DECODE_AHEAD = 2;

/**
 * One grain's range of one account: pages → typed rows (bad ones quarantined, empty hourly placeholders
 * skipped), counted in `rows`. Each page is decoded (sinks.decoder, off this thread) while the next one is
 * read, and stored after `after` and the pages before it. Resolves when the last page is read, with `stored`
 * settling when the last page is stored; a failed read rejects once the pages handed over have settled.
 */
async function readInsights(ctx: Ctx, sinks: Sinks, api: FbApi, grain: InsightGrain, range: { since: string; until: string }, currency: string, accountId: string, after: Promise<void>, rows: { n: number }): Promise<{ stored: Promise<void> }> {
  const sink = sinks.insights[grain];
  ctx.progress.start(`${accountId} ${grain} insights`, 1);
  const insightCtx = { accountId, currency, ...range };
  const store = async (page: DecodedPage): Promise<void> => {
    if (page.error) throw new AdhouseError('upstream_5xx', `Facebook ${grain} insights for ${accountId}: ${page.error}`);
    ctx.rowsRead(page.read);
    if (page.placeholders > 0) sink.skip(page.placeholders);
    for (const r of page.refused) await ctx.quarantine.add({ table: sink.table, ...r });
    await sink.writeEncoded(page.rows);
    rows.n += page.rows.ends.length;
  };
  let stored = after;
  const inFlight: Array<Promise<void>> = [];
  try {
    for await (const page of api.insights(grain, range.since, range.until)) {
      const decoded = sinks.decoder.decode({ body: page.body, grain, ctx: insightCtx, format: sink.format });
      decoded.catch(() => undefined);
      stored = stored.then(() => decoded).then(store);
      // Awaited below or by the caller; this only keeps a failure from counting as unhandled meanwhile.
      stored.catch(() => undefined);
      inFlight.push(stored);
      if (inFlight.length > DECODE_AHEAD) await inFlight.shift();
    }
  } catch (err) {
    await Promise.allSettled(inFlight);
    throw err;
  }
  ctx.progress.tick();
  ctx.progress.done();
  return { stored };
}

/**
 * Structure: a full pass (every object, every effective_status) when none ran in FB_FULL_SYNC_HOURS;
 * otherwise campaigns, ad sets and ads updated since the previous pass started (minus an overlap).
 * Creatives have no updated_time filter and are small: always read whole (they also feed ads' UTM).
 * Resolves once everything is read; `saved` settles when the rows are stored and then the state file
 * written: the caller reads insights meanwhile and awaits it before the account is done.
 */
async function loadStructure(ctx: Ctx, sinks: Sinks, api: FbApi, accountId: string, mode: 'full' | 'auto'): Promise<{ saved: Promise<void> }> {
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
  // The rows first: a crash between the two must not move the incremental cursor past unwritten rows.
  const saved = Promise.all([sinks.creative, sinks.campaign, sinks.adset, sinks.ad].map((sink) => sink.flush())).then(() =>
    writeStateFile(stateFile, { lastFullAt: full ? startedAt : state!.lastFullAt, lastPassAt: startedAt } satisfies StructureState),
  );
  // Awaited by the caller; this only keeps a failure from counting as unhandled while the insights load.
  saved.catch(() => undefined);
  return { saved };
}
