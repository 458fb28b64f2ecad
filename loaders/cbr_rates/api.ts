// Client of the CBR daily rates endpoint (GET /scripts/XML_daily.asp?date_req=DD/MM/YYYY) over the
// runtime's HttpClient: decodes the windows-1251 body, checks the XML is whole, returns the raw <Valute>
// records for transform.ts to validate one by one (a bad record is quarantined, not fatal).
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { isDay } from '../../src/runtime/dates.js';
import { AdhouseError } from '../../src/runtime/errors.js';
import { retryAfterMs, type HttpClient, type HttpResponse } from '../../src/runtime/http.js';
import { redactString } from '../../src/runtime/redact.js';

export const DAILY_PATH = '/scripts/XML_daily.asp';
/** What CBR declares (and what we assume when neither the document nor the header says). */
export const DEFAULT_CHARSET = 'windows-1251';

/** One CBR answer: the set's own date (may differ from the day asked for) and its raw records. */
export interface CbrDaily {
  /** The day asked for (date_req). */
  requestedDay: string;
  /** `ValCurs/@Date`: the day the set is dated, YYYY-MM-DD. */
  publishedDate: string;
  /** `<Valute>` elements as parsed (strings only, attributes under `@_`); validated by transform.ts. */
  valutes: unknown[];
}

/** YYYY-MM-DD -> DD/MM/YYYY (date_req). */
export function dateReq(day: string): string {
  return `${day.slice(8, 10)}/${day.slice(5, 7)}/${day.slice(0, 4)}`;
}

/** DD.MM.YYYY (ValCurs/@Date) -> YYYY-MM-DD, or null when it is not a real day. */
export function parseCbrDate(text: unknown): string | null {
  if (typeof text !== 'string') return null;
  const m = /^(\d{2})[./](\d{2})[./](\d{4})$/.exec(text.trim());
  if (!m) return null;
  const day = `${m[3]}-${m[2]}-${m[1]}`;
  return isDay(day) ? day : null;
}

function charsetOf(label: string | undefined | null): string | undefined {
  if (!label) return undefined;
  try {
    return new TextDecoder(label.trim().toLowerCase()).encoding;
  } catch {
    return undefined; // a label TextDecoder does not know: fall through to the next source
  }
}

/**
 * The body as text. The charset comes from the XML declaration (CBR's own statement, ASCII-readable in
 * any single-byte encoding), then the Content-Type header, then windows-1251. Node's TextDecoder knows
 * windows-1251 (full ICU), so no library is needed.
 */
export function decodeCbrXml(bytes: Uint8Array, contentType?: string | null): string {
  const head = Buffer.from(bytes.subarray(0, 200)).toString('latin1');
  const declared = /^\s*<\?xml[^>]*\bencoding\s*=\s*["']([^"']+)["']/i.exec(head)?.[1];
  const header = /charset\s*=\s*"?([^";\s]+)/i.exec(contentType ?? '')?.[1];
  const charset = charsetOf(declared) ?? charsetOf(header) ?? DEFAULT_CHARSET;
  return new TextDecoder(charset).decode(bytes);
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  // Keep every value a string: "092,1234" and "0100" must reach the validator as sent.
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  isArray: (name) => name === 'Valute',
});

function snippet(text: string): string {
  return redactString(text.slice(0, 160).replace(/\s+/g, ' '));
}

/**
 * A decoded answer -> its date and raw records. Anything that is not a whole ValCurs document (an HTML
 * error page on a 200, a body cut off mid-way, an empty set) is `upstream_5xx`: retried with backoff.
 * A whole document without a usable date ("Error in parameters") is `internal`: retrying will not fix it.
 */
export function parseDailyXml(text: string, requestedDay: string): CbrDaily {
  const body = text.replace(/^\uFEFF/, '').trim();
  if (!/^(<\?xml[^>]*\?>\s*)?(<!--[\s\S]*?-->\s*)*<ValCurs[\s>/]/.test(body)) {
    throw new AdhouseError('upstream_5xx', `CBR answered ${requestedDay} with something that is not a ValCurs document: ${snippet(body)}`);
  }
  const valid = XMLValidator.validate(body);
  if (valid !== true) {
    throw new AdhouseError('upstream_5xx', `CBR answered ${requestedDay} with broken XML (truncated?): ${valid.err.msg} at line ${valid.err.line}`);
  }
  const doc = parser.parse(body) as { ValCurs?: unknown };
  const root = doc.ValCurs;
  if (!root || typeof root !== 'object') {
    throw new AdhouseError('internal', `CBR answered ${requestedDay} without a rate set: ${snippet(String(root ?? ''))}`);
  }
  const node = root as { '@_Date'?: unknown; Valute?: unknown };
  const publishedDate = parseCbrDate(node['@_Date']);
  if (!publishedDate) throw new AdhouseError('internal', `CBR answered ${requestedDay} with ValCurs Date=${JSON.stringify(node['@_Date'])}, expected DD.MM.YYYY`);
  const valutes = Array.isArray(node.Valute) ? (node.Valute as unknown[]) : [];
  // CBR quotes dozens of currencies every business day: an empty set is a glitch, not news.
  if (valutes.length === 0) throw new AdhouseError('upstream_5xx', `CBR answered ${requestedDay} with an empty rate set dated ${publishedDate}`);
  return { requestedDay, publishedDate, valutes };
}

/** Parses one HTTP answer; non-2xx answers get the runtime's default classification (429, 5xx, ...). */
export function parseDailyResponse(res: HttpResponse, requestedDay: string): CbrDaily {
  if (res.status < 200 || res.status >= 300) throw errorFor(res);
  return parseDailyXml(decodeCbrXml(res.bytes, res.headers.get('content-type')), requestedDay);
}

function errorFor(res: HttpResponse): AdhouseError {
  // classifyStatus reads `text` as UTF-8; CBR's error pages are windows-1251, so build the message here.
  const text = decodeCbrXml(res.bytes, res.headers.get('content-type'));
  const where = res.url.split('?')[0] ?? res.url;
  const message = `HTTP ${res.status} from ${where}: ${snippet(text)}`;
  const wait = retryAfterMs(res.headers);
  if (res.status === 429) return new AdhouseError('rate_limited', message, { retryAfterMs: wait, upstreamCode: 429 });
  if (res.status >= 500) return new AdhouseError('upstream_5xx', message, { retryAfterMs: wait, upstreamCode: res.status });
  // CBR answers bots it dislikes with 403; nothing we configure fixes that, but it is not a token either.
  return new AdhouseError('config', message, { upstreamCode: res.status });
}

export interface CbrApi {
  /** The set CBR serves for `day` (its publishedDate may be earlier, or the next day: see BEHAVIOR.md). */
  daily(day: string): Promise<CbrDaily>;
}

export function createCbrApi(opts: { http: HttpClient; baseUrl: string }): CbrApi {
  return {
    daily(day) {
      return opts.http.request({ url: `${opts.baseUrl}${DAILY_PATH}`, query: { date_req: dateReq(day) } }, (res) => parseDailyResponse(res, day));
    },
  };
}
