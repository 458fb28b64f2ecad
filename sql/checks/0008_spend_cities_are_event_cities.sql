-- Spend whose utm_content names a city no event is in (a typo in the tag, or a missing event): flagged
-- when such spend is more than 5 % of the spend with a parsed city over the last 30 days.
SELECT unknown_city_spend, city_spend, round(unknown_city_spend / city_spend, 3) AS share, cities
FROM
(
    SELECT
        sumIf(ifNull(spend_rub, 0), city NOT IN (SELECT city FROM dim_events FINAL WHERE _deleted = 0)) AS unknown_city_spend,
        sum(ifNull(spend_rub, 0)) AS city_spend,
        groupUniqArrayIf(city, city NOT IN (SELECT city FROM dim_events FINAL WHERE _deleted = 0)) AS cities
    FROM v_ads_daily
    WHERE city != '' AND date >= today() - 30
)
WHERE city_spend > 0 AND unknown_city_spend / city_spend > 0.05
