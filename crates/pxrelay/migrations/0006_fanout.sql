-- One alert, many accounts (issue 13). A fan-out alert is a parent row (its `account_id` NULL, its status the overall
-- one) and one child row per account, `<parent id>@<account id>`, whose `parent_id` names the parent: each child
-- has its own status, orders, timeline and fills, like a single-account alert. `partial` joins the statuses (some
-- accounts succeeded, some did not). The table is rebuilt for the CHECK; rows, columns and indexes are kept.
CREATE TABLE alerts_v6 (
    alert_id        TEXT    PRIMARY KEY,
    received_at     TEXT    NOT NULL,          -- RFC 3339, UTC
    received_unix   INTEGER NOT NULL,          -- seconds, for the dedup windows
    raw_body        TEXT    NOT NULL,          -- the alert as sent, secret fields removed
    intent          TEXT    NOT NULL,          -- the normalised intent (JSON of signal::Intent), 'null' for none
    contract_id     TEXT,
    account_id      INTEGER,                   -- NULL for a fan-out's parent row
    status          TEXT    NOT NULL CHECK (status IN ('received', 'pending', 'placed', 'closed', 'cancelled', 'noop',
                                                       'rejected', 'failed', 'unknown', 'expired', 'dry_run',
                                                       'partial')),
    path            TEXT,
    orders          TEXT    NOT NULL DEFAULT '[]',
    error           TEXT,
    sent_at         TEXT,
    acked_at        TEXT,
    response        TEXT,
    content_key     TEXT,
    mode            TEXT    NOT NULL CHECK (mode IN ('live', 'sim')),
    reference_price TEXT,
    position_source TEXT    CHECK (position_source IN ('book', 'rest')),
    parent_id       TEXT                       -- the fan-out parent of a per-account child row, else NULL
);
INSERT INTO alerts_v6 SELECT alert_id, received_at, received_unix, raw_body, intent, contract_id, account_id, status,
    path, orders, error, sent_at, acked_at, response, content_key, mode, reference_price, position_source, NULL
    FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_v6 RENAME TO alerts;
CREATE INDEX alerts_received ON alerts (received_unix DESC);
CREATE INDEX alerts_content ON alerts (content_key, received_unix) WHERE content_key IS NOT NULL;
CREATE INDEX alerts_parent ON alerts (parent_id) WHERE parent_id IS NOT NULL;
