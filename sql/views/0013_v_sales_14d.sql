-- v_sales_14d — grain: sale day × city × event, over the last 14 days including today (reporting time
-- zone). Source: v_sales_latest. revenue in RUB.
CREATE VIEW v_sales_14d AS
SELECT toDate(sold_at, {{TZ_REPORTING}}) AS date, city, event_id, any(event_name) AS event_name, any(event_date) AS event_date,
    uniqExact(order_id) AS orders, sum(tickets) AS tickets, round(sum(ifNull(revenue_rub, 0)), 2) AS revenue
FROM v_sales_latest
WHERE toDate(sold_at, {{TZ_REPORTING}}) >= toDate(now(), {{TZ_REPORTING}}) - 13
GROUP BY date, city, event_id;
