// Secrets never reach logs, errors, run records or HTTP output. Two nets:
// 1. every configured secret value is registered at start-up and replaced wherever it appears;
// 2. well-known shapes (Bearer headers, token=/secret=/password= pairs, URL credentials) are masked
//    even when the value was never registered (a token minted at run time, say).

const MASK = '***';
const registeredSecrets = new Set<string>();

/** Key names whose values are secrets, in config objects, headers and log fields. */
export const SECRET_KEY = /(token|secret|password|passwd|authorization|api[_-]?key|private[_-]?key|credentials?)$/i;

export function registerSecret(value: string | undefined | null): void {
  // Very short values would mask innocent text ("1", "on"); real secrets are longer.
  if (value && value.length >= 6) registeredSecrets.add(value);
}

/** Registers every string under a secret-looking key, recursively (parsed config sections). */
export function registerSecretsIn(value: unknown, keyHint = ''): void {
  if (typeof value === 'string') {
    if (SECRET_KEY.test(keyHint)) registerSecret(value);
  } else if (Array.isArray(value)) {
    for (const item of value) registerSecretsIn(item, keyHint);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) registerSecretsIn(v, k);
  }
}

const SHAPES: Array<[RegExp, string]> = [
  [/\b(Bearer|OAuth|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${MASK}`],
  // Also inside JSON that was itself put in a string (\"client_secret\":\"...\").
  [/((?:access_token|refresh_token|client_secret|token|password|secret|api_key)\\?["']?\s*[=:]\s*\\?["']?)[^"'&\s,}\\]+/gi, `$1${MASK}`],
  [/(\/\/[^/:@\s]+:)[^@/\s]+@/g, `$1${MASK}@`],
];

export function redactString(text: string): string {
  let out = text;
  for (const secret of registeredSecrets) {
    if (out.includes(secret)) out = out.split(secret).join(MASK);
  }
  for (const [pattern, replacement] of SHAPES) out = out.replace(pattern, replacement);
  return out;
}

/** A deep copy with secret-keyed values masked and every string scrubbed. */
export function redactValue<T>(value: T, keyHint = ''): T {
  if (typeof value === 'string') return (SECRET_KEY.test(keyHint) ? MASK : redactString(value)) as T;
  if (Array.isArray(value)) return value.map((v) => redactValue(v, keyHint)) as T;
  if (value instanceof Error) return redactString(value.message) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactValue(v, k);
    return out as T;
  }
  return value;
}

/** Test hook: forget registered secrets. */
export function clearSecretsForTests(): void {
  registeredSecrets.clear();
}
