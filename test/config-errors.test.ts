// Bad configuration stops with one line naming the variable and what it expects; secrets are masked.
import { afterEach, describe, expect, it } from 'vitest';
import { clickhouseConfig } from '../src/config/clickhouse.js';
import { runtimeConfig } from '../src/config/runtime.js';
import { ConfigError } from '../src/runtime/errors.js';
import { clearSecretsForTests, redactString, redactValue, registerSecret } from '../src/runtime/redact.js';

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('names the bad variable and what it expects, on one line', () => {
    const msg = configError(() => clickhouseConfig({ CH_HTTP_PORT: 'abc' }));
    expect(msg).toBe('CH_HTTP_PORT: expected a whole number from 1 to 65535; got "abc"');
    expect(configError(() => clickhouseConfig({ CH_TCP_PORT: '70000' }))).toMatch(/^CH_TCP_PORT: expected a whole number from 1 to 65535/);
    expect(configError(() => clickhouseConfig({ CLICKHOUSE_URL: 'not a url' }))).toMatch(/^CLICKHOUSE_URL: expected an http\(s\) URL/);
    expect(configError(() => runtimeConfig({ TZ_REPORTING: 'Mars/Base' }))).toMatch(/^TZ_REPORTING: expected an IANA time zone/);
    expect(configError(() => runtimeConfig({ LOG_LEVEL: 'loud' }))).toMatch(/^LOG_LEVEL: expected one of/);
  });

  it('has the documented defaults', () => {
    expect(clickhouseConfig({})).toMatchObject({ embedded: true, database: 'adhouse', httpPort: 8123, tcpPort: 9000, url: 'http://127.0.0.1:8123' });
    expect(clickhouseConfig({ CLICKHOUSE_URL: 'http://ch:8123/' })).toMatchObject({ embedded: false, url: 'http://ch:8123' });
    expect(runtimeConfig({}).reportingTz).toBe('Europe/Moscow');
    expect(runtimeConfig({ ADHOUSE_DATA_DIR: '/x' }).stateDir).toBe('/x/state');
  });

  it('never echoes a secret value in the error', () => {
    const msg = configError(() => clickhouseConfig({ CLICKHOUSE_URL: 'http://u:hunter22@' }));
    expect(msg).not.toContain('hunter22');
  });
});

describe('redaction', () => {
  afterEach(() => clearSecretsForTests());

  it('masks registered secrets and well-known shapes wherever they appear', () => {
    registerSecret('s3cr3t-value');
    expect(redactString('failed with s3cr3t-value in body')).toBe('failed with *** in body');
    expect(redactString('Authorization: Bearer eyJhbGciOi.abc-def')).toBe('Authorization: Bearer ***');
    expect(redactString('POST /token client_secret=abc123&grant_type=x')).toBe('POST /token client_secret=***&grant_type=x');
    expect(redactString('{"access_token":"tok-123","expires_in":"86400"}')).toBe('{"access_token":"***","expires_in":"86400"}');
    expect(redactString('http://user:pw1234@host:8123/')).toBe('http://user:***@host:8123/');
  });

  it('masks values under secret-looking keys in objects', () => {
    expect(redactValue({ client_id: 'id1', client_secret: 'x', nested: { refresh_token: 'y', note: 'ok' }, headers: { Authorization: 'Bearer z' } })).toEqual({
      client_id: 'id1',
      client_secret: '***',
      nested: { refresh_token: '***', note: 'ok' },
      headers: { Authorization: '***' },
    });
  });
});

describe('secrets in JSON-valued variables', () => {
  afterEach(() => clearSecretsForTests());

  it('never echoes a JSON account list in a config error', async () => {
    const { default: vkAds } = await import('../loaders/vk_ads/index.js');
    const { parseEnv } = await import('../src/config/env.js');
    const value = JSON.stringify([{ id: 'main', client_id: 'app1', client_secret: 'S3cr3tValue42', agency_client_nam: 'typo' }]);
    const msg = configError(() => parseEnv(vkAds.config, { VK_ADS_ACCOUNTS: value }));
    expect(msg).toMatch(/^VK_ADS_ACCOUNTS: /);
    expect(msg).not.toContain('S3cr3tValue42');
  });

  it('masks secrets in JSON that was embedded in a string', () => {
    const text = JSON.stringify({ detail: JSON.stringify({ client_secret: 'abc123def', access_token: 'tok456' }) });
    const masked = redactString(text);
    expect(masked).not.toContain('abc123def');
    expect(masked).not.toContain('tok456');
  });
});
