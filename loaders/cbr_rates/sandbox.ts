// A faithful fake of CBR's daily rates endpoint (GET /scripts/XML_daily.asp?date_req=DD/MM/YYYY) with
// deterministic synthetic rates. Like the real one it answers in windows-1251 with decimal commas and
// `Nominal` quotes (KZT, JPY, AMD per 100, TRY per 10), publishes nothing on weekends and holidays (a
// request for such a day gets the last published set, with that set's own Date), and optionally serves
// the next business day's set the evening before (`evening_before`). Faults by name: BEHAVIOR.md.
import type http from 'node:http';
import { addDays, isDay } from '../../src/runtime/dates.js';
import { hashSeed, listen, seededRandom, type RunningSandbox, type SandboxOptions } from '../../src/runtime/sandbox.js';

// ---- synthetic world (pure functions of the seed) ------------------------------------------------

export interface SandboxCurrency {
  code: string;
  /** CBR's internal id (Valute/@ID). */
  id: string;
  numCode: string;
  nominal: number;
  name: string;
  /** Typical Value (RUB for `nominal` units); daily values wander ±3% around it. */
  base: number;
}

export const CBR_SANDBOX_CURRENCIES: readonly SandboxCurrency[] = [
  { code: 'AMD', id: 'R01060', numCode: '051', nominal: 100, name: 'Армянских драмов', base: 23.8512 },
  { code: 'BYN', id: 'R01090B', numCode: '933', nominal: 1, name: 'Белорусский рубль', base: 28.3401 },
  { code: 'CNY', id: 'R01375', numCode: '156', nominal: 1, name: 'Китайский юань', base: 12.7113 },
  { code: 'EUR', id: 'R01239', numCode: '978', nominal: 1, name: 'Евро', base: 100.2211 },
  { code: 'GBP', id: 'R01035', numCode: '826', nominal: 1, name: 'Фунт стерлингов Соединенного королевства', base: 117.0382 },
  { code: 'JPY', id: 'R01820', numCode: '392', nominal: 100, name: 'Японских иен', base: 61.5045 },
  { code: 'KZT', id: 'R01335', numCode: '398', nominal: 100, name: 'Казахстанских тенге', base: 18.3094 },
  { code: 'TRY', id: 'R01700J', numCode: '949', nominal: 10, name: 'Турецких лир', base: 28.4417 },
  { code: 'USD', id: 'R01235', numCode: '840', nominal: 1, name: 'Доллар США', base: 92.1234 },
];

/** Quotes that only the `malformed` fault adds, always broken: never in the ground truth. */
export const CBR_MALFORMED_CURRENCIES = ['XDR', 'SGD'] as const;

/** Fixed non-working days (MM-DD) on which CBR publishes nothing, besides Saturdays and Sundays. */
export const CBR_SANDBOX_HOLIDAYS: readonly string[] = ['01-01', '01-02', '01-03', '01-04', '01-05', '01-06', '01-07', '01-08', '02-23', '03-08', '05-01', '05-09', '06-12', '11-04'];

/** A day CBR publishes a set dated that day. */
export function isPublicationDay(day: string): boolean {
  const weekday = new Date(`${day}T00:00:00Z`).getUTCDay();
  return weekday !== 0 && weekday !== 6 && !CBR_SANDBOX_HOLIDAYS.includes(day.slice(5));
}

/** The latest publication day ≤ day. */
export function publicationOnOrBefore(day: string): string {
  let d = day;
  while (!isPublicationDay(d)) d = addDays(d, -1);
  return d;
}

/** The set CBR serves for a request about `day`: the latest ≤ day, or ≤ day + 1 when the next one is out the evening before. */
export function servedPublication(day: string, eveningBefore: boolean): string {
  return publicationOnOrBefore(eveningBefore ? addDays(day, 1) : day);
}

/** Value (RUB for `nominal` units) of a currency in the set dated `publishedDate`, in units of 0.0001. */
export function sandboxValue(seed: number, currency: SandboxCurrency, publishedDate: string): number {
  const r = seededRandom(hashSeed(seed, 'cbr-rate', currency.code, publishedDate))();
  return Math.round(currency.base * 10_000 * (0.97 + 0.06 * r));
}

export interface ExpectedRate {
  /** RUB for one unit, 6 decimals. */
  rubPerUnit: number;
  nominal: number;
  /** RUB for `nominal` units, 4 decimals. */
  value: number;
  publishedDate: string;
  carriedForward: boolean;
  name: string;
}

/** Ground truth: what dim_currency_rates must hold for (currency, day); RUB is 1 every day. */
export function expectedRate(seed: number, currency: string, day: string): ExpectedRate {
  if (currency === 'RUB') return { rubPerUnit: 1, nominal: 1, value: 1, publishedDate: day, carriedForward: false, name: 'Российский рубль' };
  const c = CBR_SANDBOX_CURRENCIES.find((x) => x.code === currency);
  if (!c) throw new Error(`the CBR sandbox does not quote ${currency}`);
  const publishedDate = publicationOnOrBefore(day);
  const v = sandboxValue(seed, c, publishedDate);
  return { rubPerUnit: Math.round((v * 100) / c.nominal) / 1e6, nominal: c.nominal, value: v / 1e4, publishedDate, carriedForward: publishedDate < day, name: c.name };
}

/** Under `malformed`: sets that also carry the broken XDR (Value "н/д") and SGD (Nominal 0) quotes. */
export function isMalformedSet(seed: number, publishedDate: string): boolean {
  return hashSeed(seed, 'cbr-bad', publishedDate) % 3 === 0;
}

function comma(units: number, decimals: number): string {
  return (units / 10 ** decimals).toFixed(decimals).replace('.', ',');
}

function valuteXml(v: { id: string; numCode: string; code: string; nominal: string; name: string; value: string; vunit: string }): string {
  return `<Valute ID="${v.id}"><NumCode>${v.numCode}</NumCode><CharCode>${v.code}</CharCode><Nominal>${v.nominal}</Nominal><Name>${v.name}</Name><Value>${v.value}</Value><VunitRate>${v.vunit}</VunitRate></Valute>`;
}

/** The XML document (as text, before encoding) for the set dated `publishedDate`. */
export function setXml(seed: number, publishedDate: string, opts: { malformed?: boolean } = {}): string {
  const [y, m, d] = publishedDate.split('-');
  const parts = CBR_SANDBOX_CURRENCIES.map((c) => {
    const v = sandboxValue(seed, c, publishedDate);
    return valuteXml({ id: c.id, numCode: c.numCode, code: c.code, nominal: String(c.nominal), name: c.name, value: comma(v, 4), vunit: comma(Math.round((v * 100) / c.nominal), 6) });
  });
  if (opts.malformed && isMalformedSet(seed, publishedDate)) {
    parts.splice(2, 0, valuteXml({ id: 'R01589', numCode: '960', code: 'XDR', nominal: '1', name: 'СДР (специальные права заимствования)', value: 'н/д', vunit: 'н/д' }));
    parts.push(valuteXml({ id: 'R01625', numCode: '702', code: 'SGD', nominal: '0', name: 'Сингапурский доллар', value: '68,1234', vunit: '68,1234' }));
  }
  return `<?xml version="1.0" encoding="windows-1251"?><ValCurs Date="${d}.${m}.${y}" name="Foreign Currency Market">${parts.join('')}</ValCurs>`;
}

let cp1251: Map<string, number> | null = null;
/** Text -> windows-1251 bytes (Node decodes the charset but cannot encode it); unmappable characters become '?'. */
export function encodeWindows1251(text: string): Buffer {
  if (!cp1251) {
    cp1251 = new Map();
    const decoded = new TextDecoder('windows-1251').decode(Uint8Array.from({ length: 256 }, (_, i) => i));
    for (let i = 0; i < 256; i++) if (!cp1251.has(decoded[i]!)) cp1251.set(decoded[i]!, i);
  }
  const out = Buffer.alloc(text.length);
  let n = 0;
  for (const ch of text) out[n++] = cp1251.get(ch) ?? 0x3f;
  return out.subarray(0, n);
}

/** date_req: DD/MM/YYYY (documented) or DD.MM.YYYY -> YYYY-MM-DD. */
function parseDateReq(value: string): string | null {
  const m = /^(\d{2})[./](\d{2})[./](\d{4})$/.exec(value.trim());
  const day = m ? `${m[3]}-${m[2]}-${m[1]}` : '';
  return isDay(day) ? day : null;
}

// ---- the HTTP fake ----------------------------------------------------------------------------

export interface CbrSandboxCounters {
  requests: number;
  /** 200 answers carrying a rate set. */
  sets: number;
  rateLimited: number;
  errors5xx: number;
  htmlErrors: number;
  truncated: number;
}

export interface CbrSandbox extends RunningSandbox {
  counters: CbrSandboxCounters;
  /** Days asked for (date_req, as YYYY-MM-DD), in arrival order, retries included. */
  requestedDays: string[];
}

const XML_TYPE = 'application/xml; charset=windows-1251';
const HTML_TYPE = 'text/html; charset=windows-1251';

function htmlPage(title: string, text: string): Buffer {
  return encodeWindows1251(`<!DOCTYPE html><html><head><meta charset="windows-1251"><title>${title}</title></head><body><h1>${title}</h1><p>${text}</p></body></html>`);
}

export async function startSandbox(opts: SandboxOptions): Promise<CbrSandbox> {
  const { seed, faults } = opts;
  const counters: CbrSandboxCounters = { requests: 0, sets: 0, rateLimited: 0, errors5xx: 0, htmlErrors: 0, truncated: 0 };
  const requestedDays: string[] = [];
  const eveningBefore = faults.has('evening_before');

  function answer(res: http.ServerResponse, status: number, type: string, body: Buffer, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(body.length), ...headers });
    res.end(body);
  }

  const handler: http.RequestListener = (req, res) => {
    void (async () => {
      const n = ++counters.requests;
      const url = new URL(req.url ?? '/', 'http://sandbox');
      if (faults.has('slow')) await delay(250);
      if (url.pathname.toLowerCase() !== '/scripts/xml_daily.asp') return answer(res, 404, HTML_TYPE, htmlPage('404', 'Страница не найдена'));
      const asked = url.searchParams.get('date_req');
      // Without date_req CBR serves the latest set: "today" in Moscow.
      const day = asked === null ? new Date(Date.now() + 3 * 3_600_000).toISOString().slice(0, 10) : parseDateReq(asked);
      if (day) requestedDays.push(day);
      if (faults.has('rate_limit') && n % 10 === 0) {
        counters.rateLimited++;
        return answer(res, 429, HTML_TYPE, htmlPage('Too Many Requests', 'Слишком много запросов'), { 'Retry-After': '1' });
      }
      if (faults.has('5xx') && n % 6 === 0) {
        counters.errors5xx++;
        return answer(res, n % 12 === 0 ? 500 : 503, HTML_TYPE, htmlPage('Service Unavailable', 'Сервис временно недоступен'));
      }
      if (faults.has('html_error') && n % 9 === 0) {
        counters.htmlErrors++;
        // A 200 with a maintenance page instead of XML, as a front proxy serves it.
        return answer(res, 200, HTML_TYPE, htmlPage('Технические работы', 'Сайт Банка России временно недоступен. Попробуйте позже.'));
      }
      // Like CBR (unverified): a date it cannot read is a 200 whose ValCurs holds only an error text.
      if (!day) return answer(res, 200, XML_TYPE, encodeWindows1251('<?xml version="1.0" encoding="windows-1251"?><ValCurs>Error in parameters</ValCurs>'));
      let body = encodeWindows1251(setXml(seed, servedPublication(day, eveningBefore), { malformed: faults.has('malformed') }));
      if (faults.has('malformed') && counters.truncated === 0) {
        counters.truncated++;
        body = body.subarray(0, Math.floor(body.length / 2)); // a body cut off mid-way, once
      } else {
        counters.sets++;
      }
      answer(res, 200, XML_TYPE, body);
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(String(err));
    });
  };

  const server = await listen(handler, opts.port ?? 0);
  return {
    source: 'cbr_rates',
    url: server.url,
    env: { CBR_API_URL: server.url },
    close: server.close,
    counters,
    requestedDays,
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
