// Small JSON state files under STATE_DIR (token caches, cursors, processed ids): private (0600, in a 0700
// folder) and written atomically (temp file + rename), so a crash never leaves a torn file behind.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** A name safe to use in a file name, from an id or a label. */
export function safeFileName(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** The parsed file, or null when it is missing or unreadable (callers treat both as "no state yet"). */
export async function readStateFile<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

export async function writeStateFile(file: string, value: unknown): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, JSON.stringify(value), { mode: 0o600 });
  await rename(tmp, file);
}

/** Serialises async sections per key inside this process (lock files cover other processes). */
export function keyedMutex(): <T>(key: string, fn: () => Promise<T>) => Promise<T> {
  const tails = new Map<string, Promise<unknown>>();
  return async function withKey<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = tails.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    tails.set(key, tail);
    try {
      return await run;
    } finally {
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}
