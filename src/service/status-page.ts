// GET /: a status page a person reads at a glance. Server-rendered HTML, inline CSS and SVG, no script;
// it reloads itself every 30 s. Pure function of the cached state; every value is HTML-escaped.
import { addDays, formatInZone, parseUtcDateTime, todayIn } from '../runtime/dates.js';
import { freshnessRows, type AnswerContext } from './health-answers.js';
import { SPARK_DAYS, type DailyRows } from './snapshot.js';

const esc = (v: unknown): string =>
  String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const COLOURS: Record<string, string> = { fresh: '#1a7f37', stale: '#cf222e', never: '#6e7781', success: '#1a7f37', failed: '#cf222e', interrupted: '#bf8700', running: '#0969da', disabled: '#8c959f' };

function badge(label: string, colourKey = label): string {
  return `<span class="badge" style="background:${COLOURS[colourKey] ?? '#6e7781'}">${esc(label)}</span>`;
}

function age(minutes: number | null): string {
  if (minutes === null) return '—';
  if (minutes < 60) return `${minutes} min`;
  if (minutes < 48 * 60) return `${(minutes / 60).toFixed(1)} h`;
  return `${(minutes / 1440).toFixed(1)} d`;
}

function when(utc: string | null, tz: string): string {
  if (!utc) return '—';
  return formatInZone(parseUtcDateTime(utc), tz).slice(0, 16);
}

/** Rows per day for the last SPARK_DAYS days (reporting time zone), oldest first; `source` undefined = all. */
export function dailySeries(rows: DailyRows[], today: string, source?: string): Array<{ day: string; rows: number }> {
  const days = Array.from({ length: SPARK_DAYS }, (_, i) => addDays(today, i - (SPARK_DAYS - 1)));
  return days.map((day) => ({ day, rows: rows.filter((r) => r.day === day && (source === undefined || r.source === source)).reduce((s, r) => s + r.rows, 0) }));
}

export function sparkline(series: Array<{ day: string; rows: number }>, width = 140, height = 28): string {
  const max = Math.max(1, ...series.map((p) => p.rows));
  const step = series.length > 1 ? width / (series.length - 1) : width;
  const points = series.map((p, i) => `${(i * step).toFixed(1)},${(height - 2 - (p.rows / max) * (height - 4)).toFixed(1)}`).join(' ');
  const title = series.map((p) => `${p.day}: ${p.rows}`).join('\n');
  return `<svg class="spark" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="rows loaded per day"><title>${esc(title)}</title><polyline fill="none" stroke="#0969da" stroke-width="1.5" points="${points}"/></svg>`;
}

export function renderStatusPage(ctx: AnswerContext, reportingTz: string, now = new Date()): string {
  const w = ctx.state.warehouse;
  const today = todayIn(reportingTz, now);
  const daily = w?.dailyRows ?? [];
  const lastRuns = new Map((w?.lastRuns ?? []).map((r) => [r.source, r]));
  const rows = freshnessRows(ctx);
  const staleCount = rows.filter((f) => f.enabled && f.status === 'stale').length;
  const overall = !ctx.up ? badge('ClickHouse unavailable', 'failed') : staleCount ? badge(`${staleCount} source(s) stale`, 'stale') : badge('all good', 'fresh');

  const sourceRows = rows
    .map((f) => {
      const r = lastRuns.get(f.source);
      const status = f.enabled ? badge(f.status) : badge('disabled');
      const run = r ? `${badge(r.status)} ${esc(when(r.startedAt, reportingTz))}, ${r.rowsWritten.toLocaleString('en')} rows${r.errorClass ? `, <code>${esc(r.errorClass)}</code>` : ''}` : '—';
      return `<tr><td><a href="/healthz/${esc(f.source)}">${esc(f.source)}</a></td><td>${status}</td><td>${esc(when(f.lastSuccessAt, reportingTz))}</td><td class="num">${esc(age(f.ageMinutes))}</td><td class="num">${esc(age(f.sloMinutes))}</td><td>${esc(when(f.newestDataAt, reportingTz))}</td><td>${run}</td><td>${sparkline(dailySeries(daily, today, f.source))}</td></tr>`;
    })
    .join('\n');

  const recent = (w?.recentRuns ?? [])
    .map((r) => `<tr><td>${esc(when(r.startedAt, reportingTz))}</td><td>${esc(r.source)}</td><td>${esc(r.kind)}</td><td>${badge(r.status)}</td><td class="num">${r.rowsWritten.toLocaleString('en')}</td><td class="num">${r.rowsQuarantined.toLocaleString('en')}</td><td class="num">${r.durationS} s</td><td>${r.errorClass ? `<code>${esc(r.errorClass)}</code>` : ''}</td></tr>`)
    .join('\n');

  const alerts = ctx.state.alerts;
  const alertsSection = !alerts.available
    ? `<p class="muted">${alerts.error ? 'Alerts could not be read.' : 'No alert rules are set up yet.'}</p>`
    : alerts.firing.length === 0
      ? '<p>No alerts firing.</p>'
      : `<table><tr><th>since</th><th>rule</th><th>severity</th><th>what</th></tr>${alerts.firing.map((a) => `<tr><td>${esc(when(a.since, reportingTz))}</td><td>${esc(a.rule)}</td><td>${badge(a.severity, 'failed')}</td><td>${esc(a.summary)}</td></tr>`).join('')}</table>`;

  const total = dailySeries(daily, today);
  const ch = ctx.up ? `ClickHouse ${esc(w?.version ?? '')}, snapshot query ${w?.queryMs ?? '?'} ms` : `ClickHouse: ${esc(ctx.state.error ?? 'unavailable')}`;
  const checked = ctx.state.checkedAt ? new Date(ctx.state.checkedAt).toISOString().replace('T', ' ').slice(0, 19) : '—';

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="30"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>adhouse status</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1f2328;max-width:1200px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
table{border-collapse:collapse;width:100%}th,td{padding:4px 8px;border-bottom:1px solid #d0d7de;text-align:left;vertical-align:middle}
th{font-weight:600;color:#57606a}.num{text-align:right;white-space:nowrap}.muted{color:#6e7781}
.badge{display:inline-block;color:#fff;border-radius:10px;padding:0 8px;font-size:12px;line-height:18px}
.spark{vertical-align:middle}code{font-size:12px}a{color:#0969da;text-decoration:none}
</style></head><body>
<h1>adhouse ${overall}</h1>
<p class="muted">${ch} · checked ${esc(checked)} UTC · times in ${esc(reportingTz)}</p>
<h2>Sources</h2>
<table><tr><th>source</th><th>freshness</th><th>last success</th><th>age</th><th>SLO</th><th>newest data</th><th>last run</th><th>rows/day, ${SPARK_DAYS} d</th></tr>
${sourceRows}
</table>
<h2>Rows loaded per day, all sources</h2>
<p>${sparkline(total, 420, 60)} <span class="muted">${esc(total[0]?.day)} … ${esc(today)}, max ${Math.max(0, ...total.map((p) => p.rows)).toLocaleString('en')}</span></p>
<h2>Firing alerts</h2>
${alertsSection}
<h2>Last runs</h2>
${recent ? `<table><tr><th>started</th><th>source</th><th>kind</th><th>status</th><th>rows</th><th>quarantined</th><th>duration</th><th>error</th></tr>\n${recent}\n</table>` : '<p class="muted">No runs yet.</p>'}
<p class="muted"><a href="/healthz/detailed">/healthz/detailed</a> · <a href="/healthz/freshness">/healthz/freshness</a> · <a href="/metrics">/metrics</a></p>
</body></html>
`;
}
