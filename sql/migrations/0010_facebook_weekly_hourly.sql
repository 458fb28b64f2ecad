-- Facebook / Meta Ads: ad-level weekly and hourly insights (loaders/facebook), beside the daily table of 0008.
-- Weekly rows are Monday-aligned 7-day buckets pulled with time_increment=7 from a Monday: reach and
-- frequency are not additive over days, so a week is its own upstream row, never a sum of daily rows.
-- Hourly rows are today's (and yesterday's) intraday numbers by the advertiser's hour; Meta serves no reach
-- or rankings with the hourly breakdown. Same portable rules as 0008: ReplacingMergeTree(_ver), FINAL readers.

CREATE TABLE IF NOT EXISTS stg_fb_insights_weekly
(
    account_id String,
    week_start Date,                -- Monday; the 7-day bucket week_start..week_start+6
    date_stop Date,                 -- as reported (week_start + 6; earlier for the running week)
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
PARTITION BY toYYYYMM(week_start)
ORDER BY (account_id, ad_id, week_start);

CREATE TABLE IF NOT EXISTS stg_fb_insights_hourly
(
    account_id String,
    date Date,
    hour UInt8,                     -- 0..23 of hourly_stats_aggregated_by_advertiser_time_zone
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
    clicks UInt64,
    inline_link_clicks UInt64,
    spend Decimal(18,2),            -- major units, account currency
    ctr Float64,                    -- percent, as reported
    inline_link_click_ctr Float64,  -- percent, as reported
    cpm Float64,
    cpc Float64,
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
ORDER BY (account_id, ad_id, date, hour);
