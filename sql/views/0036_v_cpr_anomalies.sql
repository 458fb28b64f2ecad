-- int_fb_cpr_anomalies_computed (v_cpr_anomalies computed; below) — grain: ad × week with a CPR spike (anomaly_type 'cpr_spike'). A week is a spike when it
-- has matured (week_start + 6 + anomaly.maturity_days < today(): its late conversions have arrived), has
-- enough results for its family, at least min_baseline_weeks baseline weeks, and
--   cpr >= cpr_spike_ratio × baseline cpr                      (defaults 1.20 and 2; dim_settings)
-- with the baseline of int_fb_ad_weeks (median CPR of the previous up-to-4 weeks with enough results).
--   anomaly_score = 1 - exp(-(cpr / baseline - cpr_spike_ratio) / anomaly_score_scale)        in [0, 1)
--       0 at the threshold, grows with the excess over it and saturates (scale 0.5: 1.5× → 0.45, 2× → 0.80)
--   confidence = results / (results + min_results) × baseline_weeks / 4                        in (0, 1)
--       more results than the minimum and a full 4-week baseline both raise it (minimum case 0.5 × 0.5)
--   likely_triggers: (metric, value, delta_pct) of every other metric whose delta_pct that week crosses its
--       deviation threshold in the bad direction (deviation.* in dim_settings: frequency +15, ctr -15,
--       link_ctr -15, cpm +15, spend +30, results -20, each ranking score -20), strongest first
--       (delta_pct / threshold, ties in metric order).
--   preceding_deviations: (week_offset, week_start, [(metric, value, delta_pct)]) for week 0, -1 and -2
--       (previous delivered weeks), each against its own baseline, cpr included, same thresholds and order.
-- platform and account_id lead, so other platforms can feed the same shape later.
CREATE VIEW int_fb_cpr_anomalies_computed AS
SELECT
    'facebook' AS platform, account_id, campaign_id, adset_id, ad_id, ad_name, currency, result_family, week_start,
    'cpr_spike' AS anomaly_type,
    cpr_now AS current_value,
    cpr_base AS baseline_value,
    (cpr_now - cpr_base) / cpr_base * 100 AS delta_pct,
    results_now AS results,
    baseline_weeks,
    1 - exp(-(cpr_now / cpr_base - spike_ratio) / score_scale) AS anomaly_score,
    results_now / (results_now + min_results) * baseline_weeks / 4 AS confidence,
    arrayFilter(z -> z.1 != 'cpr', deviations0) AS likely_triggers,
    arraySlice([
        (toInt8(0), week_start, deviations0),
        (toInt8(-1), assumeNotNull(lag1_week_start), deviations1),
        (toInt8(-2), assumeNotNull(lag2_week_start), deviations2)
    ], 1, least(week_index, 3)) AS preceding_deviations
FROM
(
    SELECT
        *,
        assumeNotNull(cpr) AS cpr_now,
        assumeNotNull(cpr_base0) AS cpr_base,
        assumeNotNull(results) AS results_now,
        assumeNotNull((SELECT cpr_spike_ratio FROM v_analytics_settings)) AS spike_ratio,
        assumeNotNull((SELECT anomaly_score_scale FROM v_analytics_settings)) AS score_scale,
        ['spend', 'impressions', 'reach', 'frequency', 'clicks', 'ctr', 'link_ctr', 'cpm', 'cpc', 'results', 'cpr',
         'quality_score', 'engagement_score', 'conversion_score'] AS metric_names,
        assumeNotNull((SELECT deviation_thresholds FROM v_analytics_settings)) AS thresholds,
        -- (metric, value, delta_pct) crossing the threshold in the bad direction, strongest first. A NULL value
        -- (an UNKNOWN ranking, no clicks) or a baseline that is NULL or not positive is no deviation: its
        -- ratio is 0 and it never enters the list (as v_fb_weekly_features' NULL delta), so value and
        -- delta_pct are never a stand-in 0 (assumeNotNull only reads the entries that pass the filter).
        arrayMap(z -> (z.1, z.2, z.3), arraySort(z -> (-z.4, z.5), arrayFilter(z -> z.4 >= 1,
            arrayMap((n, v, b, t, j) -> (n, assumeNotNull(v), if(isNotNull(v) AND ifNull(b, 0) > 0, (assumeNotNull(v) - assumeNotNull(b)) / assumeNotNull(b) * 100, 0),
                                          if(t != 0 AND isNotNull(v) AND ifNull(b, 0) > 0, (assumeNotNull(v) - assumeNotNull(b)) / assumeNotNull(b) * 100 / t, 0), j),
                metric_names, m_cur, m_base0, thresholds, arrayEnumerate(metric_names))))) AS deviations0,
        arrayMap(z -> (z.1, z.2, z.3), arraySort(z -> (-z.4, z.5), arrayFilter(z -> z.4 >= 1,
            arrayMap((n, v, b, t, j) -> (n, assumeNotNull(v), if(isNotNull(v) AND ifNull(b, 0) > 0, (assumeNotNull(v) - assumeNotNull(b)) / assumeNotNull(b) * 100, 0),
                                          if(t != 0 AND isNotNull(v) AND ifNull(b, 0) > 0, (assumeNotNull(v) - assumeNotNull(b)) / assumeNotNull(b) * 100 / t, 0), j),
                metric_names, m_lag1, m_base1, thresholds, arrayEnumerate(metric_names))))) AS deviations1,
        arrayMap(z -> (z.1, z.2, z.3), arraySort(z -> (-z.4, z.5), arrayFilter(z -> z.4 >= 1,
            arrayMap((n, v, b, t, j) -> (n, assumeNotNull(v), if(isNotNull(v) AND ifNull(b, 0) > 0, (assumeNotNull(v) - assumeNotNull(b)) / assumeNotNull(b) * 100, 0),
                                          if(t != 0 AND isNotNull(v) AND ifNull(b, 0) > 0, (assumeNotNull(v) - assumeNotNull(b)) / assumeNotNull(b) * 100 / t, 0), j),
                metric_names, m_lag2, m_base2, thresholds, arrayEnumerate(metric_names))))) AS deviations2
    FROM
    (
        -- only the spike weeks are computed (int_fb_weekly_spikes): the other weeks never leave the ad's arrays,
        -- m_<x> are the metrics as vectors, in the order of v_analytics_settings.deviation_thresholds
        SELECT
            account_id, ad_id, campaign_id, adset_id, ad_name, currency, week_index, week_start, result_family, min_results,
            baseline_weeks, lag1_week_start, lag2_week_start, cpr, cpr_base0, results,
            m_cur, m_base0, m_lag1, m_base1, m_lag2, m_base2
        FROM int_fb_weekly_spikes
        -- matured weeks only: conversions arrive days after the click, so the running week and the week just
        -- ended show too few results and a CPR too high (anomaly.maturity_days, dim_settings, default 7)
        WHERE week_start + 6 + toUInt16(assumeNotNull((SELECT anomaly_maturity_days FROM v_analytics_settings))) < today()
    ) AS spike_rows
) AS spikes;

-- int_fb_anomaly_rows_computed / int_fb_anomaly_rows_stored — the same rows in fb_anomaly_store's shape
-- (likely_triggers and preceding_deviations as parallel arrays, as in fb_anomaly_history): computed now, or
-- the newest stored generation (a refresh writes the generation's rows before its state row). A refresh
-- stores the first; int_fb_anomaly_rows reads one of the two.
CREATE VIEW int_fb_anomaly_rows_computed AS
SELECT
    platform, account_id, campaign_id, adset_id, ad_id, ad_name, currency, result_family, week_start, anomaly_type,
    current_value, baseline_value, delta_pct, results, baseline_weeks, anomaly_score, confidence,
    arrayMap(z -> z.1, likely_triggers) AS trigger_metrics,
    arrayMap(z -> z.2, likely_triggers) AS trigger_values,
    arrayMap(z -> z.3, likely_triggers) AS trigger_deltas_pct,
    arrayMap(w -> w.1, preceding_deviations) AS deviation_week_offsets,
    arrayMap(w -> w.2, preceding_deviations) AS deviation_weeks,
    arrayMap(w -> arrayMap(z -> z.1, w.3), preceding_deviations) AS deviation_metrics,
    arrayMap(w -> arrayMap(z -> z.2, w.3), preceding_deviations) AS deviation_values,
    arrayMap(w -> arrayMap(z -> z.3, w.3), preceding_deviations) AS deviation_deltas_pct
FROM int_fb_cpr_anomalies_computed;

CREATE VIEW int_fb_anomaly_rows_stored AS
SELECT
    platform, account_id, campaign_id, adset_id, ad_id, ad_name, currency, result_family, week_start, anomaly_type,
    current_value, baseline_value, delta_pct, results, baseline_weeks, anomaly_score, confidence,
    trigger_metrics, trigger_values, trigger_deltas_pct, deviation_week_offsets, deviation_weeks, deviation_metrics,
    deviation_values, deviation_deltas_pct
FROM fb_anomaly_store
WHERE generation = (SELECT max(generation) FROM fb_analytics_store_state);

-- int_fb_anomaly_rows — a Merge table over the two views above (it stores nothing). A condition on _table
-- makes ClickHouse read, and even analyse, only the views it selects, on 18.16 as on current releases. Its
-- columns are fb_anomaly_store's; the views have all but generation, which no query asks of it.
CREATE TABLE int_fb_anomaly_rows AS fb_anomaly_store
ENGINE = Merge({{DATABASE}}, '^int_fb_anomaly_rows_(computed|stored)$');

-- v_cpr_anomalies — the CPR spikes (int_fb_cpr_anomalies_computed's rows), served from the stored copy while
-- int_fb_analytics_store_gate says it is current, else computed. The gate is read once, so a read takes one
-- or the other, never both or neither; exact either way (sql/views/README.md "Stored copy").
CREATE VIEW v_cpr_anomalies AS
SELECT
    platform, account_id, campaign_id, adset_id, ad_id, ad_name, currency, result_family, week_start, anomaly_type,
    current_value, baseline_value, delta_pct, results, baseline_weeks, anomaly_score, confidence,
    arrayMap((m, v, d) -> (m, v, d), trigger_metrics, trigger_values, trigger_deltas_pct) AS likely_triggers,
    arrayMap((o, w, ms, vs, ds) -> (o, w, arrayMap((m, v, d) -> (m, v, d), ms, vs, ds)),
        deviation_week_offsets, deviation_weeks, deviation_metrics, deviation_values, deviation_deltas_pct) AS preceding_deviations
FROM int_fb_anomaly_rows
WHERE _table = (SELECT if(stored = 1, 'int_fb_anomaly_rows_stored', 'int_fb_anomaly_rows_computed') FROM int_fb_analytics_store_gate);
