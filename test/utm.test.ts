import { seededRandom } from '../src/runtime/sandbox.js';
import { describe, expect, it } from 'vitest';
import { AdhouseError } from '../src/runtime/errors.js';
import { parseCityEvent, parseUtmTags, utmFields, UTM_KEYS, type UtmTags } from '../src/marketing/utm.js';

const EMPTY: UtmTags = { utm_source: '', utm_medium: '', utm_campaign: '', utm_content: '', utm_term: '' };
const tags = (t: Partial<UtmTags>): UtmTags => ({ ...EMPTY, ...t });

describe('parseUtmTags', () => {
  const cases: Array<[string, string | null | undefined, UtmTags]> = [
    ['null', null, EMPTY],
    ['undefined', undefined, EMPTY],
    ['empty string', '', EMPTY],
    ['whitespace', '   \t', EMPTY],
    ['garbage', '%%%&&==?#', EMPTY],
    ['URL without a query', 'https://example.ru/afisha', EMPTY],
    ['URL with only non-utm params', 'https://example.ru/?a=1&b=2', EMPTY],
    ['bare query', 'utm_source=vk&utm_medium=cpc', tags({ utm_source: 'vk', utm_medium: 'cpc' })],
    ['query with leading ?', '?utm_source=vk&utm_campaign=winter', tags({ utm_source: 'vk', utm_campaign: 'winter' })],
    [
      'full https URL with all five',
      'https://example.ru/p?utm_source=yandex&utm_medium=cpc&utm_campaign=c1&utm_content=msk_05_12&utm_term=bilety',
      { utm_source: 'yandex', utm_medium: 'cpc', utm_campaign: 'c1', utm_content: 'msk_05_12', utm_term: 'bilety' },
    ],
    ['fragment after the query is not a value', 'https://x.ru/?utm_source=vk#top', tags({ utm_source: 'vk' })],
    ['query inside a SPA fragment', 'https://x.ru/#/afisha?utm_source=vk&utm_medium=cpc', tags({ utm_source: 'vk', utm_medium: 'cpc' })],
    ['query beats fragment', 'https://x.ru/?utm_source=vk#?utm_source=fb&utm_term=t', tags({ utm_source: 'vk', utm_term: 't' })],
    ['percent-encoded Cyrillic', '?utm_content=%D0%9C%D0%BE%D1%81%D0%BA%D0%B2%D0%B0_05_12', tags({ utm_content: 'Москва_05_12' })],
    ['plus as space', '?utm_campaign=new+year+show', tags({ utm_campaign: 'new year show' })],
    ['encoded plus stays a plus', '?utm_term=a%2Bb', tags({ utm_term: 'a+b' })],
    ['malformed percent: lone %', '?utm_campaign=100%&utm_source=vk', tags({ utm_campaign: '100%', utm_source: 'vk' })],
    ['malformed percent: bad hex', '?utm_campaign=a%zzb', tags({ utm_campaign: 'a%zzb' })],
    ['malformed percent: truncated UTF-8', '?utm_campaign=%D0%9C%D0', tags({ utm_campaign: 'М%D0' })],
    ['malformed percent: invalid UTF-8 lead byte', '?utm_campaign=%FFok%D0%BC', tags({ utm_campaign: '%FFokм' })],
    ['macros kept raw', '?utm_campaign={campaign_id}&utm_content={ad_id}', tags({ utm_campaign: '{campaign_id}', utm_content: '{ad_id}' })],
    ['encoded macros decoded to raw braces', '?utm_campaign=%7Bcampaign_id%7D', tags({ utm_campaign: '{campaign_id}' })],
    ['values trimmed', '?utm_source=%20vk%20&utm_medium=+cpc+', tags({ utm_source: 'vk', utm_medium: 'cpc' })],
    ['value case kept', '?utm_source=VK', tags({ utm_source: 'VK' })],
    ['key case ignored', '?UTM_Source=vk', tags({ utm_source: 'vk' })],
    ['HTML-escaped ampersand', '?utm_source=vk&amp;utm_medium=cpc', tags({ utm_source: 'vk', utm_medium: 'cpc' })],
    ['value containing =', '?utm_term=a=b', tags({ utm_term: 'a=b' })],
    ['key without value', '?utm_source&utm_medium=cpc', tags({ utm_medium: 'cpc' })],
    ['empty duplicate does not hide a value', '?utm_term=&utm_term=x', tags({ utm_term: 'x' })],
    ['first non-empty duplicate wins', '?utm_source=vk&utm_source=fb', tags({ utm_source: 'vk' })],
    ['similar keys ignored', '?utm_sources=x&xutm_source=y&utm_id=1', EMPTY],
    ['URL without ? is not a bare query', 'https://x.ru/utm_source=vk', EMPTY],
    ['surrounding whitespace', '  ?utm_source=vk  ', tags({ utm_source: 'vk' })],
  ];

  it.each(cases)('%s', (_name, input, expected) => {
    expect(parseUtmTags(input)).toEqual(expected);
  });

  it('never throws on odd input', () => {
    const odd: unknown[] = [42, {}, [], '?' + '%'.repeat(1000), '\u0000?utm_source=\uD800', '?=&=&=', '#', '?#?'];
    for (const input of odd) {
      expect(() => parseUtmTags(input as string)).not.toThrow();
      expect(Object.keys(parseUtmTags(input as string)).sort()).toEqual([...UTM_KEYS].sort());
    }
  });
});

describe('parseCityEvent', () => {
  const AD = '2026-11-20';
  const valid: Array<[string, string, string, string, string]> = [
    // [name, utm_content, adDay, city, event_date]
    ['plain', 'msk_05_12', AD, 'msk', '2026-12-05'],
    ['uppercase city lowercased', 'MSK_05_12', AD, 'msk', '2026-12-05'],
    ['Cyrillic city lowercased', 'Москва_05_12', AD, 'москва', '2026-12-05'],
    ['city trimmed', '  Spb _05_12 ', AD, 'spb', '2026-12-05'],
    ['city with underscores', 'nizhny_novgorod_05_12', AD, 'nizhny_novgorod', '2026-12-05'],
    ['city with hyphens', 'Rostov-na-Donu_05_12', AD, 'rostov-na-donu', '2026-12-05'],
    ['Cyrillic city with space', 'Нижний Новгород_05_12', AD, 'нижний новгород', '2026-12-05'],
    ['city with a digit part takes the last two numbers only', 'msk_01_05_12', AD, 'msk_01', '2026-12-05'],
    ['single-digit day and month', 'msk_5_1', AD, 'msk', '2027-01-05'],
    ['next year when nearer', 'msk_03_01', '2026-12-28', 'msk', '2027-01-03'],
    ['previous year when nearer', 'msk_28_12', '2027-01-02', 'msk', '2026-12-28'],
    ['same day', 'msk_20_11', AD, 'msk', '2026-11-20'],
    ['past event in the same year', 'msk_01_10', AD, 'msk', '2026-10-01'],
    // 2026-07-02 is 182 days after 2026-01-01 and 183 before 2027-01-01: Jan 1 of 2027 is farther.
    ['half a year, not a tie', 'msk_01_01', '2026-07-02', 'msk', '2026-01-01'],
    // 2027-07-03 is 183 days after 2027-01-01 and 182 before 2028-01-01.
    ['half a year in the other direction', 'msk_01_01', '2027-07-03', 'msk', '2028-01-01'],
    ['31 Dec', 'msk_31_12', '2026-12-30', 'msk', '2026-12-31'],
    ['29 Feb in a leap year', 'msk_29_02', '2028-02-01', 'msk', '2028-02-29'],
    ['29 Feb next year is leap', 'msk_29_02', '2027-12-15', 'msk', '2028-02-29'],
    ['29 Feb previous year is leap', 'msk_29_02', '2029-01-10', 'msk', '2028-02-29'],
    // Nearest 29 Feb by calendar would be "2029-02-29", which does not exist; 2028-02-29 is 185 days back.
    ['29 Feb: nearest year where it exists', 'msk_29_02', '2028-09-01', 'msk', '2028-02-29'],
    ['28 Feb in a non-leap year', 'msk_28_02', '2026-02-01', 'msk', '2026-02-28'],
    ['30 Apr', 'msk_30_04', '2026-04-01', 'msk', '2026-04-30'],
  ];

  it.each(valid)('%s: %s on %s', (_name, content, adDay, city, eventDate) => {
    expect(parseCityEvent(content, adDay)).toEqual({ city, event_date: eventDate });
  });

  it('breaks an exact tie towards the later date', () => {
    // An exact tie needs an even year length: 2024 has 366 days, so 2024-07-02 is 183 days from both Jan 1s.
    expect(parseCityEvent('msk_01_01', '2024-07-02')).toEqual({ city: 'msk', event_date: '2025-01-01' });
  });

  const malformed: Array<[string, string, string?]> = [
    // [name, utm_content, adDay?]
    ['empty string', ''],
    ['whitespace', '   '],
    ['city only', 'msk'],
    ['missing month', 'msk_05'],
    ['missing city', '_05_12'],
    ['no city and no separator', '05_12'],
    ['non-numeric day', 'msk_ab_12'],
    ['non-numeric month', 'msk_05_dec'],
    ['day out of range', 'msk_32_01'],
    ['month out of range', 'msk_05_13'],
    ['day zero', 'msk_00_05'],
    ['month zero', 'msk_05_00'],
    ['31 Feb', 'msk_31_02'],
    ['30 Feb', 'msk_30_02'],
    ['31 Apr', 'msk_31_04'],
    ['31 Jun', 'msk_31_06'],
    ['29 Feb with no leap year within a year', 'msk_29_02', '2026-06-01'],
    ['29 Feb more than a year from the only near leap year', 'msk_29_02', '2027-01-01'],
    ['trailing separator', 'msk_05_12_'],
    ['leading separator', '_msk_05_12'],
    ['double separator', 'msk__05_12'],
    ['three-digit day', 'msk_005_12'],
    ['three-digit month', 'msk_05_012'],
    ['year as a part', 'msk_05_12_2026'],
    ['signed day', 'msk_+5_12'],
    ['negative month', 'msk_05_-1'],
    ['decimal day', 'msk_5.0_12'],
    ['decimal month', 'msk_05_1.'],
    ['space inside the number', 'msk_ 5_12'],
    ['non-ASCII digits', 'msk_٠٥_١٢'],
    ['city without letters', '2026_05_12'],
    ['city of punctuation', '--_05_12'],
    ['other separators', 'msk-05-12'],
    ['macro kept raw', '{ad_id}'],
    ['unrelated content', 'banner_big'],
  ];

  it.each(malformed)('malformed: %s (%s)', (_name, content, adDay = AD) => {
    expect(parseCityEvent(content, adDay)).toEqual({ city: '', event_date: null });
  });

  it.each(malformed)('utmFields keeps the raw utm_content when malformed: %s (%s)', (_name, content, adDay = AD) => {
    const query = `utm_source=vk&utm_content=${encodeURIComponent(content)}`;
    expect(utmFields(query, adDay)).toMatchObject({ utm_content: content.trim(), city: '', event_date: null });
  });

  it.each(['', '2026-13-01', '2026-02-29', '2026-1-5', '20261120', '2026-11-20T00:00:00Z', 'garbage'])(
    'rejects an invalid ad day %j with a data error',
    (adDay) => {
      expect(() => parseCityEvent('msk_05_12', adDay)).toThrow(AdhouseError);
      expect(() => parseCityEvent('', adDay)).toThrow(/ad day/);
      expect(() => utmFields(null, adDay)).toThrow(expect.objectContaining({ code: 'data' }));
    },
  );
});

describe('utmFields', () => {
  const AD = '2026-11-20';

  it('takes everything from the URL', () => {
    expect(utmFields('https://x.ru/?utm_source=vk&utm_medium=cpc&utm_content=Москва_05_12', AD, 'utm_source=fb')).toEqual({
      ...tags({ utm_source: 'vk', utm_medium: 'cpc', utm_content: 'Москва_05_12' }),
      city: 'москва',
      event_date: '2026-12-05',
      utm_origin: 'url',
    });
  });

  it('takes everything from the fallback when the URL has no tags', () => {
    expect(utmFields('https://x.ru/afisha', AD, 'utm_source=vk&utm_content=spb_1_1')).toEqual({
      ...tags({ utm_source: 'vk', utm_content: 'spb_1_1' }),
      city: 'spb',
      event_date: '2027-01-01',
      utm_origin: 'fallback',
    });
  });

  it('fills gaps from the fallback per key, and parses the resulting utm_content', () => {
    expect(utmFields('https://x.ru/?utm_source=vk&utm_campaign={campaign_id}', AD, '?utm_source=fb&utm_content=msk_05_12&utm_term=t')).toEqual({
      utm_source: 'vk',
      utm_medium: '',
      utm_campaign: '{campaign_id}',
      utm_content: 'msk_05_12',
      utm_term: 't',
      city: 'msk',
      event_date: '2026-12-05',
      utm_origin: 'mixed',
    });
  });

  it('an empty URL value does not hide the fallback', () => {
    expect(utmFields('?utm_source=vk&utm_content=', AD, 'utm_content=msk_05_12')).toMatchObject({
      utm_content: 'msk_05_12',
      city: 'msk',
      utm_origin: 'mixed',
    });
  });

  it.each([
    [null, undefined],
    [undefined, null],
    ['', ''],
    ['https://x.ru/', 'garbage'],
  ])('no tags at all: %j / %j', (url, fallback) => {
    expect(utmFields(url, AD, fallback)).toEqual({ ...EMPTY, city: '', event_date: null, utm_origin: 'none' });
  });

  it('a URL tag that is not a city/day keeps city empty even when the fallback has one', () => {
    expect(utmFields('?utm_content=banner', AD, 'utm_content=msk_05_12')).toMatchObject({
      utm_content: 'banner',
      city: '',
      event_date: null,
      utm_origin: 'url',
    });
  });
});

// ---- property-style -----------------------------------------------------------------------------

/** A seeded PRNG so failures reproduce. */
const prng = seededRandom;

const DAY_MS = 86_400_000;
// Independent of the module: Date.UTC arithmetic.
const utcDays = (day: string): number => Date.parse(`${day}T00:00:00Z`) / DAY_MS;
const isoDay = (days: number): string => new Date(days * DAY_MS).toISOString().slice(0, 10);
const exists = (y: number, m: number, d: number): boolean => new Date(Date.UTC(y, m - 1, d)).getUTCDate() === d;

const CITIES = ['msk', 'SPB', ' Kazan ', 'nizhny_novgorod', 'Москва', 'Санкт-Петербург', 'ЕКАТЕРИНБУРГ', 'rostov-na-donu', 'ufa_2'];

describe('parseCityEvent properties', () => {
  it('for random valid city/day/month/adDay, the result parses back and is the nearest date', () => {
    const rand = prng(20261120);
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
    const start = utcDays('1999-01-01');
    const span = utcDays('2101-01-01') - start;
    let checked = 0;
    for (let i = 0; i < 5000; i++) {
      const adDay = isoDay(start + Math.floor(rand() * span));
      const month = 1 + Math.floor(rand() * 12);
      const day = 1 + Math.floor(rand() * 31);
      const cityRaw = pick(CITIES);
      const dd = rand() < 0.5 ? String(day).padStart(2, '0') : String(day);
      const mm = rand() < 0.5 ? String(month).padStart(2, '0') : String(month);
      const content = `${cityRaw}_${dd}_${mm}`;

      const adYear = Number(adDay.slice(0, 4));
      const candidates = [adYear - 1, adYear, adYear + 1]
        .filter((y) => exists(y, month, day))
        .map((y) => utcDays(`${y}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`))
        .filter((d) => Math.abs(d - utcDays(adDay)) <= 366);

      const result = parseCityEvent(content, adDay);
      if (candidates.length === 0) {
        expect(result, `${content} on ${adDay}`).toEqual({ city: '', event_date: null });
        continue;
      }
      checked++;
      expect(result.city, content).toBe(cityRaw.trim().toLowerCase());
      expect(result.city).toBe(result.city.trim());
      expect(result.city).toBe(result.city.toLowerCase());
      expect(result.event_date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      const eventDate = result.event_date as string;
      // Parses back: a real UTC day with the same day and month.
      expect(isoDay(utcDays(eventDate))).toBe(eventDate);
      expect(Number(eventDate.slice(8, 10))).toBe(day);
      expect(Number(eventDate.slice(5, 7))).toBe(month);
      const distance = utcDays(eventDate) - utcDays(adDay);
      if (!(day === 29 && month === 2)) expect(Math.abs(distance), `${content} on ${adDay}`).toBeLessThanOrEqual(183);
      // Nearest among the candidates, ties to the later one.
      for (const other of candidates) {
        const otherDistance = other - utcDays(adDay);
        expect(Math.abs(distance)).toBeLessThanOrEqual(Math.abs(otherDistance));
        if (Math.abs(distance) === Math.abs(otherDistance)) expect(utcDays(eventDate)).toBeGreaterThanOrEqual(other);
      }
      // Round trip through a URL: same answer as parsing the content directly.
      const fields = utmFields(`https://x.ru/?utm_content=${encodeURIComponent(content)}`, adDay);
      expect(fields).toMatchObject({ utm_content: content.trim(), ...result, utm_origin: 'url' });
    }
    expect(checked).toBeGreaterThan(4000);
  });

  it('random garbage never yields a half-parsed result', () => {
    const rand = prng(7);
    const alphabet = ['_', '_', '0', '1', '2', '3', '9', 'a', 'м', ' ', '-', '.', '+', '%'];
    for (let i = 0; i < 3000; i++) {
      const len = Math.floor(rand() * 12);
      let content = '';
      for (let j = 0; j < len; j++) content += alphabet[Math.floor(rand() * alphabet.length)];
      const result = parseCityEvent(content, '2026-06-15');
      expect(result.city === '').toBe(result.event_date === null);
      if (result.event_date !== null) {
        expect(content.trim()).toMatch(/^.*\p{L}.*_[0-9]{1,2}_[0-9]{1,2}$/u);
        expect(result.city).toBe(result.city.trim().toLowerCase());
      }
    }
  });
});
