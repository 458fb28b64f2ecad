// The insert sink against a real ClickHouse: batching under a slow network, group commit of concurrent
// sinks, tombstones for vanished rows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '../src/clickhouse/client.js';
import { encodeRows } from '../src/runtime/row-encoding.js';
import { createSink, type SinkSettings } from '../src/runtime/sink.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

/** The real client, with the n-th INSERT answer delayed by delayMs(n), as by an uneven slow link. */
function slowNetwork(client: ClickHouseClient, delayMs: (n: number) => number): ClickHouseClient {
  let calls = 0;
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop !== 'exec') return Reflect.get(target, prop, receiver);
      return async (params: Parameters<ClickHouseClient['exec']>[0]) => {
        const delay = delayMs(calls++);
        const res = await target.exec(params);
        await new Promise((resolve) => setTimeout(resolve, delay));
        return res;
      };
    },
  });
}

/** A client that counts the INSERTs it sends (its exec calls). */
function countingInserts(client: ClickHouseClient): { client: ClickHouseClient; inserts: () => number } {
  let n = 0;
  return {
    client: slowNetwork(client, () => {
      n++;
      return 0;
    }),
    inserts: () => n,
  };
}

describe('insert sink', () => {
  let wh: Warehouse;
  let version = 1;
  const settings = (over: Partial<SinkSettings> = {}): SinkSettings => ({
    client: wh.client,
    table: 'items',
    runId: `run-${version}`,
    version: version++,
    batchRows: 1000,
    flushMs: 5000,
    window: { since: '2026-01-01', until: '2026-01-31' },
    ...over,
  });
  const count = async (where = '1') => Number((await wh.query<{ c: string }>(`SELECT count() AS c FROM items FINAL WHERE ${where}`))[0]!.c);

  beforeAll(async () => {
    wh = await freshWarehouse();
    await wh.client.command({
      query: `CREATE TABLE items (id UInt64, date Date, v UInt32, _hash UInt64, _deleted UInt8 DEFAULT 0, _ver UInt64, _loaded_at DateTime('UTC'), _run_id String)
              ENGINE = ReplacingMergeTree(_ver) ORDER BY (id, date)`,
    });
  });
  afterAll(async () => wh.drop());

  it('flush waits for every INSERT even when time-based flushes overlap a slow one', async () => {
    // Batch 1 answers after 100 ms, batch 2 after 400 ms, later ones at once. Batches 1 and 2 are ended by
    // the flush timer (the pauses below let time pass; time is what the timer reacts to), batch 3 by size.
    const sink = createSink(settings({ client: slowNetwork(wh.client, (n) => [100, 400][n] ?? 0), flushMs: 1, batchRows: 3 }));
    const pause = () => new Promise((resolve) => setTimeout(resolve, 20));
    await sink.write({ id: 10_000, date: '2026-01-01', v: 0 });
    await pause();
    await sink.write({ id: 10_001, date: '2026-01-01', v: 1 });
    await pause();
    for (let i = 2; i < 5; i++) await sink.write({ id: 10_000 + i, date: '2026-01-01', v: i });
    await sink.flush();
    expect(sink.written).toBe(5);
    expect(await count('id >= 10000')).toBe(5);
  });

  it('rows encoded elsewhere (writeEncoded) are stored as write() stores them: unchanged ones skipped, seen keys kept, batchRows held', async () => {
    const opts = { skipUnchanged: { key: ['id', 'date'], dateColumn: 'date' } } as const;
    const rows = [1, 2, 3, 4, 5, 6].map((id) => ({ id: 40_000 + id, date: '2026-01-07', v: id }));
    const first = createSink(settings(), opts);
    for (const r of rows) await first.write(r);
    await first.flush();

    // Ids 3 and 5 changed, 7 is new, 6 vanished; the rest come again as they were.
    const next = [...rows.slice(0, 5).map((r) => (r.v === 3 || r.v === 5 ? { ...r, v: r.v * 10 } : r)), { id: 40_007, date: '2026-01-07', v: 7 }];
    const counted = countingInserts(wh.client);
    const second = createSink(settings({ client: counted.client, batchRows: 2 }), opts);
    await second.writeEncoded(encodeRows(next, second.format));
    expect(await second.deleteUnseen((key) => key.id.startsWith('400'))).toBe(1);
    await second.flush();
    expect([second.skipped, second.written, second.deleted]).toEqual([3, 3, 1]);
    // Three rows at two per INSERT (the tombstone rides with the third).
    expect(counted.inserts()).toBe(2);
    const stored = await wh.query<{ k: string; v: number; d: number }>(`SELECT toString(id) AS k, v, _deleted AS d FROM items FINAL WHERE id > 40000 AND id < 40100 ORDER BY id`);
    expect(stored.map((r) => [Number(r.k) - 40_000, Number(r.v), Number(r.d)])).toEqual([[1, 1, 0], [2, 2, 0], [3, 30, 0], [4, 4, 0], [5, 50, 0], [6, 0, 1], [7, 7, 0]]);

    // The same rows through write(): every one unchanged, so the hashes and keys are the ones write() makes.
    const third = createSink(settings(), opts);
    for (const r of next) await third.write(r);
    await third.flush();
    expect([third.skipped, third.written]).toEqual([6, 0]);
    expect(() => createSink(settings()).writeEncoded(encodeRows(next, second.format))).toThrow(/needs skipUnchanged/);
  });

  it('marks keys that vanished upstream as deleted, and revives them when they return', async () => {
    const rows = [1, 2, 3].map((id) => ({ id, date: '2026-01-05', v: id }));
    const opts = { skipUnchanged: { key: ['id', 'date'], dateColumn: 'date' } } as const;
    const first = createSink(settings(), opts);
    for (const r of rows) await first.write(r);
    await first.flush();

    const second = createSink(settings(), opts);
    await second.write(rows[0]!);
    await second.write(rows[1]!);
    expect(await second.deleteUnseen((key) => key.date === '2026-01-05' && key.id !== '999')).toBe(1);
    await second.flush();
    expect([second.skipped, second.written, second.deleted]).toEqual([2, 0, 1]);
    expect(await count("date = '2026-01-05' AND _deleted = 0")).toBe(2);
    expect(await count("id = 3 AND _deleted = 1")).toBe(1);

    // Nothing is deleted twice, and out-of-scope keys are left alone.
    const third = createSink(settings(), opts);
    expect(await third.deleteUnseen((key) => key.id === '1')).toBe(1);
    await third.flush();
    expect(await count('id = 1 AND _deleted = 1')).toBe(1);

    const fourth = createSink(settings(), opts);
    for (const r of rows) await fourth.write(r);
    await fourth.flush();
    expect(fourth.written).toBe(2); // ids 1 and 3 come back; 2 is unchanged
    expect(await count("date = '2026-01-05' AND _deleted = 0")).toBe(3);
  });

  it('concurrent sinks of one client and table share INSERTs (group commit), each counting its own rows', async () => {
    const { client: counting, inserts } = countingInserts(wh.client);
    const a = createSink(settings({ client: counting }));
    const b = createSink(settings({ client: counting }));
    for (let i = 0; i < 3; i++) {
      await a.write({ id: 20_000 + i, date: '2026-01-02', v: i });
      await b.write({ id: 20_100 + i, date: '2026-01-02', v: i });
    }
    expect([a.dirty, b.dirty]).toEqual([true, true]);
    await Promise.all([a.flush(), b.flush()]);
    expect(inserts()).toBe(1);
    expect([a.written, b.written, a.dirty, b.dirty]).toEqual([3, 3, false, false]);
    expect(await count('id >= 20000 AND id < 20200')).toBe(6);

    // One flushes, the other keeps writing and flushes later: the first one's INSERT carries the other's
    // rows written so far (sent after the group-commit wait), the later rows go in a second INSERT.
    const c = createSink(settings({ client: counting }));
    const d = createSink(settings({ client: counting }));
    await c.write({ id: 20_200, date: '2026-01-02', v: 0 });
    await d.write({ id: 20_300, date: '2026-01-02', v: 0 });
    await c.flush();
    expect([c.written, d.written, d.dirty]).toEqual([1, 1, false]);
    await d.write({ id: 20_301, date: '2026-01-02', v: 1 });
    await d.flush();
    expect([d.written, inserts()]).toEqual([2, 3]);
    expect(await count('id >= 20200 AND id < 20400')).toBe(3);

    // With groupCommitMs (the batch sync) a lone sink's flush holds the INSERT open for rows that come after.
    const e = createSink(settings({ client: counting, groupCommitMs: 200 }));
    const f = createSink(settings({ client: counting, groupCommitMs: 200 }));
    await e.write({ id: 20_400, date: '2026-01-02', v: 0 });
    const eFlushed = e.flush();
    await f.write({ id: 20_401, date: '2026-01-02', v: 0 });
    await Promise.all([eFlushed, f.flush()]);
    expect([e.written, f.written, inserts()]).toEqual([1, 1, 4]);

    // groupCommitMs as a function is asked at each flush: an hour while more rows may come, then 0 (the batch
    // has no account left to start), when a lone flush sends at once instead of waiting out the hour.
    let linger = 3_600_000;
    const g = createSink(settings({ client: counting, groupCommitMs: () => linger }));
    await g.write({ id: 20_500, date: '2026-01-02', v: 0 });
    const lingering = g.flush();
    let settledEarly = false;
    void lingering.then(
      () => (settledEarly = true),
      () => undefined, // a failure is seen by the await below
    );
    await count('id = 20500'); // a round trip to ClickHouse: the flush is still holding its INSERT open
    expect([settledEarly, g.dirty]).toEqual([false, true]);
    linger = 0;
    await g.write({ id: 20_501, date: '2026-01-02', v: 1 });
    await g.flush(); // the last flush ends the INSERT both flushes wait for
    await lingering;
    expect([g.written, g.dirty, inserts()]).toEqual([2, false, 5]);
    expect(await count('id >= 20500 AND id < 20600')).toBe(2);

    // Two sinks sharing the INSERT: the first flushed while an hour's linger held; when the other flushes
    // after the linger went to 0, every owner has asked and the INSERT goes at once.
    linger = 3_600_000;
    const h = createSink(settings({ client: counting, groupCommitMs: () => linger }));
    const k = createSink(settings({ client: counting, groupCommitMs: () => linger }));
    await h.write({ id: 20_600, date: '2026-01-02', v: 0 });
    await k.write({ id: 20_601, date: '2026-01-02', v: 0 });
    const hFlushed = h.flush();
    linger = 0;
    await Promise.all([hFlushed, k.flush()]);
    expect([h.written, k.written, inserts()]).toEqual([1, 1, 6]);
  });

  it('a flush waits for the rows written before it, not for those written after it (they wait for their own)', async () => {
    // With an hour's flush timer, a flush that also waited for the later row would never return.
    const sink = createSink(settings({ flushMs: 3_600_000 }));
    await sink.write({ id: 25_000, date: '2026-01-02', v: 0 });
    const flushed = sink.flush();
    await sink.write({ id: 25_001, date: '2026-01-02', v: 1 });
    await flushed;
    expect([sink.written, sink.dirty]).toEqual([1, true]);
    await sink.flush();
    expect([sink.written, sink.dirty]).toEqual([2, false]);
  });

  it('a sink with shared: false keeps its rows out of the other sinks\' INSERT', async () => {
    const { client: counting, inserts } = countingInserts(wh.client);
    const a = createSink(settings({ client: counting }));
    const b = createSink(settings({ client: counting, shared: false }));
    await a.write({ id: 26_000, date: '2026-01-02', v: 0 });
    await b.write({ id: 26_001, date: '2026-01-02', v: 0 });
    await Promise.all([a.flush(), b.flush()]);
    expect([a.written, b.written, inserts()]).toEqual([1, 1, 2]);
  });

  it('a shared INSERT that ClickHouse rejects fails every sink with rows in it; the next one starts afresh', async () => {
    const a = createSink(settings());
    const b = createSink(settings());
    await a.write({ id: 30_000, date: '2026-01-03', v: 1 });
    await b.write({ id: 'not a number', date: '2026-01-03', v: 1 });
    const [ra, rb] = await Promise.allSettled([a.flush(), b.flush()]);
    expect([ra.status, rb.status]).toEqual(['rejected', 'rejected']);
    await expect(a.write({ id: 30_001, date: '2026-01-03', v: 1 })).rejects.toThrow(/parse/i);
    const c = createSink(settings());
    await c.write({ id: 30_002, date: '2026-01-03', v: 1 });
    await c.flush();
    expect(c.written).toBe(1);
    expect(await count('id >= 30000 AND id < 30100')).toBe(1);
  });

  it('surfaces an INSERT that ClickHouse rejects', async () => {
    const sink = createSink(settings());
    await sink.write({ id: 'not a number', date: '2026-01-01', v: 1 });
    await expect(sink.flush()).rejects.toThrow(/Cannot parse|parse/i);
  });
});

describe('insert sink over a whole-table scope', () => {
  it('without a dateColumn, every stored key is a candidate (a source read whole on every run)', async () => {
    const wh = await freshWarehouse();
    try {
      await wh.client.command({
        query: `CREATE TABLE sheet (id String, v UInt32, _hash UInt64, _deleted UInt8 DEFAULT 0, _ver UInt64, _loaded_at DateTime('UTC'), _run_id String)
                ENGINE = ReplacingMergeTree(_ver) ORDER BY id`,
      });
      const make = (version: number) => createSink({ client: wh.client, table: 'sheet', runId: `r${version}`, version, batchRows: 100, flushMs: 1000 }, { skipUnchanged: { key: ['id'] } });
      const first = make(1);
      for (const id of ['a', 'b', 'c']) await first.write({ id, v: 1 });
      await first.flush();
      const second = make(2);
      for (const id of ['a', 'c']) await second.write({ id, v: 1 });
      expect(await second.deleteUnseen(() => true)).toBe(1);
      await second.flush();
      const rows = await wh.query<{ id: string; d: number }>('SELECT id, _deleted AS d FROM sheet FINAL ORDER BY id');
      expect(rows.map((r) => [r.id, Number(r.d)])).toEqual([['a', 0], ['b', 1], ['c', 0]]);
      expect(second.skipped).toBe(2);
    } finally {
      await wh.drop();
    }
  });
});

describe('insert sink with an explicit lookup range on a key column', () => {
  it('compares with the newest stored version of a key even when a non-key date moved out of the window', async () => {
    // A weekly bucket: key (id, week_start), date_stop changes between versions (a partial week, then the
    // whole one, then a partial one again). The run window starts mid-week, after the partial date_stop.
    const wh = await freshWarehouse();
    try {
      await wh.client.command({
        query: `CREATE TABLE weeks (id UInt64, week_start Date, date_stop Date, v UInt32, _hash UInt64, _deleted UInt8 DEFAULT 0, _ver UInt64, _loaded_at DateTime('UTC'), _run_id String)
                ENGINE = ReplacingMergeTree(_ver) ORDER BY (id, week_start)`,
      });
      const full = { id: 1, week_start: '2026-01-12', date_stop: '2026-01-18', v: 7 };
      const partial = { id: 1, week_start: '2026-01-12', date_stop: '2026-01-14', v: 3 };
      const window = { since: '2026-01-16', until: '2026-01-25' };
      let version = 1;
      const make = (skipUnchanged: { key: string[]; dateColumn: string; since?: string; until?: string }) =>
        createSink({ client: wh.client, table: 'weeks', runId: `r${version}`, version: version++, batchRows: 100, flushMs: 1000, window }, { skipUnchanged });
      for (const row of [full, partial]) {
        const s = make({ key: ['id', 'week_start'], dateColumn: 'week_start', since: '2026-01-12', until: '2026-01-25' });
        await s.write(row);
        await s.flush();
        expect(s.written).toBe(1);
      }
      const stored = async () => (await wh.query<{ d: string }>(`SELECT toString(date_stop) AS d FROM weeks FINAL WHERE id = 1`))[0]!.d;
      expect(await stored()).toBe('2026-01-14');

      // By the non-key date_stop within the window the partial (newest) version is out of the lookup and
      // the stale full one matches the incoming row: the repair would be skipped.
      const byStop = make({ key: ['id', 'week_start'], dateColumn: 'date_stop' });
      await byStop.write(full);
      expect([byStop.skipped, byStop.written]).toEqual([1, 0]);

      // By the key column over the buckets' own range, the newest version is compared and the row is written.
      const byWeek = make({ key: ['id', 'week_start'], dateColumn: 'week_start', since: '2026-01-12', until: window.until });
      await byWeek.write(full);
      await byWeek.flush();
      expect([byWeek.skipped, byWeek.written]).toEqual([0, 1]);
      expect(await stored()).toBe('2026-01-18');

      // And once repaired, the same row is unchanged.
      const again = make({ key: ['id', 'week_start'], dateColumn: 'week_start', since: '2026-01-12', until: window.until });
      await again.write(full);
      await again.flush();
      expect([again.skipped, again.written]).toEqual([1, 0]);
    } finally {
      await wh.drop();
    }
  });
});

describe('insert sink with a where scope', () => {
  it('looks up (and tombstones) only the keys of its own account', async () => {
    const wh = await freshWarehouse();
    try {
      await wh.client.command({
        query: `CREATE TABLE per_account (account String, id String, v UInt32, _hash UInt64, _deleted UInt8 DEFAULT 0, _ver UInt64, _loaded_at DateTime('UTC'), _run_id String)
                ENGINE = ReplacingMergeTree(_ver) ORDER BY (account, id)`,
      });
      let version = 1;
      const make = (where?: Record<string, string>) =>
        createSink({ client: wh.client, table: 'per_account', runId: `r${version}`, version: version++, batchRows: 100, flushMs: 1000 }, { skipUnchanged: { key: ['account', 'id'], ...(where ? { where } : {}) } });
      const seed = make();
      for (const [account, id] of [['a', '1'], ['a', '2'], ['b', '1']]) await seed.write({ account, id, v: 1 });
      await seed.flush();

      const scoped = make({ account: 'a' });
      await scoped.write({ account: 'a', id: '1', v: 1 });
      expect(await scoped.deleteUnseen(() => true)).toBe(1);
      await scoped.flush();
      expect(scoped.skipped).toBe(1);
      const rows = await wh.query<{ k: string; d: number }>(`SELECT concat(account, id) AS k, _deleted AS d FROM per_account FINAL ORDER BY k`);
      expect(rows.map((r) => [r.k, Number(r.d)])).toEqual([['a1', 0], ['a2', 1], ['b1', 0]]);
    } finally {
      await wh.drop();
    }
  });
});
