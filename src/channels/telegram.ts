// Telegram Bot API channel: POST {api}/bot<token>/sendMessage, HTML parse mode, through the runtime HTTP
// client (bounded retries; a 429's `parameters.retry_after` in the JSON body is the wait). The token is
// part of every URL, so every error text is scrubbed of it before it reaches a log or meta_alerts.
import type { AlertMessage } from '../alerts/message.js';
import type { TelegramConfig } from '../config/alerts.js';
import { AdhouseError } from '../runtime/errors.js';
import { createHttpClient, type HttpClient, type HttpResponse, type RetryPolicy } from '../runtime/http.js';
import type { Logger } from '../runtime/logger.js';
import { redactString, registerSecret } from '../runtime/redact.js';
import { DeliveryError, type Channel } from './channel.js';
import { renderTelegram } from './telegram-format.js';

interface TelegramEnvelope {
  ok?: boolean;
  error_code?: number;
  description?: string;
  parameters?: { retry_after?: number; migrate_to_chat_id?: number };
  result?: unknown;
}

/** Maps a Bot API answer to its result or a classified error (429 → rate_limited with retry_after). */
export function parseTelegram(res: HttpResponse): unknown {
  let body: TelegramEnvelope | undefined;
  try {
    body = JSON.parse(res.text) as TelegramEnvelope;
  } catch {
    body = undefined;
  }
  if (res.status >= 200 && res.status < 300 && body?.ok) return body.result;
  const code = body?.error_code ?? res.status;
  const description = redactString((body?.description ?? res.text.slice(0, 200)).replace(/\s+/g, ' '));
  const message = `Telegram ${code}: ${description}`;
  if (code === 429 || res.status === 429) {
    const seconds = body?.parameters?.retry_after;
    return fail(new AdhouseError('rate_limited', message, { retryAfterMs: typeof seconds === 'number' ? Math.ceil(seconds * 1000) : undefined, upstreamCode: 429 }));
  }
  if (res.status >= 500 || code >= 500) return fail(new AdhouseError('upstream_5xx', message, { upstreamCode: code }));
  if (code === 401) return fail(new AdhouseError('token_invalid', message, { upstreamCode: code }));
  const migrateTo = body?.parameters?.migrate_to_chat_id;
  if (migrateTo !== undefined) return fail(new ChatMigrated(message, String(migrateTo)));
  return fail(new AdhouseError('config', message, { upstreamCode: code }));
}

function fail(err: Error): never {
  throw err;
}

/** The group became a supergroup: resend once to the new chat id. */
class ChatMigrated extends AdhouseError {
  constructor(message: string, readonly newChatId: string) {
    super('config', message, { upstreamCode: 400 });
  }
}

export interface TelegramChannelOptions {
  config: TelegramConfig;
  attempts: number;
  retry?: Partial<RetryPolicy>;
  log?: Logger;
  signal?: AbortSignal;
}

export function telegramChannel(opts: TelegramChannelOptions): Channel {
  registerSecret(opts.config.token);
  const scrub = (text: string) => redactString(text.split(opts.config.token).join('***'));
  const http: HttpClient = createHttpClient({
    source: 'telegram',
    timeoutMs: 15_000,
    requestsPerSecond: 25, // the Bot FAQ's ~30 messages/s overall, with room
    concurrency: 1,
    maxRetries: Math.max(0, opts.attempts - 1),
    backoffBaseMs: 500,
    backoffMaxMs: 10_000,
    maxWaitMs: 120_000,
    ...opts.retry,
    log: opts.log,
    signal: opts.signal,
  });
  const url = `${opts.config.apiUrl}/bot${opts.config.token}/sendMessage`;

  return {
    name: 'telegram',
    async send(recipient, message: AlertMessage) {
      const before = http.attempts;
      let chatId = recipient;
      try {
        for (const text of renderTelegram(message)) {
          const body = { chat_id: chatId, text, parse_mode: 'HTML', link_preview_options: { is_disabled: true } };
          try {
            await http.request({ method: 'POST', url, body }, parseTelegram);
          } catch (err) {
            if (!(err instanceof ChatMigrated)) throw err;
            opts.log?.warn({ chat: recipient, newChat: err.newChatId }, `Telegram chat ${recipient} became ${err.newChatId}: update its recipient in the alert rules`);
            chatId = err.newChatId;
            await http.request({ method: 'POST', url, body: { ...body, chat_id: chatId } }, parseTelegram);
          }
        }
        return { attempts: http.attempts - before };
      } catch (err) {
        throw new DeliveryError(scrub(err instanceof Error ? err.message : String(err)), http.attempts - before);
      }
    },
  };
}
