-- v_fb_daily_results — grain: ad × day (`date`), from stg_fb_insights_daily;
-- v_fb_weekly_results — grain: ad × Monday week (`week_start`), from stg_fb_insights_weekly (weekly reach
-- and frequency are upstream's own 7-day figures, not sums of days).
-- Both also read stg_fb_adsets (optimization_goal; the insight row's own optimization_goal when the ad set
-- is unknown). One logic, rendered once per line below (src/clickhouse/migrate.ts renderViewSql):
-- render: VIEW=v_fb_daily_results PERIOD=date INSIGHTS=stg_fb_insights_daily
-- render: VIEW=v_fb_weekly_results PERIOD=week_start INSIGHTS=stg_fb_insights_weekly
-- Result family by optimization goal, first matching action type wins (CONTRACT.md):
--   LEAD_GENERATION, QUALITY_LEAD → leadgen_form (onsite_conversion.lead_grouped), else website_lead
--     (offsite_conversion.fb_pixel_lead); CONVERSATIONS → messages (onsite_conversion.total_messaging_connection);
--   LINK_CLICKS, LANDING_PAGE_VIEWS → click (link_click, else landing_page_view); VALUE, OFFSITE_CONVERSIONS →
--   purchase (offsite_conversion.fb_pixel_purchase), else website_lead; THRUPLAY → video_view; APP_INSTALLS →
--   app_install (app_install, else mobile_app_install); any other goal → 'none' with 0 results.
-- Overlapping types (purchase, omni_purchase, offsite_conversion.fb_pixel_purchase) are never summed: one
-- element is picked. Rates are recomputed from the counts (ctr, link_ctr in percent); cpr = spend / results
-- when results > 0, else NULL; cpc NULL without clicks. Money in the account currency (`currency`).
-- 18.16: no window functions, one JOIN per SELECT inside an aliased subquery, explicit ALL strictness;
-- action types are found with indexOf (no lambda), and the result's value is read once (i_result).
CREATE VIEW {{VIEW}} AS
SELECT
    {{PERIOD}}, account_id, campaign_id, campaign_name, adset_id, adset_name, ad_id, ad_name, currency, optimization_goal,
    spend, impressions, reach,
    if(reach > 0, impressions / reach, 0) AS frequency,
    clicks, inline_link_clicks,
    if(impressions > 0, clicks / impressions * 100, 0) AS ctr,
    if(impressions > 0, inline_link_clicks / impressions * 100, 0) AS link_ctr,
    if(impressions > 0, toFloat64(spend) / impressions * 1000, 0) AS cpm,
    if(clicks > 0, toFloat64(spend) / clicks, NULL) AS cpc,
    result_family, results,
    if(results > 0, toFloat64(spend) / results, NULL) AS cpr,
    quality_ranking, engagement_rate_ranking, conversion_rate_ranking
FROM
(
    SELECT
        *,
        -- the result's element, found once: one arrayElement per row instead of one per family
        if(i_result > 0, arrayElement(action_values_list, i_result), toFloat64(0)) AS results
    FROM
    (
        SELECT
            *,
            multiIf(
                optimization_goal IN ('LEAD_GENERATION', 'QUALITY_LEAD'), if(i_lead_form > 0, 'leadgen_form', if(i_pixel_lead > 0, 'website_lead', 'leadgen_form')),
                optimization_goal = 'CONVERSATIONS', 'messages',
                optimization_goal IN ('LINK_CLICKS', 'LANDING_PAGE_VIEWS'), 'click',
                optimization_goal IN ('VALUE', 'OFFSITE_CONVERSIONS'), if(i_purchase > 0, 'purchase', if(i_pixel_lead > 0, 'website_lead', 'purchase')),
                optimization_goal = 'THRUPLAY', 'video_view',
                optimization_goal = 'APP_INSTALLS', 'app_install',
                'none') AS result_family,
            multiIf(
                result_family = 'messages', i_messages,
                result_family = 'leadgen_form', i_lead_form,
                result_family = 'website_lead', i_pixel_lead,
                result_family = 'purchase', i_purchase,
                result_family = 'click', if(i_link_click > 0, i_link_click, i_landing),
                result_family = 'video_view', i_video,
                result_family = 'app_install', if(i_app > 0, i_app, i_mobile_app),
                toUInt64(0)) AS i_result
        FROM
        (
            SELECT
                {{PERIOD}}, account_id, campaign_id, campaign_name, adset_id, adset_name, ad_id, ad_name, currency,
                if(adset_goal != '', adset_goal, row_goal) AS optimization_goal,
                spend, impressions, reach, clicks, inline_link_clicks,
                quality_ranking, engagement_rate_ranking, conversion_rate_ranking,
                action_values_list,
                indexOf(action_types, 'onsite_conversion.total_messaging_connection') AS i_messages,
                indexOf(action_types, 'onsite_conversion.lead_grouped') AS i_lead_form,
                indexOf(action_types, 'offsite_conversion.fb_pixel_lead') AS i_pixel_lead,
                indexOf(action_types, 'offsite_conversion.fb_pixel_purchase') AS i_purchase,
                indexOf(action_types, 'link_click') AS i_link_click,
                indexOf(action_types, 'landing_page_view') AS i_landing,
                indexOf(action_types, 'video_view') AS i_video,
                indexOf(action_types, 'app_install') AS i_app,
                indexOf(action_types, 'mobile_app_install') AS i_mobile_app
            FROM
            (
                SELECT *
                FROM
                (
                    SELECT
                        {{PERIOD}}, account_id, campaign_id, campaign_name, adset_id, adset_name, ad_id, ad_name, currency,
                        optimization_goal AS row_goal, spend, impressions, reach, clicks, inline_link_clicks,
                        quality_ranking, engagement_rate_ranking, conversion_rate_ranking,
                        `actions.type` AS action_types, `actions.value` AS action_values_list
                    FROM {{INSIGHTS}} FINAL
                    WHERE _deleted = 0
                ) AS fb_insights
                ALL LEFT JOIN
                (
                    SELECT account_id, adset_id, optimization_goal AS adset_goal
                    FROM stg_fb_adsets FINAL
                    WHERE _deleted = 0
                ) AS fb_adsets USING (account_id, adset_id)
            ) AS fb_joined
        ) AS fb_indexed
    ) AS fb_family
) AS fb_results;
