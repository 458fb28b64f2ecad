// One message per rule, kind and evaluation (all stale sources in one notice, not one each), as plain
// lines: each channel renders and escapes them its own way.
import type { NoticeKind } from './state.js';

export interface AlertMessage {
  rule: string;
  severity: string;
  kind: 'firing' | 'resolved';
  /** The first line: what happened, in a few words. */
  title: string;
  /** One line per instance, plain text. */
  lines: string[];
  /** A line under the list (the rule's description), plain text. */
  footer?: string;
}

export interface NoticeItem {
  dedupKey: string;
  summary: string;
  kind: NoticeKind;
}

export function buildMessage(rule: string, severity: string, kind: 'firing' | 'resolved', items: readonly NoticeItem[], description?: string): AlertMessage {
  const n = items.length;
  const title = kind === 'firing'
    ? `[FIRING] ${severity} · ${rule}${n > 1 ? ` (${n})` : ''}`
    : `[RESOLVED] ${rule}${n > 1 ? ` (${n})` : ''}`;
  const lines = items.map((i) => (kind === 'firing' ? `• ${i.summary}${i.kind === 'repeat' ? ' (still firing)' : ''}` : `✓ ${i.summary}`));
  return { rule, severity, kind, title, lines, footer: description };
}

/** The message as plain text (dry-run output, the e-mail's text part). */
export function plainText(m: AlertMessage): string {
  return [m.title, '', ...m.lines, ...(m.footer ? ['', m.footer] : [])].join('\n');
}
