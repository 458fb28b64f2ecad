-- Ad analytics (issue 5): the thresholds every analytics view reads, and the detection history the alerts
-- and reports read. Models and formulas: sql/views/README.md.
--
-- dim_settings: one value per key; the newest _ver wins (v_analytics_settings takes argMax), so a user
-- overrides a default by inserting the key again with a higher _ver, e.g.
--   INSERT INTO dim_settings (key, value, note, _ver) VALUES ('cpr_spike_ratio', 1.3, 'ours', 1)
-- The defaults below carry _ver 0 (re-running this file re-inserts the same defaults, which changes nothing).

CREATE TABLE IF NOT EXISTS dim_settings
(
    key String,
    value Float64,
    note String,
    _ver UInt64
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY key;

INSERT INTO dim_settings (key, value, note, _ver) VALUES
    ('cpr_spike_ratio', 1.2, 'CPR spike when CPR >= ratio x baseline CPR', 0),
    ('min_baseline_weeks', 2, 'a CPR spike needs at least this many baseline weeks', 0),
    ('anomaly_score_scale', 0.5, 'anomaly_score = 1 - exp(-(cpr/baseline - cpr_spike_ratio) / scale)', 0),
    ('min_results.messages', 5, 'enough results in a week: messages family', 0),
    ('min_results.leadgen_form', 5, 'enough results in a week: leads (form)', 0),
    ('min_results.website_lead', 5, 'enough results in a week: leads (pixel)', 0),
    ('min_results.purchase', 3, 'enough results in a week: purchases', 0),
    ('min_results.click', 50, 'enough results in a week: clicks', 0),
    ('min_results.default', 5, 'enough results in a week: any other family', 0),
    ('deviation.spend', 30, 'trigger when spend delta_pct >= +30', 0),
    ('deviation.impressions', 0, '0 = not a trigger metric', 0),
    ('deviation.reach', 0, '0 = not a trigger metric', 0),
    ('deviation.frequency', 15, 'trigger when frequency delta_pct >= +15', 0),
    ('deviation.clicks', 0, '0 = not a trigger metric', 0),
    ('deviation.ctr', -15, 'trigger when ctr delta_pct <= -15', 0),
    ('deviation.link_ctr', -15, 'trigger when link_ctr delta_pct <= -15', 0),
    ('deviation.cpm', 15, 'trigger when cpm delta_pct >= +15', 0),
    ('deviation.cpc', 0, '0 = not a trigger metric', 0),
    ('deviation.results', -20, 'trigger when results delta_pct <= -20', 0),
    ('deviation.cpr', 20, 'deviation when cpr delta_pct >= +20 (preceding_deviations)', 0),
    ('deviation.quality_score', -20, 'trigger when the quality ranking score drops >= 20 %', 0),
    ('deviation.engagement_score', -20, 'trigger when the engagement ranking score drops >= 20 %', 0),
    ('deviation.conversion_score', -20, 'trigger when the conversion ranking score drops >= 20 %', 0),
    ('burnout.weight.frequency_delta', 0.25, 'risk weight; the seven weights sum to 1', 0),
    ('burnout.weight.frequency_slope', 0.15, 'risk weight', 0),
    ('burnout.weight.ctr_delta', 0.20, 'risk weight', 0),
    ('burnout.weight.ctr_slope', 0.15, 'risk weight', 0),
    ('burnout.weight.cpc_delta', 0.10, 'risk weight', 0),
    ('burnout.weight.reach_delta', 0.10, 'risk weight', 0),
    ('burnout.weight.spend_delta', 0.05, 'risk weight', 0),
    ('burnout.full.frequency_delta', 30, 'indicator fully on at frequency +30 % vs baseline', 0),
    ('burnout.full.frequency_slope', 10, 'fully on at frequency rising 10 % of baseline per week', 0),
    ('burnout.full.ctr_delta', -30, 'fully on at ctr -30 % vs baseline', 0),
    ('burnout.full.ctr_slope', -10, 'fully on at ctr falling 10 % of baseline per week', 0),
    ('burnout.full.cpc_delta', 30, 'fully on at cpc +30 % vs baseline', 0),
    ('burnout.full.reach_delta', -30, 'fully on at reach -30 % vs baseline', 0),
    ('burnout.full.spend_delta', 50, 'fully on at spend +50 % vs baseline', 0),
    ('burnout.level.medium', 0.25, 'risk_level medium from this risk_score', 0),
    ('burnout.level.high', 0.5, 'risk_level high from this risk_score', 0),
    ('burnout.level.critical', 0.75, 'risk_level critical from this risk_score', 0);

-- One row per (ad, week) CPR spike, written when `adhouse analytics refresh` first sees it: later refreshes
-- skip pairs already here, so the table is the history of first detections and nothing is rewritten.
-- New since a moment T: SELECT * FROM fb_anomaly_history WHERE detected_at > T.
CREATE TABLE IF NOT EXISTS fb_anomaly_history
(
    detected_at DateTime('UTC'),
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
    -- likely_triggers and preceding_deviations of the view as parallel arrays (18.16 turns a column of
    -- Array(Tuple) into Nested sub-columns, current releases do not: plain arrays mean the same on both)
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
PARTITION BY toYYYYMM(detected_at)
ORDER BY (account_id, ad_id, week_start, detected_at);

-- v_burnout_risk rows as refreshes saw them: a row is added when an (ad, week, risk_level) is not recorded
-- yet, so an escalation of the same week is a new row and an unchanged risk adds nothing.
CREATE TABLE IF NOT EXISTS fb_burnout_history
(
    detected_at DateTime('UTC'),
    platform String,
    account_id String,
    campaign_id String,
    adset_id String,
    ad_id String,
    ad_name String,
    week_start Date,
    risk_score Float64,
    risk_level String,
    driver_names Array(String),     -- top_drivers of the view as parallel arrays (see fb_anomaly_history)
    driver_values Array(Float64),
    driver_contributions Array(Float64),
    predicted_cpr_change_pct Nullable(Float64)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(detected_at)
ORDER BY (account_id, ad_id, week_start, detected_at);
