-- Live and paper trading never share a journal. The journal's mode is recorded once, in `journal_meta`, by the first
-- process that opens it (Journal::open); a process in the other mode refuses to start on it. Every row carries the
-- mode too (no default: an insert that forgets it fails), so an exported or merged row still says whether it was real.
CREATE TABLE journal_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    CHECK (key <> 'mode' OR value IN ('live', 'sim'))
);
-- A journal written before modes were recorded may hold real orders (live and `--sim` shared ./data/pxrelay.db), so
-- one with rows is live, and so are its rows: a paper process refuses it and `--reset` can never empty it. One
-- without rows takes the mode of the first process that opens it.
INSERT INTO journal_meta (key, value) SELECT 'mode', 'live' WHERE EXISTS (SELECT 1 FROM alerts);
CREATE TABLE alerts_v4 (
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
    content_key   TEXT,                      -- signal::content_key of an entry deduplicated by content, else NULL
    mode          TEXT    NOT NULL CHECK (mode IN ('live', 'sim')) -- the mode of the process that recorded it
);
INSERT INTO alerts_v4 SELECT alert_id, received_at, received_unix, raw_body, intent, contract_id, account_id, status,
    path, orders, error, sent_at, acked_at, response, content_key, 'live' FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_v4 RENAME TO alerts;
CREATE INDEX alerts_received ON alerts (received_unix DESC);
CREATE INDEX alerts_content ON alerts (content_key, received_unix) WHERE content_key IS NOT NULL;
