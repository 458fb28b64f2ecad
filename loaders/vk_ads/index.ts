// VK Ads (ads.vk.com): campaigns (ad_plans), ad groups, banners and daily banner statistics.
// Upstream surprises and how each is handled: BEHAVIOR.md next to this file.
import { z } from 'zod';
import { envJson, envUrl } from '../../src/config/env.js';
import { defineLoader, type LoaderContext } from '../../src/runtime/contract.js';
import { AdhouseError } from '../../src/runtime/errors.js';
import { createVkApi, statsBatches, type StatsChunk, type VkAccount, type VkAdGroup } from './api.js';
import { createTokenStore, type TokenStore } from './token-store.js';
import { bannerInfo, bannerRow, groupRow, isEmptyFact, planRow, statsToRows, type BannerInfo } from './transform.js';

const accountSchema = z
  .object({
    id: z.string().min(1),
    client_id: z.string().min(1),
    client_secret: z.string().min(1),
    agency_client_name: z.string().min(1).optional(),
    agency_client_id: z.union([z.string().min(1), z.number().int().transform(String)]).optional(),
  })
  .strict();

const config = z.object({
  VK_ADS_API_URL: envUrl.default('https://ads.vk.com'),
  /** [{"id":"<label>","client_id":"..","client_secret":"..","agency_client_name"?:".."}] */
  VK_ADS_ACCOUNTS: envJson(
    z
      .array(accountSchema, { message: 'expected a JSON array of {id, client_id, client_secret, agency_client_name?, agency_client_id?}' })
      .min(1, { message: 'expected at least one account' })
      .refine((a) => new Set(a.map((x) => x.id)).size === a.length, { message: 'account ids must be unique' }),
  ),
});

type Config = z.infer<typeof config>;
type Ctx = LoaderContext<Config>;

export const FACT_TABLE = 'fact_vk_ads_daily';
/** Stats requests in flight per account; the HTTP client's concurrency caps them too. */
const STATS_PREFETCH = 4;

export default defineLoader({
  name: 'vk_ads',
  description: 'VK Ads: ad plans, ad groups, banners and daily banner statistics',
  schedule: '0 0 * * *',
  enabledByDefault: true,
  lookbackDays: 7,
  includeToday: false,
  initialDays: 30,
  rateLimit: { requestsPerSecond: 10, concurrency: 4 },
  config,
  async run(ctx) {
    const accounts = ctx.config.VK_ADS_ACCOUNTS.filter((a) => !ctx.account || a.id === ctx.account);
    if (accounts.length === 0) {
      throw new AdhouseError('config', `VK_ADS_ACCOUNTS has no account "${ctx.account}" (known: ${ctx.config.VK_ADS_ACCOUNTS.map((a) => a.id).join(', ')})`);
    }
    const tokens = createTokenStore({ dir: ctx.stateDir, apiUrl: ctx.config.VK_ADS_API_URL, http: ctx.http, log: ctx.log });
    for (const account of accounts) {
      if (ctx.signal.aborted) throw new AdhouseError('aborted', 'aborted');
      await loadAccount(ctx, tokens, account);
    }
  },
});

async function loadAccount(ctx: Ctx, tokens: TokenStore, account: VkAccount): Promise<void> {
  const api = createVkApi({ http: ctx.http, baseUrl: ctx.config.VK_ADS_API_URL, tokens, account, log: ctx.log });
  const plansSink = ctx.sink('stg_vk_ad_plans', { hash: true });
  const groupsSink = ctx.sink('stg_vk_ad_groups', { hash: true });
  const bannersSink = ctx.sink('stg_vk_banners', { hash: true });
  const factSink = ctx.sink(FACT_TABLE, {
    skipUnchanged: { key: ['account_id', 'banner_id', 'date'], dateColumn: 'date' },
    isEmpty: isEmptyFact,
  });

  const currency = await api.currency();
  ctx.progress.start(`${account.id} structure`, 3);

  for await (const page of api.adPlans()) {
    ctx.rowsRead(page.length);
    for (const item of page) {
      if (item.ok) await plansSink.write(planRow(account.id, item.value));
      else await ctx.quarantine.add({ table: 'stg_vk_ad_plans', reason: item.reason, payload: item.raw, key: `${account.id}|${rawId(item.raw)}` });
    }
  }
  ctx.progress.tick();

  const groups = new Map<number, VkAdGroup>();
  for await (const page of api.adGroups()) {
    ctx.rowsRead(page.length);
    for (const item of page) {
      if (item.ok) {
        groups.set(item.value.id, item.value);
        await groupsSink.write(groupRow(account.id, item.value));
      } else {
        await ctx.quarantine.add({ table: 'stg_vk_ad_groups', reason: item.reason, payload: item.raw, key: `${account.id}|${rawId(item.raw)}` });
      }
    }
  }
  ctx.progress.tick();

  const banners = new Map<number, BannerInfo>();
  for await (const page of api.banners()) {
    ctx.rowsRead(page.length);
    for (const item of page) {
      if (!item.ok) {
        await ctx.quarantine.add({ table: 'stg_vk_banners', reason: item.reason, payload: item.raw, key: `${account.id}|${rawId(item.raw)}` });
        continue;
      }
      const group = groups.get(item.value.ad_group_id);
      banners.set(item.value.id, bannerInfo(item.value, group));
      await bannersSink.write(bannerRow(account.id, item.value, group, ctx.window.until));
    }
  }
  ctx.progress.tick();
  ctx.progress.done();
  ctx.log.info({ account: account.id, banners: banners.size, groups: groups.size, currency }, `vk_ads ${account.id}: ${banners.size} banners`);

  const ids = [...banners.keys()].sort((a, b) => a - b);
  const batches = statsBatches(ids, ctx.window.since, ctx.window.until);
  ctx.progress.start(`${account.id} statistics`, batches.length);
  // Up to STATS_PREFETCH requests in flight; answers are written in order, one at a time.
  const pending: Array<Promise<StatsChunk[]>> = [];
  let next = 0;
  const launch = () => {
    while (pending.length < STATS_PREFETCH && next < batches.length) {
      const b = batches[next++]!;
      const p = api.bannerDays(b.ids, b.from, b.to);
      p.catch(() => undefined); // awaited below; this only keeps an early failure from being "unhandled"
      pending.push(p);
    }
  };
  launch();
  while (pending.length > 0) {
    const chunks = await pending.shift()!;
    launch();
    for (const chunk of chunks) {
      const result = statsToRows({ accountId: account.id, currency, from: chunk.from, to: chunk.to, items: chunk.items, banners });
      ctx.rowsRead(result.read);
      for (const row of result.rows) await factSink.write(row as unknown as Record<string, unknown>);
      for (const bad of result.rejected) await ctx.quarantine.add({ table: FACT_TABLE, reason: bad.reason, payload: bad.payload, key: bad.key });
      if (result.duplicates > 0) factSink.skip(result.duplicates);
    }
    ctx.progress.tick();
  }
  ctx.progress.done();
  for (const sink of [plansSink, groupsSink, bannersSink, factSink]) await sink.flush();
}

function rawId(raw: unknown): string {
  const id = raw && typeof raw === 'object' ? (raw as { id?: unknown }).id : undefined;
  return id === undefined ? JSON.stringify(raw)?.slice(0, 200) ?? 'unknown' : String(id);
}
