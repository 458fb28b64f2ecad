// `adhouse alerts check` in a child process against the test ClickHouse: --dry-run prints per channel
// what would be sent and writes nothing; a bad rules file is one line and exit code 2.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utcDateTime } from '../src/runtime/dates.js';
import { runCli } from './support/cli.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';

describe('adhouse alerts check', () => {
  let wh: Warehouse;
  beforeAll(async () => {
    wh = await freshWarehouse();
    const finished = Date.now() - 3 * 86_400_000;
    await wh.client.insert({
      table: 'meta_job_runs',
      values: [{
        run_id: 'd1', source: 'direct', kind: 'load', status: 'success', started_at: utcDateTime(finished - 60_000), finished_at: utcDateTime(finished), heartbeat_at: utcDateTime(finished),
        window_since: '2026-01-01', window_until: '2026-01-02', account: '', rows_read: 1, rows_written: 1, rows_quarantined: 0, rows_skipped: 0, rows_deleted: 0,
        error_class: '', error_message: '', backfill_id: '', host: 'test', pid: 1, _ver: finished,
      }],
      format: 'JSONEachRow',
    });
  });
  afterAll(async () => {
    await wh?.drop();
  });

  it('--dry-run prints what would be sent per channel and writes nothing', async () => {
    const env = { ...wh.env, TELEGRAM_BOT_TOKEN: '111:dry-Run-Token-xyz', TELEGRAM_API_URL: 'http://127.0.0.1:1', ALERT_TELEGRAM_CHAT_ID: '-100777' };
    const r = await runCli(['alerts', 'check', '--dry-run'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ok      source_stale: 1 active, 1 firing');
    expect(r.stdout).toContain('ok      cpr_anomaly: 0 active, 0 firing');
    expect(r.stdout).toContain('telegram → -100777: would send firing source_stale');
    expect(r.stdout).toMatch(/^ {4}• direct: last successful run \d+ min ago \(SLO 1560 min\)$/m);
    expect(r.stdout).not.toContain('dry-Run-Token');
    expect(await wh.query('SELECT count() AS n FROM meta_alerts')).toEqual([{ n: '0' }]);
  });

  it('a bad rules file is one line naming the variable, exit code 2', async () => {
    const file = path.join(wh.dataDir, 'rules.yaml');
    writeFileSync(file, 'rules:\n  - name: x\n    severity: loud\n    query: SELECT 1\n    dedup_key: "{a}"\n    summary: s\n');
    const r = await runCli(['alerts', 'check', '--dry-run'], { ...wh.env, ALERT_RULES_FILE: file });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^adhouse: ALERT_RULES_FILE: .*rules\.yaml: rules\[0\]\.severity: /);
  });
});
