// The error classes the runtime knows, defined in one place (STYLE.md: stable codes).
// Loaders throw AdhouseError with one of these codes; run records store the code.

export const ERROR_CLASSES = [
  'token_invalid', // credentials rejected: no retry, alert
  'config', // our configuration is wrong: no retry, alert
  'rate_limited', // wait as the upstream says, then retry
  'network', // connection reset, DNS, timeout: retry with backoff
  'upstream_5xx', // upstream server error: retry with backoff
  'data', // row-level: quarantine the row, keep going
  'aborted', // our own AbortSignal fired (shutdown, Ctrl-C)
  'internal', // a bug of ours or an unclassified upstream answer
] as const;

export type ErrorClass = (typeof ERROR_CLASSES)[number];

const RETRYABLE: ReadonlySet<ErrorClass> = new Set(['rate_limited', 'network', 'upstream_5xx']);

export class AdhouseError extends Error {
  readonly code: ErrorClass;
  /** Upstream-specified wait before the next attempt (Retry-After, retryIn, ...). */
  readonly retryAfterMs?: number;
  /** HTTP status or upstream error code, for logs and run records. */
  readonly upstreamCode?: string | number;

  constructor(code: ErrorClass, message: string, opts: { retryAfterMs?: number; upstreamCode?: string | number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AdhouseError';
    this.code = code;
    this.retryAfterMs = opts.retryAfterMs;
    this.upstreamCode = opts.upstreamCode;
  }

  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }
}

export function isRetryable(err: unknown): boolean {
  return err instanceof AdhouseError && err.retryable;
}

/** Maps anything thrown to an error class for the run record. */
export function errorClassOf(err: unknown): ErrorClass {
  if (err instanceof AdhouseError) return err.code;
  if (err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError')) {
    return err.name === 'AbortError' ? 'aborted' : 'network';
  }
  return 'internal';
}

/** CLI exit codes (CONTRACT.md): 0 ok, 1 failure, 2 bad usage or configuration. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** Raised for bad configuration at start-up; the CLI prints its one line and exits 2. */
export class ConfigError extends AdhouseError {
  constructor(message: string) {
    super('config', message);
    this.name = 'ConfigError';
  }
}

/**
 * Another live run of the same source (or the same account) is loading: this one did not start. A `config`
 * error for the CLI (exit 2, one line), but a batch waits for the other run instead of failing the account.
 */
export class SourceBusyError extends AdhouseError {
  constructor(message: string) {
    super('config', message);
    this.name = 'SourceBusyError';
  }
}
