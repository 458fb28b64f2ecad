// Issue 7: an Avito profile with bad credentials is reported — the run fails as token_invalid after the
// other profile is loaded, and the alert path tells the admin chat, naming the profile, without the secret.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import avito from '../loaders/avito/index.js';
import { startSandbox } from '../loaders/avito/sandbox.js';
import { runLoader } from '../src/runtime/run-loader.js';
import { runCli } from './support/cli.js';
import { fakeBotApi, listenBotApi, TOKEN, visibleText } from './support/fake-telegram.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

describe('avito bad credentials reach the admin chat', () => {
  let wh: Warehouse;
  let sandbox: Awaited<ReturnType<typeof startSandbox>>;
  const telegram = fakeBotApi();
  let telegramUrl: string;
  beforeAll(async () => {
    wh = await freshWarehouse();
    sandbox = await startSandbox({ seed: 8, faults: new Set(['bad_credentials']) });
    telegramUrl = await listenBotApi(telegram);
  });
  afterAll(async () => {
    await new Promise((resolve) => telegram.server.close(resolve));
    await sandbox?.close();
    await wh?.drop();
  });

  it('loads the good profile, fails the run as token_invalid, and notifies ADMIN_CHAT_ID once', async () => {
    const run = await runLoader(avito, { env: { ...wh.env, ...sandbox.env, AVITO_RPS: '50' } });
    expect(run.status).toBe('failed');
    expect(run.errorClass).toBe('token_invalid');
    expect(run.errorMessage).toMatch(/avito_spb/);
    const [good] = await wh.query<{ n: string }>(`SELECT count() AS n FROM fact_avito_items_daily FINAL WHERE profile = 'avito_msk'`);
    expect(Number(good!.n)).toBeGreaterThan(0);

    const env = { ...wh.env, TELEGRAM_BOT_TOKEN: TOKEN, TELEGRAM_API_URL: telegramUrl, ADMIN_CHAT_ID: '-100500' };
    const first = await runCli(['alerts', 'check'], env);
    expect(first.code, first.stderr + first.stdout).toBe(0);
    const admin = telegram.calls.filter((c) => String(c.body.chat_id) === '-100500');
    expect(admin).toHaveLength(1);
    const text = visibleText(String(admin[0]!.body.text));
    expect(text).toMatch(/token_invalid|token rejected/);
    expect(text).toMatch(/avito_spb/);
    const secrets = (JSON.parse(sandbox.env.AVITO_PROFILES!) as Array<{ client_secret: string }>).map((p) => p.client_secret);
    for (const secret of secrets) expect(text).not.toContain(secret);

    // Evaluated again before the repeat interval: nothing new for the admin.
    const again = await runCli(['alerts', 'check'], env);
    expect(again.code).toBe(0);
    expect(telegram.calls.filter((c) => String(c.body.chat_id) === '-100500')).toHaveLength(1);
  });
});
