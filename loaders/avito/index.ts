// Avito (api.avito.ru): items, daily item statistics, wallet operations and daily spend, balance
// snapshots, Messenger chats and messages, for every configured profile.
// Upstream surprises and how each is handled: BEHAVIOR.md next to this file.
import path from 'node:path';
import { readStateFile, safeFileName, writeStateFile } from '../../src/runtime/state-file.js';
import { z } from 'zod';
import { envJson, envUrl } from '../../src/config/env.js';
import { defineLoader, type LoaderContext } from '../../src/runtime/contract.js';
import { addDays } from '../../src/runtime/dates.js';
import { AdhouseError } from '../../src/runtime/errors.js';
import type { TableSink } from '../../src/runtime/sink.js';
import {
  createAvitoApi,
  MessengerForbidden,
  OPERATIONS_MAX_DAYS,
  STATS_HISTORY_DAYS,
  STATS_MAX_IDS,
  type AvitoApi,
  type AvitoProfile,
} from './api.js';
import { createTokenStore, type TokenStore } from './token-store.js';
import {
  assignOperationIds,
  balanceRow,
  chatRow,
  dailySpend,
  isEmptyItemDay,
  isEmptySpend,
  itemRow,
  messageRow,
  moscowDay,
  operationWindows,
  parseAvitoTime,
  parseOperation,
  statsBatches,
  statsToRows,
  type ParsedChat,
  type ParsedOperation,
} from './transform.js';

const profileSchema = z
  .object({
    name: z.string().min(1),
    client_id: z.string().min(1),
    client_secret: z.string().min(1),
    client: z.string().min(1).optional(),
  })
  .strict();

const config = z.object({
  AVITO_API_URL: envUrl.default('https://api.avito.ru'),
  /** [{"name":"<label>","client_id":"..","client_secret":"..","client"?:"<tenant>"}] */
  AVITO_PROFILES: envJson(
    z
      .array(profileSchema, { message: 'expected a JSON array of {name, client_id, client_secret, client?}' })
      .min(1, { message: 'expected at least one profile' })
      .refine((a) => new Set(a.map((x) => x.name)).size === a.length, { message: 'profile names must be unique' }),
  ),
});

type Config = z.infer<typeof config>;
type Ctx = LoaderContext<Config>;

export const TABLES = {
  items: 'stg_avito_items',
  itemsDaily: 'fact_avito_items_daily',
  operations: 'stg_avito_operations',
  spendDaily: 'fact_avito_spend_daily',
  balance: 'fact_avito_balance',
  chats: 'stg_avito_chats',
  messages: 'stg_avito_messages',
} as const;

export default defineLoader({
  name: 'avito',
  description: 'Avito: items, daily item statistics, spend, balance, Messenger chats and messages',
  schedule: '0 * * * *',
  enabledByDefault: true,
  lookbackDays: 7,
  includeToday: true,
  initialDays: 30,
  // Items are limited to 25 requests/min; the rest publish no limit. A profile needs one items page per 100
  // items, so 3 rps rarely meets the limit; when it does, the 429 waits a minute (BEHAVIOR.md).
  rateLimit: { requestsPerSecond: 3, concurrency: 2 },
  config,
  async run(ctx) {
    const profiles = ctx.config.AVITO_PROFILES.filter((p) => !ctx.account || p.name === ctx.account);
    if (profiles.length === 0) {
      throw new AdhouseError('config', `AVITO_PROFILES has no profile "${ctx.account}" (known: ${ctx.config.AVITO_PROFILES.map((p) => p.name).join(', ')})`);
    }
    const tokens = createTokenStore({ dir: ctx.stateDir, apiUrl: ctx.config.AVITO_API_URL, http: ctx.http, log: ctx.log });
    const refused: string[] = [];
    for (const profile of profiles) {
      if (ctx.signal.aborted) throw new AdhouseError('aborted', 'aborted');
      try {
        await loadProfile(ctx, tokens, profile);
      } catch (err) {
        // One profile's bad credentials must not cost the others their load: note it, go on, fail at the end.
        if (!(err instanceof AdhouseError) || err.code !== 'token_invalid') throw err;
        ctx.log.error({ profile: profile.name, err }, `avito ${profile.name}: ${err.message}`);
        refused.push(`${profile.name} (${err.message})`);
        for (const sink of Object.values(TABLES)) await ctx.sink(sink).flush();
      }
    }
    if (refused.length > 0) {
      throw new AdhouseError('token_invalid', `Avito credentials refused for profile${refused.length > 1 ? 's' : ''} ${refused.join('; ')}; the other profiles were loaded`);
    }
  },
});

interface Sinks {
  items: TableSink;
  itemsDaily: TableSink;
  operations: TableSink;
  spendDaily: TableSink;
  balance: TableSink;
  chats: TableSink;
  messages: TableSink;
}

function sinks(ctx: Ctx): Sinks {
  return {
    items: ctx.sink(TABLES.items, { hash: true }),
    itemsDaily: ctx.sink(TABLES.itemsDaily, { skipUnchanged: { key: ['profile', 'item_id', 'date'], dateColumn: 'date' }, isEmpty: isEmptyItemDay }),
    operations: ctx.sink(TABLES.operations, { skipUnchanged: { key: ['profile', 'operation_id'], dateColumn: 'date' } }),
    spendDaily: ctx.sink(TABLES.spendDaily, { skipUnchanged: { key: ['profile', 'date'], dateColumn: 'date' }, isEmpty: isEmptySpend }),
    balance: ctx.sink(TABLES.balance),
    chats: ctx.sink(TABLES.chats),
    messages: ctx.sink(TABLES.messages),
  };
}

async function resolveUserId(tokens: TokenStore, api: AvitoApi, profile: AvitoProfile): Promise<number> {
  const cached = await tokens.readAccount(profile);
  if (cached) return cached.user_id;
  const self = await api.self();
  await tokens.writeAccount(profile, { user_id: self.id, name: self.name ?? undefined, resolved_at: Date.now() });
  return self.id;
}

async function loadProfile(ctx: Ctx, tokens: TokenStore, profile: AvitoProfile): Promise<void> {
  const api = createAvitoApi({ http: ctx.http, baseUrl: ctx.config.AVITO_API_URL, tokens, profile, log: ctx.log });
  const s = sinks(ctx);
  const userId = await resolveUserId(tokens, api, profile);

  // One balance snapshot per run.
  const balance = await api.balance(userId);
  ctx.rowsRead(1);
  await s.balance.write({ ...balanceRow(profile.name, Date.now(), balance) });

  const itemIds = await loadItems(ctx, api, profile, s);
  await loadItemStats(ctx, api, profile, userId, itemIds, s);
  await loadSpend(ctx, api, profile, s);
  await loadMessenger(ctx, api, profile, userId, s);
  for (const sink of Object.values(s)) await sink.flush();
  if (api.tokenRenewals > 0) ctx.log.info({ profile: profile.name, renewals: api.tokenRenewals }, `avito ${profile.name}: ${api.tokenRenewals} request(s) replayed with a new token`);
}

async function loadItems(ctx: Ctx, api: AvitoApi, profile: AvitoProfile, s: Sinks): Promise<number[]> {
  const ids = new Set<number>();
  ctx.progress.start(`${profile.name} items`, 0);
  for await (const page of api.items()) {
    ctx.rowsRead(page.length);
    for (const raw of page) {
      const item = itemRow(profile.name, profile.client ?? '', raw);
      if (!item.ok) {
        await ctx.quarantine.add({ table: TABLES.items, reason: item.reason, payload: raw, key: `${profile.name}|${rawId(raw)}` });
      } else if (ids.has(item.value.item_id)) {
        s.items.skip(); // paging moved under us and repeated an item
      } else {
        ids.add(item.value.item_id);
        await s.items.write({ ...item.value });
      }
    }
    ctx.progress.tick();
  }
  ctx.progress.done();
  if (ids.size === 0) ctx.log.warn({ profile: profile.name }, `avito ${profile.name}: no items at all (an employee token sees none)`);
  return [...ids].sort((a, b) => a - b);
}

async function loadItemStats(ctx: Ctx, api: AvitoApi, profile: AvitoProfile, userId: number, itemIds: number[], s: Sinks): Promise<void> {
  const today = moscowDay(Date.now());
  // History reaches back 270 days; one day of margin for the hour the request takes to cross midnight.
  const earliest = addDays(today, -(STATS_HISTORY_DAYS - 1));
  const since = ctx.window.since < earliest ? earliest : ctx.window.since;
  const until = ctx.window.until;
  if (since !== ctx.window.since) ctx.log.warn({ profile: profile.name, since: ctx.window.since, earliest }, `Avito item statistics reach back ${STATS_HISTORY_DAYS} days: days before ${earliest} are not loaded`);
  if (since > until || itemIds.length === 0) return;
  const requested = new Set(itemIds);
  // (item, day) pairs Avito still reports but that failed validation: their last good version stays.
  const rejectedKeys = new Set<string>();
  const batches = statsBatches(itemIds, STATS_MAX_IDS);
  ctx.progress.start(`${profile.name} statistics`, batches.length);
  for (const ids of batches) {
    const items = await api.itemStats(userId, ids, since, until);
    const result = statsToRows(profile.name, requested, since, until, items);
    ctx.rowsRead(result.read);
    for (const row of result.rows) await s.itemsDaily.write({ ...row });
    for (const bad of result.rejected) {
      rejectedKeys.add(bad.key);
      await ctx.quarantine.add({ table: TABLES.itemsDaily, reason: bad.reason, payload: bad.payload, key: bad.key });
    }
    if (result.duplicates > 0) s.itemsDaily.skip(result.duplicates);
    ctx.progress.tick();
  }
  ctx.progress.done();
  // A stored (item, day) that Avito no longer reports has gone to zero: tombstone it. Not one that came
  // back malformed (rejected keys are `profile|item|day`; `profile|item|-` covers an item's whole list).
  await s.itemsDaily.deleteUnseen(
    (k) =>
      k.profile === profile.name &&
      requested.has(Number(k.item_id)) &&
      k.date! >= since &&
      k.date! <= until &&
      !rejectedKeys.has(`${profile.name}|${k.item_id}|${k.date}`) &&
      !rejectedKeys.has(`${profile.name}|${k.item_id}|-`),
  );
}

async function loadSpend(ctx: Ctx, api: AvitoApi, profile: AvitoProfile, s: Sinks): Promise<void> {
  const { since, until } = ctx.window;
  const windows = operationWindows(since, until, OPERATIONS_MAX_DAYS);
  const ops: ParsedOperation[] = [];
  // Days of operations that failed validation ("unknown" when the day itself is unreadable).
  const badDays = new Set<string>();
  ctx.progress.start(`${profile.name} operations`, windows.length);
  for (const w of windows) {
    const raws = await api.operations(w.fromIso, w.toIso);
    ctx.rowsRead(raws.length);
    for (const raw of raws) {
      const op = parseOperation(profile.name, raw);
      if (!op.ok) {
        badDays.add(operationDay(raw) ?? 'unknown');
        await ctx.quarantine.add({ table: TABLES.operations, reason: op.reason, payload: raw });
      } else if (op.value.row.date < w.from || op.value.row.date > w.to) {
        // Outside this window's days (a boundary instant, or Avito filtering by another timestamp):
        // the window that owns the day keeps it, so it is never counted twice.
        s.operations.skip();
      } else {
        ops.push(op.value);
      }
    }
    ctx.progress.tick();
  }
  ctx.progress.done();
  assignOperationIds(ops);
  for (const op of ops) await s.operations.write({ ...op.row });
  // A quarantined operation may be the malformed re-send of a stored one, and operation keys carry no
  // day: with any operation quarantined, nothing is tombstoned this run (the stored raw rows stay).
  if (badDays.size === 0) await s.operations.deleteUnseen((k) => k.profile === profile.name);
  else ctx.log.warn({ profile: profile.name, days: [...badDays] }, `avito ${profile.name}: malformed operations are quarantined and left out of those days' spend until Avito sends them whole`);
  // Daily spend is derived from the operations above; its rows count as read where they are made, so the
  // run's read = written + quarantined + skipped still holds.
  const days = dailySpend(profile.name, ops, since, until);
  ctx.rowsRead(days.length);
  for (const day of days) await s.spendDaily.write({ ...day });
}

interface ChatCursor {
  /** The largest `updated` (unix s) loaded so far. */
  updated: number;
  /** Chats with exactly that `updated`, so a same-second change is neither lost nor refetched. */
  ids: string[];
}

const cursorFile = (stateDir: string, profileName: string) => path.join(stateDir, `chats-cursor-${safeFileName(profileName)}.json`);

export async function readChatCursor(stateDir: string, profileName: string): Promise<ChatCursor | null> {
  const c = await readStateFile<ChatCursor>(cursorFile(stateDir, profileName));
  return c && typeof c.updated === 'number' && Array.isArray(c.ids) ? c : null;
}

async function writeChatCursor(ctx: Ctx, profile: AvitoProfile, cursor: ChatCursor): Promise<void> {
  await writeStateFile(cursorFile(ctx.stateDir, profile.name), cursor);
}

/**
 * Incremental Messenger load: only chats updated since the last run (cursor file per profile), all their
 * messages. A window-explicit run reloads the chats updated within the window and leaves the cursor alone.
 */
async function loadMessenger(ctx: Ctx, api: AvitoApi, profile: AvitoProfile, userId: number, s: Sinks): Promise<void> {
  const windowStart = Math.floor((parseAvitoTime(`${ctx.window.since}T00:00:00+03:00`) ?? 0) / 1000);
  const windowEnd = Math.floor((parseAvitoTime(`${addDays(ctx.window.until, 1)}T00:00:00+03:00`) ?? 0) / 1000);
  const cursor = ctx.window.explicit ? null : await readChatCursor(ctx.stateDir, profile.name);
  const lower = cursor ? cursor.updated : windowStart;
  const wanted = (c: ParsedChat): boolean => {
    if (ctx.window.explicit) return c.updated >= windowStart && c.updated < windowEnd;
    if (cursor) return c.updated > cursor.updated || (c.updated === cursor.updated && !cursor.ids.includes(c.row.chat_id));
    return c.updated >= windowStart;
  };

  const selected: ParsedChat[] = [];
  let ordered = true;
  let previous = Number.POSITIVE_INFINITY;
  try {
    for await (const page of api.chats(userId)) {
      ctx.rowsRead(page.length);
      let oldest = Number.POSITIVE_INFINITY;
      for (const raw of page) {
        const chat = chatRow(profile.name, userId, raw);
        if (!chat.ok) {
          await ctx.quarantine.add({ table: TABLES.chats, reason: chat.reason, payload: raw, key: `${profile.name}|${rawId(raw)}` });
          continue;
        }
        if (chat.value.updated > previous) ordered = false;
        previous = chat.value.updated;
        oldest = Math.min(oldest, chat.value.updated);
        if (wanted(chat.value)) selected.push(chat.value);
        else s.chats.skip();
      }
      // Chats come most recently updated first: once a page ends below the lower bound, the rest are older.
      // If the order ever breaks, keep paging (up to the offset cap) rather than miss a chat.
      if (ordered && oldest < lower) break;
    }
  } catch (err) {
    if (!(err instanceof MessengerForbidden)) throw err;
    ctx.log.warn({ profile: profile.name }, `avito ${profile.name}: Messenger API not available for this profile's tariff (403); chats skipped`);
    return;
  }

  ctx.progress.start(`${profile.name} chats`, selected.length);
  try {
    for (const chat of selected) {
      await s.chats.write({ ...chat.row });
      for await (const page of api.messages(userId, chat.row.chat_id)) {
        ctx.rowsRead(page.length);
        for (const raw of page) {
          const msg = messageRow(profile.name, chat.row.chat_id, raw);
          if (msg.ok) await s.messages.write({ ...msg.value });
          else await ctx.quarantine.add({ table: TABLES.messages, reason: msg.reason, payload: raw, key: `${profile.name}|${chat.row.chat_id}|${rawId(raw)}` });
        }
      }
      ctx.progress.tick();
    }
  } catch (err) {
    // The messages endpoint refused mid-way (tariff changed): keep what was loaded, leave the cursor.
    if (!(err instanceof MessengerForbidden)) throw err;
    ctx.log.warn({ profile: profile.name }, `avito ${profile.name}: Messenger API refused the messages (403); the chat cursor stays`);
    return;
  } finally {
    ctx.progress.done();
  }

  if (!ctx.window.explicit && selected.length > 0) {
    // The cursor moves only once the rows are in ClickHouse.
    await s.chats.flush();
    await s.messages.flush();
    const max = Math.max(...selected.map((c) => c.updated), cursor?.updated ?? 0);
    const ids = selected.filter((c) => c.updated === max).map((c) => c.row.chat_id);
    await writeChatCursor(ctx, profile, { updated: max, ids: max === cursor?.updated ? [...new Set([...cursor.ids, ...ids])] : ids });
  }
}

/** The day an operation belongs to (as parseOperation dates it), when readable though the rest is not. */
function operationDay(raw: unknown): string | null {
  const o = raw && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  const at = parseAvitoTime(o.paidAt) ?? parseAvitoTime(o.updatedAt);
  return at === null ? null : moscowDay(at);
}

function rawId(raw: unknown): string {
  const id = raw && typeof raw === 'object' ? (raw as { id?: unknown }).id : undefined;
  return id === undefined ? JSON.stringify(raw)?.slice(0, 200) ?? 'unknown' : String(id);
}
