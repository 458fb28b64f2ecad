-- Avito (loaders/avito): items, daily item statistics, wallet operations and daily spend, balance
-- snapshots, Messenger chats and messages; one row set per configured profile (`profile` = its label).
-- Portable SQL (ClickHouse 18.16 and current): ReplacingMergeTree(_ver) keyed on the natural key,
-- readers use FINAL; money is Decimal(18,2) in RUB (Avito wallets are rubles only).

CREATE TABLE IF NOT EXISTS stg_avito_items
(
    profile String,
    item_id UInt64,
    title String,
    status String,                  -- active | removed | old | blocked | rejected
    price Nullable(Decimal(18,2)),  -- RUB; null when the listing has no price
    url String,
    address String,
    category_id UInt64,
    category_name String,
    client String,                  -- the profile's tenant label (AVITO_PROFILES[].client), '' when none
    _hash UInt64,
    _ver UInt64,
    _loaded_at DateTime('UTC'),
    _run_id String,
    _deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY (profile, item_id);

CREATE TABLE IF NOT EXISTS fact_avito_items_daily
(
    profile String,
    item_id UInt64,
    date Date,                      -- the day as Avito reports it (Moscow)
    views UInt64,                   -- uniqViews: unique users, deduplicated within the day only
    contacts UInt64,                -- uniqContacts: phone reveals, started chats, ...
    favorites UInt64,               -- uniqFavorites
    _hash UInt64,
    _ver UInt64,
    _loaded_at DateTime('UTC'),
    _run_id String,
    _deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_ver)
PARTITION BY toYYYYMM(date)
ORDER BY (profile, item_id, date);

-- Raw wallet operations, so every fact_avito_spend_daily row can be explained line by line.
CREATE TABLE IF NOT EXISTS stg_avito_operations
(
    profile String,
    operation_id String,            -- derived: hash of the operation's fields (+ occurrence), see BEHAVIOR.md
    date Date,                      -- Moscow day of paid_at
    paid_at DateTime('UTC'),
    updated_at DateTime('UTC'),
    operation_type String,          -- Russian enum text as Avito sends it
    operation_name String,
    kind String,                    -- charge | refund | other: how it counts in spend
    service_id UInt64,
    service_name String,
    service_type String,
    item_id UInt64,                 -- 0 when the operation is not tied to an item
    amount_rub Decimal(18,2),
    amount_bonus Decimal(18,2),
    amount_total Decimal(18,2),
    _hash UInt64,
    _ver UInt64,
    _loaded_at DateTime('UTC'),
    _run_id String,
    _deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_ver)
PARTITION BY toYYYYMM(date)
ORDER BY (profile, operation_id);

CREATE TABLE IF NOT EXISTS fact_avito_spend_daily
(
    profile String,
    date Date,                      -- Moscow day
    spend Decimal(18,2),            -- RUB: charges minus refunds (amountRub)
    spend_bonus Decimal(18,2),      -- bonus rubles: charges minus refunds (amountBonus)
    operations UInt64,              -- charges + refunds counted in spend that day
    currency String,                -- always RUB
    _hash UInt64,
    _ver UInt64,
    _loaded_at DateTime('UTC'),
    _run_id String,
    _deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_ver)
PARTITION BY toYYYYMM(date)
ORDER BY (profile, date);

CREATE TABLE IF NOT EXISTS fact_avito_balance
(
    profile String,
    snapshot_at DateTime('UTC'),
    date Date,                      -- Moscow day of snapshot_at
    balance_real Decimal(18,2),     -- RUB
    balance_bonus Decimal(18,2),
    _ver UInt64,
    _loaded_at DateTime('UTC'),
    _run_id String,
    _deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_ver)
PARTITION BY toYYYYMM(date)
ORDER BY (profile, snapshot_at);

-- The column lists of the two Messenger tables are read by `adhouse export avito-chats`: keep them.
CREATE TABLE IF NOT EXISTS stg_avito_chats
(
    profile String,
    chat_id String,
    item_id UInt64,                 -- 0 when the chat is not about an item
    item_title String,
    counterpart_id String,
    counterpart_name String,
    created_at DateTime('UTC'),
    updated_at DateTime('UTC'),
    _ver UInt64,
    _loaded_at DateTime('UTC'),
    _run_id String,
    _deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY (profile, chat_id);

CREATE TABLE IF NOT EXISTS stg_avito_messages
(
    profile String,
    chat_id String,
    message_id String,
    created_at DateTime('UTC'),
    direction String,               -- in | out
    author_id String,
    message_type String,            -- text | image | link | item | location | call | deleted | voice | system | ...
    text String,                    -- the text, or a readable placeholder such as "[image] <url>"
    is_read UInt8,
    _ver UInt64,
    _loaded_at DateTime('UTC'),
    _run_id String,
    _deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY (profile, chat_id, message_id);
