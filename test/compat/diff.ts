// Structural comparison for query results: numbers (and numeric strings, as engines quote 64-bit integers
// and decimals differently) equal within 1e-9 relative; returns the differences by path, [] when equal.
export function diff(actual: unknown, expected: unknown, at = '$'): string[] {
  const num = (v: unknown) => (typeof v === 'string' && /^-?\d+(\.\d+)?(e-?\d+)?$/.test(v) ? Number(v) : v);
  const a = num(actual);
  const e = num(expected);
  if (typeof e === 'number' && typeof a === 'number') {
    return Math.abs(a - e) <= 1e-9 * Math.max(1, Math.abs(e)) ? [] : [`${at}: ${a} != ${e}`];
  }
  if (Array.isArray(e) && Array.isArray(a)) {
    if (a.length !== e.length) return [`${at}: length ${a.length} != ${e.length} (${JSON.stringify(a)} vs ${JSON.stringify(e)})`];
    return e.flatMap((x, i) => diff(a[i], x, `${at}[${i}]`));
  }
  if (e && typeof e === 'object' && a && typeof a === 'object' && !Array.isArray(a) && !Array.isArray(e)) {
    const ar = a as Record<string, unknown>;
    const er = e as Record<string, unknown>;
    const keys = new Set([...Object.keys(ar), ...Object.keys(er)]);
    return [...keys].flatMap((k) => (k in er ? (k in ar ? diff(ar[k], er[k], `${at}.${k}`) : [`${at}.${k}: missing`]) : [`${at}.${k}: unexpected`]));
  }
  return a === e ? [] : [`${at}: ${JSON.stringify(a)} != ${JSON.stringify(e)}`];
}
