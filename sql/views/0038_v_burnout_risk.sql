-- int_fb_burnout_risk_computed (v_burnout_risk computed; below) — grain: ad: the burnout model of 0035_v_fb_burnout_weekly.sql at the ad's latest complete
-- week (week_start + 7 before today: its Sunday is over in every account, also west of UTC, where it ends
-- up to a day after UTC's; int_fb_burnout_latest, the same model over that week only), for the ads
-- that delivered in their account's latest complete week: an ad that stopped earlier is not burning out any
-- more and drops out (its history stays in fb_burnout_history). Model: sql/views/README.md. The alert rule
-- ad_burnout and the reports read platform, account_id, ad_id, risk_level.
-- The account's latest complete week is the latest of its ads' latest complete weeks (an ad that delivered in
-- it has it as its own latest): the ads of an account are gathered once and those at that week kept, so the
-- model runs once and the insights are not read a second time (through FINAL, which 18.16 runs in one thread).
CREATE VIEW int_fb_burnout_risk_computed AS
SELECT
    ad_row.1 AS platform, account_id, ad_row.2 AS campaign_id, ad_row.3 AS adset_id, ad_row.4 AS ad_id,
    ad_row.5 AS ad_name, ad_row.6 AS currency, ad_row.7 AS week_start, ad_row.8 AS baseline_weeks,
    ad_row.9 AS risk_score, ad_row.10 AS risk_level, ad_row.11 AS top_drivers, ad_row.12 AS predicted_cpr_change_pct,
    ad_row.13 AS frequency_delta_pct, ad_row.14 AS frequency_slope_pct, ad_row.15 AS ctr_delta_pct,
    ad_row.16 AS ctr_slope_pct, ad_row.17 AS cpc_delta_pct, ad_row.18 AS reach_delta_pct,
    ad_row.19 AS spend_delta_pct
FROM
(
    SELECT
        account_id,
        max(week_start) AS latest_week,
        groupArray((platform, campaign_id, adset_id, ad_id, ad_name, currency, week_start, baseline_weeks, risk_score, risk_level, top_drivers, predicted_cpr_change_pct, frequency_delta_pct, frequency_slope_pct, ctr_delta_pct, ctr_slope_pct, cpc_delta_pct, reach_delta_pct, spend_delta_pct)) AS ads
    FROM int_fb_burnout_latest
    GROUP BY account_id
) AS per_account
ARRAY JOIN arrayFilter((a, latest) -> a.7 = latest, ads, arrayResize([latest_week], length(ads), latest_week)) AS ad_row;

-- int_fb_burnout_rows_computed / int_fb_burnout_rows_stored / int_fb_burnout_rows — as the anomaly rows of
-- 0036: fb_burnout_store's shape (top_drivers as parallel arrays), computed now or the newest stored
-- generation, and a Merge table (fb_burnout_store's columns but generation) that reads one of them.
CREATE VIEW int_fb_burnout_rows_computed AS
SELECT
    platform, account_id, campaign_id, adset_id, ad_id, ad_name, currency, week_start, baseline_weeks, risk_score, risk_level,
    arrayMap(z -> z.1, top_drivers) AS driver_names,
    arrayMap(z -> z.2, top_drivers) AS driver_values,
    arrayMap(z -> z.3, top_drivers) AS driver_contributions,
    predicted_cpr_change_pct, frequency_delta_pct, frequency_slope_pct, ctr_delta_pct, ctr_slope_pct, cpc_delta_pct,
    reach_delta_pct, spend_delta_pct
FROM int_fb_burnout_risk_computed;

CREATE VIEW int_fb_burnout_rows_stored AS
SELECT
    platform, account_id, campaign_id, adset_id, ad_id, ad_name, currency, week_start, baseline_weeks, risk_score, risk_level,
    driver_names, driver_values, driver_contributions, predicted_cpr_change_pct, frequency_delta_pct, frequency_slope_pct,
    ctr_delta_pct, ctr_slope_pct, cpc_delta_pct, reach_delta_pct, spend_delta_pct
FROM fb_burnout_store
WHERE generation = (SELECT max(generation) FROM fb_analytics_store_state);

CREATE TABLE int_fb_burnout_rows AS fb_burnout_store
ENGINE = Merge({{DATABASE}}, '^int_fb_burnout_rows_(computed|stored)$');

-- v_burnout_risk — the burnout risks (int_fb_burnout_risk_computed's rows), served from the stored copy while
-- int_fb_analytics_store_gate says it is current, else computed; as v_cpr_anomalies (0036).
CREATE VIEW v_burnout_risk AS
SELECT
    platform, account_id, campaign_id, adset_id, ad_id, ad_name, currency, week_start, baseline_weeks, risk_score, risk_level,
    arrayMap((n, v, c) -> (n, v, c), driver_names, driver_values, driver_contributions) AS top_drivers,
    predicted_cpr_change_pct, frequency_delta_pct, frequency_slope_pct, ctr_delta_pct, ctr_slope_pct, cpc_delta_pct,
    reach_delta_pct, spend_delta_pct
FROM int_fb_burnout_rows
WHERE _table = (SELECT if(stored = 1, 'int_fb_burnout_rows_stored', 'int_fb_burnout_rows_computed') FROM int_fb_analytics_store_gate);
