// A fake Telegram Bot API on a local port that records every call and answers like Telegram: HTML parse
// mode with bare <, > or & refused, messages over 4,096 characters refused, faults on demand.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export const TOKEN = '123456789:AAF-fake_Token_for_tests_only';

export interface Call {
  method: string;
  body: Record<string, unknown>;
  at: number;
}

/** The visible text of a Bot API HTML message, or an error like Telegram's for bad markup. */
export function visibleText(html: string): string {
  if (/<(?!\/?b>)/.test(html)) throw new Error("Bad Request: can't parse entities: unsupported start tag");
  if (/&(?!(lt|gt|amp|quot);)/.test(html)) throw new Error("Bad Request: can't parse entities: unescaped &");
  return html.replace(/<\/?b>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');
}

export function fakeBotApi() {
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


/** Starts the fake on a free port; returns its base URL (TELEGRAM_API_URL). */
export async function listenBotApi(fake: ReturnType<typeof fakeBotApi>): Promise<string> {
  await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
}
