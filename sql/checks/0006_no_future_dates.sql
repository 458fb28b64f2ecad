-- No spend dated after today and no sale after now (a clock or time-zone mistake); one day of slack for
-- time zones ahead of UTC.
SELECT 'v_ads_daily' AS view, concat(platform, ' ', account_id, ' ', ad_id) AS row_key, toString(date) AS at
FROM v_ads_daily
WHERE date > today() + 1
UNION ALL
SELECT 'v_sales_latest', concat(source, ' ', order_id, ' ', line_id), toString(sold_at)
FROM v_sales_latest
WHERE sold_at > now() + 86400
