// Pure transforms of the qtickets_sheets loader: serial and formatted dates, money strings, cities,
// header-driven column mapping, and whole rows (property-style where a round trip exists).
import { describe, expect, it } from 'vitest';
import { formatMoney } from '../loaders/qtickets_sheets/sandbox.js';
import {
  cellWallClock,
  eventRow,
  normalizeCity,
  parseCount,
  parseCurrency,
  parseDateText,
  parseMoney,
  rangeSheet,
  rangeStartRow,
  resolveColumns,
  saleFields,
  serialToWallClock,
  toReportingDay,
  toUtcDateTime,
  wallClockToSerial,
  type SheetContext,
} from '../loaders/qtickets_sheets/transform.js';
import { seededRandom } from '../src/runtime/sandbox.js';
import { addDays } from '../src/runtime/dates.js';

const MSK: SheetContext = { sheet: 'Sales', sheetTz: 'Europe/Moscow', reportingTz: 'Europe/Moscow' };

describe('date serials', () => {
  it('knows the epoch: 1899-12-30 is 0, noon on 1900-01-01 is 2.5, 1970-01-01 is 25569', () => {
    expect(wallClockToSerial('1970-01-01')).toBe(25569);
    expect(serialToWallClock(25569)).toEqual({ day: '1970-01-01', time: null });
    expect(serialToWallClock(46361)).toEqual({ day: '2026-12-05', time: null });
    expect(serialToWallClock(46361 + 19 / 24)).toEqual({ day: '2026-12-05', time: '19:00:00' });
  });

  it('round-trips any day and second of 1970..2100 (19:00 stored as 0.79166… does not become 18:59:59)', () => {
    const rng = seededRandom(7);
    for (let i = 0; i < 2000; i++) {
      const day = addDays('1970-01-01', Math.floor(rng() * 47_000));
      const s = Math.floor(rng() * 86_400);
      const time = `${String(Math.floor(s / 3600)).padStart(2, '0')}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
      expect(serialToWallClock(wallClockToSerial(day, time))).toEqual({ day, time: s === 0 ? null : time });
      expect(serialToWallClock(wallClockToSerial(day))).toEqual({ day, time: null });
    }
  });

  it('refuses serials outside the storable years and non-finite numbers', () => {
    expect(serialToWallClock(1)).toBeNull();
    expect(serialToWallClock(Number.NaN)).toBeNull();
    expect(serialToWallClock(1e9)).toBeNull();
  });

  it('converts the sheet wall-clock to UTC instants and Moscow days', () => {
    const wc = serialToWallClock(46361 + 1.5 / 24)!; // 2026-12-05 01:30 in the sheet
    expect(toUtcDateTime(wc, 'Europe/Moscow')).toBe('2026-12-04 22:30:00');
    expect(toReportingDay(wc, 'Europe/Moscow', 'Europe/Moscow')).toBe('2026-12-05');
    // A sheet kept in Yekaterinburg time (UTC+5): 01:30 there is 23:30 the day before in Moscow.
    expect(toUtcDateTime(wc, 'Asia/Yekaterinburg')).toBe('2026-12-04 20:30:00');
    expect(toReportingDay(wc, 'Asia/Yekaterinburg', 'Europe/Moscow')).toBe('2026-12-04');
    // A date without a time is a calendar day, whatever the zones.
    expect(toReportingDay(serialToWallClock(46361)!, 'Asia/Yekaterinburg', 'Europe/Moscow')).toBe('2026-12-05');
    expect(toUtcDateTime(serialToWallClock(46361)!, 'Europe/Moscow')).toBe('2026-12-04 21:00:00');
  });
});

describe('formatted dates', () => {
  it.each([
    ['05.12.2026', { day: '2026-12-05', time: null }],
    ['5.1.2027', { day: '2027-01-05', time: null }],
    ['05.12.2026 19:00', { day: '2026-12-05', time: '19:00:00' }],
    ['05.12.2026 19:00:30', { day: '2026-12-05', time: '19:00:30' }],
    ['05.12.2026, 9:05', { day: '2026-12-05', time: '09:05:00' }],
    ['2026-12-05', { day: '2026-12-05', time: null }],
    ['2026-12-05 19:00:00', { day: '2026-12-05', time: '19:00:00' }],
    ['2026-12-05T19:00:00.123', { day: '2026-12-05', time: '19:00:00' }],
    ['2026-12-05T16:00:00Z', { day: '2026-12-05', time: '16:00:00', offsetMinutes: 0 }],
    ['2026-12-05T19:00:00+03:00', { day: '2026-12-05', time: '19:00:00', offsetMinutes: 180 }],
  ])('%s', (text, expected) => {
    expect(parseDateText(text)).toEqual(expected);
  });

  it.each(['32.13.2026', '31.02.2027', '29.02.2027', '05.12.26', '2026-13-01', '05.12.2026 25:00', 'вчера', '', '2026/12/05', '1.1.1969'])('refuses %j', (text) => {
    expect(parseDateText(text)).toBeNull();
  });

  it('ISO with an offset is an instant; its Moscow day may differ from the written day', () => {
    const wc = parseDateText('2026-12-05T22:30:00Z')!;
    expect(toUtcDateTime(wc, 'Asia/Yekaterinburg')).toBe('2026-12-05 22:30:00');
    expect(toReportingDay(wc, 'Asia/Yekaterinburg', 'Europe/Moscow')).toBe('2026-12-06');
  });

  it('the formatted and the serial form of the same cell agree', () => {
    const rng = seededRandom(11);
    for (let i = 0; i < 500; i++) {
      const day = addDays('2020-01-01', Math.floor(rng() * 3000));
      const time = `${String(Math.floor(rng() * 24)).padStart(2, '0')}:${String(Math.floor(rng() * 60)).padStart(2, '0')}:00`;
      const text = `${day.slice(8, 10)}.${day.slice(5, 7)}.${day.slice(0, 4)} ${time}`;
      expect(toUtcDateTime(cellWallClock(text)!, 'Europe/Moscow')).toBe(toUtcDateTime(cellWallClock(wallClockToSerial(day, time))!, 'Europe/Moscow'));
    }
  });
});

describe('money and counts', () => {
  it.each([
    ['1 234,50 ₽', 123450, 'RUB'],
    ['1\u00a0234,50\u00a0₽', 123450, 'RUB'],
    ['1\u202f234,5 руб.', 123450, 'RUB'],
    ['₽1234.5', 123450, 'RUB'],
    ['1,234.50', 123450, null],
    ['1.234,50', 123450, null],
    ['1 000 000', 100000000, null],
    ['12,3450', 1235, null], // one comma is a decimal comma; half-up on the third decimal
    ['1,234,567', 123456700, null],
    ['$ 99.99', 9999, 'USD'],
    ['-150,00', -15000, null],
    ['\u2212150', -15000, null],
    ['0', 0, null],
  ])('%j -> %d kopecks', (text, cents, currency) => {
    expect(parseMoney(text)).toEqual({ cents, currency });
  });

  it.each(['abc', '', '1 234,50 ₽ x', '12-3', '--5', ',', '1..2,,3'])('refuses %j', (text) => {
    expect(parseMoney(text)).toBeNull();
  });

  it('numbers are exact in kopecks (binary fractions do not leak)', () => {
    expect(parseMoney(1234.5)).toEqual({ cents: 123450, currency: null });
    expect(parseMoney(0.1 + 0.2)).toEqual({ cents: 30, currency: null });
    expect(parseMoney(1.005)).toEqual({ cents: 101, currency: null });
    expect(parseMoney(Number.NaN)).toBeNull();
    expect(parseMoney(true)).toBeNull();
  });

  it('round-trips what a Russian-locale sheet shows', () => {
    const rng = seededRandom(3);
    for (let i = 0; i < 2000; i++) {
      const cents = Math.floor(rng() * 1e10);
      expect(parseMoney(formatMoney(cents))).toEqual({ cents, currency: 'RUB' });
    }
  });

  it('counts: whole and non-negative only', () => {
    expect(parseCount(3)).toBe(3);
    expect(parseCount('1 200')).toBe(1200);
    expect(parseCount('2,0')).toBe(2);
    expect(parseCount(2.5)).toBeNull();
    expect(parseCount('-1')).toBeNull();
    expect(parseCount('много')).toBeNull();
    expect(parseCount('5 ₽')).toBeNull();
  });

  it('currencies', () => {
    expect(parseCurrency('rub')).toBe('RUB');
    expect(parseCurrency('RUR')).toBe('RUB');
    expect(parseCurrency('₽')).toBe('RUB');
    expect(parseCurrency('руб.')).toBe('RUB');
    expect(parseCurrency('USD')).toBe('USD');
    expect(parseCurrency('рубли и доллары')).toBeNull();
  });
});

describe('cities', () => {
  it.each([
    ['MSK', 'msk'],
    [' Spb ', 'spb'],
    ['Nizhny_Novgorod\u00a0', 'nizhny_novgorod'],
    ['Нижний   Новгород', 'нижний новгород'],
    ['', ''],
  ])('%j -> %j', (raw, city) => {
    expect(normalizeCity(raw)).toBe(city);
  });
});

describe('header mapping', () => {
  it('finds columns by header text in any order, ignoring case, spaces and extra columns', () => {
    const header = ['Комментарий', 'валюта', 'Сумма ', 'БИЛЕТОВ', 'Дата продажи', 'Город', 'ID  заказа'];
    const cols = resolveColumns('sales', header);
    expect(cols.missingRequired).toEqual([]);
    expect(cols.index).toMatchObject({ order_id: 6, sold_at: 4, tickets: 3, revenue: 2, currency: 1, city: 5 });
    expect(cols.index.event_date).toBeUndefined();
  });

  it('knows English headers', () => {
    const cols = resolveColumns('sales', ['Order ID', 'Event ID', 'Event date', 'Sold at', 'Tickets', 'Revenue', 'Currency']);
    expect(cols.missingRequired).toEqual([]);
    expect(cols.index).toMatchObject({ order_id: 0, event_id: 1, event_date: 2, sold_at: 3, tickets: 4, revenue: 5, currency: 6 });
  });

  it('overrides replace a field’s defaults; missing required columns are listed', () => {
    const cols = resolveColumns('sales', ['Номер', 'Когда', 'Шт', 'Итого'], { sales: { order_id: 'номер', sold_at: ['Когда'], tickets: 'Шт', revenue: 'Итого' } });
    expect(cols.missingRequired).toEqual([]);
    expect(cols.index).toMatchObject({ order_id: 0, sold_at: 1, tickets: 2, revenue: 3 });
    const missing = resolveColumns('sales', ['ID заказа', 'Сумма']);
    expect(missing.missingRequired.map((m) => m.split(' ')[0])).toEqual(['sold_at', 'tickets']);
  });

  it('one column serves one field (the first alias that matches wins)', () => {
    const cols = resolveColumns('events', ['ID', 'Дата', 'Дата мероприятия']);
    expect(cols.index).toMatchObject({ event_id: 0, event_date: 2 });
  });

  it('ranges: start row and sheet name of the echoed range', () => {
    expect(rangeStartRow('Events!A1:Z1000')).toBe(1);
    expect(rangeStartRow("'Продажи 2026'!B3:H")).toBe(3);
    expect(rangeStartRow('Events')).toBe(1);
    expect(rangeSheet("'Продажи 2026'!B3:H")).toBe('Продажи 2026');
    expect(rangeSheet("'It''s'!A1")).toBe("It's");
    expect(rangeSheet('Sales!A1:Z')).toBe('Sales');
  });
});

describe('rows', () => {
  const salesHeader = ['ID заказа', 'ID мероприятия', 'Город', 'Дата мероприятия', 'Дата продажи', 'Билетов', 'Сумма'];
  const cols = resolveColumns('sales', salesHeader);

  it('a sales row from unformatted cells, city and event date borrowed from the Events tab when blank', () => {
    const r = saleFields([700001, 5001, '', '', 46340 + 0.5, 2, 3000], cols, MSK, 12, (id) => (id === '5001' ? { event_name: 'Шоу', city: 'msk', event_date: '2026-12-05' } : undefined));
    expect(r).toEqual({
      ok: true,
      value: { order_id: '700001', event_id: '5001', event_name: 'Шоу', city: 'msk', event_date: '2026-12-05', sold_at: '2026-11-14 09:00:00', tickets: 2, revenue: 3000, currency: 'RUB', sheet_row: 12 },
    });
  });

  it('the same row formatted gives the same values', () => {
    const a = saleFields([700001, 5001, 'MSK', 46361, 46340 + 0.5, 2, 3000.5], cols, MSK, 12);
    const b = saleFields(['700001', '5001', ' msk ', '05.12.2026', '14.11.2026 12:00', '2', '3 000,50 ₽'], cols, MSK, 12);
    expect(a).toEqual(b);
    expect(a.ok && a.value.revenue).toBe(3000.5);
  });

  it('bad cells name the sheet, the row and the column', () => {
    const r = saleFields(['700001', '5001', 'msk', '32.13.2026', 46340, 1, 100], cols, MSK, 17);
    expect(r).toEqual({ ok: false, column: 'Дата мероприятия', reason: 'Sales row 17, column "Дата мероприятия" (event_date): not a date, got "32.13.2026"' });
    expect(saleFields(['700001', '5001', 'msk', '', 46340, 1, 'abc'], cols, MSK, 18)).toMatchObject({ ok: false, reason: expect.stringMatching(/revenue.*"abc"/) });
    expect(saleFields(['', '5001', 'msk', '', 46340, 1, 100], cols, MSK, 19)).toMatchObject({ ok: false, reason: expect.stringMatching(/order_id\): empty/) });
    expect(saleFields(['1', '5001', 'msk', '', 46340, 1, '-100'], cols, MSK, 20)).toMatchObject({ ok: false, reason: expect.stringMatching(/negative revenue/) });
  });

  it('an event row', () => {
    const ec = resolveColumns('events', ['ID мероприятия', 'Название', 'Город', 'Дата и время', 'Площадка', 'Вместимость']);
    const r = eventRow([5001, 'Шоу', ' MSK', 46361 + 19 / 24, 'Клуб', 800], ec, { ...MSK, sheet: 'Events' }, 2);
    expect(r).toEqual({ ok: true, value: { event_id: '5001', event_name: 'Шоу', city: 'msk', event_date: '2026-12-05', starts_at: '2026-12-05 16:00:00', venue: 'Клуб', capacity: 800, sheet_row: 2 } });
  });
});

describe('reportingCity', () => {
  it('maps sheet city names to the UTM names, leaving unknown ones as normalized', async () => {
    const { reportingCity } = await import('../loaders/qtickets_sheets/transform.js');
    const map = { москва: 'msk', 'санкт-петербург': 'spb' };
    expect(reportingCity('  Москва ', map)).toBe('msk');
    expect(reportingCity('САНКТ-ПЕТЕРБУРГ', map)).toBe('spb');
    expect(reportingCity('Казань', map)).toBe('казань');
    expect(reportingCity('MSK', undefined)).toBe('msk');
  });
});
