-- v_fb_burnout_weekly — grain: ad × delivered week: the burnout risk as it stood at the end of that week
-- (the ground-truth test scores every week). The same model is rendered a second time over
-- int_fb_weekly_latest (each ad's latest complete week only) as int_fb_burnout_latest, which
-- v_burnout_risk reads: it never unnests the other weeks. One logic, two copies (migrate.ts renderViewSql):
-- render: VIEW=v_fb_burnout_weekly SOURCE=int_fb_weekly_series
-- render: VIEW=int_fb_burnout_latest SOURCE=int_fb_weekly_latest
-- Indicators (percent, from int_fb_weekly_series; "bad" direction in brackets):
--   frequency_delta_pct [+]   frequency vs its baseline: the same people see the ad more often
--   frequency_slope_pct [+]   frequency's 4-week slope as % of its baseline per week: saturation under way
--   ctr_delta_pct [-]         CTR vs baseline: the audience stops responding to the creative
--   ctr_slope_pct [-]         CTR's 4-week slope as % of baseline per week: the decline is a trend, not noise
--   cpc_delta_pct [+]         CPC vs baseline: fewer clicks per impression cost more per click
--   reach_delta_pct [-]       reach vs baseline: fewer new people while spend goes on
--   spend_delta_pct [+]       spend vs baseline: more budget into the same audience speeds the above up
-- Each indicator contributes weight × clamp(value / full_at, 0, 1) (burnout.weight.* and burnout.full.* in
-- dim_settings; full_at carries the bad direction's sign), so it adds nothing in the good direction and at
-- most its weight; risk_score = min(sum, 1); risk_level low < 0.25 ≤ medium < 0.5 ≤ high < 0.75 ≤ critical.
-- A week is scored only with at least min_baseline_weeks baseline weeks (dim_settings, default 2): before
-- that the indicators are NULL and the risk 0 (two weeks of a new ad are a slope, not a trend).
-- top_drivers: up to 3 (indicator, value, contribution) with a positive contribution, largest first.
-- predicted_cpr_change_pct: next week's CPR against the baseline CPR if CPM and CTR follow their 4-week
--   slopes and the click-to-result rate stays at baseline (CPR = CPM / (10 × CTR × rate)):
--   ((cpm + cpm_slope) / cpm_baseline) / ((ctr + ctr_slope) / ctr_baseline) - 1, in percent; the projected
--   CPM and CTR are floored at 10 % of this week's; NULL without both baselines.
CREATE VIEW {{VIEW}} AS
SELECT
    'facebook' AS platform, account_id, campaign_id, adset_id, ad_id, ad_name, currency, week_start,
    baseline_weeks,
    indicators[1] AS frequency_delta_pct,
    indicators[2] AS frequency_slope_pct,
    indicators[3] AS ctr_delta_pct,
    indicators[4] AS ctr_slope_pct,
    indicators[5] AS cpc_delta_pct,
    indicators[6] AS reach_delta_pct,
    indicators[7] AS spend_delta_pct,
    least(arraySum(contributions), 1.) AS risk_score,
    multiIf(risk_score >= assumeNotNull((SELECT burnout_level_critical FROM v_analytics_settings)), 'critical',
            risk_score >= assumeNotNull((SELECT burnout_level_high FROM v_analytics_settings)), 'high',
            risk_score >= assumeNotNull((SELECT burnout_level_medium FROM v_analytics_settings)), 'medium', 'low') AS risk_level,
    arraySlice(arrayMap(z -> (z.1, z.2, z.3), arraySort(z -> (-z.3, z.4), arrayFilter(z -> z.3 > 0,
        arrayMap((n, v, c, j) -> (n, ifNull(v, 0), c, j), indicator_names, indicators, contributions, arrayEnumerate(indicator_names))))),
        1, 3) AS top_drivers,
    if(scored AND cpm_base > 0 AND ctr_base > 0,
        ((greatest(cpm_now + cpm_trend, 0.1 * cpm_now) / cpm_base) / (greatest(ctr_now + ctr_trend, 0.1 * ctr_now) / ctr_base) - 1) * 100,
        NULL) AS predicted_cpr_change_pct
FROM
(
    SELECT
        *,
        baseline_weeks >= assumeNotNull((SELECT min_baseline_weeks FROM v_analytics_settings)) AS scored,
        ['frequency_delta', 'frequency_slope', 'ctr_delta', 'ctr_slope', 'cpc_delta', 'reach_delta', 'spend_delta'] AS indicator_names,
        [
            if(scored AND ifNull(frequency_base0, 0) > 0, (frequency - frequency_base0) / frequency_base0 * 100, NULL),
            if(scored AND ifNull(frequency_base0, 0) > 0, frequency_slope / frequency_base0 * 100, NULL),
            if(scored AND ifNull(ctr_base0, 0) > 0, (ctr - ctr_base0) / ctr_base0 * 100, NULL),
            if(scored AND ifNull(ctr_base0, 0) > 0, ctr_slope / ctr_base0 * 100, NULL),
            if(scored AND ifNull(cpc_base0, 0) > 0, (cpc - cpc_base0) / cpc_base0 * 100, NULL),
            if(scored AND ifNull(reach_base0, 0) > 0, (reach - reach_base0) / reach_base0 * 100, NULL),
            if(scored AND ifNull(spend_base0, 0) > 0, (spend - spend_base0) / spend_base0 * 100, NULL)
        ] AS indicators,
        arrayMap((x, w, f) -> if(f = 0, 0, w * greatest(least(ifNull(x, 0) / f, 1), 0)),
            indicators, assumeNotNull((SELECT burnout_weights FROM v_analytics_settings)), assumeNotNull((SELECT burnout_full_at FROM v_analytics_settings))) AS contributions,
        ifNull(cpm, 0) AS cpm_now,
        ifNull(cpm_slope, 0) AS cpm_trend,
        ifNull(cpm_base0, 0) AS cpm_base,
        ifNull(ctr, 0) AS ctr_now,
        ifNull(ctr_slope, 0) AS ctr_trend,
        ifNull(ctr_base0, 0) AS ctr_base
    FROM {{SOURCE}}
) AS series;
