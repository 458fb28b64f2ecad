-- Every sale names an event some source knows (dim_events); an unknown one means a missing Events row.
-- Gmail reports carry no event id: their lines must match a known event by city and event date.
SELECT source, order_id, line_id, event_id, city, event_date
FROM v_sales_latest
WHERE (event_id != '' AND event_id NOT IN (SELECT event_id FROM dim_events FINAL WHERE _deleted = 0))
   OR (event_id = '' AND (city, ifNull(event_date, toDate('1970-01-01'))) NOT IN (SELECT city, event_date FROM dim_events FINAL WHERE _deleted = 0))
