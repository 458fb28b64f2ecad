-- Facebook / Meta Ads (loaders/facebook): ad accounts, campaign structure and ad-level daily insights.
-- Portable SQL (ClickHouse 18.16 and current): ReplacingMergeTree(_ver) keyed on the natural key, readers
-- use FINAL. Ids are numeric strings upstream and exceed 2^53, so they stay String. account_id is the
-- configured `act_<n>` id everywhere. Budgets are minor units (as the API sends them); insight money is
-- major units, Decimal(18,2) in the account currency. Action lists are parallel arrays (Nested).

CREATE TABLE IF NOT EXISTS stg_fb_accounts
(
    account_id String,              -- act_<n>
    name String,
    currency String,
    timezone_name String,
    business_id Nullable(String),
    business_name Nullable(String),
    account_status Int32,           -- 1 ACTIVE, 2 DISABLED, 3 UNSETTLED, 101 CLOSED, ...
    label String,                   -- the configured client/tenant label, '' when none
    _hash UInt64,
    _ver UInt64,
    _loaded_at DateTime('UTC'),
    _run_id String,
    _deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY (account_id);

CREATE TABLE IF NOT EXISTS stg_fb_campaigns
(
    account_id String,
    campaign_id String,
    name String,
    status String,
    configured_status String,
    effective_status String,        -- includes ARCHIVED and DELETED
    objective String,
    buying_type String,
    bid_strategy String,
    daily_budget Nullable(Int64),   -- minor units of the account currency
    lifetime_budget Nullable(Int64),
    budget_remaining Nullable(Int64),
    spend_cap Nullable(Int64),
    start_time Nullable(DateTime('UTC')),
    stop_time Nullable(DateTime('UTC')),
    created_time Nullable(DateTime('UTC')),
    updated_time Nullable(DateTime('UTC')),
    _hash UInt64,
    _ver UInt64,
    _loaded_at DateTime('UTC'),
    _run_id String,
    _deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY (account_id, campaign_id);

CREATE TABLE IF NOT EXISTS stg_fb_adsets
(
    account_id String,
    adset_id String,
    campaign_id String,
    name String,
    status String,
    effective_status String,
    optimization_goal String,       -- chooses the result family (v_fb_daily_results)
    billing_event String,
    bid_strategy String,
    bid_amount Nullable(Int64),     -- minor units
    daily_budget Nullable(Int64),
    lifetime_budget Nullable(Int64),
    budget_remaining Nullable(Int64),
    destination_type String,
    targeting_summary String,       -- e.g. 'age 18-45; genders all; countries RU; cities 2'
    start_time Nullable(DateTime('UTC')),
    end_time Nullable(DateTime('UTC')),
    created_time Nullable(DateTime('UTC')),
    updated_time Nullable(DateTime('UTC')),
    _hash UInt64,
    _ver UInt64,
    _loaded_at DateTime('UTC'),
    _run_id String,
    _deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY (account_id, adset_id);

CREATE TABLE IF NOT EXISTS stg_fb_ads
(
    account_id String,
    ad_id String,
    adset_id String,
    campaign_id String,
    name String,
    status String,
    effective_status String,
    creative_id String,
    utm_source String,              -- from the creative's link and url_tags (utmFields)
    utm_medium String,
    utm_campaign String,
    utm_content String,
    utm_term String,
    utm_origin String,
    city String,
    event_date Nullable(Date),
    created_time Nullable(DateTime('UTC')),
    updated_time Nullable(DateTime('UTC')),
    _hash UInt64,
    _ver UInt64,
    _loaded_at DateTime('UTC'),
    _run_id String,
    _deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY (account_id, ad_id);

CREATE TABLE IF NOT EXISTS stg_fb_creatives
(
    account_id String,
    creative_id String,
    name String,
    status String,
    title String,
    body String,
    object_type String,
    call_to_action_type String,
    link_url String,
    url_tags String,
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
ORDER BY (account_id, creative_id);

CREATE TABLE IF NOT EXISTS stg_fb_insights_daily
(
    account_id String,
    date Date,
    ad_id String,
    adset_id String,
    campaign_id String,
    ad_name String,
    adset_name String,
    campaign_name String,
    currency String,
    objective String,
    optimization_goal String,       -- as the insights row reports it (fallback when the ad set is unknown)
    impressions UInt64,
    reach UInt64,
    frequency Float64,
    clicks UInt64,
    inline_link_clicks UInt64,
    spend Decimal(18,2),            -- major units, account currency
    ctr Float64,                    -- percent, as reported
    inline_link_click_ctr Float64,  -- percent, as reported
    cpm Float64,
    cpc Float64,
    quality_ranking String,
    engagement_rate_ranking String,
    conversion_rate_ranking String,
    `actions.type` Array(String),
    `actions.value` Array(Float64),
    `action_values.type` Array(String),
    `action_values.value` Array(Float64),
    `cost_per_action_type.type` Array(String),
    `cost_per_action_type.value` Array(Float64),
    _hash UInt64,
    _ver UInt64,
    _loaded_at DateTime('UTC'),
    _run_id String,
    _deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_ver)
PARTITION BY toYYYYMM(date)
ORDER BY (account_id, ad_id, date);
