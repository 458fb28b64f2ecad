-- Ad analytics (issue 5): a stored copy of v_cpr_anomalies and v_burnout_risk that the views serve while it is
-- current, so a read costs a few milliseconds instead of recomputing every ad's history (about 10× a FINAL
-- scan of the weekly insights). A refresh (`adhouse analytics refresh`, the batch sync's analytics step, the
-- demo) computes the views once and writes one generation of rows here, then one state row naming it.
-- The views check the state on every read (int_fb_analytics_store_gate, sql/views/README.md "Stored copy"):
-- the newest generation is served only while nothing it was computed from has changed (the parts of
-- stg_fb_insights_weekly, stg_fb_adsets and dim_settings, their mutations and definitions) and on the day it
-- was computed; otherwise the views compute, as before. So the views are exact whether or not a refresh ran.
--
-- fb_analytics_store_state: one row per refresh; the greatest generation is the current one.
--   generation   the refresh's start in microseconds plus a random part (a later refresh has a greater one)
--   fingerprint  int_fb_analytics_fingerprint read before the views were computed
--   day          today() then: v_cpr_anomalies' maturity and v_burnout_risk's latest week depend on it
-- fb_anomaly_store / fb_burnout_store: the views' rows of each generation (a partition per generation; a
-- refresh drops all but the newest two). Array(Tuple) columns are parallel arrays, as in the history tables.

CREATE TABLE IF NOT EXISTS fb_analytics_store_state
(
    generation UInt64,
    fingerprint String,
    day Date,
    written_at DateTime('UTC')
)
ENGINE = MergeTree
ORDER BY generation;

CREATE TABLE IF NOT EXISTS fb_anomaly_store
(
    generation UInt64,
    platform String,
    account_id String,
    campaign_id String,
    adset_id String,
    ad_id String,
    ad_name String,
    currency String,
    result_family String,
    week_start Date,
    anomaly_type String,
    current_value Float64,
    baseline_value Float64,
    delta_pct Float64,
    results Float64,
    baseline_weeks UInt8,
    anomaly_score Float64,
    confidence Float64,
    trigger_metrics Array(String),
    trigger_values Array(Float64),
    trigger_deltas_pct Array(Float64),
    deviation_week_offsets Array(Int8),
    deviation_weeks Array(Date),
    deviation_metrics Array(Array(String)),
    deviation_values Array(Array(Float64)),
    deviation_deltas_pct Array(Array(Float64))
)
ENGINE = MergeTree
PARTITION BY generation
ORDER BY (account_id, ad_id, week_start);

CREATE TABLE IF NOT EXISTS fb_burnout_store
(
    generation UInt64,
    platform String,
    account_id String,
    campaign_id String,
    adset_id String,
    ad_id String,
    ad_name String,
    currency String,
    week_start Date,
    baseline_weeks UInt8,
    risk_score Float64,
    risk_level String,
    driver_names Array(String),
    driver_values Array(Float64),
    driver_contributions Array(Float64),
    predicted_cpr_change_pct Nullable(Float64),
    frequency_delta_pct Nullable(Float64),
    frequency_slope_pct Nullable(Float64),
    ctr_delta_pct Nullable(Float64),
    ctr_slope_pct Nullable(Float64),
    cpc_delta_pct Nullable(Float64),
    reach_delta_pct Nullable(Float64),
    spend_delta_pct Nullable(Float64)
)
ENGINE = MergeTree
PARTITION BY generation
ORDER BY (account_id, ad_id);
