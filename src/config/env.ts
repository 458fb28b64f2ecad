import { existsSync } from 'node:fs';
import { config as loadDotenv } from 'dotenv';
import { z } from 'zod';
import { ConfigError } from '../runtime/errors.js';
import { redactString, registerSecretsIn } from '../runtime/redact.js';

export type Env = Record<string, string | undefined>;

let dotenvLoaded = false;
/** Reads `.env` (and `.env.local`) from the working directory once; real env variables win. */
export function loadDotenvFiles(): void {
  if (dotenvLoaded) return;
  dotenvLoaded = true;
  for (const file of ['.env.local', '.env']) {
    if (existsSync(file)) loadDotenv({ path: file, quiet: true });
  }
}

/**
 * Parses env variables with a zod object whose keys are the variable names. The first problem becomes
 * one ConfigError line naming the variable and what it expects; the CLI turns that into exit code 2.
 * Values under secret-looking names are registered with the redactor.
 */
export function parseEnv<S extends z.ZodObject>(schema: S, env: Env = process.env): z.infer<S> {
  const input: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) {
    const raw = env[key];
    input[key] = raw === undefined || raw.trim() === '' ? undefined : raw.trim();
  }
  const result = schema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const variable = String(issue.path[0] ?? '?');
    const got = input[variable];
    const shown = got === undefined ? 'it is not set' : showValue(variable, got);
    // zod's stock text for a missing value ("Invalid input: expected string, received undefined") says less than "required".
    const expected = got === undefined && /received undefined/.test(issue.message) ? 'required' : issue.message;
    throw new ConfigError(`${variable}: ${expected}; ${shown}`);
  }
  registerSecretsIn(result.data);
  return result.data;
}

/**
 * What a config error may echo of the bad value: short plain values only. JSON (account lists with
 * secrets inside), long values and anything under a secret-looking name are described, not shown.
 */
function showValue(variable: string, value: string): string {
  if (/token|secret|password|key|credential|accounts|json/i.test(variable) || /^[\[{]/.test(value) || value.length > 80) return 'got a value that does not fit (not shown)';
  return `got ${redactString(JSON.stringify(value))}`;
}

// Small typed parsers for env strings, with messages that say what is expected.
export const envInt = (min: number, max: number) =>
  z
    .string()
    .regex(/^-?\d+$/, { message: `expected a whole number from ${min} to ${max}` })
    .transform(Number)
    .pipe(z.number().min(min, { message: `expected a whole number from ${min} to ${max}` }).max(max, { message: `expected a whole number from ${min} to ${max}` }));

export const envPort = envInt(1, 65535);

export const envBool = z
  .string()
  .regex(/^(1|0|true|false|yes|no|on|off)$/i, { message: 'expected true or false' })
  .transform((v) => /^(1|true|yes|on)$/i.test(v));

export const envUrl = z.string().url({ message: 'expected an http(s) URL' }).transform((u) => u.replace(/\/+$/, ''));

export const envDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, { message: 'expected a date YYYY-MM-DD' });

/** A JSON value in an env variable (lists of accounts and the like). */
export function envJson<T extends z.ZodType>(schema: T) {
  return z.string().transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'expected valid JSON' });
      return z.NEVER;
    }
  }).pipe(schema);
}

/** Comma-separated list. */
export const envList = z.string().transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean));
