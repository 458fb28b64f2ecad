// Gmail API v1 through @googleapis/gmail with OAuth2 user credentials (a refresh token).
// Every request, the token refresh included, goes through the runtime's HttpClient: its rate limit,
// Retry-After handling, bounded backoff and error classes apply. gaxios' own retries are off
// (`retry: false`): otherwise each 429/5xx would be retried 3 times inside every runtime attempt, without
// Retry-After and invisible to the run record. The token is refreshed by our own POST (an OAuth2Client
// `refreshHandler`) rather than by google-auth-library's refresh, which forces gaxios retries on POST
// and reports `invalid_grant` only as an untyped GaxiosError.
import { gaxiosFetch } from '../../src/runtime/gaxios-fetch.js';
import { gmail, type gmail_v1 } from '@googleapis/gmail';
import { OAuth2Client } from 'google-auth-library';
import { z } from 'zod';
import { AdhouseError } from '../../src/runtime/errors.js';
import { classifyStatus, type HttpClient, type HttpResponse } from '../../src/runtime/http.js';
import { redactString, registerSecret } from '../../src/runtime/redact.js';
import type { MessagePart } from './report.js';

export const GMAIL_READONLY_SCOPE = 'https://www.googleapis.com/auth/gmail.readonly';
/** Gmail's maximum for messages.list. */
export const MAX_PAGE_SIZE = 500;

export interface GmailApiOptions {
  /** Root URL: only its origin counts (googleapis rewrites every path onto it). */
  apiUrl: string;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  refreshToken: string;
  http: HttpClient;
  pageSize: number;
}

export interface GmailMessage {
  id: string;
  /** ms epoch (Gmail sends a string). */
  internalDate: number;
  subject: string;
  from: string;
  payload: MessagePart;
}

export interface GmailApi {
  /** Message ids matching `q`, page by page (newest first, as Gmail lists them). */
  list(q: string): AsyncGenerator<string[]>;
  /** format=full; null when the message is gone (deleted between list and get: 404). */
  get(id: string): Promise<GmailMessage | null>;
  /** An attachment's bytes as base64url. */
  attachment(messageId: string, attachmentId: string): Promise<string>;
  /** Token requests made (for logs). */
  readonly tokenRequests: number;
}

const tokenSchema = z.looseObject({ access_token: z.string().min(1), expires_in: z.coerce.number().positive().optional(), token_type: z.string().optional() });
const tokenErrorSchema = z.looseObject({ error: z.string(), error_description: z.string().optional() });
const listSchema = z.looseObject({
  // Absent when nothing matches.
  messages: z.array(z.looseObject({ id: z.string().min(1), threadId: z.string().optional() })).optional(),
  nextPageToken: z.string().optional(),
  resultSizeEstimate: z.number().optional(),
});
const partSchema: z.ZodType<MessagePart> = z.lazy(() =>
  z.looseObject({
    partId: z.string().nullish(),
    mimeType: z.string().nullish(),
    filename: z.string().nullish(),
    headers: z.array(z.looseObject({ name: z.string().nullish(), value: z.string().nullish() })).nullish(),
    body: z.looseObject({ attachmentId: z.string().nullish(), size: z.number().nullish(), data: z.string().nullish() }).nullish(),
    parts: z.array(partSchema).nullish(),
  }),
);
const messageSchema = z.looseObject({ id: z.string().min(1), internalDate: z.string().regex(/^\d+$/), payload: partSchema });
const attachmentSchema = z.looseObject({ data: z.string(), size: z.number().optional() });

interface GoogleErrorBody {
  error?: { code?: number; message?: string; status?: string; errors?: Array<{ reason?: string }> };
}

function googleReason(text: string): string {
  try {
    const body = JSON.parse(text) as GoogleErrorBody;
    return [body.error?.status ?? '', ...(body.error?.errors ?? []).map((e) => e.reason ?? '')].join(' ');
  } catch {
    return '';
  }
}

/** Gmail reports quota as 403 with reason rateLimitExceeded / userRateLimitExceeded, not only as 429. */
function gmailQuota(res: HttpResponse): AdhouseError | undefined {
  if (res.status === 403 && /rateLimitExceeded|userRateLimitExceeded|RESOURCE_EXHAUSTED/.test(googleReason(res.text))) {
    return new AdhouseError('rate_limited', `Gmail quota: ${redactString(res.text.slice(0, 200))}`, { upstreamCode: 403 });
  }
  return undefined;
}

/** POST refresh_token -> an access token; invalid_grant (revoked/expired) and invalid_client are token_invalid. */
export async function refreshAccessToken(http: HttpClient, opts: Pick<GmailApiOptions, 'tokenUrl' | 'clientId' | 'clientSecret' | 'refreshToken'>): Promise<{ access_token: string; expiry_date: number }> {
  const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: opts.refreshToken, client_id: opts.clientId, client_secret: opts.clientSecret });
  return http.request({ method: 'POST', url: opts.tokenUrl, body }, (res) => {
    if (res.status === 429 || res.status >= 500) throw classifyStatus(res);
    let json: unknown;
    try {
      json = JSON.parse(res.text);
    } catch {
      if (res.status >= 200 && res.status < 300) throw new AdhouseError('upstream_5xx', `invalid JSON from the token endpoint: ${redactString(res.text.slice(0, 120))}`);
      throw classifyStatus(res);
    }
    if (res.status >= 200 && res.status < 300) {
      const t = tokenSchema.safeParse(json);
      if (!t.success) throw new AdhouseError('internal', `token endpoint answered without an access_token`);
      registerSecret(t.data.access_token);
      return { access_token: t.data.access_token, expiry_date: Date.now() + (t.data.expires_in ?? 3599) * 1000 };
    }
    const e = tokenErrorSchema.safeParse(json);
    const detail = e.success ? `${e.data.error}${e.data.error_description ? `: ${e.data.error_description}` : ''}` : redactString(res.text.slice(0, 200));
    if (e.success && e.data.error === 'invalid_grant') {
      throw new AdhouseError('token_invalid', `GMAIL_REFRESH_TOKEN was rejected (${detail}); issue a new one (an OAuth app in "Testing" status gets refresh tokens that expire after 7 days)`, { upstreamCode: 'invalid_grant' });
    }
    if (res.status === 400 || res.status === 401) {
      throw new AdhouseError('token_invalid', `the token endpoint refused GMAIL_CLIENT_ID / GMAIL_CLIENT_SECRET / GMAIL_REFRESH_TOKEN: ${detail}`, { upstreamCode: e.success ? e.data.error : res.status });
    }
    throw classifyStatus(res);
  });
}

/** A googleapis failure as an AdhouseError (the runtime's own error when gaxios wrapped one). */
export function gmailError(err: unknown, what: string): AdhouseError {
  if (err instanceof AdhouseError) return err;
  const cause = (err as { cause?: unknown })?.cause;
  if (cause instanceof AdhouseError) return cause;
  const status = (err as { status?: number })?.status ?? (err as { response?: { status?: number } })?.response?.status;
  const body = (err as { response?: { data?: unknown } })?.response?.data as GoogleErrorBody | undefined;
  const detail = redactString(`${body?.error?.status ?? ''} ${body?.error?.message ?? (err instanceof Error ? err.message : String(err))}`.trim()).slice(0, 300);
  if (status === undefined) return new AdhouseError('network', `Gmail ${what} failed: ${detail}`, { cause: err });
  if (status === 401) return new AdhouseError('token_invalid', `Gmail rejected the access token even after a refresh (${what}): ${detail}`, { upstreamCode: 401 });
  if (status === 403) return new AdhouseError('token_invalid', `Gmail refused ${what} (scope ${GMAIL_READONLY_SCOPE} granted? API enabled?): ${detail}`, { upstreamCode: 403 });
  if (status === 400) return new AdhouseError('config', `Gmail refused ${what} (check GMAIL_QUERY): ${detail}`, { upstreamCode: 400 });
  if (status === 429) return new AdhouseError('rate_limited', `Gmail quota (${what}): ${detail}`, { upstreamCode: 429 });
  if (status >= 500) return new AdhouseError('upstream_5xx', `Gmail HTTP ${status} (${what}): ${detail}`, { upstreamCode: status });
  return new AdhouseError('internal', `Gmail HTTP ${status} (${what}): ${detail}`, { upstreamCode: status });
}

function header(part: MessagePart, name: string): string {
  return part.headers?.find((h) => (h.name ?? '').toLowerCase() === name)?.value ?? '';
}

export function createGmailApi(opts: GmailApiOptions): GmailApi {
  let tokenRequests = 0;
  const auth = new OAuth2Client({ clientId: opts.clientId, clientSecret: opts.clientSecret, forceRefreshOnFailure: true });
  // No refresh_token in the client's credentials: it asks this handler for a token when it has none,
  // when the token is about to expire, and once more after a 401/403 (then replays the request once).
  auth.refreshHandler = async () => {
    tokenRequests++;
    return refreshAccessToken(opts.http, opts);
  };
  const client: gmail_v1.Gmail = gmail({
    version: 'v1',
    // google-auth-library (ours) and the copy googleapis-common pins declare OAuth2Client separately;
    // googleapis only duck-types the client (`request`, `getRequestHeaders`).
    auth: auth as unknown as gmail_v1.Options['auth'],
    rootUrl: `${opts.apiUrl.replace(/\/+$/, '')}/`,
    retry: false,
    fetchImplementation: gaxiosFetch(opts.http, gmailQuota),
  });
  const pageSize = Math.min(MAX_PAGE_SIZE, Math.max(1, opts.pageSize));

  return {
    get tokenRequests() {
      return tokenRequests;
    },
    async *list(q) {
      let pageToken: string | undefined;
      const seenTokens = new Set<string>();
      do {
        let data: unknown;
        try {
          data = (await client.users.messages.list({ userId: 'me', q, maxResults: pageSize, pageToken })).data;
        } catch (err) {
          throw gmailError(err, 'messages.list');
        }
        const page = listSchema.safeParse(data);
        if (!page.success) throw new AdhouseError('internal', `Gmail messages.list: unexpected answer: ${page.error.issues[0]?.message ?? ''}`);
        yield (page.data.messages ?? []).map((m) => m.id);
        pageToken = page.data.nextPageToken || undefined;
        if (pageToken && seenTokens.has(pageToken)) throw new AdhouseError('internal', 'Gmail messages.list repeated a nextPageToken');
        if (pageToken) seenTokens.add(pageToken);
      } while (pageToken);
    },
    async get(id) {
      let data: unknown;
      try {
        data = (await client.users.messages.get({ userId: 'me', id, format: 'full' })).data;
      } catch (err) {
        if ((err as { status?: number })?.status === 404) return null;
        throw gmailError(err, `messages.get ${id}`);
      }
      const m = messageSchema.safeParse(data);
      if (!m.success) throw new AdhouseError('upstream_5xx', `Gmail messages.get ${id}: unexpected answer: ${m.error.issues[0]?.message ?? ''}`);
      return { id: m.data.id, internalDate: Number(m.data.internalDate), subject: header(m.data.payload, 'subject'), from: header(m.data.payload, 'from'), payload: m.data.payload };
    },
    async attachment(messageId, attachmentId) {
      let data: unknown;
      try {
        data = (await client.users.messages.attachments.get({ userId: 'me', messageId, id: attachmentId })).data;
      } catch (err) {
        throw gmailError(err, `attachments.get ${messageId}`);
      }
      const a = attachmentSchema.safeParse(data);
      if (!a.success) throw new AdhouseError('upstream_5xx', `Gmail attachments.get ${messageId}: no data in the answer`);
      return a.data.data;
    },
  };
}
