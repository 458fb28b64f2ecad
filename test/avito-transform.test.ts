// Avito payload -> row transforms: items, stats, operations (classification, ids, daily spend), chats, messages.
import { describe, expect, it } from 'vitest';
import {
  assignOperationIds,
  chatRow,
  classifyOperation,
  dailySpend,
  itemRow,
  messageRow,
  messageText,
  moscowDay,
  operationWindows,
  parseAvitoTime,
  parseKopecks,
  parseOperation,
  statsBatches,
  statsToRows,
  type ParsedOperation,
} from '../loaders/avito/transform.js';

const op = (o: Record<string, unknown>): ParsedOperation => {
  const r = parseOperation('p', o);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
};

describe('avito transform', () => {
  it('maps items; price null stays null; a bad id or price is rejected', () => {
    const ok = itemRow('p', 'tenant', { id: 3000000001, title: 'Билеты, msk', price: 1500, status: 'removed', url: null, address: 'msk', category: { id: 111, name: 'Концерты' } });
    expect(ok).toEqual({ ok: true, value: { profile: 'p', item_id: 3000000001, title: 'Билеты, msk', status: 'removed', price: 1500, url: '', address: 'msk', category_id: 111, category_name: 'Концерты', client: 'tenant' } });
    const free = itemRow('p', '', { id: '42', price: null });
    expect(free.ok && free.value.price).toBe(null);
    expect(itemRow('p', '', { id: 'abc' })).toMatchObject({ ok: false, reason: expect.stringMatching(/invalid item id/) });
    expect(itemRow('p', '', { id: 5, price: 'бесплатно' })).toMatchObject({ ok: false, reason: expect.stringMatching(/invalid price/) });
  });

  it('parses money into exact kopecks', () => {
    expect(parseKopecks(533.25)).toBe(53325);
    expect(parseKopecks('0.1')).toBe(10);
    expect(parseKopecks('12,3450')).toBe(1235);
    expect(parseKopecks('12,345')).toBeNull(); // ambiguous: twelve thousand or twelve and a third?
    expect(parseKopecks(0.1 + 0.2)).toBe(30);
    expect(parseKopecks('n/a')).toBe(null);
    expect(parseKopecks(undefined)).toBe(null);
  });

  it('stats: one row per reported day; unknown items, dates outside the window, bad counters rejected; last duplicate wins', () => {
    const r = statsToRows('p', new Set([10, 11]), '2026-01-01', '2026-01-03', [
      { itemId: 10, stats: [{ date: '2026-01-01', uniqViews: 5, uniqContacts: 1, uniqFavorites: 0 }, { date: '2026-01-01', uniqViews: 6, uniqContacts: 2, uniqFavorites: 1 }] },
      { itemId: 11, stats: [] },
      { itemId: 12, stats: [{ date: '2026-01-02', uniqViews: 1 }] },
      { itemId: 10, stats: [{ date: '2026-01-09', uniqViews: 1 }, { date: '2026-01-02', uniqViews: -1 }, { date: '2026-01-03' }] },
      { itemId: 11 },
    ]);
    expect(r.rows).toEqual([
      { profile: 'p', item_id: 10, date: '2026-01-01', views: 6, contacts: 2, favorites: 1 },
      { profile: 'p', item_id: 10, date: '2026-01-03', views: 0, contacts: 0, favorites: 0 },
    ]);
    expect(r.duplicates).toBe(1);
    expect(r.rejected.map((x) => x.reason)).toEqual([
      'stats item without a stats list',
      'unknown item 12 (not requested)',
      'date 2026-01-09 outside the requested window 2026-01-01..2026-01-03',
      expect.stringMatching(/^invalid counters uniqViews=-1/),
    ]);
    expect(r.read).toBe(r.rows.length + r.rejected.length + r.duplicates);
  });

  it('batches ≤200 ids', () => {
    const ids = Array.from({ length: 430 }, (_, i) => i + 1);
    expect(statsBatches(ids, 200).map((b) => b.length)).toEqual([200, 200, 30]);
  });

  it('classifies operation types: charges, refunds (сторно, чарджбэк, returned reservations), the rest not spend', () => {
    expect(classifyOperation('резервирование средств под услугу')).toBe('charge');
    expect(classifyOperation('Резервирование под автостратегию')).toBe('charge');
    expect(classifyOperation('списание в счёт кредита')).toBe('charge');
    expect(classifyOperation('постоплата')).toBe('charge');
    expect(classifyOperation('сторно')).toBe('refund');
    expect(classifyOperation('чарджбэк')).toBe('refund');
    expect(classifyOperation('возврат зарзервированных средств на баланс кошелька')).toBe('refund');
    expect(classifyOperation('возврат зарезервированных средств под автостатегию на кошелек')).toBe('refund');
    for (const t of ['аванс', 'внесение CPA аванса', 'возврат CPA аванса', 'возврат аванса', 'сжигание бонусов', 'признание выручки', 'списание остатка', 'опротестовано', 'что-то новое']) {
      expect(classifyOperation(t)).toBe('other');
    }
  });

  it('dates operations by paidAt in Moscow; microseconds and offsets are read', () => {
    expect(parseAvitoTime('2020-04-27T10:51:50.012436+03:00')).toBe(Date.parse('2020-04-27T07:51:50.012Z'));
    expect(parseAvitoTime('2020-04-27T00:30:00Z')).toBe(Date.parse('2020-04-27T00:30:00Z'));
    expect(parseAvitoTime('2020-04-27 10:00:00')).toBe(Date.parse('2020-04-27T07:00:00Z'));
    expect(parseAvitoTime('yesterday')).toBe(null);
    const o = op({ amountRub: 533.25, amountBonus: 25.75, amountTotal: 559, itemId: 2088927989, operationType: 'резервирование средств под услугу', paidAt: '2026-01-01T23:30:00+00:00', serviceId: 23 });
    expect(o.row).toMatchObject({ date: '2026-01-02', paid_at: '2026-01-01 23:30:00', kind: 'charge', amount_rub: 533.25, amount_bonus: 25.75, amount_total: 559, item_id: 2088927989 });
    expect(parseOperation('p', { operationType: 'сторно', amountRub: 'n/a', paidAt: '2026-01-01T10:00:00+03:00' })).toMatchObject({ ok: false, reason: expect.stringMatching(/invalid amount/) });
    expect(parseOperation('p', { operationType: 'сторно', amountRub: 1 })).toMatchObject({ ok: false, reason: expect.stringMatching(/paidAt/) });
  });

  it('operation ids are stable, ignore updatedAt, and tell identical twins apart', () => {
    const base = { amountRub: 100, operationType: 'сторно', paidAt: '2026-01-01T10:00:00+03:00', serviceId: 1 };
    const a = assignOperationIds([op(base), op({ ...base, updatedAt: '2026-01-05T10:00:00+03:00' }), op({ ...base, amountRub: 101 })]);
    const b = assignOperationIds([op({ ...base, updatedAt: '2026-02-01T00:00:00+03:00' }), op(base), op({ ...base, amountRub: 101 })]);
    expect(new Set(a.map((x) => x.row.operation_id)).size).toBe(3);
    expect(a.map((x) => x.row.operation_id)).toEqual(b.map((x) => x.row.operation_id));
  });

  it('daily spend: charges minus refunds, other types ignored, every day of the window present', () => {
    const ops = [
      op({ amountRub: 100.5, amountBonus: 10, operationType: 'резервирование средств под услугу', paidAt: '2026-01-01T10:00:00+03:00' }),
      op({ amountRub: 30.25, operationType: 'сторно', paidAt: '2026-01-01T11:00:00+03:00' }),
      op({ amountRub: 5000, operationType: 'аванс', paidAt: '2026-01-01T12:00:00+03:00' }),
      op({ amountRub: 7, operationType: 'чарджбэк', paidAt: '2026-01-03T12:00:00+03:00' }),
      op({ amountRub: 99, operationType: 'постоплата', paidAt: '2026-01-09T12:00:00+03:00' }),
    ];
    expect(dailySpend('p', ops, '2026-01-01', '2026-01-03')).toEqual([
      { profile: 'p', date: '2026-01-01', spend: 70.25, spend_bonus: 10, operations: 2, currency: 'RUB' },
      { profile: 'p', date: '2026-01-02', spend: 0, spend_bonus: 0, operations: 0, currency: 'RUB' },
      { profile: 'p', date: '2026-01-03', spend: -7, spend_bonus: 0, operations: 1, currency: 'RUB' },
    ]);
  });

  it('operations windows are at most 7 days, Moscow midnights, covering the range', () => {
    const w = operationWindows('2026-01-01', '2026-01-16', 7);
    expect(w.map((x) => [x.from, x.to])).toEqual([['2026-01-01', '2026-01-07'], ['2026-01-08', '2026-01-14'], ['2026-01-15', '2026-01-16']]);
    expect(w[0]).toMatchObject({ fromIso: '2026-01-01T00:00:00+03:00', toIso: '2026-01-08T00:00:00+03:00' });
    expect(moscowDay(Date.parse('2026-01-01T21:00:00Z'))).toBe('2026-01-02');
  });

  it('chats: item context, the counterpart is the other user; no context means item 0', () => {
    const c = chatRow('p', 1, { id: 'u2i-1', created: 1767225600, updated: 1767229200, context: { type: 'item', value: { id: 42, title: 'Билеты' } }, users: [{ id: 1, name: 'Мы' }, { id: 2, name: 'Анна' }] });
    expect(c).toEqual({ ok: true, value: { updated: 1767229200, row: { profile: 'p', chat_id: 'u2i-1', item_id: 42, item_title: 'Билеты', counterpart_id: '2', counterpart_name: 'Анна', created_at: '2026-01-01 00:00:00', updated_at: '2026-01-01 01:00:00' } } });
    const u2u = chatRow('p', 1, { id: 'u2u-1', created: 1767225600, updated: 1767225600, users: [{ id: 3, name: 'Пётр' }] });
    expect(u2u.ok && u2u.value.row).toMatchObject({ item_id: 0, item_title: '', counterpart_id: '3' });
    expect(chatRow('p', 1, { created: 1 })).toMatchObject({ ok: false, reason: 'chat without an id' });
  });

  it('messages: text as is, placeholders for attachments and unsupported types', () => {
    expect(messageText('text', { text: 'Привет 😊' })).toBe('Привет 😊');
    expect(messageText('image', { image: { sizes: { '140x105': 'https://s/small.jpg', '1280x960': 'https://s/big.jpg' } } })).toBe('[image] https://s/big.jpg');
    expect(messageText('link', { link: { text: 'Схема', url: 'https://x/y' } })).toBe('[link] Схема https://x/y');
    expect(messageText('voice', { voice: { voice_id: 'v1' } })).toBe('[voice] v1');
    expect(messageText('location', { location: { text: 'Тверская, 1', lat: 55.7, lon: 37.6 } })).toBe('[location] Тверская, 1 55.7,37.6');
    expect(messageText('deleted', {})).toBe('[deleted]');
    expect(messageText('file', {})).toBe('[file]');
    const m = messageRow('p', 'c1', { id: 'm1', author_id: 94235311, created: 1767225600, type: 'text', direction: 'out', is_read: true, content: { text: 'Да' } });
    expect(m).toEqual({ ok: true, value: { profile: 'p', chat_id: 'c1', message_id: 'm1', created_at: '2026-01-01 00:00:00', direction: 'out', author_id: '94235311', message_type: 'text', text: 'Да', is_read: 1 } });
    expect(messageRow('p', 'c1', { id: 'm2', type: 'text', direction: 'in' })).toMatchObject({ ok: false, reason: expect.stringMatching(/without a valid created/) });
    expect(messageRow('p', 'c1', { id: 'm3', created: 5, direction: 'sideways' })).toMatchObject({ ok: false });
  });
});
