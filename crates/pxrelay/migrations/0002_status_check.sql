-- Statuses become a checked list (0001 listed them in a comment only, without `unknown`): the table is rebuilt with a
-- CHECK constraint naming every AlertStatus (crates/pxrelay/src/outcome.rs), rows and index kept.
CREATE TABLE alerts_v2 (
    alert_id      TEXT PRIMARY KEY,
    received_at   TEXT    NOT NULL,          -- RFC 3339, UTC
    received_unix INTEGER NOT NULL,          -- seconds, for the dedup window
    raw_body      TEXT    NOT NULL,          -- the alert as sent, secret fields removed
    intent        TEXT    NOT NULL,          -- the normalised intent (JSON of signal::Intent)
    contract_id   TEXT,
    account_id    INTEGER,
    status        TEXT    NOT NULL CHECK (status IN ('received', 'pending', 'placed', 'closed', 'cancelled', 'noop',
                                                     'rejected', 'failed', 'unknown', 'dry_run')),
    path          TEXT,                      -- how the outcome was reached (e.g. "ambiguous -> reconciled by customTag: found")
    orders        TEXT    NOT NULL DEFAULT '[]', -- gateway order ids, or the dry-run requests (JSON)
    error         TEXT,
    sent_at       TEXT,
    acked_at      TEXT,
    response      TEXT                       -- the final answer (JSON of outcome::Answer), returned again for duplicates
);
INSERT INTO alerts_v2 SELECT alert_id, received_at, received_unix, raw_body, intent, contract_id, account_id, status,
    path, orders, error, sent_at, acked_at, response FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_v2 RENAME TO alerts;
CREATE INDEX alerts_received ON alerts (received_unix DESC);
