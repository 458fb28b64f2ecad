// `adhouse export avito-chats`: built from the warehouse; every message of the period exactly once, in order.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

const meta = (ver: number, deleted = 0) => ({ _ver: ver, _loaded_at: '2026-11-01 00:00:00', _run_id: `r${ver}`, _deleted: deleted });

const CHATS = [
  { profile: 'north', chat_id: 'c1', item_id: 11, item_title: 'Концерт «Весна», Москва', counterpart_id: 'u1', counterpart_name: 'Анна', created_at: '2026-10-01 09:00:00', updated_at: '2026-10-05 12:00:00' },
  { profile: 'north', chat_id: 'c2', item_id: 0, item_title: '', counterpart_id: 'u2', counterpart_name: 'Boris', created_at: '2026-10-02 09:00:00', updated_at: '2026-10-03 08:00:00' },
  { profile: 'south', chat_id: 'c9', item_id: 99, item_title: 'other profile', counterpart_id: 'u9', counterpart_name: 'Vera', created_at: '2026-10-02 09:00:00', updated_at: '2026-10-03 08:00:00' },
];

// Times are UTC; Moscow is UTC+3, so 2026-10-02 21:30 UTC is 2026-10-03 00:30 in Moscow.
const MESSAGES = [
  { chat_id: 'c1', message_id: 'm3', created_at: '2026-10-05 12:00:00', direction: 'in', author_id: 'u1', message_type: 'text', text: 'Спасибо!\nДо встречи' },
  { chat_id: 'c1', message_id: 'm1', created_at: '2026-10-01 09:00:00', direction: 'in', author_id: 'u1', message_type: 'text', text: 'Здравствуйте, билеты есть?' },
  { chat_id: 'c1', message_id: 'm2', created_at: '2026-10-02 21:30:00', direction: 'out', author_id: 'me', message_type: 'text', text: 'Да, "партер", 2 000 ₽' },
  { chat_id: 'c2', message_id: 'm4', created_at: '2026-10-03 08:00:00', direction: 'in', author_id: 'u2', message_type: 'image', text: '[image] https://example.test/i.jpg' },
  { chat_id: 'c2', message_id: 'm5', created_at: '2026-10-03 08:01:00', direction: 'in', author_id: 'u2', message_type: 'text', text: '=HYPERLINK("http://evil.test","click")' },
];

describe('export avito-chats', () => {
  let wh: Warehouse;
  let dir: string;
  beforeAll(async () => {
    wh = await freshWarehouse();
    dir = mkdtempSync(path.join(os.tmpdir(), 'adhouse-export-'));
    await wh.client.insert({ table: 'stg_avito_chats', format: 'JSONEachRow', values: CHATS.map((c) => ({ ...c, ...meta(1) })) });
    await wh.client.insert({
      table: 'stg_avito_messages',
      format: 'JSONEachRow',
      values: [
        ...MESSAGES.map((m) => ({ profile: 'north', is_read: 1, ...m, ...meta(1) })),
        // A re-load of m2 (newer version: must appear once) and a message deleted upstream.
        { profile: 'north', is_read: 1, ...MESSAGES[2]!, ...meta(2) },
        { profile: 'north', is_read: 1, chat_id: 'c1', message_id: 'm0', created_at: '2026-10-01 08:00:00', direction: 'in', author_id: 'u1', message_type: 'text', text: 'deleted', ...meta(2, 1) },
        { profile: 'south', is_read: 1, chat_id: 'c9', message_id: 'm9', created_at: '2026-10-02 09:00:00', direction: 'in', author_id: 'u9', message_type: 'text', text: 'not ours', ...meta(1) },
      ],
    });
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await wh.drop();
  });

  it('writes a workbook with every message once, in order, Moscow times, frozen headers', async () => {
    const out = path.join(dir, 'north.xlsx');
    const r = await runCli(['export', 'avito-chats', '--profile', 'north', '--out', out], wh.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/2 chat\(s\), 5 message\(s\)/);

    const book = new ExcelJS.Workbook();
    await book.xlsx.readFile(out);
    const chats = book.getWorksheet('Chats')!;
    const messages = book.getWorksheet('Messages')!;
    const values = (sheet: ExcelJS.Worksheet) => sheet.getSheetValues().slice(1).map((row) => (row as unknown[]).slice(1));
    expect(values(chats)).toEqual([
      ['Chat ID', 'Item', 'Counterpart', 'Created', 'Updated', 'Messages'],
      ['c1', 'Концерт «Весна», Москва', 'Анна', '2026-10-01 12:00:00', '2026-10-05 15:00:00', 3],
      ['c2', undefined, 'Boris', '2026-10-02 12:00:00', '2026-10-03 11:00:00', 2],
    ]);
    expect(values(messages)).toEqual([
      ['Chat ID', 'Time (Europe/Moscow)', 'Direction', 'Author', 'Text'],
      ['c1', '2026-10-01 12:00:00', 'in', 'Анна', 'Здравствуйте, билеты есть?'],
      ['c1', '2026-10-03 00:30:00', 'out', 'me', 'Да, "партер", 2 000 ₽'],
      ['c1', '2026-10-05 15:00:00', 'in', 'Анна', 'Спасибо!\nДо встречи'],
      ['c2', '2026-10-03 11:00:00', 'in', 'Boris', '[image] https://example.test/i.jpg'],
      // exceljs writes text cells as text: a formula-looking message stays a string in the workbook.
      ['c2', '2026-10-03 11:01:00', 'in', 'Boris', '=HYPERLINK("http://evil.test","click")'],
    ]);
    for (const sheet of [chats, messages]) expect(sheet.views[0]).toMatchObject({ state: 'frozen', ySplit: 1 });
    expect(messages.getColumn(5).width).toBeGreaterThan(40);
  });

  it('--since keeps the messages of that Moscow day on; .csv gives the messages as CSV', async () => {
    const out = path.join(dir, 'north.csv');
    const r = await runCli(['export', 'avito-chats', '--profile', 'north', '--out', out, '--since', '2026-10-03'], wh.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/2 chat\(s\), 4 message\(s\)/);
    const text = readFileSync(out, 'utf8').replace(/^\uFEFF/, '');
    expect(text.trim().split('\n')[0]).toBe('chat_id,item,counterpart,time,direction,author,text');
    expect(text).toContain('c1,"Концерт «Весна», Москва",Анна,2026-10-03 00:30:00,out,me,"Да, ""партер"", 2 000 ₽"');
    expect(text).not.toContain('Здравствуйте');
    // In CSV a formula-looking cell is defused with a leading apostrophe.
    expect(text).toContain(`'=HYPERLINK(""http://evil.test"",""click"")`);
  });

  it('rejects a bad --out or --since with exit 2', async () => {
    expect((await runCli(['export', 'avito-chats', '--profile', 'north', '--out', 'x.pdf'], wh.env)).code).toBe(2);
    expect((await runCli(['export', 'avito-chats', '--profile', 'north', '--out', 'x.xlsx', '--since', '3 Oct'], wh.env)).code).toBe(2);
  });
});

describe('export avito-chats after a load from the Avito sandbox', () => {
  it('holds every message of the profile exactly once, each chat in order', async () => {
    const { default: avito } = await import('../loaders/avito/index.js');
    const { startSandbox } = await import('../loaders/avito/sandbox.js');
    const { runLoader } = await import('../src/runtime/run-loader.js');
    const wh = await freshWarehouse();
    const sandbox = await startSandbox({ seed: 11, faults: new Set() });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'adhouse-export-e2e-'));
    try {
      const run = await runLoader(avito, { env: { ...wh.env, ...sandbox.env, AVITO_RPS: '50' } });
      expect(run.status, run.errorMessage).toBe('success');
      const out = path.join(dir, 'msk.xlsx');
      const r = await runCli(['export', 'avito-chats', '--profile', 'avito_msk', '--out', out], wh.env);
      expect(r.code, r.stderr).toBe(0);
      const book = new ExcelJS.Workbook();
      await book.xlsx.readFile(out);
      const rows = book.getWorksheet('Messages')!.getSheetValues().slice(2).map((row) => (row as unknown[]).slice(1) as string[]);
      const truth = sandbox.chats('avito_msk');
      expect(rows.length).toBe(truth.reduce((n, c) => n + c.messages.length, 0));
      // Per chat: the same number of messages, and times never go backwards.
      for (const chat of truth) {
        const mine = rows.filter((row) => row[0] === chat.id);
        expect(mine.length, chat.id).toBe(chat.messages.length);
        for (let i = 1; i < mine.length; i++) expect(mine[i]![1] >= mine[i - 1]![1]).toBe(true);
      }
      const chatsSheet = book.getWorksheet('Chats')!;
      expect(chatsSheet.rowCount - 1).toBe(truth.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await sandbox.close();
      await wh.drop();
    }
  });
});
