-- v_romi_kpi — grain: city × event date. revenue (RUB) from v_sales_latest; spend_rub from v_ads_daily,
-- attributed by the city and event day in utm_content (<city>_<dd>_<mm>). roas = revenue / spend_rub,
-- romi = (revenue − spend_rub) / spend_rub. status: no_spend (spend 0), green (roas ≥ 1.5),
-- yellow (1 ≤ roas < 1.5), red (roas < 1).
CREATE VIEW v_romi_kpi AS
SELECT city, event_date, revenue, spend_rub,
    if(spend_rub > 0, revenue / spend_rub, NULL) AS roas,
    if(spend_rub > 0, (revenue - spend_rub) / spend_rub, NULL) AS romi,
    multiIf(spend_rub = 0, 'no_spend', revenue / spend_rub >= 1.5, 'green', revenue / spend_rub >= 1, 'yellow', 'red') AS status
FROM
(
    SELECT city, assumeNotNull(event_date) AS event_date, round(sum(revenue), 2) AS revenue, round(sum(spend), 2) AS spend_rub
    FROM
    (
        SELECT city, event_date, ifNull(revenue_rub, 0) AS revenue, toFloat64(0) AS spend
        FROM v_sales_latest
        WHERE city != '' AND event_date IS NOT NULL
        UNION ALL
        SELECT city, event_date, toFloat64(0) AS revenue, ifNull(spend_rub, 0) AS spend
        FROM v_ads_daily
        WHERE city != '' AND event_date IS NOT NULL
    )
    GROUP BY city, event_date
);
