-- Yandex Direct (loaders/direct): campaigns and ads as staged from the JSON API, and the daily
-- ad-level fact from the Reports API. Money is in the campaign currency (`currency`), with or without
-- VAT as `cost_includes_vat` says (DIRECT_INCLUDE_VAT). Portable to ClickHouse 18.16 and current releases.

CREATE TABLE IF NOT EXISTS stg_direct_campaigns
(
    client_login String,
    campaign_id UInt64,
    name String,
    type String,                    -- TEXT_CAMPAIGN, UNIFIED_CAMPAIGN (Campaign Master), ...
    state String,
    status String,
    currency String,
    _ver UInt64,
    _loaded_at DateTime('UTC'),
    _run_id String,
    _deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY (client_login, campaign_id);

CREATE TABLE IF NOT EXISTS stg_direct_ads
(
    client_login String,
    ad_id UInt64,
    campaign_id UInt64,
    ad_group_id UInt64,
    state String,
    status String,
    type String,                    -- TEXT_AD, RESPONSIVE_AD, IMAGE_AD, ...
    href String,                    -- TextAd.Href as sent by Direct (macros kept raw); '' for other types
    title String,
    _ver UInt64,
    _loaded_at DateTime('UTC'),
    _run_id String,
    _deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY (client_login, ad_id);

CREATE TABLE IF NOT EXISTS fact_direct_daily
(
    client_login String,
    date Date,
    campaign_id UInt64,
    campaign_name String,
    ad_group_id UInt64,             -- 0 for Campaign Master rows (Direct reports none)
    ad_group_name String,
    ad_id UInt64,                   -- 0 for Campaign Master rows
    impressions UInt64,
    clicks UInt64,
    cost Decimal(18, 2),
    cost_includes_vat UInt8,
    conversions Nullable(UInt64),   -- NULL where Direct sends `--` (no Metrica goals)
    currency String,
    utm_source String,
    utm_medium String,
    utm_campaign String,
    utm_content String,
    utm_term String,
    utm_origin String,
    city String,
    event_date Nullable(Date),
    _ver UInt64,
    _loaded_at DateTime('UTC'),
    _run_id String,
    _deleted UInt8 DEFAULT 0,
    _hash UInt64
)
ENGINE = ReplacingMergeTree(_ver)
PARTITION BY toYYYYMM(date)
ORDER BY (client_login, campaign_id, ad_id, date);
