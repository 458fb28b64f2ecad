// CBR rates: XML decoding and parsing (windows-1251, decimal comma, Nominal), record validation and the
// carry-forward rule, including sets published the evening before. Pure functions, no server.
import { describe, expect, it } from 'vitest';
import { dateReq, decodeCbrXml, parseCbrDate, parseDailyXml } from '../loaders/cbr_rates/api.js';
import { encodeWindows1251, expectedRate, servedPublication, setXml } from '../loaders/cbr_rates/sandbox.js';
import { applicableSet, parseDecimalComma, parseValute, rateRow, rateSet, rubRow, type CbrRate } from '../loaders/cbr_rates/transform.js';
import { addDays } from '../src/runtime/dates.js';
import { AdhouseError } from '../src/runtime/errors.js';

const valute = (over: Record<string, unknown> = {}) => ({ '@_ID': 'R01235', NumCode: '840', CharCode: 'USD', Nominal: '1', Name: 'Доллар США', Value: '92,1234', VunitRate: '92,1234', ...over });

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof AdhouseError ? err.code : 'not an AdhouseError';
  }
  return undefined;
}

describe('windows-1251 decoding', () => {
  const doc = '<?xml version="1.0" encoding="windows-1251"?><ValCurs Date="05.03.2025" name="Foreign Currency Market"><Valute ID="R01335"><NumCode>398</NumCode><CharCode>KZT</CharCode><Nominal>100</Nominal><Name>Казахстанских тенге</Name><Value>18,3094</Value><VunitRate>0,183094</VunitRate></Valute></ValCurs>';

  it('decodes the declared charset: Cyrillic survives, one byte per letter on the wire', () => {
    const bytes = encodeWindows1251(doc);
    expect(bytes.length).toBe(doc.length); // single-byte: not UTF-8
    expect(bytes.includes(Buffer.from('Казах', 'utf8'))).toBe(false);
    expect(decodeCbrXml(bytes, 'application/xml')).toBe(doc);
    // Read as UTF-8 the name would be mojibake: the decoder is what makes it right.
    expect(bytes.toString('utf8')).not.toContain('Казахстанских');
  });

  it('falls back to the Content-Type charset, then to windows-1251; a UTF-8 declaration is honoured', () => {
    const bare = doc.replace(' encoding="windows-1251"', '');
    expect(decodeCbrXml(encodeWindows1251(bare), 'text/xml; charset=windows-1251')).toBe(bare);
    expect(decodeCbrXml(encodeWindows1251(bare), null)).toBe(bare);
    const utf8 = doc.replace('windows-1251', 'utf-8');
    expect(decodeCbrXml(Buffer.from(utf8, 'utf8'), 'application/xml; charset=windows-1251')).toBe(utf8);
  });

  it('the encoder round-trips every windows-1251 character', () => {
    const all = new TextDecoder('windows-1251').decode(Uint8Array.from({ length: 256 }, (_, i) => i));
    expect(new TextDecoder('windows-1251').decode(encodeWindows1251(all))).toBe(all);
    expect(encodeWindows1251('Ёё№').toString('latin1')).toBe('\xa8\xb8\xb9');
  });
});

describe('ValCurs parsing', () => {
  it('reads the set date and every Valute as strings', () => {
    const xml = setXml(7, '2025-03-05');
    const daily = parseDailyXml(decodeCbrXml(encodeWindows1251(xml)), '2025-03-05');
    expect(daily.publishedDate).toBe('2025-03-05');
    expect(daily.valutes).toHaveLength(9);
    const kzt = daily.valutes.find((v) => (v as { CharCode: string }).CharCode === 'KZT') as Record<string, string>;
    expect(kzt).toMatchObject({ '@_ID': 'R01335', NumCode: '398', Nominal: '100', Name: 'Казахстанских тенге' });
    expect(kzt.Value).toMatch(/^\d+,\d{4}$/);
  });

  it('keeps leading zeros and entities as text', () => {
    const xml = '<ValCurs Date="01.02.2025"><Valute ID="X"><CharCode>AMD</CharCode><Nominal>0100</Nominal><Name>A &amp; B</Name><Value>023,8000</Value></Valute></ValCurs>';
    const v = parseDailyXml(xml, '2025-02-01').valutes[0] as Record<string, string>;
    expect(v).toMatchObject({ Nominal: '0100', Name: 'A & B', Value: '023,8000' });
  });

  it('an HTML page, a cut-off body or an empty set is upstream_5xx (retried)', () => {
    const html = '<!DOCTYPE html><html><body><h1>Технические работы</h1></body></html>';
    expect(codeOf(() => parseDailyXml(html, '2025-03-05'))).toBe('upstream_5xx');
    expect(codeOf(() => parseDailyXml('', '2025-03-05'))).toBe('upstream_5xx');
    const xml = setXml(7, '2025-03-05');
    // Cut anywhere — mid-attribute, mid-element, right before the closing root tag.
    for (const at of [30, 70, Math.floor(xml.length / 2), xml.length - '</ValCurs>'.length, xml.length - 1]) {
      expect(codeOf(() => parseDailyXml(xml.slice(0, at), '2025-03-05')), `cut at ${at}`).toBe('upstream_5xx');
    }
    expect(codeOf(() => parseDailyXml('<ValCurs Date="05.03.2025" name="Foreign Currency Market"/>', '2025-03-05'))).toBe('upstream_5xx');
  });

  it('a whole document without a usable Date is internal (retrying will not fix it)', () => {
    expect(codeOf(() => parseDailyXml('<?xml version="1.0" encoding="windows-1251"?><ValCurs>Error in parameters</ValCurs>', '2025-03-05'))).toBe('internal');
    expect(codeOf(() => parseDailyXml('<ValCurs Date="2025-03-05"><Valute><CharCode>USD</CharCode></Valute></ValCurs>', '2025-03-05'))).toBe('internal');
  });

  it('formats date_req and reads ValCurs dates', () => {
    expect(dateReq('2026-01-09')).toBe('09/01/2026');
    expect(parseCbrDate('09.01.2026')).toBe('2026-01-09');
    expect(parseCbrDate('31.02.2026')).toBeNull();
    expect(parseCbrDate(undefined)).toBeNull();
  });
});

describe('Valute validation', () => {
  it('decimal comma and Nominal: rub_per_unit = Value / Nominal', () => {
    expect(parseValute(valute())).toEqual({ currency: 'USD', name: 'Доллар США', nominal: 1, value: 92.1234, rubPerUnit: 92.1234 });
    expect(parseValute(valute({ CharCode: 'KZT', Nominal: '100', Value: '18,3094' }))).toMatchObject({ nominal: 100, value: 18.3094, rubPerUnit: 0.183094 });
    expect(parseValute(valute({ CharCode: 'TRY', Nominal: '10', Value: '28,4417' }))).toMatchObject({ nominal: 10, rubPerUnit: 2.84417 });
    // Past 6 decimals the per-unit rate is rounded half up (VND is quoted per 10 000).
    expect(parseValute(valute({ CharCode: 'VND', Nominal: '10000', Value: '29,5125' }))).toMatchObject({ rubPerUnit: 0.002951, value: 29.5125 });
    expect(parseValute(valute({ CharCode: 'XYZ', Nominal: '1000', Value: '1,2345' }))).toMatchObject({ rubPerUnit: 0.001235 });
    // A decimal point is read too; more than 4 decimals round half up in `value`.
    expect(parseValute(valute({ Value: '92.12345' }))).toMatchObject({ value: 92.1235, rubPerUnit: 92.12345 });
    expect(parseValute(valute({ CharCode: ' usd ' }))).toMatchObject({ currency: 'USD' });
  });

  it('parses decimals exactly', () => {
    expect(parseDecimalComma('92,1234')).toEqual({ digits: 921234n, scale: 4 });
    expect(parseDecimalComma('7')).toEqual({ digits: 7n, scale: 0 });
    for (const bad of ['', ' ', 'н/д', '1 234,5', '-1,0', '1,2,3', ',5', '5,', null, 5]) expect(parseDecimalComma(bad), String(bad)).toBeNull();
  });

  it('rejects what cannot be a rate, with a reason', () => {
    expect(parseValute(valute({ Value: 'н/д' }))).toMatch(/Value is not a number: "н\/д"/);
    expect(parseValute(valute({ Value: '' }))).toMatch(/Value is not a number/);
    expect(parseValute(valute({ Value: undefined }))).toMatch(/Value is not a number: null/);
    expect(parseValute(valute({ Value: '0,0000' }))).toBe('Value is zero');
    expect(parseValute(valute({ Nominal: '0' }))).toBe('Nominal is zero');
    expect(parseValute(valute({ Nominal: '1,5' }))).toMatch(/Nominal is not a whole number/);
    expect(parseValute(valute({ CharCode: '' }))).toMatch(/bad CharCode/);
    expect(parseValute(valute({ CharCode: 'RUB' }))).toMatch(/RUB quoted against itself/);
    expect(parseValute('text')).toMatch(/not an element/);
  });

  it('a set: bad records rejected with a stable key, a repeated currency keeps its last copy, read = all', () => {
    const set = rateSet({
      publishedDate: '2025-03-05',
      valutes: [valute({ Value: '90,0000' }), valute({ CharCode: 'XDR', '@_ID': 'R01589', Value: 'н/д' }), valute({ CharCode: 'EUR', Value: '100,5' }), valute({ Value: '91,0000' }), valute({ CharCode: '', '@_ID': 'R9' })],
    });
    expect(set.read).toBe(5);
    expect(set.duplicates).toBe(1);
    expect(set.rates.map((r) => [r.currency, r.value])).toEqual([['EUR', 100.5], ['USD', 91]]);
    expect(set.rejected.map((r) => r.key)).toEqual(['2025-03-05|XDR', '2025-03-05|R9']);
    expect(set.rates.length + set.rejected.length + set.duplicates).toBe(set.read);
  });
});

describe('carry-forward rule', () => {
  const rate: CbrRate = { currency: 'USD', name: 'Доллар США', nominal: 1, value: 92.1234, rubPerUnit: 92.1234 };
  const sets = (...dates: string[]) => dates.map((publishedDate) => ({ publishedDate }));

  it('a weekend and a holiday get the last published set, carried forward', () => {
    // Fri 2025-05-02 published; Sat 3, Sun 4 none; Mon 5 published; Fri 9 May holiday.
    const book = sets('2025-05-02', '2025-05-05', '2025-05-08');
    expect(applicableSet(book, '2025-05-03')?.publishedDate).toBe('2025-05-02');
    expect(applicableSet(book, '2025-05-04')?.publishedDate).toBe('2025-05-02');
    expect(applicableSet(book, '2025-05-05')?.publishedDate).toBe('2025-05-05');
    expect(applicableSet(book, '2025-05-09')?.publishedDate).toBe('2025-05-08');
    expect(rateRow('2025-05-04', '2025-05-02', rate)).toMatchObject({ date: '2025-05-04', published_date: '2025-05-02', carried_forward: 1, rub_per_unit: 92.1234 });
    expect(rateRow('2025-05-05', '2025-05-05', rate).carried_forward).toBe(0);
  });

  it('a set dated after the day (published the evening before) never applies to it', () => {
    // Asked for Tue 6 May in the evening, CBR already serves Wednesday's set.
    expect(applicableSet(sets('2025-05-07'), '2025-05-06')).toBeUndefined();
    expect(applicableSet(sets('2025-05-05', '2025-05-06', '2025-05-07'), '2025-05-06')?.publishedDate).toBe('2025-05-06');
    // Order of arrival does not matter.
    expect(applicableSet(sets('2025-05-07', '2025-05-05'), '2025-05-06')?.publishedDate).toBe('2025-05-05');
  });

  it('with answers for days since-1..D, the rule finds the set of every day, whether or not CBR serves the next set early', () => {
    const since = '2025-12-25';
    for (const eveningBefore of [false, true]) {
      const seen: Array<{ publishedDate: string }> = [];
      for (let day = since, i = 0; i < 30; day = addDays(day, 1), i++) {
        if (i === 0) seen.push({ publishedDate: servedPublication(addDays(since, -1), eveningBefore) });
        seen.push({ publishedDate: servedPublication(day, eveningBefore) });
        const truth = expectedRate(1, 'USD', day);
        expect(applicableSet(seen, day)?.publishedDate, `${day} eveningBefore=${eveningBefore}`).toBe(truth.publishedDate);
      }
    }
    // The sandbox does serve sets dated after the day asked for in that mode: not for a Friday (Saturday is
    // no publication day), but Sunday answers with Monday's set and Monday with Tuesday's.
    expect(servedPublication('2025-12-26', true)).toBe('2025-12-26');
    expect(servedPublication('2025-12-28', true)).toBe('2025-12-29');
    expect(servedPublication('2025-12-29', true)).toBe('2025-12-30');
    expect(servedPublication('2025-12-29', false)).toBe('2025-12-29');
  });

  it('RUB is 1 on every day, dated that day', () => {
    expect(rubRow('2026-01-03')).toEqual({ date: '2026-01-03', currency: 'RUB', name: 'Российский рубль', rub_per_unit: 1, nominal: 1, value: 1, published_date: '2026-01-03', carried_forward: 0 });
  });

  it('the sandbox ground truth: Jan 1–8 carry Dec 31, rubPerUnit = value / nominal', () => {
    const jan5 = expectedRate(3, 'KZT', '2026-01-05');
    expect(jan5).toMatchObject({ publishedDate: '2025-12-31', carriedForward: true, nominal: 100 });
    expect(jan5.rubPerUnit).toBeCloseTo(jan5.value / 100, 9);
    expect(expectedRate(3, 'KZT', '2025-12-31').carriedForward).toBe(false);
    expect(expectedRate(3, 'USD', '2026-01-09').publishedDate).toBe('2026-01-09');
  });
});
