-- v_ads_daily — grain: date × platform × account × campaign × ad.
-- Sources: fact_vk_ads_daily (names from stg_vk_ad_plans, stg_vk_banners), fact_direct_daily (ad titles
-- from stg_direct_ads); spend_rub = spend × that day's CBR rate from dim_currency_rates (RUB needs no
-- rate; a missing rate gives NULL, which the check currencies_without_rate reports).
-- results: VK goals (result_family 'goal'), Direct conversions ('conversion'), Avito contacts ('contact'),
-- Facebook results by the ad set's optimization goal (v_fb_daily_results).
-- Avito (fact_avito_spend_daily, fact_avito_items_daily) is one row per profile and day.
-- Adding a platform is one more UNION ALL branch with the same columns in the same order.
-- 18.16: one JOIN per SELECT (joins nest), explicit ALL strictness, no window functions; current
-- releases: every joined subquery has an alias.
CREATE VIEW v_ads_daily AS
SELECT
    date, platform, account_id, campaign_id, campaign_name, ad_id, ad_name,
    impressions, clicks, spend, currency,
    if(currency = 'RUB', toFloat64(spend), if(has_rate = 1, round(toFloat64(spend) * rub_per_unit, 2), NULL)) AS spend_rub,
    results, result_family, utm_source, utm_medium, utm_campaign, utm_content, city, event_date
FROM
(
    SELECT
        date, 'vk_ads' AS platform, account_id, toString(ad_plan_id) AS campaign_id, campaign_name,
        toString(banner_id) AS ad_id, ad_name, shows AS impressions, clicks, spent AS spend, currency,
        goals AS results, 'goal' AS result_family,
        utm_source, utm_medium, utm_campaign, utm_content, city, event_date
    FROM
    (
        -- Joins live in subqueries: on 18.16 a SELECT alias would shadow a join key of the same name.
        SELECT *
        FROM
        (
            SELECT *
            FROM (SELECT * FROM fact_vk_ads_daily FINAL WHERE _deleted = 0) AS vk_fact
            ALL LEFT JOIN (SELECT account_id, banner_id, name AS ad_name FROM stg_vk_banners FINAL WHERE _deleted = 0) AS vk_banner USING (account_id, banner_id)
        ) AS vk_named
        ALL LEFT JOIN (SELECT account_id, ad_plan_id, name AS campaign_name FROM stg_vk_ad_plans FINAL WHERE _deleted = 0) AS vk_plan USING (account_id, ad_plan_id)
    ) AS vk

    UNION ALL

    SELECT
        date, 'direct' AS platform, client_login AS account_id, toString(campaign_id) AS campaign_id, campaign_name,
        toString(ad_id) AS ad_id, ad_name, impressions, clicks, cost AS spend, currency,
        ifNull(conversions, 0) AS results, 'conversion' AS result_family,
        utm_source, utm_medium, utm_campaign, utm_content, city, event_date
    FROM
    (
        SELECT *
        FROM (SELECT * FROM fact_direct_daily FINAL WHERE _deleted = 0) AS direct_fact
        ALL LEFT JOIN (SELECT client_login, ad_id, title AS ad_name FROM stg_direct_ads FINAL WHERE _deleted = 0) AS direct_ad USING (client_login, ad_id)
    ) AS direct

    UNION ALL

    -- Avito has no campaigns or ads in this sense: one row per profile and day, spend from the operations
    -- history, an item view counted as a click (a visit to the listing), contacts as results. The sum is
    -- cast back to Decimal64: 18.16 mislabels a UNION of Decimal(18,2) and sum()'s Decimal(38,2).
    SELECT
        date, 'avito' AS platform, profile AS account_id, '' AS campaign_id, '' AS campaign_name,
        '' AS ad_id, '' AS ad_name, toUInt64(0) AS impressions, sum(views) AS clicks, toDecimal64(sum(spend), 2) AS spend, 'RUB' AS currency,
        sum(contacts) AS results, 'contact' AS result_family,
        '' AS utm_source, '' AS utm_medium, '' AS utm_campaign, '' AS utm_content, '' AS city, CAST(NULL AS Nullable(Date)) AS event_date
    FROM
    (
        SELECT profile, date, spend, toUInt64(0) AS views, toUInt64(0) AS contacts FROM fact_avito_spend_daily FINAL WHERE _deleted = 0
        UNION ALL
        SELECT profile, date, materialize(toDecimal64(0, 2)) AS spend, views, contacts FROM fact_avito_items_daily FINAL WHERE _deleted = 0
    ) AS avito
    GROUP BY profile, date
    UNION ALL

    -- Facebook: results and result family from v_fb_daily_results (family by the ad set's optimization
    -- goal, overlapping purchase types never summed); UTM, city and event day from stg_fb_ads (parsed from
    -- the creative's link and url_tags). v_fb_daily_results sorts first (0000_), so it exists here.
    -- stg_fb_ads parses the event day once per ad, anchored to the ad's creation; a long-running ad's spend
    -- belongs to the occurrence of that day and month nearest the spend day (as for VK and Direct, which
    -- parse per day): re-anchor the year here (ties go to the later date; 29 February is kept as parsed).
    SELECT
        date, 'facebook' AS platform, account_id, campaign_id, campaign_name,
        ad_id, ad_name, impressions, clicks, spend, currency,
        toUInt64(round(results)) AS results, result_family,
        utm_source, utm_medium, utm_campaign, utm_content, city,
        if(parsed_event IS NULL OR month_day = '-02-29', parsed_event,
           multiIf(abs(toInt32(before) - toInt32(date)) < abs(toInt32(same) - toInt32(date))
                       AND abs(toInt32(before) - toInt32(date)) < abs(toInt32(after) - toInt32(date)), before,
                   abs(toInt32(after) - toInt32(date)) <= abs(toInt32(same) - toInt32(date)), after,
                   same)) AS event_date
    FROM
    (
        SELECT *,
            -- Candidates never parse a 29 February (kept as parsed above): '-02-28' stands in for it here.
            toDate(concat(toString(toYear(date) - 1), if(month_day = '-02-29', '-02-28', month_day))) AS before,
            toDate(concat(toString(toYear(date)), if(month_day = '-02-29', '-02-28', month_day))) AS same,
            toDate(concat(toString(toYear(date) + 1), if(month_day = '-02-29', '-02-28', month_day))) AS after
        FROM
        (
            SELECT *, event_date AS parsed_event, substring(toString(ifNull(event_date, toDate('2000-01-01'))), 5, 6) AS month_day
            FROM
    (
        SELECT *
        FROM
        (
            SELECT date, account_id, campaign_id, campaign_name, ad_id, ad_name, impressions, clicks, spend, currency, results, result_family
            FROM v_fb_daily_results
        ) AS fb_results
        ALL LEFT JOIN
        (
            SELECT account_id, ad_id, utm_source, utm_medium, utm_campaign, utm_content, city, event_date
            FROM stg_fb_ads FINAL
            WHERE _deleted = 0
        ) AS fb_ad USING (account_id, ad_id)
    ) AS fb
        ) AS fb_days
    ) AS fb_years
) AS ads
ALL LEFT JOIN
(
    SELECT date, currency, toFloat64(rub_per_unit) AS rub_per_unit, toUInt8(1) AS has_rate
    FROM dim_currency_rates FINAL
    WHERE _deleted = 0
) AS rates USING (date, currency);
