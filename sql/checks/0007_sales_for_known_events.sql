-- Every sale names an event some source knows (dim_events); an unknown one means a missing Events row.
SELECT source, order_id, line_id, event_id
FROM v_sales_latest
WHERE event_id NOT IN (SELECT event_id FROM dim_events FINAL WHERE _deleted = 0)
