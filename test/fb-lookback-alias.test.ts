// FB_LOOKBACK_DAYS (issue 3's name) is accepted as another name of FACEBOOK_LOOKBACK_DAYS (the runtime's
// <SOURCE>_LOOKBACK_DAYS); both set to different values is one config line naming both.
import { describe, expect, it } from 'vitest';
import facebook from '../loaders/facebook/index.js';
import vkAds from '../loaders/vk_ads/index.js';
import { applyEnvAliases, sourceSettings } from '../src/config/sources.js';
import type { LoaderDefinition } from '../src/runtime/contract.js';
import { ConfigError } from '../src/runtime/errors.js';
import { runCli } from './support/cli.js';

const fb = facebook as unknown as LoaderDefinition;

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('FB_LOOKBACK_DAYS alias', () => {
  it('sets the Facebook lookback like FACEBOOK_LOOKBACK_DAYS does', () => {
    expect(sourceSettings(fb, {}).lookbackDays).toBe(28);
    expect(sourceSettings(fb, { FB_LOOKBACK_DAYS: '7' }).lookbackDays).toBe(7);
    expect(sourceSettings(fb, { FACEBOOK_LOOKBACK_DAYS: '9' }).lookbackDays).toBe(9);
    expect(sourceSettings(fb, { FB_LOOKBACK_DAYS: '9', FACEBOOK_LOOKBACK_DAYS: ' 9 ' }).lookbackDays).toBe(9);
    // An empty alias is unset, like every other variable.
    expect(sourceSettings(fb, { FB_LOOKBACK_DAYS: '', FACEBOOK_LOOKBACK_DAYS: '5' }).lookbackDays).toBe(5);
  });

  it('is a config error naming both when they differ, and names the alias when its value is bad', () => {
    expect(configError(() => sourceSettings(fb, { FB_LOOKBACK_DAYS: '7', FACEBOOK_LOOKBACK_DAYS: '28' }))).toBe(
      'FB_LOOKBACK_DAYS and FACEBOOK_LOOKBACK_DAYS are both set, to different values; FB_LOOKBACK_DAYS is another name for FACEBOOK_LOOKBACK_DAYS: set one of them',
    );
    expect(configError(() => sourceSettings(fb, { FB_LOOKBACK_DAYS: 'week' }))).toBe(
      'FB_LOOKBACK_DAYS (another name for FACEBOOK_LOOKBACK_DAYS): expected a whole number from 1 to 3650; got "week"',
    );
    expect(configError(() => sourceSettings(fb, { FACEBOOK_LOOKBACK_DAYS: 'week' }))).toMatch(/^FACEBOOK_LOOKBACK_DAYS: expected a whole number/);
  });

  it('belongs to Facebook only; the mechanism is general and never echoes values', () => {
    expect(sourceSettings(vkAds as unknown as LoaderDefinition, { FB_LOOKBACK_DAYS: '3' }).lookbackDays).not.toBe(3);
    const { env, via } = applyEnvAliases({ OLD_SECRET: 's3cr3t' }, { OLD_SECRET: 'NEW_SECRET' });
    expect(env.NEW_SECRET).toBe('s3cr3t');
    expect(via.get('NEW_SECRET')).toBe('OLD_SECRET');
    expect(configError(() => applyEnvAliases({ OLD_SECRET: 'a', NEW_SECRET: 'b' }, { OLD_SECRET: 'NEW_SECRET' }))).not.toMatch(/\ba\b|\bb\b/);
  });

  it('adhouse load facebook with both set exits 2 with one line', async () => {
    const r = await runCli(['load', 'facebook'], { FB_LOOKBACK_DAYS: '7', FACEBOOK_LOOKBACK_DAYS: '14', FB_ACCOUNTS: '[{"id":"act_1","access_token":"x"}]' });
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/FB_LOOKBACK_DAYS and FACEBOOK_LOOKBACK_DAYS are both set/);
    // Refused before anything starts: no embedded ClickHouse was started for a command that cannot run.
    expect(r.stderr).not.toMatch(/starting ClickHouse/);
  });
});
