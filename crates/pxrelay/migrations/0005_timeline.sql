-- Fills on every alert (issue 11): each alert's timeline, one row per event, in the order the events happened.
-- `at` is RFC 3339 in UTC with microseconds and a `Z` (journal::timeline::stamp), so text order is time order;
-- `seq` orders events with the same `at` and makes the key. `data` is the event's fields (JSON object).
CREATE TABLE alert_events (
    alert_id TEXT    NOT NULL,
    seq      INTEGER NOT NULL,
    event    TEXT    NOT NULL CHECK (event IN ('received', 'journaled', 'sent', 'acknowledged', 'filled', 'legs',
                                               'closed')),
    at       TEXT    NOT NULL,
    data     TEXT    NOT NULL DEFAULT '{}',
    PRIMARY KEY (alert_id, seq)
);
-- The reference price at arrival (the limit/stop price, or for a market order the touch: the ask for a buy, the bid
-- for a sell; decimal text; NULL when no fresh quote was known) and where the executor read the position from.
ALTER TABLE alerts ADD COLUMN reference_price TEXT;
ALTER TABLE alerts ADD COLUMN position_source TEXT CHECK (position_source IN ('book', 'rest'));
