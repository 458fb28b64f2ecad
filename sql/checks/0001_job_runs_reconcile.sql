-- Every finished successful run reconciles: rows read = written + quarantined + skipped.
SELECT run_id, source, rows_read, rows_written, rows_quarantined, rows_skipped
FROM
(
    SELECT run_id, source,
        argMax(status, _ver) AS status,
        argMax(rows_read, _ver) AS rows_read,
        argMax(rows_written, _ver) AS rows_written,
        argMax(rows_quarantined, _ver) AS rows_quarantined,
        argMax(rows_skipped, _ver) AS rows_skipped
    FROM meta_job_runs
    GROUP BY run_id, source
)
WHERE status = 'success' AND rows_read != rows_written + rows_quarantined + rows_skipped
