// End to end: the Gmail sandbox (OAuth token endpoint + Gmail API) -> the gmail loader -> a real ClickHouse.
// Sales lines from QTickets report e-mails (Windows-1251 `;` CSV, UTF-8 `,` CSV, HTML tables) equal the
// sandbox's ground truth; processed messages are skipped; a duplicated report counts once; bad rows are
// quarantined with reasons; a revoked refresh token fails the run as token_invalid.
import { statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import gmailLoader from '../loaders/gmail/index.js';
import { GMAIL_MALFORMED_QUARANTINED, startSandbox, type ExpectedGmailSales, type GmailSandbox } from '../loaders/gmail/sandbox.js';
import { STATE_FILE } from '../loaders/gmail/state.js';
import { addDays } from '../src/runtime/dates.js';
import { runLoader } from '../src/runtime/run-loader.js';
import { expectBalanced } from './support/run-assertions.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

const SEED = 777;

async function totals(wh: Warehouse): Promise<ExpectedGmailSales['totals']> {
  // Aliases differ from column names: 18.16 resolves an alias inside another aggregate otherwise.
  const rows = await wh.query<{ city: string; day: string; t: string; rev: string }>(
    `SELECT city, ifNull(toString(event_date), '') AS day, sum(tickets) AS t, toString(sum(revenue)) AS rev
     FROM stg_qtickets_sales_raw FINAL WHERE source = 'gmail' AND _deleted = 0
     GROUP BY city, day ORDER BY city, day`,
  );
  return rows.map((r) => ({ city: r.city, event_date: r.day, tickets: Number(r.t), revenue: Number(r.rev) }));
}

async function lines(wh: Warehouse): Promise<Array<Omit<ExpectedGmailSales['lines'][number], 'src_msg_id'>>> {
  const rows = await wh.query<{ order_id: string; line_id: string; city: string; event_date: string; sold_at: string; tickets: string; revenue: string }>(
    `SELECT order_id, line_id, city, ifNull(toString(event_date), '') AS event_date, toString(sold_at) AS sold_at, tickets, toString(revenue) AS revenue
     FROM stg_qtickets_sales_raw FINAL WHERE source = 'gmail' AND _deleted = 0 AND status = 'paid' ORDER BY order_id, line_id`,
  );
  return rows.map((r) => ({ ...r, tickets: Number(r.tickets), revenue: Number(r.revenue) }));
}

const withoutMsg = (l: ExpectedGmailSales['lines']) => l.map(({ src_msg_id: _, ...rest }) => rest);

describe('gmail load into ClickHouse', () => {
  let wh: Warehouse;
  let sandbox: GmailSandbox;
  let env: Record<string, string>;

  beforeAll(async () => {
    wh = await freshWarehouse();
    sandbox = await startSandbox({ seed: SEED, faults: new Set() });
    // A small page size: messages.list pages by nextPageToken.
    env = { ...wh.env, ...sandbox.env, GMAIL_PAGE_SIZE: '7', GMAIL_RPS: '200' };
  });
  afterAll(async () => {
    await sandbox?.close();
    await wh?.drop();
  });

  it('the first (incremental) load equals the ground truth; Windows-1251 `;` CSV, UTF-8 `,` CSV and HTML tables all parse', async () => {
    const s = await runLoader(gmailLoader, { env });
    expectBalanced(s);
    expect(s.window.explicit).toBe(false);
    const truth = sandbox.expectedSales(s.window.since, s.window.until);
    expect(truth.lines.length).toBeGreaterThan(25);
    expect(s.rowsQuarantined).toBe(0);
    expect(await lines(wh)).toEqual(withoutMsg(truth.lines));
    expect(await totals(wh)).toEqual(truth.totals);
    // Every report kind was in the window and every one of them reached the table.
    const inWindow = sandbox.reports.filter((r) => truth.messageIds.includes(r.id));
    const kinds = new Set(inWindow.map((r) => r.kind));
    expect([...kinds].sort()).toEqual(['csv_1251_semicolon', 'csv_utf8_comma', 'html_table']);
    expect(inWindow.some((r) => r.inline) && inWindow.some((r) => !r.inline && r.kind !== 'html_table')).toBe(true);
    const msgRows = await wh.query<{ src_msg_id: string; n: string }>(`SELECT src_msg_id, count() AS n FROM stg_qtickets_sales_raw FINAL WHERE source = 'gmail' GROUP BY src_msg_id`);
    const loaded = new Map(msgRows.map((r) => [r.src_msg_id, Number(r.n)]));
    for (const kind of kinds) {
      const report = inWindow.find((r) => r.kind === kind)!;
      expect(loaded.get(report.id), kind).toBe(report.lines.length);
    }
    // Paged, widened window in the query, attachments fetched by id, noise excluded by from:.
    expect(sandbox.counters.listRequests).toBeGreaterThan(2);
    expect(sandbox.counters.queries[0]).toBe(`from:qtickets after:${addDays(s.window.since, -1).replace(/-/g, '/')} before:${addDays(s.window.until, 2).replace(/-/g, '/')}`);
    expect(sandbox.counters.attachmentRequests).toBeGreaterThan(0);
    expect(sandbox.counters.fetched.every((id) => !sandbox.reports.find((r) => r.id === id)!.noise)).toBe(true);
    // The report that arrived on the window's first morning (before Pacific midnight) was not missed.
    const first = [...inWindow].sort((a, b) => a.internalDate - b.internalDate)[0]!;
    expect(first.day).toBe(addDays(s.window.since, -1));
    expect(sandbox.counters.tokenRequests).toBe(1);
    // State: processed ids in a 0600 file in the source's state dir.
    const stateFile = path.join(wh.dataDir, 'state', 'gmail', STATE_FILE);
    expect(statSync(stateFile).mode & 0o777).toBe(0o600);
  });

  it('a second incremental run skips processed messages: counted as skipped, nothing new written, nothing fetched', async () => {
    const fetchedBefore = sandbox.counters.getRequests;
    const before = await lines(wh);
    const s = await runLoader(gmailLoader, { env });
    expectBalanced(s);
    expect(s.window.explicit).toBe(false);
    expect(s.rowsWritten).toBe(0);
    expect(s.rowsSkipped).toBeGreaterThan(0);
    expect(s.rowsSkipped).toBe(s.rowsRead);
    expect(sandbox.counters.getRequests).toBe(fetchedBefore);
    expect(await lines(wh)).toEqual(before);
  });

  it('an explicit window re-reads its messages (how a parser fix reaches old reports) and changes no answer', async () => {
    const until = sandbox.today;
    const since = addDays(until, -5);
    const fetchedBefore = sandbox.counters.getRequests;
    const before = await lines(wh);
    const s = await runLoader(gmailLoader, { env, since, until });
    expectBalanced(s);
    expect(s.rowsWritten).toBe(sandbox.expectedSales(since, until).lines.length);
    expect(sandbox.counters.getRequests).toBeGreaterThan(fetchedBefore);
    expect(await lines(wh)).toEqual(before);
  });
});

describe('gmail faults', () => {
  it('duplicate_report: the same report sent twice is counted once', async () => {
    const sb = await startSandbox({ seed: SEED, faults: new Set(['duplicate_report']) });
    const wh = await freshWarehouse();
    try {
      const since = addDays(sb.today, -40);
      const truth = sb.expectedSales(since, sb.today);
      const dupes = sb.reports.filter((r) => r.duplicateOf && truth.messageIds.includes(r.duplicateOf));
      expect(dupes.length).toBeGreaterThan(0);
      const s = await runLoader(gmailLoader, { env: { ...wh.env, ...sb.env, GMAIL_RPS: '200' }, since, until: sb.today });
      expectBalanced(s);
      // Both copies were written (same keys) ...
      expect(s.rowsWritten).toBe(truth.lines.length + dupes.reduce((n, r) => n + r.lines.length, 0));
      // ... and ReplacingMergeTree keeps one row per (order_id, line_id).
      expect(await lines(wh)).toEqual(withoutMsg(truth.lines));
      expect(await totals(wh)).toEqual(truth.totals);
      const [dup] = await wh.query<{ n: string }>(`SELECT count() AS n FROM (SELECT order_id, line_id, count() AS c FROM stg_qtickets_sales_raw FINAL WHERE source = 'gmail' GROUP BY order_id, line_id HAVING c > 1)`);
      expect(Number(dup!.n)).toBe(0);
    } finally {
      await sb.close();
      await wh.drop();
    }
  });

  it('malformed rows are quarantined with message, attachment, line and reason; rate limits, 5xx and an expired access token are retried', async () => {
    const sb = await startSandbox({ seed: SEED, faults: new Set(['malformed', 'rate_limit', '5xx', 'expired_token']) });
    const wh = await freshWarehouse();
    try {
      const since = addDays(sb.today, -20);
      const truth = sb.expectedSales(since, sb.today);
      const s = await runLoader(gmailLoader, { env: { ...wh.env, ...sb.env, GMAIL_RPS: '200' }, since, until: sb.today });
      expectBalanced(s);
      expect(sb.counters.rateLimited).toBeGreaterThan(0);
      expect(sb.counters.errors5xx).toBeGreaterThan(0);
      expect(sb.counters.unauthorized).toBe(1); // the dead first token: refreshed and replayed once
      expect(sb.counters.tokenRequests).toBe(2);
      expect(await lines(wh)).toEqual(withoutMsg(truth.lines));
      expect(await totals(wh)).toEqual(truth.totals);
      const bad = sb.reports.find((r) => r.malformed)!;
      const q = await wh.query<{ target_table: string; reason: string; payload: string }>(`SELECT target_table, reason, payload FROM meta_quarantine FINAL WHERE source = 'gmail' ORDER BY reason`);
      expect(q).toHaveLength(GMAIL_MALFORMED_QUARANTINED);
      expect(s.rowsQuarantined).toBe(GMAIL_MALFORMED_QUARANTINED);
      const text = q.map((r) => r.reason).join('\n');
      const where = `message ${bad.id}, qtickets_sales_fixup.csv`;
      expect(text).toContain(`${where}, line 2: sum is not a non-negative amount: "abc"`);
      expect(text).toContain(`${where}, line 3: paid-at is not a date and time: "31.02.2026 12:00"`);
      expect(text).toContain(`${where}, line 4: tickets is not a whole number ≥ 0: "-2"`);
      expect(text).toContain(`${where}, line 5: order id is not a number: ""`);
      expect(text).toContain(`${where}, line 6: event date is not a date: "скоро"`);
      expect(text).toMatch(new RegExp(`message ${bad.id}, legend.csv: not a sales report`));
      expect(q.every((r) => r.target_table === 'stg_qtickets_sales_raw')).toBe(true);
      expect(JSON.parse(q[0]!.payload)).toHaveProperty('message_id', bad.id);
    } finally {
      await sb.close();
      await wh.drop();
    }
  });

  it('one message that keeps failing does not lose the others; it is not marked processed and loads on the next run', async () => {
    const broken = await startSandbox({ seed: SEED, faults: new Set(['attachment_5xx']) });
    const wh = await freshWarehouse();
    try {
      const s = await runLoader(gmailLoader, { env: { ...wh.env, ...broken.env, GMAIL_RPS: '200' } });
      expect(s.status).toBe('failed');
      expect(s.errorClass).toBe('upstream_5xx');
      expect(s.errorMessage).toContain(broken.brokenMessageId!);
      expect(s.errorMessage).toMatch(/1 of \d+ messages failed/);
      const truth = broken.expectedSales(s.window.since, s.window.until);
      const lost = new Set(truth.lines.filter((l) => l.src_msg_id === broken.brokenMessageId).map((l) => `${l.order_id}|${l.line_id}`));
      expect(lost.size).toBeGreaterThan(0);
      expect(await lines(wh)).toEqual(withoutMsg(truth.lines.filter((l) => !lost.has(`${l.order_id}|${l.line_id}`))));
      await broken.close();
      // The upstream recovers: the next run fetches only the failed message, skips the rest.
      const healthy = await startSandbox({ seed: SEED, faults: new Set() });
      try {
        const again = await runLoader(gmailLoader, { env: { ...wh.env, ...healthy.env, GMAIL_RPS: '200' } });
        expectBalanced(again);
        expect(healthy.counters.fetched).toEqual([broken.brokenMessageId]);
        expect(again.rowsWritten).toBe(lost.size);
        expect(await lines(wh)).toEqual(withoutMsg(truth.lines));
      } finally {
        await healthy.close();
      }
    } finally {
      await broken.close();
      await wh.drop();
    }
  });

  it('invalid_grant: the run fails as token_invalid and writes nothing', async () => {
    const sb = await startSandbox({ seed: SEED, faults: new Set(['invalid_grant']) });
    const wh = await freshWarehouse();
    try {
      const s = await runLoader(gmailLoader, { env: { ...wh.env, ...sb.env, GMAIL_RPS: '200' }, since: addDays(sb.today, -3), until: sb.today });
      expect(s.status).toBe('failed');
      expect(s.errorClass).toBe('token_invalid');
      expect(s.errorMessage).toMatch(/invalid_grant: Token has been expired or revoked/);
      expect(s.errorMessage).not.toContain(sb.env.GMAIL_REFRESH_TOKEN!);
      expect(sb.counters.tokenRequests).toBe(1); // not retried
      expect(sb.counters.listRequests).toBe(0);
      const [run] = await wh.query<{ status: string; error_class: string }>(`SELECT status, error_class FROM meta_job_runs FINAL WHERE run_id = '${s.runId}'`);
      expect(run).toEqual({ status: 'failed', error_class: 'token_invalid' });
    } finally {
      await sb.close();
      await wh.drop();
    }
  });
});
