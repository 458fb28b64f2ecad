// One evaluation of every alert rule: read the instances' state back from meta_alerts, run each rule,
// step every instance through the state machine at `now`, send one message per rule and kind to each
// recipient of each channel, then append the new versions and the delivery log. Re-running at the same
// `now` sends nothing new (idempotent); state lives only in ClickHouse (restart-safe). Delivery is
// at-least-once: a crash between sending and writing may repeat a notice, never lose one.
import type { ClickHouseClient } from '../clickhouse/client.js';
import type { Channels } from '../channels/channel.js';
import { DeliveryError } from '../channels/channel.js';
import type { Logger } from '../runtime/logger.js';
import { redactString } from '../runtime/redact.js';
import { buildMessage, type AlertMessage, type NoticeItem } from './message.js';
import { runRule, type SmokeChecks } from './query.js';
import { CHANNELS, type AlertRule, type ChannelName } from './rules.js';
import { afterDelivery, step, type AlertInstance, type Observation, type Step } from './state.js';
import { instanceId, readInstances, writeDeliveries, writeInstances, type DeliveryRecord } from './store.js';
import { renderTemplate } from './template.js';

export interface EvaluateOptions {
  client: ClickHouseClient;
  rules: readonly AlertRule[];
  channels: Channels;
  /** The evaluation's clock (tests move it); whole seconds are used. */
  now?: Date;
  /** Print-only: nothing is sent and nothing is written. */
  dryRun?: boolean;
  smokeChecks: SmokeChecks;
  log?: Logger;
  signal?: AbortSignal;
}

export interface RuleOutcome {
  rule: string;
  status: 'ok' | 'skipped' | 'failed';
  /** Why it was skipped or failed. */
  reason?: string;
  /** Instances the query returned. */
  active: number;
  firing: number;
}

export interface PlannedDelivery {
  rule: string;
  kind: 'firing' | 'resolved';
  channel: ChannelName;
  recipient: string;
  message: AlertMessage;
  /** Undefined in a dry run. */
  ok?: boolean;
  error?: string;
}

export interface EvaluationReport {
  at: Date;
  rules: RuleOutcome[];
  deliveries: PlannedDelivery[];
  /** Channels some rule names recipients for that are not configured (no SMTP_HOST / TELEGRAM_BOT_TOKEN). */
  unconfiguredChannels: ChannelName[];
}

export async function evaluateAlerts(opts: EvaluateOptions): Promise<EvaluationReport> {
  const now = Math.floor((opts.now ?? new Date()).getTime() / 1000) * 1000;
  const previous = await readInstances(opts.client, opts.signal);
  const report: EvaluationReport = { at: new Date(now), rules: [], deliveries: [], unconfiguredChannels: [] };
  const toWrite: AlertInstance[] = [];
  const deliveryLog: DeliveryRecord[] = [];

  for (const rule of opts.rules) {
    const result = await runRule(opts.client, rule, opts.smokeChecks, opts.signal);
    if (result.status !== 'ok') {
      // Unknown is not resolved: the rule's instances keep their state until it can run again.
      const reason = result.status === 'skipped' ? result.reason : result.error;
      report.rules.push({ rule: rule.name, status: result.status, reason, active: 0, firing: 0 });
      if (result.status === 'failed') opts.log?.error({ rule: rule.name }, `alert rule ${rule.name} failed: ${redactString(reason)}`);
      else opts.log?.info({ rule: rule.name }, `alert rule ${rule.name} skipped: ${reason}`);
      continue;
    }
    let seen: Map<string, Observation>;
    try {
      seen = observe(rule, result.rows);
    } catch (err) {
      const reason = (err as Error).message;
      report.rules.push({ rule: rule.name, status: 'failed', reason, active: 0, firing: 0 });
      opts.log?.error({ rule: rule.name }, `alert rule ${rule.name} failed: ${reason}`);
      continue;
    }

    const keys = new Set(seen.keys());
    for (const p of previous.values()) if (p.rule === rule.name) keys.add(p.dedupKey);
    const steps: Array<{ s: Step; prev?: AlertInstance }> = [];
    for (const key of [...keys].sort()) {
      const prev = previous.get(instanceId(rule.name, key));
      const s = step(rule.name, key, prev, seen.get(key), now, rule);
      if (s) steps.push({ s, prev });
    }

    const outcome = new Map<Step, { delivered: number; failed: number; errors: string[] }>();
    for (const kind of ['firing', 'resolved'] as const) {
      const group = steps.filter(({ s }) => (kind === 'firing' ? s.notice === 'firing' || s.notice === 'repeat' : s.notice === 'resolved'));
      if (group.length === 0) continue;
      const items: NoticeItem[] = group.map(({ s }) => ({ dedupKey: s.next.dedupKey, summary: s.next.summary, kind: s.notice! }));
      const message = buildMessage(rule.name, rule.severity, kind, items, rule.description);
      for (const { s } of group) outcome.set(s, { delivered: 0, failed: 0, errors: [] });
      for (const channelName of CHANNELS) {
        const recipients = rule.recipients[channelName];
        if (recipients.length === 0) continue;
        const channel = opts.channels[channelName];
        if (!channel) {
          if (!report.unconfiguredChannels.includes(channelName)) report.unconfiguredChannels.push(channelName);
          continue;
        }
        for (const recipient of recipients) {
          const planned: PlannedDelivery = { rule: rule.name, kind, channel: channelName, recipient, message };
          report.deliveries.push(planned);
          if (opts.dryRun) continue;
          let attempts = 0;
          try {
            attempts = (await channel.send(recipient, message, opts.signal)).attempts;
            planned.ok = true;
          } catch (err) {
            planned.ok = false;
            planned.error = redactString(err instanceof Error ? err.message : String(err));
            attempts = err instanceof DeliveryError ? err.attempts : 1;
            opts.log?.error({ rule: rule.name, channel: channelName, recipient }, `alert ${rule.name} (${kind}) not delivered by ${channelName} to ${recipient}: ${planned.error}`);
          }
          for (const { s } of group) {
            const o = outcome.get(s)!;
            if (planned.ok) o.delivered++;
            else {
              o.failed++;
              o.errors.push(`${channelName} ${recipient}: ${planned.error}`);
            }
          }
          deliveryLog.push({ rule: rule.name, kind: kind === 'firing' ? (items.every((i) => i.kind === 'repeat') ? 'repeat' : 'firing') : 'resolved', dedupKeys: items.map((i) => i.dedupKey), channel: channelName, recipient, at: now, ok: planned.ok, attempts, error: planned.error ?? '' });
        }
      }
    }

    for (const { s, prev } of steps) {
      const o = outcome.get(s);
      const next = o ? afterDelivery(s, prev, now, { delivered: o.delivered, failed: o.failed, error: o.errors.join('; ') }) : s.next;
      if (!s.changed && !o) continue;
      toWrite.push({ ...next, ver: Math.max(now, (prev?.ver ?? 0) + 1) });
    }
    report.rules.push({ rule: rule.name, status: 'ok', active: seen.size, firing: steps.filter(({ s }) => s.next.state === 'firing').length });
  }

  // A rule taken out of the rules file: its open instances are closed quietly, so nothing stays firing forever.
  const configured = new Set(opts.rules.map((r) => r.name));
  for (const p of previous.values()) {
    if (!configured.has(p.rule) && p.state !== 'resolved') toWrite.push({ ...p, state: 'resolved', resolvedAt: now, ver: Math.max(now, p.ver + 1) });
  }

  if (!opts.dryRun) {
    await writeInstances(opts.client, toWrite);
    await writeDeliveries(opts.client, deliveryLog, now);
  }
  return report;
}

/** The query's rows as instances: dedup key and summary from the templates; a repeated key is one instance. */
function observe(rule: AlertRule, rows: ReadonlyArray<Record<string, unknown>>): Map<string, Observation> {
  const out = new Map<string, Observation>();
  for (const row of rows) {
    const key = renderTemplate(rule.dedupKey, row);
    if (out.has(key)) continue;
    out.set(key, { severity: rule.severity, labels: rule.labels, summary: redactString(renderTemplate(rule.summary, row)) });
  }
  return out;
}
