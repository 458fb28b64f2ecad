-- Every non-RUB spend or revenue row has a CBR rate for its day (else its RUB amount is NULL).
SELECT 'v_ads_daily' AS view, currency, min(date) AS first_day, max(date) AS last_day, count() AS rows
FROM v_ads_daily
WHERE spend_rub IS NULL
GROUP BY currency
UNION ALL
SELECT 'v_sales_latest', currency, min(toDate(sold_at)), max(toDate(sold_at)), count()
FROM v_sales_latest
WHERE revenue_rub IS NULL
GROUP BY currency
