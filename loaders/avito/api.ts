// Typed client of the Avito API (api.avito.ru) over the runtime's HttpClient, for one profile.
// Envelopes are validated here; records are handed on raw and validated one by one in transform.ts, so a
// bad record is quarantined, not fatal. Upstream quirks and how each is handled: BEHAVIOR.md.
import { z } from 'zod';
import { AdhouseError } from '../../src/runtime/errors.js';
import type { HttpClient, HttpRequest, HttpResponse } from '../../src/runtime/http.js';
import { retryAfterMs } from '../../src/runtime/http.js';
import type { Logger } from '../../src/runtime/logger.js';
import { redactString } from '../../src/runtime/redact.js';
import type { AvitoCredentials, TokenStore } from './token-store.js';

export const ITEM_STATUSES = 'active,removed,old,blocked,rejected';
export const ITEMS_PER_PAGE = 100;
export const STATS_MAX_IDS = 200;
/** Item statistics reach back at most 270 days (the day 270 days ago is the oldest we ask for). */
export const STATS_HISTORY_DAYS = 270;
export const STATS_FIELDS = ['uniqViews', 'uniqContacts', 'uniqFavorites'] as const;
/** operations_history refuses windows longer than one week. */
export const OPERATIONS_MAX_DAYS = 7;
export const MESSENGER_LIMIT = 100;
export const MESSENGER_MAX_OFFSET = 1000;
/** Avito sends no Retry-After (unverified) and publishes per-minute limits: wait a whole minute. */
export const DEFAULT_RATE_LIMIT_WAIT_MS = 60_000;

export interface AvitoProfile extends AvitoCredentials {
  client?: string;
}

/** A 401: the token store can fix it once (new token, replay). Not an AdhouseError: never retried by the HTTP client. */
class TokenRejected extends Error {}

/** The Messenger answered 403: the profile's tariff has no API access to it. */
export class MessengerForbidden extends Error {}

type Json = Record<string, unknown>;

function bodyJson(res: HttpResponse): unknown {
  try {
    return JSON.parse(res.text) as unknown;
  } catch {
    return undefined;
  }
}

/** `{"error":{"code","message"}}` (core/stats), or the flat `{code, message}` of /core/v1/items (code a string). */
export function avitoError(json: unknown): { code: number | string; message: string } | null {
  if (!json || typeof json !== 'object' || Array.isArray(json)) return null;
  const e = (json as Json).error;
  if (e && typeof e === 'object') {
    const { code, message } = e as Json;
    if (code === undefined || code === 0 || code === '0') return null; // calltracking's "0 = no error"
    return { code: code as number | string, message: String(message ?? '') };
  }
  return null;
}

export function rateLimitWaitMs(headers: Headers): number {
  return retryAfterMs(headers) ?? DEFAULT_RATE_LIMIT_WAIT_MS;
}

/** Classifies an upstream error code (HTTP status or the code inside a 200's `error`). */
function failWith(code: number, message: string, where: string, headers?: Headers): never {
  const text = `Avito ${code} on ${where}: ${redactString(message.slice(0, 200))}`;
  if (code === 401) throw new TokenRejected(text);
  if (code === 429) throw new AdhouseError('rate_limited', text, { retryAfterMs: headers ? rateLimitWaitMs(headers) : DEFAULT_RATE_LIMIT_WAIT_MS, upstreamCode: 429 });
  if (code >= 500) throw new AdhouseError('upstream_5xx', text, { upstreamCode: code });
  if (code === 403) throw new AdhouseError('token_invalid', `${text} (a bad token or a missing OAuth scope)`, { upstreamCode: 403 });
  throw new AdhouseError('config', text, { upstreamCode: code });
}

/** Parses a JSON answer: non-2xx and 2xx-with-`error` are classified; empty or broken JSON on a 2xx is retried. */
function parseAnswer(res: HttpResponse, where: string): unknown {
  if (res.status < 200 || res.status >= 300) {
    const json = bodyJson(res);
    const e = avitoError(json);
    const flat = json && typeof json === 'object' && !Array.isArray(json) ? (json as Json) : null;
    failWith(res.status, e?.message ?? (typeof flat?.message === 'string' ? flat.message : res.text.slice(0, 200)), where, res.headers);
  }
  const json = bodyJson(res);
  if (json === undefined) throw new AdhouseError('upstream_5xx', `invalid JSON from Avito ${where}: ${redactString(res.text.slice(0, 80))}`);
  const e = avitoError(json);
  if (e) {
    const code = Number(e.code);
    failWith(Number.isFinite(code) ? code : 400, e.message, `${where} (HTTP 200 with an error)`, res.headers);
  }
  return json;
}

function shape<T>(json: unknown, schema: z.ZodType<T>, where: string): T {
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    // An answer in a shape we do not know is most often a proxy page or a half-deployed API: retry it.
    throw new AdhouseError('upstream_5xx', `Avito ${where} answered an unexpected shape: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  return parsed.data;
}

const selfSchema = z.looseObject({ id: z.union([z.number().int().positive(), z.string().regex(/^\d+$/).transform(Number)]), name: z.string().nullable().optional() });
const balanceSchema = z.looseObject({ real: z.number(), bonus: z.number().optional().default(0) });
const itemsPageSchema = z.looseObject({
  meta: z.looseObject({ page: z.number().optional(), per_page: z.number().optional() }).optional(),
  resources: z.array(z.unknown()),
});
const statsSchema = z.looseObject({
  result: z.looseObject({ items: z.array(z.unknown()).default([]) }),
});
const operationsSchema = z.union([
  z.looseObject({ result: z.looseObject({ operations: z.array(z.unknown()) }) }).transform((j) => j.result.operations),
  z.looseObject({ operations: z.array(z.unknown()) }).transform((j) => j.operations),
]);
const chatsSchema = z.looseObject({ chats: z.array(z.unknown()) });
/** The official schema is a bare array; public clients read `{messages, meta}`: accept both. */
const messagesSchema = z.union([
  z.array(z.unknown()).transform((messages) => ({ messages, hasMore: undefined as boolean | undefined })),
  z.looseObject({ messages: z.array(z.unknown()), meta: z.looseObject({ has_more: z.boolean().optional() }).optional() }).transform((j) => ({ messages: j.messages, hasMore: j.meta?.has_more })),
]);

export interface AvitoApi {
  /** `GET /core/v1/accounts/self` → the user_id of every `/accounts/{user_id}/` path. */
  self(): Promise<{ id: number; name?: string | null }>;
  balance(userId: number): Promise<{ real: number; bonus: number }>;
  /** Every item of every status, page by page (no totals: until a short page). */
  items(): AsyncGenerator<unknown[]>;
  /** Day statistics of ≤200 items over [from, to] (inclusive, within the 270-day history). */
  itemStats(userId: number, itemIds: number[], from: string, to: string): Promise<unknown[]>;
  /** Wallet operations in [fromIso, toIso] (≤ 1 week). */
  operations(fromIso: string, toIso: string): Promise<unknown[]>;
  /** Chats, most recently updated first as Avito sends them; offset stops at 1000. */
  chats(userId: number): AsyncGenerator<unknown[]>;
  /** Every message of a chat (paged, offset ≤ 1000); each page as it comes. */
  messages(userId: number, chatId: string): AsyncGenerator<unknown[]>;
  /** Requests that had to be replayed after a 401 (new token). */
  readonly tokenRenewals: number;
}

export interface AvitoApiOptions {
  http: HttpClient;
  baseUrl: string;
  tokens: TokenStore;
  profile: AvitoProfile;
  log?: Logger;
}

export function createAvitoApi(opts: AvitoApiOptions): AvitoApi {
  const { http, baseUrl, tokens, profile } = opts;
  let renewals = 0;

  /** One request with the profile's token; a 401 gets one new token and one replay, then it is token_invalid. */
  async function authed<T>(req: HttpRequest, parse: (res: HttpResponse) => T): Promise<T> {
    let token = await tokens.getToken(profile);
    for (let replay = 0; ; replay++) {
      try {
        return await http.request({ ...req, headers: { ...req.headers, authorization: `Bearer ${token}` } }, (res) => {
          if (res.status === 401) throw new TokenRejected(`Avito 401 on ${req.url}`);
          return parse(res);
        });
      } catch (err) {
        if (!(err instanceof TokenRejected)) throw err;
        if (replay >= 1) {
          await tokens.invalidate(profile);
          throw new AdhouseError('token_invalid', `Avito rejects the tokens of profile ${profile.name} (client ${profile.client_id}): 401 even after a new token`, { upstreamCode: 401 });
        }
        renewals++;
        opts.log?.info({ profile: profile.name }, 'Avito 401: getting a new token and replaying the request once');
        token = await tokens.renew(profile, token);
      }
    }
  }

  const path = (p: string) => `${baseUrl}${p}`;

  return {
    get tokenRenewals() {
      return renewals;
    },
    async self() {
      return authed({ url: path('/core/v1/accounts/self') }, (res) => shape(parseAnswer(res, 'accounts/self'), selfSchema, 'accounts/self'));
    },
    async balance(userId) {
      const b = await authed({ url: path(`/core/v1/accounts/${userId}/balance/`) }, (res) => shape(parseAnswer(res, 'balance'), balanceSchema, 'balance'));
      return { real: b.real, bonus: b.bonus };
    },
    async *items() {
      for (let page = 1; page <= 10_000; page++) {
        const answer = await authed({ url: path('/core/v1/items'), query: { per_page: ITEMS_PER_PAGE, page, status: ITEM_STATUSES } }, (res) => shape(parseAnswer(res, 'items'), itemsPageSchema, 'items'));
        yield answer.resources;
        // No total count: a page shorter than the page size is the last. The server may clamp per_page
        // (the spec says "<100"), so the size it reports wins over the one we asked for.
        const size = answer.meta?.per_page && answer.meta.per_page > 0 ? Math.min(answer.meta.per_page, ITEMS_PER_PAGE) : ITEMS_PER_PAGE;
        if (answer.resources.length < size) return;
      }
    },
    async itemStats(userId, itemIds, from, to) {
      if (itemIds.length > STATS_MAX_IDS) throw new AdhouseError('internal', `itemStats: ${itemIds.length} ids > ${STATS_MAX_IDS}`);
      const answer = await authed(
        { method: 'POST', url: path(`/stats/v1/accounts/${userId}/items`), body: { dateFrom: from, dateTo: to, itemIds, fields: [...STATS_FIELDS], periodGrouping: 'day' } },
        (res) => shape(parseAnswer(res, 'item stats'), statsSchema, 'item stats'),
      );
      return answer.result.items;
    },
    async operations(fromIso, toIso) {
      return authed(
        { method: 'POST', url: path('/core/v1/accounts/operations_history/'), body: { dateTimeFrom: fromIso, dateTimeTo: toIso } },
        (res) => shape(parseAnswer(res, 'operations_history'), operationsSchema, 'operations_history'),
      );
    },
    async *chats(userId) {
      for (let offset = 0; offset <= MESSENGER_MAX_OFFSET; offset += MESSENGER_LIMIT) {
        const answer = await authed({ url: path(`/messenger/v2/accounts/${userId}/chats`), query: { limit: MESSENGER_LIMIT, offset, chat_types: 'u2i,u2u' } }, (res) => {
          if (res.status === 403) throw new MessengerForbidden(`Avito Messenger answered 403 for profile ${profile.name}`);
          return shape(parseAnswer(res, 'chats'), chatsSchema, 'chats');
        });
        yield answer.chats;
        if (answer.chats.length < MESSENGER_LIMIT) return;
        if (offset + MESSENGER_LIMIT > MESSENGER_MAX_OFFSET) {
          opts.log?.warn({ profile: profile.name }, `Avito chats: offset ${MESSENGER_MAX_OFFSET} reached; older chats are out of reach of this listing`);
        }
      }
    },
    async *messages(userId, chatId) {
      for (let offset = 0; offset <= MESSENGER_MAX_OFFSET; offset += MESSENGER_LIMIT) {
        const answer = await authed(
          { url: path(`/messenger/v3/accounts/${userId}/chats/${encodeURIComponent(chatId)}/messages/`), query: { limit: MESSENGER_LIMIT, offset } },
          (res) => {
            if (res.status === 403) throw new MessengerForbidden(`Avito Messenger answered 403 for profile ${profile.name}`);
            return shape(parseAnswer(res, 'messages'), messagesSchema, 'messages');
          },
        );
        yield answer.messages;
        if (answer.hasMore === false || answer.messages.length < MESSENGER_LIMIT) return;
        if (offset + MESSENGER_LIMIT > MESSENGER_MAX_OFFSET) {
          opts.log?.warn({ profile: profile.name, chatId }, `Avito messages: offset ${MESSENGER_MAX_OFFSET} reached; older messages of this chat are out of reach`);
        }
      }
    },
  };
}
