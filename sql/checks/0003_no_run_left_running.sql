-- No run stays `running` with a heartbeat older than an hour (the next run of the source settles it).
SELECT run_id, source, heartbeat_at
FROM
(
    SELECT run_id, source, argMax(status, _ver) AS status, argMax(heartbeat_at, _ver) AS heartbeat_at
    FROM meta_job_runs
    GROUP BY run_id, source
)
WHERE status = 'running' AND heartbeat_at < now() - 3600
