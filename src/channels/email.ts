// E-mail channel: nodemailer over SMTP (SMTP_*), HTML with a plain-text twin. Bounded retries with a
// short backoff; the password never appears in an error (nodemailer does not echo it, the redactor masks it).
import nodemailer from 'nodemailer';
import { plainText, type AlertMessage } from '../alerts/message.js';
import type { SmtpConfig } from '../config/alerts.js';
import { sleep } from '../runtime/http.js';
import type { Logger } from '../runtime/logger.js';
import { redactString, registerSecret } from '../runtime/redact.js';
import { DeliveryError, type Channel } from './channel.js';
import { escapeHtml } from './telegram-format.js';

const SEVERITY_COLOUR: Record<string, string> = { critical: '#c62828', warning: '#ef6c00', info: '#1565c0' };

export function renderEmailHtml(m: AlertMessage): string {
  const colour = m.kind === 'resolved' ? '#2e7d32' : (SEVERITY_COLOUR[m.severity] ?? '#424242');
  const items = m.lines.map((l) => `<li>${escapeHtml(l.replace(/^[•✓] /, ''))}</li>`).join('');
  return `<!doctype html><html><body style="font-family:sans-serif">
<h2 style="color:${colour};margin:0 0 8px">${escapeHtml(m.title)}</h2>
<ul>${items}</ul>${m.footer ? `\n<p style="color:#616161">${escapeHtml(m.footer)}</p>` : ''}
<p style="color:#9e9e9e;font-size:12px">adhouse alert rule <code>${escapeHtml(m.rule)}</code></p>
</body></html>`;
}

export interface EmailChannelOptions {
  config: SmtpConfig;
  attempts: number;
  /** Base of the backoff between attempts (ms). */
  backoffMs?: number;
  log?: Logger;
  /** Extra transport options (tests: connection timeouts). */
  transport?: Record<string, unknown>;
}

export function emailChannel(opts: EmailChannelOptions): Channel {
  registerSecret(opts.config.password);
  const c = opts.config;
  const transporter = nodemailer.createTransport({
    host: c.host,
    port: c.port,
    secure: c.secure,
    auth: c.user ? { user: c.user, pass: c.password ?? '' } : undefined,
    connectionTimeout: 15_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
    ...opts.transport,
  });
  return {
    name: 'email',
    async send(recipient, message) {
      let lastError = '';
      for (let attempt = 1; attempt <= opts.attempts; attempt++) {
        try {
          await transporter.sendMail({ from: c.from, to: recipient, subject: message.title, text: plainText(message), html: renderEmailHtml(message) });
          return { attempts: attempt };
        } catch (err) {
          lastError = redactString(err instanceof Error ? err.message : String(err));
          const permanent = /^5\d\d/.test(String((err as { responseCode?: number }).responseCode ?? ''));
          opts.log?.warn({ channel: 'email', attempt }, `e-mail to ${recipient} failed: ${lastError}`);
          if (permanent || attempt === opts.attempts) throw new DeliveryError(lastError, attempt);
          await sleep((opts.backoffMs ?? 1000) * 2 ** (attempt - 1));
        }
      }
      throw new DeliveryError(lastError, opts.attempts);
    },
  };
}
