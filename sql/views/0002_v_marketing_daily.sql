-- v_marketing_daily — grain: date × platform × city (city '' = no parseable utm_content).
-- Source: v_ads_daily. Ratios: ctr = clicks / impressions (a fraction), cpc = spend_rub / clicks,
-- cpm = spend_rub × 1000 / impressions, cpr = spend_rub / results; NULL when the divisor is 0.
CREATE VIEW v_marketing_daily AS
SELECT
    date, platform, city, impressions, clicks, spend_rub, results,
    if(impressions > 0, clicks / impressions, NULL) AS ctr,
    if(clicks > 0, spend_rub / clicks, NULL) AS cpc,
    if(impressions > 0, spend_rub * 1000 / impressions, NULL) AS cpm,
    if(results > 0, spend_rub / results, NULL) AS cpr
FROM
(
    SELECT date, platform, city,
        sum(impressions) AS impressions, sum(clicks) AS clicks,
        round(sum(ifNull(spend_rub, 0)), 2) AS spend_rub, sum(results) AS results
    FROM v_ads_daily
    GROUP BY date, platform, city
);
