// Money from upstream values, parsed once for every loader (DESIGN.md: parse once, in one module).
// Amounts become integer kopecks (hundredths of the currency unit) so sums stay exact.

const CURRENCY_MARKS: ReadonlyArray<[RegExp, string]> = [
  [/₽|руб\.?|р\.|\bRUB\b|\bRUR\b/i, 'RUB'],
  [/\$|\bUSD\b/i, 'USD'],
  [/€|\bEUR\b/i, 'EUR'],
  [/₸|\bKZT\b/i, 'KZT'],
];

const PLAIN_DECIMAL = /^-?\d+(\.\d+)?$/;
const AMBIGUOUS_THOUSANDS = /^-?[1-9]\d{0,2}\.\d{3}$/;

/**
 * A decimal number from a display string: spaces, no-break spaces and thin spaces as thousands
 * separators, a decimal comma or point, a currency sign before or after. Returns the plain decimal
 * text ("-1234.50") and the currency the sign names, or null when it is not a number or is ambiguous
 * ("1,500": fifteen hundred or one and a half?).
 */
export function parseDecimalText(text: string): { decimal: string; currency: string | null } | null {
  // The common case, a plain API decimal ("619.72"), skips the display-string work below (same answer).
  if (PLAIN_DECIMAL.test(text) && !AMBIGUOUS_THOUSANDS.test(text)) return { decimal: text, currency: null };
  let s = text.normalize('NFC').trim();
  let currency: string | null = null;
  for (const [mark, code] of CURRENCY_MARKS) {
    if (mark.test(s)) {
      currency ??= code;
      s = s.replace(mark, '');
    }
  }
  s = s.replace(/[\s\u00a0\u202f\u2009\u2007']+/g, '').replace(/^\u2212/, '-');
  if (!/^[-+]?[\d.,]+$/.test(s) || !/\d/.test(s)) return null;
  const sign = s.startsWith('-') ? '-' : '';
  s = s.replace(/^[-+]/, '');
  // One separator with exactly three digits after it ("1,500", "2.490") is a thousands group in one
  // locale and a decimal in another: a 1000× error either way, so refuse it (the row is quarantined).
  // "0.125" is not ambiguous: no one groups thousands after a zero.
  if (/^[1-9]\d{0,2}[.,]\d{3}$/.test(s)) return null; // AMBIGUOUS_THOUSANDS, with either mark
  const lastDot = s.lastIndexOf('.');
  const lastComma = s.lastIndexOf(',');
  if (lastDot !== -1 && lastComma !== -1) {
    // Both present: the rightmost one is the decimal mark, the other groups thousands ("1,234.50", "1.234,50").
    const decimalMark = lastDot > lastComma ? '.' : ',';
    const groupMark = decimalMark === '.' ? ',' : '.';
    s = s.split(groupMark).join('').replace(decimalMark, '.');
  } else if (lastComma !== -1) {
    // A single comma is a decimal comma (Russian locale); several commas group thousands.
    s = s.split(',').length > 2 ? s.split(',').join('') : s.replace(',', '.');
  } else if (s.split('.').length > 2) {
    s = s.split('.').join('');
  }
  if (!/^\d+(\.\d+)?$/.test(s)) return null;
  return { decimal: sign + s, currency };
}

/** A number cell or a display string -> exact kopecks (half-up on the third decimal); null when not money. */
export function parseMoney(cell: unknown): { cents: number; currency: string | null } | null {
  let parsed: { decimal: string; currency: string | null } | null;
  if (typeof cell === 'number') {
    if (!Number.isFinite(cell) || Math.abs(cell) > 1e13) return null;
    // toFixed(6) turns binary fractions (1234.4999999) back into the decimal the sheet shows.
    parsed = { decimal: cell.toFixed(6), currency: null };
  } else if (typeof cell === 'string') {
    parsed = parseDecimalText(cell);
  } else {
    return null;
  }
  if (!parsed) return null;
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(parsed.decimal)!;
  const frac = (m[3] ?? '').padEnd(3, '0');
  const cents = Number(m[2]) * 100 + Number(frac.slice(0, 2)) + (Number(frac[2]) >= 5 ? 1 : 0);
  if (!Number.isSafeInteger(cents)) return null;
  return { cents: m[1] === '-' && cents !== 0 ? -cents : cents, currency: parsed.currency };
}

/** Kopecks from a JSON number or a money string; null when it is not money. */
export function parseMoneyCents(value: unknown): number | null {
  return parseMoney(value)?.cents ?? null;
}

/** ISO code from a currency text ("RUB", "руб.", "₽", "usd", "RUR"); null when not recognisable. */
export function currencyCode(text: string): string | null {
  const t = text.trim();
  if (/^[A-Za-z]{3}$/.test(t)) return t.toUpperCase() === 'RUR' ? 'RUB' : t.toUpperCase();
  for (const [mark, code] of CURRENCY_MARKS) if (mark.test(t) && t.replace(mark, '').trim() === '') return code;
  return null;
}
