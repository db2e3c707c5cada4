//! The SQLite side of the timeline: `alert_events` rows written and read with rusqlite.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde_json::Value;

use crate::journal::timeline::{Event, TimelineEvent, TimelineWrite, stamp};

/// Appends `writes` in one transaction; each takes the next `seq` of its alert.
pub(in crate::journal) fn append(conn: &mut Connection, writes: &[TimelineWrite]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for w in writes {
        insert(&tx, &w.alert_id, w.event, w.at, &w.data)?;
    }
    tx.commit()
}

/// Replaces `alert_id`'s events other than `received`/`journaled` with `writes` (inside the caller's transaction).
pub(in crate::journal) fn replace(conn: &Connection, alert_id: &str, writes: &[TimelineWrite]) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM alert_events WHERE alert_id = ?1 AND event NOT IN ('received', 'journaled')")?
        .execute(params![alert_id])?;
    for w in writes {
        insert(conn, alert_id, w.event, w.at, &w.data)?;
    }
    Ok(())
}

/// Inserts one event (inside the caller's transaction, if any).
pub(in crate::journal) fn insert(
    conn: &Connection,
    alert_id: &str,
    event: Event,
    at: DateTime<Utc>,
    data: &Value,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO alert_events (alert_id, seq, event, at, data) VALUES (?1,
         (SELECT COALESCE(MAX(seq), 0) + 1 FROM alert_events WHERE alert_id = ?1), ?2, ?3, ?4)",
    )?
    .execute(params![alert_id, event.as_str(), stamp(at), data.to_string()])
    .map(drop)
}

/// The timelines of `ids`, each in time order.
pub(in crate::journal) fn load(
    conn: &Connection,
    ids: &[String],
) -> rusqlite::Result<HashMap<String, Vec<TimelineEvent>>> {
    let mut out: HashMap<String, Vec<TimelineEvent>> = HashMap::new();
    let mut stmt =
        conn.prepare_cached("SELECT event, at, data FROM alert_events WHERE alert_id = ?1 ORDER BY at, seq")?;
    for id in ids {
        let rows = stmt.query_map(params![id], |r| {
            let event: String = r.get(0)?;
            let data: String = r.get(2)?;
            let convert = |i, e: serde_json::Error| {
                rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
            };
            Ok(TimelineEvent {
                event: serde_json::from_value(Value::String(event)).map_err(|e| convert(0, e))?,
                at: r.get(1)?,
                data: serde_json::from_str(&data).map_err(|e| convert(2, e))?,
            })
        })?;
        let events = rows.collect::<rusqlite::Result<Vec<_>>>()?;
        if !events.is_empty() {
            out.insert(id.clone(), events);
        }
    }
    Ok(out)
}
