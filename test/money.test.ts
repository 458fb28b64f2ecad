// The one money parser every loader uses: exact kopecks from numbers and display strings.
import { describe, expect, it } from 'vitest';
import { currencyCode, parseMoney, parseMoneyCents } from '../src/marketing/money.js';
import { seededRandom } from '../src/runtime/sandbox.js';

describe('parseMoney', () => {
  it.each([
    ['23328.92', 2332892, null],
    ['0', 0, null],
    ['-3.50', -350, null],
    ['1 234,50 ₽', 123450, 'RUB'],
    ['1\u00a0234,5 руб.', 123450, 'RUB'],
    ['$1,234.50', 123450, 'USD'],
    ['1.234,50 €', 123450, 'EUR'],
    ['12,345,678', 1234567800, null],
    ['0.125', 13, null], // half up on the third decimal
    ['0.124', 12, null],
    ['−5', -500, null], // a typographic minus
    ['100 KZT', 10000, 'KZT'],
  ])('%s -> %d kopecks', (text, cents, currency) => {
    expect(parseMoney(text)).toEqual({ cents, currency });
  });

  it.each(['', ' ', 'abc', '1e5', '12.3.4,5x', '--1', '₽', 'NaN', '1 2 3 abc', '1,500', '$1,500', '2.490', 'USD 1,250', '12,345'])('rejects %j', (text) => {
    expect(parseMoneyCents(text)).toBeNull();
  });

  it('reads JSON numbers exactly, binary fractions included', () => {
    expect(parseMoneyCents(0.1 + 0.2)).toBe(30);
    expect(parseMoneyCents(1234.4999999999)).toBe(123450);
    expect(parseMoneyCents(1999.9)).toBe(199990);
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, null, undefined, {}, true]) expect(parseMoneyCents(bad)).toBeNull();
  });

  it('round-trips random amounts through every display shape', () => {
    const rand = seededRandom(2026);
    for (let i = 0; i < 3000; i++) {
      const cents = Math.floor(rand() * 1e11) - (i % 10 === 0 ? 5e10 : 0);
      const abs = Math.abs(cents);
      const rub = Math.floor(abs / 100).toString();
      const kop = String(abs % 100).padStart(2, '0');
      const sign = cents < 0 ? '-' : '';
      const spaced = rub.replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
      const commas = rub.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
      for (const shape of [`${sign}${rub}.${kop}`, `${sign}${spaced},${kop} ₽`, `${sign}${commas}.${kop}`, `${sign}${rub},${kop}`]) {
        expect(parseMoneyCents(shape), shape).toBe(cents);
      }
      expect(parseMoneyCents(cents / 100)).toBe(cents);
    }
  });
});

describe('currencyCode', () => {
  it.each([['RUB', 'RUB'], ['rur', 'RUB'], ['руб.', 'RUB'], ['₽', 'RUB'], ['usd', 'USD'], [' € ', 'EUR'], ['рубли и доллары', null], ['', null]])('%j -> %s', (text, code) => {
    expect(currencyCode(text)).toBe(code);
  });
});
