// Processed Gmail messages, in a small JSON file in the source's state dir (mode 0600). The loader has no
// read access to the warehouse, and a message's id is stable, so "seen before" lives here: id -> when the
// message arrived and how many data rows it had (a skipped message still counts its rows read + skipped).
import { readStateFile, writeStateFile } from '../../src/runtime/state-file.js';
import path from 'node:path';
import { z } from 'zod';

export const STATE_FILE = 'processed-messages.json';
/** Entries for messages older than this are dropped: no incremental window reaches back that far. */
export const KEEP_MS = 400 * 86_400_000;

const fileSchema = z.object({ version: z.literal(1), messages: z.record(z.string(), z.object({ at: z.number(), rows: z.number().int().min(0) })) });

export interface ProcessedMessage {
  /** The message's internalDate (ms). */
  at: number;
  /** Data rows read from it (written + quarantined + skipped). */
  rows: number;
}

export interface ProcessedState {
  get(id: string): ProcessedMessage | undefined;
  set(id: string, entry: ProcessedMessage): void;
  readonly size: number;
  /** Atomic write (temp file + rename), mode 0600; entries older than KEEP_MS dropped. */
  save(now?: number): Promise<void>;
}

/** Reads the state; a missing or unreadable file is an empty state (every message is then processed again, which is safe). */
export async function loadProcessed(dir: string): Promise<ProcessedState> {
  const file = path.join(dir, STATE_FILE);
  let messages: Record<string, ProcessedMessage> = {};
  // No file yet, or an unreadable one: start empty.
  const parsed = fileSchema.safeParse(await readStateFile(file));
  if (parsed.success) messages = parsed.data.messages;
  return {
    get: (id) => messages[id],
    set(id, entry) {
      messages[id] = entry;
    },
    get size() {
      return Object.keys(messages).length;
    },
    async save(now = Date.now()) {
      const kept = Object.fromEntries(Object.entries(messages).filter(([, m]) => m.at >= now - KEEP_MS));
      messages = kept;
      await writeStateFile(file, { version: 1, messages: kept });
    },
  };
}
