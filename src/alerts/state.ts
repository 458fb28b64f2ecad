// The alert state machine for one instance (rule, dedup key), as a pure function of the previous record,
// whether the rule's query returned the instance now, and the time. pending → firing after `for`;
// firing → resolved when the row is gone. Notices: the first firing notice of an episode waits out the
// cooldown since the instance's last notification (flapping stays quiet), a repeat follows every
// `repeat` while firing, and a resolution notice goes out only when the firing one did.

export type AlertState = 'pending' | 'firing' | 'resolved';
export type NoticeKind = 'firing' | 'repeat' | 'resolved';

export interface AlertInstance {
  rule: string;
  dedupKey: string;
  state: AlertState;
  severity: string;
  labels: Record<string, string>;
  summary: string;
  /** Instants in ms since the epoch, whole seconds; 0 = not yet. */
  firstSeen: number;
  firedAt: number;
  resolvedAt: number;
  lastSeen: number;
  lastNotifiedAt: number;
  /** Notifications delivered in this episode. */
  notifyCount: number;
  lastDeliveryError: string;
  /** The stored row's version (0 for a new instance). */
  ver: number;
}

export interface Observation {
  severity: string;
  labels: Record<string, string>;
  summary: string;
}

export interface Timing {
  forMs: number;
  cooldownMs: number;
  repeatMs: number;
}

export interface Step {
  next: AlertInstance;
  notice?: NoticeKind;
  /** Whether a new version must be written (the state, the summary or a notice changed something). */
  changed: boolean;
}

export function step(rule: string, dedupKey: string, prev: AlertInstance | undefined, seen: Observation | undefined, now: number, t: Timing): Step | undefined {
  if (!seen) {
    if (!prev || prev.state === 'resolved') return undefined;
    const next: AlertInstance = { ...prev, state: 'resolved', resolvedAt: now };
    return { next, notice: prev.state === 'firing' && prev.notifyCount > 0 ? 'resolved' : undefined, changed: true };
  }
  const fresh = !prev || prev.state === 'resolved';
  const base: AlertInstance = fresh
    ? { rule, dedupKey, state: 'pending', severity: seen.severity, labels: seen.labels, summary: seen.summary, firstSeen: now, firedAt: 0, resolvedAt: 0, lastSeen: now, lastNotifiedAt: prev?.lastNotifiedAt ?? 0, notifyCount: 0, lastDeliveryError: '', ver: prev?.ver ?? 0 }
    : { ...prev!, severity: seen.severity, labels: seen.labels, summary: seen.summary, lastSeen: now };
  const next = base;
  if (next.state === 'pending' && now - next.firstSeen >= t.forMs) {
    next.state = 'firing';
    next.firedAt = now;
  }
  let notice: NoticeKind | undefined;
  if (next.state === 'firing') {
    if (next.notifyCount === 0) {
      if (next.lastNotifiedAt === 0 || now - next.lastNotifiedAt >= t.cooldownMs) notice = 'firing';
    } else if (now - next.lastNotifiedAt >= t.repeatMs) {
      notice = 'repeat';
    }
  }
  const changed = fresh || notice !== undefined || prev!.state !== next.state || prev!.summary !== next.summary || prev!.severity !== next.severity || JSON.stringify(prev!.labels) !== JSON.stringify(next.labels);
  return { next, notice, changed };
}

/**
 * Folds a notice's delivery into the record. Delivered to at least one recipient (or nobody to tell):
 * notified now. Every recipient failed: the notice is still owed, so the previous state is kept (the
 * next evaluation tries again) with the error recorded.
 */
export function afterDelivery(s: Step, prev: AlertInstance | undefined, now: number, outcome: { delivered: number; failed: number; error: string }): AlertInstance {
  if (!s.notice) return s.next;
  if (outcome.delivered > 0 || outcome.failed === 0) {
    return { ...s.next, lastNotifiedAt: now, notifyCount: s.next.notifyCount + 1, lastDeliveryError: outcome.error };
  }
  if (s.notice === 'resolved' && prev) return { ...prev, lastDeliveryError: outcome.error };
  return { ...s.next, lastDeliveryError: outcome.error };
}
