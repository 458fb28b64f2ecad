// Calendar days as 'YYYY-MM-DD' strings. Arithmetic happens in UTC so no local zone or DST leaks in;
// "today" is asked of the reporting time zone.

const DAY_MS = 86_400_000;

// Building an Intl.DateTimeFormat costs far more than using one: one per zone and purpose, kept.
const dayFormats = new Map<string, Intl.DateTimeFormat>();
const clockFormats = new Map<string, Intl.DateTimeFormat>();
function formatFor(cache: Map<string, Intl.DateTimeFormat>, timeZone: string, make: () => Intl.DateTimeFormat): Intl.DateTimeFormat {
  let f = cache.get(timeZone);
  if (!f) {
    f = make(); // an unknown zone throws here, before anything is cached
    cache.set(timeZone, f);
  }
  return f;
}

export function todayIn(timeZone: string, now: Date = new Date()): string {
  return formatFor(dayFormats, timeZone, () => new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })).format(now);
}

// Day arithmetic on whole numbers (days since 1970-01-01 in the proleptic Gregorian calendar, H. Hinnant's
// civil-date algorithms): a Date built, parsed and printed per step showed in the sandboxes' and loaders'
// day loops (millions of calls per batch).
function dayNumber(day: string): number {
  let y = Number(day.slice(0, 4));
  const m = Number(day.slice(5, 7));
  const d = Number(day.slice(8, 10));
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function dayText(n: number): string {
  const z = n + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return `${String(y).padStart(4, '0')}-${m < 10 ? '0' : ''}${m}-${d < 10 ? '0' : ''}${d}`;
}

const DAY_FORM = /^\d{4}-\d{2}-\d{2}$/;

export function addDays(day: string, days: number): string {
  // Anything but a real day keeps Date's behaviour (an impossible date throws RangeError, as it always did).
  if (!Number.isInteger(days) || !isDay(day)) return new Date(Date.parse(`${day}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
  return dayText(dayNumber(day) + days);
}

/** Whole days from a to b (b − a). */
export function diffDays(a: string, b: string): number {
  return Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / DAY_MS);
}

export function isDay(value: string): boolean {
  if (!DAY_FORM.test(value)) return false;
  const m = Number(value.slice(5, 7));
  const d = Number(value.slice(8, 10));
  // A month and day in range that survive the round trip through the day number (Feb 30 does not).
  return m >= 1 && m <= 12 && d >= 1 && d <= 31 && dayText(dayNumber(value)) === value;
}

export function minDay(a: string, b: string): string {
  return a < b ? a : b;
}

/** Consecutive [since, until] chunks of at most `chunkDays` days covering the range. */
export function dayChunks(since: string, until: string, chunkDays: number): Array<{ since: string; until: string }> {
  const out: Array<{ since: string; until: string }> = [];
  for (let start = since; start <= until; start = addDays(start, chunkDays)) {
    const end = addDays(start, chunkDays - 1);
    out.push({ since: start, until: end < until ? end : until });
  }
  return out;
}

/** 'YYYY-MM-DD hh:mm:ss' in UTC, the text form of DateTime('UTC') columns. */
export function utcDateTime(ms: number = Date.now()): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

function zoneOffsetMs(timeZone: string, at: number): number {
  const format = formatFor(clockFormats, timeZone, () => new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }));
  const parts = format.formatToParts(new Date(at));
  const get = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  return Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second')) - Math.floor(at / 1000) * 1000;
}

/** The UTC instant (ms) at which `day` begins in `timeZone`. */
export function zonedDayStart(day: string, timeZone: string): number {
  const naive = Date.parse(`${day}T00:00:00Z`);
  // Two passes settle DST edges: the offset at the guess may differ from the offset at the answer.
  let guess = naive - zoneOffsetMs(timeZone, naive);
  guess = naive - zoneOffsetMs(timeZone, guess);
  return guess;
}

/** 'YYYY-MM-DD hh:mm:ss' of a UTC instant, as a clock in `timeZone` shows it. */
export function formatInZone(ms: number, timeZone: string): string {
  return new Date(ms + zoneOffsetMs(timeZone, ms)).toISOString().slice(0, 19).replace('T', ' ');
}

/** Parses the text form of a DateTime('UTC') column. */
export function parseUtcDateTime(text: string): number {
  return Date.parse(`${text.replace(' ', 'T')}Z`);
}
