// End to end: the CBR sandbox -> the cbr_rates loader -> a real ClickHouse; every calendar day × currency
// compared with the sandbox's ground truth (weekends, the Jan 1–8 holidays, KZT per 100, RUB = 1).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import cbrRates from '../loaders/cbr_rates/index.js';
import { CBR_SANDBOX_CURRENCIES, expectedRate, startSandbox, type CbrSandbox } from '../loaders/cbr_rates/sandbox.js';
import { addDays, todayIn } from '../src/runtime/dates.js';
import { runLoader } from '../src/runtime/run-loader.js';
import { expectBalanced } from './support/run-assertions.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

const SEED = 1251;
// 30 days: four weekends and the New Year holidays (Jan 1–8: Dec 31's set carries through Jan 8).
const SINCE = '2025-12-20';
const UNTIL = '2026-01-18';
const DAYS = Array.from({ length: 30 }, (_, i) => addDays(SINCE, i));
// The loader's default pace (5 rps) is for cbr.ru; the local fake takes more.
const FAST = { CBR_RATES_RPS: '50' };
const CURRENCIES = [...CBR_SANDBOX_CURRENCIES.map((c) => c.code), 'RUB'].sort();

interface StoredRow {
  day: string;
  code: string;
  label: string;
  rub: string;
  units: string;
  quote: string;
  published: string;
  carried: string;
}

async function storedRates(wh: Warehouse, since = SINCE, until = UNTIL): Promise<StoredRow[]> {
  return wh.query<StoredRow>(
    // Aliases differ from the column names: ClickHouse resolves a WHERE `date` to a same-named alias.
    `SELECT toString(date) AS day, currency AS code, name AS label, toString(rub_per_unit) AS rub, toString(nominal) AS units, toString(value) AS quote,
            toString(published_date) AS published, toString(carried_forward) AS carried
     FROM dim_currency_rates FINAL WHERE date BETWEEN toDate('${since}') AND toDate('${until}') AND _deleted = 0 ORDER BY currency, date`,
  );
}

/** Every calendar day × currency exactly once, each equal to the ground truth. */
async function expectTruth(wh: Warehouse): Promise<void> {
  const rows = await storedRates(wh);
  expect(rows).toHaveLength(DAYS.length * CURRENCIES.length);
  const seen = new Set<string>();
  for (const r of rows) {
    const key = `${r.code}|${r.day}`;
    expect(seen.has(key), `${key} twice`).toBe(false);
    seen.add(key);
    const t = expectedRate(SEED, r.code, r.day);
    expect(
      { rub: Number(r.rub), value: Number(r.quote), nominal: Number(r.units), published: r.published, carried: r.carried === '1', name: r.label },
      key,
    ).toEqual({ rub: t.rubPerUnit, value: t.value, nominal: t.nominal, published: t.publishedDate, carried: t.carriedForward, name: t.name });
  }
  for (const day of DAYS) for (const c of CURRENCIES) expect(seen.has(`${c}|${day}`), `${c}|${day} missing`).toBe(true);
}

describe('cbr_rates load into ClickHouse', () => {
  let wh: Warehouse;
  let sandbox: CbrSandbox;

  beforeAll(async () => {
    wh = await freshWarehouse(FAST);
    sandbox = await startSandbox({ seed: SEED, faults: new Set() });
  });
  afterAll(async () => {
    await sandbox?.close();
    await wh?.drop();
  });

  it('loads a 30-day window: one row per calendar day and currency, equal to the ground truth', async () => {
    const s = await runLoader(cbrRates, { env: { ...wh.env, ...sandbox.env }, since: SINCE, until: UNTIL });
    expectBalanced(s);
    expect(s.rowsQuarantined).toBe(0);
    expect(s.tables.dim_currency_rates).toBe(DAYS.length * CURRENCIES.length);
    // One request per calendar day, none outside the window (CBR serves every day's set for that day).
    expect([...sandbox.requestedDays].sort()).toEqual(DAYS);
    await expectTruth(wh);

    // Weekends and the holidays are carried forward; Jan 1–8 all carry Dec 31.
    const [cf] = await wh.query<{ carried: string; jan: string }>(
      `SELECT countIf(carried_forward = 1) AS carried, groupUniqArrayIf(toString(published_date), date BETWEEN toDate('2026-01-01') AND toDate('2026-01-08')) AS jan
       FROM dim_currency_rates FINAL WHERE currency = 'USD'`,
    );
    expect(Number(cf!.carried)).toBe(DAYS.filter((d) => expectedRate(SEED, 'USD', d).carriedForward).length);
    expect(cf!.jan).toEqual(['2025-12-31']);

    // KZT is quoted per 100 tenge: rub_per_unit is a hundredth of the published Value.
    const [kzt] = await wh.query<{ nominal: string; ok: string; name: string }>(
      `SELECT any(toString(nominal)) AS nominal, toString(min(rub_per_unit * 100 = value)) AS ok, any(name) AS name FROM dim_currency_rates FINAL WHERE currency = 'KZT'`,
    );
    expect(kzt).toEqual({ nominal: '100', ok: '1', name: 'Казахстанских тенге' });
    // RUB joins without a special case.
    const [rub] = await wh.query<{ n: string; one: string }>(`SELECT count() AS n, toString(min(rub_per_unit = 1)) AS one FROM dim_currency_rates FINAL WHERE currency = 'RUB'`);
    expect(rub).toEqual({ n: String(DAYS.length), one: '1' });
  });

  it('a re-run writes nothing: every row is unchanged and counted as skipped', async () => {
    const again = await runLoader(cbrRates, { env: { ...wh.env, ...sandbox.env }, since: SINCE, until: UNTIL });
    expectBalanced(again);
    expect(again.rowsWritten).toBe(0);
    expect(again.rowsSkipped).toBe(again.rowsRead);
    const [n] = await wh.query<{ n: string }>(`SELECT count() AS n FROM dim_currency_rates`);
    expect(Number(n!.n)).toBe(DAYS.length * CURRENCIES.length);
    await expectTruth(wh);
  });

  it('CBR serving the next set the evening before: the first day is looked up behind the window, rates unchanged', async () => {
    const early = await startSandbox({ seed: SEED, faults: new Set(['evening_before']) });
    const wh2 = await freshWarehouse(FAST);
    try {
      const s = await runLoader(cbrRates, { env: { ...wh2.env, ...early.env }, since: SINCE, until: UNTIL });
      expectBalanced(s);
      expect(s.tables.dim_currency_rates).toBe(DAYS.length * CURRENCIES.length);
      // Dec 20 is a Saturday: its answer is Friday's set, so no look-behind is needed there.
      expect([...early.requestedDays].sort()).toEqual(DAYS);
      await expectTruth(wh2);
      // A window starting on a business day: its own answer is the next day's set.
      const asked = early.requestedDays.length;
      const mid = await runLoader(cbrRates, { env: { ...wh2.env, ...early.env }, since: '2025-12-23', until: '2025-12-24' });
      expectBalanced(mid);
      // Tue 23's own answer is Wednesday's set: the loader asks for Mon 22 (which serves Tuesday's).
      expect(early.requestedDays.slice(asked).sort()).toEqual(['2025-12-22', '2025-12-23', '2025-12-24']);
      expect(mid.tables.dim_currency_rates ?? 0).toBe(0); // the same rates as stored: all skipped
      // Against a normal upstream, the stored rows stay unchanged too.
      const normal = await runLoader(cbrRates, { env: { ...wh2.env, ...sandbox.env }, since: SINCE, until: UNTIL });
      expectBalanced(normal);
      expect(normal.rowsWritten).toBe(0);
    } finally {
      await early.close();
      await wh2.drop();
    }
  });

  it('with 5xx, rate limits, HTML error pages and malformed quotes: the same rates, bad quotes quarantined', async () => {
    const faulty = await startSandbox({ seed: SEED, faults: new Set(['5xx', 'rate_limit', 'malformed', 'html_error']) });
    const wh3 = await freshWarehouse({ ...FAST, HTTP_MAX_RETRIES: '10' });
    try {
      const s = await runLoader(cbrRates, { env: { ...wh3.env, ...faulty.env }, since: SINCE, until: UNTIL });
      expectBalanced(s);
      expect(faulty.counters.errors5xx).toBeGreaterThan(0);
      expect(faulty.counters.rateLimited).toBeGreaterThan(0);
      expect(faulty.counters.htmlErrors).toBeGreaterThan(0);
      expect(faulty.counters.truncated).toBe(1);
      expect(s.rowsQuarantined).toBeGreaterThan(0);
      await expectTruth(wh3);
      const q = await wh3.query<{ record_key: string; reason: string }>(
        `SELECT record_key, reason FROM meta_quarantine FINAL WHERE source = 'cbr_rates' AND target_table = 'dim_currency_rates' ORDER BY record_key`,
      );
      const reasons = q.map((r) => r.reason).join('\n');
      expect(reasons).toMatch(/Value is not a number: "н\/д"/);
      expect(reasons).toMatch(/Nominal is zero/);
      // Keyed by (set date, currency): a weekend re-serving Friday's bad quote adds no second row.
      expect(q.every((r) => /^\d{4}-\d{2}-\d{2}\|(XDR|SGD)$/.test(r.record_key))).toBe(true);
      expect(new Set(q.map((r) => r.record_key)).size).toBe(q.length);
    } finally {
      await faulty.close();
      await wh3.drop();
    }
  });

  it('days after today are not loaded: their rate is not known yet', async () => {
    const wh4 = await freshWarehouse(FAST);
    try {
      const today = todayIn('Europe/Moscow');
      const s = await runLoader(cbrRates, { env: { ...wh4.env, ...sandbox.env }, since: addDays(today, -2), until: addDays(today, 3) });
      expectBalanced(s);
      const [r] = await wh4.query<{ n: string; last: string }>(`SELECT count() AS n, toString(max(date)) AS last FROM dim_currency_rates FINAL`);
      expect(r).toEqual({ n: String(3 * CURRENCIES.length), last: today });
    } finally {
      await wh4.drop();
    }
  });
});
