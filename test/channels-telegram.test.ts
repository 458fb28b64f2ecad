// The Telegram channel against a fake Bot API server on a local port that records every call: HTML
// parse mode with <, > and & escaped (the fake rejects bare ones like Telegram does), messages split under
// 4,096 characters at line boundaries, a 429's retry_after honoured, the token never in an error.
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMessage } from '../src/alerts/message.js';
import { DeliveryError } from '../src/channels/channel.js';
import { escapeHtml, renderTelegram } from '../src/channels/telegram-format.js';
import { telegramChannel } from '../src/channels/telegram.js';
import { fakeBotApi, TOKEN, visibleText } from './support/fake-telegram.js';

describe('Telegram channel against a fake Bot API', () => {
  const fake = fakeBotApi();
  let apiUrl: string;
  beforeAll(async () => {
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    apiUrl = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => fake.server.close(resolve));
  });
  const channel = (token = TOKEN) => telegramChannel({ config: { token, apiUrl }, attempts: 3, retry: { backoffBaseMs: 5, backoffMaxMs: 20 } });

  it('sends HTML with <, > and & escaped, and waits as a 429 retry_after says', async () => {
    fake.calls.length = 0;
    fake.faults.push({ status: 429, body: { ok: false, error_code: 429, description: 'Too Many Requests: retry after 1', parameters: { retry_after: 1 } } });
    const message = buildMessage('romi_red', 'warning', 'firing', [{ dedupKey: 'a', summary: 'spend > revenue & ROMI < 0 for <moscow>', kind: 'firing' }]);
    const { attempts } = await channel().send('-1001', message);
    expect(attempts).toBe(2);
    expect(fake.calls).toHaveLength(2);
    expect(fake.calls[1]!.at - fake.calls[0]!.at).toBeGreaterThanOrEqual(1000);
    expect(fake.calls[1]!.body).toEqual({
      chat_id: '-1001',
      parse_mode: 'HTML',
      link_preview_options: { is_disabled: true },
      text: '<b>[FIRING] warning · romi_red</b>\n• spend &gt; revenue &amp; ROMI &lt; 0 for &lt;moscow&gt;',
    });
  });

  it('splits a long message at line boundaries, every part under 4,096 visible characters', async () => {
    fake.calls.length = 0;
    const items = Array.from({ length: 400 }, (_, i) => ({ dedupKey: String(i), summary: `source_${i} & friends <${'x'.repeat(20 + (i % 17))}>`, kind: 'firing' as const }));
    const message = buildMessage('source_stale', 'warning', 'firing', items);
    await channel().send('-1001', message);
    expect(fake.calls.length).toBeGreaterThan(3);
    const texts = fake.calls.map((c) => visibleText(String(c.body.text)));
    for (const t of texts) expect(t.length).toBeLessThanOrEqual(4096);
    expect(texts.join('\n').split('\n')).toEqual([message.title, ...message.lines]);
  });

  it('cuts a single line longer than the limit and keeps surrogate pairs whole', () => {
    const line = `${'a'.repeat(4095)}😀${'b'.repeat(10)}`;
    const chunks = renderTelegram(buildMessage('r', 'info', 'firing', [{ dedupKey: 'k', summary: line, kind: 'firing' }]));
    expect(chunks.map((c) => visibleText(c).length).every((n) => n <= 4096)).toBe(true);
    const texts = chunks.map(visibleText);
    expect(texts[0]).toBe('[FIRING] info · r');
    expect(texts.slice(1).join('') === `• ${line}`).toBe(true); // the cut is the only extra break
    expect(texts.some((t) => /[\ud800-\udbff]$/.test(t))).toBe(false);
    expect(escapeHtml('<a & b>')).toBe('&lt;a &amp; b&gt;');
  });

  it('a rejected delivery fails with a DeliveryError that never shows the token', async () => {
    const blocked = await channel().send('-666', buildMessage('r', 'info', 'firing', [{ dedupKey: 'k', summary: 's', kind: 'firing' }])).catch((e: unknown) => e);
    expect(blocked).toBeInstanceOf(DeliveryError);
    expect((blocked as DeliveryError).message).toBe('Telegram 403: Forbidden: bot was blocked by the user');

    const wrongToken = '987654321:BBwrong-Token-value';
    const unauthorized = await channel(wrongToken).send('-1001', buildMessage('r', 'info', 'firing', [{ dedupKey: 'k', summary: 's', kind: 'firing' }])).catch((e: unknown) => e);
    expect(unauthorized).toBeInstanceOf(DeliveryError);
    expect((unauthorized as DeliveryError).message).toBe('Telegram 401: Unauthorized');
    expect((unauthorized as DeliveryError).attempts).toBe(1);

    // A dead server: a network error whose text would carry the URL, token included.
    const dead = telegramChannel({ config: { token: TOKEN, apiUrl: 'http://127.0.0.1:1' }, attempts: 2, retry: { backoffBaseMs: 5, backoffMaxMs: 10 } });
    const down = await dead.send('-1001', buildMessage('r', 'info', 'firing', [{ dedupKey: 'k', summary: 's', kind: 'firing' }])).catch((e: unknown) => e);
    expect(down).toBeInstanceOf(DeliveryError);
    expect((down as DeliveryError).attempts).toBe(2);
    expect((down as DeliveryError).message).not.toContain(TOKEN);
    expect((down as DeliveryError).message).not.toContain('AAF-fake');
  });
});
