// A faithful fake of the Yandex Direct API v5 (/json/v5/*) with deterministic synthetic data.
// It reproduces what the api notes (shared/api/vk_ads_and_direct.md, PART B + "Yandex Direct fake"
// checklist) say the real one does: Bearer auth, agency tokens with Client-Login, RequestId and Units
// headers, points and concurrency limits, the Reports offline queue (201/202/200 with a changing
// retryIn), ReportName-keyed jobs, TSV with `--` and micros, Campaign Master rows without ad ids,
// campaigns/ads/agencyclients/clients.get with FieldNames projection and LimitedBy paging, and
// changes.check. Faults are switched on by name (BEHAVIOR.md lists them).
import { createHash } from 'node:crypto';
import type http from 'node:http';
import { gzipSync } from 'node:zlib';
import { addDays, diffDays, isDay, todayIn } from '../../src/runtime/dates.js';
import { hashSeed, listen, readBody, SANDBOX_EVENTS, seededRandom, type RunningSandbox, type SandboxOptions } from '../../src/runtime/sandbox.js';

// ---- synthetic world (pure functions of the seed) ------------------------------------------------

export interface FakeCampaign {
  id: number;
  login: string;
  name: string;
  type: 'TEXT_CAMPAIGN' | 'UNIFIED_CAMPAIGN';
  /** Campaign Master: its report rows carry no AdGroupId/AdGroupName/AdId. */
  master: boolean;
  /** Metrica goals exist: Conversions is a number; otherwise Direct sends `--`. */
  hasGoals: boolean;
  currency: string;
  state: 'ON' | 'SUSPENDED';
  status: 'ACCEPTED';
}

export interface FakeAd {
  id: number;
  login: string;
  campaignId: number;
  adGroupId: number;
  adGroupName: string;
  type: 'TEXT_AD' | 'RESPONSIVE_AD' | 'IMAGE_AD';
  /** TEXT_AD only. */
  href: string | null;
  title: string | null;
  state: 'ON' | 'OFF';
  status: 'ACCEPTED';
}

export interface DirectWorld {
  agencyLogin: string;
  agencyToken: string;
  clientLogins: string[];
  /** One advertiser token per client login (own-account access, no Client-Login needed). */
  clientTokens: Record<string, string>;
  currency: Record<string, string>;
  campaigns: FakeCampaign[];
  ads: FakeAd[];
}

export const DIRECT_SANDBOX_LOGINS = ['msk-concerts', 'spb-theatre'] as const;
const AGENCY_LOGIN = 'adhouse-agency';
const CAMPAIGN_NAMES = [
  'Концерт Москва — поиск',
  'Спектакль "Щелкунчик" — РСЯ',
  'Стендап «Вечер» — ретаргетинг',
  'Джаз в парке — поиск',
  'Органный вечер — РСЯ',
  'Лекция о Шостаковиче',
  'Балет «Жизель»',
  'Рок-фестиваль — поиск',
  'Детский спектакль',
  'Камерный оркестр',
  'Опера "Кармен"',
  'Мюзикл — РСЯ',
];

export function directClientToken(seed: number, login: string): string {
  return `fake-direct-client-${login}-${seed}`;
}

export function directAgencyToken(seed: number): string {
  return `fake-direct-agency-${seed}`;
}


/** The fake's accounts, campaigns and ads: a pure function of the seed. */
export function directWorld(seed: number): DirectWorld {
  const rng = seededRandom(hashSeed(seed, 'direct-world'));
  const base = (seed % 1000) * 1000;
  const campaigns: FakeCampaign[] = [];
  const ads: FakeAd[] = [];
  const currency: Record<string, string> = { 'msk-concerts': 'RUB', 'spb-theatre': 'KZT' };
  let campaignSeq = 0;
  let adSeq = 0;
  let groupSeq = 0;
  // 11 campaigns for the first login (so ads.get needs two chunks of ≤10 ids), 3 for the second.
  const plan: Array<[string, number]> = [
    ['msk-concerts', 11],
    ['spb-theatre', 3],
  ];
  for (const [login, count] of plan) {
    for (let i = 0; i < count; i++) {
      const master = login === 'msk-concerts' && i === 0;
      const id = 70_000_000 + base + ++campaignSeq;
      const name = master ? 'Мастер кампаний: Москва' : CAMPAIGN_NAMES[(campaignSeq + i) % CAMPAIGN_NAMES.length]!;
      campaigns.push({
        id,
        login,
        name,
        type: master ? 'UNIFIED_CAMPAIGN' : 'TEXT_CAMPAIGN',
        master,
        hasGoals: campaignSeq % 3 !== 1,
        currency: currency[login]!,
        state: i === count - 1 ? 'SUSPENDED' : 'ON',
        status: 'ACCEPTED',
      });
      const nAds = master ? 2 : 1 + Math.floor(rng() * 3);
      const groups = master ? 1 : 1 + Math.floor(rng() * 2);
      const groupIds = Array.from({ length: groups }, () => 5_000_000_000 + base + ++groupSeq);
      for (let a = 0; a < nAds; a++) {
        adSeq++;
        const adId = 16_000_000_000 + base * 10 + adSeq;
        const groupId = groupIds[a % groupIds.length]!;
        const type: FakeAd['type'] = master ? 'RESPONSIVE_AD' : adSeq % 7 === 0 ? 'IMAGE_AD' : adSeq % 5 === 0 ? 'RESPONSIVE_AD' : 'TEXT_AD';
        // Events shared with every other sandbox, so ad spend and ticket sales meet in ROMI.
        const content = SANDBOX_EVENTS[Math.floor(rng() * SANDBOX_EVENTS.length)]!;
        const city = content.replace(/_\d+_\d+$/, '');
        const variant = adSeq % 4;
        const href =
          type !== 'TEXT_AD'
            ? null
            : variant === 0
              ? `https://x.ru/?utm_source=yandex&utm_medium=cpc&utm_campaign={campaign_id}&utm_content=${content}&utm_term={keyword}`
              : variant === 3
                ? 'https://x.ru/afisha'
                : `https://x.ru/event/${adSeq}?utm_source=yandex&utm_medium=cpc&utm_campaign=c${id}&utm_content=${content}`;
        ads.push({
          id: adId,
          login,
          campaignId: id,
          adGroupId: groupId,
          adGroupName: `Группа ${groupIds.indexOf(groupId) + 1} — ${city}`,
          type,
          href,
          title: type === 'TEXT_AD' ? `Билеты: ${name}` : null,
          state: a === nAds - 1 && nAds > 2 ? 'OFF' : 'ON',
          status: 'ACCEPTED',
        });
      }
    }
  }
  const clientTokens: Record<string, string> = {};
  for (const login of DIRECT_SANDBOX_LOGINS) clientTokens[login] = directClientToken(seed, login);
  return { agencyLogin: AGENCY_LOGIN, agencyToken: directAgencyToken(seed), clientLogins: [...DIRECT_SANDBOX_LOGINS], clientTokens, currency, campaigns, ads };
}

export interface DayStat {
  impressions: number;
  clicks: number;
  /** Without VAT, in kopecks (hundredths of the currency). */
  costCents: number;
  conversions: number | null;
}

/** Stats of one ad (or one Campaign Master campaign) on one day: a pure function of (seed, key, date); null = no row. */
export function dayStat(seed: number, key: string, date: string, hasGoals: boolean): DayStat | null {
  const rng = seededRandom(hashSeed(seed, key, date));
  // Direct leaves out rows with no impressions.
  if (rng() < 0.15) return null;
  const impressions = 50 + Math.floor(rng() * 1950);
  const clicks = Math.floor(impressions * (0.005 + rng() * 0.06));
  const costCents = clicks * (300 + Math.floor(rng() * 2700));
  const conversions = hasGoals ? Math.floor(clicks * rng() * 0.1) : null;
  return { impressions, clicks, costCents, conversions };
}

export const VAT_RATE = 0.2;

export function withVat(costCents: number, includeVat: boolean): number {
  return includeVat ? Math.round(costCents * (1 + VAT_RATE)) : costCents;
}

export interface FakeReportRow {
  date: string;
  campaign: FakeCampaign;
  /** null for Campaign Master rows. */
  ad: FakeAd | null;
  stat: DayStat;
}

/** Ad-level report rows of one login, by date, then campaign id, then ad id. */
export function* reportRows(world: DirectWorld, seed: number, login: string, since: string, until: string): Generator<FakeReportRow> {
  const campaigns = world.campaigns.filter((c) => c.login === login).sort((a, b) => a.id - b.id);
  const adsBy = new Map<number, FakeAd[]>();
  for (const ad of world.ads) if (ad.login === login) adsBy.set(ad.campaignId, [...(adsBy.get(ad.campaignId) ?? []), ad]);
  for (let date = since; date <= until; date = addDays(date, 1)) {
    for (const campaign of campaigns) {
      if (campaign.master) {
        const stat = dayStat(seed, `cm:${campaign.id}`, date, campaign.hasGoals);
        if (stat) yield { date, campaign, ad: null, stat };
        continue;
      }
      for (const ad of (adsBy.get(campaign.id) ?? []).sort((a, b) => a.id - b.id)) {
        const stat = dayStat(seed, `ad:${ad.id}`, date, campaign.hasGoals);
        if (stat) yield { date, campaign, ad, stat };
      }
    }
  }
}

/**
 * The `vanishing_rows` fault's choice: rows of some ads (about a third) on some of their days (about
 * half) are gone from the report, as when Direct revises a day down to no row. Campaign Master rows
 * never vanish. With `garbled_rows` the same rows come back unreadable (Impressions `n/a`).
 */
export function vanishes(seed: number, row: FakeReportRow): boolean {
  if (!row.ad) return false;
  return hashSeed(seed, 'vanish', row.ad.id) % 3 === 0 && hashSeed(seed, 'vanish', row.ad.id, row.date) % 2 === 0;
}

/**
 * Ground truth over the valid rows the fake serves for [since, until] (malformed lines excluded): what
 * fact_direct_daily FINAL (`_deleted = 0`) must hold after a load of that window. Cost in currency units
 * (sum over currencies, as a plain SUM over the table gives). `vanishing`: as served with the
 * `vanishing_rows` fault (those rows left out).
 */
export function expectedDirectTotals(
  seed: number,
  since: string,
  until: string,
  logins: readonly string[] = DIRECT_SANDBOX_LOGINS,
  opts: { includeVat?: boolean; vanishing?: boolean } = {},
): { rows: number; impressions: number; clicks: number; cost: number; conversions: number } {
  const world = directWorld(seed);
  let rows = 0;
  let impressions = 0;
  let clicks = 0;
  let cents = 0;
  let conversions = 0;
  for (const login of logins) {
    for (const r of reportRows(world, seed, login, since, until)) {
      if (opts.vanishing && vanishes(seed, r)) continue;
      rows++;
      impressions += r.stat.impressions;
      clicks += r.stat.clicks;
      cents += withVat(r.stat.costCents, opts.includeVat ?? false);
      conversions += r.stat.conversions ?? 0;
    }
  }
  return { rows, impressions, clicks, cost: cents / 100, conversions };
}

/** The day AUTO starts from for a login: 3 days back, or further when the fake's change log corrected stats. */
export function correctedSince(seed: number, login: string, today: string): string {
  const yesterday = addDays(today, -1);
  const h = hashSeed(seed, login, today, 'corrections');
  return h % 3 === 0 ? addDays(yesterday, -2) : addDays(yesterday, -(3 + (h % 5)));
}

// ---- the HTTP fake ---------------------------------------------------------------------------------

export const DIRECT_FAULTS = [
  'long_queue',
  'queue_never_ends',
  '5xx',
  'rate_limit',
  'token_revoked',
  'malformed',
  'micros',
  'units_exhausted',
  'slow',
  'gzip',
  'vanishing_rows',
  'garbled_rows',
] as const;

export interface DirectSandboxExtras {
  /** The fake's own cap on ads.get/campaigns.get/agencyclients.get page size (real: 10,000); small so paging is exercised. */
  pageSize?: number;
  /** `auto` mode answers 200 at once when the report has at most this many rows; above it, offline. */
  autoOnlineRows?: number;
  /** Fake clock (ms), for the 5 h job purge and the 10 s report window. */
  now?: () => number;
  /** Units per login per day. */
  unitsLimit?: number;
}

const REPORT_FIELDS = ['Date', 'CampaignId', 'CampaignName', 'CampaignType', 'AdGroupId', 'AdGroupName', 'AdId', 'Impressions', 'Clicks', 'Cost', 'Conversions', 'Ctr', 'AvgCpc'] as const;
type FakeField = (typeof REPORT_FIELDS)[number];
const DIMENSIONS: ReadonlySet<string> = new Set(['Date', 'CampaignId', 'CampaignName', 'CampaignType', 'AdGroupId', 'AdGroupName', 'AdId']);
const REPORT_TYPES = new Set(['ACCOUNT_PERFORMANCE_REPORT', 'CAMPAIGN_PERFORMANCE_REPORT', 'ADGROUP_PERFORMANCE_REPORT', 'AD_PERFORMANCE_REPORT', 'CRITERIA_PERFORMANCE_REPORT', 'CUSTOM_REPORT', 'SEARCH_QUERY_PERFORMANCE_REPORT']);
const DATE_RANGES = new Set(['TODAY', 'YESTERDAY', 'LAST_3_DAYS', 'LAST_5_DAYS', 'LAST_7_DAYS', 'LAST_14_DAYS', 'LAST_30_DAYS', 'LAST_90_DAYS', 'LAST_365_DAYS', 'CUSTOM_DATE', 'AUTO']);
const CAMPAIGN_FIELDS = ['Id', 'Name', 'Type', 'State', 'Status', 'StartDate', 'Currency'];
const AD_FIELDS = ['Id', 'CampaignId', 'AdGroupId', 'State', 'Status', 'Type', 'Subtype'];
const TEXT_AD_FIELDS = ['Href', 'Title', 'Title2', 'Text', 'DisplayDomain', 'FinalUrl'];
const CLIENT_FIELDS = ['Login', 'ClientInfo', 'Currency'];

/** Polls answered 202 before the 200: normal, and with `long_queue`. */
const QUEUE_POLLS = { normal: 2, long: 8 };
/** retryIn values (seconds) cycle through these: they change from poll to poll, like the real one's. */
const RETRY_IN = { normal: [0, 1, 0], long: [0, 1, 0, 0, 1, 1, 0, 1, 0] };
const JOB_TTL_MS = 5 * 3_600_000;
const MAX_QUEUED_JOBS = 5;
const REPORTS_PER_10S = 20;
const MAX_INFLIGHT = 5;

interface Job {
  bodyKey: string;
  created: number;
  polls: number;
  pollsLeft: number;
}

class FakeError extends Error {
  constructor(
    readonly code: number,
    readonly errorString: string,
    readonly detail: string,
    readonly httpStatus?: number,
  ) {
    super(`${code} ${errorString}`);
  }
}

function projected(source: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) if (source[f] !== undefined) out[f] = source[f];
  return out;
}

function fieldNames(params: Record<string, unknown>, key: string, allowed: readonly string[], required: boolean): string[] {
  const v = params[key];
  if (v === undefined && !required) return [];
  if (!Array.isArray(v) || v.length === 0 || !v.every((f) => typeof f === 'string' && allowed.includes(f))) {
    throw new FakeError(8000, 'Invalid request', `${key} must list fields from: ${allowed.join(', ')}`);
  }
  return v as string[];
}

function page(params: Record<string, unknown>, cap: number): { limit: number; offset: number } {
  const p = (params.Page ?? {}) as { Limit?: unknown; Offset?: unknown };
  const limit = p.Limit === undefined ? 10_000 : Number(p.Limit);
  const offset = p.Offset === undefined ? 0 : Number(p.Offset);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000 || !Number.isInteger(offset) || offset < 0) {
    throw new FakeError(4001, 'Invalid request parameter', 'Page.Limit must be 1..10000 and Page.Offset ≥ 0');
  }
  return { limit: Math.min(limit, cap), offset };
}

/** A page of items with LimitedBy (the number of the last object returned) only when more remain. */
function paged<T>(items: T[], params: Record<string, unknown>, cap: number): { items: T[]; limitedBy?: number } {
  const { limit, offset } = page(params, cap);
  const slice = items.slice(offset, offset + limit);
  return offset + slice.length < items.length ? { items: slice, limitedBy: offset + slice.length } : { items: slice };
}

function idList(value: unknown, name: string, max: number): number[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => Number.isInteger(Number(v)))) {
    throw new FakeError(4001, 'Invalid request parameter', `SelectionCriteria.${name} must be a non-empty array of ids`);
  }
  if (value.length > max) throw new FakeError(4001, 'Invalid request parameter', `SelectionCriteria.${name} takes at most ${max} ids`);
  return value.map(Number);
}

function tsvCell(value: string): string {
  // Names never carry tabs or line breaks in the fake (Direct's editors do not allow them).
  return value.replace(/[\t\r\n]+/g, ' ');
}

export interface RenderOptions {
  reportName: string;
  since: string;
  until: string;
  fields: readonly string[];
  micros: boolean;
  includeVat: boolean;
  skipReportHeader: boolean;
  skipColumnHeader: boolean;
  skipReportSummary: boolean;
  malformed: boolean;
  /** `vanishing_rows`: leave out the rows `vanishes` picks. */
  vanishing?: boolean;
  /** `garbled_rows`: serve the rows `vanishes` picks with Impressions `n/a`. */
  garbled?: boolean;
  campaignIds?: ReadonlySet<number>;
}

/** The TSV body of a report: title, header, rows grouped by the requested dimensions, summary. */
export function renderReport(world: DirectWorld, seed: number, login: string, o: RenderOptions): string {
  const dims = o.fields.filter((f) => DIMENSIONS.has(f));
  const groups = new Map<string, { dims: Record<string, string>; impressions: number; clicks: number; cents: number; conversions: number | null; anyGoals: boolean; garbled: boolean }>();
  for (const r of reportRows(world, seed, login, o.since, o.until)) {
    if (o.campaignIds && !o.campaignIds.has(r.campaign.id)) continue;
    const picked = (o.vanishing || o.garbled) && vanishes(seed, r);
    if (picked && o.vanishing) continue;
    const d: Record<string, string> = {
      Date: r.date,
      CampaignId: String(r.campaign.id),
      CampaignName: tsvCell(r.campaign.name),
      CampaignType: r.campaign.type,
      AdGroupId: r.ad ? String(r.ad.adGroupId) : '--',
      AdGroupName: r.ad ? tsvCell(r.ad.adGroupName) : '--',
      AdId: r.ad ? String(r.ad.id) : '--',
    };
    const key = dims.map((f) => d[f]).join('\t');
    let g = groups.get(key);
    if (!g) {
      g = { dims: d, impressions: 0, clicks: 0, cents: 0, conversions: null, anyGoals: false, garbled: false };
      groups.set(key, g);
    }
    if (picked) g.garbled = true;
    g.impressions += r.stat.impressions;
    g.clicks += r.stat.clicks;
    g.cents += withVat(r.stat.costCents, o.includeVat);
    if (r.stat.conversions !== null) g.conversions = (g.conversions ?? 0) + r.stat.conversions;
  }
  const money = (cents: number): string => (o.micros ? String(cents * 10_000) : (cents / 100).toFixed(2));
  const lines: string[] = [];
  if (!o.skipReportHeader) lines.push(`"${o.reportName} (${o.since} - ${o.until})"`);
  if (!o.skipColumnHeader) lines.push(o.fields.join('\t'));
  const rows: string[][] = [];
  for (const g of groups.values()) {
    rows.push(
      o.fields.map((f) => {
        switch (f as FakeField) {
          case 'Impressions':
            return g.garbled ? 'n/a' : String(g.impressions);
          case 'Clicks':
            return String(g.clicks);
          case 'Cost':
            return money(g.cents);
          case 'Conversions':
            return g.conversions === null ? '--' : String(g.conversions);
          case 'Ctr':
            return g.impressions ? ((g.clicks / g.impressions) * 100).toFixed(2) : '--';
          case 'AvgCpc':
            return g.clicks ? money(Math.round(g.cents / g.clicks)) : '--';
          default:
            return g.dims[f]!;
        }
      }),
    );
  }
  for (const r of rows) lines.push(r.join('\t'));
  let total = rows.length;
  if (o.malformed && rows.length > 0) {
    const first = rows[0]!;
    const at = (f: string) => o.fields.indexOf(f);
    lines.push(first.slice(0, Math.max(1, first.length - 2)).join('\t'));
    if (at('Impressions') >= 0) lines.push(first.map((v, i) => (i === at('Impressions') ? 'n/a' : v)).join('\t'));
    if (at('Date') >= 0) lines.push(first.map((v, i) => (i === at('Date') ? `${o.since.slice(0, 4)}-02-30` : v)).join('\t'));
    total = lines.length - (o.skipReportHeader ? 0 : 1) - (o.skipColumnHeader ? 0 : 1);
  }
  if (!o.skipReportSummary) lines.push(`Total rows: ${total}`);
  return lines.join('\n') + '\n';
}

interface Identity {
  kind: 'agency' | 'client';
  login: string;
}

export async function startSandbox(opts: SandboxOptions & DirectSandboxExtras): Promise<RunningSandbox> {
  const { seed, faults } = opts;
  const world = directWorld(seed);
  const now = opts.now ?? Date.now;
  const pageCap = opts.pageSize ?? 7;
  const autoOnlineRows = opts.autoOnlineRows ?? 50;
  const unitsLimit = opts.unitsLimit ?? (faults.has('units_exhausted') ? 60 : 100_000);
  const tokens = new Map<string, Identity>([[world.agencyToken, { kind: 'agency', login: world.agencyLogin }]]);
  for (const [login, token] of Object.entries(world.clientTokens)) tokens.set(token, { kind: 'client', login });

  let requests = 0;
  const inflight = new Map<string, number>();
  const reportHits = new Map<string, number[]>();
  const unitsSpent = new Map<string, number>();
  const jobs = new Map<string, Job>();

  function send(req: http.IncomingMessage, res: http.ServerResponse, status: number, body: string, headers: Record<string, string>): void {
    let payload: Buffer = Buffer.from(body, 'utf8');
    const out: Record<string, string> = { ...headers };
    if (faults.has('gzip') && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
      payload = gzipSync(payload);
      out['Content-Encoding'] = 'gzip';
    }
    res.writeHead(status, { ...out, 'Content-Length': String(payload.length) });
    res.end(payload);
  }

  function errorBody(requestId: string, e: FakeError): string {
    return JSON.stringify({ error: { request_id: requestId, error_code: e.code, error_string: e.errorString, error_detail: e.detail } });
  }

  function chargeUnits(login: string, cost: number): string {
    const spent = (unitsSpent.get(login) ?? 0) + cost;
    unitsSpent.set(login, spent);
    return `${cost}/${Math.max(0, unitsLimit - spent)}/${unitsLimit}`;
  }

  /** Chaos by request number, so a retry (the next number) goes through. */
  function injectedFault(n: number, service: string): { html?: boolean; error?: FakeError } | null {
    if (faults.has('5xx') && n % 5 === 0) {
      const k = (n / 5) % 4;
      if (k === 0) return { html: true };
      const [code, text] = k === 1 ? [52, 'Authorization server temporarily unavailable'] : k === 2 ? [1000, 'Server temporarily unavailable'] : [1002, 'Operation error'];
      return { error: new FakeError(code, text, 'Try again later', service === 'reports' ? 500 : 200) };
    }
    if (faults.has('rate_limit') && n % 7 === 0) {
      const k = (n / 7) % 3;
      if (k === 0 && service === 'reports') return { error: new FakeError(9000, 'Too many reports being built', 'Try again later', 400) };
      if (k === 1) return { error: new FakeError(56, 'Request limit exceeded', 'Too many requests to the method', service === 'reports' ? 400 : 200) };
      return { error: new FakeError(506, 'Exceeded limit on number of connections', 'At most 5 simultaneous requests per advertiser', service === 'reports' ? 400 : 200) };
    }
    return null;
  }

  function authenticate(req: http.IncomingMessage, n: number): Identity {
    const m = /^Bearer\s+(\S+)$/.exec(String(req.headers.authorization ?? ''));
    const identity = m ? tokens.get(m[1]!) : undefined;
    if (!identity) throw new FakeError(53, 'Authorization error', 'Invalid OAuth token');
    if (faults.has('token_revoked') && n > 8) throw new FakeError(53, 'Authorization error', 'OAuth token revoked');
    return identity;
  }

  /** The account a request acts on: the advertiser's own, or an agency client named by Client-Login. */
  function targetLogin(req: http.IncomingMessage, identity: Identity, service: string): string {
    const clientLogin = req.headers['client-login'] as string | undefined;
    if (service === 'agencyclients') {
      if (identity.kind !== 'agency') throw new FakeError(54, 'No rights', 'AgencyClients is available to agency tokens only');
      return identity.login;
    }
    if (identity.kind === 'agency') {
      if (!clientLogin) throw new FakeError(54, 'No rights', 'An agency must name the advertiser in the Client-Login header');
      if (clientLogin !== identity.login && !world.clientLogins.includes(clientLogin)) throw new FakeError(54, 'No rights', `${clientLogin} is not a client of this agency`);
      return clientLogin;
    }
    if (clientLogin && clientLogin !== identity.login) throw new FakeError(54, 'No rights', `no access to ${clientLogin}`);
    return identity.login;
  }

  // ---- JSON services

  function service(name: string, method: string, params: Record<string, unknown>, login: string): { result: unknown; objects: number } {
    if (name === 'campaigns' && method === 'get') {
      const fields = fieldNames(params, 'FieldNames', CAMPAIGN_FIELDS, true);
      const sel = (params.SelectionCriteria ?? {}) as Record<string, unknown>;
      const ids = idList(sel.Ids, 'Ids', 1000);
      const all = world.campaigns
        .filter((c) => c.login === login && (!ids || ids.includes(c.id)))
        .map((c) => projected({ Id: c.id, Name: c.name, Type: c.type, State: c.state, Status: c.status, StartDate: '2024-01-15', Currency: c.currency }, fields));
      const p = paged(all, params, pageCap);
      return { result: { Campaigns: p.items, ...(p.limitedBy !== undefined ? { LimitedBy: p.limitedBy } : {}) }, objects: p.items.length };
    }
    if (name === 'ads' && method === 'get') {
      const sel = (params.SelectionCriteria ?? {}) as Record<string, unknown>;
      const ids = idList(sel.Ids, 'Ids', 10_000);
      const campaignIds = idList(sel.CampaignIds, 'CampaignIds', 10);
      const adGroupIds = idList(sel.AdGroupIds, 'AdGroupIds', 1000);
      if (!ids && !campaignIds && !adGroupIds) throw new FakeError(4001, 'Invalid request parameter', 'SelectionCriteria needs Ids, CampaignIds or AdGroupIds');
      const types = sel.Types as string[] | undefined;
      const fields = fieldNames(params, 'FieldNames', AD_FIELDS, true);
      const textFields = fieldNames(params, 'TextAdFieldNames', TEXT_AD_FIELDS, false);
      const all = world.ads
        .filter((a) => a.login === login && (!ids || ids.includes(a.id)) && (!campaignIds || campaignIds.includes(a.campaignId)) && (!adGroupIds || adGroupIds.includes(a.adGroupId)))
        .filter((a) => !types || types.includes(a.type))
        .sort((a, b) => a.id - b.id)
        .map((a) => {
          const out = projected({ Id: a.id, CampaignId: a.campaignId, AdGroupId: a.adGroupId, State: a.state, Status: a.status, Type: a.type, Subtype: 'NONE' }, fields);
          if (a.type === 'TEXT_AD' && textFields.length > 0) {
            out.TextAd = projected({ Href: a.href, Title: a.title, Title2: null, Text: 'Билеты онлайн', DisplayDomain: 'x.ru', FinalUrl: a.href }, textFields);
          }
          return out;
        });
      const p = paged(all, params, pageCap);
      return { result: { Ads: p.items, ...(p.limitedBy !== undefined ? { LimitedBy: p.limitedBy } : {}) }, objects: p.items.length };
    }
    if (name === 'agencyclients' && method === 'get') {
      const fields = fieldNames(params, 'FieldNames', CLIENT_FIELDS, true);
      const all = world.clientLogins.map((l) => projected({ Login: l, ClientInfo: `Клиент ${l}`, Currency: world.currency[l] }, fields));
      const p = paged(all, params, pageCap);
      return { result: { Clients: p.items, ...(p.limitedBy !== undefined ? { LimitedBy: p.limitedBy } : {}) }, objects: p.items.length };
    }
    if (name === 'clients' && method === 'get') {
      const fields = fieldNames(params, 'FieldNames', CLIENT_FIELDS, true);
      const currency = world.currency[login] ?? 'RUB';
      return { result: { Clients: [projected({ Login: login, ClientInfo: `Клиент ${login}`, Currency: currency }, fields)] }, objects: 1 };
    }
    if (name === 'changes' && method === 'check') {
      const ids = idList(params.CampaignIds, 'CampaignIds', 3000);
      if (!ids || typeof params.Timestamp !== 'string') throw new FakeError(8000, 'Invalid request', 'changes.check needs CampaignIds and Timestamp');
      const fields = fieldNames(params, 'FieldNames', ['CampaignIds', 'AdGroupIds', 'AdIds', 'CampaignsStat'], true);
      const today = todayIn('Europe/Moscow', new Date(now()));
      const since = correctedSince(seed, login, today);
      const corrected = since < addDays(today, -3);
      const stat = fields.includes('CampaignsStat') && corrected
        ? world.campaigns.filter((c) => c.login === login && ids.includes(c.id) && hashSeed(seed, c.id, today) % 2 === 0).map((c) => ({ CampaignId: c.id, BorderDate: since }))
        : [];
      return { result: { CampaignsStat: stat, Timestamp: new Date(now()).toISOString().slice(0, 19) + 'Z' }, objects: stat.length };
    }
    throw new FakeError(8000, 'Invalid request', `unknown method ${name}.${method}`);
  }

  // ---- Reports

  function reportPeriod(params: Record<string, unknown>, login: string): { since: string; until: string } {
    const today = todayIn('Europe/Moscow', new Date(now()));
    const yesterday = addDays(today, -1);
    const range = String(params.DateRangeType);
    const sel = params.SelectionCriteria as { DateFrom?: unknown; DateTo?: unknown };
    if (range === 'CUSTOM_DATE') {
      const from = String(sel.DateFrom ?? '');
      const to = String(sel.DateTo ?? '');
      if (!isDay(from) || !isDay(to) || from > to) throw new FakeError(8000, 'Invalid request', 'CUSTOM_DATE needs DateFrom ≤ DateTo (YYYY-MM-DD)', 400);
      return { since: from, until: to };
    }
    if (sel.DateFrom !== undefined || sel.DateTo !== undefined) throw new FakeError(8000, 'Invalid request', 'DateFrom/DateTo only with CUSTOM_DATE', 400);
    if (range === 'AUTO') return { since: correctedSince(seed, login, today), until: yesterday };
    if (range === 'TODAY') return { since: today, until: today };
    if (range === 'YESTERDAY') return { since: yesterday, until: yesterday };
    const m = /^LAST_(\d+)_DAYS$/.exec(range);
    if (m) return { since: addDays(today, -Number(m[1])), until: yesterday };
    throw new FakeError(8000, 'Invalid request', `the fake does not implement DateRangeType ${range}`, 400);
  }

  function validateReport(params: unknown): Record<string, unknown> {
    const bad = (detail: string) => new FakeError(8000, 'Invalid request', detail, 400);
    if (!params || typeof params !== 'object') throw bad('body must be {"params": ReportDefinition}');
    const p = params as Record<string, unknown>;
    if (typeof p.ReportName !== 'string' || p.ReportName.trim() === '') throw bad('ReportName is required');
    if (!REPORT_TYPES.has(String(p.ReportType))) throw bad('ReportType is required');
    if (!DATE_RANGES.has(String(p.DateRangeType))) throw bad('DateRangeType is required');
    if (p.Format !== 'TSV') throw bad('Format must be TSV');
    if (p.IncludeVAT !== 'YES' && p.IncludeVAT !== 'NO') throw bad('IncludeVAT must be YES or NO');
    if (!p.SelectionCriteria || typeof p.SelectionCriteria !== 'object') throw bad('SelectionCriteria is required');
    if (!Array.isArray(p.FieldNames) || p.FieldNames.length === 0 || !p.FieldNames.every((f) => (REPORT_FIELDS as readonly string[]).includes(String(f)))) {
      throw bad(`FieldNames must list fields from: ${REPORT_FIELDS.join(', ')}`);
    }
    return p;
  }

  function reports(req: http.IncomingMessage, bodyText: string, login: string): { status: number; body: string; headers: Record<string, string> } {
    const t = now();
    const hits = (reportHits.get(login) ?? []).filter((at) => t - at < 10_000);
    if (hits.length >= REPORTS_PER_10S) throw new FakeError(56, 'Request limit exceeded', `at most ${REPORTS_PER_10S} Reports requests per 10 s`, 400);
    hits.push(t);
    reportHits.set(login, hits);

    let envelope: { params?: unknown };
    try {
      envelope = JSON.parse(bodyText) as { params?: unknown };
    } catch {
      throw new FakeError(8000, 'Invalid request', 'body is not JSON', 400);
    }
    const params = validateReport(envelope.params);
    const mode = String(req.headers.processingmode ?? 'auto');
    if (!['online', 'offline', 'auto'].includes(mode)) throw new FakeError(8000, 'Invalid request', 'processingMode must be online, offline or auto', 400);
    const h = (name: string) => String(req.headers[name.toLowerCase()] ?? '').toLowerCase() === 'true';
    const micros = faults.has('micros') || String(req.headers.returnmoneyinmicros ?? '').toLowerCase() !== 'false';
    const period = reportPeriod(params, login);
    if (diffDays(period.since, period.until) > 3 * 366) throw new FakeError(8000, 'Invalid request', 'stats are kept for 3 years', 400);
    const filter = ((params.SelectionCriteria as { Filter?: Array<{ Field: string; Operator: string; Values: string[] }> }).Filter ?? []).find((f) => f.Field === 'CampaignId');
    const campaignIds = filter && ['IN', 'EQUALS'].includes(filter.Operator) ? new Set(filter.Values.map(Number)) : undefined;
    const render = () =>
      renderReport(world, seed, login, {
        reportName: String(params.ReportName),
        since: period.since,
        until: period.until,
        fields: params.FieldNames as string[],
        micros,
        includeVat: params.IncludeVAT === 'YES',
        skipReportHeader: h('skipReportHeader'),
        skipColumnHeader: h('skipColumnHeader'),
        skipReportSummary: h('skipReportSummary'),
        malformed: faults.has('malformed'),
        vanishing: faults.has('vanishing_rows'),
        garbled: faults.has('garbled_rows'),
        campaignIds,
      });
    const ready = () => ({ status: 200, body: render(), headers: { 'Content-Type': 'text/tab-separated-values; charset=utf-8' } });

    // Built reports are kept 5 h; the identical request within that time returns the stored one.
    for (const [key, job] of jobs) if (t - job.created > JOB_TTL_MS) jobs.delete(key);
    const key = `${login}\t${String(params.ReportName)}`;
    const bodyKey = createHash('sha1')
      .update(JSON.stringify([params, micros, h('skipReportHeader'), h('skipColumnHeader'), h('skipReportSummary')]))
      .digest('hex');
    const queued = () => [...jobs.entries()].filter(([k, j]) => k.startsWith(`${login}\t`) && j.pollsLeft > 0).length;
    const retry = (job: Job) => {
      const seq = faults.has('long_queue') || faults.has('queue_never_ends') ? RETRY_IN.long : RETRY_IN.normal;
      return String(seq[job.polls % seq.length]);
    };
    const existing = jobs.get(key);
    if (existing) {
      if (existing.bodyKey !== bodyKey) throw new FakeError(8000, 'Invalid request', `a report named ${String(params.ReportName)} with other parameters already exists; choose another ReportName`, 400);
      if (existing.pollsLeft > 0) {
        existing.pollsLeft--;
        existing.polls++;
        return { status: 202, body: '', headers: { retryIn: retry(existing), reportsInQueue: String(queued()) } };
      }
      return ready();
    }
    let rows = 0;
    for (const _ of reportRows(world, seed, login, period.since, period.until)) rows++;
    if (mode === 'online' && rows > 10_000) throw new FakeError(8000, 'Invalid request', 'report too large for online mode; use offline', 400);
    if (mode === 'online' || (mode === 'auto' && rows <= autoOnlineRows)) return ready();
    if (queued() >= MAX_QUEUED_JOBS) throw new FakeError(9000, 'Too many reports in the queue', `at most ${MAX_QUEUED_JOBS} offline reports per advertiser`, 400);
    const job: Job = {
      bodyKey,
      created: t,
      polls: 0,
      pollsLeft: faults.has('queue_never_ends') ? Number.POSITIVE_INFINITY : faults.has('long_queue') ? QUEUE_POLLS.long : QUEUE_POLLS.normal,
    };
    jobs.set(key, job);
    return { status: 201, body: '', headers: { retryIn: retry(job), reportsInQueue: String(queued()) } };
  }

  // ---- the server

  const handler: http.RequestListener = (req, res) => {
    void (async () => {
      const n = ++requests;
      const requestId = `${8_000_000_000_000 + (seed % 1000) * 1_000_000 + n}`;
      const base: Record<string, string> = { RequestId: requestId };
      const url = new URL(req.url ?? '/', 'http://sandbox');
      const m = /^\/json\/v5\/([a-z]+)$/.exec(url.pathname);
      const bodyText = await readBody(req);
      if (req.method !== 'POST' || !m) {
        send(req, res, 404, errorBody(requestId, new FakeError(8000, 'Invalid request', `no such endpoint ${req.method} ${url.pathname}`)), { ...base, 'Content-Type': 'application/json; charset=utf-8' });
        return;
      }
      const name = m[1]!;
      const json = { ...base, 'Content-Type': 'application/json; charset=utf-8' };
      let login: string | null = null;
      try {
        const identity = authenticate(req, n);
        login = targetLogin(req, identity, name);
        const running = (inflight.get(login) ?? 0) + 1;
        inflight.set(login, running);
        if (running > MAX_INFLIGHT) throw new FakeError(506, 'Exceeded limit on number of connections', `at most ${MAX_INFLIGHT} simultaneous requests per advertiser`, name === 'reports' ? 400 : 200);
        if (faults.has('slow')) await new Promise((r) => setTimeout(r, 150));
        const chaos = injectedFault(n, name);
        if (chaos?.html) {
          send(req, res, 502, '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>', {
            ...base,
            'Content-Type': 'text/html',
          });
          return;
        }
        if (chaos?.error) throw chaos.error;
        if (name === 'reports') {
          const out = reports(req, bodyText, login);
          send(req, res, out.status, out.body, { ...base, ...out.headers, 'Units-Used-Login': login });
          return;
        }
        const spent = unitsSpent.get(login) ?? 0;
        if (spent >= unitsLimit) throw new FakeError(152, 'Not enough units', `daily limit ${unitsLimit} spent; points accrue hourly`);
        let envelope: { method?: unknown; params?: unknown };
        try {
          envelope = JSON.parse(bodyText) as { method?: unknown; params?: unknown };
        } catch {
          throw new FakeError(8000, 'Invalid request', 'body is not JSON');
        }
        if (typeof envelope.method !== 'string' || !envelope.params || typeof envelope.params !== 'object') {
          throw new FakeError(8000, 'Invalid request', 'body must be {"method": ..., "params": {...}}');
        }
        const out = service(name, envelope.method, envelope.params as Record<string, unknown>, login);
        const units = chargeUnits(login, (name === 'ads' ? 15 : 10) + out.objects);
        send(req, res, 200, JSON.stringify({ result: out.result }), { ...json, Units: units, 'Units-Used-Login': login });
      } catch (err) {
        const e = err instanceof FakeError ? err : new FakeError(1000, 'Server temporarily unavailable', String(err), 500);
        const status = e.httpStatus ?? (name === 'reports' ? 400 : 200);
        const headers: Record<string, string> = { ...json };
        if (name !== 'reports' && login) headers.Units = chargeUnits(login, 0);
        send(req, res, status, errorBody(requestId, e), headers);
      } finally {
        if (login !== null) inflight.set(login, Math.max(0, (inflight.get(login) ?? 1) - 1));
      }
    })().catch((err) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err));
    });
  };

  const server = await listen(handler, opts.port ?? 0);
  return {
    source: 'direct',
    url: server.url,
    env: {
      DIRECT_API_URL: server.url,
      DIRECT_TOKEN: world.agencyToken,
      DIRECT_CLIENT_LOGINS: world.clientLogins.join(','),
      // The fake's rate-limit answers clear at once; the real API wants ~10 s.
      DIRECT_RATE_LIMIT_WAIT_MS: '500',
    },
    close: server.close,
  };
}
