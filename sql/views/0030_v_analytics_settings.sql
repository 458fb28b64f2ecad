-- v_analytics_settings — one row: the thresholds of the analytics views (0031–0037), from dim_settings
-- (newest _ver per key wins; defaults in migrations/0012_analytics.sql, and 0013_analytics_maturity.sql). The views read it through scalar
-- subqueries, so an override takes effect on the next query, without `adhouse migrate`.
-- Arrays follow the metric order of v_cpr_anomalies (metric_names): spend, impressions, reach, frequency, clicks, ctr,
-- link_ctr, cpm, cpc, results, cpr, quality_score, engagement_score, conversion_score; and the indicator
-- order of v_fb_burnout_weekly: frequency_delta, frequency_slope, ctr_delta, ctr_slope, cpc_delta,
-- reach_delta, spend_delta.
CREATE VIEW v_analytics_settings AS
SELECT
    anyIf(value, key = 'cpr_spike_ratio') AS cpr_spike_ratio,
    anyIf(value, key = 'min_baseline_weeks') AS min_baseline_weeks,
    anyIf(value, key = 'anomaly_score_scale') AS anomaly_score_scale,
    anyIf(value, key = 'anomaly.maturity_days') AS anomaly_maturity_days,
    anyIf(value, key = 'min_results.default') AS min_results_default,
    arraySort(groupArrayIf((substring(key, 13), value), key LIKE 'min_results.%')) AS min_results_by_family,
    -- the same as two parallel arrays, which int_fb_ad_weeks reads as constants
    arrayMap(f -> f.1, min_results_by_family) AS min_results_families,
    arrayMap(f -> f.2, min_results_by_family) AS min_results_values,
    [
        anyIf(value, key = 'deviation.spend'), anyIf(value, key = 'deviation.impressions'),
        anyIf(value, key = 'deviation.reach'), anyIf(value, key = 'deviation.frequency'),
        anyIf(value, key = 'deviation.clicks'), anyIf(value, key = 'deviation.ctr'),
        anyIf(value, key = 'deviation.link_ctr'), anyIf(value, key = 'deviation.cpm'),
        anyIf(value, key = 'deviation.cpc'), anyIf(value, key = 'deviation.results'),
        anyIf(value, key = 'deviation.cpr'), anyIf(value, key = 'deviation.quality_score'),
        anyIf(value, key = 'deviation.engagement_score'), anyIf(value, key = 'deviation.conversion_score')
    ] AS deviation_thresholds,
    [
        anyIf(value, key = 'burnout.weight.frequency_delta'), anyIf(value, key = 'burnout.weight.frequency_slope'),
        anyIf(value, key = 'burnout.weight.ctr_delta'), anyIf(value, key = 'burnout.weight.ctr_slope'),
        anyIf(value, key = 'burnout.weight.cpc_delta'), anyIf(value, key = 'burnout.weight.reach_delta'),
        anyIf(value, key = 'burnout.weight.spend_delta')
    ] AS burnout_weights,
    [
        anyIf(value, key = 'burnout.full.frequency_delta'), anyIf(value, key = 'burnout.full.frequency_slope'),
        anyIf(value, key = 'burnout.full.ctr_delta'), anyIf(value, key = 'burnout.full.ctr_slope'),
        anyIf(value, key = 'burnout.full.cpc_delta'), anyIf(value, key = 'burnout.full.reach_delta'),
        anyIf(value, key = 'burnout.full.spend_delta')
    ] AS burnout_full_at,
    anyIf(value, key = 'burnout.level.medium') AS burnout_level_medium,
    anyIf(value, key = 'burnout.level.high') AS burnout_level_high,
    anyIf(value, key = 'burnout.level.critical') AS burnout_level_critical
FROM
(
    SELECT key, argMax(value, _ver) AS value
    FROM dim_settings
    GROUP BY key
) AS latest_settings;

-- int_fb_analytics_fingerprint — one row: what v_cpr_anomalies and v_burnout_risk are computed from, as one
-- string: per table (stg_fb_insights_weekly, stg_fb_adsets, dim_settings) the greatest block number of its
-- active parts and its definition's time, and the tables' mutations. Every INSERT takes a new, greater block
-- number (the table's own counter), while a merge keeps the greatest one: so any new row changes the
-- fingerprint, and merges, which do not change FINAL's rows, do not. A stored copy is current only while
-- this is what it was computed from (fb_analytics_store_state.fingerprint).
CREATE VIEW int_fb_analytics_fingerprint AS
SELECT toString((
    (SELECT groupArray((table, max_block))
     FROM
     (
         SELECT table, max(max_block_number) AS max_block
         FROM system.parts
         WHERE database = {{DATABASE}} AND active AND table IN ('dim_settings', 'stg_fb_adsets', 'stg_fb_insights_weekly')
         GROUP BY table
         ORDER BY table
     )),
    (SELECT groupArray((name, metadata_modification_time))
     FROM
     (
         SELECT name, metadata_modification_time
         FROM system.tables
         WHERE database = {{DATABASE}} AND name IN ('dim_settings', 'stg_fb_adsets', 'stg_fb_insights_weekly')
         ORDER BY name
     )),
    (SELECT (count(), max(create_time))
     FROM system.mutations
     WHERE database = {{DATABASE}} AND table IN ('dim_settings', 'stg_fb_adsets', 'stg_fb_insights_weekly'))
)) AS fingerprint;

-- int_fb_analytics_store_gate — one row: stored = 1 when v_cpr_anomalies and v_burnout_risk serve their stored
-- copy: the newest refresh's state (fb_analytics_store_state) has the fingerprint the data has now and the day
-- it is now. The views read it once per query, in the condition on _table that picks which view their Merge
-- table reads (the stored rows or the computing chain); the other view is neither read nor analysed.
CREATE VIEW int_fb_analytics_store_gate AS
SELECT
    newest.1 AS generation,
    toUInt8(generation > 0 AND newest.2 = (SELECT fingerprint FROM int_fb_analytics_fingerprint) AND newest.3 = today()) AS stored
FROM
(
    SELECT argMax((generation, fingerprint, day), generation) AS newest
    FROM fb_analytics_store_state
) AS newest_state;
