import { expect } from 'vitest';
import type { RunSummary } from '../../src/runtime/run-loader.js';

/** The run succeeded and its row accounting reconciles: read = written + quarantined + skipped. */
export function expectBalanced(s: RunSummary): void {
  expect(s.status, s.errorMessage).toBe('success');
  expect(s.rowsRead).toBe(s.rowsWritten + s.rowsQuarantined + s.rowsSkipped);
}
