-- Alert rules' state and delivery log (src/alerts). One row per alert instance, keyed by (rule, dedup_key),
-- updated by appending a new version (_ver = ms); readers take argMax(..., _ver) or FINAL.
-- Instants that have not happened yet are 1970-01-01 00:00:00 (no Nullable: portable and sortable).
CREATE TABLE IF NOT EXISTS meta_alerts
(
    rule String,
    dedup_key String,
    state String,                   -- pending | firing | resolved
    severity String,
    label_keys Array(String),       -- labels as parallel arrays (no Map on 18.16)
    label_values Array(String),
    summary String,
    first_seen DateTime('UTC'),     -- when this episode was first seen (pending)
    fired_at DateTime('UTC'),       -- when it became firing (after `for`)
    resolved_at DateTime('UTC'),
    last_seen DateTime('UTC'),      -- last evaluation that returned the instance
    last_notified_at DateTime('UTC'),
    notify_count UInt32,            -- notifications sent in this episode (firing, repeats, resolution)
    last_delivery_error String,     -- '' when the last notification reached every recipient
    _ver UInt64
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY (rule, dedup_key);

-- One row per delivery attempt series (one message to one recipient on one channel).
CREATE TABLE IF NOT EXISTS meta_alert_deliveries
(
    rule String,
    kind String,                    -- firing | repeat | resolved
    dedup_keys Array(String),       -- the instances the message covered (one message per group)
    channel String,                 -- email | telegram
    recipient String,
    at DateTime('UTC'),
    ok UInt8,
    attempts UInt32,
    error String,
    _ver UInt64
)
ENGINE = ReplacingMergeTree(_ver)
PARTITION BY toYYYYMM(at)
ORDER BY (rule, at, channel, recipient, kind);
