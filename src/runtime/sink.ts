// The insert sink: rows become JSONEachRow text as they arrive and stream to ClickHouse in one INSERT per
// batch (by rows or by time). At most one batch finishes while the next one fills; a writer that gets
// ahead of ClickHouse waits (back-pressure), so memory stays flat whatever the source size. Sinks of one
// client writing the same table share the open INSERT (group commit): each INSERT costs ClickHouse a part,
// so the batch sync's concurrent accounts write one INSERT per table where they would write one each.
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import type { ClickHouseClient } from '../clickhouse/client.js';
import { queryRows } from '../clickhouse/client.js';
import { sqlDate, sqlString, sqlIdent } from '../clickhouse/literal.js';
import { AdhouseError } from './errors.js';
import { utcDateTime } from './dates.js';
import { rowHash, rowKey, sinkLine, type EncodedRows, type LineFormat, type Row } from './row-encoding.js';

export type { Row } from './row-encoding.js';

export interface SinkOptions {
  /** Stamp `_hash` (first 64 bits of SHA-1 of the row's JSON) for change detection. */
  hash?: boolean;
  /**
   * Skip rows whose hash equals the newest stored version of the same key within the run window
   * (implies `hash`). `dateColumn` bounds the lookup to the run window, or to `since..until` when given
   * (a source whose rows' dates reach outside the window: Facebook's weekly buckets start on the Monday
   * before it); without it the whole table is the scope (sources read whole on every run, such as a
   * sheet). `dateColumn` should be one of `key` or a column that never changes for a key: a column that
   * differs between versions cuts them apart, so the lookup may miss the newest and compare an older one
   * (a changed row then looks unchanged). The table needs `_hash` and `_deleted`.
   */
  skipUnchanged?: { key: readonly string[]; dateColumn?: string; since?: string; until?: string; where?: Readonly<Record<string, string>> };
  /** With skipUnchanged: a row for which this is true is skipped when no stored version exists (zero-filled days). */
  isEmpty?: (row: Row) => boolean;
}

export interface TableSink {
  readonly table: string;
  /**
   * Rows that vanished upstream (DESIGN.md): for every stored key of the run window (skipUnchanged's
   * lookup) that this run did not write or skip, whose stored version is not deleted yet and for which
   * `match` is true, writes the key again with `_deleted = 1`. Call once the source's answer for the
   * matched scope is complete. Returns how many keys were marked; they count in `deleted`, not `written`.
   */
  deleteUnseen(match: (key: Record<string, string>) => boolean): Promise<number>;
  readonly deleted: number;
  /** Queue one row; resolves when the sink has room for more. */
  write(row: Row): Promise<void>;
  /**
   * write() for rows already encoded by `encodeRows(rows, sink.format)` (rows typed off the main thread): the
   * unchanged ones are left out and the rest appended as they are. Needs skipUnchanged and no isEmpty (the
   * rows themselves are not here to ask).
   */
  writeEncoded(rows: EncodedRows): Promise<void>;
  /** This sink's key columns and run stamp, for encodeRows. */
  readonly format: LineFormat;
  /** Count rows deliberately not written (unchanged, out of scope). */
  skip(n?: number): void;
  /** Send what is buffered and wait for every insert to finish. */
  flush(): Promise<void>;
  /**
   * Start skipUnchanged's lookup of stored versions now, in the background, instead of at the first write
   * (a loader that knows it will write here overlaps the query with its API calls). A failure surfaces at
   * the first write.
   */
  prefetch(): void;
  /** Rows stored (their INSERT answered). */
  readonly written: number;
  /** Rows handed to an INSERT so far, stored or not yet: `written` once the sink is flushed. */
  readonly accepted: number;
  /** Whether anything (rows or tombstones) was handed to an INSERT that flush() has not seen finish. */
  readonly dirty: boolean;
  readonly skipped: number;
}

export interface SinkSettings {
  client: ClickHouseClient;
  table: string;
  runId: string;
  version: number;
  batchRows: number;
  flushMs: number;
  window?: { since: string; until: string };
  signal?: AbortSignal;
  /**
   * How long a flush holds the INSERT open for other sinks' rows even when this sink is alone in it (the
   * batch sync, whose accounts' flushes are off their critical path). Default 0: a lone sink's flush sends
   * at once; a shared INSERT always waits up to GROUP_COMMIT_MS for the other sinks. A function is asked at
   * each flush (the batch stops lingering once no account is left to start).
   */
  groupCommitMs?: number | (() => number);
  /** false: this sink's INSERTs carry only its rows (a retry after a shared INSERT failed). Default true. */
  shared?: boolean;
}

interface StoredVersion {
  hash: string;
  deleted: boolean;
  /** This run wrote or skipped the key: it still exists upstream (deleteUnseen leaves it). */
  seen?: boolean;
}

const READY: Promise<void> = Promise.resolve();

/** Text handed to the INSERT stream at a time; small enough to keep memory flat, large enough to be cheap. */
const CHUNK_CHARS = 256 * 1024;
/**
 * How long a flush waits for the other sinks with rows in the same INSERT to flush too (group commit). Each
 * INSERT costs ClickHouse a part (tens of ms of CPU whatever its size), so the batch sync's concurrent
 * accounts share them; a sink alone in its INSERT never waits.
 */
export const GROUP_COMMIT_MS = 500;

/** A sink as an owner of rows in a shared INSERT. */
interface Owner {
  written: number;
  failure: unknown;
  /** Batches holding this sink's rows whose INSERT has not answered. */
  inFlight: Set<Batch>;
}

interface Batch {
  stream: PassThrough;
  /** Settles when ClickHouse has answered the INSERT (never rejects: a failure goes to every owner). */
  done: Promise<void>;
  rows: number;
  pending: string;
  /** Rows per owner. */
  owners: Map<Owner, number>;
  /** Owners that asked for the INSERT to be sent. */
  flushing: Set<Owner>;
  timer: NodeJS.Timeout | null;
}

/**
 * One table's INSERTs for every sink of one client: concurrent runs (the batch sync's accounts) write their
 * rows into the same open INSERT. Each row carries its own run's _ver/_run_id, so rows of several runs mix
 * freely; a rejected INSERT fails every owner with rows in it.
 */
interface Channel {
  batch: Batch | null;
  /** The chain of ended batches' answers: at most two INSERTs outstanding (the finishing one and the next). */
  previous: Promise<void> | null;
}

const channels = new WeakMap<ClickHouseClient, Map<string, Channel>>();
const newChannel = (): Channel => ({ batch: null, previous: null });

function channelOf(client: ClickHouseClient, table: string): Channel {
  let byTable = channels.get(client);
  if (!byTable) channels.set(client, (byTable = new Map()));
  let channel = byTable.get(table);
  if (!channel) byTable.set(table, (channel = newChannel()));
  return channel;
}

/** Takes the batch out of its channel if it is the open one: rows written from now on open a new batch. */
function detach(channel: Channel, batch: Batch): void {
  if (channel.batch !== batch) return;
  channel.batch = null;
  if (batch.timer) clearTimeout(batch.timer);
}

/** Ends the channel's open batch (synchronously detached, so concurrent writes start a new one); resolves when the one before it has answered. */
async function endBatch(channel: Channel): Promise<void> {
  const current = channel.batch;
  if (current) {
    detach(channel, current);
    current.stream.end(current.pending);
    current.pending = '';
  }
  // Chain before awaiting, so batches ended by time, size and flushes never lose each other's INSERT.
  const prior = channel.previous;
  if (current) {
    const link = prior ? prior.then(() => current.done) : current.done;
    channel.previous = link;
    void link.then(() => {
      if (channel.previous === link) channel.previous = null;
    });
  }
  if (prior) await prior;
}

export function createSink(settings: SinkSettings, options: SinkOptions = {}): TableSink {
  const table = sqlIdent(settings.table);
  const stampHash = Boolean(options.hash || options.skipUnchanged);
  const suffix = `"_ver":${settings.version},"_loaded_at":"${utcDateTime(settings.version)}","_run_id":${JSON.stringify(settings.runId)}}`;
  const channel: Channel = settings.shared === false ? newChannel() : channelOf(settings.client, table);
  const me: Owner = { written: 0, failure: null, inFlight: new Set() };

  let accepted = 0;
  let skipped = 0;
  let deleted = 0;
  let known: Map<string, StoredVersion> | null = null;
  let knownLoading: Promise<Map<string, StoredVersion>> | null = null;
  const keyColumns = options.skipUnchanged?.key ?? [];

  async function loadKnownHashes(): Promise<Map<string, StoredVersion>> {
    const spec = options.skipUnchanged!;
    const w = spec.since !== undefined || spec.until !== undefined ? { since: spec.since, until: spec.until } : settings.window;
    if (spec.dateColumn && (!w?.since || !w.until)) throw new AdhouseError('internal', `skipUnchanged on ${table} by ${spec.dateColumn} needs a run window or since and until`);
    // Without a dateColumn the whole table is the scope: for sources read whole on every run (a sheet).
    const conds = [
      ...(spec.dateColumn ? [`${sqlIdent(spec.dateColumn)} BETWEEN ${sqlDate(w!.since!)} AND ${sqlDate(w!.until!)}`] : []),
      ...Object.entries(spec.where ?? {}).map(([c, v]) => `${sqlIdent(c)} = ${sqlString(v)}`),
    ];
    const scope = conds.length ? `WHERE ${conds.join(' AND ')}` : '';
    const parts = spec.key.map((k) => `toString(${sqlIdent(k)})`);
    // 18.16's concat() wants at least two arguments.
    const keyExpr = parts.length === 1 ? parts[0]! : `concat(${parts.join(", '\\t', ")})`;
    const rows = await queryRows<{ k: string; h: string; d: number | string }>(
      settings.client,
      `SELECT ${keyExpr} AS k, toString(argMax(_hash, _ver)) AS h, argMax(_deleted, _ver) AS d FROM ${table} ${scope} GROUP BY k`,
      settings.signal,
    );
    return new Map(rows.map((r) => [r.k, { hash: r.h, deleted: Number(r.d) === 1 }]));
  }

  // Each batch is one INSERT whose body streams while rows arrive, so ClickHouse parses batch N while
  // this process serializes the rest of it; the stream's back-pressure keeps memory flat. No run's abort
  // signal cuts it: other runs' rows ride in it too (a stopped run's flush stops waiting instead).
  function openBatch(): Batch {
    const stream = new PassThrough();
    const batch: Batch = { stream, rows: 0, pending: '', owners: new Map(), flushing: new Set(), timer: null, done: READY };
    batch.done = settings.client
      .exec({ query: `INSERT INTO ${table} FORMAT JSONEachRow`, values: stream })
      .then(async (res) => {
        // Drain the (empty) answer so the socket goes back to the pool.
        for await (const _ of res.stream) void _;
        for (const [owner, rows] of batch.owners) owner.written += rows;
      })
      .catch((err: unknown) => {
        // Refused before its body ended (a parse error): later rows go to a new INSERT.
        detach(channel, batch);
        for (const owner of batch.owners.keys()) owner.failure ??= err;
        stream.destroy();
      })
      .finally(() => {
        // Answered: nothing more may join it (ClickHouse answers after the body ends, so this is a guard).
        detach(channel, batch);
        for (const owner of batch.owners.keys()) owner.inFlight.delete(batch);
      });
    if (settings.flushMs > 0) {
      batch.timer = setTimeout(() => {
        if (channel.batch === batch) void endBatch(channel);
      }, settings.flushMs);
      batch.timer.unref();
    }
    return batch;
  }

  /**
   * Appends lines holding `rows` rows to the channel's open batch: text (gathered into chunks) or encoded
   * bytes (written at once, after the text before them); resolves when there is room for more. A tombstone
   * is not a written row (0).
   */
  function append(lines: string | readonly Uint8Array[], rows: number): Promise<void> {
    const batch = (channel.batch ??= openBatch());
    batch.rows += rows;
    batch.owners.set(me, (batch.owners.get(me) ?? 0) + rows);
    me.inFlight.add(batch);
    if (typeof lines === 'string') batch.pending += lines;
    if (batch.rows >= settings.batchRows) {
      if (typeof lines !== 'string') writeBytes(batch, lines);
      return unlessStopped(endBatch(channel)).then(throwIfFailed);
    }
    if (typeof lines !== 'string') return roomAfter(batch, writeBytes(batch, lines));
    if (batch.pending.length >= CHUNK_CHARS) return pushPending(batch);
    return READY;
  }

  /** Writes the batch's pending text, then the bytes; false when the stream asks to wait (back-pressure). */
  function writeBytes(batch: Batch, parts: readonly Uint8Array[]): boolean {
    let ok = true;
    if (batch.pending) ok = batch.stream.write(batch.pending);
    batch.pending = '';
    for (const part of parts) ok = batch.stream.write(part);
    return ok;
  }

  async function pushPending(batch: Batch): Promise<void> {
    if (!batch.pending) return;
    const ok = batch.stream.write(batch.pending);
    batch.pending = '';
    await roomAfter(batch, ok);
  }

  async function roomAfter(batch: Batch, ok: boolean): Promise<void> {
    // Let the socket take the chunk: a loop of resolved awaits would never reach the I/O phase.
    if (!ok) await unlessStopped(Promise.race([once(batch.stream, 'drain').then(() => undefined), batch.done]));
    else await new Promise<void>((resolve) => setImmediate(resolve));
  }

  function throwIfFailed(): void {
    if (me.failure) throw me.failure;
  }

  /** Resolves when `promise` does, or rejects when the run is stopped. */
  function unlessStopped(promise: Promise<void>): Promise<void> {
    const signal = settings.signal;
    if (!signal) return promise;
    if (signal.aborted) return Promise.reject(new AdhouseError('aborted', 'aborted'));
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(new AdhouseError('aborted', 'aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
      promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /**
   * The first write of a skipUnchanged sink waits for the stored hashes; every other write of a row that needs
   * no flush returns a settled promise without an async frame (it adds up at a million rows).
   */
  function whenKnown(write: () => Promise<void>): Promise<void> {
    return (knownLoading ??= loadKnownHashes()).then((loaded) => {
      known = loaded;
      return write();
    });
  }

  /** A hashed row: skipped when unchanged (or empty and never stored), else stamped and appended. */
  function acceptHashed(json: string, hash: string, key: string, row?: Row): Promise<void> {
    if (options.skipUnchanged) {
      // Only stored keys are tombstone candidates, so only they are marked seen: memory stays at the
      // size of the window's stored keys, not of everything this run writes.
      const stored = known!.get(key);
      if (stored) stored.seen = true;
      if ((stored && !stored.deleted && stored.hash === hash) || ((stored === undefined || stored.deleted) && row && options.isEmpty?.(row))) {
        skipped++;
        return READY;
      }
    }
    return accept(sinkLine(json, hash, suffix));
  }

  function accept(line: string): Promise<void> {
    accepted++;
    return append(line, 1);
  }

  /**
   * Encoded rows less the unchanged ones, appended as runs of consecutive kept lines; a batch that reaches
   * batchRows ends there, as with single rows.
   */
  async function acceptEncoded(rows: EncodedRows): Promise<void> {
    let parts: Uint8Array[] = [];
    let kept = 0;
    let start = 0;
    let from = 0;
    const send = async (): Promise<void> => {
      accepted += kept;
      const [lines, n] = [parts, kept];
      parts = [];
      kept = 0;
      await append(lines, n);
    };
    for (let i = 0; i < rows.ends.length; i++) {
      const end = rows.ends[i]!;
      // As in acceptHashed: a stored key is marked seen, and skipped when its newest version has this hash.
      const stored = known!.size > 0 ? known!.get(rows.keys[i]!) : undefined;
      if (stored) stored.seen = true;
      if (stored && !stored.deleted && stored.hash === rows.hashes[i]) {
        skipped++;
        if (from > start) parts.push(rows.body.subarray(start, from));
        start = end;
      } else if (++kept >= settings.batchRows - (channel.batch?.rows ?? 0)) {
        parts.push(rows.body.subarray(start, end));
        start = end;
        await send();
      }
      from = end;
    }
    if (from > start) parts.push(rows.body.subarray(start, from));
    if (kept > 0) await send();
  }

  const sink: TableSink = {
    table,
    format: { key: keyColumns, suffix },
    get written() {
      return me.written;
    },
    get accepted() {
      return accepted;
    },
    get dirty() {
      return me.inFlight.size > 0;
    },
    get skipped() {
      return skipped;
    },
    get deleted() {
      return deleted;
    },
    skip(n = 1) {
      skipped += n;
    },
    write(row) {
      if (me.failure) return Promise.reject(me.failure);
      if (options.skipUnchanged && !known) return whenKnown(() => sink.write(row));
      const json = JSON.stringify(row);
      if (!stampHash) return accept(sinkLine(json, undefined, suffix));
      return acceptHashed(json, rowHash(json), options.skipUnchanged ? rowKey(row, keyColumns) : '', row);
    },
    writeEncoded(rows) {
      if (!options.skipUnchanged || options.isEmpty) throw new AdhouseError('internal', `writeEncoded on ${table} needs skipUnchanged without isEmpty`);
      if (me.failure) return Promise.reject(me.failure);
      if (!known) return whenKnown(() => sink.writeEncoded(rows));
      return acceptEncoded(rows);
    },
    prefetch() {
      if (!options.skipUnchanged || known || knownLoading) return;
      knownLoading = loadKnownHashes();
      // The first write awaits it and sees a failure; this only keeps it from counting as unhandled.
      knownLoading.catch(() => undefined);
    },
    async deleteUnseen(match) {
      const spec = options.skipUnchanged;
      if (!spec) throw new AdhouseError('internal', `deleteUnseen on ${table} needs skipUnchanged (the stored keys of the window)`);
      if (!known) known = await (knownLoading ??= loadKnownHashes());
      let marked = 0;
      for (const [key, stored] of known) {
        if (stored.deleted || stored.seen) continue;
        const parts = key.split('\t');
        const keyRow = Object.fromEntries(spec.key.map((k, i) => [k, parts[i]!]));
        if (!match(keyRow)) continue;
        const json = JSON.stringify({ ...keyRow, _deleted: 1 });
        stored.deleted = true;
        marked++;
        await append(sinkLine(json, rowHash(json), suffix), 0);
      }
      deleted += marked;
      return marked;
    },
    async flush() {
      // Sent at once when only this sink has rows in the open INSERT, or when every sink with rows in it has
      // asked; otherwise after GROUP_COMMIT_MS, so the others' rows go in the same INSERT.
      const open = channel.batch;
      if (open && open.owners.has(me)) {
        open.flushing.add(me);
        const linger = typeof settings.groupCommitMs === 'function' ? settings.groupCommitMs() : (settings.groupCommitMs ?? 0);
        if (open.flushing.size === open.owners.size && linger === 0) void endBatch(channel);
        else if (open.flushing.size === 1) {
          if (open.timer) clearTimeout(open.timer);
          open.timer = setTimeout(
            () => {
              if (channel.batch === open) void endBatch(channel);
            },
            Math.max(linger, open.owners.size > 1 ? GROUP_COMMIT_MS : 0),
          );
          open.timer.unref();
        }
      }
      // Every INSERT holding this sink's rows so far (ended by this flush, a timer or another sink); not the
      // ones rows written after this call open, or a flush during a step's writes would wait for them too.
      await unlessStopped(Promise.all([...me.inFlight].map((b) => b.done)).then(() => undefined));
      throwIfFailed();
    },
  };
  return sink;
}
