// `adhouse report` in a child process on fixture rows: --dry-run prints both renderings and sends
// nothing; --to-chat sends to a fake Telegram Bot API; --to-email to a real SMTP server (smtp-server);
// bad usage and a bad reports file are one line and exit code 2.
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';
import { fakeBotApi, listenBotApi, TOKEN, visibleText } from './support/fake-telegram.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';
import { insertFixture } from './golden/reports/fixture.js';

describe('adhouse report', () => {
  let wh: Warehouse;
  const fake = fakeBotApi();
  let apiUrl: string;
  const mails: Array<{ to: string[]; raw: string }> = [];
  let smtp: SMTPServer;
  let smtpPort: number;
  beforeAll(async () => {
    wh = await freshWarehouse();
    await insertFixture(wh);
    apiUrl = await listenBotApi(fake);
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['AUTH', 'STARTTLS'],
      logger: false,
      onData(stream, session, cb) {
        let raw = '';
        stream.on('data', (d: Buffer) => (raw += d.toString('utf8')));
        stream.on('end', () => {
          mails.push({ to: session.envelope.rcptTo.map((r) => r.address), raw });
          cb();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    smtpPort = (smtp.server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => fake.server.close(() => resolve()));
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
    await wh?.drop();
  });

  it('--dry-run prints the Telegram and e-mail renderings and sends nothing', async () => {
    const env = { ...wh.env, TELEGRAM_BOT_TOKEN: TOKEN, TELEGRAM_API_URL: apiUrl, REPORT_TELEGRAM_CHAT_ID: '-100123' };
    const r = await runCli(['report', 'daily', '--from', '2026-03-02', '--to', '2026-03-02', '--dry-run'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('== telegram (1 message) → -100123\n<b>Daily digest · 2026-03-02</b>');
    expect(r.stdout).toContain('1. direct · acc1 · Spring &lt;Promo&gt; &amp; Co: 500.00 ₽');
    expect(r.stdout).toContain('== e-mail → (no addresses)\nSubject: Daily digest · 2026-03-02');
    expect(r.stdout).toContain('  Spend: 800.00 ₽ (was 400.00 ₽, Δ +400.00 ₽, +100.0%)');
    expect(r.stdout).toContain('  1. direct · acc1 · Spring <Promo> & Co: 500.00 ₽');
    expect(fake.calls).toHaveLength(0);
  });

  it('--to-chat sends the digest to that chat through the Bot API', async () => {
    const env = { ...wh.env, TELEGRAM_BOT_TOKEN: TOKEN, TELEGRAM_API_URL: apiUrl };
    const r = await runCli(['report', 'weekly', '--from', '2026-03-01', '--to', '2026-03-02', '--to-chat', '-100777'], env);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('telegram → -100777: sent report weekly 2026-03-01..2026-03-02');
    expect(r.stderr).not.toContain(TOKEN);
    expect(fake.calls).toHaveLength(1);
    expect(fake.calls[0]!.body).toMatchObject({ chat_id: '-100777', parse_mode: 'HTML' });
    const text = visibleText(String(fake.calls[0]!.body.text));
    expect(text.split('\n')[0]).toBe('Weekly digest · 2026-03-01 – 2026-03-02');
    expect(text).toContain('Totals (vs 2026-02-27 – 2026-02-28)');
  });

  it('--to-email sends an HTML mail with a plain-text twin', async () => {
    const env = { ...wh.env, SMTP_HOST: '127.0.0.1', SMTP_PORT: String(smtpPort), SMTP_SECURE: 'false', SMTP_FROM: 'adhouse <reports@example.com>' };
    const r = await runCli(['report', 'daily', '--from', '2026-03-02', '--to-email', 'boss@example.com'], env);
    expect(r.stderr).toContain('email → boss@example.com: sent report daily 2026-03-02..2026-03-02');
    expect(r.code).toBe(0);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.to).toEqual(['boss@example.com']);
    expect(mails[0]!.raw).toMatch(/Content-Type: text\/plain/i);
    expect(mails[0]!.raw).toMatch(/Content-Type: text\/html/i);
  });

  it('a failed delivery is exit code 1 with the reason', async () => {
    const env = { ...wh.env, TELEGRAM_BOT_TOKEN: TOKEN, TELEGRAM_API_URL: apiUrl, ALERT_DELIVERY_ATTEMPTS: '1' };
    const r = await runCli(['report', 'daily', '--from', '2026-03-02', '--to-chat', '-666'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/telegram → -666: FAILED \(.*blocked/);
  });

  it('bad usage and a bad reports file: one line, exit code 2', async () => {
    const unknown = await runCli(['report', 'yearly', '--dry-run'], wh.env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim()).toBe('adhouse: unknown report "yearly"; defined reports: daily, 4h, weekly, monthly');
    const badDate = await runCli(['report', 'daily', '--from', '2026-02-30', '--dry-run'], wh.env);
    expect(badDate.code).toBe(2);
    expect(badDate.stderr.trim()).toBe('adhouse: --from: expected a date YYYY-MM-DD; got "2026-02-30"');
    const file = path.join(wh.dataDir, 'reports.yaml');
    writeFileSync(file, 'reports:\n  - name: x\n    schedule: weekly on funday 09:00\n    period: week\n');
    const bad = await runCli(['report', 'x', '--dry-run'], { ...wh.env, REPORTS_FILE: file });
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/^adhouse: REPORTS_FILE: .*reports\.yaml: reports\[0\]\.schedule: unknown weekday "funday"/);
  });
});
