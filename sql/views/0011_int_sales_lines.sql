-- int_sales_lines (internal, read by v_sales_latest) — grain: order line × source, paid lines only,
-- `_deleted` dropped. source_rank gives the precedence for one order seen by several sources:
-- Google Sheets (1) > QTickets API (2) > Gmail reports (3).
CREATE VIEW int_sales_lines AS
SELECT order_id, line_id, 'qtickets_sheets' AS source, toUInt8(1) AS source_rank, event_id, event_name, city, event_date,
    sold_at, toUInt32(tickets) AS tickets, revenue, currency
FROM stg_qtickets_sheets_sales FINAL
WHERE _deleted = 0

UNION ALL

SELECT order_id, line_id, source, toUInt8(if(source = 'qtickets_api', 2, 3)) AS source_rank, event_id, event_name, city, event_date,
    sold_at, toUInt32(tickets) AS tickets, revenue, currency
FROM stg_qtickets_sales_raw FINAL
WHERE _deleted = 0 AND status = 'paid';
