// CBR (Central Bank of Russia) daily currency rates -> dim_currency_rates, one row per calendar day and
// currency (weekends and holidays carried forward, RUB = 1 every day).
// Upstream surprises and how each is handled: BEHAVIOR.md next to this file.
import { z } from 'zod';
import { envUrl } from '../../src/config/env.js';
import { defineLoader, type LoaderContext } from '../../src/runtime/contract.js';
import { addDays, minDay, todayIn } from '../../src/runtime/dates.js';
import { AdhouseError } from '../../src/runtime/errors.js';
import { createCbrApi, type CbrApi, type CbrDaily } from './api.js';
import { applicableSet, rateRow, rateSet, rubRow, type RateSet } from './transform.js';

const config = z.object({
  CBR_API_URL: envUrl.default('https://www.cbr.ru'),
});

type Ctx = LoaderContext<z.infer<typeof config>>;

export const RATES_TABLE = 'dim_currency_rates';
/** Answers requested ahead of the day being written; the HTTP client's concurrency caps them too. */
const PREFETCH = 4;
/**
 * How far before the window the loader may ask when the first day's own answer is a set dated after it
 * (the evening-before case): one day suffices against CBR's semantics; 15 covers Jan 1–8 and weekends.
 */
export const MAX_LOOKBEHIND_DAYS = 15;

export default defineLoader({
  name: 'cbr_rates',
  description: 'CBR daily currency rates (RUB per unit), one row per calendar day and currency',
  // 12:00 Moscow: today's set has been out since the evening before.
  schedule: '0 12 * * *',
  enabledByDefault: true,
  lookbackDays: 7,
  includeToday: true,
  initialDays: 30,
  rateLimit: { requestsPerSecond: 5, concurrency: 2 },
  config,
  async run(ctx) {
    // A day after today has no rate yet; asking CBR would only return the latest set again.
    const until = minDay(ctx.window.until, todayIn(ctx.reportingTz));
    if (ctx.window.since > until) {
      ctx.log.warn({ since: ctx.window.since, until: ctx.window.until }, 'cbr_rates: the window lies in the future; nothing to load');
      return;
    }
    await loadDays(ctx, ctx.window.since, until);
  },
});

/** A set received from CBR; `consumed` once its records became rows (or were counted as skipped). */
interface Held {
  publishedDate: string;
  set: RateSet;
  consumed: boolean;
}

async function loadDays(ctx: Ctx, since: string, until: string): Promise<void> {
  const api = createCbrApi({ http: ctx.http, baseUrl: ctx.config.CBR_API_URL });
  const sink = ctx.sink(RATES_TABLE, { skipUnchanged: { key: ['currency', 'date'], dateColumn: 'date' } });
  const days: string[] = [];
  for (let d = since; d <= until; d = addDays(d, 1)) days.push(d);

  // Sets by publication date: the one that applies to the current day and any dated later (evening-before answers).
  const book = new Map<string, Held>();
  // Every <Valute> counts as read once; records of a set that never became rows are counted as skipped.
  const settle = (held: Held) => {
    if (!held.consumed) sink.skip(held.set.rates.length);
    held.consumed = true;
  };
  const absorb = async (daily: CbrDaily): Promise<void> => {
    const set = rateSet(daily);
    ctx.rowsRead(set.read);
    for (const bad of set.rejected) await ctx.quarantine.add({ table: RATES_TABLE, reason: bad.reason, payload: bad.payload, key: bad.key });
    if (set.duplicates > 0) sink.skip(set.duplicates);
    const older = book.get(set.publishedDate);
    if (older) settle(older); // the same set again (a weekend re-serves Friday's): the newer answer stands
    book.set(set.publishedDate, { publishedDate: set.publishedDate, set, consumed: false });
  };
  const applicable = (day: string): Held | undefined => applicableSet(book.values(), day);

  const pending: Array<Promise<CbrDaily>> = [];
  let next = 0;
  const launch = () => {
    while (pending.length < PREFETCH && next < days.length) {
      const p = api.daily(days[next++]!);
      p.catch(() => undefined); // awaited below; this only keeps an early failure from being "unhandled"
      pending.push(p);
    }
  };

  ctx.progress.start('CBR rates', days.length);
  launch();
  let carried = 0;
  for (const day of days) {
    if (ctx.signal.aborted) throw new AdhouseError('aborted', 'aborted');
    const daily = await pending.shift()!;
    launch();
    await absorb(daily);
    let held = applicable(day);
    if (!held && day === since) held = await lookBehind(ctx, api, since, absorb, applicable);
    if (!held) {
      throw new AdhouseError('internal', `CBR served no rate set dated on or before ${day} (asked ${day}, got a set dated ${daily.publishedDate})`);
    }
    // A set already turned into rows (evening-before: Sunday re-uses Saturday's answer) yields rows beyond its records: count them read.
    if (held.consumed) ctx.rowsRead(held.set.rates.length);
    held.consumed = true;
    for (const rate of held.set.rates) await sink.write(rateRow(day, held.publishedDate, rate) as unknown as Record<string, unknown>);
    ctx.rowsRead(1);
    await sink.write(rubRow(day) as unknown as Record<string, unknown>);
    if (held.publishedDate < day) carried++;
    // Older sets can never apply again (days only move forward).
    for (const [date, h] of book) {
      if (date < held.publishedDate) {
        settle(h);
        book.delete(date);
      }
    }
    ctx.progress.tick();
  }
  for (const h of book.values()) settle(h);
  ctx.progress.done();
  await sink.flush();
  ctx.log.info({ days: days.length, carried }, `cbr_rates: ${days.length} days ${since}..${until}, ${carried} carried forward`);
}

/** The first day's own answer is dated after it: ask the days before until a set dated on or before it comes. */
async function lookBehind(
  ctx: Ctx,
  api: CbrApi,
  since: string,
  absorb: (d: CbrDaily) => Promise<void>,
  applicable: (day: string) => Held | undefined,
): Promise<Held | undefined> {
  for (let back = 1; back <= MAX_LOOKBEHIND_DAYS; back++) {
    const day = addDays(since, -back);
    const daily = await api.daily(day);
    ctx.log.debug({ asked: day, dated: daily.publishedDate }, 'cbr_rates: looking behind the window for the set of its first day');
    await absorb(daily);
    const held = applicable(since);
    if (held) return held;
  }
  return undefined;
}
