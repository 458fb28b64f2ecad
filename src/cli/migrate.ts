import type { Command } from 'commander';
import { migrate } from '../clickhouse/migrate.js';
import { ensureClickHouse, say, setup } from './common.js';

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('apply pending migrations (sql/migrations, each once, checksummed) and re-create the views; idempotent')
    .action(async () => {
      const s = setup();
      await ensureClickHouse(s);
      const { applied, views } = await migrate(s.ch, { say });
      say(`database ${s.ch.database}: ${applied.length} migration(s) applied, ${views.length} view(s) re-created`);
    });
}
