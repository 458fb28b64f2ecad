// Yandex Direct: daily stats by ad from the Reports API, joined with each ad's link (ads.get) for UTM.
// Per login: campaigns (currency) -> report (offline queue) -> ads of the campaigns in the report ->
// report rows streamed to the sink. The report body and the per-login ad map are the only things held.
import { z } from 'zod';
import { envBool, envInt, envList, envUrl } from '../../src/config/env.js';
import { addDays } from '../../src/runtime/dates.js';
import { defineLoader, type LoaderContext, type RunWindow } from '../../src/runtime/contract.js';
import { AdhouseError } from '../../src/runtime/errors.js';
import type { TableSink } from '../../src/runtime/sink.js';
import { ADS_CAMPAIGN_IDS_PER_CALL, fetchReport, getAds, getCampaigns, getClient, reportDefinition, type DirectSession } from './api.js';
import { adLink, adRow, campaignRow, chunks, coveredByBadLine, DEFAULT_CURRENCY, FACT_KEY, factRow, quarantineKey, type AdLink } from './transform.js';
import { detectMoneyUnit, parseReportTsv, scanReport, type BadLineKey } from './tsv.js';

export const FACT_TABLE = 'fact_direct_daily';

export const directConfig = z.object({
  DIRECT_API_URL: envUrl.default('https://api.direct.yandex.com'),
  DIRECT_TOKEN: z.string({ message: 'expected the Yandex OAuth token of the advertiser or agency (scope direct:api)' }),
  /** Advertiser logins for Client-Login; empty = the token's own account (no Client-Login). */
  DIRECT_CLIENT_LOGINS: envList.default([]),
  /** `auto`: scheduled runs ask Direct for DateRangeType AUTO (it picks the corrected period). */
  DIRECT_LOOKBACK_MODE: z.enum(['days', 'auto'], { message: 'expected days or auto' }).default('days'),
  DIRECT_REPORT_MAX_WAIT_S: envInt(1, 86_400).default(900),
  /** Cost with VAT? Default no: VK Ads and Facebook report spend without VAT, so channels add up. */
  DIRECT_INCLUDE_VAT: envBool.default(false),
  /** Wait after 506/56/9000 (too many connections, requests or reports in the build queue). */
  DIRECT_RATE_LIMIT_WAIT_MS: envInt(0, 600_000).default(10_000),
  DIRECT_ADS_PAGE_LIMIT: envInt(1, 10_000).default(10_000),
});
export type DirectConfig = z.infer<typeof directConfig>;

interface Sinks {
  campaigns: TableSink;
  ads: TableSink;
  facts: TableSink;
}

/**
 * AUTO lets Direct pick the period (the last days, or from the earliest corrected day), but the runtime
 * moves the cursor to window.until whatever period was loaded. So AUTO only for the normal lookback
 * window of a scheduled run; a first run (initialDays) or a run after an outage (window from cursor + 1)
 * asks for its whole window with CUSTOM_DATE, and so does every explicit --since/--until run.
 */
export function chooseDateRange(mode: DirectConfig['DIRECT_LOOKBACK_MODE'], window: RunWindow): 'AUTO' | 'CUSTOM_DATE' {
  if (mode !== 'auto' || window.explicit) return 'CUSTOM_DATE';
  return window.since >= addDays(window.until, -(window.lookbackDays - 1)) ? 'AUTO' : 'CUSTOM_DATE';
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new AdhouseError('aborted', `aborted: ${String(signal.reason ?? 'signal')}`);
}

async function loadAccount(ctx: LoaderContext<DirectConfig>, session: DirectSession, sinks: Sinks, clientLogin: string | undefined, auto: boolean): Promise<void> {
  const cfg = ctx.config;
  // The account's own login names the rows when no Client-Login is configured; its currency is the fallback.
  const client = await getClient(session, clientLogin);
  const login = clientLogin ?? client.Login;
  const accountCurrency = client.Currency || DEFAULT_CURRENCY;

  const currencyByCampaign = new Map<string, string>();
  for await (const page of getCampaigns(session, clientLogin, cfg.DIRECT_ADS_PAGE_LIMIT)) {
    ctx.rowsRead(page.length);
    for (const c of page) {
      const row = campaignRow(login, c, accountCurrency);
      currencyByCampaign.set(String(c.Id), row.currency as string);
      await sinks.campaigns.write(row);
    }
  }

  const definition = reportDefinition({
    login,
    period: auto ? null : { since: ctx.window.since, until: ctx.window.until },
    includeVat: cfg.DIRECT_INCLUDE_VAT,
    runId: ctx.runId,
  });
  const report = await fetchReport(session, { clientLogin, definition, money: 'currency', maxWaitMs: cfg.DIRECT_REPORT_MAX_WAIT_S * 1000 });
  ctx.log.info({ login, report: definition.ReportName, polls: report.polls, waitedMs: report.waitedMs, bytes: report.body.length, requestId: report.requestId }, `direct: report for ${login} ready`);

  const scan = await scanReport(report.body);
  const money = detectMoneyUnit('currency', scan.costs);
  if (money === 'micros') ctx.log.warn({ login }, 'direct: report money came in micros although returnMoneyInMicros: false was sent; dividing by 1,000,000');
  if (auto) ctx.log.info({ login, period: scan.dates }, `direct: AUTO period for ${login}: ${scan.dates ? `${scan.dates.min}..${scan.dates.max}` : 'no rows'}`);
  if (!scan.dates) ctx.log.warn({ login, since: ctx.window.since, until: ctx.window.until }, `direct: report for ${login} has no rows`);

  // Ads of the campaigns that have stats, ten campaign ids per call.
  const links = new Map<string, AdLink>();
  for (const ids of chunks(scan.campaignIds, ADS_CAMPAIGN_IDS_PER_CALL)) {
    for await (const page of getAds(session, clientLogin, ids, cfg.DIRECT_ADS_PAGE_LIMIT)) {
      throwIfAborted(ctx.signal);
      ctx.rowsRead(page.length);
      for (const ad of page) {
        links.set(String(ad.Id), adLink(ad));
        await sinks.ads.write(adRow(login, ad));
      }
    }
  }

  let n = 0;
  // Keys of quarantined lines: those rows still exist upstream, so their stored versions must not be
  // tombstoned. `null` = a line whose key is unknown (wrong column count).
  const quarantined: Array<BadLineKey | null> = [];
  for await (const line of parseReportTsv(report.body, { money })) {
    if (++n % 1000 === 0) throwIfAborted(ctx.signal);
    ctx.rowsRead(1);
    if (line.kind === 'bad') {
      await ctx.quarantine.add({ table: FACT_TABLE, reason: `${line.reason} (line ${line.line})`, payload: line.raw, key: quarantineKey(login, line.raw) });
      quarantined.push(line.key);
      continue;
    }
    const r = line.record;
    const currency = currencyByCampaign.get(r.campaignId) ?? accountCurrency;
    await sinks.facts.write(factRow(r, r.adId === '0' ? undefined : links.get(r.adId), { login, currency, includeVat: cfg.DIRECT_INCLUDE_VAT }));
  }

  // The report is authoritative for this login over its period: a stored row of it that the report no
  // longer has vanished upstream (DESIGN.md) and is written again with _deleted = 1. Period: the window
  // for CUSTOM_DATE; for AUTO the dates the report holds (nothing when it holds none).
  const period = auto ? scan.dates && { from: scan.dates.min, to: scan.dates.max } : { from: ctx.window.since, to: ctx.window.until };
  if (!period) return;
  if (quarantined.includes(null)) {
    ctx.log.warn({ login }, `direct: a quarantined line of ${login}'s report has no readable key; no rows of ${login} are marked deleted in this run`);
    return;
  }
  const guards = quarantined as BadLineKey[];
  const marked = await sinks.facts.deleteUnseen(
    (key) => key.client_login === login && key.date! >= period.from && key.date! <= period.to && !guards.some((g) => coveredByBadLine(key, g)),
  );
  if (marked > 0) ctx.log.info({ login, marked, from: period.from, to: period.to }, `direct: ${marked} rows of ${login} gone from the report for ${period.from}..${period.to}; marked _deleted = 1`);
}

export default defineLoader({
  name: 'direct',
  description: 'Yandex Direct: daily stats by ad (Reports API) with the ads’ UTM links',
  schedule: '10 0 * * *',
  enabledByDefault: true,
  lookbackDays: 3,
  includeToday: false,
  initialDays: 30,
  // Reports allow 20 requests per 10 s per user; Direct allows 5 concurrent requests per advertiser.
  rateLimit: { requestsPerSecond: 2, concurrency: 5 },
  config: directConfig,
  async run(ctx) {
    const cfg = ctx.config;
    const session: DirectSession = { http: ctx.http, baseUrl: cfg.DIRECT_API_URL, token: cfg.DIRECT_TOKEN, log: ctx.log, rateLimitWaitMs: cfg.DIRECT_RATE_LIMIT_WAIT_MS };
    const logins: Array<string | undefined> = ctx.account ? [ctx.account] : cfg.DIRECT_CLIENT_LOGINS.length > 0 ? cfg.DIRECT_CLIENT_LOGINS : [undefined];
    const dateRange = chooseDateRange(cfg.DIRECT_LOOKBACK_MODE, ctx.window);
    const auto = dateRange === 'AUTO';
    ctx.log.info(
      { mode: cfg.DIRECT_LOOKBACK_MODE, dateRange, since: ctx.window.since, until: ctx.window.until, explicit: ctx.window.explicit },
      auto
        ? `direct: DateRangeType AUTO (the window ${ctx.window.since}..${ctx.window.until} is the normal lookback; Direct picks the period)`
        : `direct: DateRangeType CUSTOM_DATE ${ctx.window.since}..${ctx.window.until}`,
    );
    const sinks: Sinks = {
      campaigns: ctx.sink('stg_direct_campaigns'),
      ads: ctx.sink('stg_direct_ads'),
      facts: ctx.sink(FACT_TABLE, { skipUnchanged: { key: FACT_KEY, dateColumn: 'date' } }),
    };
    ctx.progress.start('accounts', logins.length);
    for (const clientLogin of logins) {
      throwIfAborted(ctx.signal);
      await loadAccount(ctx, session, sinks, clientLogin, auto);
      ctx.progress.tick();
    }
    ctx.progress.done();
    for (const sink of Object.values(sinks)) await sink.flush();
  },
});
