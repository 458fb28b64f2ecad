// The per-metric analytics views (sql/views/0031–0034) are written by scripts/gen-analytics-views.ts: the
// files in the tree must be exactly what it writes, so an edit to either shows up here.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generatedViews, METRICS } from '../scripts/gen-analytics-views.js';

const VIEWS = path.resolve(import.meta.dirname, '../sql/views');

describe('generated analytics views', () => {
  const views = Object.entries(generatedViews());

  it.each(views)('%s is up to date with scripts/gen-analytics-views.ts', (name, text) => {
    expect(readFileSync(path.join(VIEWS, name), 'utf8'), `${name}: run node --import tsx scripts/gen-analytics-views.ts`).toBe(text);
  });

  it('every metric is in every per-metric view, none left as a template', () => {
    for (const [name, text] of views) {
      // a quoted Nested column (`actions.type`) is SQL; any other backtick or ${ is a template left over
      expect(text.replace(/`actions\.(type|value)`/g, ''), name).not.toMatch(/\$\{|`/);
      if (name === '0031_int_fb_ad_weeks.sql') continue; // gathers the base values; the metrics are derived from them
      for (const m of METRICS) expect(text, `${name}: ${m}`).toMatch(new RegExp(`\\b${m}_(slope|base0)`));
    }
  });
});
