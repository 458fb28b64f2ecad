-- v_fb_weekly_features — grain: ad × delivered week (Monday `week_start`). For each metric of
-- int_fb_weekly_series (spend, impressions, reach, frequency, clicks, ctr, link_ctr, cpm, cpc, results, cpr,
-- and the three rankings as ordinal scores: ABOVE_AVERAGE 5, AVERAGE 4, BELOW_AVERAGE_35 3,
-- BELOW_AVERAGE_20 2, BELOW_AVERAGE_10 1, else NULL):
--   <m>            this week's value (Float64; NULL where undefined: cpc without clicks, cpr without results)
--   <m>_baseline   median of the metric over the previous up-to-4 delivered weeks with enough results
--   <m>_delta_pct  (value - baseline) / baseline * 100; NULL without a positive baseline
--   <m>_lag1/_lag2 the value one and two delivered weeks back (not calendar weeks: no week is invented)
--   <m>_slope      least-squares slope per week over the last up-to-4 delivered weeks (README.md)
-- min_results / enough_results: the family's weekly minimum (dim_settings) and whether this week meets it;
-- baseline_weeks: how many earlier qualifying weeks the baselines use (0–4).
CREATE VIEW v_fb_weekly_features AS
SELECT
    'facebook' AS platform, account_id, campaign_id, campaign_name, adset_id, adset_name, ad_id, ad_name,
    week_start, currency, result_family, min_results, enough_results, baseline_weeks,
    lag1_week_start, lag2_week_start, quality_ranking, engagement_rate_ranking, conversion_rate_ranking,
    spend, spend_base0 AS spend_baseline, if(ifNull(spend_base0, 0) > 0, (spend - spend_base0) / spend_base0 * 100, NULL) AS spend_delta_pct, spend_lag1, spend_lag2, spend_slope,
    impressions, impressions_base0 AS impressions_baseline, if(ifNull(impressions_base0, 0) > 0, (impressions - impressions_base0) / impressions_base0 * 100, NULL) AS impressions_delta_pct, impressions_lag1, impressions_lag2, impressions_slope,
    reach, reach_base0 AS reach_baseline, if(ifNull(reach_base0, 0) > 0, (reach - reach_base0) / reach_base0 * 100, NULL) AS reach_delta_pct, reach_lag1, reach_lag2, reach_slope,
    frequency, frequency_base0 AS frequency_baseline, if(ifNull(frequency_base0, 0) > 0, (frequency - frequency_base0) / frequency_base0 * 100, NULL) AS frequency_delta_pct, frequency_lag1, frequency_lag2, frequency_slope,
    clicks, clicks_base0 AS clicks_baseline, if(ifNull(clicks_base0, 0) > 0, (clicks - clicks_base0) / clicks_base0 * 100, NULL) AS clicks_delta_pct, clicks_lag1, clicks_lag2, clicks_slope,
    ctr, ctr_base0 AS ctr_baseline, if(ifNull(ctr_base0, 0) > 0, (ctr - ctr_base0) / ctr_base0 * 100, NULL) AS ctr_delta_pct, ctr_lag1, ctr_lag2, ctr_slope,
    link_ctr, link_ctr_base0 AS link_ctr_baseline, if(ifNull(link_ctr_base0, 0) > 0, (link_ctr - link_ctr_base0) / link_ctr_base0 * 100, NULL) AS link_ctr_delta_pct, link_ctr_lag1, link_ctr_lag2, link_ctr_slope,
    cpm, cpm_base0 AS cpm_baseline, if(ifNull(cpm_base0, 0) > 0, (cpm - cpm_base0) / cpm_base0 * 100, NULL) AS cpm_delta_pct, cpm_lag1, cpm_lag2, cpm_slope,
    cpc, cpc_base0 AS cpc_baseline, if(ifNull(cpc_base0, 0) > 0, (cpc - cpc_base0) / cpc_base0 * 100, NULL) AS cpc_delta_pct, cpc_lag1, cpc_lag2, cpc_slope,
    results, results_base0 AS results_baseline, if(ifNull(results_base0, 0) > 0, (results - results_base0) / results_base0 * 100, NULL) AS results_delta_pct, results_lag1, results_lag2, results_slope,
    cpr, cpr_base0 AS cpr_baseline, if(ifNull(cpr_base0, 0) > 0, (cpr - cpr_base0) / cpr_base0 * 100, NULL) AS cpr_delta_pct, cpr_lag1, cpr_lag2, cpr_slope,
    quality_score, quality_score_base0 AS quality_score_baseline, if(ifNull(quality_score_base0, 0) > 0, (quality_score - quality_score_base0) / quality_score_base0 * 100, NULL) AS quality_score_delta_pct, quality_score_lag1, quality_score_lag2, quality_score_slope,
    engagement_score, engagement_score_base0 AS engagement_score_baseline, if(ifNull(engagement_score_base0, 0) > 0, (engagement_score - engagement_score_base0) / engagement_score_base0 * 100, NULL) AS engagement_score_delta_pct, engagement_score_lag1, engagement_score_lag2, engagement_score_slope,
    conversion_score, conversion_score_base0 AS conversion_score_baseline, if(ifNull(conversion_score_base0, 0) > 0, (conversion_score - conversion_score_base0) / conversion_score_base0 * 100, NULL) AS conversion_score_delta_pct, conversion_score_lag1, conversion_score_lag2, conversion_score_slope
FROM int_fb_weekly_series;
