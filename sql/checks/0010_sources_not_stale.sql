-- No enabled source is past its freshness SLO (v_data_freshness; `never` is not flagged here).
SELECT source, last_success_at, age_minutes, slo_minutes
FROM v_data_freshness
WHERE enabled = 1 AND status = 'stale'
