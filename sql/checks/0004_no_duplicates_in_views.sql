-- Views never show duplicates: one row per ad-day in v_ads_daily and per order line in v_sales_latest.
SELECT 'v_ads_daily' AS view, concat(toString(date), ' ', platform, ' ', account_id, ' ', ad_id) AS row_key, count() AS copies
FROM v_ads_daily
GROUP BY date, platform, account_id, campaign_id, ad_id
HAVING count() > 1
UNION ALL
SELECT 'v_sales_latest', concat(order_id, ' ', line_id), count()
FROM v_sales_latest
GROUP BY order_id, line_id
HAVING count() > 1
