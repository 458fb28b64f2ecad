-- Shared by the ticket-sales loaders: the events they sell, and raw order lines from the QTickets API
-- and the Gmail fallback (the Google Sheets loader has its own staging tables).

CREATE TABLE IF NOT EXISTS dim_events
(
    source String,                  -- qtickets_sheets | qtickets_api | gmail
    event_id String,                -- QTickets event id
    show_id String,                 -- QTickets show id ('' when the source has no shows)
    event_name String,
    city String,                    -- lowercased, trimmed (the utm_content convention)
    event_date Date,                -- the day of the show, Moscow time
    venue String,
    capacity UInt32,
    _hash UInt64,
    _ver UInt64,
    _loaded_at DateTime('UTC'),
    _run_id String,
    _deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY (source, event_id, show_id);

CREATE TABLE IF NOT EXISTS stg_qtickets_sales_raw
(
    source String,                  -- qtickets_api | gmail
    order_id String,                -- QTickets order id: the same order from several sources is one order
    line_id String,                 -- basket id (API) or line number within the order (Gmail)
    event_id String,
    show_id String,
    event_name String,
    city String,
    event_date Nullable(Date),
    sold_at DateTime('UTC'),        -- when the order was paid
    tickets UInt32,
    revenue Decimal(18,2),          -- in `currency`, after discounts, refunds excluded
    currency String,
    status String,                  -- paid | refunded | cancelled
    src_msg_id String,              -- Gmail message id ('' for the API)
    _hash UInt64,
    _ver UInt64,
    _loaded_at DateTime('UTC'),
    _run_id String,
    _deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY (source, order_id, line_id);
