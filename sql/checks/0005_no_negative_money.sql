-- Spend and revenue are never negative (refunds are removed lines, not negative ones). Avito is the
-- exception: its daily spend is charges minus refunds, and a refund can outweigh a day's charges.
SELECT 'v_ads_daily' AS view, concat(platform, ' ', account_id, ' ', ad_id, ' ', toString(date)) AS row_key, toFloat64(spend) AS amount
FROM v_ads_daily
WHERE spend < 0 AND platform != 'avito'
UNION ALL
SELECT 'v_sales_latest', concat(source, ' ', order_id, ' ', line_id), toFloat64(revenue)
FROM v_sales_latest
WHERE revenue < 0
