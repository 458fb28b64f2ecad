// Avito Messenger chats and messages, from the warehouse (not a fresh API crawl) to a workbook with a
// Chats sheet and a Messages sheet, or to CSV (the messages, with their chat's item and counterpart).
// Rows stream from ClickHouse into exceljs' streaming writer, so a large profile never sits in memory.
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import ExcelJS from 'exceljs';
import { stringify } from 'csv-stringify';
import type { ClickHouseClient } from '../clickhouse/client.js';
import { queryRows } from '../clickhouse/client.js';
import { sqlDateTime, sqlString } from '../clickhouse/literal.js';
import { formatInZone, parseUtcDateTime, utcDateTime, zonedDayStart } from '../runtime/dates.js';

export interface ChatsExportOptions {
  profile: string;
  out: string;
  /** First day (reporting time zone) of the messages to export; all when absent. */
  since?: string;
  timeZone: string;
}

export interface ChatsExportResult {
  format: 'xlsx' | 'csv';
  chats: number;
  messages: number;
}

interface ChatRow {
  chat_id: string;
  item: string;
  item_title: string;
  counterpart_id: string;
  counterpart_name: string;
  created_text: string;
  updated_text: string;
  message_count: string;
}

interface MessageRow {
  chat_id: string;
  message_id: string;
  created_text: string;
  direction: string;
  author_id: string;
  message_type: string;
  text: string;
}

/**
 * Text written by the people a profile chats with goes into a file someone opens in Excel: a cell that
 * starts with = + - @ would run as a formula there ("CSV injection"), so it gets a leading apostrophe.
 */
export function csvSafe(text: string): string {
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
}

export function exportFormat(out: string): 'xlsx' | 'csv' {
  return /\.csv$/i.test(out) ? 'csv' : 'xlsx';
}

function messagesFilter(opts: ChatsExportOptions): string {
  const since = opts.since ? ` AND created_at >= ${sqlDateTime(utcDateTime(zonedDayStart(opts.since, opts.timeZone)))}` : '';
  return `profile = ${sqlString(opts.profile)}${since}`;
}

/** Latest version of each message, deleted ones dropped, in conversation order. */
function messagesQuery(opts: ChatsExportOptions): string {
  // Aliases differ from column names: ClickHouse would substitute an alias into WHERE.
  return `SELECT chat_id, message_id, toString(created_at) AS created_text, direction, author_id, message_type, text
    FROM stg_avito_messages FINAL
    WHERE _deleted = 0 AND ${messagesFilter(opts)}
    ORDER BY chat_id, created_at, message_id`;
}

/** Chats that have messages in the period (every chat of the profile when no --since). */
function chatsQuery(opts: ChatsExportOptions): string {
  // ALL JOIN: 18.16 has no default join strictness (m holds one row per chat, so ALL = ANY).
  return `SELECT chat_id, toString(item_id) AS item, item_title, counterpart_id, counterpart_name,
      toString(created_at) AS created_text, toString(updated_at) AS updated_text, toString(messages) AS message_count
    FROM
    (
      SELECT chat_id, item_id, item_title, counterpart_id, counterpart_name, created_at, updated_at
      FROM stg_avito_chats FINAL
      WHERE _deleted = 0 AND profile = ${sqlString(opts.profile)}
    )
    ALL ${opts.since ? 'INNER' : 'LEFT'} JOIN
    (
      SELECT chat_id, count() AS messages FROM stg_avito_messages FINAL WHERE _deleted = 0 AND ${messagesFilter(opts)} GROUP BY chat_id
    ) USING chat_id
    ORDER BY updated_at DESC, chat_id`;
}

export async function exportAvitoChats(client: ClickHouseClient, opts: ChatsExportOptions): Promise<ChatsExportResult> {
  const chats = await queryRows<ChatRow>(client, chatsQuery(opts));
  const byChat = new Map(chats.map((c) => [c.chat_id, c]));
  const when = (utc: string) => formatInZone(parseUtcDateTime(utc), opts.timeZone);
  const format = exportFormat(opts.out);
  const rs = await client.query({ query: messagesQuery(opts), format: 'JSONEachRow' });
  let messages = 0;

  if (format === 'csv') {
    const out = createWriteStream(opts.out);
    const csv = stringify({ header: true, bom: true, columns: ['chat_id', 'item', 'counterpart', 'time', 'direction', 'author', 'text'] });
    csv.pipe(out);
    for await (const batch of rs.stream<MessageRow>()) {
      for (const row of batch) {
        const m = row.json();
        const chat = byChat.get(m.chat_id);
        const cells = [m.chat_id, chat?.item_title ?? '', chat?.counterpart_name ?? '', when(m.created_text), m.direction, m.author_id, m.text].map(csvSafe);
        if (!csv.write(cells)) await once(csv, 'drain');
        messages++;
      }
    }
    csv.end();
    await once(out, 'finish');
    return { format, chats: chats.length, messages };
  }

  const workbook = new ExcelJS.stream.xlsx.WorkbookWriter({ filename: opts.out, useStyles: true, useSharedStrings: false });
  const chatSheet = workbook.addWorksheet('Chats', { views: [{ state: 'frozen', ySplit: 1 }] });
  chatSheet.columns = [
    { header: 'Chat ID', key: 'chat_id', width: 28 },
    { header: 'Item', key: 'item', width: 40 },
    { header: 'Counterpart', key: 'counterpart', width: 24 },
    { header: 'Created', key: 'created', width: 20 },
    { header: 'Updated', key: 'updated', width: 20 },
    { header: 'Messages', key: 'messages', width: 10 },
  ];
  chatSheet.getRow(1).font = { bold: true };
  for (const c of chats) {
    chatSheet
      .addRow({
        chat_id: c.chat_id,
        item: c.item_title || (c.item !== '0' ? c.item : ''),
        counterpart: c.counterpart_name || c.counterpart_id,
        created: when(c.created_text),
        updated: when(c.updated_text),
        messages: Number(c.message_count),
      })
      .commit();
  }
  chatSheet.commit();

  const messageSheet = workbook.addWorksheet('Messages', { views: [{ state: 'frozen', ySplit: 1 }] });
  messageSheet.columns = [
    { header: 'Chat ID', key: 'chat_id', width: 28 },
    { header: `Time (${opts.timeZone})`, key: 'time', width: 20 },
    { header: 'Direction', key: 'direction', width: 10 },
    { header: 'Author', key: 'author', width: 24 },
    { header: 'Text', key: 'text', width: 80 },
  ];
  messageSheet.getRow(1).font = { bold: true };
  for await (const batch of rs.stream<MessageRow>()) {
    for (const row of batch) {
      const m = row.json();
      const chat = byChat.get(m.chat_id);
      const author = m.direction === 'in' ? chat?.counterpart_name || m.author_id : m.author_id;
      const r = messageSheet.addRow({ chat_id: m.chat_id, time: when(m.created_text), direction: m.direction, author, text: m.text });
      r.getCell('text').alignment = { wrapText: true, vertical: 'top' };
      r.commit();
      messages++;
    }
  }
  messageSheet.commit();
  await workbook.commit();
  return { format, chats: chats.length, messages };
}
