-- The alert journal: every accepted alert is written here before anything is sent to the gateway.
CREATE TABLE alerts (
    alert_id      TEXT PRIMARY KEY,
    received_at   TEXT    NOT NULL,          -- RFC 3339, UTC
    received_unix INTEGER NOT NULL,          -- seconds, for the dedup window
    raw_body      TEXT    NOT NULL,          -- the alert as sent, secret fields removed
    intent        TEXT    NOT NULL,          -- the normalised intent (JSON)
    contract_id   TEXT,
    account_id    INTEGER,
    status        TEXT    NOT NULL,          -- received | placed | closed | cancelled | noop | rejected | failed | dry_run
    path          TEXT,                      -- how the outcome was reached (e.g. "ambiguous -> reconciled by customTag: found")
    orders        TEXT    NOT NULL DEFAULT '[]', -- gateway order ids, or the dry-run requests (JSON)
    error         TEXT,
    sent_at       TEXT,
    acked_at      TEXT,
    response      TEXT                       -- the final answer (JSON), returned again for duplicates
);
CREATE INDEX alerts_received ON alerts (received_unix DESC);
