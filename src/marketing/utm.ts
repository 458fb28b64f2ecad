// UTM parsing, once for every loader (DESIGN.md "Time, money, places").
// `utm_content` of the form <city>_<dd>_<mm> names the city and the event day an ad promotes;
// anything that does not match that shape keeps its raw utm_content with city '' and event_date null.
// Days are 'YYYY-MM-DD' strings handled with integer day numbers, never Date, so no timezone can shift them.

import { AdhouseError } from '../runtime/errors.js';

export const UTM_KEYS = ['utm_source', 'utm_medium', 'utm_campaign', 'utm_content', 'utm_term'] as const;
export type UtmKey = (typeof UTM_KEYS)[number];
export type UtmTags = Record<UtmKey, string>; // '' when absent
export interface UtmFields extends UtmTags {
  city: string;
  event_date: string | null;
  utm_origin: 'url' | 'fallback' | 'mixed' | 'none';
}

const UTM_KEY_SET: ReadonlySet<string> = new Set(UTM_KEYS);

function emptyTags(): UtmTags {
  return { utm_source: '', utm_medium: '', utm_campaign: '', utm_content: '', utm_term: '' };
}

/**
 * Form-decodes one query component: '+' is a space, valid %XX runs are decoded, and a malformed
 * sequence ('100%', '%E0%A4', '%zz') stays as raw text — ad platforms pass hand-typed URLs through.
 */
function decodeComponent(raw: string): string {
  return raw.replace(/\+/g, ' ').replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return decodeRunPartially(run);
    }
  });
}

// A run with broken UTF-8 somewhere: decode the longest valid prefixes greedily, keep the rest raw.
function decodeRunPartially(run: string): string {
  const bytes = run.match(/%[0-9A-Fa-f]{2}/g) ?? [];
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    let decoded: string | null = null;
    let used = 0;
    // A UTF-8 sequence is at most 4 bytes.
    for (let len = Math.min(4, bytes.length - i); len >= 1; len--) {
      try {
        decoded = decodeURIComponent(bytes.slice(i, i + len).join(''));
        used = len;
        break;
      } catch {
        // try a shorter sequence
      }
    }
    if (decoded === null) {
      out += bytes[i];
      i += 1;
    } else {
      out += decoded;
      i += used;
    }
  }
  return out;
}

/** The query-string parts of a URL or bare query, in priority order (query first, then a fragment). */
function queryParts(input: string): string[] {
  const hashAt = input.indexOf('#');
  const beforeHash = hashAt === -1 ? input : input.slice(0, hashAt);
  const fragment = hashAt === -1 ? '' : input.slice(hashAt + 1);

  const parts: string[] = [];
  const qAt = beforeHash.indexOf('?');
  if (qAt !== -1) {
    parts.push(beforeHash.slice(qAt + 1));
  } else if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(beforeHash) && beforeHash.includes('=')) {
    // A bare query string: "utm_source=vk&utm_medium=cpc".
    parts.push(beforeHash);
  }
  // SPA landing pages put the query after the hash ("https://x.ru/#/afisha?utm_source=vk").
  if (fragment !== '') {
    const fqAt = fragment.indexOf('?');
    if (fqAt !== -1) parts.push(fragment.slice(fqAt + 1));
    else if (fragment.includes('=')) parts.push(fragment);
  }
  return parts;
}

/** Tags from a URL or a bare query string ("utm_source=vk&utm_medium=cpc", "?utm_...", full https URL, URL with #fragment, or garbage). Never throws. */
export function parseUtmTags(urlOrQuery: string | null | undefined): UtmTags {
  const tags = emptyTags();
  if (typeof urlOrQuery !== 'string') return tags;
  const input = urlOrQuery.trim();
  if (input === '') return tags;

  for (const part of queryParts(input)) {
    for (const pair of part.split('&')) {
      const eqAt = pair.indexOf('=');
      if (eqAt === -1) continue;
      // "&amp;" survives when a URL was copied out of HTML.
      const key = decodeComponent(pair.slice(0, eqAt)).trim().toLowerCase().replace(/^amp;/, '');
      if (!UTM_KEY_SET.has(key)) continue;
      const utmKey = key as UtmKey;
      // The first non-empty occurrence wins: the query beats the fragment, and an empty
      // duplicate ("utm_term=&utm_term=x") does not hide a real value.
      if (tags[utmKey] !== '') continue;
      tags[utmKey] = decodeComponent(pair.slice(eqAt + 1)).trim();
    }
  }
  return tags;
}

// ---- days as integers -------------------------------------------------------------------------

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function dayNumber(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = (month + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function formatDay(year: number, month: number, day: number): string {
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

function parseAdDay(adDay: string): { year: number; month: number; day: number } {
  const m = typeof adDay === 'string' ? /^(\d{4})-(\d{2})-(\d{2})$/.exec(adDay) : null;
  if (m) {
    const year = Number(m[1]);
    const month = Number(m[2]);
    const day = Number(m[3]);
    if (month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month)) return { year, month, day };
  }
  // The ad's day comes from the upstream's own statistics row; a bad one is a row-level problem.
  throw new AdhouseError('data', `utm: ad day must be a valid 'YYYY-MM-DD', got ${JSON.stringify(adDay)}`);
}

// No real promotion runs more than a year ahead or behind; this only matters for 29 Feb,
// whose nearest existing date can otherwise be up to ~2 years away.
const MAX_EVENT_DISTANCE_DAYS = 366;

/** The day `dd.mm` nearest to the ad's day (ties → the later one), or null when none exists within a year. */
function nearestEventDate(day: number, month: number, ad: { year: number; month: number; day: number }): string | null {
  const adNumber = dayNumber(ad.year, ad.month, ad.day);
  let best: { year: number; distance: number } | null = null;
  // Ascending years with `<=` so that a tie goes to the later year.
  for (const year of [ad.year - 1, ad.year, ad.year + 1]) {
    if (day > daysInMonth(year, month)) continue; // 29 Feb outside leap years
    const distance = Math.abs(dayNumber(year, month, day) - adNumber);
    if (distance > MAX_EVENT_DISTANCE_DAYS) continue;
    if (best === null || distance <= best.distance) best = { year, distance };
  }
  return best === null ? null : formatDay(best.year, month, day);
}

// dd and mm: one or two ASCII digits, nothing else (no sign, decimal point, spaces or 3+ digits).
const DAY_OR_MONTH = /^[0-9]{1,2}$/;
// A city needs at least one letter: "2026_05_12" is a date typed the wrong way, not a city.
const HAS_LETTER = /\p{L}/u;

/** city/event_date from utm_content of the form <city>_<dd>_<mm>; adDay is the ad's day 'YYYY-MM-DD'. */
export function parseCityEvent(utmContent: string, adDay: string): { city: string; event_date: string | null } {
  const none = { city: '', event_date: null };
  const ad = parseAdDay(adDay); // a bad ad day fails whatever the utm_content looks like
  if (typeof utmContent !== 'string') return none;
  const parts = utmContent.trim().split('_');
  if (parts.length < 3) return none;

  // The city may contain underscores itself (nizhny_novgorod_05_12): the last two parts are dd and mm.
  const ddText = parts[parts.length - 2];
  const mmText = parts[parts.length - 1];
  const cityParts = parts.slice(0, -2);
  if (!DAY_OR_MONTH.test(ddText) || !DAY_OR_MONTH.test(mmText)) return none;
  // Empty segments mean stray separators ("_05_12", "msk__05_12"): not our shape.
  if (cityParts.some((p) => p.trim() === '')) return none;
  const city = cityParts.join('_').normalize('NFC').trim().toLowerCase();
  if (!HAS_LETTER.test(city)) return none;

  const day = Number(ddText);
  const month = Number(mmText);
  if (month < 1 || month > 12 || day < 1 || day > 31) return none;
  const eventDate = nearestEventDate(day, month, ad);
  if (eventDate === null) return none; // 31 Feb, 30 Feb, 31 Apr, 29 Feb far from any leap year
  return { city, event_date: eventDate };
}

/** Tags from the primary URL, gaps filled from the fallback (e.g. VK's ad_group.utm query string); utm_origin says which won: 'url' all from url, 'fallback' all from fallback, 'mixed', 'none' no tags at all. Then city/event_date from the resulting utm_content. */
export function utmFields(url: string | null | undefined, adDay: string, fallback?: string | null): UtmFields {
  const fromUrl = parseUtmTags(url);
  const fromFallback = parseUtmTags(fallback);
  const tags = emptyTags();
  let urlCount = 0;
  let fallbackCount = 0;
  for (const key of UTM_KEYS) {
    if (fromUrl[key] !== '') {
      tags[key] = fromUrl[key];
      urlCount += 1;
    } else if (fromFallback[key] !== '') {
      tags[key] = fromFallback[key];
      fallbackCount += 1;
    }
  }
  const utm_origin: UtmFields['utm_origin'] =
    urlCount === 0 && fallbackCount === 0 ? 'none' : fallbackCount === 0 ? 'url' : urlCount === 0 ? 'fallback' : 'mixed';
  return { ...tags, ...parseCityEvent(tags.utm_content, adDay), utm_origin };
}
