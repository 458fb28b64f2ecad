// A digest as text: one list of sections, rendered three ways — Telegram HTML (escaped, split at line
// boundaries under 4,096 rendered characters), e-mail HTML, and the e-mail's plain-text twin (also the
// dry-run output). Numbers are formatted without the locale so the output is byte-stable (golden files).
import { escapeHtml, TELEGRAM_TEXT_LIMIT } from '../channels/telegram-format.js';
import type { Metric } from './definitions.js';
import type { Report } from './build.js';

interface Section {
  heading: string;
  lines: string[];
}

export const METRIC_LABELS: Record<Metric, string> = {
  spend: 'Spend', impressions: 'Impressions', clicks: 'Clicks', ctr: 'CTR', cpc: 'CPC', cpm: 'CPM', results: 'Results', cpr: 'CPR',
  revenue: 'Revenue', tickets: 'Tickets', roas: 'ROAS', romi: 'ROMI', avito_views: 'Avito views', avito_contacts: 'Avito contacts', avito_balance: 'Avito balance',
};

type Kind = 'rub' | 'int' | 'pct' | 'ratio';
const KIND: Record<Metric, Kind> = {
  spend: 'rub', impressions: 'int', clicks: 'int', ctr: 'pct', cpc: 'rub', cpm: 'rub', results: 'int', cpr: 'rub',
  revenue: 'rub', tickets: 'int', roas: 'ratio', romi: 'pct', avito_views: 'int', avito_contacts: 'int', avito_balance: 'rub',
};

function group(intPart: string): string {
  return intPart.replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
}

/** 1234567.8 → '1 234 567.80' (fixed decimals, space-grouped, '-' for negatives). */
export function fixed(value: number, decimals: number): string {
  const text = Math.abs(value).toFixed(decimals);
  const [i, d] = text.split('.');
  const sign = value < 0 && Number(text) !== 0 ? '-' : '';
  return `${sign}${group(i!)}${d ? `.${d}` : ''}`;
}

export function formatValue(kind: Kind, v: number | null): string {
  if (v === null) return '—';
  switch (kind) {
    case 'rub':
      return `${fixed(v, 2)} ₽`;
    case 'int':
      return fixed(v, 0);
    case 'pct':
      return `${fixed(v * 100, 2)}%`;
    case 'ratio':
      return fixed(v, 2);
  }
}

function signed(kind: Kind, v: number): string {
  const text = kind === 'pct' ? `${fixed(v * 100, 2)} pp` : formatValue(kind, v);
  return v > 0 ? `+${text}` : text;
}

function periodText(p: { from: string; to: string }): string {
  return p.from === p.to ? p.from : `${p.from} – ${p.to}`;
}

export function sections(r: Report): { title: string; sections: Section[] } {
  const title = `${r.title} · ${periodText(r.period)}`;
  const out: Section[] = [];
  out.push({
    heading: `Totals (vs ${periodText(r.previous)})`,
    lines: r.metrics.map((m) => {
      const kind = KIND[m.metric];
      const delta = m.delta === null ? '' : `, Δ ${signed(kind, m.delta)}${m.deltaPct === null ? '' : `, ${m.deltaPct > 0 ? '+' : ''}${fixed(m.deltaPct * 100, 1)}%`}`;
      return `${METRIC_LABELS[m.metric]}: ${formatValue(kind, m.current)} (was ${formatValue(kind, m.previous)}${delta})`;
    }),
  });
  if (r.topCampaigns.length) {
    out.push({
      heading: 'Top campaigns by spend',
      lines: r.topCampaigns.map((c, i) => `${i + 1}. ${c.platform} · ${c.accountId} · ${c.campaignName || c.campaignId}: ${formatValue('rub', c.spend)}, ${fixed(c.clicks, 0)} clicks, ${fixed(c.results, 0)} results, CPR ${formatValue('rub', c.cpr)}`),
    });
  }
  if (r.romi) {
    const n = r.romi.counts;
    out.push({
      heading: `ROMI of events from ${r.period.from}`,
      lines: [
        `green ${n.green} · yellow ${n.yellow} · red ${n.red} · no spend ${n.no_spend}`,
        ...r.romi.red.map((e) => `red: ${e.city} ${e.eventDate}: revenue ${formatValue('rub', e.revenue)}, spend ${formatValue('rub', e.spend)}, ROAS ${formatValue('ratio', e.roas)}`),
      ],
    });
  }
  if (r.anomalies) {
    out.push({ heading: 'New anomalies', lines: r.anomalies.length ? r.anomalies.map((a) => `${a.accountId} · ad ${a.adId} (${a.detectedAt} UTC)`) : ['none'] });
  }
  if (r.atRisk) {
    out.push({ heading: 'At-risk ads', lines: r.atRisk.length ? r.atRisk.map((a) => `${a.platform} · ${a.accountId} · ad ${a.adId}: ${a.riskLevel}`) : ['none'] });
  }
  if (r.notes.length) out.push({ heading: 'Notes', lines: r.notes });
  return { title, sections: out };
}

/** The plain-text rendering: the e-mail's text part and the dry-run output. */
export function renderText(r: Report): string {
  const { title, sections: secs } = sections(r);
  const parts = [title, `Days in ${r.timezone}`];
  for (const s of secs) parts.push('', s.heading, ...s.lines.map((l) => `  ${l}`));
  return `${parts.join('\n')}\n`;
}

/** Telegram HTML chunks, each with at most `limit` rendered characters, split between lines. */
export function renderTelegramReport(r: Report, limit = TELEGRAM_TEXT_LIMIT): string[] {
  const { title, sections: secs } = sections(r);
  const lines: Array<{ plain: string; bold: boolean }> = [{ plain: title, bold: true }];
  for (const s of secs) {
    lines.push({ plain: '', bold: false }, { plain: s.heading, bold: true });
    for (const l of s.lines) lines.push({ plain: l.length > limit ? `${l.slice(0, limit - 1)}…` : l, bold: false });
  }
  const chunks: string[] = [];
  let html: string[] = [];
  let size = 0;
  for (const p of lines) {
    const extra = (html.length > 0 ? 1 : 0) + p.plain.length;
    if (html.length > 0 && size + extra > limit) {
      chunks.push(html.join('\n'));
      html = [];
      size = 0;
    }
    if (html.length === 0 && p.plain === '') continue; // no chunk starts with a blank line
    size += (html.length > 0 ? 1 : 0) + p.plain.length;
    html.push(p.bold && p.plain ? `<b>${escapeHtml(p.plain)}</b>` : escapeHtml(p.plain));
  }
  if (html.length > 0) chunks.push(html.join('\n'));
  return chunks.filter((c) => c.trim() !== '');
}

export function emailSubject(r: Report): string {
  return sections(r).title;
}

/** The e-mail's HTML part: one table per section. */
export function renderEmailHtml(r: Report): string {
  const { title, sections: secs } = sections(r);
  const body = secs
    .map((s) => `<h3 style="margin:16px 0 4px">${escapeHtml(s.heading)}</h3>\n<table style="border-collapse:collapse">\n${s.lines.map((l) => `<tr><td style="padding:2px 8px">${escapeHtml(l)}</td></tr>`).join('\n')}\n</table>`)
    .join('\n');
  return `<!doctype html><html><body style="font-family:sans-serif">
<h2 style="margin:0 0 4px">${escapeHtml(title)}</h2>
<p style="color:#616161;margin:0">Days in ${escapeHtml(r.timezone)}</p>
${body}
<p style="color:#9e9e9e;font-size:12px">adhouse report <code>${escapeHtml(r.name)}</code></p>
</body></html>
`;
}
