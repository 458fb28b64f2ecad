// The Avito sandbox enforces the documented limits the loader must respect.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AVITO_SANDBOX_PROFILES, startSandbox, type AvitoSandbox } from '../loaders/avito/sandbox.js';
import { addDays, todayIn } from '../src/runtime/dates.js';

describe('avito sandbox limits', () => {
  let sb: AvitoSandbox;
  let token: string;
  const msk = AVITO_SANDBOX_PROFILES.avito_msk;
  const call = (path: string, body?: unknown) =>
    fetch(`${sb.url}${path}`, { method: body ? 'POST' : 'GET', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });

  beforeAll(async () => {
    sb = await startSandbox({ seed: 3, faults: new Set() });
    const res = await fetch(`${sb.url}/token/`, { method: 'POST', body: new URLSearchParams({ grant_type: 'client_credentials', client_id: msk.clientId, client_secret: msk.clientSecret }) });
    token = ((await res.json()) as { access_token: string }).access_token;
  });
  afterAll(async () => sb.close());

  it('refuses a wrong secret, a missing token and a foreign user_id', async () => {
    const bad = await fetch(`${sb.url}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'client_credentials', client_id: msk.clientId, client_secret: 'nope' }) });
    expect(bad.status).toBe(401);
    expect((await fetch(`${sb.url}/core/v1/accounts/self`)).status).toBe(401);
    expect((await call(`/core/v1/accounts/${AVITO_SANDBOX_PROFILES.avito_spb.userId}/balance/`)).status).toBe(404);
    expect((await call(`/core/v1/accounts/${msk.userId}/balance/`)).status).toBe(200);
  });

  it('stats: 400 over 200 ids or deeper than 270 days', async () => {
    const today = todayIn('Europe/Moscow');
    const ids = Array.from({ length: 201 }, (_, i) => i + 1);
    const many = await call(`/stats/v1/accounts/${msk.userId}/items`, { dateFrom: today, dateTo: today, itemIds: ids });
    expect(many.status).toBe(400);
    expect(await many.json()).toMatchObject({ error: { code: 400 } });
    expect((await call(`/stats/v1/accounts/${msk.userId}/items`, { dateFrom: addDays(today, -271), dateTo: today, itemIds: [1] })).status).toBe(400);
    expect((await call(`/stats/v1/accounts/${msk.userId}/items`, { dateFrom: addDays(today, -269), dateTo: today, itemIds: [1] })).status).toBe(200);
  });

  it('operations_history: 400 over one week; messenger: offset capped at 1000', async () => {
    expect((await call('/core/v1/accounts/operations_history/', { dateTimeFrom: '2026-11-01T00:00:00+03:00', dateTimeTo: '2026-11-09T00:00:00+03:00' })).status).toBe(400);
    expect((await call('/core/v1/accounts/operations_history/', { dateTimeFrom: '2026-11-01T00:00:00+03:00', dateTimeTo: '2026-11-08T00:00:00+03:00' })).status).toBe(200);
    expect((await call(`/messenger/v2/accounts/${msk.userId}/chats?limit=100&offset=1001`)).status).toBe(400);
    expect((await call(`/messenger/v2/accounts/${msk.userId}/chats?limit=100&offset=1000`)).status).toBe(200);
  });
});
