-- v_data_freshness — grain: source (every registered loader). last_success_at from meta_job_runs;
-- newest_data_at = the newest day or instant in the source's tables; age_minutes since the last
-- successful run; slo_minutes from <SOURCE>_SLO_MINUTES (rendered at migrate time, see README);
-- status: never (no successful run), stale (age > SLO), fresh. Adding a source: one branch in `newest`.
CREATE VIEW v_data_freshness AS
SELECT source, enabled,
    if(has_success = 1, last_success_at, NULL) AS last_success_at,
    if(toUInt32(newest) = 0, NULL, newest) AS newest_data_at,
    if(has_success = 1, dateDiff('minute', last_success_at, now()), NULL) AS age_minutes,
    slo_minutes,
    multiIf(has_success = 0, 'never', dateDiff('minute', last_success_at, now()) > slo_minutes, 'stale', 'fresh') AS status
FROM
(
    SELECT source, slo_minutes, enabled, last_success_at, has_success
    FROM
    (
        SELECT tupleElement(s, 1) AS source, toUInt32(tupleElement(s, 2)) AS slo_minutes, toUInt8(tupleElement(s, 3)) AS enabled
        FROM (SELECT arrayJoin({{SOURCES}}) AS s)
    ) AS registered
    ALL LEFT JOIN
    (
        SELECT source, max(finished) AS last_success_at, toUInt8(1) AS has_success
        FROM
        (
            SELECT source, run_id, argMax(status, _ver) AS status, argMax(finished_at, _ver) AS finished
            FROM meta_job_runs
            GROUP BY source, run_id
        )
        WHERE status = 'success'
        GROUP BY source
    ) AS runs USING source
) AS sources
ALL LEFT JOIN
(
    SELECT source, max(newest) AS newest
    FROM
    (
        SELECT 'vk_ads' AS source, toDateTime(max(date), 'UTC') AS newest FROM fact_vk_ads_daily WHERE _deleted = 0
        UNION ALL SELECT 'direct', toDateTime(max(date), 'UTC') FROM fact_direct_daily WHERE _deleted = 0
        UNION ALL SELECT 'avito', toDateTime(max(date), 'UTC') FROM fact_avito_items_daily WHERE _deleted = 0
        UNION ALL SELECT 'cbr_rates', toDateTime(max(published_date), 'UTC') FROM dim_currency_rates WHERE _deleted = 0
        UNION ALL SELECT 'qtickets_sheets', max(sold_at) FROM stg_qtickets_sheets_sales WHERE _deleted = 0
        UNION ALL SELECT source, max(sold_at) FROM stg_qtickets_sales_raw WHERE _deleted = 0 GROUP BY source
    )
    GROUP BY source
) AS data USING source;
