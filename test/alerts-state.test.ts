// The alert state machine against a real ClickHouse: a stale source notifies once per channel, then not
// until the repeat interval, then a resolution notice; `for`, cooldown, grouping, a rule over a missing
// table, dry run, a failing channel, the status-page feed, and the built-in rules on 18.16. Time moves by
// passing `now` to the evaluator; channels are recording stand-ins (the real ones have their own tests).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateAlerts } from '../src/alerts/evaluate.js';
import type { AlertMessage } from '../src/alerts/message.js';
import { loadRules, parseRules, type AlertRule } from '../src/alerts/rules.js';
import { DeliveryError, type Channel, type Channels } from '../src/channels/channel.js';
import { utcDateTime } from '../src/runtime/dates.js';
import { metaAlertsFeed } from '../src/service/alerts-feed.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

const MIN = 60_000;
const HOUR = 60 * MIN;

interface Sent {
  channel: string;
  recipient: string;
  message: AlertMessage;
}

function recordingChannels(sent: Sent[], failing: Set<string> = new Set()): Channels {
  const make = (name: 'email' | 'telegram'): Channel => ({
    name,
    async send(recipient, message) {
      if (failing.has(name)) throw new DeliveryError(`${name} is down`, 3);
      sent.push({ channel: name, recipient, message });
      return { attempts: 1 };
    },
  });
  return { email: make('email'), telegram: make('telegram') };
}

const CHANNELS_YAML = `    channels: { email: ["ops@example.com"], telegram: ["-1001"] }`;

function rules(yaml: string): AlertRule[] {
  return parseRules(`defaults: { cooldown: 30m, repeat: 4h }\nrules:\n${yaml}`, {}, 'test');
}

const STALE = rules(`  - name: source_stale
    severity: warning
    query: SELECT source, age_minutes, slo_minutes FROM v_data_freshness WHERE enabled = 1 AND status = 'stale'
    dedup_key: "{source}"
    summary: "{source} stale for {age_minutes} min"
${CHANNELS_YAML}
`);

function runRow(runId: string, source: string, finishedAt: number, status = 'success') {
  return {
    run_id: runId, source, kind: 'load', status,
    started_at: utcDateTime(finishedAt - 60_000), finished_at: utcDateTime(finishedAt), heartbeat_at: utcDateTime(finishedAt),
    window_since: '2026-01-01', window_until: '2026-01-02', account: '',
    rows_read: 5, rows_written: 5, rows_quarantined: 0, rows_skipped: 0, rows_deleted: 0,
    error_class: '', error_message: '', backfill_id: '', host: 'test', pid: 1, _ver: finishedAt,
  };
}

describe('alert evaluation against the test ClickHouse', () => {
  let wh: Warehouse;
  const smokeChecks = async () => [];
  beforeAll(async () => {
    wh = await freshWarehouse();
    await wh.client.command({ query: 'CREATE TABLE alert_probe (k String, on UInt8, _ver UInt64) ENGINE = ReplacingMergeTree(_ver) ORDER BY k' });
  });
  afterAll(async () => {
    await wh?.drop();
  });

  let probeVer = 1;
  async function probe(values: Record<string, 0 | 1>): Promise<void> {
    const ver = probeVer++;
    await wh.client.insert({ table: 'alert_probe', values: Object.entries(values).map(([k, on]) => ({ k, on, _ver: ver })), format: 'JSONEachRow' });
  }
  const count = async (sql: string) => Number((await wh.query<{ n: string }>(sql))[0]!.n);

  it('a stale source: one notice per channel, nothing until the repeat interval, then a resolution notice', async () => {
    const sent: Sent[] = [];
    const channels = recordingChannels(sent);
    const t0 = Date.now();
    await wh.client.insert({ table: 'meta_job_runs', values: [runRow('d-old', 'direct', t0 - 3 * 24 * HOUR)], format: 'JSONEachRow' });
    const ev = (at: number) => evaluateAlerts({ client: wh.client, rules: STALE, channels, smokeChecks, now: new Date(at) });

    const first = await ev(t0);
    expect(first.rules).toEqual([{ rule: 'source_stale', status: 'ok', active: 1, firing: 1 }]);
    expect(sent.map((s) => `${s.channel} ${s.recipient} ${s.message.kind}`)).toEqual(['email ops@example.com firing', 'telegram -1001 firing']);
    expect(sent[0]!.message.lines[0]).toMatch(/^• direct stale for \d+ min$/);

    await ev(t0); // the same tick again (a restart, an overlapping run): nothing new
    await ev(t0 + HOUR);
    await ev(t0 + 3 * HOUR);
    expect(sent).toHaveLength(2);

    await ev(t0 + 4 * HOUR);
    expect(sent.slice(2).map((s) => `${s.channel} ${s.message.kind} ${s.message.lines[0]!.endsWith('(still firing)')}`)).toEqual(['email firing true', 'telegram firing true']);

    await wh.client.insert({ table: 'meta_job_runs', values: [runRow('d-new', 'direct', Date.now())], format: 'JSONEachRow' });
    await ev(t0 + 4 * HOUR + MIN);
    expect(sent.slice(4).map((s) => `${s.channel} ${s.message.kind} ${s.message.title}`)).toEqual(['email resolved [RESOLVED] source_stale', 'telegram resolved [RESOLVED] source_stale']);
    await ev(t0 + 5 * HOUR);
    expect(sent).toHaveLength(6);

    const [row] = await wh.query<Record<string, unknown>>(`SELECT state, notify_count, toString(resolved_at) AS resolved_at, last_delivery_error FROM meta_alerts FINAL WHERE rule = 'source_stale' AND dedup_key = 'direct'`);
    expect(row).toEqual({ state: 'resolved', notify_count: 3, resolved_at: utcDateTime(Math.floor((t0 + 4 * HOUR + MIN) / 1000) * 1000), last_delivery_error: '' });
    expect(await count(`SELECT count() AS n FROM meta_alert_deliveries WHERE rule = 'source_stale' AND ok = 1`)).toBe(6);
  });

  const PROBE = (extra: string) => rules(`  - name: probe
    severity: critical
    query: SELECT k FROM alert_probe FINAL WHERE on = 1 ORDER BY k
    dedup_key: "{k}"
    summary: "probe {k}"
${extra}
${CHANNELS_YAML}
`);

  it('`for` delays firing; cooldown keeps a flapping alert quiet; instances of a rule are grouped in one message', async () => {
    const sent: Sent[] = [];
    const channels = recordingChannels(sent);
    const rs = PROBE('    for: 10m\n    cooldown: 1h');
    const t0 = Date.parse('2030-01-01T00:00:00Z');
    const ev = (at: number) => evaluateAlerts({ client: wh.client, rules: rs, channels, smokeChecks, now: new Date(at) });

    await probe({ a: 1, b: 1, c: 0 });
    expect((await ev(t0)).rules[0]).toMatchObject({ active: 2, firing: 0 });
    await ev(t0 + 5 * MIN);
    expect(sent).toHaveLength(0);
    expect(await metaAlertsFeed.firing(wh.client)).toEqual([]);

    await ev(t0 + 10 * MIN);
    expect(sent.map((s) => s.channel)).toEqual(['email', 'telegram']);
    expect(sent[0]!.message.title).toBe('[FIRING] critical · probe (2)');
    expect(sent[0]!.message.lines).toEqual(['• probe a', '• probe b']);
    const firing = await metaAlertsFeed.firing(wh.client);
    expect(firing.map((f) => `${f.rule} ${f.severity} ${f.summary} ${f.since}`).sort()).toEqual(['probe critical probe a 2030-01-01 00:10:00', 'probe critical probe b 2030-01-01 00:10:00']);

    await probe({ a: 0, b: 0 });
    await ev(t0 + 20 * MIN);
    expect(sent.slice(2).map((s) => s.message.lines.join('|'))).toEqual(['✓ probe a|✓ probe b', '✓ probe a|✓ probe b']);

    // Back within the cooldown (1 h since the resolution notice): pending, then firing, but quiet.
    await probe({ a: 1 });
    await ev(t0 + 25 * MIN);
    await ev(t0 + 35 * MIN);
    expect(sent).toHaveLength(4);
    const [a] = await wh.query<{ state: string }>(`SELECT state FROM meta_alerts FINAL WHERE rule = 'probe' AND dedup_key = 'a'`);
    expect(a!.state).toBe('firing');
    // Resolved again before anyone was told: no resolution notice either.
    await probe({ a: 0 });
    await ev(t0 + 40 * MIN);
    expect(sent).toHaveLength(4);
    // After the cooldown a new episode notifies again.
    await probe({ a: 1 });
    await ev(t0 + 90 * MIN);
    await ev(t0 + 100 * MIN);
    expect(sent.slice(4).map((s) => `${s.channel} ${s.message.lines.join('|')}`)).toEqual(['email • probe a', 'telegram • probe a']);
    await probe({ a: 0 });
    await ev(t0 + 110 * MIN);
    expect(sent).toHaveLength(8);
  });

  it('a rule over a missing table is skipped with the reason; the other rules still run', async () => {
    const rs = rules(`  - name: needs_history
    severity: warning
    requires: [vk_anomaly_history]
    query: SELECT account_id FROM vk_anomaly_history
    dedup_key: "{account_id}"
    summary: "{account_id}"
  - name: burnout
    severity: warning
    query: SELECT ad_id FROM v_ad_burnout_nowhere
    dedup_key: "{ad_id}"
    summary: "{ad_id}"
  - name: wrong_template
    severity: info
    query: SELECT 1 AS x
    dedup_key: "{y}"
    summary: "{x}"
  - name: fine
    severity: info
    query: SELECT 'k' AS x
    dedup_key: "{x}"
    summary: "{x}"
`);
    const report = await evaluateAlerts({ client: wh.client, rules: rs, channels: {}, smokeChecks, now: new Date('2031-01-01T00:00:00Z') });
    expect(report.rules).toEqual([
      { rule: 'needs_history', status: 'skipped', reason: 'table vk_anomaly_history not present', active: 0, firing: 0 },
      { rule: 'burnout', status: 'skipped', reason: 'table v_ad_burnout_nowhere not present', active: 0, firing: 0 },
      { rule: 'wrong_template', status: 'failed', reason: expect.stringContaining('uses {y}, which the query does not return'), active: 0, firing: 0 },
      { rule: 'fine', status: 'ok', active: 1, firing: 1 },
    ]);
  });

  it('dry run plans the notices per channel and writes nothing; a failing channel is recorded and retried', async () => {
    const sent: Sent[] = [];
    const rs = rules(`  - name: dry
    severity: warning
    query: SELECT k FROM alert_probe FINAL WHERE on = 1 AND k = 'z'
    dedup_key: "{k}"
    summary: "dry {k}"
${CHANNELS_YAML}
`);
    await probe({ z: 1 });
    const at = new Date('2032-01-01T00:00:00Z');
    const before = await count('SELECT count() AS n FROM meta_alerts');
    const deliveriesBefore = await count('SELECT count() AS n FROM meta_alert_deliveries');
    const dry = await evaluateAlerts({ client: wh.client, rules: rs, channels: recordingChannels(sent), smokeChecks, now: at, dryRun: true });
    expect(dry.deliveries.map((d) => `${d.channel} ${d.recipient} ${d.kind} ${d.ok}`)).toEqual(['email ops@example.com firing undefined', 'telegram -1001 firing undefined']);
    expect(sent).toEqual([]);
    expect(await count('SELECT count() AS n FROM meta_alerts')).toBe(before);
    expect(await count('SELECT count() AS n FROM meta_alert_deliveries')).toBe(deliveriesBefore);

    // Telegram down, e-mail up: notified (one recipient got it), the failure visible in meta_alerts.
    const partial = await evaluateAlerts({ client: wh.client, rules: rs, channels: recordingChannels(sent, new Set(['telegram'])), smokeChecks, now: at });
    expect(partial.deliveries.map((d) => `${d.channel} ${d.ok}`)).toEqual(['email true', 'telegram false']);
    const [row] = await wh.query<Record<string, unknown>>(`SELECT state, notify_count, last_delivery_error FROM meta_alerts FINAL WHERE rule = 'dry'`);
    expect(row).toEqual({ state: 'firing', notify_count: 1, last_delivery_error: 'telegram -1001: telegram is down' });
    expect(await wh.query(`SELECT channel, ok, attempts, error FROM meta_alert_deliveries WHERE rule = 'dry' ORDER BY channel`)).toEqual([
      { channel: 'email', ok: 1, attempts: 1, error: '' },
      { channel: 'telegram', ok: 0, attempts: 3, error: 'telegram is down' },
    ]);

    // Everything down on a new instance: the notice stays owed and goes out on the next evaluation.
    await probe({ z: 0 });
    const rs2 = rules(`  - name: owed
    severity: warning
    query: SELECT 'x' AS k
    dedup_key: "{k}"
    summary: "owed {k}"
${CHANNELS_YAML}
`);
    await evaluateAlerts({ client: wh.client, rules: rs2, channels: recordingChannels(sent, new Set(['email', 'telegram'])), smokeChecks, now: at });
    const [owed] = await wh.query<Record<string, unknown>>(`SELECT state, notify_count FROM meta_alerts FINAL WHERE rule = 'owed'`);
    expect(owed).toEqual({ state: 'firing', notify_count: 0 });
    sent.length = 0;
    await evaluateAlerts({ client: wh.client, rules: rs2, channels: recordingChannels(sent), smokeChecks, now: new Date(at.getTime() + 15 * MIN) });
    expect(sent.map((s) => s.channel)).toEqual(['email', 'telegram']);
    // `fine` (previous test) is in none of these rule sets any more: closed quietly, not left firing.
    expect(await wh.query(`SELECT state FROM meta_alerts FINAL WHERE rule = 'fine'`)).toEqual([{ state: 'resolved' }]);
  });

  it('the built-in rules parse and run on this ClickHouse, the ad-analytics ones included', async () => {
    const builtIn = loadRules(undefined, { ALERT_TELEGRAM_CHAT_ID: '-100200', ADMIN_CHAT_ID: '42', ALERT_EMAIL_TO: 'a@example.com, b@example.com' });
    expect(builtIn.map((r) => r.name)).toEqual(['source_stale', 'source_failing', 'zero_rows_run', 'token_invalid', 'romi_red', 'smoke_check_failing', 'cpr_anomaly', 'ad_burnout']);
    expect(builtIn.find((r) => r.name === 'token_invalid')!.recipients).toEqual({ email: ['a@example.com', 'b@example.com'], telegram: ['-100200', '42'] });
    // A failing source and an invalid token, so the meta_job_runs queries return rows.
    const t = Date.now();
    const failed = (id: string, at: number, errorClass: string) => ({ ...runRow(id, 'vk_ads', at, 'failed'), error_class: errorClass, error_message: 'HTTP 401' });
    await wh.client.insert({ table: 'meta_job_runs', values: [failed('v1', t - 3 * HOUR, 'network'), failed('v2', t - 2 * HOUR, 'network'), failed('v3', t - HOUR, 'token_invalid')], format: 'JSONEachRow' });
    const report = await evaluateAlerts({ client: wh.client, rules: builtIn, channels: {}, smokeChecks: async () => [{ check: '0001_x.sql', rows: 2 }], now: new Date('2033-01-01T00:00:00Z'), dryRun: true });
    const byRule = Object.fromEntries(report.rules.map((r) => [r.rule, r.status === 'ok' ? `ok ${r.active}` : `${r.status}: ${r.reason}`]));
    expect(byRule).toEqual({
      source_stale: 'ok 0', source_failing: 'ok 1', zero_rows_run: 'ok 0', token_invalid: 'ok 1', romi_red: 'ok 0', smoke_check_failing: 'ok 1',
      cpr_anomaly: 'ok 0', ad_burnout: 'ok 0',
    });
    expect(report.unconfiguredChannels.sort()).toEqual(['email', 'telegram']);
  });
});
