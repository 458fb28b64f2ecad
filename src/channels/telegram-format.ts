// Telegram HTML parse mode: only <, > and & need escaping; a message holds at most 4,096 characters of
// rendered text (tags do not count, an escape counts as one). Long messages are split at line
// boundaries, never inside a tag; a single line longer than the limit is cut (never inside a surrogate pair).
import type { AlertMessage } from '../alerts/message.js';

export const TELEGRAM_TEXT_LIMIT = 4096;

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

interface Line {
  plain: string;
  bold: boolean;
}

function cut(plain: string, limit: number): string[] {
  const out: string[] = [];
  let rest = plain;
  while (rest.length > limit) {
    let at = limit;
    const code = rest.charCodeAt(at - 1);
    if (code >= 0xd800 && code <= 0xdbff) at--; // keep a surrogate pair together
    out.push(rest.slice(0, at));
    rest = rest.slice(at);
  }
  out.push(rest);
  return out;
}

/** Chunks of HTML, each with at most `limit` rendered characters, split between lines. */
export function renderTelegram(m: AlertMessage, limit = TELEGRAM_TEXT_LIMIT): string[] {
  const lines: Line[] = [{ plain: m.title, bold: true }, ...m.lines.map((plain) => ({ plain, bold: false }))];
  if (m.footer) lines.push({ plain: '', bold: false }, { plain: m.footer, bold: false });
  const pieces = lines.flatMap((l) => cut(l.plain, limit).map((plain) => ({ plain, bold: l.bold })));
  const chunks: string[] = [];
  let html: string[] = [];
  let size = 0;
  for (const p of pieces) {
    const extra = (html.length > 0 ? 1 : 0) + p.plain.length; // the joining newline counts too
    if (html.length > 0 && size + extra > limit) {
      chunks.push(html.join('\n'));
      html = [];
      size = 0;
    }
    size += (html.length > 0 ? 1 : 0) + p.plain.length;
    html.push(p.bold && p.plain ? `<b>${escapeHtml(p.plain)}</b>` : escapeHtml(p.plain));
  }
  if (html.length > 0) chunks.push(html.join('\n'));
  return chunks.filter((c) => c.trim() !== '');
}
