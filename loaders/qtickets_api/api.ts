// Typed client of the QTickets REST API v1 (https://qtickets.ru/api/rest/v1) over the runtime's HttpClient.
// List filters travel as query-string JSON (`where=`, `orderBy=`) because the runtime's fetch cannot send
// a body with GET (the documented transport); the loader re-filters every answer itself (BEHAVIOR.md).
import { z } from 'zod';
import { AdhouseError } from '../../src/runtime/errors.js';
import type { HttpClient, HttpResponse } from '../../src/runtime/http.js';
import { classifyStatus } from '../../src/runtime/http.js';

// ---- schemas --------------------------------------------------------------------------------

/** Ids arrive as JSON numbers; strings of digits are accepted too. */
export const idLike = z.union([z.number().int().nonnegative(), z.string().regex(/^\d+$/).transform(Number)]);
const boolLike = z.union([z.boolean(), z.literal(1).transform(() => true), z.literal(0).transform(() => false), z.enum(['1', '0', 'true', 'false']).transform((v) => v === '1' || v === 'true')]);
const optText = z.string().nullable().optional();

export const showSchema = z.looseObject({
  id: idLike,
  is_active: boolLike.nullable().optional(),
  start_date: optText,
  finish_date: optText,
});
export type QtShow = z.infer<typeof showSchema>;

export const eventSchema = z.looseObject({
  id: idLike,
  name: z.string().nullable().optional().transform((v) => v ?? ''),
  is_active: boolLike.nullable().optional(),
  currency_id: optText,
  place_name: optText,
  place_address: optText,
  city_id: z.union([z.number(), z.string()]).nullable().optional(),
  external_id: z.union([z.string(), z.number()]).nullable().optional(),
  deleted_at: optText,
  // A show that fails its schema is quarantined alone, so shows stay raw here.
  shows: z.array(z.unknown()).nullable().optional().transform((v) => v ?? []),
});
export type QtEvent = z.infer<typeof eventSchema>;

export const basketSchema = z.looseObject({
  id: idLike,
  show_id: idLike,
  // A float in the docs; money is re-parsed to exact kopecks in transform.ts.
  price: z.union([z.number(), z.string()]),
  quantity: z.union([z.number().int().positive(), z.string().regex(/^[1-9]\d*$/).transform(Number)]).nullable().optional().transform((v) => v ?? 1),
  deleted_at: optText,
  refunded_at: optText,
  refunded_amount: z.union([z.number(), z.string()]).nullable().optional(),
});
export type QtBasket = z.infer<typeof basketSchema>;

export const orderSchema = z.looseObject({
  id: idLike,
  payed: boolLike.nullable().optional().transform((v) => v ?? false),
  payed_at: optText,
  updated_at: optText,
  created_at: optText,
  deleted_at: optText,
  event_id: idLike,
  currency_id: optText,
  price: z.union([z.number(), z.string()]).nullable().optional(),
  baskets: z.array(z.unknown()).nullable().optional().transform((v) => v ?? []),
});
export type QtOrder = z.infer<typeof orderSchema>;

const pagingSchema = z.looseObject({ perPage: idLike, currentPage: idLike, total: idLike });
const listSchema = z.looseObject({ data: z.array(z.unknown()), paging: pagingSchema.nullable().optional() });
const singleSchema = z.looseObject({ data: z.unknown() });

export type Validated<T> = { ok: true; value: T; raw: unknown } | { ok: false; raw: unknown; reason: string };

/** One `where` item as documented: `{column, operator?, value?}`. */
export interface WhereItem {
  column: string;
  operator?: '=' | '!=' | '<' | '>' | '<=' | '>=' | 'in' | 'not in' | 'null' | 'not null';
  value?: unknown;
}

// ---- errors ---------------------------------------------------------------------------------

function errorBody(res: HttpResponse): { error?: unknown; status?: unknown } | null {
  try {
    const j = JSON.parse(res.text) as unknown;
    return j && typeof j === 'object' && !Array.isArray(j) ? (j as { error?: unknown; status?: unknown }) : null;
  } catch {
    return null;
  }
}

/**
 * Non-2xx answers carry `{"error": "...", "status": <code>}`: 401/403 token_invalid, 429 rate_limited
 * (Retry-After honoured), 5xx upstream_5xx, other 4xx config. The upstream message is kept in the error.
 */
export function failQtickets(res: HttpResponse): never {
  const base = classifyStatus(res);
  const body = errorBody(res);
  const detail = typeof body?.error === 'string' ? `QTickets: ${body.error} (HTTP ${res.status})` : base.message;
  throw new AdhouseError(base.code, detail, { retryAfterMs: base.retryAfterMs, upstreamCode: res.status });
}

function parseBody<T>(res: HttpResponse, schema: z.ZodType<T>, what: string): T {
  if (res.status < 200 || res.status >= 300) failQtickets(res);
  let json: unknown;
  try {
    json = JSON.parse(res.text);
  } catch {
    // A cut-off or HTML body on a 200 comes from a proxy or an overloaded upstream: retry.
    throw new AdhouseError('upstream_5xx', `invalid JSON from QTickets ${what}`);
  }
  // An error object on a 200 is still an error; classify it by the status it names.
  const err = json as { error?: unknown; status?: unknown } | null;
  if (err && typeof err === 'object' && typeof err.error === 'string' && typeof err.status === 'number' && err.status >= 400) {
    failQtickets({ ...res, status: err.status, headers: res.headers, bytes: res.bytes, text: res.text, url: res.url });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AdhouseError('internal', `QTickets ${what} answered an unexpected shape: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  return parsed.data;
}

export function validate<T>(schema: z.ZodType<T>, raw: unknown, what: string): Validated<T> {
  const r = schema.safeParse(raw);
  if (r.success) return { ok: true, value: r.data, raw };
  const issue = r.error.issues[0];
  return { ok: false, raw, reason: `invalid ${what}: ${issue?.path.join('.') || '(root)'}: ${issue?.message}` };
}

// ---- the client -----------------------------------------------------------------------------

/** Asked page size; the server may clamp it, so paging follows `paging.perPage`, never this number. */
export const PAGE_SIZE = 200;
/** A guard against a server that ignores `page` and answers the same page forever. */
const MAX_PAGES = 10_000;

export interface QticketsApi {
  /** Every event, deleted ones included (their shows date the history), page by page. */
  events(): AsyncGenerator<Array<Validated<QtEvent>>>;
  /** One event by id; null when the server says 404. */
  event(id: number): Promise<QtEvent | null>;
  /** Raw orders matching `where`, page by page, ordered by id; validated by the transform. */
  orders(where: WhereItem[]): AsyncGenerator<unknown[]>;
}

export interface QticketsApiOptions {
  http: HttpClient;
  baseUrl: string;
  token: string;
  pageSize?: number;
}

export function createQticketsApi(opts: QticketsApiOptions): QticketsApi {
  const headers = { authorization: `Bearer ${opts.token}`, accept: 'application/json', 'cache-control': 'no-cache' };
  const perPage = opts.pageSize ?? PAGE_SIZE;

  async function* list(path: string, where: WhereItem[] | undefined, what: string): AsyncGenerator<unknown[]> {
    for (let page = 1; page <= MAX_PAGES; page++) {
      const query: Record<string, string | number> = { orderBy: JSON.stringify({ id: 'asc' }), page, per_page: perPage };
      if (where && where.length > 0) query.where = JSON.stringify(where);
      const answer = await opts.http.request({ url: `${opts.baseUrl}${path}`, query, headers }, (res) => parseBody(res, listSchema, what));
      if (answer.data.length === 0) return;
      yield answer.data;
      const p = answer.paging;
      if (p && p.currentPage * p.perPage >= p.total) return;
    }
    throw new AdhouseError('internal', `QTickets ${what}: more than ${MAX_PAGES} pages; the server seems to ignore page=`);
  }

  return {
    async *events() {
      for await (const page of list('/events', undefined, 'events list')) yield page.map((raw) => validate(eventSchema, raw, 'event'));
    },
    async event(id) {
      return opts.http.request({ url: `${opts.baseUrl}/events/${id}`, headers }, (res) => {
        if (res.status === 404) return null;
        const body = parseBody(res, singleSchema, `event ${id}`);
        const v = validate(eventSchema, body.data, 'event');
        return v.ok ? v.value : null;
      });
    },
    orders: (where) => list('/orders', where, 'orders list'),
  };
}
