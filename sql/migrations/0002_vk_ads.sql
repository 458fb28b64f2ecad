-- VK Ads (loaders/vk_ads): staging copies of ad plans, ad groups and banners, and daily banner facts.
-- Portable SQL (ClickHouse 18.16 and current): ReplacingMergeTree(_ver) keyed on the natural key,
-- readers use FINAL; money is Decimal(18,2) in the account currency with the currency code beside it.

CREATE TABLE IF NOT EXISTS stg_vk_ad_plans
(
    account_id String,
    ad_plan_id UInt64,
    name String,
    status String,                  -- active | blocked | deleted
    objective String,
    budget_limit_day Nullable(Decimal(18,2)),
    date_start Nullable(Date),
    date_end Nullable(Date),
    created Nullable(DateTime('UTC')),
    updated Nullable(DateTime('UTC')),
    _hash UInt64,
    _ver UInt64,
    _loaded_at DateTime('UTC'),
    _run_id String,
    _deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY (account_id, ad_plan_id);

CREATE TABLE IF NOT EXISTS stg_vk_ad_groups
(
    account_id String,
    ad_group_id UInt64,
    ad_plan_id UInt64,
    name String,
    status String,
    objective String,
    utm String,                     -- tags VK appends to ad links when enable_utm = 1
    enable_utm UInt8,
    created Nullable(DateTime('UTC')),
    updated Nullable(DateTime('UTC')),
    _hash UInt64,
    _ver UInt64,
    _loaded_at DateTime('UTC'),
    _run_id String,
    _deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY (account_id, ad_group_id);

CREATE TABLE IF NOT EXISTS stg_vk_banners
(
    account_id String,
    banner_id UInt64,
    ad_group_id UInt64,
    ad_plan_id UInt64,
    name String,
    status String,
    moderation_status String,
    primary_url String,
    utm_source String,
    utm_medium String,
    utm_campaign String,
    utm_content String,
    utm_term String,
    utm_origin String,              -- url | fallback | mixed | none
    city String,
    event_date Nullable(Date),
    created Nullable(DateTime('UTC')),
    updated Nullable(DateTime('UTC')),
    _hash UInt64,
    _ver UInt64,
    _loaded_at DateTime('UTC'),
    _run_id String,
    _deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY (account_id, banner_id);

CREATE TABLE IF NOT EXISTS fact_vk_ads_daily
(
    account_id String,
    date Date,
    banner_id UInt64,
    ad_group_id UInt64,
    ad_plan_id UInt64,
    shows UInt64,
    clicks UInt64,
    spent Decimal(18,2),            -- account currency, as VK reports it
    goals UInt64,
    currency String,
    utm_source String,
    utm_medium String,
    utm_campaign String,
    utm_content String,
    utm_term String,
    utm_origin String,
    city String,
    event_date Nullable(Date),
    _hash UInt64,
    _ver UInt64,
    _loaded_at DateTime('UTC'),
    _run_id String,
    _deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_ver)
PARTITION BY toYYYYMM(date)
ORDER BY (account_id, banner_id, date);
