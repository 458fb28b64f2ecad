// The Telegram and e-mail renderings of a digest built on fixture rows, compared byte for byte with
// test/golden/reports/* (UPDATE_GOLDEN=1 rewrites them); long reports split under Telegram's limit.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReport, type Report } from '../src/reports/build.js';
import { emailSubject, fixed, renderEmailHtml, renderTelegramReport, renderText } from '../src/reports/render.js';
import { visibleText } from './support/fake-telegram.js';
import { freshWarehouse, type Warehouse } from './support/warehouse.js';
import { definition, insertFixture, PERIOD } from './golden/reports/fixture.js';

const GOLDEN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'golden/reports');

function golden(name: string, actual: string): void {
  const file = path.join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, actual);
  expect(existsSync(file), `${name} missing: run with UPDATE_GOLDEN=1`).toBe(true);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}

describe('report rendering', () => {
  let wh: Warehouse;
  let report: Report;
  beforeAll(async () => {
    wh = await freshWarehouse();
    await insertFixture(wh);
    report = await buildReport(wh.client, definition(), { period: PERIOD });
  });
  afterAll(async () => {
    await wh?.drop();
  });

  it('Telegram HTML matches the golden file and is valid for the Bot API', () => {
    const chunks = renderTelegramReport(report);
    expect(chunks).toHaveLength(1);
    golden('daily.telegram.html', `${chunks[0]}\n`);
    expect(visibleText(chunks[0]!)).toContain('Spring <Promo> & Co');
  });

  it('the e-mail HTML and its plain-text twin match the golden files', () => {
    expect(emailSubject(report)).toBe('Daily digest · 2026-03-02');
    golden('daily.email.html', renderEmailHtml(report));
    golden('daily.email.txt', renderText(report));
  });

  it('a long report is split at line boundaries under 4,096 visible characters', () => {
    const many: Report = {
      ...report,
      topCampaigns: Array.from({ length: 150 }, (_, i) => ({ platform: 'direct', accountId: 'acc1', campaignId: String(i), campaignName: `Campaign <${i}> & a fairly long name to fill the message`, spend: 1000 - i, impressions: 1, clicks: 1, results: 1, cpr: 1 })),
    };
    const chunks = renderTelegramReport(many);
    expect(chunks.length).toBeGreaterThan(2);
    for (const c of chunks) {
      const text = visibleText(c);
      expect(text.length).toBeLessThanOrEqual(4096);
      expect(text.startsWith('\n')).toBe(false);
    }
    expect(chunks.map(visibleText).join('\n')).toContain('150. direct · acc1 · Campaign <149>');
  });

  it('numbers are formatted without the locale', () => {
    expect(fixed(1234567.891, 2)).toBe('1 234 567.89');
    expect(fixed(-0.001, 2)).toBe('0.00');
    expect(fixed(-1500, 0)).toBe('-1 500');
  });
});
