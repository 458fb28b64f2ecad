import type { Command } from 'commander';
import { connect } from '../clickhouse/client.js';
import { assertMigrated } from '../clickhouse/migrate.js';
import { exportAvitoChats } from '../export/avito-chats.js';
import { isDay } from '../runtime/dates.js';
import { ensureClickHouse, say, setup, UsageError } from './common.js';

export function registerExport(program: Command): void {
  const cmd = program.command('export').description('export warehouse data to files');
  cmd
    .command('avito-chats')
    .description('Avito Messenger chats and messages of one profile, from the warehouse, to .xlsx (sheets Chats and Messages) or .csv (the messages)')
    .requiredOption('--profile <name>', 'the profile name from AVITO_PROFILES')
    .requiredOption('--out <file>', 'FILE.xlsx, or FILE.csv for CSV')
    .option('--since <date>', 'only messages from this day on (YYYY-MM-DD, reporting time zone)')
    .action(async (opts: { profile: string; out: string; since?: string }) => {
      if (opts.since !== undefined && !isDay(opts.since)) throw new UsageError(`--since: expected a date YYYY-MM-DD, got ${JSON.stringify(opts.since)}`);
      if (!/\.(xlsx|csv)$/i.test(opts.out)) throw new UsageError(`--out: expected a file name ending in .xlsx or .csv, got ${JSON.stringify(opts.out)}`);
      const s = setup();
      await ensureClickHouse(s);
      const client = connect(s.ch);
      try {
        await assertMigrated(client, s.ch.database);
        const result = await exportAvitoChats(client, { profile: opts.profile, out: opts.out, since: opts.since, timeZone: s.rt.reportingTz });
        if (result.chats === 0) say(`no chats for profile "${opts.profile}" in the warehouse${opts.since ? ` since ${opts.since}` : ''} (is it loaded? adhouse load avito --account ${opts.profile})`);
        say(`wrote ${opts.out} (${result.format}): ${result.chats} chat(s), ${result.messages} message(s)`);
      } finally {
        await client.close();
      }
    });
}
