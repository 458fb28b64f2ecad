// The loader runtime against a real ClickHouse: run records, reconciliation, quarantine, cursor, abort,
// stale runs, secrets kept out of run records.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { defineLoader, type LoaderContext } from '../src/runtime/contract.js';
import { AdhouseError } from '../src/runtime/errors.js';
import { runLoader } from '../src/runtime/run-loader.js';
import { groupedRunWriter, markRunActive, newRunRecord, runIsDead, writeRun } from '../src/runtime/runs.js';
import type { ClickHouseClient } from '../src/clickhouse/client.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

const config = z.object({ FAKE_TOKEN: z.string().default('') });
type Ctx = LoaderContext<z.infer<typeof config>>;

function fakeLoader(run: (ctx: Ctx) => Promise<void>) {
  return defineLoader({
    name: 'fake_source',
    description: 'test loader',
    schedule: '0 * * * *',
    enabledByDefault: true,
    lookbackDays: 3,
    includeToday: false,
    initialDays: 10,
    rateLimit: { requestsPerSecond: 100, concurrency: 2 },
    config,
    run,
  });
}

/** Writes one row per day of the window; the row for `badDay` is quarantined. */
const dailyLoader = (badDay?: string) =>
  fakeLoader(async (ctx) => {
    const sink = ctx.sink('fake_daily', { skipUnchanged: { key: ['id', 'date'], dateColumn: 'date' } });
    for (let d = new Date(`${ctx.window.since}T00:00:00Z`); d.toISOString().slice(0, 10) <= ctx.window.until; d.setUTCDate(d.getUTCDate() + 1)) {
      const date = d.toISOString().slice(0, 10);
      ctx.rowsRead(1);
      if (date === badDay) await ctx.quarantine.add({ table: 'fake_daily', reason: 'bad amount', payload: { date, amount: -1 } });
      else await sink.write({ id: 1, date, amount: 10.5 });
    }
  });

describe('runLoader', () => {
  let wh: Warehouse;
  beforeAll(async () => {
    wh = await freshWarehouse();
    await wh.client.command({
      query: `CREATE TABLE fake_daily (id UInt64, date Date, amount Decimal(18,2), _hash UInt64, _deleted UInt8 DEFAULT 0, _ver UInt64, _loaded_at DateTime('UTC'), _run_id String)
              ENGINE = ReplacingMergeTree(_ver) ORDER BY (id, date)`,
    });
  });
  afterAll(async () => wh.drop());

  const runs = (runId: string) =>
    wh.query<Record<string, string>>(`SELECT * FROM meta_job_runs WHERE run_id = '${runId}' ORDER BY _ver DESC LIMIT 1`);

  it('records a successful run that reconciles, quarantines bad rows and skips unchanged ones on re-run', async () => {
    const first = await runLoader(dailyLoader('2026-01-03'), { env: wh.env, since: '2026-01-01', until: '2026-01-05' });
    expect(first.errorMessage).toBeUndefined();
    expect(first).toMatchObject({ status: 'success', rowsRead: 5, rowsWritten: 4, rowsQuarantined: 1, rowsSkipped: 0 });
    const [rec] = await runs(first.runId);
    expect(rec).toMatchObject({ status: 'success', rows_read: '5', rows_written: '4', rows_quarantined: '1', window_since: '2026-01-01', window_until: '2026-01-05' });
    const q = await wh.query<{ reason: string; payload: string }>(`SELECT reason, payload FROM meta_quarantine FINAL WHERE source = 'fake_source'`);
    expect(q).toEqual([{ reason: 'bad amount', payload: '{"date":"2026-01-03","amount":-1}' }]);

    const second = await runLoader(dailyLoader('2026-01-03'), { env: wh.env, since: '2026-01-01', until: '2026-01-05' });
    expect(second).toMatchObject({ status: 'success', rowsWritten: 0, rowsSkipped: 4, rowsQuarantined: 1 });
    const [totals] = await wh.query<{ c: string; s: string }>('SELECT count() AS c, toString(sum(amount)) AS s FROM fake_daily FINAL');
    expect(totals).toEqual({ c: '4', s: '42.00' });
    const [qc] = await wh.query<{ c: string }>(`SELECT count() AS c FROM meta_quarantine FINAL WHERE source = 'fake_source'`);
    expect(qc!.c).toBe('1');
  });

  it('reports steps to onStep: a completed step\'s rows are stored and counted even when a later step fails', async () => {
    // Huge batches and no timer: nothing reaches ClickHouse unless the step's completion flushes it.
    const env = { ...wh.env, SINK_BATCH_ROWS: '1000000', SINK_FLUSH_MS: '3600000' };
    const events: Array<[string, string, number, Promise<string>]> = [];
    const stored = async () => (await wh.query<{ c: string }>(`SELECT count() AS c FROM fake_daily WHERE id = 7`))[0]!.c;
    const loader = fakeLoader(async (ctx) => {
      const sink = ctx.sink('fake_daily');
      ctx.step('first', 'started');
      for (const date of ['2026-02-01', '2026-02-02', '2026-02-03']) {
        ctx.rowsRead(1);
        await sink.write({ id: 7, date, amount: 1 });
      }
      ctx.step('first', 'completed');
      ctx.step('second', 'started');
      ctx.rowsRead(1);
      await sink.write({ id: 7, date: '2026-02-04', amount: 1 });
      throw new AdhouseError('data', 'second step broke');
    });
    const s = await runLoader(loader, {
      env,
      since: '2026-02-01',
      until: '2026-02-04',
      onStep: (step, state, rows) => events.push([step, state, rows, stored()]),
    });
    expect(s).toMatchObject({ status: 'failed', errorClass: 'data' });
    // `completed` is told once the step's rows are stored (at least its 3 in the table when it was told; the
    // second step's row shares the sink, so its flush may carry it too), while the loader went on to the next
    // step; `started` is told at once. The rows are those handed to sinks by the time of the call.
    const told = await Promise.all(events.map(async ([step, state, rows, c]) => [step, state, rows, Number(await c)] as const));
    expect(told.map(([step, state, rows]) => [step, state, rows])).toEqual([
      ['first', 'started', 0],
      ['second', 'started', 3],
      ['first', 'completed', 3],
    ]);
    expect(told[2]![3]).toBeGreaterThanOrEqual(3);
    // Without a listener, step() flushes nothing: the rows stay batched until the run's end.
    const quiet = fakeLoader(async (ctx) => {
      const sink = ctx.sink('fake_daily');
      ctx.rowsRead(1);
      await sink.write({ id: 8, date: '2026-02-01', amount: 1 });
      ctx.step('first', 'completed');
      const [c] = await wh.query<{ c: string }>(`SELECT count() AS c FROM fake_daily WHERE id = 8`);
      expect(c!.c).toBe('0');
    });
    expect(await runLoader(quiet, { env, since: '2026-02-01', until: '2026-02-01' })).toMatchObject({ status: 'success', rowsWritten: 1 });
  });

  it('a step whose flush fails is never reported complete, and the run names that failure, not a later one', async () => {
    const env = { ...wh.env, SINK_BATCH_ROWS: '1000000', SINK_FLUSH_MS: '3600000' };
    const events: string[] = [];
    const loader = fakeLoader(async (ctx) => {
      const sink = ctx.sink('fake_daily');
      ctx.step('first', 'started');
      ctx.rowsRead(1);
      await sink.write({ id: 9, date: '2026-03-01', amount: 1, no_such_column: 1 }); // ClickHouse refuses the INSERT
      ctx.step('first', 'completed');
      await sink.flush().catch(() => undefined);
      throw new AdhouseError('network', 'a later, unrelated failure');
    });
    const s = await runLoader(loader, { env, since: '2026-03-01', until: '2026-03-01', onStep: (step, state) => events.push(`${step} ${state}`) });
    expect(events).toEqual(['first started']);
    expect(s.status).toBe('failed');
    expect(s.errorMessage).toMatch(/no_such_column/);
    expect(s.errorMessage).not.toMatch(/later, unrelated/);
  });

  it('onLoaderDone is told once when the loader says its calls are over (it may still be storing), else when it returns, never after a failure', async () => {
    const told: string[] = [];
    let release!: () => void;
    const storing = new Promise<void>((resolve) => (release = resolve));
    const early = fakeLoader(async (ctx) => {
      ctx.callsOver();
      ctx.callsOver();
      told.push('loader storing');
      await storing;
    });
    const run = runLoader(early, { env: wh.env, since: '2026-04-01', until: '2026-04-01', onLoaderDone: () => told.push('done') });
    // Told while the loader still works (it waits for us), not at its return.
    await vi.waitFor(() => expect(told).toEqual(['done', 'loader storing']));
    release();
    expect((await run).status).toBe('success');
    expect(told).toEqual(['done', 'loader storing']);

    const quiet: string[] = [];
    expect((await runLoader(fakeLoader(async () => undefined), { env: wh.env, since: '2026-04-01', until: '2026-04-01', onLoaderDone: () => quiet.push('done') })).status).toBe('success');
    const failing = fakeLoader(async () => {
      throw new AdhouseError('network', 'down');
    });
    expect((await runLoader(failing, { env: wh.env, since: '2026-04-01', until: '2026-04-01', onLoaderDone: () => quiet.push('failed but told') })).status).toBe('failed');
    expect(quiet).toEqual(['done']);
  });

  it('moves the cursor only on incremental runs; explicit windows leave it', async () => {
    const cursor = async () => (await wh.query<{ d: string }>(`SELECT toString(argMax(cursor_date, _ver)) AS d FROM meta_load_state WHERE source = 'fake_source'`))[0]?.d;
    const before = await cursor();
    await runLoader(dailyLoader(), { env: wh.env, since: '2025-06-01', until: '2025-06-02' });
    expect(await cursor()).toBe(before);
    const inc = await runLoader(dailyLoader(), { env: wh.env });
    expect(inc.window.explicit).toBe(false);
    expect(await cursor()).toBe(inc.window.until);
    // The next incremental run starts within the lookback, not at the initial window.
    const next = await runLoader(dailyLoader(), { env: wh.env });
    expect(next.window.since).toBe(new Date(Date.parse(`${next.window.until}T00:00:00Z`) - 2 * 86_400_000).toISOString().slice(0, 10));
  });

  it('fails with the error class and keeps secrets out of the run record', async () => {
    const env = { ...wh.env, FAKE_TOKEN: 'sekrit-token-value-123' };
    const loader = fakeLoader(async (ctx) => {
      throw new AdhouseError('token_invalid', `upstream rejected token ${ctx.config.FAKE_TOKEN} (Authorization: Bearer abc.def.ghi)`);
    });
    const summary = await runLoader(loader, { env, since: '2026-01-01', until: '2026-01-01' });
    expect(summary.status).toBe('failed');
    expect(summary.errorClass).toBe('token_invalid');
    const [rec] = await runs(summary.runId);
    expect(rec!.error_class).toBe('token_invalid');
    expect(rec!.error_message).not.toContain('sekrit-token-value-123');
    expect(rec!.error_message).not.toContain('abc.def.ghi');
    expect(rec!.error_message).toContain('***');
  });

  it('records an aborted run as interrupted', async () => {
    const controller = new AbortController();
    const loader = fakeLoader(async (ctx) => {
      controller.abort('SIGTERM');
      await ctx.http.sleep(60_000);
    });
    const summary = await runLoader(loader, { env: wh.env, since: '2026-01-01', until: '2026-01-01', signal: controller.signal });
    expect(summary.status).toBe('interrupted');
    expect((await runs(summary.runId))[0]!.status).toBe('interrupted');
  });

  it('marks a run whose process died as interrupted on the next run of the source', async () => {
    const dead = newRunRecord({ run_id: 'dead-run', source: 'fake_source', kind: 'load', window_since: '2026-01-01', window_until: '2026-01-01', account: '', backfill_id: '' }, Date.now() - 60_000);
    await writeRun(wh.client, { ...dead, pid: 2 ** 22 + 12345 }); // no such pid
    const summary = await runLoader(dailyLoader(), { env: wh.env, since: '2026-01-01', until: '2026-01-01' });
    expect(summary.status).toBe('success');
    expect((await runs('dead-run'))[0]!.status).toBe('interrupted');
  });

  it('lets runs of different accounts overlap but refuses a second run of the same account or of the whole source', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const slow = fakeLoader(async () => {
      entered();
      await gate;
    });
    const quick = fakeLoader(async (ctx) => {
      expect(ctx.params).toEqual({ steps: ['daily'] });
    });
    const holding = runLoader(slow, { env: wh.env, since: '2026-03-01', until: '2026-03-01', account: 'acc_a' });
    await inside;
    try {
      const other = await runLoader(quick, { env: wh.env, since: '2026-03-01', until: '2026-03-01', account: 'acc_b', params: { steps: ['daily'] } });
      expect(other.errorMessage).toBeUndefined();
      expect(other.status).toBe('success');
      await expect(runLoader(quick, { env: wh.env, since: '2026-03-01', until: '2026-03-01', account: 'acc_a' })).rejects.toThrow(/fake_source acc_a is already loading/);
      await expect(runLoader(quick, { env: wh.env, since: '2026-03-01', until: '2026-03-01' })).rejects.toThrow(/fake_source is already loading/);
    } finally {
      release();
    }
    expect((await holding).status).toBe('success');
  });

  it('never lets two clashing runs that start at the same moment both load (claim, then look again)', async () => {
    let inside = 0;
    let most = 0;
    const busy = fakeLoader(async () => {
      inside++;
      most = Math.max(most, inside);
      // Stay inside until the rival's claim and re-check are surely done: a query round trip on the server.
      await wh.query('SELECT count() FROM meta_job_runs');
      await wh.query('SELECT count() FROM meta_job_runs');
      inside--;
    });
    for (let round = 0; round < 5; round++) {
      const results = await Promise.allSettled([
        runLoader(busy, { env: wh.env, since: '2026-04-01', until: '2026-04-01' }),
        runLoader(busy, { env: wh.env, since: '2026-04-01', until: '2026-04-01', account: 'acc_a' }),
      ]);
      for (const r of results) if (r.status === 'rejected') expect(String(r.reason)).toMatch(/already loading/);
    }
    expect(most).toBe(1);
    const left = await wh.query<{ c: string }>(`SELECT count() AS c FROM (SELECT run_id, argMax(status, _ver) AS s FROM meta_job_runs WHERE source = 'fake_source' GROUP BY run_id) WHERE s = 'running'`);
    expect(left[0]!.c).toBe('0');
  });

  it('groups run records written close together into one INSERT; a linger of 0 sends what waits at once', async () => {
    let inserts = 0;
    /** wh.client whose INSERTs are counted and go through `through` (default: sent as they are). */
    type InsertParams = Parameters<ClickHouseClient['insert']>[0];
    const counted = (through: (params: InsertParams) => ReturnType<ClickHouseClient['insert']> = (params) => wh.client.insert(params)) =>
      new Proxy(wh.client, {
        get(target, prop, receiver) {
          if (prop !== 'insert') return Reflect.get(target, prop, receiver);
          return (params: InsertParams) => {
            inserts++;
            return through(params);
          };
        },
      });
    const counting = counted();
    let linger = 3_600_000;
    const writer = groupedRunWriter(counting, () => linger);
    const finished = (id: string) => ({
      ...newRunRecord({ run_id: id, source: 'fake_grouped', kind: 'load', window_since: '2026-05-01', window_until: '2026-05-01', account: id, backfill_id: '' }, Date.now()),
      status: 'success' as const,
    });
    const first = writer.write(finished('grouped-a'));
    const second = writer.write(finished('grouped-b'));
    await wh.query('SELECT 1'); // a round trip to the server: the hour's linger still holds both
    expect(inserts).toBe(0);
    // The linger is asked at each write: at 0 the third record takes the waiting two with it.
    linger = 0;
    await Promise.all([first, second, writer.write(finished('grouped-c'))]);
    expect(inserts).toBe(1);
    for (const id of ['grouped-a', 'grouped-b', 'grouped-c']) expect((await runs(id))[0]!.status).toBe('success');

    // A short linger: its timer sends the records written meanwhile in one INSERT.
    linger = 50;
    await Promise.all([writer.write(finished('grouped-d')), writer.write(finished('grouped-e'))]);
    expect(inserts).toBe(2);
    for (const id of ['grouped-d', 'grouped-e']) expect((await runs(id))[0]!.status).toBe('success');

    // A shared INSERT that fails (here: refused for carrying two records) fails no run: each record is
    // written again on its own.
    const refusing = counted((params) => ((params.values as unknown[]).length > 1 ? Promise.reject(new Error('refused')) : wh.client.insert(params)));
    const retrying = groupedRunWriter(refusing, () => 50);
    await Promise.all([retrying.write(finished('grouped-f')), retrying.write(finished('grouped-g'))]);
    expect(inserts).toBe(5);
    for (const id of ['grouped-f', 'grouped-g']) expect((await runs(id))[0]!.status).toBe('success');
  });

  it('flags a loader whose row accounting does not reconcile', async () => {
    const loader = fakeLoader(async (ctx) => {
      ctx.rowsRead(3);
      await ctx.sink('fake_daily').write({ id: 9, date: '2026-02-01', amount: 1, _hash: 0 });
    });
    const summary = await runLoader(loader, { env: wh.env, since: '2026-02-01', until: '2026-02-01' });
    expect(summary.status).toBe('failed');
    expect(summary.errorMessage).toMatch(/read 3 ≠ written 1/);
  });
});

describe('dead run detection', () => {
  const base = () => newRunRecord({ run_id: 'r', source: 's', kind: 'load', window_since: '2026-01-01', window_until: '2026-01-01', account: '', backfill_id: '' }, Date.now());

  it('treats a stale heartbeat as dead even when the pid is alive (reused after a reboot)', () => {
    const run = { ...base(), pid: 1, heartbeat_at: '2020-01-01 00:00:00' };
    expect(runIsDead(run)).toBe(true);
  });

  it('treats our own pid as alive only while that run is active here', () => {
    const run = { ...base(), run_id: 'own-run', pid: process.pid };
    expect(runIsDead(run)).toBe(true);
    markRunActive('own-run', true);
    expect(runIsDead(run)).toBe(false);
    markRunActive('own-run', false);
  });

  it('does not take a run of ours that just ended for a dead one (its running version read before its final one)', () => {
    const run = { ...base(), run_id: 'ended-run', pid: process.pid };
    markRunActive('ended-run', true);
    markRunActive('ended-run', false);
    expect(runIsDead(run)).toBe(false);
  });

  it('asks the OS about another live process on this host', () => {
    expect(runIsDead({ ...base(), pid: process.ppid })).toBe(false);
  });
});
