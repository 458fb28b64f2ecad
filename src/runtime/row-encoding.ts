// How rows become the sink's INSERT body: each row's JSON, the change-detection hash over that JSON, its
// natural key as text, and its line (the JSON with `_hash` and the run's stamp appended). One definition for
// the sink's own write() and for rows encoded off the main thread (loaders/facebook/page-decode.ts), so both
// give byte-identical lines and hashes.
import { hash as cryptoHash } from 'node:crypto';

export type Row = Record<string, unknown>;

/** What a sink's lines need besides the row: its key columns and the run's stamp closing each line. */
export interface LineFormat {
  key: readonly string[];
  /** `"_ver":…,"_loaded_at":…,"_run_id":…}`: the run's columns and the row's closing brace. */
  suffix: string;
}

/** UInt64 (as a decimal string) from the first 8 bytes of SHA-1: stable across runs and processes. */
export function rowHash(json: string): string {
  // crypto.hash (one-shot) is about twice as fast as createHash() per row; it matters at a million rows.
  return BigInt('0x' + cryptoHash('sha1', json).slice(0, 16)).toString();
}

/** The natural key as text, the way the sink's stored-hash lookup renders it (toString of each column, tab-joined). */
export function rowKey(row: Row, keyColumns: readonly string[]): string {
  let key = String(row[keyColumns[0]!]);
  for (let i = 1; i < keyColumns.length; i++) key += `\t${String(row[keyColumns[i]!])}`;
  return key;
}

/** One JSONEachRow line: the row's JSON (`JSON.stringify(row)`) with `_hash` (when given) and the suffix. */
export function sinkLine(json: string, hash: string | undefined, suffix: string): string {
  const open = `${json.slice(0, -1)}${json.length > 2 ? ',' : ''}`;
  return hash === undefined ? `${open}${suffix}\n` : `${open}"_hash":"${hash}",${suffix}\n`;
}

/** Rows as one piece of INSERT body (UTF-8), with what skipUnchanged needs to leave some out. */
export interface EncodedRows {
  body: Uint8Array;
  /** Where each row's line ends in `body` (bytes). */
  ends: number[];
  keys: string[];
  hashes: string[];
}

export function encodeRows(rows: readonly Row[], format: LineFormat): EncodedRows {
  const lines: string[] = [];
  const ends: number[] = [];
  const keys: string[] = [];
  const hashes: string[] = [];
  let end = 0;
  for (const row of rows) {
    const json = JSON.stringify(row);
    const hash = rowHash(json);
    const line = sinkLine(json, hash, format.suffix);
    lines.push(line);
    end += Buffer.byteLength(line);
    ends.push(end);
    keys.push(rowKey(row, format.key));
    hashes.push(hash);
  }
  return { body: Buffer.from(lines.join('')), ends, keys, hashes };
}
