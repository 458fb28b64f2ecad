// The e-mail channel against a real SMTP server (the `smtp-server` package) on a free local port: an
// HTML part with a plain-text twin, one mail per recipient, SMTP auth, a 550 rejection recorded as a
// failed delivery without retries, and the password never in an error.
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMessage } from '../src/alerts/message.js';
import { DeliveryError } from '../src/channels/channel.js';
import { emailChannel } from '../src/channels/email.js';

const USER = 'alerts@example.com';
const PASSWORD = 'smtp-Secret-Pass-9876';

/** The decoded body of the first MIME part of a type (quoted-printable or base64), CRLF → LF. */
function mimePart(raw: string, type: string): string {
  const message = raw.replace(/\r\n/g, '\n');
  const boundary = /boundary="?([^";\n]+)"?/.exec(message)?.[1];
  if (!boundary) throw new Error('not a multipart message');
  for (const part of message.split(`--${boundary}`)) {
    const at = part.indexOf('\n\n');
    if (at < 0) continue;
    const headers = part.slice(0, at);
    if (!new RegExp(`Content-Type: ${type}`, 'i').test(headers)) continue;
    const body = part.slice(at + 2).replace(/\n$/, '');
    const encoding = /Content-Transfer-Encoding: (\S+)/i.exec(headers)?.[1]?.toLowerCase();
    if (encoding === 'base64') return Buffer.from(body, 'base64').toString('utf8');
    if (encoding === 'quoted-printable') {
      const bytes = body.replace(/=\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
      return Buffer.from(bytes, 'latin1').toString('utf8');
    }
    return body;
  }
  throw new Error(`no ${type} part`);
}

interface Mail {
  from: string;
  to: string[];
  raw: string;
}

describe('e-mail channel against a real SMTP server', () => {
  const mails: Mail[] = [];
  let server: SMTPServer;
  let port: number;
  beforeAll(async () => {
    server = new SMTPServer({
      hideSTARTTLS: true,
      allowInsecureAuth: true,
      logger: false,
      onAuth(auth, _session, cb) {
        if (auth.username === USER && auth.password === PASSWORD) return cb(null, { user: auth.username });
        return cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
      },
      onRcptTo(address, _session, cb) {
        if (address.address.startsWith('nobody@')) return cb(Object.assign(new Error('No such user here'), { responseCode: 550 }));
        cb();
      },
      onData(stream, session, cb) {
        let raw = '';
        stream.on('data', (d: Buffer) => (raw += d.toString('utf8')));
        stream.on('end', () => {
          mails.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), raw });
          cb();
        });
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const channel = (password = PASSWORD) => emailChannel({ config: { host: '127.0.0.1', port, secure: false, user: USER, password, from: 'adhouse <alerts@example.com>' }, attempts: 2, backoffMs: 10 });
  const message = buildMessage('source_stale', 'warning', 'firing', [
    { dedupKey: 'direct', summary: 'direct: last successful run 1500 min ago (SLO 1560 min) & <late>', kind: 'firing' },
    { dedupKey: 'vk_ads', summary: 'vk_ads: last successful run 2000 min ago (SLO 1560 min)', kind: 'repeat' },
  ], 'An enabled source has had no successful run for longer than its SLO.');

  it('sends an HTML mail with a plain-text twin to each recipient', async () => {
    const ch = channel();
    for (const to of ['ops@example.com', 'analyst@example.com']) expect(await ch.send(to, message)).toEqual({ attempts: 1 });
    expect(mails.map((m) => `${m.from} -> ${m.to.join(',')}`)).toEqual(['alerts@example.com -> ops@example.com', 'alerts@example.com -> analyst@example.com']);
    const raw = mails[0]!.raw;
    expect(raw).toMatch(/^Subject: \[FIRING\] warning =\?UTF-8\?Q\?=C2=B7\?= source_stale \(2\)|^Subject: =\?UTF-8\?/m);
    expect(raw).toMatch(/^To: ops@example\.com/m);
    expect(raw).toMatch(/Content-Type: multipart\/alternative/);
    const text = mimePart(raw, 'text/plain');
    const htmlText = mimePart(raw, 'text/html');
    expect(text).toContain('• direct: last successful run 1500 min ago (SLO 1560 min) & <late>\n• vk_ads: last successful run 2000 min ago (SLO 1560 min) (still firing)');
    expect(htmlText).toContain('<li>direct: last successful run 1500 min ago (SLO 1560 min) &amp; &lt;late&gt;</li>');
    expect(htmlText).toContain('An enabled source has had no successful run');
  });

  it('a rejected recipient fails at once (550 is permanent) and is reported', async () => {
    const err = await channel().send('nobody@example.com', message).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeliveryError);
    expect((err as DeliveryError).attempts).toBe(1);
    expect((err as DeliveryError).message).toMatch(/550/);
  });

  it('a wrong password is an error that does not show the password', async () => {
    const wrong = 'not-the-Right-Password-1';
    const err = await channel(wrong).send('ops@example.com', message).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeliveryError);
    expect((err as DeliveryError).message).toMatch(/535|auth/i);
    expect((err as DeliveryError).message).not.toContain(wrong);
    expect((err as DeliveryError).message).not.toContain(PASSWORD);
  });
});
