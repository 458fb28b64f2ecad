// The one place where values are rendered into SQL text. ClickHouse 18.16 has no server-side query
// parameters, so the few values that must be inlined (dates of a window, a source name) go through here,
// validated first; data itself always travels as JSONEachRow inserts.

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATETIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A quoted string literal; backslash and quote escaped, control characters as escapes. */
export function sqlString(value: string): string {
  let out = "'";
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === "'") out += "\\'";
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code === 0) out += '\\0';
    else if (code < 0x20) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + "'";
}

function isRealDate(value: string): boolean {
  const d = new Date(`${value.slice(0, 10)}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === value.slice(0, 10);
}

export function sqlDate(value: string): string {
  if (!DATE.test(value) || !isRealDate(value)) throw new TypeError(`not a date YYYY-MM-DD: ${JSON.stringify(value)}`);
  return `toDate('${value}')`;
}

export function sqlDateTime(value: string): string {
  if (!DATETIME.test(value) || !isRealDate(value)) throw new TypeError(`not a datetime YYYY-MM-DD hh:mm:ss: ${JSON.stringify(value)}`);
  return `toDateTime('${value}', 'UTC')`;
}

export function sqlInt(value: number | bigint): string {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) throw new TypeError(`not an integer: ${value}`);
  return String(value);
}

/** An identifier (table, column, database) from our own code or config, never from upstream data. */
export function sqlIdent(name: string): string {
  if (!IDENT.test(name)) throw new TypeError(`not an identifier: ${JSON.stringify(name)}`);
  return name;
}

export function sqlStringList(values: readonly string[]): string {
  return `(${values.map(sqlString).join(', ')})`;
}
