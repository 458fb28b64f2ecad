-- QTickets via Google Sheets (loaders/qtickets_sheets): typed staging copies of the Events, Inventory
-- and Sales sheets. The sheet is read whole on every run, so each table is a snapshot keyed on the
-- sheet's natural key; rows that vanish from the sheet are written again with _deleted = 1.
-- Portable SQL (ClickHouse 18.16 and current): ReplacingMergeTree(_ver), readers use FINAL.
-- The loader's change detection looks up every stored key (skipUnchanged without a dateColumn).

CREATE TABLE IF NOT EXISTS stg_qtickets_sheets_events
(
    event_id String,
    event_name String,
    city String,                    -- lowercased, trimmed
    event_date Date,                -- the day of the event (the sheet's calendar day, or Moscow day of a time)
    starts_at Nullable(DateTime('UTC')),  -- when the sheet gives a time as well
    venue String,
    capacity Nullable(UInt32),
    sheet_row UInt32,               -- 1-based row in the sheet at load time (informational: rows move)
    _hash UInt64,
    _ver UInt64,
    _loaded_at DateTime('UTC'),
    _run_id String,
    _deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY event_id;

CREATE TABLE IF NOT EXISTS stg_qtickets_sheets_inventory
(
    event_id String,
    total_seats Nullable(UInt32),
    sold_seats Nullable(UInt32),
    free_seats Nullable(UInt32),
    updated_at Nullable(DateTime('UTC')),
    sheet_row UInt32,
    _hash UInt64,
    _ver UInt64,
    _loaded_at DateTime('UTC'),
    _run_id String,
    _deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY event_id;

CREATE TABLE IF NOT EXISTS stg_qtickets_sheets_sales
(
    order_id String,
    line_id String,                 -- order_id '#' position of the line within its order (not the sheet row)
    event_id String,
    event_name String,
    city String,                    -- lowercased, trimmed; from the Events sheet when the Sales row has none
    event_date Nullable(Date),
    sold_at DateTime('UTC'),
    tickets UInt32,
    revenue Decimal(18,2),          -- in `currency`
    currency String,
    sheet_row UInt32,
    _hash UInt64,
    _ver UInt64,
    _loaded_at DateTime('UTC'),
    _run_id String,
    _deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY (order_id, line_id);
