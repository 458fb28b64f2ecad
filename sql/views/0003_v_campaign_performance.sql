-- v_campaign_performance — grain: platform × account × campaign, over all loaded days.
-- Source: v_ads_daily. spend_7d = the last 7 complete days (yesterday and the 6 before it, reporting
-- time zone), spend_prev_7d = the 7 days before those. Ratios as in v_marketing_daily.
-- Inner aliases differ from outer names: ClickHouse would read a same-named alias inside sumIf.
CREATE VIEW v_campaign_performance AS
SELECT
    platform, account_id, campaign_id, campaign_name, first_date, last_date,
    spend_total AS spend_rub, impressions, clicks, results,
    if(impressions > 0, clicks / impressions, NULL) AS ctr,
    if(clicks > 0, spend_total / clicks, NULL) AS cpc,
    if(impressions > 0, spend_total * 1000 / impressions, NULL) AS cpm,
    if(results > 0, spend_total / results, NULL) AS cpr,
    spend_7d, spend_prev_7d
FROM
(
    SELECT platform, account_id, campaign_id, any(campaign_name) AS campaign_name,
        min(date) AS first_date, max(date) AS last_date,
        round(sum(ifNull(spend_rub, 0)), 2) AS spend_total,
        sum(impressions) AS impressions, sum(clicks) AS clicks, sum(results) AS results,
        round(sumIf(ifNull(spend_rub, 0), date BETWEEN toDate(now(), {{TZ_REPORTING}}) - 7 AND toDate(now(), {{TZ_REPORTING}}) - 1), 2) AS spend_7d,
        round(sumIf(ifNull(spend_rub, 0), date BETWEEN toDate(now(), {{TZ_REPORTING}}) - 14 AND toDate(now(), {{TZ_REPORTING}}) - 8), 2) AS spend_prev_7d
    FROM v_ads_daily
    GROUP BY platform, account_id, campaign_id
);
