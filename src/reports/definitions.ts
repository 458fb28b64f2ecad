// Digest report definitions from YAML (REPORTS_FILE, or the built-in ops/reports/default-reports.yaml).
// A schedule is written for people (`daily 09:00`, `every 4 hours`, `weekly on mon,thu 09:30`,
// `monthly on 1 10:00`) and converted here to a node-cron expression. Recipients may be `${ENV_VAR}`
// (comma-separated = several, unset = none), as in the alert rules.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { Env } from '../config/env.js';
import { ConfigError } from '../runtime/errors.js';

export const DEFAULT_REPORTS_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../ops/reports/default-reports.yaml');

export const METRICS = ['spend', 'impressions', 'clicks', 'ctr', 'cpc', 'cpm', 'results', 'cpr', 'revenue', 'tickets', 'roas', 'romi', 'avito_views', 'avito_contacts', 'avito_balance'] as const;
export type Metric = (typeof METRICS)[number];

/** What "the last complete period" means for a report: yesterday, today so far, last Mon–Sun week, last month. */
export const PERIODS = ['day', 'today', 'week', 'month'] as const;
export type PeriodKind = (typeof PERIODS)[number];

export interface ReportDefinition {
  name: string;
  title: string;
  /** node-cron expression (5 fields). */
  cron: string;
  /** The schedule as written. */
  schedule: string;
  period: PeriodKind;
  timezone: string;
  recipients: { email: string[]; telegram: string[] };
  platforms: string[];
  accounts: string[];
  profiles: string[];
  metrics: Metric[];
  topCampaigns: number;
}

const WEEKDAYS: Record<string, number> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };

function hhmm(text: string): { h: number; m: number } {
  const m = /^([01]?\d|2[0-3]):([0-5]\d)$/.exec(text);
  if (!m) throw new TypeError(`expected a time HH:MM; got ${JSON.stringify(text)}`);
  return { h: Number(m[1]), m: Number(m[2]) };
}

/** `daily HH:MM` | `every N hours` | `weekly on mon,fri HH:MM` | `monthly on D HH:MM` → node-cron. */
export function scheduleToCron(schedule: string): string {
  const s = schedule.trim().toLowerCase().replace(/\s+/g, ' ');
  let m = /^daily (\S+)$/.exec(s);
  if (m) {
    const t = hhmm(m[1]!);
    return `${t.m} ${t.h} * * *`;
  }
  m = /^every (\d+) hours?$/.exec(s);
  if (m) {
    const n = Number(m[1]);
    if (n < 1 || n > 24) throw new TypeError(`every N hours: N must be 1 to 24; got ${n}`);
    return n === 24 ? '0 0 * * *' : n === 1 ? '0 * * * *' : `0 */${n} * * *`;
  }
  m = /^weekly on ([a-z, ]+?) (\S+)$/.exec(s);
  if (m) {
    const days = m[1]!.split(/[ ,]+/).filter(Boolean).map((d) => {
      const n = WEEKDAYS[d.slice(0, 3)];
      if (n === undefined || !('monday tuesday wednesday thursday friday saturday sunday'.split(' ').some((full) => full.startsWith(d)))) throw new TypeError(`unknown weekday ${JSON.stringify(d)} (mon, tue, wed, thu, fri, sat, sun)`);
      return n;
    });
    const t = hhmm(m[2]!);
    return `${t.m} ${t.h} * * ${[...new Set(days)].sort((a, b) => a - b).join(',')}`;
  }
  m = /^monthly on (\d+) (\S+)$/.exec(s);
  if (m) {
    const day = Number(m[1]);
    if (day < 1 || day > 28) throw new TypeError(`monthly on D: D must be 1 to 28 (every month has it); got ${day}`);
    const t = hhmm(m[2]!);
    return `${t.m} ${t.h} ${day} * *`;
  }
  throw new TypeError(`expected "daily HH:MM", "every N hours", "weekly on <weekdays> HH:MM" or "monthly on <day> HH:MM"; got ${JSON.stringify(schedule)}`);
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const list = z.array(z.union([z.string(), z.number()]).transform(String)).default([]);

const reportSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, { message: 'expected a name of lowercase letters, digits, _ or -' }),
    title: z.string().optional(),
    schedule: z.string().transform((v, ctx) => {
      try {
        return { text: v, cron: scheduleToCron(v) };
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
    period: z.enum(PERIODS),
    timezone: z.string().refine(isTimeZone, { message: 'expected an IANA time zone such as Europe/Moscow' }).optional(),
    channels: z.object({ email: list, telegram: list }).strict().default({ email: [], telegram: [] }),
    platforms: list,
    accounts: list,
    profiles: list,
    metrics: z.array(z.enum(METRICS)).min(1).default([...METRICS]),
    top_campaigns: z.number().int().min(0).max(50).default(5),
  })
  .strict();

const fileSchema = z.object({ reports: z.array(reportSchema).min(1) }).strict();

function expand(values: readonly string[], env: Env): string[] {
  const out: string[] = [];
  for (const raw of values) {
    const text = raw.replace(/\$\{([A-Z0-9_]+)\}/g, (_, name: string) => env[name]?.trim() ?? '');
    for (const v of text.split(',').map((s) => s.trim())) if (v && !out.includes(v)) out.push(v);
  }
  return out;
}

/** Parses a reports document; a problem is one ConfigError naming the file and the report. */
export function parseReports(text: string, env: Env, where: string, defaultTz: string): ReportDefinition[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`REPORTS_FILE: ${where} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const result = fileSchema.safeParse(doc);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const at = issue.path.map((p, i) => (p === 'reports' && typeof issue.path[i + 1] === 'number' ? `reports[${String(issue.path[i + 1])}]` : typeof p === 'number' ? null : String(p))).filter(Boolean).join('.');
    throw new ConfigError(`REPORTS_FILE: ${where}: ${at || '(top level)'}: ${issue.message}`);
  }
  const seen = new Set<string>();
  return result.data.reports.map((r) => {
    if (seen.has(r.name)) throw new ConfigError(`REPORTS_FILE: ${where}: report ${r.name} is defined twice`);
    seen.add(r.name);
    return {
      name: r.name,
      title: r.title ?? `Report ${r.name}`,
      cron: r.schedule.cron,
      schedule: r.schedule.text,
      period: r.period,
      timezone: r.timezone ?? defaultTz,
      recipients: { email: expand(r.channels.email, env), telegram: expand(r.channels.telegram, env) },
      platforms: r.platforms,
      accounts: r.accounts,
      profiles: r.profiles,
      metrics: [...new Set(r.metrics)],
      topCampaigns: r.top_campaigns,
    };
  });
}

export function loadReports(file: string | undefined, env: Env, defaultTz: string): ReportDefinition[] {
  const where = file ?? DEFAULT_REPORTS_FILE;
  let text: string;
  try {
    text = readFileSync(where, 'utf8');
  } catch (err) {
    throw new ConfigError(`REPORTS_FILE: cannot read ${where}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseReports(text, env, where, defaultTz);
}
