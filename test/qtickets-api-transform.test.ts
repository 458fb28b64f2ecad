// Pure mapping of QTickets REST payloads: money, Moscow days, cities, show rows and order lines.
import { describe, expect, it } from 'vitest';
import { dayIn, eventCity, eventToRows, isoWithOffset, orderToRows, parseMoneyCents, type EventInfo, type OrderContext, type ShowInfo } from '../loaders/qtickets_api/transform.js';

const TZ = 'Europe/Moscow';

describe('qtickets_api transform: money and time', () => {
  it('parses float and string prices into exact kopecks', () => {
    expect(parseMoneyCents(1999.9)).toBe(199990);
    expect(parseMoneyCents(0.1 + 0.2)).toBe(30);
    expect(parseMoneyCents(2241.45)).toBe(224145);
    expect(parseMoneyCents('1234.567')).toBe(123457);
    expect(parseMoneyCents('1500,5')).toBe(150050);
    expect(parseMoneyCents(0)).toBe(0);
    expect(parseMoneyCents('abc')).toBeNull();
    expect(parseMoneyCents(null)).toBeNull();
    expect(parseMoneyCents(Number.NaN)).toBeNull();
  });

  it('dates a show by its Moscow day, whatever offset the instant is written in', () => {
    expect(dayIn(Date.parse('2026-12-05T00:30:00+03:00'), TZ)).toBe('2026-12-05');
    expect(dayIn(Date.parse('2026-12-04T21:30:00Z'), TZ)).toBe('2026-12-05');
    expect(dayIn(Date.parse('2026-12-05T23:59:00+03:00'), TZ)).toBe('2026-12-05');
  });

  it('writes filter instants with a colon offset', () => {
    expect(isoWithOffset(Date.parse('2026-11-19T21:00:00Z'), TZ)).toBe('2026-11-20T00:00:00+03:00');
  });
});

describe('qtickets_api transform: events', () => {
  it('takes the city from the city map, else from a <city>_<dd>_<mm> tag in external_id or the name', () => {
    expect(eventCity({ city_id: 1, external_id: null, name: 'Концерт' }, { '1': 'MSK ' }, '2026-12-05')).toBe('msk');
    expect(eventCity({ city_id: 9, external_id: 'spb_20_12', name: 'Концерт' }, { '1': 'msk' }, '2026-12-20')).toBe('spb');
    expect(eventCity({ city_id: null, external_id: null, name: 'Тур nizhny_novgorod_03_03 (перенос)' }, {}, '2027-03-03')).toBe('nizhny_novgorod');
    expect(eventCity({ city_id: 5, external_id: 'qt-17', name: 'Концерт в Москве' }, {}, '2026-12-05')).toBe('');
  });

  it('makes one dim_events row per show and quarantines a show without a start date', () => {
    const r = eventToRows(
      {
        id: 7000,
        name: ' Концерт ',
        city_id: 1,
        place_name: 'Клуб 1',
        deleted_at: '2026-11-01T10:00:00+03:00',
        shows: [
          { id: 70001, start_date: '2026-12-05T19:30:00+03:00' },
          { id: 70002, start_date: '2026-12-04T21:30:00Z' },
          { id: 70009, start_date: 'TBA' },
        ],
      },
      { '1': 'msk' },
      TZ,
    );
    expect(r.read).toBe(3);
    expect(r.rows).toEqual([
      { source: 'qtickets_api', event_id: '7000', show_id: '70001', event_name: 'Концерт', city: 'msk', event_date: '2026-12-05', venue: 'Клуб 1', capacity: 0, _deleted: 0 },
      { source: 'qtickets_api', event_id: '7000', show_id: '70002', event_name: 'Концерт', city: 'msk', event_date: '2026-12-05', venue: 'Клуб 1', capacity: 0, _deleted: 0 },
    ]);
    expect(r.rejected).toHaveLength(1);
    expect(r.rejected[0]!.reason).toMatch(/start_date is not a date/);
    expect(r.event).toEqual({ event_id: '7000', event_name: 'Концерт', city: 'msk' });
  });

  it('counts an event without shows as read and skipped, and quarantines a malformed event', () => {
    const empty = eventToRows({ id: 1, name: 'x', shows: [] }, {}, TZ);
    expect(empty).toMatchObject({ read: 1, skipped: 1, rows: [] });
    const bad = eventToRows({ name: 'no id' }, {}, TZ);
    expect(bad.read).toBe(1);
    expect(bad.rejected[0]!.reason).toMatch(/invalid event: id/);
  });
});

describe('qtickets_api transform: orders', () => {
  const show: ShowInfo = { event_id: '7000', show_id: '70001', event_name: 'Концерт', city: 'msk', event_date: '2026-12-05', venue: 'Клуб' };
  const event: EventInfo = { event_id: '7000', event_name: 'Концерт', city: 'msk' };
  const ctx: OrderContext = {
    fromMs: Date.parse('2026-11-01T00:00:00+03:00'),
    toMs: Date.parse('2026-11-04T00:00:00+03:00'),
    shows: new Map([['70001', show]]),
    events: new Map([['7000', event]]),
  };
  const basket = (id: number, extra: Record<string, unknown> = {}) => ({ id, show_id: 70001, price: 1999.9, quantity: 1, deleted_at: null, refunded_at: null, ...extra });
  const order = (extra: Record<string, unknown> = {}) => ({
    id: 501,
    payed: true,
    payed_at: '2026-11-02T12:50:52+03:00',
    updated_at: '2026-11-02T12:55:00+03:00',
    deleted_at: null,
    event_id: 7000,
    currency_id: 'RUB',
    price: 5999.7,
    baskets: [basket(5010), basket(5011, { refunded_at: '2026-11-03T10:00:00+03:00', refunded_amount: 1999.9 }), basket(5012, { deleted_at: '2026-11-03T10:00:00+03:00' })],
    ...extra,
  });

  it('writes one row per basket; refunded and deleted baskets count zero', () => {
    const r = orderToRows(order(), ctx);
    expect(r.read).toBe(3);
    expect(r.rejected).toEqual([]);
    expect(r.rows.map((x) => [x.line_id, x.status, x.tickets, x.revenue])).toEqual([
      ['5010', 'paid', 1, 1999.9],
      ['5011', 'refunded', 0, 0],
      ['5012', 'cancelled', 0, 0],
    ]);
    expect(r.rows[0]).toMatchObject({ source: 'qtickets_api', order_id: '501', event_id: '7000', show_id: '70001', city: 'msk', event_date: '2026-12-05', sold_at: '2026-11-02 09:50:52', currency: 'RUB', src_msg_id: '', _deleted: 0 });
  });

  it('a deleted order cancels every line', () => {
    const r = orderToRows(order({ deleted_at: '2026-11-03T09:00:00+03:00' }), ctx);
    expect(r.rows.map((x) => x.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    expect(r.rows.reduce((s, x) => s + x.revenue + x.tickets, 0)).toBe(0);
  });

  it('skips (and counts) orders outside the window or not paid, whatever the server sent', () => {
    expect(orderToRows(order({ updated_at: '2026-11-04T00:00:00+03:00' }), ctx)).toMatchObject({ read: 3, skipped: 3, rows: [] });
    expect(orderToRows(order({ updated_at: '2026-10-31T23:59:59+03:00' }), ctx)).toMatchObject({ read: 3, skipped: 3, rows: [] });
    expect(orderToRows(order({ payed: false, payed_at: null }), ctx)).toMatchObject({ read: 3, skipped: 3, rows: [] });
  });

  it('quarantines a paid order without payed_at and a basket with a price that is not a number', () => {
    const noPaidAt = orderToRows(order({ payed_at: null }), ctx);
    expect(noPaidAt).toMatchObject({ read: 1, rows: [] });
    expect(noPaidAt.rejected[0]!.reason).toMatch(/without a valid payed_at/);
    const badPrice = orderToRows(order({ baskets: [basket(1, { price: 'abc' }), basket(2)] }), ctx);
    expect(badPrice.read).toBe(2);
    expect(badPrice.rows.map((x) => x.line_id)).toEqual(['2']);
    expect(badPrice.rejected[0]).toMatchObject({ key: '501|1' });
    expect(badPrice.rejected[0]!.reason).toMatch(/price is not a non-negative amount: "abc"/);
    const noShow = orderToRows(order({ baskets: [{ id: 3, price: 10 }] }), ctx);
    expect(noShow.rejected[0]!.reason).toMatch(/show_id/);
    expect(orderToRows({ id: 'x' }, ctx)).toMatchObject({ read: 1, rows: [] });
  });

  it('reports an unknown event so the loader can fetch it', () => {
    const r = orderToRows(order({ event_id: 9999, baskets: [basket(7, { show_id: 99991 })] }), ctx);
    expect(r.unknownEvent).toBe('9999');
    expect(r.rows[0]).toMatchObject({ city: '', event_date: null, revenue: 1999.9 });
  });
});
