import type { Command } from 'commander';
import { connect } from '../clickhouse/client.js';
import { assertMigrated } from '../clickhouse/migrate.js';
import { analyticsViewsExist, refreshAnalytics } from '../analytics/refresh.js';
import { AdhouseError } from '../runtime/errors.js';
import { ensureClickHouse, say, setup, UsageError } from './common.js';

const ACCOUNT = /^act_\d+$/;

function collect(value: string, previous: string[]): string[] {
  const ids = value.split(',').map((v) => v.trim()).filter(Boolean);
  for (const id of ids) if (!ACCOUNT.test(id)) throw new UsageError(`--account: expected an ad account id act_<digits>; got ${JSON.stringify(id)}`);
  return [...previous, ...ids];
}

export function registerAnalytics(program: Command): void {
  const analytics = program.command('analytics').description('ad analytics: CPR anomalies and burnout risk (views v_cpr_anomalies, v_burnout_risk)');
  analytics
    .command('refresh')
    .description('record the current CPR anomalies and burnout risks in fb_anomaly_history / fb_burnout_history (only what is not recorded yet)')
    .option('--account <id>', 'only this ad account (act_<n>); repeat or comma-separate for several', collect, [] as string[])
    .action(async (opts: { account: string[] }) => {
      const s = setup();
      await ensureClickHouse(s);
      const client = connect(s.ch);
      try {
        await assertMigrated(client, s.ch.database);
        if (!(await analyticsViewsExist(client))) throw new AdhouseError('config', `database ${s.ch.database} has no analytics views: run \`adhouse migrate\``);
        const t0 = Date.now();
        const r = await refreshAnalytics(client, { accountIds: opts.account });
        const scope = opts.account.length ? ` for ${opts.account.join(', ')}` : '';
        say(`analytics refresh${scope}: ${r.anomalies} new CPR anomal${r.anomalies === 1 ? 'y' : 'ies'}, ${r.burnout} new burnout row(s) in ${Date.now() - t0} ms`);
        process.stdout.write(`${JSON.stringify(r)}\n`);
      } finally {
        await client.close();
      }
    });
}
