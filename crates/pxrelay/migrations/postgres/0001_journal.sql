-- The journal in PostgreSQL (issue 14): the tables the SQLite journal has after its migrations 0001-0006 (../), with
-- the same columns, types as text where SQLite keeps text (times are RFC 3339, decimals and JSON are text), and the
-- same CHECK lists, plus what many processes sharing one database need:
--   alerts.seq            arrival order (SQLite's rowid): the leader takes queued alerts in this order;
--   alerts.claimed_epoch  the leader epoch that took the alert on; NULL while it waits in the queue for the leader
--                         (journaled by a standby, or by an instance still warming up);
--   alerts.sent_epoch     the leader epoch that wrote `sent_at` (the fence: written only while that epoch is current);
--   leader                one row: the epoch, incremented at every acquisition of the leader lock.
CREATE TABLE alerts (
    alert_id        TEXT      PRIMARY KEY,
    seq             BIGSERIAL NOT NULL,
    received_at     TEXT      NOT NULL,
    received_unix   BIGINT    NOT NULL,
    raw_body        TEXT      NOT NULL,
    intent          TEXT      NOT NULL,
    contract_id     TEXT,
    account_id      INTEGER,
    status          TEXT      NOT NULL CHECK (status IN ('received', 'pending', 'placed', 'closed', 'cancelled', 'noop',
                                                         'rejected', 'failed', 'unknown', 'expired', 'dry_run',
                                                         'partial')),
    path            TEXT,
    orders          TEXT      NOT NULL DEFAULT '[]',
    error           TEXT,
    sent_at         TEXT,
    acked_at        TEXT,
    response        TEXT,
    content_key     TEXT,
    mode            TEXT      NOT NULL CHECK (mode IN ('live', 'sim')),
    reference_price TEXT,
    position_source TEXT      CHECK (position_source IN ('book', 'rest')),
    parent_id       TEXT,
    claimed_epoch   BIGINT,
    sent_epoch      BIGINT
);
CREATE INDEX alerts_received ON alerts (received_unix DESC);
CREATE INDEX alerts_seq ON alerts (seq);
CREATE INDEX alerts_content ON alerts (content_key, received_unix) WHERE content_key IS NOT NULL;
CREATE INDEX alerts_parent ON alerts (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX alerts_queue ON alerts (seq) WHERE status = 'received' AND claimed_epoch IS NULL;
CREATE INDEX alerts_taken ON alerts (claimed_epoch) WHERE status = 'received' AND claimed_epoch IS NOT NULL;

-- `seq` is one sequence for all alerts (not per alert as in SQLite): two writers appending to one alert's timeline
-- at once never collide, and (at, seq) is still time order.
CREATE TABLE alert_events (
    alert_id TEXT      NOT NULL,
    seq      BIGSERIAL NOT NULL,
    event    TEXT      NOT NULL CHECK (event IN ('received', 'journaled', 'sent', 'acknowledged', 'filled', 'legs',
                                                 'closed')),
    at       TEXT      NOT NULL,
    data     TEXT      NOT NULL DEFAULT '{}',
    PRIMARY KEY (alert_id, seq)
);

CREATE TABLE journal_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    CHECK (key <> 'mode' OR value IN ('live', 'sim'))
);

CREATE TABLE leader (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    epoch  BIGINT  NOT NULL,
    holder TEXT,
    since  TEXT
);
INSERT INTO leader (id, epoch) VALUES (1, 0);
