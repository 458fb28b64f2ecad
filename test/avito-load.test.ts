// End to end: the Avito sandbox -> the avito loader -> a real ClickHouse; per-profile daily numbers compared
// with the sandbox's ground truth, faults, bad credentials, incremental Messenger, v_avito_daily.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import avito from '../loaders/avito/index.js';
import {
  AVITO_SANDBOX_PROFILE_NAMES,
  AVITO_SANDBOX_PROFILES,
  avitoItems,
  expectedAvitoDaily,
  startSandbox,
  type AvitoSandbox,
  type AvitoSandboxProfile,
} from '../loaders/avito/sandbox.js';
import { addDays, todayIn } from '../src/runtime/dates.js';
import { runLoader, type RunSummary } from '../src/runtime/run-loader.js';
import { expectBalanced } from './support/run-assertions.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

const SEED = 777;
const TODAY = todayIn('Europe/Moscow');
const SINCE = addDays(TODAY, -20);
const UNTIL = TODAY;
/** Fast local pacing; the loader's production limit is 3 rps. */
const FAST = { AVITO_RPS: '1000', AVITO_CONCURRENCY: '4' };

interface DayNumbers {
  views: number;
  contacts: number;
  favorites: number;
  spend: number;
  operations: number;
}

/** Non-zero days only: quiet days are never written. */
function truthOf(profile: AvitoSandboxProfile, since = SINCE, until = UNTIL): Record<string, DayNumbers> {
  const out: Record<string, DayNumbers> = {};
  for (const d of expectedAvitoDaily(SEED, profile, since, until)) {
    if (d.views || d.contacts || d.favorites || d.spend || d.operations) out[d.date] = { views: d.views, contacts: d.contacts, favorites: d.favorites, spend: d.spend, operations: d.operations };
  }
  return out;
}

async function loaded(wh: Warehouse, profile: string, since = SINCE, until = UNTIL): Promise<Record<string, DayNumbers>> {
  const out: Record<string, DayNumbers> = {};
  const get = (d: string) => (out[d] ??= { views: 0, contacts: 0, favorites: 0, spend: 0, operations: 0 });
  const stats = await wh.query<{ d: string; v: string; c: string; f: string }>(
    `SELECT toString(date) AS d, sum(views) AS v, sum(contacts) AS c, sum(favorites) AS f FROM fact_avito_items_daily FINAL
     WHERE _deleted = 0 AND profile = '${profile}' AND date BETWEEN toDate('${since}') AND toDate('${until}') GROUP BY date`,
  );
  for (const r of stats) Object.assign(get(r.d), { views: Number(r.v), contacts: Number(r.c), favorites: Number(r.f) });
  const spend = await wh.query<{ d: string; s: string; n: string }>(
    `SELECT toString(date) AS d, toString(spend) AS s, toString(operations) AS n FROM fact_avito_spend_daily FINAL
     WHERE _deleted = 0 AND profile = '${profile}' AND date BETWEEN toDate('${since}') AND toDate('${until}')`,
  );
  for (const r of spend) Object.assign(get(r.d), { spend: Number(r.s), operations: Number(r.n) });
  return out;
}

async function expectTruth(wh: Warehouse, profile: AvitoSandboxProfile): Promise<void> {
  const truth = truthOf(profile);
  expect(Object.keys(truth).length).toBeGreaterThan(15);
  expect(await loaded(wh, profile)).toEqual(truth);
}

const run = (wh: Warehouse, sb: AvitoSandbox, extra: { since?: string; until?: string; account?: string } = { since: SINCE, until: UNTIL }): Promise<RunSummary> =>
  runLoader(avito, { env: { ...wh.env, ...sb.env, ...FAST }, ...extra });

describe('avito load into ClickHouse', () => {
  let wh: Warehouse;
  let sandbox: AvitoSandbox;

  beforeAll(async () => {
    wh = await freshWarehouse();
    sandbox = await startSandbox({ seed: SEED, faults: new Set() });
  });
  afterAll(async () => {
    await sandbox?.close();
    await wh?.drop();
  });

  it('loads both profiles: daily views, contacts, favorites and spend equal the ground truth, profiles never mix', async () => {
    const s = await run(wh, sandbox);
    expectBalanced(s);
    expect(s.rowsQuarantined).toBe(0);
    for (const p of AVITO_SANDBOX_PROFILE_NAMES) await expectTruth(wh, p);
    const items = await wh.query<{ profile: string; n: string; statuses: string[]; nulls: string }>(
      `SELECT profile, count() AS n, groupUniqArray(status) AS statuses, countIf(isNull(price)) AS nulls FROM stg_avito_items FINAL GROUP BY profile ORDER BY profile`,
    );
    expect(items.map((r) => [r.profile, Number(r.n)])).toEqual([['avito_msk', 230], ['avito_spb', 200]]);
    expect(items[0]!.statuses.sort()).toEqual(['active', 'blocked', 'old', 'rejected', 'removed']);
    expect(Number(items[0]!.nulls)).toBeGreaterThan(0);
    // Every item id of a profile's facts is one of that profile's items.
    for (const p of AVITO_SANDBOX_PROFILE_NAMES) {
      const own = new Set(avitoItems(SEED, p).map((i) => String(i.id)));
      const ids = await wh.query<{ id: string }>(`SELECT DISTINCT toString(item_id) AS id FROM fact_avito_items_daily WHERE profile = '${p}'`);
      expect(ids.length).toBeGreaterThan(100);
      expect(ids.every((r) => own.has(r.id))).toBe(true);
    }
    // 230 items = two stats requests for avito_msk; windows of ≤ 7 days for operations: the sandbox refused nothing.
    expect(sandbox.counters.statsRefused).toBe(0);
    expect(sandbox.counters.operationsRefused).toBe(0);
    // Operations are explainable: the raw rows add up to the daily aggregate.
    const [check] = await wh.query<{ bad: string }>(
      `SELECT count() AS bad FROM
         (SELECT profile, date, sum(if(kind = 'charge', amount_rub, -amount_rub)) AS s FROM stg_avito_operations FINAL
          WHERE _deleted = 0 AND kind != 'other' GROUP BY profile, date) o
       ALL INNER JOIN (SELECT profile, date, spend FROM fact_avito_spend_daily FINAL WHERE _deleted = 0) f USING (profile, date)
       WHERE o.s != f.spend`,
    );
    expect(Number(check!.bad)).toBe(0);
    // Messenger: every chat updated within the window, with all its messages (one chat has 130: two pages).
    const lo = Date.parse(`${SINCE}T00:00:00+03:00`) / 1000;
    for (const p of AVITO_SANDBOX_PROFILE_NAMES) {
      const chats = sandbox.chats(p).filter((c) => c.updated >= lo);
      const [n] = await wh.query<{ chats: string; messages: string }>(
        `SELECT (SELECT count() FROM stg_avito_chats FINAL WHERE profile = '${p}') AS chats, (SELECT count() FROM stg_avito_messages FINAL WHERE profile = '${p}') AS messages`,
      );
      expect(Number(n!.chats)).toBe(chats.length);
      expect(Number(n!.messages)).toBe(chats.reduce((a, c) => a + c.messages.length, 0));
    }
    const texts = await wh.query<{ message_type: string; text: string }>(`SELECT message_type, any(text) AS text FROM stg_avito_messages GROUP BY message_type ORDER BY message_type`);
    const byType = Object.fromEntries(texts.map((t) => [t.message_type, t.text]));
    expect(byType.text).toMatch(/[А-Яа-я]/);
    expect(byType.image).toMatch(/^\[image\] https:\/\/img\.avito\.st\/1280x960\//);
    expect(byType.link).toMatch(/^\[link\] /);
    expect(byType.voice).toMatch(/^\[voice\] voice-/);
    expect(byType.file).toBe('[file]');
    const [cp] = await wh.query<{ bad: string }>(`SELECT countIf(counterpart_id = '' OR counterpart_name = '') AS bad FROM stg_avito_chats FINAL`);
    expect(Number(cp!.bad)).toBe(0);
  });

  it('a re-run and an overlapping window change nothing', async () => {
    const again = await run(wh, sandbox);
    expectBalanced(again);
    expect(again.tables.fact_avito_items_daily ?? 0).toBe(0);
    expect(again.tables.fact_avito_spend_daily ?? 0).toBe(0);
    expect(again.tables.stg_avito_operations ?? 0).toBe(0);
    const overlap = await run(wh, sandbox, { since: addDays(TODAY, -10), until: TODAY });
    expectBalanced(overlap);
    for (const p of AVITO_SANDBOX_PROFILE_NAMES) await expectTruth(wh, p);
  });

  it('v_avito_daily: per profile and day, the truth, and the last balance snapshot of the day', async () => {
    for (const p of AVITO_SANDBOX_PROFILE_NAMES) {
      const rows = await wh.query<{ d: string; views: string; contacts: string; favorites: string; spend: string; balance_real: string; balance_bonus: string }>(
        `SELECT toString(date) AS d, views, contacts, favorites, toString(spend) AS spend, toString(balance_real) AS balance_real, toString(balance_bonus) AS balance_bonus
         FROM v_avito_daily WHERE profile = '${p}' AND date BETWEEN toDate('${SINCE}') AND toDate('${UNTIL}') ORDER BY date`,
      );
      const truth = truthOf(p);
      const got = Object.fromEntries(rows.filter((r) => r.d in truth || Number(r.views) || Number(r.spend)).map((r) => [r.d, { views: Number(r.views), contacts: Number(r.contacts), favorites: Number(r.favorites), spend: Number(r.spend) }]));
      const want = Object.fromEntries(Object.entries(truth).map(([d, t]) => [d, { views: t.views, contacts: t.contacts, favorites: t.favorites, spend: t.spend }]));
      expect(got).toEqual(want);
      // Three runs so far, three snapshots; the balance fell between runs; the view shows the last one.
      const snaps = await wh.query<{ r: string }>(`SELECT toString(balance_real) AS r FROM fact_avito_balance FINAL WHERE profile = '${p}' ORDER BY snapshot_at`);
      expect(snaps.length).toBeGreaterThanOrEqual(2);
      expect(new Set(snaps.map((x) => x.r)).size).toBe(snaps.length);
      const today = rows.find((r) => r.d === TODAY)!;
      expect(Number(today.balance_real)).toBe(sandbox.lastBalance(p)!.real);
      expect(Number(today.balance_bonus)).toBe(sandbox.lastBalance(p)!.bonus);
    }
  });

  it('token_expiry: the expired token is refreshed once, the request replayed, the run completes', async () => {
    const faulty = await startSandbox({ seed: SEED, faults: new Set(['token_expiry']) });
    const wh2 = await freshWarehouse();
    try {
      const s = await run(wh2, faulty);
      expectBalanced(s);
      expect(faulty.counters.expiredAnswers).toBe(1);
      expect(faulty.counters.mints).toEqual({ [AVITO_SANDBOX_PROFILES.avito_msk.clientId]: 2, [AVITO_SANDBOX_PROFILES.avito_spb.clientId]: 1 });
      for (const p of AVITO_SANDBOX_PROFILE_NAMES) await expectTruth(wh2, p);
    } finally {
      await faulty.close();
      await wh2.drop();
    }
  });

  it('bad_credentials: the other profile is fully loaded, the run fails with token_invalid naming the refused profile', async () => {
    const faulty = await startSandbox({ seed: SEED, faults: new Set(['bad_credentials']) });
    const wh2 = await freshWarehouse();
    try {
      const s = await run(wh2, faulty);
      expect(s.status).toBe('failed');
      expect(s.errorClass).toBe('token_invalid');
      expect(s.errorMessage).toMatch(/avito_spb/);
      expect(s.errorMessage).not.toMatch(/avito_msk/);
      expect(s.errorMessage).not.toMatch(/sandbox-spb-secret/);
      await expectTruth(wh2, 'avito_msk');
      const [n] = await wh2.query<{ n: string }>(`SELECT count() AS n FROM fact_avito_items_daily WHERE profile = 'avito_spb'`);
      expect(Number(n!.n)).toBe(0);
      const [rec] = await wh2.query<{ status: string; error_class: string; error_message: string }>(`SELECT status, error_class, error_message FROM meta_job_runs FINAL WHERE run_id = '${s.runId}'`);
      expect(rec).toMatchObject({ status: 'failed', error_class: 'token_invalid' });
      expect(rec!.error_message).toMatch(/avito_spb/);
    } finally {
      await faulty.close();
      await wh2.drop();
    }
  });

  it('rate_limit, 5xx, malformed, both message and operations shapes: same totals, bad records quarantined with reasons', async () => {
    const faulty = await startSandbox({ seed: SEED, faults: new Set(['rate_limit', '5xx', 'malformed', 'messages_array', 'operations_top_level']), rateWindowMs: 150 });
    const wh2 = await freshWarehouse();
    try {
      const s = await run(wh2, faulty);
      expectBalanced(s);
      expect(s.rowsQuarantined).toBeGreaterThan(0);
      for (const p of AVITO_SANDBOX_PROFILE_NAMES) await expectTruth(wh2, p);
      expect(faulty.counters.rateLimited).toBeGreaterThan(0);
      expect(faulty.counters.errors5xx).toBeGreaterThan(0);
      const reasons = await wh2.query<{ target_table: string; reason: string }>(`SELECT target_table, reason FROM meta_quarantine FINAL WHERE source = 'avito' ORDER BY target_table, reason`);
      const text = reasons.map((r) => `${r.target_table}: ${r.reason}`).join('\n');
      expect(text).toMatch(/stg_avito_items: invalid item id/);
      expect(text).toMatch(/stg_avito_items: invalid price/);
      expect(text).toMatch(/fact_avito_items_daily: unknown item 1/);
      expect(text).toMatch(/fact_avito_items_daily: date .* outside the requested window/);
      expect(text).toMatch(/fact_avito_items_daily: invalid counters/);
      expect(text).toMatch(/stg_avito_operations: invalid amount/);
      expect(text).toMatch(/stg_avito_chats: chat without an id/);
      expect(text).toMatch(/stg_avito_messages: message .* without a valid created/);
      // Bare-array message pages hold the same messages.
      const lo = Date.parse(`${SINCE}T00:00:00+03:00`) / 1000;
      const want = AVITO_SANDBOX_PROFILE_NAMES.reduce((a, p) => a + faulty.chats(p).filter((c) => c.updated >= lo).reduce((b, c) => b + c.messages.length, 0), 0);
      const [m] = await wh2.query<{ n: string }>(`SELECT count() AS n FROM stg_avito_messages FINAL`);
      expect(Number(m!.n)).toBe(want);
    } finally {
      await faulty.close();
      await wh2.drop();
    }
  });

  it('incremental Messenger: a second run fetches only the chats updated since the first', async () => {
    const sb = await startSandbox({ seed: SEED, faults: new Set() });
    const wh2 = await freshWarehouse();
    try {
      const first = await run(wh2, sb, {});
      expectBalanced(first);
      const all = AVITO_SANDBOX_PROFILE_NAMES.flatMap((p) => sb.chats(p).map((c) => c.id));
      expect(new Set(sb.counters.messageRequests)).toEqual(new Set(all));

      const touched = [sb.chats('avito_msk')[5]!.id, sb.chats('avito_msk')[9]!.id, sb.chats('avito_spb')[3]!.id];
      sb.addMessage('avito_msk', touched[0]!, 'Ещё актуально? Беру 2 билета');
      sb.addMessage('avito_msk', touched[1]!, 'Отправил фото', 'out');
      sb.addMessage('avito_spb', touched[2]!, 'Спасибо!');
      const before = sb.counters.messageRequests.length;
      const second = await run(wh2, sb, {});
      expectBalanced(second);
      expect(sb.counters.messageRequests.slice(before).sort()).toEqual([...touched].sort());
      const rows = await wh2.query<{ chat_id: string; text: string; direction: string }>(
        `SELECT chat_id, text, direction FROM stg_avito_messages FINAL WHERE text IN ('Ещё актуально? Беру 2 билета', 'Отправил фото', 'Спасибо!') ORDER BY chat_id`,
      );
      expect(rows.map((r) => r.chat_id).sort()).toEqual([...touched].sort());
      const [chat] = await wh2.query<{ u: string }>(`SELECT toString(toUnixTimestamp(updated_at)) AS u FROM stg_avito_chats FINAL WHERE chat_id = '${touched[0]}'`);
      expect(Number(chat!.u)).toBe(sb.chats('avito_msk')[5]!.updated);

      // Nothing changed: no chat is fetched again.
      const third = await run(wh2, sb, {});
      expectBalanced(third);
      expect(sb.counters.messageRequests.length).toBe(before + touched.length);

      // A window-explicit run reloads the chats updated within the window, and leaves the cursor alone.
      const explicit = await run(wh2, sb, { since: addDays(TODAY, -3), until: TODAY });
      expectBalanced(explicit);
      const lo = Date.parse(`${addDays(TODAY, -3)}T00:00:00+03:00`) / 1000;
      const inWindow = AVITO_SANDBOX_PROFILE_NAMES.flatMap((p) => sb.chats(p).filter((c) => c.updated >= lo).map((c) => c.id));
      expect(new Set(sb.counters.messageRequests.slice(before + touched.length))).toEqual(new Set(inWindow));
      const n = sb.counters.messageRequests.length;
      await run(wh2, sb, {});
      expect(sb.counters.messageRequests.length).toBe(n);
    } finally {
      await sb.close();
      await wh2.drop();
    }
  });
});
