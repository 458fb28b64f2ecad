-- int_sales_lines (internal, read by v_sales_latest) — grain: order line × source, every line the sources
-- hold, including deleted and non-paid ones: precedence is decided before they are dropped, so an order
-- cancelled or removed in the primary source does not come back from a lower one.
-- source_rank: Google Sheets (1) > QTickets API (2) > Gmail reports (3).
CREATE VIEW int_sales_lines AS
SELECT order_id, line_id, 'qtickets_sheets' AS source, toUInt8(1) AS source_rank, event_id, event_name, city, event_date,
    sold_at, toUInt32(tickets) AS tickets, revenue, currency, 'paid' AS status, _deleted AS deleted
FROM stg_qtickets_sheets_sales FINAL

UNION ALL

SELECT order_id, line_id, source, toUInt8(if(source = 'qtickets_api', 2, 3)) AS source_rank, event_id, event_name, city, event_date,
    sold_at, toUInt32(tickets) AS tickets, revenue, currency, status, _deleted AS deleted
FROM stg_qtickets_sales_raw FINAL;
