// Runs the real `adhouse` command in a child process (exit codes, stdout/stderr, signals).
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ADHOUSE_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/bin/adhouse.mjs');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Env for the child: only what the test gives plus PATH/HOME, so the developer's .env or shell never leaks in. */
export function childEnv(env: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env };
}

export function startCli(args: string[], env: Record<string, string>, cwd = path.dirname(ADHOUSE_BIN)): ChildProcess {
  return spawn(process.execPath, [ADHOUSE_BIN, ...args], { env: childEnv(env), cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

export async function runCli(args: string[], env: Record<string, string> = {}, cwd?: string): Promise<CliResult> {
  const child = startCli(args, env, cwd);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  return { code, stdout, stderr };
}
