// Gmail fallback for ticket sales: QTickets report e-mails (CSV attachments or HTML tables) found by a
// search query, parsed into stg_qtickets_sales_raw (source 'gmail', src_msg_id = the message id).
// Upstream surprises and how each is handled: BEHAVIOR.md next to this file.
import { z } from 'zod';
import { envInt, envJson, envUrl } from '../../src/config/env.js';
import { defineLoader, type LoaderContext } from '../../src/runtime/contract.js';
import { addDays, zonedDayStart } from '../../src/runtime/dates.js';
import { AdhouseError, errorClassOf } from '../../src/runtime/errors.js';
import { createGmailApi, type GmailApi, type GmailMessage } from './api.js';
import { decodeBase64Url, decodeText, extractHtmlTables, isCsvPart, isHtmlBody, parseCsv, walkParts, type TextTable } from './report.js';
import { loadProcessed } from './state.js';
import { reportToRows, type ReportContext } from './transform.js';

const config = z.object({
  GMAIL_API_URL: envUrl.default('https://gmail.googleapis.com'),
  GMAIL_TOKEN_URL: envUrl.default('https://oauth2.googleapis.com/token'),
  GMAIL_CLIENT_ID: z.string().min(1),
  GMAIL_CLIENT_SECRET: z.string().min(1),
  GMAIL_REFRESH_TOKEN: z.string().min(1),
  /** Gmail search syntax; the run window is appended. No `has:attachment`: some reports are HTML-only. */
  GMAIL_QUERY: z.string().min(1).default('from:qtickets'),
  /** {"москва": "msk", ...}: report city names -> utm_content city codes (keys compared lowercased). */
  GMAIL_CITY_MAP: envJson(z.record(z.string(), z.string(), { message: 'expected a JSON object {"<city name>": "<city code>"}' })).default({}),
  GMAIL_PAGE_SIZE: envInt(1, 500).default(100),
});

type Config = z.infer<typeof config>;
type Ctx = LoaderContext<Config>;

export const SALES_TABLE = 'stg_qtickets_sales_raw';

export default defineLoader({
  name: 'gmail',
  description: 'Gmail fallback: QTickets report e-mails (CSV attachments, HTML tables) into sales lines',
  schedule: '0 */4 * * *',
  enabledByDefault: false,
  lookbackDays: 7,
  includeToday: true,
  initialDays: 30,
  // Per-user quota is 15,000 units/min = 50 calls/s at 5 units each; stay far below.
  rateLimit: { requestsPerSecond: 10, concurrency: 2 },
  config,
  async run(ctx) {
    const api = createGmailApi({
      apiUrl: ctx.config.GMAIL_API_URL,
      tokenUrl: ctx.config.GMAIL_TOKEN_URL,
      clientId: ctx.config.GMAIL_CLIENT_ID,
      clientSecret: ctx.config.GMAIL_CLIENT_SECRET,
      refreshToken: ctx.config.GMAIL_REFRESH_TOKEN,
      http: ctx.http,
      pageSize: ctx.config.GMAIL_PAGE_SIZE,
    });
    await loadMessages(ctx, api);
  },
});

/** Gmail reads `after:`/`before:` dates as midnight Pacific time: widen by a day each side, filter by internalDate here. */
export function windowQuery(query: string, since: string, until: string): string {
  const slash = (day: string) => day.replace(/-/g, '/');
  return `${query.trim()} after:${slash(addDays(since, -1))} before:${slash(addDays(until, 2))}`;
}

const FATAL = new Set(['token_invalid', 'config', 'aborted']);

async function loadMessages(ctx: Ctx, api: GmailApi): Promise<void> {
  const sink = ctx.sink(SALES_TABLE, { hash: true });
  const state = await loadProcessed(ctx.stateDir);
  const fromMs = zonedDayStart(ctx.window.since, ctx.reportingTz);
  const toMs = zonedDayStart(addDays(ctx.window.until, 1), ctx.reportingTz);
  const q = windowQuery(ctx.config.GMAIL_QUERY, ctx.window.since, ctx.window.until);
  const seen = new Set<string>();
  const done: Array<{ id: string; at: number; rows: number }> = [];
  const failed: Array<{ id: string; error: AdhouseError }> = [];
  let skippedMessages = 0;
  let outside = 0;
  ctx.progress.start('messages', 0);
  for await (const ids of api.list(q)) {
    for (const id of ids) {
      if (ctx.signal.aborted) throw new AdhouseError('aborted', 'aborted');
      if (seen.has(id)) continue;
      seen.add(id);
      // An explicit window (--since/--until, backfill) re-reads every message: that is how a parser fix
      // is applied to old reports. Incremental runs skip what an earlier run loaded.
      const before = state.get(id);
      if (before && !ctx.window.explicit) {
        ctx.rowsRead(before.rows);
        sink.skip(before.rows);
        skippedMessages++;
        continue;
      }
      try {
        const message = await api.get(id);
        if (message === null) {
          ctx.log.warn({ messageId: id }, `gmail: message ${id} was listed but is gone (404); skipped`);
          continue;
        }
        if (message.internalDate < fromMs || message.internalDate >= toMs) {
          outside++;
          continue;
        }
        const rows = await loadMessage(ctx, api, message);
        done.push({ id, at: message.internalDate, rows });
      } catch (err) {
        const error = err instanceof AdhouseError ? err : new AdhouseError(errorClassOf(err), err instanceof Error ? err.message : String(err), { cause: err });
        if (FATAL.has(error.code)) throw error;
        // One bad message must not lose the others: it is not marked processed, so the next run tries again.
        ctx.log.error({ messageId: id, errorClass: error.code, err: error }, `gmail: message ${id} failed: ${error.message}`);
        failed.push({ id, error });
      }
      ctx.progress.tick();
    }
  }
  ctx.progress.done();
  // Marked processed only once their rows are in ClickHouse: a crash before this re-reads them (idempotent).
  await sink.flush();
  for (const d of done) state.set(d.id, { at: d.at, rows: d.rows });
  await state.save();
  ctx.log.info({ listed: seen.size, loaded: done.length, skippedMessages, outsideWindow: outside, failed: failed.length }, `gmail: ${done.length} messages loaded, ${skippedMessages} already processed, ${failed.length} failed`);
  if (failed.length > 0) {
    const first = failed[0]!.error;
    throw new AdhouseError(first.code, `${failed.length} of ${seen.size} messages failed (${failed.map((f) => f.id).join(', ')}); the others were loaded. First: ${first.message}`, { upstreamCode: first.upstreamCode });
  }
}

/** One message -> rows; returns the data rows read. CSV attachments are the report; HTML tables only when there is none. */
async function loadMessage(ctx: Ctx, api: GmailApi, message: GmailMessage): Promise<number> {
  const parts = walkParts(message.payload);
  const tables: Array<{ name: string; table: TextTable }> = [];
  let read = 0;
  const csvParts = parts.filter(isCsvPart);
  for (const part of csvParts) {
    const name = part.filename || `part ${part.partId}`;
    const data = part.data ?? (part.attachmentId ? await api.attachment(message.id, part.attachmentId) : '');
    const { text } = decodeText(decodeBase64Url(data), part.charset);
    try {
      tables.push({ name, table: parseCsv(text) });
    } catch (err) {
      read += await quarantineWhole(ctx, message, name, `CSV cannot be parsed: ${err instanceof Error ? err.message : String(err)}`, text.slice(0, 2000));
    }
  }
  // A report with a CSV may also summarise it in the HTML body: reading both would count twice.
  if (csvParts.length === 0) {
    for (const part of parts.filter(isHtmlBody)) {
      const { text } = decodeText(decodeBase64Url(part.data ?? ''), part.charset);
      extractHtmlTables(text).forEach((table, i) => tables.push({ name: `html body table ${i + 1}`, table }));
    }
  }
  const sink = ctx.sink(SALES_TABLE);
  const rctxBase = { messageId: message.id, timeZone: ctx.reportingTz, cityMap: cityMap(ctx.config.GMAIL_CITY_MAP) };
  let reports = 0;
  for (const { name, table } of tables) {
    const rctx: ReportContext = { ...rctxBase, attachment: name };
    const r = reportToRows(table, rctx);
    if (r.notAReport !== null) {
      // A CSV that is not a sales report is not silently dropped; HTML layout tables are.
      if (csvParts.length > 0) read += await quarantineWhole(ctx, message, name, `not a sales report: ${r.notAReport}`, table.rows.slice(0, 5));
      continue;
    }
    reports++;
    ctx.rowsRead(r.read);
    read += r.read;
    for (const row of r.rows) await sink.write(row);
    for (const bad of r.rejected) await ctx.quarantine.add({ table: SALES_TABLE, reason: bad.reason, payload: bad.payload, key: `${message.id}|${bad.key}` });
    if (r.skipped > 0) sink.skip(r.skipped);
  }
  if (reports === 0) ctx.log.warn({ messageId: message.id, subject: message.subject }, `gmail: message ${message.id} ("${message.subject}") holds no sales report`);
  return read;
}

/** A whole attachment quarantined: one record read. */
async function quarantineWhole(ctx: Ctx, message: GmailMessage, name: string, reason: string, payload: unknown): Promise<number> {
  ctx.rowsRead(1);
  await ctx.quarantine.add({ table: SALES_TABLE, reason: `message ${message.id}, ${name}: ${reason}`, payload: { message_id: message.id, attachment: name, subject: message.subject, sample: payload }, key: `${message.id}|${name}` });
  return 1;
}

function cityMap(raw: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k.trim().toLowerCase(), v]));
}
