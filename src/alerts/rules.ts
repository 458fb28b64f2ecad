// Alert rules from YAML (ALERT_RULES_FILE, or the built-in ops/alerts/default-rules.yaml). A rule's query is
// operator-written configuration, trusted like a migration; values in recipients may be `${ENV_VAR}`
// (a comma-separated value gives several recipients; an unset one gives none).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { Env } from '../config/env.js';
import { ConfigError } from '../runtime/errors.js';
import { templateFields } from './template.js';

export const DEFAULT_RULES_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../ops/alerts/default-rules.yaml');

export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];
export const CHANNELS = ['email', 'telegram'] as const;
export type ChannelName = (typeof CHANNELS)[number];

/** Recipients per channel: e-mail addresses, Telegram chat ids. */
export type Recipients = Record<ChannelName, string[]>;

const DURATION = /^(\d+)\s*(s|m|h|d)$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** '90s', '15m', '4h', '1d' → ms. */
export function parseDuration(text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) throw new TypeError(`expected a duration such as 0s, 15m, 4h or 1d; got ${JSON.stringify(text)}`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  try {
    return parseDuration(String(v).match(/^\d+$/) ? `${v}s` : String(v));
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

const recipientsSchema = z.object({ email: z.array(z.string()).optional(), telegram: z.array(z.union([z.string(), z.number()])).optional() }).strict();

const ruleSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_]*$/, { message: 'expected a snake_case rule name' }),
    description: z.string().optional(),
    /** A SELECT returning one row per firing instance. */
    query: z.string().optional(),
    /** Instead of a query: a built-in source of rows (smoke_checks = the sql/checks that fail). */
    builtin: z.enum(['smoke_checks']).optional(),
    /** With builtin smoke_checks: check files another rule already covers (no second alert for one fault). */
    exclude_checks: z.array(z.string()).default([]),
    /** Tables or views the query needs; when one is missing the rule is skipped, not failed. */
    requires: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/)).default([]),
    severity: z.enum(SEVERITIES),
    labels: z.record(z.string(), z.union([z.string(), z.number()]).transform(String)).default({}),
    dedup_key: z.string().min(1),
    summary: z.string().min(1),
    for: duration.default(0),
    cooldown: duration.optional(),
    repeat: duration.optional(),
    channels: recipientsSchema.optional(),
  })
  .strict()
  .refine((r) => Boolean(r.query) !== Boolean(r.builtin), { message: 'a rule needs exactly one of query or builtin' });

const fileSchema = z
  .object({
    defaults: z.object({ cooldown: duration.default(30 * 60_000), repeat: duration.default(4 * 3_600_000) }).strict().default({ cooldown: 30 * 60_000, repeat: 4 * 3_600_000 }),
    /** Recipients per severity, for rules that name none. */
    routes: z.partialRecord(z.enum(SEVERITIES), recipientsSchema).default({}),
    rules: z.array(ruleSchema).min(1),
  })
  .strict();

export interface AlertRule {
  name: string;
  description?: string;
  query?: string;
  builtin?: 'smoke_checks';
  excludeChecks: string[];
  requires: string[];
  severity: Severity;
  labels: Record<string, string>;
  dedupKey: string;
  summary: string;
  forMs: number;
  /** Least time between a notification and the next firing notice of the same instance (anti-flapping). */
  cooldownMs: number;
  /** While still firing, notify again after this long. */
  repeatMs: number;
  recipients: Recipients;
}

function expand(values: ReadonlyArray<string | number>, env: Env): string[] {
  const out: string[] = [];
  for (const raw of values) {
    const text = String(raw).replace(/\$\{([A-Z0-9_]+)\}/g, (_, name: string) => env[name]?.trim() ?? '');
    for (const v of text.split(',').map((s) => s.trim())) if (v && !out.includes(v)) out.push(v);
  }
  return out;
}

function recipients(spec: z.infer<typeof recipientsSchema> | undefined, env: Env): Recipients {
  return { email: expand(spec?.email ?? [], env), telegram: expand(spec?.telegram ?? [], env) };
}

/** Parses a rules document; a problem becomes one ConfigError naming the file and the rule. */
export function parseRules(text: string, env: Env, where: string): AlertRule[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`ALERT_RULES_FILE: ${where} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const result = fileSchema.safeParse(doc);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const at = issue.path.map((p, i) => (p === 'rules' && typeof issue.path[i + 1] === 'number' ? `rules[${String(issue.path[i + 1])}]` : typeof p === 'number' ? null : String(p))).filter(Boolean).join('.');
    throw new ConfigError(`ALERT_RULES_FILE: ${where}: ${at || '(top level)'}: ${issue.message}`);
  }
  const file = result.data;
  const seen = new Set<string>();
  return file.rules.map((r) => {
    if (seen.has(r.name)) throw new ConfigError(`ALERT_RULES_FILE: ${where}: rule ${r.name} is defined twice`);
    seen.add(r.name);
    for (const t of [r.dedup_key, r.summary]) templateFields(t); // throws on a malformed template
    return {
      name: r.name,
      description: r.description,
      query: r.query?.trim().replace(/;\s*$/, ''),
      builtin: r.builtin,
      excludeChecks: r.exclude_checks,
      requires: r.requires,
      severity: r.severity,
      labels: r.labels,
      dedupKey: r.dedup_key,
      summary: r.summary,
      forMs: r.for,
      cooldownMs: r.cooldown ?? file.defaults.cooldown,
      repeatMs: r.repeat ?? file.defaults.repeat,
      recipients: recipients(r.channels ?? file.routes[r.severity], env),
    };
  });
}

export function loadRules(file: string | undefined, env: Env): AlertRule[] {
  const where = file ?? DEFAULT_RULES_FILE;
  let text: string;
  try {
    text = readFileSync(where, 'utf8');
  } catch (err) {
    throw new ConfigError(`ALERT_RULES_FILE: cannot read ${where} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return parseRules(text, env, where);
}
