// `{column}` templates for dedup keys and summaries, filled from a rule's result row. Only plain field
// names: a template is text, never code; `{{` and `}}` give literal braces.

const FIELD = /\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}|[{}]/g;

/** The field names a template uses; throws on a stray brace. */
export function templateFields(template: string): string[] {
  const out: string[] = [];
  for (const m of template.matchAll(FIELD)) {
    if (m[0] === '{{' || m[0] === '}}') continue;
    if (!m[1]) throw new TypeError(`template ${JSON.stringify(template)}: a stray "${m[0]}" (write {{ or }} for a literal brace, {column} for a value)`);
    out.push(m[1]);
  }
  return out;
}

export function formatValue(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : String(Math.round(value * 100) / 100);
  if (Array.isArray(value)) return value.map(formatValue).join(', ');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Fills a template; a field the row lacks is an error naming it (a rule/query mismatch). */
export function renderTemplate(template: string, row: Readonly<Record<string, unknown>>): string {
  return template.replace(FIELD, (whole, name: string | undefined) => {
    if (whole === '{{') return '{';
    if (whole === '}}') return '}';
    if (!name) throw new TypeError(`template ${JSON.stringify(template)}: a stray "${whole}"`);
    if (!(name in row)) throw new TypeError(`template ${JSON.stringify(template)} uses {${name}}, which the query does not return (columns: ${Object.keys(row).join(', ') || 'none'})`);
    return formatValue(row[name]);
  });
}
