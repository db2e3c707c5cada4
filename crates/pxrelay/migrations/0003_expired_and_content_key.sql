-- `expired` joins the checked statuses (an alert too old by its own timestamp or its wait), and `content_key` lets an
-- entry without an id or timestamp be matched against an identical one a few seconds earlier (DUPLICATE_WINDOW_SECS).
CREATE TABLE alerts_v3 (
    alert_id      TEXT PRIMARY KEY,
    received_at   TEXT    NOT NULL,          -- RFC 3339, UTC
    received_unix INTEGER NOT NULL,          -- seconds, for the dedup windows
    raw_body      TEXT    NOT NULL,          -- the alert as sent, secret fields removed
    intent        TEXT    NOT NULL,          -- the normalised intent (JSON of signal::Intent)
    contract_id   TEXT,
    account_id    INTEGER,
    status        TEXT    NOT NULL CHECK (status IN ('received', 'pending', 'placed', 'closed', 'cancelled', 'noop',
                                                     'rejected', 'failed', 'unknown', 'expired', 'dry_run')),
    path          TEXT,                      -- how the outcome was reached (e.g. "ambiguous -> reconciled by customTag: found")
    orders        TEXT    NOT NULL DEFAULT '[]', -- gateway order ids, or the dry-run requests (JSON)
    error         TEXT,
    sent_at       TEXT,
    acked_at      TEXT,
    response      TEXT,                      -- the final answer (JSON of outcome::Answer), returned again for duplicates
    content_key   TEXT                       -- signal::content_key of an entry deduplicated by content, else NULL
);
INSERT INTO alerts_v3 SELECT alert_id, received_at, received_unix, raw_body, intent, contract_id, account_id, status,
    path, orders, error, sent_at, acked_at, response, NULL FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_v3 RENAME TO alerts;
CREATE INDEX alerts_received ON alerts (received_unix DESC);
CREATE INDEX alerts_content ON alerts (content_key, received_unix) WHERE content_key IS NOT NULL;
