-- v_avito_daily — grain: profile × day (Moscow).
-- Sources: fact_avito_items_daily (views, contacts, favorites summed over items), fact_avito_spend_daily
-- (spend in RUB, charges minus refunds), fact_avito_balance (balance_real, balance_bonus: the last
-- snapshot taken that day, by argMax over snapshot_at; 0 with balance_snapshot_at = 1970-01-01 on days
-- without a snapshot). All read through FINAL, `_deleted` rows dropped.
-- 18.16-portable: no window functions, no multi-way JOIN (a FULL JOIN on 18.16 loses the keys of
-- right-only rows), so the three sources are stacked with UNION ALL in identical types and grouped.
CREATE VIEW v_avito_daily AS
SELECT
    profile,
    date,
    sum(views) AS views,
    sum(contacts) AS contacts,
    sum(favorites) AS favorites,
    sum(spend) AS spend,
    argMax(balance_real, snapshot_at) AS balance_real,
    argMax(balance_bonus, snapshot_at) AS balance_bonus,
    max(snapshot_at) AS balance_snapshot_at
FROM
(
    SELECT profile, date, views, contacts, favorites,
           toDecimal64(0, 2) AS spend, toDecimal64(0, 2) AS balance_real, toDecimal64(0, 2) AS balance_bonus,
           toDateTime(0, 'UTC') AS snapshot_at
    FROM fact_avito_items_daily FINAL
    WHERE _deleted = 0
    UNION ALL
    SELECT profile, date, toUInt64(0), toUInt64(0), toUInt64(0),
           toDecimal64(spend, 2), toDecimal64(0, 2), toDecimal64(0, 2), toDateTime(0, 'UTC')
    FROM fact_avito_spend_daily FINAL
    WHERE _deleted = 0
    UNION ALL
    SELECT profile, date, toUInt64(0), toUInt64(0), toUInt64(0),
           toDecimal64(0, 2), toDecimal64(balance_real, 2), toDecimal64(balance_bonus, 2), snapshot_at
    FROM fact_avito_balance FINAL
    WHERE _deleted = 0
)
GROUP BY profile, date;
