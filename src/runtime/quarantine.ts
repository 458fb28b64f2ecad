// Rows that fail validation are never dropped silently: they go to meta_quarantine with the source, the
// table they were meant for, the raw payload and the reason. Keyed by (source, table, record key), so a
// re-run over the same window keeps one row per bad record, not one per attempt.
import { createHash } from 'node:crypto';
import { utcDateTime } from './dates.js';
import { redactString } from './redact.js';
import type { TableSink } from './sink.js';

export interface QuarantineEntry {
  /** The table the row was meant for. */
  table: string;
  reason: string;
  /** The raw upstream record (object or text). */
  payload: unknown;
  /** A stable identifier of the record (natural key, sheet row, ...); defaults to a hash of the payload. */
  key?: string;
}

export interface Quarantine {
  add(entry: QuarantineEntry): Promise<void>;
  readonly count: number;
}

export function createQuarantine(source: string, sink: TableSink, now: () => Date = () => new Date()): Quarantine {
  let count = 0;
  return {
    get count() {
      return count;
    },
    async add(entry) {
      const payload = redactString(typeof entry.payload === 'string' ? entry.payload : JSON.stringify(entry.payload) ?? String(entry.payload));
      const key = entry.key ?? createHash('sha1').update(payload).digest('hex');
      count++;
      await sink.write({
        source,
        target_table: entry.table,
        record_key: key,
        reason: redactString(entry.reason).slice(0, 2000),
        payload: payload.slice(0, 100_000),
        quarantined_at: utcDateTime(now().getTime()),
      });
    },
  };
}
