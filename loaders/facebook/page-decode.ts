// One insights page, as the answer's bytes, to the INSERT body its sink stores: parse, type (insightRow),
// encode (encodeRows). Pure, so it runs the same in the decode thread (page-decode.worker.mjs) and inline.
import { encodeRows, type EncodedRows, type LineFormat, type Row } from '../../src/runtime/row-encoding.js';
import { insightKey, insightRow, isEmptyHourPlaceholder, type InsightContext, type InsightGrain } from './transform.js';

export interface DecodeTask {
  /** The answer's body as received (UTF-8): `{"data":[…],"paging":{…}}`. */
  body: Uint8Array;
  grain: InsightGrain;
  ctx: InsightContext;
  /** The grain's sink's `format`. */
  format: LineFormat;
}

export interface DecodedPage {
  /** Rows the page held, placeholders and refused rows included. */
  read: number;
  /** The typed rows, encoded for the sink (sink.writeEncoded). */
  rows: EncodedRows;
  /** Hourly rows of days without delivery (isEmptyHourPlaceholder): nothing to store. */
  placeholders: number;
  /** Rows insightRow refused, for the quarantine. */
  refused: Array<{ reason: string; payload: unknown; key: string }>;
  /** Set when the text is not an insights page; nothing else is then. */
  error?: string;
}

export function decodeInsightPage(task: DecodeTask): DecodedPage {
  const out: DecodedPage = { read: 0, rows: encodeRows([], task.format), placeholders: 0, refused: [] };
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(task.body.buffer, task.body.byteOffset, task.body.byteLength).toString('utf8'));
  } catch {
    return { ...out, error: 'the page is not JSON' };
  }
  const data = json && typeof json === 'object' ? (json as { data?: unknown }).data : undefined;
  if (!Array.isArray(data)) return { ...out, error: 'no data list' };
  out.read = data.length;
  const rows: Row[] = [];
  for (const raw of data) {
    if (task.grain === 'hourly' && isEmptyHourPlaceholder(raw)) {
      out.placeholders++;
      continue;
    }
    const row = insightRow(task.ctx, raw, task.grain);
    if (typeof row === 'string') out.refused.push({ reason: row, payload: raw, key: insightKey(task.ctx.accountId, raw) });
    else rows.push(row);
  }
  out.rows = encodeRows(rows, task.format);
  return out;
}
