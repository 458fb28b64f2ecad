// A faithful fake of the Gmail API v1 (behind googleapis' rootUrl) and Google's OAuth token endpoint,
// serving deterministic QTickets daily report e-mails. What it reproduces (shared/api/avito_sheets_misc.md
// section 4 and "Gmail fake"): POST /token with the refresh_token grant and `invalid_grant`; messages.list
// with `q` (from:, after:/before: as midnight *Pacific* dates or epoch seconds, has:attachment), newest
// first, `maxResults`/`nextPageToken` paging, no `messages` key when nothing matches; messages.get
// format=full with nested multipart trees, base64url (unpadded) bodies, some attachments inline and some
// behind an attachmentId that changes on every get; attachments.get; Google JSON errors. Faults by name
// are listed in BEHAVIOR.md.
import type http from 'node:http';
import { parseCityEvent } from '../../src/marketing/utm.js';
import { addDays, todayIn, zonedDayStart } from '../../src/runtime/dates.js';
import { hashSeed, listen, readBody, SANDBOX_EVENTS, seededRandom, type RunningSandbox, type SandboxOptions, totalsByCityAndDay, type CityDayTotal } from '../../src/runtime/sandbox.js';

export const GMAIL_SANDBOX_CLIENT_ID = 'gmail-sandbox-client.apps.googleusercontent.com';
export const GMAIL_SANDBOX_CLIENT_SECRET = 'gmail-sandbox-secret';
export const GMAIL_SANDBOX_REFRESH_TOKEN = '1//gmail-sandbox-refresh-token';
export const GMAIL_SANDBOX_FAULTS = ['rate_limit', '5xx', 'malformed', 'invalid_grant', 'duplicate_report', 'expired_token', 'attachment_5xx'] as const;
/** Quarantined records the `malformed` fault adds (5 bad rows + 1 CSV that is not a report). */
export const GMAIL_MALFORMED_QUARANTINED = 6;

const TZ = 'Europe/Moscow';
const MINUTE = 60_000;
const QT_FROM = 'QTickets <reports@qtickets.ru>';

/** Report city names (as QTickets writes them) -> utm_content city codes: the sandbox's GMAIL_CITY_MAP. */
export const GMAIL_SANDBOX_CITY_MAP: Readonly<Record<string, string>> = {
  Москва: 'msk',
  'Санкт-Петербург': 'spb',
  Казань: 'kzn',
  Екатеринбург: 'ekb',
  Новосибирск: 'nsk',
  'Нижний Новгород': 'nizhny_novgorod',
};
const CITY_NAMES: Record<string, string> = Object.fromEntries(Object.entries(GMAIL_SANDBOX_CITY_MAP).map(([name, code]) => [code, name]));

// ---- synthetic world (a pure function of the seed and "today") --------------------------------

export interface GmailSaleLine {
  order_id: string;
  /** Position within the order in its report (1, 2, …). */
  line_id: string;
  event_name: string;
  city: string;
  event_date: string;
  /** Moscow wall clock of the payment. */
  soldDay: string;
  soldTime: string;
  tickets: number;
  revenueCents: number;
}

export type ReportKind = 'csv_1251_semicolon' | 'csv_utf8_comma' | 'html_table';

export interface GmailReport {
  id: string;
  /** The sales day the report covers (Moscow). */
  day: string;
  /** When the e-mail arrived (ms); the next morning, Moscow time. */
  internalDate: number;
  kind: ReportKind;
  /** CSV bytes inline in body.data instead of behind an attachmentId. */
  inline: boolean;
  lines: GmailSaleLine[];
  /** Set on the second copy of a report (`duplicate_report`). */
  duplicateOf?: string;
  /** `malformed`: the extra report with bad rows. */
  malformed?: boolean;
  /** Not a QTickets e-mail (a newsletter the query's from: must exclude). */
  noise?: boolean;
}

const pad = (n: number) => String(n).padStart(2, '0');

export function sandboxToday(): string {
  return todayIn(TZ);
}

function messageId(seed: number, ...parts: Array<string | number>): string {
  // Gmail ids are 16 lowercase hex digits.
  return `19${hashSeed(seed, 'gmail-msg', ...parts).toString(16).padStart(8, '0')}${hashSeed(seed, 'gmail-msg2', ...parts).toString(16).padStart(8, '0').slice(0, 6)}`;
}

/** Every paid order line QTickets reported by e-mail (sold before today), in report order. */
export function gmailSaleLines(seed: number, today: string = sandboxToday()): GmailSaleLine[] {
  const lines: GmailSaleLine[] = [];
  SANDBOX_EVENTS.forEach((tag, i) => {
    const rng = seededRandom(hashSeed(seed, 'gmail-event', tag));
    const { city, event_date } = parseCityEvent(tag, today);
    const eventName = `Концерт «${CITY_NAMES[city] ?? city}» ${event_date!.slice(8, 10)}.${event_date!.slice(5, 7)}`;
    const nOrders = 10 + Math.floor(rng() * 15);
    for (let k = 0; k < nOrders; k++) {
      const soldDay = addDays(event_date!, -(1 + Math.floor(rng() * 45)));
      const minutes = 8 * 60 + Math.floor(rng() * 15 * 60);
      const seconds = Math.floor(rng() * 60);
      const r = rng();
      const nLines = r < 0.6 ? 1 : r < 0.9 ? 2 : 3;
      const orderLines: GmailSaleLine[] = [];
      for (let p = 1; p <= nLines; p++) {
        const tickets = 1 + Math.floor(rng() * 4);
        const price = [150000, 249050, 399099][Math.floor(rng() * 3)]!;
        const discounted = rng() < 0.2;
        orderLines.push({
          // Disjoint from the Sheets (7xxxxx) and API (≥ 1,000,000) sandboxes' order ids.
          order_id: String(900_000 + i * 1000 + k),
          line_id: String(p),
          event_name: eventName,
          city,
          event_date: event_date!,
          soldDay,
          soldTime: `${pad(Math.floor(minutes / 60))}:${pad(minutes % 60)}:${pad(seconds)}`,
          tickets,
          revenueCents: tickets * (discounted ? Math.round(price * 0.9) : price),
        });
      }
      if (soldDay < today) lines.push(...orderLines);
    }
  });
  lines.sort((a, b) => (a.soldDay + a.soldTime).localeCompare(b.soldDay + b.soldTime) || Number(a.order_id) - Number(b.order_id) || Number(a.line_id) - Number(b.line_id));
  return lines;
}

/** One report e-mail per sales day (sent the next morning 06:00–06:49 Moscow), plus fault extras and noise. */
export function gmailReports(seed: number, faults: ReadonlySet<string>, today: string = sandboxToday()): GmailReport[] {
  const byDay = new Map<string, GmailSaleLine[]>();
  for (const l of gmailSaleLines(seed, today)) byDay.set(l.soldDay, [...(byDay.get(l.soldDay) ?? []), l]);
  const reports: GmailReport[] = [];
  for (const [day, lines] of byDay) {
    const h = hashSeed(seed, 'gmail-report', day);
    const kind: ReportKind = h % 10 < 4 ? 'csv_1251_semicolon' : h % 10 < 8 ? 'csv_utf8_comma' : 'html_table';
    const internalDate = zonedDayStart(addDays(day, 1), TZ) + 6 * 60 * MINUTE + (h % 50) * MINUTE + (h % 57) * 1000;
    const report: GmailReport = { id: messageId(seed, day, 0), day, internalDate, kind, inline: (h >>> 8) % 3 === 0, lines };
    reports.push(report);
    if (faults.has('duplicate_report') && (h >>> 4) % 3 === 0) {
      reports.push({ ...report, id: messageId(seed, day, 1), internalDate: internalDate + 7 * MINUTE, inline: !report.inline, duplicateOf: report.id });
    }
  }
  // A weekly newsletter from someone else: `from:` keeps it out.
  for (let d = addDays(today, -63); d < today; d = addDays(d, 7)) {
    reports.push({ id: messageId(seed, 'noise', d), day: d, internalDate: zonedDayStart(d, TZ) + 9 * 60 * MINUTE, kind: 'csv_utf8_comma', inline: true, lines: [], noise: true });
  }
  if (faults.has('malformed')) {
    const day = addDays(today, -1);
    reports.push({ id: messageId(seed, 'malformed', day), day, internalDate: zonedDayStart(today, TZ) + 7 * 60 * MINUTE, kind: 'csv_utf8_comma', inline: false, lines: [], malformed: true });
  }
  return reports.sort((a, b) => b.internalDate - a.internalDate || a.id.localeCompare(b.id));
}

export interface ExpectedLine {
  order_id: string;
  line_id: string;
  city: string;
  event_date: string;
  /** 'YYYY-MM-DD hh:mm:ss' UTC. */
  sold_at: string;
  tickets: number;
  revenue: number;
  src_msg_id: string;
}

export interface ExpectedGmailSales {
  /** Per (city, event_date); sorted by city, then date. */
  totals: CityDayTotal[];
  /** Every line of the reports that arrived in [since, until] (Moscow days); one per (order_id, line_id). */
  lines: ExpectedLine[];
  /** The report e-mails (first copies) those lines came from. */
  messageIds: string[];
}

function utcOfMoscow(day: string, time: string): string {
  const [h, m, s] = time.split(':').map(Number) as [number, number, number];
  return new Date(zonedDayStart(day, TZ) + ((h * 60 + m) * 60 + s) * 1000).toISOString().slice(0, 19).replace('T', ' ');
}

/** Ground truth: what stg_qtickets_sales_raw FINAL (source gmail) must hold after loading [since, until]. */
export function expectedGmailSales(seed: number, since: string, until: string, today: string = sandboxToday()): ExpectedGmailSales {
  const fromMs = zonedDayStart(since, TZ);
  const toMs = zonedDayStart(addDays(until, 1), TZ);
  const lines: ExpectedLine[] = [];
  const messageIds: string[] = [];
  const counted: Array<{ city: string; event_date: string; tickets: number; cents: number }> = [];
  for (const r of gmailReports(seed, new Set(), today)) {
    if (r.noise || r.internalDate < fromMs || r.internalDate >= toMs) continue;
    messageIds.push(r.id);
    for (const l of r.lines) {
      lines.push({ order_id: l.order_id, line_id: l.line_id, city: l.city, event_date: l.event_date, sold_at: utcOfMoscow(l.soldDay, l.soldTime), tickets: l.tickets, revenue: l.revenueCents / 100, src_msg_id: r.id });
      counted.push({ city: l.city, event_date: l.event_date, tickets: l.tickets, cents: l.revenueCents });
    }
  }
  const totals = totalsByCityAndDay(counted);
  lines.sort((a, b) => (a.order_id === b.order_id ? a.line_id.localeCompare(b.line_id) : a.order_id.localeCompare(b.order_id)));
  return { totals, lines, messageIds };
}

// ---- report rendering -------------------------------------------------------------------------

const ruDate = (day: string) => `${day.slice(8, 10)}.${day.slice(5, 7)}.${day.slice(0, 4)}`;
/** '2 490,50' with a no-break space, as Russian Excel writes it. */
function ruMoney(cents: number): string {
  const rub = String(Math.floor(cents / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, '\u00a0');
  return `${rub},${pad(cents % 100)}`;
}
const csvQuote = (v: string, sep: string) => (v.includes(sep) || v.includes('"') || v.includes('\n') ? `"${v.replace(/"/g, '""')}"` : v);

function csv1251(r: GmailReport): Buffer {
  const rows = [`Отчёт о продажах за ${ruDate(r.day)}`, '', ['Номер заказа', 'Мероприятие', 'Город', 'Дата мероприятия', 'Дата оплаты', 'Кол-во билетов', 'Сумма, руб.', 'Валюта'].join(';')];
  let t = 0;
  let c = 0;
  for (const l of r.lines) {
    t += l.tickets;
    c += l.revenueCents;
    // A `;` inside the event name: quoted, as Excel does.
    rows.push([l.order_id, csvQuote(`${l.event_name}; вечер`, ';'), CITY_NAMES[l.city] ?? l.city, ruDate(l.event_date), `${ruDate(l.soldDay)} ${l.soldTime.slice(0, 5)}:${l.soldTime.slice(6)}`, String(l.tickets), ruMoney(l.revenueCents), 'руб.'].join(';'));
  }
  rows.push(['Итого', '', '', '', '', String(t), ruMoney(c), ''].join(';'));
  return encode1251(rows.join('\r\n') + '\r\n');
}

function csvUtf8(r: GmailReport): Buffer {
  const rows = [['Order ID', 'Event', 'City', 'Event date', 'Paid at', 'Tickets', 'Revenue', 'Currency'].join(',')];
  for (const l of r.lines) {
    rows.push([l.order_id, csvQuote(`${l.event_name}, main stage`, ','), ` ${l.city.toUpperCase()} `, l.event_date, `${l.soldDay} ${l.soldTime}`, String(l.tickets), (l.revenueCents / 100).toFixed(2), 'RUB'].join(','));
  }
  return Buffer.from('\ufeff' + rows.join('\n') + '\n', 'utf8');
}

function csvMalformed(): Buffer {
  const rows = [
    'Order ID,Event,City,Event date,Paid at,Tickets,Revenue,Currency',
    '990001,Concert,msk,2026-12-05,2026-11-01 10:00:00,2,abc,RUB',
    '990002,Concert,msk,2026-12-05,31.02.2026 12:00,1,1500.00,RUB',
    '990003,Concert,msk,2026-12-05,2026-11-01 10:00:00,-2,1500.00,RUB',
    ',Concert,msk,2026-12-05,2026-11-01 10:00:00,1,1500.00,RUB',
    '990004,Concert,msk,скоро,2026-11-01 10:00:00,1,1500.00,RUB',
    'Total,,,,,6,4500.00,',
  ];
  return Buffer.from(rows.join('\n') + '\n', 'utf8');
}

function htmlReport(r: GmailReport): string {
  const head = ['№ заказа', 'Мероприятие', 'Город', 'Дата мероприятия', 'Оплачен', 'Билетов', 'Сумма'].map((h) => `<th style="padding:4px">${h}</th>`).join('');
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const body = r.lines
    .map(
      (l) =>
        `<tr><td>${l.order_id}</td><td><b>${esc(l.event_name)}</b> &amp; гости</td><td>${CITY_NAMES[l.city] ?? l.city}</td><td>${ruDate(l.event_date)}</td>` +
        `<td>${ruDate(l.soldDay)}<br>${l.soldTime}</td><td align="right">${l.tickets}</td><td align="right">${ruMoney(l.revenueCents).replace('\u00a0', '&nbsp;')}&nbsp;&#8381;</td></tr>`,
    )
    .join('\n');
  // A layout table around the report table, as mailers do.
  return `<!DOCTYPE html><html><head><style>td{font:12px Arial}</style></head><body><table width="100%"><tr><td><h2>Продажи за ${ruDate(r.day)}</h2>
<table border="1" cellspacing="0"><thead><tr>${head}</tr></thead><tbody>
${body}
<tr><td colspan="5">Итого</td><td>${r.lines.reduce((s, l) => s + l.tickets, 0)}</td><td>${ruMoney(r.lines.reduce((s, l) => s + l.revenueCents, 0))}</td></tr>
</tbody></table><!-- <table><tr><td>123</td></tr></table> --></td></tr></table></body></html>`;
}

const CP1251_HIGH = (() => {
  const map = new Map<string, number>();
  const dec = new TextDecoder('windows-1251');
  for (let b = 0x80; b <= 0xff; b++) map.set(dec.decode(Uint8Array.of(b)), b);
  return map;
})();

function encode1251(text: string): Buffer {
  const out = Buffer.alloc(text.length);
  let n = 0;
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    out[n++] = code < 0x80 ? code : (CP1251_HIGH.get(ch) ?? 0x3f);
  }
  return out.subarray(0, n);
}

const b64url = (buf: Buffer | string) => (typeof buf === 'string' ? Buffer.from(buf, 'utf8') : buf).toString('base64url');

interface Attachment {
  partId: string;
  filename: string;
  mimeType: string;
  bytes: Buffer;
  inline: boolean;
}

function attachmentsOf(r: GmailReport): Attachment[] {
  const name = `qtickets_sales_${r.day}.csv`;
  if (r.malformed) {
    return [
      { partId: '1', filename: 'qtickets_sales_fixup.csv', mimeType: 'text/csv', bytes: csvMalformed(), inline: false },
      { partId: '2', filename: 'legend.csv', mimeType: 'text/csv', bytes: Buffer.from('term,meaning\nВалюта,ISO code\n'), inline: true },
    ];
  }
  if (r.noise) return [{ partId: '1', filename: 'prices.csv', mimeType: 'text/csv', bytes: Buffer.from('sku,price\n1,10\n'), inline: true }];
  if (r.kind === 'csv_1251_semicolon') return [{ partId: '1', filename: name, mimeType: 'application/octet-stream', bytes: csv1251(r), inline: r.inline }];
  if (r.kind === 'csv_utf8_comma') return [{ partId: '1', filename: name, mimeType: 'text/csv; charset=utf-8', bytes: csvUtf8(r), inline: r.inline }];
  return [];
}

type Part = Record<string, unknown>;

function textPart(partId: string, mimeType: string, text: string): Part {
  const bytes = Buffer.from(text, 'utf8');
  return { partId, mimeType, filename: '', headers: [{ name: 'Content-Type', value: `${mimeType}; charset="UTF-8"` }, { name: 'Content-Transfer-Encoding', value: 'quoted-printable' }], body: { size: bytes.length, data: b64url(bytes) } };
}

/** The format=full payload of a report e-mail. `attachmentKey` names the attachment ids of this get. */
function payloadOf(r: GmailReport, attachmentKey: (partId: string) => string): { payload: Part; snippet: string; size: number } {
  const subject = r.noise ? 'Новости недели' : `Отчёт о продажах за ${ruDate(r.day)}`;
  const from = r.noise ? 'Афиша <news@afisha.example>' : QT_FROM;
  const headers = [
    { name: 'Delivered-To', value: 'marketing@example.ru' },
    { name: 'From', value: from },
    { name: 'To', value: 'marketing@example.ru' },
    { name: 'Subject', value: subject },
    { name: 'Date', value: new Date(r.internalDate).toUTCString() },
    { name: 'Message-ID', value: `<${r.id}@qtickets.ru>` },
  ];
  const html = r.kind === 'html_table' && !r.noise ? htmlReport(r) : `<p>Добрый день!</p><p>Во вложении ${subject.toLowerCase()}.</p>`;
  const plain = r.kind === 'html_table' && !r.noise ? `${subject}: ${r.lines.length} строк. Откройте HTML-версию письма.` : `Добрый день! Во вложении ${subject.toLowerCase()}.`;
  const alternative: Part = { partId: '0', mimeType: 'multipart/alternative', filename: '', headers: [{ name: 'Content-Type', value: 'multipart/alternative; boundary="b2"' }], body: { size: 0 }, parts: [textPart('0.0', 'text/plain', plain), textPart('0.1', 'text/html', html)] };
  const atts = attachmentsOf(r);
  let payload: Part;
  if (atts.length === 0) {
    // HTML-only: the alternative is the whole message.
    payload = { ...alternative, partId: '', headers: [...headers, { name: 'Content-Type', value: 'multipart/alternative; boundary="b2"' }], parts: [textPart('0', 'text/plain', plain), textPart('1', 'text/html', html)] };
  } else {
    const parts: Part[] = [alternative];
    for (const a of atts) {
      parts.push({
        partId: a.partId,
        mimeType: a.mimeType.split(';')[0],
        filename: a.filename,
        headers: [
          { name: 'Content-Type', value: `${a.mimeType}; name="${a.filename}"` },
          { name: 'Content-Disposition', value: `attachment; filename="${a.filename}"` },
          { name: 'Content-Transfer-Encoding', value: 'base64' },
        ],
        body: a.inline ? { size: a.bytes.length, data: b64url(a.bytes) } : { attachmentId: attachmentKey(a.partId), size: a.bytes.length },
      });
    }
    payload = { partId: '', mimeType: 'multipart/mixed', filename: '', headers: [...headers, { name: 'Content-Type', value: 'multipart/mixed; boundary="b1"' }], body: { size: 0 }, parts };
  }
  return { payload, snippet: plain.slice(0, 100), size: 2000 + atts.reduce((s, a) => s + a.bytes.length, 0) };
}

function hasAttachment(r: GmailReport): boolean {
  return attachmentsOf(r).length > 0;
}

// ---- search ---------------------------------------------------------------------------------

/**
 * Gmail search, the subset the loader uses: `from:`, `after:`/`before:` (YYYY/MM/DD = midnight in
 * America/Los_Angeles, as Gmail documents; or epoch seconds), `has:attachment`, `subject:`. Other words
 * are ignored (the fake has no full-text index).
 */
export function matchesQuery(r: GmailReport, q: string): boolean {
  const from = r.noise ? 'Афиша <news@afisha.example>' : QT_FROM;
  for (const term of q.split(/\s+/).filter(Boolean)) {
    const m = /^(from|after|before|has|subject):(.+)$/i.exec(term);
    if (!m) continue;
    const [, op, value] = m as unknown as [string, string, string];
    const bound = (v: string): number => {
      if (/^\d+$/.test(v)) return Number(v) * 1000;
      const d = /^(\d{4})\/(\d{1,2})\/(\d{1,2})$/.exec(v);
      if (!d) return Number.NaN;
      return zonedDayStart(`${d[1]}-${d[2]!.padStart(2, '0')}-${d[3]!.padStart(2, '0')}`, 'America/Los_Angeles');
    };
    switch (op.toLowerCase()) {
      case 'from':
        if (!from.toLowerCase().includes(value.toLowerCase())) return false;
        break;
      case 'after':
        if (!(r.internalDate >= bound(value))) return false;
        break;
      case 'before':
        if (!(r.internalDate < bound(value))) return false;
        break;
      case 'has':
        if (value.toLowerCase() === 'attachment' && !hasAttachment(r)) return false;
        break;
      case 'subject':
        if (!(r.noise ? 'Новости недели' : 'Отчёт о продажах').toLowerCase().includes(value.toLowerCase())) return false;
        break;
    }
  }
  return true;
}

// ---- serving ----------------------------------------------------------------------------------

class HttpAnswer {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

function googleError(code: number, message: string, status: string, reason: string): HttpAnswer {
  return new HttpAnswer(code, { error: { code, message, errors: [{ message, domain: code === 429 || reason.endsWith('RateLimitExceeded') ? 'usageLimits' : 'global', reason }], status } });
}

export interface GmailSandboxCounters {
  requests: number;
  tokenRequests: number;
  listRequests: number;
  getRequests: number;
  attachmentRequests: number;
  rateLimited: number;
  errors5xx: number;
  unauthorized: number;
  /** `q` of every messages.list call. */
  queries: string[];
  /** Message ids fetched with messages.get, in order. */
  fetched: string[];
}

export interface GmailSandboxOptions extends SandboxOptions {
  /** The sandbox's "today" (Moscow); default the real one. */
  today?: string;
}

export interface GmailSandbox extends RunningSandbox {
  counters: GmailSandboxCounters;
  today: string;
  /** Every e-mail in the mailbox (newest first), fault extras included. */
  reports: GmailReport[];
  /** `attachment_5xx`: the message whose attachment always fails; null otherwise. */
  brokenMessageId: string | null;
  /** Ground truth for [since, until] (faults do not change it). */
  expectedSales(since: string, until: string): ExpectedGmailSales;
}

export async function startSandbox(opts: GmailSandboxOptions): Promise<GmailSandbox> {
  const seed = opts.seed;
  const faults = opts.faults;
  const today = opts.today ?? sandboxToday();
  const reports = gmailReports(seed, faults, today);
  const byId = new Map(reports.map((r) => [r.id, r]));
  // `attachment_5xx`: the newest report whose CSV sits behind an attachmentId can never be downloaded.
  const brokenId = faults.has('attachment_5xx') ? (reports.find((r) => !r.noise && !r.malformed && !r.inline && r.kind !== 'html_table')?.id ?? null) : null;
  const counters: GmailSandboxCounters = { requests: 0, tokenRequests: 0, listRequests: 0, getRequests: 0, attachmentRequests: 0, rateLimited: 0, errors5xx: 0, unauthorized: 0, queries: [], fetched: [] };
  const issued = new Set<string>();
  let firstToken: string | null = null;
  let getSerial = 0;
  let apiCalls = 0;

  function token(form: URLSearchParams): HttpAnswer {
    counters.tokenRequests++;
    if (form.get('grant_type') !== 'refresh_token') return new HttpAnswer(400, { error: 'unsupported_grant_type', error_description: `Invalid grant_type: ${form.get('grant_type') ?? ''}` });
    if (form.get('client_id') !== GMAIL_SANDBOX_CLIENT_ID || form.get('client_secret') !== GMAIL_SANDBOX_CLIENT_SECRET) {
      return new HttpAnswer(401, { error: 'invalid_client', error_description: 'The OAuth client was not found.' });
    }
    if (faults.has('invalid_grant') || form.get('refresh_token') !== GMAIL_SANDBOX_REFRESH_TOKEN) {
      return new HttpAnswer(400, { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
    }
    const accessToken = `ya29.sandbox-${seed}-${counters.tokenRequests}`;
    issued.add(accessToken);
    firstToken ??= accessToken;
    return new HttpAnswer(200, { access_token: accessToken, expires_in: 3599, scope: 'https://www.googleapis.com/auth/gmail.readonly', token_type: 'Bearer' });
  }

  function api(req: http.IncomingMessage, url: URL): HttpAnswer {
    const auth = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    // `expired_token`: the first access token is dead on arrival, so the client must refresh and replay once.
    if (!auth || !issued.has(auth) || (faults.has('expired_token') && auth === firstToken)) {
      counters.unauthorized++;
      return new HttpAnswer(401, { error: { code: 401, message: 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.', errors: [{ message: 'Invalid Credentials', domain: 'global', reason: 'authError', location: 'Authorization', locationType: 'header' }], status: 'UNAUTHENTICATED' } }, { 'WWW-Authenticate': 'Bearer realm="https://accounts.google.com/"' });
    }
    const n = ++apiCalls;
    if (faults.has('rate_limit') && n % 6 === 0) {
      counters.rateLimited++;
      return googleError(429, 'Too many concurrent requests for user.', 'RESOURCE_EXHAUSTED', 'rateLimitExceeded');
    }
    if (faults.has('rate_limit') && n % 6 === 3) {
      counters.rateLimited++;
      return googleError(403, "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' of service 'gmail.googleapis.com'.", 'PERMISSION_DENIED', 'userRateLimitExceeded');
    }
    if (faults.has('5xx') && n % 4 === 2) {
      counters.errors5xx++;
      return googleError(503, 'The service is currently unavailable.', 'UNAVAILABLE', 'backendError');
    }
    const path = url.pathname.replace(/\/+$/, '');
    let m: RegExpExecArray | null;
    if (path === '/gmail/v1/users/me/messages') {
      counters.listRequests++;
      const q = url.searchParams.get('q') ?? '';
      counters.queries.push(q);
      const maxResults = Math.min(500, Math.max(1, Number(url.searchParams.get('maxResults')) || 100));
      const pageToken = url.searchParams.get('pageToken');
      const offset = pageToken ? Number(Buffer.from(pageToken, 'base64url').toString('utf8').replace(/^o:/, '')) : 0;
      if (!Number.isInteger(offset) || offset < 0) return googleError(400, 'Invalid pageToken', 'INVALID_ARGUMENT', 'invalidArgument');
      const matching = reports.filter((r) => matchesQuery(r, q));
      const page = matching.slice(offset, offset + maxResults);
      const body: Record<string, unknown> = {};
      if (page.length > 0) body.messages = page.map((r) => ({ id: r.id, threadId: r.duplicateOf ?? r.id }));
      if (offset + maxResults < matching.length) body.nextPageToken = Buffer.from(`o:${offset + maxResults}`).toString('base64url');
      body.resultSizeEstimate = matching.length;
      return new HttpAnswer(200, body);
    }
    if ((m = /^\/gmail\/v1\/users\/me\/messages\/([^/]+)\/attachments\/([^/]+)$/.exec(path))) {
      counters.attachmentRequests++;
      const r = byId.get(decodeURIComponent(m[1]!));
      let partId = '';
      try {
        const key = JSON.parse(Buffer.from(decodeURIComponent(m[2]!), 'base64url').toString('utf8')) as { m?: string; p?: string };
        if (key.m === r?.id) partId = String(key.p ?? '');
      } catch {
        // falls through to 400
      }
      const att = r ? attachmentsOf(r).find((a) => a.partId === partId) : undefined;
      if (!r) return googleError(404, 'Requested entity was not found.', 'NOT_FOUND', 'notFound');
      if (r.id === brokenId) {
        counters.errors5xx++;
        return googleError(500, 'Backend Error', 'INTERNAL', 'backendError');
      }
      if (!att) return googleError(400, 'Invalid attachment token', 'INVALID_ARGUMENT', 'invalidArgument');
      return new HttpAnswer(200, { size: att.bytes.length, data: b64url(att.bytes) });
    }
    if ((m = /^\/gmail\/v1\/users\/me\/messages\/([^/]+)$/.exec(path))) {
      counters.getRequests++;
      const id = decodeURIComponent(m[1]!);
      const r = byId.get(id);
      if (!r) return googleError(404, 'Requested entity was not found.', 'NOT_FOUND', 'notFound');
      counters.fetched.push(id);
      const format = url.searchParams.get('format') ?? 'full';
      if (format !== 'full') return googleError(400, `The fake serves format=full only, got ${format}`, 'INVALID_ARGUMENT', 'invalidArgument');
      // Attachment ids differ on every get (community reports): never a dedup key.
      const serial = ++getSerial;
      const { payload, snippet, size } = payloadOf(r, (partId) => Buffer.from(JSON.stringify({ m: r.id, p: partId, n: serial })).toString('base64url'));
      return new HttpAnswer(200, { id: r.id, threadId: r.duplicateOf ?? r.id, labelIds: ['INBOX', 'CATEGORY_UPDATES'], snippet, historyId: String(100000 + serial), internalDate: String(r.internalDate), payload, sizeEstimate: size });
    }
    return googleError(404, `Not found: ${path}`, 'NOT_FOUND', 'notFound');
  }

  const handler: http.RequestListener = (req, res) => {
    void (async () => {
      counters.requests++;
      const url = new URL(req.url ?? '/', 'http://sandbox');
      const body = await readBody(req);
      let answer: HttpAnswer;
      if (url.pathname === '/token' && req.method === 'POST') answer = token(new URLSearchParams(body));
      else if (req.method !== 'GET') answer = googleError(405, 'Method not allowed', 'INVALID_ARGUMENT', 'methodNotAllowed');
      else answer = api(req, url);
      res.writeHead(answer.status, { 'Content-Type': 'application/json; charset=UTF-8', ...answer.headers });
      res.end(JSON.stringify(answer.body));
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 500, message: String(err), status: 'INTERNAL' } }));
    });
  };

  const server = await listen(handler, opts.port ?? 0);
  return {
    source: 'gmail',
    url: server.url,
    env: {
      GMAIL_API_URL: server.url,
      GMAIL_TOKEN_URL: `${server.url}/token`,
      GMAIL_CLIENT_ID: GMAIL_SANDBOX_CLIENT_ID,
      GMAIL_CLIENT_SECRET: GMAIL_SANDBOX_CLIENT_SECRET,
      GMAIL_REFRESH_TOKEN: GMAIL_SANDBOX_REFRESH_TOKEN,
      GMAIL_QUERY: 'from:qtickets',
      GMAIL_CITY_MAP: JSON.stringify(GMAIL_SANDBOX_CITY_MAP),
    },
    close: server.close,
    counters,
    today,
    reports,
    brokenMessageId: brokenId,
    expectedSales: (since, until) => expectedGmailSales(seed, since, until, today),
  };
}
