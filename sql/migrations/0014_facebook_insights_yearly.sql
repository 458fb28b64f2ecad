-- Facebook daily and weekly insights: partitioned by year instead of by month.
-- A load writes one part per partition its rows touch, and every part costs ClickHouse files and later
-- merges: an account's 12-week window spans four months, so each account's load made four parts per table
-- (the batch sync of 174 accounts: 1,400 parts and 2.9M merged rows for 600k rows). By year it is one part
-- (two across New Year). The tables are small (a row per ad and day or week), far from needing months.
-- The tables are rebuilt under their own names: copy, then swap with one RENAME. Run it with loads stopped
-- (a row written to the old table after the copy would be dropped with it). Re-runnable: a copy that
-- stopped half way is dropped and made again; after a swap, *_monthly holds only the old copy.
DROP TABLE IF EXISTS stg_fb_insights_daily_monthly;
DROP TABLE IF EXISTS stg_fb_insights_daily_by_year;
CREATE TABLE stg_fb_insights_daily_by_year AS stg_fb_insights_daily
ENGINE = ReplacingMergeTree(_ver)
PARTITION BY toYear(date)
ORDER BY (account_id, ad_id, date);
INSERT INTO stg_fb_insights_daily_by_year SELECT * FROM stg_fb_insights_daily;
RENAME TABLE stg_fb_insights_daily TO stg_fb_insights_daily_monthly, stg_fb_insights_daily_by_year TO stg_fb_insights_daily;
DROP TABLE stg_fb_insights_daily_monthly;

DROP TABLE IF EXISTS stg_fb_insights_weekly_monthly;
DROP TABLE IF EXISTS stg_fb_insights_weekly_by_year;
CREATE TABLE stg_fb_insights_weekly_by_year AS stg_fb_insights_weekly
ENGINE = ReplacingMergeTree(_ver)
PARTITION BY toYear(week_start)
ORDER BY (account_id, ad_id, week_start);
INSERT INTO stg_fb_insights_weekly_by_year SELECT * FROM stg_fb_insights_weekly;
RENAME TABLE stg_fb_insights_weekly TO stg_fb_insights_weekly_monthly, stg_fb_insights_weekly_by_year TO stg_fb_insights_weekly;
DROP TABLE stg_fb_insights_weekly_monthly;
