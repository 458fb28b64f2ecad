// Direct Reports TSV: header-driven columns, `--`, Cyrillic, micros vs currency units, malformed lines.
import { describe, expect, it } from 'vitest';
import { DIRECT_SANDBOX_LOGINS, directWorld, expectedDirectTotals, renderReport } from '../loaders/direct/sandbox.js';
import { coveredByBadLine, FACT_KEY } from '../loaders/direct/transform.js';
import { detectMoneyUnit, MICROS_MIN_EVIDENCE, parseMoney, parseReportTsv, REPORT_FIELDS, scanReport, type TsvLine } from '../loaders/direct/tsv.js';

async function collect(input: Parameters<typeof parseReportTsv>[0], money: 'currency' | 'micros' = 'currency'): Promise<TsvLine[]> {
  const out: TsvLine[] = [];
  for await (const line of parseReportTsv(input, { money })) out.push(line);
  return out;
}

const HEADER = REPORT_FIELDS.join('\t');

describe('direct TSV parsing', () => {
  it('maps columns by the header, not by position', async () => {
    const tsv = ['Cost\tClicks\tImpressions\tAdId\tCampaignId\tDate', '12.50\t3\t100\t16000000001\t70000001\t2026-03-01', ''].join('\n');
    const [line] = await collect(tsv);
    expect(line).toMatchObject({
      kind: 'row',
      record: { date: '2026-03-01', campaignId: '70000001', adId: '16000000001', adGroupId: '0', impressions: 100, clicks: 3, cost: 12.5, conversions: null, campaignName: '' },
    });
  });

  it('reads `--` as NULL conversions and as id 0 for Campaign Master rows', async () => {
    const tsv = [HEADER, '2026-03-01\t70000001\tМастер кампаний: Москва\t--\t--\t--\t500\t10\t120.00\t--', '2026-03-01\t70000002\tПоиск\t5000000001\tГруппа 1\t16000000001\t80\t2\t30.10\t1'].join('\n');
    const lines = await collect(tsv);
    expect(lines.map((l) => l.kind)).toEqual(['row', 'row']);
    const [cm, ad] = lines.map((l) => (l.kind === 'row' ? l.record : null));
    expect(cm).toMatchObject({ adGroupId: '0', adId: '0', adGroupName: '', conversions: null, cost: 120 });
    expect(ad).toMatchObject({ adGroupId: '5000000001', adId: '16000000001', conversions: 1, cost: 30.1 });
  });

  it('keeps Cyrillic names with quotes intact, also when a UTF-8 character is split across chunks', async () => {
    const name = 'Спектакль "Щелкунчик" — РСЯ';
    const body = Buffer.from([HEADER, `2026-03-01\t70000002\t${name}\t5000000001\t"Группа" 1\t16000000001\t80\t2\t30.10\t--`].join('\n'), 'utf8');
    // Cut inside a two-byte Cyrillic letter.
    const cut = body.indexOf(Buffer.from('Щ', 'utf8')) + 1;
    async function* chunks() {
      yield body.subarray(0, cut);
      yield body.subarray(cut);
    }
    const [line] = await collect(chunks());
    expect(line).toMatchObject({ kind: 'row', record: { campaignName: name, adGroupName: '"Группа" 1' } });
  });

  it('drops the title line and the Total rows summary when Direct sends them', async () => {
    const tsv = ['"adhouse_x (2026-03-01 - 2026-03-01)"', HEADER, '2026-03-01\t70000002\tПоиск\t5000000001\tГ\t16000000001\t80\t2\t30.10\t--', 'Total rows: 1', ''].join('\n');
    const lines = await collect(tsv);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.kind).toBe('row');
  });

  it('turns malformed lines into `bad` with a reason and keeps going', async () => {
    const good = '2026-03-01\t70000002\tПоиск\t5000000001\tГ\t16000000001\t80\t2\t30.10\t--';
    const tsv = [
      HEADER,
      '2026-03-01\t70000002\tПоиск',
      good.replace('\t80\t', '\tn/a\t'),
      good.replace('2026-03-01', '2026-02-30'),
      good.replace('\t30.10\t', '\t12,5\t'),
      good.replace('16000000001', 'abc'),
      good,
    ].join('\n');
    const lines = await collect(tsv);
    expect(lines.map((l) => (l.kind === 'bad' ? l.reason : 'ok'))).toEqual([
      'expected 10 tab-separated columns, got 3',
      'non-numeric Impressions "n/a"',
      'bad Date "2026-02-30"',
      'bad Cost "12,5" (currency)',
      'bad AdId "abc"',
      'ok',
    ]);
    expect(lines[0]!.raw).toBe('2026-03-01\t70000002\tПоиск');
    expect(lines[1]!.line).toBe(3);
  });

  it('refuses a report without a column header', async () => {
    await expect(collect('2026-03-01\t70000002\t80\n')).rejects.toMatchObject({ code: 'internal' });
  });

  it('parses money in micros and in currency units to the same kopecks', () => {
    expect(parseMoney('123450000', 'micros')).toBe(123.45);
    expect(parseMoney('10000', 'micros')).toBe(0.01);
    expect(parseMoney('123.45', 'currency')).toBe(123.45);
    expect(parseMoney('0.00', 'currency')).toBe(0);
    expect(parseMoney('12.3.4', 'currency')).toBeNull();
    expect(parseMoney('1.5', 'micros')).toBeNull();
  });

  it('detects micros sent although returnMoneyInMicros: false was asked for', () => {
    expect(detectMoneyUnit('currency', ['12.50', '0.00'])).toBe('currency');
    const twenty = Array.from({ length: MICROS_MIN_EVIDENCE }, (_, i) => String((i + 1) * 30_000));
    expect(detectMoneyUnit('currency', [...twenty, '0'])).toBe('micros');
    // Integers that are not multiples of 10,000 cannot be micros (Direct rounds micros to 10,000).
    expect(detectMoneyUnit('currency', ['125', '30'])).toBe('currency');
    expect(detectMoneyUnit('currency', ['0', '0'])).toBe('currency');
    expect(detectMoneyUnit('micros', ['12.50'])).toBe('micros');
  });

  it('needs at least 20 non-zero whole multiples of 10,000 to call a report micros (a tiny report in currency units is not)', () => {
    expect(MICROS_MIN_EVIDENCE).toBe(20);
    // 19 costs of whole roubles that happen to be multiples of 10,000 (a small report of big spends): currency.
    const nineteen = Array.from({ length: 19 }, (_, i) => String((i + 1) * 10_000));
    expect(detectMoneyUnit('currency', nineteen)).toBe('currency');
    expect(detectMoneyUnit('currency', [...nineteen, '0', '0', '00'])).toBe('currency');
    expect(detectMoneyUnit('currency', ['125000000', '0', '30000'])).toBe('currency');
    // The 20th such cost tips it; any decimal point or a non-multiple anywhere keeps it currency.
    expect(detectMoneyUnit('currency', [...nineteen, '200000'])).toBe('micros');
    expect(detectMoneyUnit('currency', [...nineteen, '200000', '10000.00'])).toBe('currency');
    expect(detectMoneyUnit('currency', [...nineteen, '200000', '12345'])).toBe('currency');
  });

  it('bad lines carry what can be trusted of their fact key, so their stored row is not tombstoned', async () => {
    const good = '2026-03-01\t70000002\tПоиск\t5000000001\tГ\t16000000001\t80\t2\t30.10\t--';
    const tsv = [
      HEADER,
      '2026-03-01\t70000002\tПоиск',
      good.replace('\t80\t', '\tn/a\t'),
      good.replace('2026-03-01', '2026-02-30'),
      good.replace('16000000001', 'abc'),
      '2026-03-02\t70000001\tCM\t--\t--\t--\tx\t1\t0.50\t--',
    ].join('\n');
    const keys = (await collect(tsv)).map((l) => (l.kind === 'bad' ? l.key : 'ok'));
    expect(keys).toEqual([
      // Wrong column count: positions cannot be trusted, the key is unknown.
      null,
      { date: '2026-03-01', campaignId: '70000002', adId: '16000000001' },
      { campaignId: '70000002', adId: '16000000001' },
      { date: '2026-03-01', campaignId: '70000002' },
      { date: '2026-03-02', campaignId: '70000001', adId: '0' },
    ]);
  });

  it.each([
    ['currency units', false],
    ['micros', true],
  ])('a whole sandbox report in %s sums to the ground truth', async (_label, micros) => {
    const seed = 99;
    const since = '2026-05-01';
    const until = '2026-05-10';
    let impressions = 0;
    let cents = 0;
    let rows = 0;
    for (const login of DIRECT_SANDBOX_LOGINS) {
      const body = Buffer.from(
        renderReport(directWorld(seed), seed, login, {
          reportName: 'r',
          since,
          until,
          fields: REPORT_FIELDS,
          micros,
          includeVat: false,
          skipReportHeader: false,
          skipColumnHeader: false,
          skipReportSummary: false,
          malformed: false,
        }),
      );
      const scan = await scanReport(body);
      const money = detectMoneyUnit('currency', scan.costs);
      expect(money).toBe(micros ? 'micros' : 'currency');
      for await (const line of parseReportTsv(body, { money })) {
        expect(line.kind).toBe('row');
        if (line.kind !== 'row') continue;
        rows++;
        impressions += line.record.impressions;
        cents += Math.round(line.record.cost * 100);
      }
    }
    const truth = expectedDirectTotals(seed, since, until);
    expect({ rows, impressions, cost: cents / 100 }).toEqual({ rows: truth.rows, impressions: truth.impressions, cost: truth.cost });
  });
});

describe('tombstone scope helpers', () => {
  it('FACT_KEY holds client_login and date; a bad line covers the stored keys its readable cells agree with', () => {
    expect(FACT_KEY).toContain('client_login');
    expect(FACT_KEY).toContain('date');
    const key = { client_login: 'msk-concerts', campaign_id: '70000002', ad_id: '16000000001', date: '2026-03-01' };
    expect(coveredByBadLine(key, { date: '2026-03-01', campaignId: '70000002', adId: '16000000001' })).toBe(true);
    expect(coveredByBadLine(key, { campaignId: '70000002', adId: '16000000001' })).toBe(true);
    expect(coveredByBadLine(key, {})).toBe(true);
    expect(coveredByBadLine(key, { date: '2026-03-02', campaignId: '70000002', adId: '16000000001' })).toBe(false);
    expect(coveredByBadLine(key, { date: '2026-03-01', adId: '16000000002' })).toBe(false);
  });
});
