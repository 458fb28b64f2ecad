// CBR payloads -> dim_currency_rates rows. Pure functions: no I/O, no clock.
import type { CbrDaily } from './api.js';

/** One valid quote of a CBR set. Money fields are JSON numbers: ClickHouse 18.16 reads Decimal only so. */
export interface CbrRate {
  currency: string;
  name: string;
  nominal: number;
  /** RUB for `nominal` units, 4 decimals (Decimal(18,4)). */
  value: number;
  /** RUB for one unit, Value / Nominal rounded half-up to 6 decimals (Decimal(18,6)). */
  rubPerUnit: number;
}

export interface RejectedValute {
  reason: string;
  key: string;
  payload: unknown;
}

/** A CBR answer after record-level validation. */
export interface RateSet {
  publishedDate: string;
  /** Valid quotes, one per currency (the last copy when CBR repeats one). */
  rates: CbrRate[];
  rejected: RejectedValute[];
  /** Earlier copies of a currency that came again later in the same set. */
  duplicates: number;
  /** Every <Valute> in the answer: rates + rejected + duplicates. */
  read: number;
}

export interface RateRow {
  date: string;
  currency: string;
  name: string;
  rub_per_unit: number;
  nominal: number;
  value: number;
  published_date: string;
  carried_forward: 0 | 1;
}

export const RUB = 'RUB';
const RUB_NAME = 'Российский рубль';
const UINT32_MAX = 4_294_967_295;
/** Decimal(18,6) holds 12 integer digits; CBR's largest quote is in the thousands. */
const MAX_VALUE = 1e11;

/** An exact decimal: digits × 10^-scale. */
interface Exact {
  digits: bigint;
  scale: number;
}

/** "92,1234" (CBR's decimal comma) or "92.1234" -> exact digits; null for anything else ("", "н/д", "1 234,5", "-1"). */
export function parseDecimalComma(text: unknown): Exact | null {
  if (typeof text !== 'string') return null;
  const m = /^(\d+)(?:[,.](\d+))?$/.exec(text.trim());
  if (!m) return null;
  const frac = m[2] ?? '';
  return { digits: BigInt(m[1]! + frac), scale: frac.length };
}

/** round(num / den), half up, for non-negative integers. */
function divRound(num: bigint, den: bigint): bigint {
  return (2n * num + den) / (2n * den);
}

/** value / nominal in units of 10^-decimals, rounded half up. */
export function scaled(value: Exact, nominal: number, decimals: number): bigint {
  return divRound(value.digits * 10n ** BigInt(decimals), BigInt(nominal) * 10n ** BigInt(value.scale));
}

function text(v: unknown): string | undefined {
  return typeof v === 'string' ? v.trim() : typeof v === 'number' ? String(v) : undefined;
}

/** One <Valute> -> a quote, or why it is rejected. */
export function parseValute(raw: unknown): CbrRate | string {
  if (!raw || typeof raw !== 'object') return 'Valute is not an element with children';
  const v = raw as Record<string, unknown>;
  const code = text(v.CharCode);
  if (!code || !/^[A-Za-z]{3}$/.test(code)) return `bad CharCode ${JSON.stringify(v.CharCode ?? null)}`;
  // The identity row is ours (rubRow); a quote of RUB would collide with its key.
  if (code.toUpperCase() === RUB) return 'RUB quoted against itself';
  const nominalText = text(v.Nominal);
  if (!nominalText || !/^\d+$/.test(nominalText)) return `Nominal is not a whole number: ${JSON.stringify(v.Nominal ?? null)}`;
  const nominal = Number(nominalText);
  if (nominal === 0) return 'Nominal is zero';
  if (nominal > UINT32_MAX) return `Nominal ${nominalText} is out of range`;
  const value = parseDecimalComma(v.Value);
  if (!value) return `Value is not a number: ${JSON.stringify(v.Value ?? null)}`;
  if (value.digits === 0n) return 'Value is zero';
  if (Number(value.digits) / 10 ** value.scale >= MAX_VALUE) return `Value ${String(v.Value)} is out of range`;
  return {
    currency: code.toUpperCase(),
    name: text(v.Name) ?? '',
    nominal,
    value: Number(scaled(value, 1, 4)) / 1e4,
    rubPerUnit: Number(scaled(value, nominal, 6)) / 1e6,
  };
}

/** Validates every record of an answer; a currency repeated in one set keeps its last copy. */
export function rateSet(daily: Pick<CbrDaily, 'publishedDate' | 'valutes'>): RateSet {
  const byCurrency = new Map<string, CbrRate>();
  const rejected: RejectedValute[] = [];
  let duplicates = 0;
  daily.valutes.forEach((raw, i) => {
    const out = parseValute(raw);
    if (typeof out === 'string') {
      const v = raw && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
      const id = text(v.CharCode) || text(v['@_ID']) || `#${i + 1}`;
      rejected.push({ reason: out, key: `${daily.publishedDate}|${id}`, payload: { published_date: daily.publishedDate, valute: raw } });
      return;
    }
    if (byCurrency.has(out.currency)) {
      duplicates++;
      byCurrency.delete(out.currency); // re-insert so the set keeps CBR's order of last copies
    }
    byCurrency.set(out.currency, out);
  });
  return { publishedDate: daily.publishedDate, rates: [...byCurrency.values()], rejected, duplicates, read: daily.valutes.length };
}

/**
 * The carry-forward rule: the set that applies on calendar day `day` is the one with the latest
 * publication date ≤ day. Sets dated after `day` (CBR publishes the next business day's set the evening
 * before) never apply to it. Ties keep the later element of `sets`.
 */
export function applicableSet<T extends { publishedDate: string }>(sets: Iterable<T>, day: string): T | undefined {
  let best: T | undefined;
  for (const set of sets) {
    if (set.publishedDate > day) continue;
    if (!best || set.publishedDate >= best.publishedDate) best = set;
  }
  return best;
}

/** The row of one quote on one calendar day; carried forward when the set is dated before the day. */
export function rateRow(day: string, publishedDate: string, rate: CbrRate): RateRow {
  return {
    date: day,
    currency: rate.currency,
    name: rate.name,
    rub_per_unit: rate.rubPerUnit,
    nominal: rate.nominal,
    value: rate.value,
    published_date: publishedDate,
    carried_forward: publishedDate < day ? 1 : 0,
  };
}

/** RUB per RUB: 1 on every day, so joins need no special case for rouble amounts. */
export function rubRow(day: string): RateRow {
  return { date: day, currency: RUB, name: RUB_NAME, rub_per_unit: 1, nominal: 1, value: 1, published_date: day, carried_forward: 0 };
}
