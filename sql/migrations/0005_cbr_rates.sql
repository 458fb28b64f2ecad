-- CBR daily currency rates (loaders/cbr_rates): one row per calendar day per currency, so spend and
-- revenue in any currency join on (date, currency) directly. Weekend and holiday days carry the last
-- published rate forward (carried_forward = 1, published_date = the day CBR's set is dated). RUB itself
-- has a row for every day with rub_per_unit = 1, so a RUB amount needs no special case in a join.
-- Portable to ClickHouse 18.16 and current releases; Decimal arrives as JSON numbers.

CREATE TABLE IF NOT EXISTS dim_currency_rates
(
    date Date,                      -- the calendar day the rate applies on (reporting time zone)
    currency String,                -- ISO 4217 letter code (CharCode): USD, EUR, KZT, ...; RUB for the identity row
    name String,                    -- CBR's Russian name of the quote ("Казахстанских тенге"), decoded from windows-1251
    rub_per_unit Decimal(18,6),     -- RUB for ONE unit: Value / Nominal
    nominal UInt32,                 -- units the quote is for (1, 10, 100, ...)
    value Decimal(18,4),            -- RUB for `nominal` units, as published
    published_date Date,            -- the Date of the CBR set this rate comes from (<= date)
    carried_forward UInt8,          -- 1 when published_date < date (weekend, holiday)
    _hash UInt64,
    _ver UInt64,
    _loaded_at DateTime('UTC'),
    _run_id String,
    _deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY (currency, date);
