-- Ad analytics (issue 5): how long a week's conversions keep arriving. Facebook attributes conversions to the
-- day of the click or view, days later, so the running week and the week just ended show too few results
-- and a CPR too high: v_cpr_anomalies reports a week only once week_start + 6 + anomaly.maturity_days <
-- today() (the default 7 covers the default 7-day click attribution window). Override as any setting:
--   INSERT INTO dim_settings (key, value, note, _ver) VALUES ('anomaly.maturity_days', 3, 'ours', 1)
-- _ver 0 as in 0012: re-running this file re-inserts the same default, which changes nothing.
INSERT INTO dim_settings (key, value, note, _ver) VALUES
    ('anomaly.maturity_days', 7, 'a week is checked for a CPR spike once week_start + 6 + this many days < today', 0);
