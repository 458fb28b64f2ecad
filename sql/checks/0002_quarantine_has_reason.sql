-- A quarantined row always says why and what it was.
SELECT source, target_table, record_key
FROM meta_quarantine FINAL
WHERE reason = '' OR payload = '' OR target_table = ''
