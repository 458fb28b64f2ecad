// What every loaders/<source>/sandbox.ts exports: a local fake of the upstream API with deterministic
// synthetic data, switchable faults, and the env variables that point the loader at it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SandboxOptions {
  /** 0 or absent: any free port. */
  port?: number;
  /** Synthetic data is a pure function of the seed (and the dates asked for). */
  seed: number;
  /** Fault names this sandbox understands (documented in its BEHAVIOR.md); unknown names are ignored. */
  faults: ReadonlySet<string>;
}

export interface RunningSandbox {
  source: string;
  url: string;
  /** Variables that point the loader at this sandbox, credentials included (fake ones). */
  env: Record<string, string>;
  close(): Promise<void>;
}

export type StartSandbox = (options: SandboxOptions) => Promise<RunningSandbox>;

/**
 * `--faults` spec: comma-separated names; `name` applies to every source, `source:name` to one.
 * `all` switches on every fault of every sandbox.
 */
export function faultsFor(source: string, spec: string | undefined): Set<string> {
  const out = new Set<string>();
  for (const part of (spec ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const [a, b] = part.split(':', 2) as [string, string | undefined];
    if (b === undefined) out.add(a);
    else if (a === source) out.add(b);
  }
  return out;
}

/** Starts a plain node:http server on 127.0.0.1 and returns its base URL. */
export async function listen(handler: http.RequestListener, port = 0): Promise<{ url: string; server: http.Server; close(): Promise<void> }> {
  const server = http.createServer(handler);
  // Keep-alive as real APIs offer it: fetch (undici) reuses a socket only for the server's hint minus 1 s,
  // so a 1 s hint made every request open a new connection (a tenth of the batch bench's client CPU).
  // close() ends idle sockets itself.
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const { port: actual } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${actual}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Reads a request body as text. */
export async function readBody(req: http.IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of req) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

/** A deterministic PRNG (mulberry32) for synthetic data. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A stable 32-bit hash of strings, to derive per-entity seeds (seed, id, date) without shared state. */
export function hashSeed(...parts: Array<string | number>): number {
  let h = 2166136261;
  for (const ch of parts.join('|')) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

/**
 * The synthetic world's events, as `<city>_<dd>_<mm>` (the utm_content convention). Every sandbox draws
 * from this one list: ad sandboxes put it in UTM tags, ticket-sales sandboxes sell tickets for the same
 * city and day, so ROMI in the demo and the tests joins spend and revenue for real.
 */
export const SANDBOX_EVENTS: readonly string[] = [
  'msk_05_12',
  'spb_20_12',
  'kzn_15_01',
  'ekb_28_02',
  'nsk_10_11',
  'nizhny_novgorod_03_03',
  'msk_24_12',
  'spb_14_02',
  'kzn_08_11',
  'ekb_30_11',
];

/** Ground-truth sales per (city, event day), sorted by city then day: what v_romi_kpi's revenue must show. */
export interface CityDayTotal {
  city: string;
  event_date: string;
  tickets: number;
  revenue: number;
}

/** Sums lines (revenue in kopecks, so the sums stay exact) into CityDayTotal rows. */
export function totalsByCityAndDay(lines: Iterable<{ city: string; event_date: string; tickets: number; cents: number }>): CityDayTotal[] {
  const sums = new Map<string, { tickets: number; cents: number }>();
  for (const l of lines) {
    const key = `${l.city}\t${l.event_date}`;
    const s = sums.get(key) ?? { tickets: 0, cents: 0 };
    s.tickets += l.tickets;
    s.cents += l.cents;
    sums.set(key, s);
  }
  return [...sums.entries()]
    .map(([k, s]) => {
      const [city, event_date] = k.split('\t') as [string, string];
      return { city, event_date, tickets: s.tickets, revenue: s.cents / 100 };
    })
    .sort((a, b) => (a.city === b.city ? a.event_date.localeCompare(b.event_date) : a.city.localeCompare(b.city)));
}
