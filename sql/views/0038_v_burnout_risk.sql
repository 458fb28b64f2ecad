-- v_burnout_risk — grain: ad: the burnout model of 0035_v_fb_burnout_weekly.sql at the ad's latest complete
-- week (week_start + 7 before today: its Sunday is over in every account, also west of UTC, where it ends
-- up to a day after UTC's; int_fb_burnout_latest, the same model over that week only), for the ads
-- that delivered in their account's latest complete week: an ad that stopped earlier is not burning out any
-- more and drops out (its history stays in fb_burnout_history). Model: sql/views/README.md. The alert rule
-- ad_burnout and the reports read platform, account_id, ad_id, risk_level.
CREATE VIEW v_burnout_risk AS
SELECT
    platform, account_id, campaign_id, adset_id, ad_id, ad_name, currency, week_start, baseline_weeks,
    risk_score, risk_level, top_drivers, predicted_cpr_change_pct,
    frequency_delta_pct, frequency_slope_pct, ctr_delta_pct, ctr_slope_pct, cpc_delta_pct, reach_delta_pct, spend_delta_pct
FROM
(
    SELECT *
    FROM int_fb_burnout_latest
) AS weekly
ALL INNER JOIN
(
    SELECT account_id, latest_week AS week_start
    FROM
    (
        SELECT account_id, max(week_start) AS latest_week
        FROM stg_fb_insights_weekly FINAL
        WHERE _deleted = 0 AND week_start + 7 < today()
        GROUP BY account_id
    ) AS per_account
) AS latest USING (account_id, week_start);
