// Pure parsers of the Gmail loader: MIME walking, base64url, charset detection, CSV dialect sniffing,
// HTML table extraction and the header-driven mapping of report rows.
import { describe, expect, it } from 'vitest';
import { windowQuery } from '../loaders/gmail/index.js';
import { decodeBase64Url, decodeEntities, decodeText, extractHtmlTables, isCsvPart, isHtmlBody, parseCsv, sniffDelimiter, walkParts, type MessagePart } from '../loaders/gmail/report.js';
import { mapHeader, normalizeHeader, parseMoneyCents, parseWallClock, reportToRows, wallClockToUtc } from '../loaders/gmail/transform.js';

const cp1251 = (text: string): Buffer => {
  const dec = new TextDecoder('windows-1251');
  const map = new Map<string, number>();
  for (let b = 0x80; b <= 0xff; b++) map.set(dec.decode(Uint8Array.of(b)), b);
  return Buffer.from([...text].map((ch) => (ch.charCodeAt(0) < 0x80 ? ch.charCodeAt(0) : map.get(ch)!)));
};

describe('MIME walking', () => {
  it('finds leaves at any depth, with charsets, inline data and attachment ids', () => {
    const payload: MessagePart = {
      partId: '',
      mimeType: 'multipart/mixed',
      parts: [
        {
          partId: '0',
          mimeType: 'multipart/related',
          parts: [
            { partId: '0.0', mimeType: 'multipart/alternative', parts: [
              { partId: '0.0.0', mimeType: 'text/plain', headers: [{ name: 'Content-Type', value: 'text/plain; charset="UTF-8"' }], body: { data: 'aGk' } },
              { partId: '0.0.1', mimeType: 'text/html', headers: [{ name: 'content-type', value: 'text/html; charset=windows-1251' }], body: { data: 'PGI-' } },
            ] },
            { partId: '0.1', mimeType: 'image/png', filename: 'logo.png', body: { attachmentId: 'img' } },
          ],
        },
        { partId: '1', mimeType: 'application/octet-stream', filename: 'report.CSV', body: { attachmentId: 'A1', size: 10 } },
        { partId: '2', mimeType: 'text/csv', filename: 'inline.csv', body: { data: 'YSxi', size: 3 } },
        { partId: '3', mimeType: 'multipart/alternative', parts: [] },
      ],
    };
    const leaves = walkParts(payload);
    expect(leaves.map((l) => l.partId)).toEqual(['0.0.0', '0.0.1', '0.1', '1', '2']);
    expect(leaves[1]).toMatchObject({ mimeType: 'text/html', charset: 'windows-1251', data: 'PGI-' });
    expect(leaves.filter(isCsvPart).map((l) => [l.filename, l.attachmentId, l.data])).toEqual([
      ['report.CSV', 'A1', null],
      ['inline.csv', null, 'YSxi'],
    ]);
    expect(leaves.filter(isHtmlBody).map((l) => l.partId)).toEqual(['0.0.1']);
  });

  it('decodes base64url without padding (and plain base64)', () => {
    const bytes = Buffer.from([0xfb, 0xff, 0xfe, 0x41]);
    expect(decodeBase64Url(bytes.toString('base64url'))).toEqual(bytes);
    expect(decodeBase64Url(bytes.toString('base64'))).toEqual(bytes);
  });
});

describe('encodings', () => {
  it('valid UTF-8 is UTF-8 (BOM dropped), anything else Windows-1251', () => {
    expect(decodeText(Buffer.from('\ufeffГород;Сумма', 'utf8'))).toEqual({ text: 'Город;Сумма', encoding: 'utf-8' });
    expect(decodeText(cp1251('Город;Сумма, руб.'))).toEqual({ text: 'Город;Сумма, руб.', encoding: 'windows-1251' });
    // Declared UTF-8 but the bytes are 1251 (Excel exports): sniffing wins.
    expect(decodeText(cp1251('Москва'), 'utf-8').text).toBe('Москва');
    expect(decodeText(cp1251('Москва'), 'windows-1251').text).toBe('Москва');
    expect(decodeText(cp1251('Москва'), 'cp1251').text).toBe('Москва');
  });
});

describe('CSV', () => {
  it('sniffs the separator outside quotes, past a title line', () => {
    expect(sniffDelimiter('Отчёт о продажах за 01.11.2026\n\nЗаказ;Сумма, руб.;Город\n1;"1,5";Москва')).toBe(';');
    expect(sniffDelimiter('Order ID,Event,City\n1,"A; B",msk')).toBe(',');
    expect(sniffDelimiter('a\tb\tc\n1\t2\t3')).toBe('\t');
    expect(sniffDelimiter('одна колонка')).toBe(';');
  });

  it('parses quoted separators, CRLF, ragged and blank lines, with source line numbers', () => {
    const t = parseCsv('Title\r\n\r\nA;B;C\r\n1;"x; y";3\r\n;;\r\n2;z\r\n');
    expect(t.rows).toEqual([
      { line: 1, cells: ['Title'] },
      { line: 3, cells: ['A', 'B', 'C'] },
      { line: 4, cells: ['1', 'x; y', '3'] },
      { line: 6, cells: ['2', 'z'] },
    ]);
  });

  it('throws on broken quoting (the loader quarantines the attachment)', () => {
    expect(() => parseCsv('a,b\n1,"unclosed\n')).toThrow();
  });
});

describe('HTML tables', () => {
  it('extracts th/td cells, decodes entities, <br> to space, ignores comments, reads nested tables separately', () => {
    const html = `<html><head><style>td{x:1}</style></head><body><table><tr><td><h2>Продажи</h2>
      <table border=1><thead><tr><th>№ заказа</th><th>Сумма</th></tr></thead>
      <tbody><tr><td>101</td><td>2&nbsp;490,50&nbsp;&#8381;</td></tr>
      <tr><td><b>102</b></td><td>1<br/>500 &amp; &#x41;</td>
      <tr><td></td><td></td></tr></tbody></table><!-- <table><tr><td>no</td></tr></table> --></td></tr></table></body></html>`;
    const tables = extractHtmlTables(html);
    expect(tables).toHaveLength(2);
    expect(tables[0]!.rows).toEqual([
      { line: 1, cells: ['№ заказа', 'Сумма'] },
      { line: 2, cells: ['101', '2 490,50 ₽'] },
      { line: 3, cells: ['102', '1 500 & A'] },
    ]);
    expect(tables[1]!.rows).toEqual([{ line: 1, cells: ['Продажи'] }]);
    expect(decodeEntities('&laquo;A&raquo; &bogus; &#0;')).toBe('«A» &bogus; &#0;');
  });
});

describe('report rows', () => {
  const ctx = { messageId: 'm1', attachment: 'r.csv', timeZone: 'Europe/Moscow', cityMap: { москва: 'msk', 'нижний новгород': 'nizhny_novgorod' } };

  it('maps Russian and English headers whatever their order and decoration', () => {
    expect(normalizeHeader(' Сумма, руб. ')).toBe('сумма');
    expect(normalizeHeader('Сумма (₽)')).toBe('сумма');
    expect(normalizeHeader('Order ID:')).toBe('order id');
    expect(mapHeader(['Город', 'Дата оплаты', 'Номер заказа', 'Кол-во билетов', 'Сумма, руб.']).columns).toEqual({ city: 0, sold_at: 1, order_id: 2, tickets: 3, revenue: 4 });
    expect(mapHeader(['Paid at', 'Order ID', 'Qty', 'Amount', 'Currency', 'Event date']).missing).toEqual([]);
    expect(mapHeader(['term', 'meaning']).missing).toEqual(['order_id', 'sold_at', 'tickets', 'revenue']);
  });

  it('parses money, dates and times', () => {
    expect(parseMoneyCents('2\u00a0490,50 ₽')).toBe(249050);
    expect(parseMoneyCents('1 234.5')).toBe(123450);
    expect(parseMoneyCents('1500 руб.')).toBe(150000);
    expect(parseMoneyCents('abc')).toBeNull();
    expect(parseMoneyCents('1,234.50')).toBeNull();
    expect(parseWallClock('05.12.2026')).toEqual({ day: '2026-12-05', time: '00:00:00' });
    expect(parseWallClock('2026-12-05T19:30')).toEqual({ day: '2026-12-05', time: '19:30:00' });
    expect(parseWallClock('31.02.2026 12:00')).toBeNull();
    expect(parseWallClock('01.11.2026 24:00')).toBeNull();
    expect(wallClockToUtc('01.11.2026 10:15:30', 'Europe/Moscow')).toBe('2026-11-01 07:15:30');
  });

  it('numbers lines within an order, skips totals, quarantines bad rows with line numbers and reasons', () => {
    const table = parseCsv(
      [
        'Отчёт о продажах за 01.11.2026',
        'Номер заказа;Мероприятие;Город;Дата мероприятия;Дата оплаты;Кол-во билетов;Сумма, руб.;Валюта',
        '900001;"Концерт; вечер";Москва;05.12.2026;01.11.2026 10:15:30;2;2 490,50;руб.',
        '900001;"Концерт; вечер";Москва;05.12.2026;01.11.2026 10:15:30;1;abc;руб.',
        '900001;"Концерт; вечер";Нижний Новгород;05.12.2026;01.11.2026 10:15:30;1;1500;USD',
        '900002;Концерт;  MSK ;;2026-11-01 23:59:59;3;4500.00;',
        ';;;;;;;',
        'Итого;;;;;7;9 480,50;',
      ].join('\n'),
    );
    const r = reportToRows(table, ctx);
    expect(r.notAReport).toBeNull();
    expect(r.read).toBe(5);
    expect(r.skipped).toBe(1);
    expect(r.rows.map((x) => [x.order_id, x.line_id, x.city, x.event_date, x.sold_at, x.tickets, x.revenue, x.currency, x.src_msg_id])).toEqual([
      ['900001', '1', 'msk', '2026-12-05', '2026-11-01 07:15:30', 2, 2490.5, 'RUB', 'm1'],
      ['900001', '3', 'nizhny_novgorod', '2026-12-05', '2026-11-01 07:15:30', 1, 1500, 'USD', 'm1'],
      ['900002', '1', 'msk', null, '2026-11-01 20:59:59', 3, 4500, 'RUB', 'm1'],
    ]);
    expect(r.rejected).toHaveLength(1);
    expect(r.rejected[0]!.reason).toBe('message m1, r.csv, line 4: sum is not a non-negative amount: "abc"');
    expect(r.rejected[0]!.key).toBe('900001|2');
    expect(r.read).toBe(r.rows.length + r.rejected.length + r.skipped);
  });

  it('a table without the required columns is not a report', () => {
    const r = reportToRows(parseCsv('term,meaning\nВалюта,ISO\n'), ctx);
    expect(r.notAReport).toMatch(/no header row names order_id, sold_at, tickets, revenue/);
    expect(r.read).toBe(0);
  });
});

describe('window query', () => {
  it('widens the Moscow window by a day each side (Gmail reads dates as Pacific midnight)', () => {
    expect(windowQuery(' from:qtickets ', '2026-11-01', '2026-11-07')).toBe('from:qtickets after:2026/10/31 before:2026/11/09');
  });
});
