// Direct Reports TSV -> typed report records, one line at a time. Columns are found by the header line
// (never by position), `--` means "no value", money arrives either in currency units with two decimals
// or as integer micros. A line that does not fit comes out as `bad` with a reason, for the quarantine.
import { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { AdhouseError } from '../../src/runtime/errors.js';

/** The FieldNames the loader asks for, in request order. */
export const REPORT_FIELDS = ['Date', 'CampaignId', 'CampaignName', 'AdGroupId', 'AdGroupName', 'AdId', 'Impressions', 'Clicks', 'Cost', 'Conversions'] as const;
export type ReportField = (typeof REPORT_FIELDS)[number];

/** Columns without which a row means nothing; the others may be absent from a report (and default). */
const REQUIRED: readonly ReportField[] = ['Date', 'CampaignId', 'Impressions', 'Clicks', 'Cost'];

export interface ReportRecord {
  date: string;
  /** UInt64 ids as decimal strings; '0' where Direct has none (Campaign Master rows). */
  campaignId: string;
  campaignName: string;
  adGroupId: string;
  adGroupName: string;
  adId: string;
  impressions: number;
  clicks: number;
  /** In currency units, rounded to kopecks. */
  cost: number;
  /** null where Direct sent `--` (no Metrica goals for the campaign). */
  conversions: number | null;
}

/**
 * What a bad line's cells still say about its fact key (login aside): a field is absent when its cell
 * is not valid (it could be anything). `null` on a line whose column count is wrong: cell positions
 * cannot be trusted, so nothing about the key is known.
 */
export interface BadLineKey {
  date?: string;
  campaignId?: string;
  adId?: string;
}

export type TsvLine =
  | { kind: 'row'; record: ReportRecord; raw: string; line: number; costCell: string }
  | { kind: 'bad'; reason: string; raw: string; line: number; key: BadLineKey | null };

export type MoneyUnit = 'currency' | 'micros';

export interface TsvOptions {
  money: MoneyUnit;
}

/** Direct's marker for an absent value (conversions without goals, ids of Campaign Master rows). */
export const MISSING = '--';

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const UINT = /^\d{1,20}$/;
const UINT64_MAX = 18446744073709551615n;
const CURRENCY_AMOUNT = /^\d+(\.\d+)?$/;

function isRealDay(value: string): boolean {
  if (!DAY.test(value)) return false;
  const d = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === value;
}

function isUInt64(value: string): boolean {
  return UINT.test(value) && BigInt(value) <= UINT64_MAX;
}

/** The report's summary line (`Total rows: N`), dropped unless skipReportSummary was honoured. */
function isSummaryLine(fields: string[]): boolean {
  return fields.length === 1 && /^(total rows|всего строк)\s*:/i.test(fields[0]!.trim());
}

function cleanRaw(raw: string): string {
  return raw.replace(/^[\r\n]+/, '').replace(/[\r\n]+$/, '');
}

/**
 * Converts a Cost cell to currency units rounded to 2 decimals. Micros are integers (amount × 1,000,000,
 * rounded by Direct to 10,000), so dividing by 10,000 gives whole kopecks exactly.
 */
export function parseMoney(cell: string, money: MoneyUnit): number | null {
  if (money === 'micros') {
    if (!UINT.test(cell)) return null;
    return Math.round(Number(cell) / 10_000) / 100;
  }
  if (!CURRENCY_AMOUNT.test(cell)) return null;
  return Math.round(Number(cell) * 100) / 100;
}

/** Non-zero Cost cells, all whole multiples of 10,000, needed before a report is taken for micros. */
export const MICROS_MIN_EVIDENCE = 20;

/**
 * Decides the money unit of a report. We ask for currency units (returnMoneyInMicros: false); only
 * strong evidence says the header was ignored and the values are micros: at least MICROS_MIN_EVIDENCE
 * non-zero Cost cells, every one an integer multiple of 10,000 and none with a decimal point. A small
 * report in currency units (whole amounts such as 10000) could pass the multiple test by chance, so
 * fewer such cells mean currency. `sent` is what the request asked for; `costs` are the raw Cost cells.
 */
export function detectMoneyUnit(sent: MoneyUnit, costs: Iterable<string>): MoneyUnit {
  if (sent === 'micros') return 'micros';
  let nonZero = 0;
  for (const cell of costs) {
    if (cell.includes('.')) return 'currency';
    if (!UINT.test(cell)) continue;
    if (/^0+$/.test(cell)) continue;
    if (BigInt(cell) % 10_000n !== 0n) return 'currency';
    nonZero++;
  }
  return nonZero >= MICROS_MIN_EVIDENCE ? 'micros' : 'currency';
}

function toBuffers(input: Buffer | string | AsyncIterable<Buffer>): Readable {
  if (typeof input === 'string') return Readable.from([Buffer.from(input, 'utf8')]);
  if (Buffer.isBuffer(input)) return Readable.from([input]);
  return Readable.from(input);
}

/**
 * Streams a report body. The body is decoded as UTF-8 whatever the response said (ryandexdirect#37),
 * quotes are ordinary characters (Direct does not quote TSV, and names such as `Спектакль "Щелкунчик"`
 * must come through as is), a title line before the header and the summary line after the rows are
 * dropped.
 */
export async function* parseReportTsv(input: Buffer | string | AsyncIterable<Buffer>, options: TsvOptions): AsyncGenerator<TsvLine> {
  const parser = toBuffers(input).pipe(
    parse({ delimiter: '\t', quote: false, relax_quotes: true, relax_column_count: true, skip_empty_lines: true, bom: true, raw: true, info: true, encoding: 'utf8' }),
  );
  let columns: Map<string, number> | null = null;
  let width = 0;
  for await (const item of parser as AsyncIterable<{ record: string[]; raw: string; info: { lines: number } }>) {
    const fields = item.record;
    const raw = cleanRaw(item.raw);
    const line = item.info.lines;
    if (!columns) {
      // Lines before the header: the report title (`"name (from - to)"`) when skipReportHeader was ignored.
      if (REQUIRED.every((f) => fields.includes(f))) {
        columns = new Map(fields.map((name, i) => [name.trim(), i]));
        width = fields.length;
      }
      continue;
    }
    if (isSummaryLine(fields)) continue;
    if (fields.length !== width) {
      yield { kind: 'bad', reason: `expected ${width} tab-separated columns, got ${fields.length}`, raw, line, key: null };
      continue;
    }
    const result = toRecord(fields, columns, options.money);
    if (typeof result === 'string') yield { kind: 'bad', reason: result, raw, line, key: badLineKey(fields, columns) };
    else yield { kind: 'row', record: result, raw, line, costCell: fields[columns.get('Cost')!]!.trim() };
  }
  if (!columns) {
    throw new AdhouseError('internal', `Direct report has no column header with ${REQUIRED.join(', ')}; was skipColumnHeader sent?`);
  }
}

/** The valid parts of a bad line's key (its column count matched the header, so positions hold). */
export function badLineKey(fields: string[], columns: Map<string, number>): BadLineKey {
  const cell = (name: ReportField): string | undefined => {
    const i = columns.get(name);
    return i === undefined ? undefined : fields[i]?.trim();
  };
  const key: BadLineKey = {};
  const date = cell('Date');
  if (date !== undefined && isRealDay(date)) key.date = date;
  const campaignId = cell('CampaignId');
  if (campaignId !== undefined && isUInt64(campaignId)) key.campaignId = String(BigInt(campaignId));
  // As toRecord reads it: an absent column, '' or `--` is ad 0 (Campaign Master rows).
  const adId = cell('AdId');
  if (adId === undefined || adId === '' || adId === MISSING) key.adId = '0';
  else if (isUInt64(adId)) key.adId = String(BigInt(adId));
  return key;
}

/** A record, or the reason the line is unusable. */
export function toRecord(fields: string[], columns: Map<string, number>, money: MoneyUnit): ReportRecord | string {
  const cell = (name: ReportField): string | undefined => {
    const i = columns.get(name);
    return i === undefined ? undefined : fields[i]!.trim();
  };
  const date = cell('Date')!;
  if (!isRealDay(date)) return `bad Date ${JSON.stringify(date)}`;
  const campaignId = cell('CampaignId')!;
  if (!isUInt64(campaignId)) return `bad CampaignId ${JSON.stringify(campaignId)}`;
  const optionalId = (name: ReportField): string | null => {
    const v = cell(name);
    if (v === undefined || v === '' || v === MISSING) return '0';
    return isUInt64(v) ? String(BigInt(v)) : null;
  };
  const adGroupId = optionalId('AdGroupId');
  if (adGroupId === null) return `bad AdGroupId ${JSON.stringify(cell('AdGroupId'))}`;
  const adId = optionalId('AdId');
  if (adId === null) return `bad AdId ${JSON.stringify(cell('AdId'))}`;
  const count = (name: ReportField): number | string => {
    const v = cell(name)!;
    if (!UINT.test(v) || !Number.isSafeInteger(Number(v))) return `non-numeric ${name} ${JSON.stringify(v)}`;
    return Number(v);
  };
  const impressions = count('Impressions');
  if (typeof impressions === 'string') return impressions;
  const clicks = count('Clicks');
  if (typeof clicks === 'string') return clicks;
  const costCell = cell('Cost')!;
  const cost = parseMoney(costCell, money);
  if (cost === null) return `bad Cost ${JSON.stringify(costCell)} (${money})`;
  let conversions: number | null = null;
  const conv = cell('Conversions');
  if (conv !== undefined && conv !== MISSING && conv !== '') {
    if (!UINT.test(conv) || !Number.isSafeInteger(Number(conv))) return `non-numeric Conversions ${JSON.stringify(conv)}`;
    conversions = Number(conv);
  }
  const name = (n: ReportField): string => {
    const v = cell(n);
    return v === undefined || v === MISSING ? '' : v;
  };
  return {
    date,
    campaignId: String(BigInt(campaignId)),
    campaignName: name('CampaignName'),
    adGroupId,
    adGroupName: name('AdGroupName'),
    adId,
    impressions,
    clicks,
    cost,
    conversions,
  };
}

/** First pass over a report: the raw Cost cells (for detectMoneyUnit), the campaign ids it mentions, its dates. */
export async function scanReport(input: Buffer): Promise<{ costs: string[]; campaignIds: string[]; dates: { min: string; max: string } | null }> {
  const costs: string[] = [];
  const campaignIds = new Set<string>();
  let min = '';
  let max = '';
  // Parsed as currency units: a micros value is a valid amount too, so every usable line counts here;
  // the unit is decided afterwards from the raw cells.
  for await (const line of parseReportTsv(input, { money: 'currency' })) {
    if (line.kind !== 'row') continue;
    const r = line.record;
    campaignIds.add(r.campaignId);
    if (!min || r.date < min) min = r.date;
    if (!max || r.date > max) max = r.date;
    if (costs.length < 10_000) costs.push(line.costCell);
  }
  const ids = [...campaignIds].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0));
  return { costs, campaignIds: ids, dates: min ? { min, max } : null };
}
