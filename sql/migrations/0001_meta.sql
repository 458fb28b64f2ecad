-- Runtime bookkeeping: loader runs, quarantined rows, incremental cursors.
-- Runs are updated by appending a new version (_ver = ms); readers take argMax/FINAL.

CREATE TABLE IF NOT EXISTS meta_job_runs
(
    run_id String,
    source String,
    kind String,                    -- load | backfill
    status String,                  -- running | success | failed | interrupted
    started_at DateTime('UTC'),
    finished_at Nullable(DateTime('UTC')),
    heartbeat_at DateTime('UTC'),
    window_since Date,
    window_until Date,
    account String,
    rows_read UInt64,
    rows_written UInt64,
    rows_quarantined UInt64,
    rows_skipped UInt64,
    rows_deleted UInt64,            -- keys marked _deleted = 1 because they vanished upstream
    error_class String,
    error_message String,
    backfill_id String,
    host String,
    pid UInt32,
    _ver UInt64
)
ENGINE = ReplacingMergeTree(_ver)
PARTITION BY toYYYYMM(started_at)
ORDER BY (source, started_at, run_id);

CREATE TABLE IF NOT EXISTS meta_quarantine
(
    source String,
    target_table String,
    record_key String,              -- stable id of the bad record (natural key or payload hash)
    reason String,
    payload String,                 -- the raw upstream record, as received (secrets masked)
    quarantined_at DateTime('UTC'),
    _ver UInt64,
    _loaded_at DateTime('UTC'),
    _run_id String                  -- the run that last quarantined it
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY (source, target_table, record_key);

CREATE TABLE IF NOT EXISTS meta_load_state
(
    source String,
    account String,
    cursor_date Date,               -- last day fully loaded by an incremental run
    run_id String,
    updated_at DateTime('UTC'),
    _ver UInt64
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY (source, account);
