// Google Sheets API v4 through @googleapis/sheets, with a service-account JWT. Every HTTP request of
// the Sheets client goes through the runtime's HttpClient (gaxios `fetchImplementation`), so the
// runtime's rate limit (<= 1 rps), error classification, Retry-After handling and bounded backoff
// apply; gaxios' own retries are off (`retry: false`), otherwise each 429/5xx would be retried 3 times
// by gaxios inside every runtime attempt, without Retry-After and invisible to the run record.
import { gaxiosFetch } from '../../src/runtime/gaxios-fetch.js';
import { readFileSync } from 'node:fs';
import { sheets, type sheets_v4 } from '@googleapis/sheets';
import { JWT } from 'google-auth-library';
import { z } from 'zod';
import { AdhouseError } from '../../src/runtime/errors.js';
import type { HttpClient } from '../../src/runtime/http.js';
import { redactString } from '../../src/runtime/redact.js';
import type { Cell } from './transform.js';

export const SHEETS_READONLY_SCOPE = 'https://www.googleapis.com/auth/spreadsheets.readonly';

export const serviceAccountSchema = z.looseObject({
  type: z.string().optional(),
  client_email: z.string().min(3),
  private_key: z.string().min(20),
  private_key_id: z.string().optional(),
});
export type ServiceAccount = z.infer<typeof serviceAccountSchema>;

/** GSERVICE_JSON: the JSON itself (starts with `{`) or a path to the key file. */
export function readServiceAccount(value: string): ServiceAccount {
  const text = value.trimStart().startsWith('{') ? value : readFileSync(value, 'utf8');
  return serviceAccountSchema.parse(JSON.parse(text));
}

const cellSchema = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const valueRangeSchema = z.looseObject({
  range: z.string(),
  majorDimension: z.string().optional(),
  // A fully empty range has no `values` key at all; trailing empty rows/cells are left out (ragged rows).
  values: z.array(z.array(cellSchema)).optional(),
});
const batchGetSchema = z.looseObject({ spreadsheetId: z.string().optional(), valueRanges: z.array(valueRangeSchema).default([]) });

export interface ValueRange {
  range: string;
  values: Cell[][];
}

export interface SheetsApiOptions {
  /** Root URL (only its origin counts: googleapis rewrites every path onto it). */
  apiUrl: string;
  account: ServiceAccount;
  /** Sign the Bearer token ourselves (JWT access with scope) instead of exchanging it at oauth2.googleapis.com. */
  selfSignedJwt: boolean;
  http: HttpClient;
}

export interface SheetsApi {
  /** One batchGet (one read request against the quota) for all ranges, in request order. */
  batchGet(spreadsheetId: string, ranges: readonly string[]): Promise<ValueRange[]>;
}


interface GoogleErrorBody {
  error?: { code?: number; message?: string; status?: string };
}

/** A non-retryable answer (or a runtime error that gaxios wrapped) as an AdhouseError. */
export function sheetsError(err: unknown, account: ServiceAccount, spreadsheetId: string): AdhouseError {
  const cause = (err as { cause?: unknown })?.cause;
  if (err instanceof AdhouseError) return err;
  if (cause instanceof AdhouseError) return cause;
  const status = (err as { status?: number; response?: { status?: number } })?.status ?? (err as { response?: { status?: number } })?.response?.status;
  const body = (err as { response?: { data?: unknown } })?.response?.data as GoogleErrorBody | undefined;
  const detail = redactString(`${body?.error?.status ?? ''} ${body?.error?.message ?? (err instanceof Error ? err.message : String(err))}`.trim()).slice(0, 300);
  if (status === undefined) return new AdhouseError('network', `Sheets request failed: ${detail}`, { cause: err });
  if (status === 401) return new AdhouseError('token_invalid', `Sheets rejected the service-account token (GSERVICE_JSON): ${detail}`, { upstreamCode: 401 });
  if (status === 403) {
    return new AdhouseError('config', `Sheets: no access to spreadsheet ${spreadsheetId}; share it with ${account.client_email} (QTICKETS_SHEETS_SPREADSHEET_ID / GSERVICE_JSON): ${detail}`, { upstreamCode: 403 });
  }
  if (status === 404) return new AdhouseError('config', `Sheets: spreadsheet ${spreadsheetId} not found (QTICKETS_SHEETS_SPREADSHEET_ID): ${detail}`, { upstreamCode: 404 });
  if (status === 400) return new AdhouseError('config', `Sheets refused the request, check the QTICKETS_SHEETS_*_RANGE values: ${detail}`, { upstreamCode: 400 });
  if (status === 429) return new AdhouseError('rate_limited', `Sheets quota exceeded: ${detail}`, { upstreamCode: 429 });
  if (status >= 500) return new AdhouseError('upstream_5xx', `Sheets HTTP ${status}: ${detail}`, { upstreamCode: status });
  return new AdhouseError('internal', `Sheets HTTP ${status}: ${detail}`, { upstreamCode: status });
}

export function createSheetsApi(opts: SheetsApiOptions): SheetsApi {
  const auth = new JWT({ email: opts.account.client_email, key: opts.account.private_key, keyId: opts.account.private_key_id, scopes: [SHEETS_READONLY_SCOPE] });
  // With a scope set, JWT access signs its own Bearer token and never calls the token endpoint.
  if (opts.selfSignedJwt) auth.useJWTAccessWithScope = true;
  const client: sheets_v4.Sheets = sheets({
    version: 'v4',
    // google-auth-library (ours, 10.9) and the copy googleapis-common pins (10.5) declare OAuth2Client
    // separately; googleapis only duck-types the client (`request`, `getRequestHeaders`).
    auth: auth as unknown as sheets_v4.Options['auth'],
    rootUrl: `${opts.apiUrl.replace(/\/+$/, '')}/`,
    retry: false,
    fetchImplementation: gaxiosFetch(opts.http),
  });
  return {
    async batchGet(spreadsheetId, ranges) {
      let data: unknown;
      try {
        const res = await client.spreadsheets.values.batchGet({
          spreadsheetId,
          ranges: [...ranges],
          majorDimension: 'ROWS',
          valueRenderOption: 'UNFORMATTED_VALUE',
          dateTimeRenderOption: 'SERIAL_NUMBER',
        });
        data = res.data;
      } catch (err) {
        throw sheetsError(err, opts.account, spreadsheetId);
      }
      const parsed = batchGetSchema.safeParse(data);
      if (!parsed.success) throw new AdhouseError('internal', `Sheets batchGet: unexpected answer shape: ${parsed.error.issues[0]?.message ?? ''}`);
      if (parsed.data.valueRanges.length !== ranges.length) {
        throw new AdhouseError('internal', `Sheets batchGet: asked for ${ranges.length} ranges, got ${parsed.data.valueRanges.length}`);
      }
      return parsed.data.valueRanges.map((vr) => ({ range: vr.range, values: (vr.values ?? []) as Cell[][] }));
    },
  };
}
