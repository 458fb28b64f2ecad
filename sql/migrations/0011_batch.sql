-- Batch sync tracking (`adhouse batch-sync facebook`): one row per job, one row per account of a job.
-- Both are updated by appending a new version (_ver = ms, like meta_job_runs); readers take argMax/FINAL.
-- host/pid/heartbeat_at let a later command recognise a job whose process died (it is then resumable).

CREATE TABLE IF NOT EXISTS meta_batch_jobs
(
    job_id String,                  -- a UUID, printed by the command for --resume
    job_type String,                -- facebook
    status String,                  -- pending | running | paused | completed | failed
    accounts_total UInt32,
    processed UInt32,               -- accounts finished (completed or failed)
    failed UInt32,
    skipped UInt32,                 -- accounts with nothing to do (every step skipped)
    params String,                  -- JSON: workers, pause_ms, limit, skipped steps, window
    started_at DateTime('UTC'),
    completed_at Nullable(DateTime('UTC')),
    heartbeat_at DateTime('UTC'),
    host String,
    pid UInt32,
    last_error String,              -- why the job failed or stopped (redacted)
    history Array(String),          -- what happened to the job, one line per event (died, paused, resumed);
                                    -- kept in the newest version because merges drop the older ones
    _ver UInt64
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY job_id;

CREATE TABLE IF NOT EXISTS meta_batch_account_log
(
    job_id String,
    account_id String,
    business_id String,             -- '' = the account belongs to no business
    position UInt32,                -- order in the job's plan
    status String,                  -- pending | running | completed | failed | paused | interrupted | skipped
    step_fullsync String,           -- pending | running | completed | failed | skipped | paused | interrupted
    step_weekly String,
    step_daily String,
    step_burnout String,
    rows_fullsync UInt64,           -- rows written by the step (all tables of its run)
    rows_weekly UInt64,
    rows_daily UInt64,
    rows_burnout UInt64,            -- anomaly + burnout history rows inserted
    api_calls UInt64,               -- Graph API calls the account's runs reported
    window_since Nullable(Date),
    window_until Nullable(Date),
    run_ids Array(String),          -- meta_job_runs of the account's steps, in order
    note String,                    -- why a step was skipped (e.g. the analytics views are not installed)
    history Array(String),          -- one line per attempt that did not complete (interrupted, paused, retried, failed)
    last_error String,              -- redacted
    error_type String,              -- token_invalid | rate_limited | network_error | data_error | unknown | ''
    attempts UInt16,
    duration_ms UInt64,
    worker_id UInt16,
    started_at Nullable(DateTime('UTC')),
    finished_at Nullable(DateTime('UTC')),
    started_ms UInt64,              -- the same instants in ms: accounts often take less than a second
    finished_ms UInt64,
    _ver UInt64
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY (job_id, account_id);
