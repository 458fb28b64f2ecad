import type { Command } from 'commander';
import { SANDBOXES } from '../../loaders/registry.js';
import { faultsFor, type RunningSandbox } from '../runtime/sandbox.js';
import { envPrefix } from '../config/sources.js';
import { say, UsageError } from './common.js';

export interface SandboxSet {
  sandboxes: RunningSandbox[];
  env: Record<string, string>;
  close(): Promise<void>;
}

/** Starts every source's fake API; with a base port, on consecutive ports in registry order. */
export async function startSandboxes(opts: { port?: number; seed: number; faults?: string }): Promise<SandboxSet> {
  const sandboxes: RunningSandbox[] = [];
  let i = 0;
  for (const [source, startOne] of Object.entries(SANDBOXES)) {
    sandboxes.push(await startOne({ port: opts.port ? opts.port + i : 0, seed: opts.seed, faults: faultsFor(source, opts.faults) }));
    i++;
  }
  // The fakes are local: loaders may talk to them much faster than to the real APIs.
  const pace = Object.fromEntries(sandboxes.map((s) => [`${envPrefix(s.source)}_RPS`, '50']));
  const env = Object.assign(pace, ...sandboxes.map((s) => s.env)) as Record<string, string>;
  return { sandboxes, env, close: async () => void (await Promise.all(sandboxes.map((s) => s.close()))) };
}

/** Shell-safe `export NAME='value'` lines. */
export function exportLines(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => `export ${k}='${v.replace(/'/g, `'\\''`)}'`)
    .join('\n');
}

export function registerSandbox(program: Command): void {
  program
    .command('sandbox')
    .description('run every source\'s fake upstream API on local ports with synthetic data; prints the *_API_URL and credential variables that point loaders at it')
    .option('--port <n>', 'first port (one per source, consecutive); default: free ports')
    .option('--seed <n>', 'seed of the synthetic data', '1')
    .option('--faults <spec>', 'comma list of fault names (`name` for every source, `source:name` for one, e.g. rate_limit,5xx,direct:long_queue); see each loader\'s BEHAVIOR.md')
    .action(async (opts: { port?: string; seed: string; faults?: string }) => {
      const port = opts.port === undefined ? undefined : Number(opts.port);
      if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65000)) throw new UsageError(`--port: expected a port number, got ${JSON.stringify(opts.port)}`);
      if (!/^\d+$/.test(opts.seed)) throw new UsageError(`--seed: expected a whole number, got ${JSON.stringify(opts.seed)}`);
      const set = await startSandboxes({ port, seed: Number(opts.seed), faults: opts.faults });
      for (const s of set.sandboxes) say(`${s.source} sandbox at ${s.url}`);
      process.stdout.write(`${exportLines(set.env)}\n`);
      say('sandboxes are running; Ctrl-C to stop');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await set.close();
    });
}
