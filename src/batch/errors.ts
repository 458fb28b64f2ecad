// The batch sync's error types (issue 3: token_invalid, rate_limited, network_error, data_error, unknown)
// mapped from the runtime's error classes, and the retry policy that goes with each.
import type { ErrorClass } from '../runtime/errors.js';

export const BATCH_ERROR_TYPES = ['token_invalid', 'rate_limited', 'network_error', 'data_error', 'unknown'] as const;
export type BatchErrorType = (typeof BATCH_ERROR_TYPES)[number];

export function batchErrorType(errorClass: ErrorClass | undefined): BatchErrorType {
  switch (errorClass) {
    case 'token_invalid':
      return 'token_invalid';
    case 'rate_limited':
      return 'rate_limited';
    case 'network':
    case 'upstream_5xx':
      return 'network_error';
    case 'data':
    case 'config':
      return 'data_error';
    default:
      return 'unknown';
  }
}

/**
 * Attempts an account gets per error type (the first one included). A revoked token or a request the API
 * refuses does not get better by asking again; rate limits and network trouble do, so they get a few more
 * (after the rate-limit wait or a backoff); an unknown failure gets three chances, as issue 3 says.
 */
export const MAX_ATTEMPTS: Readonly<Record<BatchErrorType, number>> = {
  token_invalid: 1,
  data_error: 1,
  rate_limited: 5,
  network_error: 5,
  unknown: 3,
};

export function mayRetry(type: BatchErrorType, attempts: number): boolean {
  return attempts < MAX_ATTEMPTS[type];
}
