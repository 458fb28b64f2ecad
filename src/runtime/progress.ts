// Progress on long work: a bar on a TTY (cli-progress), a log line every few seconds elsewhere.
import cliProgress from 'cli-progress';
import type { Logger } from './logger.js';

export interface Progress {
  /** Begin a phase with a known total of units (requests, days, ids). */
  start(label: string, total: number): void;
  tick(n?: number): void;
  done(): void;
}

export const silentProgress: Progress = { start() {}, tick() {}, done() {} };

export function createProgress(source: string, log: Logger, tty = Boolean(process.stderr.isTTY)): Progress {
  if (tty) {
    const bar = new cliProgress.SingleBar(
      { format: `${source} {label} [{bar}] {value}/{total} {percentage}% eta {eta_formatted}`, stream: process.stderr, hideCursor: true, clearOnComplete: true },
      cliProgress.Presets.shades_classic,
    );
    let active = false;
    return {
      start(label, total) {
        if (active) bar.stop();
        bar.start(Math.max(total, 1), 0, { label });
        active = true;
      },
      tick(n = 1) {
        if (active) bar.increment(n);
      },
      done() {
        if (active) bar.stop();
        active = false;
      },
    };
  }
  let label = '';
  let total = 0;
  let value = 0;
  let lastLog = 0;
  return {
    start(l, t) {
      label = l;
      total = t;
      value = 0;
      lastLog = Date.now();
    },
    tick(n = 1) {
      value += n;
      if (Date.now() - lastLog >= 5000) {
        lastLog = Date.now();
        log.info({ source, phase: label, done: value, total }, `${source} ${label}: ${value}/${total}`);
      }
    },
    done() {},
  };
}
