// QTickets report e-mails -> tables of text cells. Pure functions: MIME walking, charset detection,
// CSV dialect sniffing and a small HTML table extractor. Mapping cells to sales rows is transform.ts.
import { parse as parseCsvSync } from 'csv-parse/sync';

/** The fields of a Gmail MessagePart that the loader reads (format=full). */
export interface MessagePart {
  partId?: string | null;
  mimeType?: string | null;
  filename?: string | null;
  headers?: Array<{ name?: string | null; value?: string | null }> | null;
  body?: { attachmentId?: string | null; size?: number | null; data?: string | null } | null;
  parts?: MessagePart[] | null;
}

/** A leaf of the MIME tree: the parts that carry bytes. */
export interface LeafPart {
  partId: string;
  mimeType: string;
  filename: string;
  /** The `charset` parameter of the part's Content-Type, lowercased; '' when absent. */
  charset: string;
  /** base64url bytes when inline; null when they must be fetched with attachments.get. */
  data: string | null;
  attachmentId: string | null;
}

/** Every leaf of a Gmail payload in document order; multipart containers nest to any depth. */
export function walkParts(part: MessagePart | null | undefined, out: LeafPart[] = []): LeafPart[] {
  if (!part) return out;
  const mimeType = (part.mimeType ?? '').toLowerCase();
  if (part.parts && part.parts.length > 0) {
    for (const child of part.parts) walkParts(child, out);
    return out;
  }
  if (mimeType.startsWith('multipart/')) return out;
  const contentType = part.headers?.find((h) => (h.name ?? '').toLowerCase() === 'content-type')?.value ?? '';
  const charset = /charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType)?.[1]?.toLowerCase() ?? '';
  out.push({
    partId: part.partId ?? '',
    mimeType,
    filename: part.filename ?? '',
    charset,
    data: part.body?.data ?? null,
    attachmentId: part.body?.attachmentId ?? null,
  });
  return out;
}

/** A CSV attachment: by file name first (QTickets sends text/csv, Excel-style clients octet-stream). */
export function isCsvPart(p: LeafPart): boolean {
  if (/\.csv$/i.test(p.filename.trim())) return true;
  return p.filename !== '' && (p.mimeType === 'text/csv' || p.mimeType === 'text/comma-separated-values');
}

/** An HTML body (not an attached .html file). */
export function isHtmlBody(p: LeafPart): boolean {
  return p.mimeType === 'text/html' && p.filename === '';
}

/** Gmail's base64url (`-`/`_`, padding optional); standard base64 is accepted too. */
export function decodeBase64Url(data: string): Buffer {
  return Buffer.from(data.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''), 'base64url');
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Bytes -> text. A declared charset other than UTF-8 is used when the runtime knows it. Otherwise (none
 * declared, or declared UTF-8 but invalid, which happens with attachments saved by Excel): valid UTF-8 is
 * UTF-8, anything else is Windows-1251 (the only other encoding QTickets reports come in).
 */
export function decodeText(bytes: Uint8Array, declaredCharset = ''): { text: string; encoding: string } {
  const declared = declaredCharset.toLowerCase().replace(/^cp-?/, 'windows-');
  if (declared && declared !== 'utf-8' && declared !== 'utf8' && declared !== 'us-ascii') {
    try {
      return { text: stripBom(new TextDecoder(declared).decode(bytes)), encoding: declared };
    } catch {
      // An unknown label: fall through to sniffing.
    }
  }
  try {
    return { text: stripBom(UTF8.decode(bytes)), encoding: 'utf-8' };
  } catch {
    return { text: new TextDecoder('windows-1251').decode(bytes), encoding: 'windows-1251' };
  }
}

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** A table of text cells with the source line (CSV) or row number (HTML) of each row, 1-based. */
export interface TextTable {
  rows: Array<{ line: number; cells: string[] }>;
}

/**
 * The CSV separator: the candidate (`;`, `,`, tab) seen most often outside quotes over the first
 * non-empty lines (a report may open with a title line that has none). Ties go to `;`: Russian Excel
 * writes `;` because `,` is the decimal separator.
 */
export function sniffDelimiter(text: string): ';' | ',' | '\t' {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '').slice(0, 5);
  const counts = { ';': 0, ',': 0, '\t': 0 };
  for (const line of lines) {
    let quoted = false;
    for (const ch of line) {
      if (ch === '"') quoted = !quoted;
      else if (!quoted && (ch === ';' || ch === ',' || ch === '\t')) counts[ch]++;
    }
  }
  if (counts['\t'] > counts[';'] && counts['\t'] > counts[',']) return '\t';
  return counts[','] > counts[';'] ? ',' : ';';
}

/** CSV text -> rows (ragged rows allowed, blank lines dropped). Throws on broken quoting. */
export function parseCsv(text: string, delimiter: string = sniffDelimiter(text)): TextTable {
  const records = parseCsvSync(text, {
    delimiter,
    relax_column_count: true,
    skip_empty_lines: true,
    info: true,
  }) as unknown as Array<{ record: string[]; info: { lines: number } }>;
  return { rows: records.map((r) => ({ line: r.info.lines, cells: r.record.map((c) => c.trim()) })).filter((r) => r.cells.some((c) => c !== '')) };
}

const ENTITIES: Record<string, string> = { nbsp: ' ', amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", laquo: '«', raquo: '»', ndash: '–', mdash: '—', hellip: '…', rub: '₽' };

export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name: string) => {
    if (name[0] === '#') {
      const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[name.toLowerCase()] ?? whole;
  });
}

/**
 * Every <table> of an HTML document as rows of cell texts (<th> and <td> alike). Enough for report
 * e-mails, which are generated flat tables: tags inside cells are dropped, <br> becomes a space,
 * entities are decoded, comments/scripts/styles ignored; a table nested inside a cell is read as its
 * own table and its text is not repeated in the outer cell.
 */
export function extractHtmlTables(html: string): TextTable[] {
  const clean = html.replace(/<!--[\s\S]*?-->/g, '').replace(/<(script|style|head)\b[\s\S]*?<\/\1\s*>/gi, '');
  const tables: TextTable[] = [];
  // Innermost tables first: cut each out of the document once read.
  let rest = clean;
  const innermost = /<table\b[^>]*>((?:(?!<table\b)[\s\S])*?)<\/table\s*>/i;
  for (let guard = 0; guard < 1000; guard++) {
    const m = innermost.exec(rest);
    if (!m) break;
    tables.push(tableRows(m[1]!));
    rest = rest.slice(0, m.index) + ' ' + rest.slice(m.index + m[0].length);
  }
  // Document order (innermost-first extraction reverses nesting, not siblings); good enough for a report.
  return tables;
}

function tableRows(inner: string): TextTable {
  const rows: TextTable['rows'] = [];
  let line = 0;
  for (const tr of inner.matchAll(/<tr\b[^>]*>([\s\S]*?)(?=<tr\b|<\/tr\s*>|<\/tbody|<\/thead|<\/tfoot|$)/gi)) {
    const cells: string[] = [];
    for (const cell of tr[1]!.matchAll(/<t([hd])\b[^>]*>([\s\S]*?)(?=<t[hd]\b|<\/t[hd]\s*>|$)/gi)) {
      cells.push(cellText(cell[2]!));
    }
    if (cells.length === 0) continue;
    line++;
    if (cells.some((c) => c !== '')) rows.push({ line, cells });
  }
  return { rows };
}

function cellText(html: string): string {
  return decodeEntities(html.replace(/<br\s*\/?>/gi, ' ').replace(/<[^>]*>/g, ''))
    .replace(/[\s\u00a0]+/g, ' ')
    .trim();
}
