// The Google Sheets fake itself, spoken to over plain HTTP: what the loader relies on must be what the
// real API does (shared/api/avito_sheets_misc.md §3.2, §7 "Google Sheets fake").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JWT } from 'google-auth-library';
import { SHEETS_READONLY_SCOPE } from '../loaders/qtickets_sheets/api.js';
import { SANDBOX_CYRILLIC_SALES_SHEET, startSandbox, type QticketsSheetsSandbox } from '../loaders/qtickets_sheets/sandbox.js';

describe('Google Sheets sandbox', () => {
  let sb: QticketsSheetsSandbox;
  let auth: Record<string, string>;

  beforeAll(async () => {
    sb = await startSandbox({ seed: 77, faults: new Set() });
    const key = JSON.parse(sb.env.GSERVICE_JSON!) as { client_email: string; private_key: string };
    const jwt = new JWT({ email: key.client_email, key: key.private_key, scopes: [SHEETS_READONLY_SCOPE] });
    jwt.useJWTAccessWithScope = true;
    const headers = await jwt.getRequestHeaders(sb.url);
    auth = { authorization: headers.get('authorization')! };
  });
  afterAll(async () => {
    await sb?.close();
  });

  const get = async (path: string, headers: Record<string, string> = auth) => {
    const res = await fetch(`${sb.url}/v4/spreadsheets/${sb.spreadsheetId}${path}`, { headers });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };

  it('values/{range}: percent-encoded Cyrillic, quoted sheet name; normalised range echo; serials when UNFORMATTED', async () => {
    const range = encodeURIComponent(`'${SANDBOX_CYRILLIC_SALES_SHEET}'!A1:J`);
    const { status, body } = await get(`/values/${range}?valueRenderOption=UNFORMATTED_VALUE&dateTimeRenderOption=SERIAL_NUMBER`);
    expect(status).toBe(200);
    expect(body.range).toBe(`'${SANDBOX_CYRILLIC_SALES_SHEET}'!A1:J1000`);
    expect(body.values[0][0]).toBe('ID заказа');
    expect(typeof body.values[1][0]).toBe('number');
    expect(typeof body.values[1][5]).toBe('number'); // sold at: a date serial
  });

  it('FORMATTED_VALUE (the default) gives display strings and ignores dateTimeRenderOption', async () => {
    const { body } = await get(`/values/Sales!A2:J2?dateTimeRenderOption=SERIAL_NUMBER`);
    const row = body.values[0] as string[];
    expect(row.every((c) => typeof c === 'string')).toBe(true);
    expect(row[5]).toMatch(/^\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}:\d{2}$/);
    expect(row[8]).toMatch(/^\d{1,3}(\u00a0\d{3})*,\d{2} ₽$/);
    const fs = await get(`/values/Sales!F2?valueRenderOption=UNFORMATTED_VALUE&dateTimeRenderOption=FORMATTED_STRING`);
    expect(fs.body.values[0][0]).toMatch(/^\d{2}\.\d{2}\.\d{4} /);
  });

  it('batchGet keeps the request order; an empty range has no values key; ragged rows', async () => {
    const { status, body } = await get(`/values:batchGet?ranges=Inventory!A1:B2&ranges=Events!A500:Z&ranges=Events!A1:Z1&valueRenderOption=UNFORMATTED_VALUE`);
    expect(status).toBe(200);
    expect(body.valueRanges.map((v: { range: string }) => v.range)).toEqual(['Inventory!A1:B2', 'Events!A500:Z1000', 'Events!A1:Z1']);
    expect(body.valueRanges[1]).not.toHaveProperty('values');
    expect(body.valueRanges[2].values[0]).toHaveLength(6); // trailing blank columns are left out
  });

  it('errors in Google JSON: 400 bad range, 401 without a valid token, 403 unshared, 404 unknown id', async () => {
    expect(await get(`/values/Nope!A1`)).toMatchObject({ status: 400, body: { error: { code: 400, status: 'INVALID_ARGUMENT', message: 'Unable to parse range: Nope!A1' } } });
    expect(await get(`/values/Events!A1`, {})).toMatchObject({ status: 401, body: { error: { status: 'UNAUTHENTICATED' } } });
    const forged = auth.authorization!.slice(0, -4) + 'AAAA';
    expect((await get(`/values/Events!A1`, { authorization: forged })).status).toBe(401);
    const other = await fetch(`${sb.url}/v4/spreadsheets/qtickets-not-shared/values/Events!A1`, { headers: auth });
    expect(other.status).toBe(403);
    expect(((await other.json()) as any).error.status).toBe('PERMISSION_DENIED');
    const missing = await fetch(`${sb.url}/v4/spreadsheets/nope/values/Events!A1`, { headers: auth });
    expect(missing.status).toBe(404);
  });

  it('429 RESOURCE_EXHAUSTED once the per-minute read quota is spent', async () => {
    const limited = await startSandbox({ seed: 77, faults: new Set(), readsPerMinute: 2 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await fetch(`${limited.url}/v4/spreadsheets/${limited.spreadsheetId}/values/Events!A1?key=k`)).status);
      expect(statuses).toEqual([200, 200, 429]);
    } finally {
      await limited.close();
    }
  });
});
