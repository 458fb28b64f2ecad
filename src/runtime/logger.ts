import { pino, type Logger } from 'pino';
import { redactString, redactValue } from './redact.js';

export type { Logger };

// JSON logs by default; pretty when a person is watching a TTY. Every message, field and error passes
// through the redactor, so a secret that slipped into an upstream error message is masked too.
export function createLogger(level = process.env.LOG_LEVEL ?? 'info', pretty = Boolean(process.stderr.isTTY)): Logger {
  return pino({
    level,
    base: undefined,
    redact: { paths: ['*.authorization', '*.Authorization', 'headers.authorization', '*.password', '*.token', '*.secret'], censor: '***' },
    serializers: {
      err: (err: unknown) => {
        if (!(err instanceof Error)) return redactValue(err);
        const out: Record<string, unknown> = { type: err.name, message: redactString(err.message) };
        const code = (err as { code?: unknown }).code;
        if (code !== undefined) out.code = code;
        if (err.stack) out.stack = redactString(err.stack);
        return out;
      },
    },
    hooks: {
      logMethod(args, method) {
        const scrubbed = args.map((a) => (typeof a === 'string' ? redactString(a) : a instanceof Error ? a : redactValue(a)));
        return method.apply(this, scrubbed as Parameters<typeof method>);
      },
    },
    transport: pretty ? { target: 'pino-pretty', options: { destination: 2, colorize: true, translateTime: 'SYS:HH:MM:ss' } } : undefined,
  }, pretty ? undefined : pino.destination(2));
}

const shared = new Map<string, Logger>();
/** The process-wide logger for a level (created on first use so LOG_LEVEL from .env is honoured). */
export function logger(level = process.env.LOG_LEVEL ?? 'info'): Logger {
  let log = shared.get(level);
  if (!log) {
    log = createLogger(level);
    shared.set(level, log);
  }
  return log;
}
