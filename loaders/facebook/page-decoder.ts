// Where insights pages are decoded. In a worker thread by default: parsing and typing a 500-row page takes
// tens of ms, and on the thread that makes the API calls it would delay every account's next call (five
// accounts share that thread in a batch sync). 0 threads decodes inline.
import { Piscina } from 'piscina';
import { decodeInsightPage, type DecodedPage, type DecodeTask } from './page-decode.js';

export interface PageDecoder {
  decode(task: DecodeTask): Promise<DecodedPage>;
  /** Starts the thread now (tsx and the modules load in ~0.2 s), so the first page does not wait for it. */
  warm(): void;
}

/** An idle thread ends after this long; the next page starts one again. */
const IDLE_MS = 30_000;
/**
 * The thread's young generation (MB). Its garbage is a page at a time; V8's default lets it grow to tens of
 * MB of resident memory (8 took ~57 MB off the batch bench's peak RSS).
 */
const YOUNG_GENERATION_MB = 8;

/** One pool per thread count for the whole process: every run and account of a batch shares it. */
const pools = new Map<number, Piscina>();

export function pageDecoder(threads: number): PageDecoder {
  if (threads === 0) return { decode: async (task) => decodeInsightPage(task), warm: () => undefined };
  let pool = pools.get(threads);
  if (!pool) {
    pool = new Piscina({ filename: new URL('./page-decode.worker.mjs', import.meta.url).href, minThreads: 0, maxThreads: threads, idleTimeout: IDLE_MS, resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } });
    pools.set(threads, pool);
  }
  const p = pool;
  return {
    // The body's bytes move to the thread (no copy) when they own their buffer, as a response's do.
    decode: (task) => {
      const { buffer, byteOffset, byteLength } = task.body;
      const own = byteOffset === 0 && byteLength === buffer.byteLength && buffer instanceof ArrayBuffer;
      // (Piscina's transferList type is derived from MessagePort's overloads and refuses a plain ArrayBuffer.)
      return p.run(task, own ? ({ transferList: [buffer] } as unknown as Parameters<Piscina['run']>[1]) : {}) as Promise<DecodedPage>;
    },
    // A batch's runs all warm it: only the first, with no thread yet, has anything to start.
    warm: () => {
      if (p.threads.length === 0) void p.run(null).catch(() => undefined);
    },
  };
}
