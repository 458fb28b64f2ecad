-- v_fb_delivery_daily — grain: ad × day, from the ad's first to its last delivering day (a day with
-- impressions > 0 in stg_fb_insights_daily). Days after the last delivering day are not shown: a stop
-- becomes a pause only once delivery resumes.
--   delivering     1 on days with impressions, else 0 (impressions and spend are that day's)
--   paused         1 on a day without impressions between two delivering days
--   gap_start, gap_end, gap_days   the pause this day belongs to (NULL/0 on delivering days)
--   gap_cause      'status_change' when the ad's, its ad set's or its campaign's updated_time falls within the
--                  pause or one day either side of it (a pause, then a re-activation); otherwise 'delivery'
--                  (no edit explains the gap: budget, auction, review); '' on delivering days.
--   status_change_object / status_changed_at   which object's updated_time matched (ad first), and when
--   ad_status, adset_status, campaign_status   the current effective_status
-- Limitation: stg_fb_ads/adsets/campaigns keep only the latest version of each object, so only the latest
-- change is known: a pause whose status change was followed by later edits reads as 'delivery', and an
-- edit that is not a status change (name, budget) next to a gap reads as 'status_change'. Days are the
-- account's days, updated_time is UTC: the one-day margin absorbs the offset.
CREATE VIEW v_fb_delivery_daily AS
SELECT
    'facebook' AS platform, account_id, ad_id, date, delivering, impressions, spend,
    toUInt8(1 - delivering) AS paused, gap_start, gap_end, gap_days,
    multiIf(delivering = 1, '', changed_object != '', 'status_change', 'delivery') AS gap_cause,
    if(delivering = 1, '', changed_object) AS status_change_object,
    if(delivering = 1, NULL, multiIf(changed_object = 'ad', ad_updated, changed_object = 'adset', adset_updated,
        changed_object = 'campaign', campaign_updated, NULL)) AS status_changed_at,
    ad_status, adset_status, campaign_status
FROM
(
    SELECT
        *,
        multiIf(
            ifNull(toDate(ad_updated) >= gap_start - 1 AND toDate(ad_updated) <= gap_end + 1, 0), 'ad',
            ifNull(toDate(adset_updated) >= gap_start - 1 AND toDate(adset_updated) <= gap_end + 1, 0), 'adset',
            ifNull(toDate(campaign_updated) >= gap_start - 1 AND toDate(campaign_updated) <= gap_end + 1, 0), 'campaign',
            '') AS changed_object
    FROM
    (
        SELECT
            account_id, ad_id,
            day + day_offset AS date,
            toUInt8(day_offset = 0) AS delivering,
            if(day_offset = 0, day_impressions, toUInt64(0)) AS impressions,
            if(day_offset = 0, day_spend, toDecimal64(0, 2)) AS spend,
            if(day_offset > 0, toNullable(day + 1), NULL) AS gap_start,
            if(day_offset > 0, toNullable(next_day - 1), NULL) AS gap_end,
            toUInt32(if(day_offset > 0, next_day - day - 1, 0)) AS gap_days
        FROM
        (
            SELECT account_id, ad_id, d.1 AS day, d.2 AS day_impressions, d.3 AS day_spend, nd AS next_day
            FROM
            (
                SELECT
                    account_id, ad_id,
                    arraySort(groupArray((date, impressions, spend))) AS days,
                    arrayMap(z -> z.1, days) AS dates,
                    -- the next delivering day; the last day gets day + 1 (no pause after it)
                    arrayPushBack(arrayPopFront(dates), dates[-1] + 1) AS next_days
                FROM stg_fb_insights_daily FINAL
                WHERE _deleted = 0 AND impressions > 0
                GROUP BY account_id, ad_id
            ) AS per_ad
            ARRAY JOIN days AS d, next_days AS nd
        ) AS delivering_days
        ARRAY JOIN range(toUInt32(next_day - day)) AS day_offset
    ) AS calendar
    ALL LEFT JOIN
    (
        SELECT account_id, ad_id, ad_status, ad_updated, adset_status, adset_updated, campaign_status, campaign_updated
        FROM
        (
            SELECT account_id, ad_id, campaign_id, ad_status, ad_updated, adset_status, adset_updated
            FROM
            (
                SELECT account_id, ad_id, adset_id, campaign_id, effective_status AS ad_status, updated_time AS ad_updated
                FROM stg_fb_ads FINAL
                WHERE _deleted = 0
            ) AS ads
            ALL LEFT JOIN
            (
                SELECT account_id, adset_id, effective_status AS adset_status, updated_time AS adset_updated
                FROM stg_fb_adsets FINAL
                WHERE _deleted = 0
            ) AS adsets USING (account_id, adset_id)
        ) AS ads_adsets
        ALL LEFT JOIN
        (
            SELECT account_id, campaign_id, effective_status AS campaign_status, updated_time AS campaign_updated
            FROM stg_fb_campaigns FINAL
            WHERE _deleted = 0
        ) AS campaigns USING (account_id, campaign_id)
    ) AS structure USING (account_id, ad_id)
) AS with_structure;
