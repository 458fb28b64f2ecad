-- v_sales_latest — grain: order line. One row per paid line across the three sales sources: an order seen
-- by several sources is taken from the highest-precedence one only (Sheets > API > Gmail), so it counts
-- once; lines deleted upstream or not paid (refunded, cancelled) are dropped after that choice.
-- revenue is in `currency`; revenue_rub converts it at the CBR rate of the sale's day (reporting time zone).
CREATE VIEW v_sales_latest AS
SELECT order_id, line_id, source, event_id, event_name, city, event_date, sold_at, tickets, revenue, currency,
    if(currency = 'RUB', toFloat64(revenue), if(has_rate = 1, round(toFloat64(revenue) * rub_per_unit, 2), NULL)) AS revenue_rub
FROM
(
    SELECT *, toDate(sold_at, {{TZ_REPORTING}}) AS date
    FROM int_sales_lines
    WHERE (order_id, source_rank) IN (SELECT order_id, min(source_rank) FROM int_sales_lines GROUP BY order_id)
        AND deleted = 0 AND status = 'paid'
) AS sales
ALL LEFT JOIN
(
    SELECT date, currency, toFloat64(rub_per_unit) AS rub_per_unit, toUInt8(1) AS has_rate
    FROM dim_currency_rates FINAL
    WHERE _deleted = 0
) AS rates USING (date, currency);
