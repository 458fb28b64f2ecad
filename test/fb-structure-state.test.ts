// The incremental structure cursor (STATE_DIR/facebook/structure-<act>.json) moves only after the structure
// rows are in ClickHouse: a pass whose rows fail to insert leaves the cursor where it was, so the next pass
// reads every object again instead of only those updated since the failed one.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import facebook from '../loaders/facebook/index.js';
import { startSandbox, type FbSandbox } from '../loaders/facebook/sandbox.js';
import { runtimeConfig } from '../src/config/runtime.js';
import type { LoaderDefinition } from '../src/runtime/contract.js';
import { runLoader } from '../src/runtime/run-loader.js';
import { expectBalanced } from './support/run-assertions.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';
import { FB_FAST as FAST } from './support/facebook.js';

const loader = facebook as unknown as LoaderDefinition;
const STRUCTURE = { steps: ['structure'] };

describe('facebook structure state', () => {
  let wh: Warehouse;
  let sb: FbSandbox;
  let env: Record<string, string>;
  beforeAll(async () => {
    wh = await freshWarehouse();
    sb = await startSandbox({ seed: 5150, faults: new Set() });
    env = { ...wh.env, ...sb.env, ...FAST, FB_ACCOUNTS: JSON.stringify([{ id: 'act_3001', access_token: 'fb-sb-3001' }]) };
  });
  afterAll(async () => {
    await sb?.close();
    await wh?.drop();
  });

  it('is written only after the structure rows are flushed', async () => {
    const stateFile = path.join(runtimeConfig(env).stateDir, 'facebook', 'structure-act_3001.json');
    // The ads' INSERT fails (a column the rows carry is missing); the stored-hash lookup still works.
    await wh.client.command({ query: 'ALTER TABLE stg_fb_ads DROP COLUMN utm_origin' });
    const failed = await runLoader(loader, { env, since: '2026-01-12', until: '2026-01-12', params: STRUCTURE });
    expect(failed.status).toBe('failed');
    expect(failed.errorMessage).toMatch(/utm_origin/);
    expect(existsSync(stateFile)).toBe(false);

    // Repaired: the next pass is a full one (no updated_time filter), and every ad is written.
    await wh.client.command({ query: 'ALTER TABLE stg_fb_ads ADD COLUMN utm_origin String AFTER utm_term' });
    const before = sb.counters.incrementalLists;
    const ok = await runLoader(loader, { env, since: '2026-01-12', until: '2026-01-12', params: STRUCTURE });
    expectBalanced(ok);
    expect(sb.counters.incrementalLists).toBe(before);
    expect(ok.tables.stg_fb_ads).toBe(sb.world.accounts.get('act_3001')!.ads.length);
    expect(existsSync(stateFile)).toBe(true);

    // Now the cursor exists: the next pass is incremental.
    expectBalanced(await runLoader(loader, { env, since: '2026-01-12', until: '2026-01-12', params: STRUCTURE }));
    expect(sb.counters.incrementalLists).toBeGreaterThan(before);
  });
});
