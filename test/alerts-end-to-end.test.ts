// A stale source through the whole alert path, with real components: `adhouse alerts check` as a command,
// a real SMTP server and a fake Telegram Bot API. One notice per channel, nothing more on the next check,
// a resolution notice per channel once the source is fresh again.
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utcDateTime } from '../src/runtime/dates.js';
import { runCli } from './support/cli.js';
import { fakeBotApi, listenBotApi, TOKEN, visibleText } from './support/fake-telegram.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

function successRun(runId: string, source: string, finishedAt: number) {
  return {
    run_id: runId, source, kind: 'load', status: 'success',
    started_at: utcDateTime(finishedAt - 60_000), finished_at: utcDateTime(finishedAt), heartbeat_at: utcDateTime(finishedAt),
    window_since: '2026-01-01', window_until: '2026-01-02', account: '',
    rows_read: 5, rows_written: 5, rows_quarantined: 0, rows_skipped: 0, rows_deleted: 0,
    error_class: '', error_message: '', backfill_id: '', host: 'test', pid: 1, _ver: finishedAt,
  };
}

describe('alerts end to end', () => {
  let wh: Warehouse;
  let smtp: SMTPServer;
  const mails: string[] = [];
  const telegram = fakeBotApi();
  let env: Record<string, string>;

  beforeAll(async () => {
    wh = await freshWarehouse();
    smtp = new SMTPServer({
      hideSTARTTLS: true,
      authOptional: true,
      logger: false,
      onData(stream, _session, cb) {
        let raw = '';
        stream.on('data', (d: Buffer) => (raw += d.toString('utf8')));
        stream.on('end', () => {
          mails.push(raw);
          cb();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    const telegramUrl = await listenBotApi(telegram);
    env = {
      ...wh.env,
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String((smtp.server.address() as AddressInfo).port),
      SMTP_SECURE: 'false',
      SMTP_FROM: 'adhouse <alerts@example.com>',
      ALERT_EMAIL_TO: 'ops@example.com',
      TELEGRAM_BOT_TOKEN: TOKEN,
      TELEGRAM_API_URL: telegramUrl,
      ALERT_TELEGRAM_CHAT_ID: '-1001',
    };
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
    await new Promise((resolve) => telegram.server.close(resolve));
    await wh?.drop();
  });

  it('notifies each channel once for a stale source, then once more when it is fresh', async () => {
    // vk_ads last succeeded three days ago: beyond its 26 h SLO.
    await wh.client.insert({ table: 'meta_job_runs', values: [successRun('old', 'vk_ads', Date.now() - 3 * 86_400_000)], format: 'JSONEachRow' });
    const first = await runCli(['alerts', 'check'], env);
    expect(first.code, first.stderr + first.stdout).toBe(0);
    expect(mails).toHaveLength(1);
    expect(mails[0]).toMatch(/source_stale/);
    expect(telegram.calls).toHaveLength(1);
    expect(String(telegram.calls[0]!.body.chat_id)).toBe('-1001');
    expect(visibleText(String(telegram.calls[0]!.body.text))).toMatch(/FIRING.*source_stale[\s\S]*vk_ads/);

    const second = await runCli(['alerts', 'check'], env);
    expect(second.code).toBe(0);
    expect(mails).toHaveLength(1);
    expect(telegram.calls).toHaveLength(1);

    await wh.client.insert({ table: 'meta_job_runs', values: [successRun('new', 'vk_ads', Date.now())], format: 'JSONEachRow' });
    const third = await runCli(['alerts', 'check'], env);
    expect(third.code).toBe(0);
    expect(mails).toHaveLength(2);
    expect(mails[1]).toMatch(/RESOLVED/);
    expect(telegram.calls).toHaveLength(2);
    expect(visibleText(String(telegram.calls[1]!.body.text))).toMatch(/RESOLVED.*source_stale/);

    const [recorded] = await wh.query<{ state: string }>(`SELECT argMax(state, _ver) AS state FROM meta_alerts WHERE rule = 'source_stale'`);
    expect(recorded!.state).toBe('resolved');
  });
});
