// The Telegram channel against a fake Bot API server on a local port that records every call: HTML
// parse mode with <, > and & escaped (the fake rejects bare ones like Telegram does), messages split under
// 4,096 characters at line boundaries, a 429's retry_after honoured, the token never in an error.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMessage } from '../src/alerts/message.js';
import { DeliveryError } from '../src/channels/channel.js';
import { escapeHtml, renderTelegram } from '../src/channels/telegram-format.js';
import { telegramChannel } from '../src/channels/telegram.js';

const TOKEN = '123456789:AAF-fake_Token_for_tests_only';

interface Call {
  method: string;
  body: Record<string, unknown>;
  at: number;
}

/** The visible text of a Bot API HTML message, or an error like Telegram's for bad markup. */
function visibleText(html: string): string {
  if (/<(?!\/?b>)/.test(html)) throw new Error("Bad Request: can't parse entities: unsupported start tag");
  if (/&(?!(lt|gt|amp|quot);)/.test(html)) throw new Error("Bad Request: can't parse entities: unescaped &");
  return html.replace(/<\/?b>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');
}

function fakeBotApi() {
  const calls: Call[] = [];
  const faults: Array<{ status: number; body: object }> = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      const answer = (status: number, body: object) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      const m = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(req.url ?? '');
      if (!m) return answer(404, { ok: false, error_code: 404, description: 'Not Found' });
      if (m[1] !== TOKEN) return answer(401, { ok: false, error_code: 401, description: 'Unauthorized' });
      const method = m[2]!.toLowerCase();
      if (method !== 'sendmessage') return answer(404, { ok: false, error_code: 404, description: 'Not Found: method not found' });
      const body = JSON.parse(raw) as Record<string, unknown>;
      calls.push({ method, body, at: Date.now() });
      const fault = faults.shift();
      if (fault) return answer(fault.status, fault.body);
      if (body.chat_id === '-666') return answer(403, { ok: false, error_code: 403, description: 'Forbidden: bot was blocked by the user' });
      let text: string;
      try {
        text = body.parse_mode === 'HTML' ? visibleText(String(body.text)) : String(body.text);
      } catch (err) {
        return answer(400, { ok: false, error_code: 400, description: (err as Error).message });
      }
      if (text.length === 0) return answer(400, { ok: false, error_code: 400, description: 'Bad Request: message text is empty' });
      if (text.length > 4096) return answer(400, { ok: false, error_code: 400, description: 'Bad Request: message is too long' });
      answer(200, { ok: true, result: { message_id: calls.length, chat: { id: Number(body.chat_id) }, date: Math.floor(Date.now() / 1000), text } });
    });
  });
  return { server, calls, faults };
}

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
