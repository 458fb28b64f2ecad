// The batch's API call count from the loader runs' log lines: the Facebook loader logs `calls` as the
// running count of the run's API client, so repeated lines of one run add only their growth; runs that
// log no count are told apart (the summary says which steps' calls are missing).
import { describe, expect, it } from 'vitest';
import { logger } from '../src/runtime/logger.js';
import { tapLogger, UsageMeter } from '../src/batch/usage.js';

describe('batch usage meter', () => {
  it('adds each run\'s growth of the running count, per account, through child loggers too', () => {
    const usage = new UsageMeter();
    const run1 = usage.forRun();
    const log1 = tapLogger(logger('silent'), run1.observe).child({ source: 'facebook' });
    log1.info({ account: 'act_1', grain: 'weekly', calls: 4 }, 'weekly');
    log1.info({ account: 'act_1', grain: 'daily', calls: 9 }, 'daily');
    // A closing line repeating the total adds nothing.
    log1.info({ account: 'act_1', calls: 9 }, 'done');
    log1.info({ account: 'act_1', waitMs: 250 }, 'pausing');
    const run2 = usage.forRun();
    const log2 = tapLogger(logger('silent'), run2.observe);
    log2.debug({ account: 'act_2', calls: 3 }, 'below the level, still seen');
    const run3 = usage.forRun();
    tapLogger(logger('silent'), run3.observe).info({ account: 'act_3', rows: 10 }, 'no count');

    expect(usage.calls).toBe(9 + 3);
    expect(Object.fromEntries(usage.callsByAccount)).toEqual({ act_1: 9, act_2: 3 });
    expect([usage.pauses, usage.pausedMs]).toEqual([1, 250]);
    expect([run1.reported(), run2.reported(), run3.reported()]).toEqual([true, true, false]);
  });
});
