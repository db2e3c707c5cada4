//! The alert journal (SQLite): every accepted alert is written **before** anything is sent, with its raw body
//! (secret fields removed), normalised intent, status, gateway order ids, error and timestamps. It is also the
//! dedup store: an alert id seen within the window returns the original outcome and sends nothing, across
//! restarts. An exclusive lock file makes a second pxrelay pointed at the same journal refuse to start.
//!
//! rusqlite is synchronous: every call runs on the blocking pool behind one connection (SQLite serialises writers
//! anyway), so request tasks never block a runtime worker. `synchronous=FULL`: an accepted alert survives a crash.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

const MIGRATIONS: &[&str] = &[include_str!("../migrations/0001_alerts.sql")];

/// Journal failures. Opening failures name the file.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Another process holds the journal.
    #[error(
        "another pxrelay process is already using the journal {0} (lock file {0}.lock). Two relays must never \
         trade the same journal: stop the other one, or give this one its own DATABASE_URL"
    )]
    Locked(String),
    /// The file or its directory could not be opened or created.
    #[error("cannot open the journal {path}: {source}")]
    Open {
        /// The database file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("journal: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The blocking task died.
    #[error("journal task failed: {0}")]
    Task(String),
}

/// An alert to record.
#[derive(Clone, Debug)]
pub struct NewAlert {
    /// The dedup key.
    pub alert_id: String,
    /// Arrival time.
    pub received_at: DateTime<Utc>,
    /// The body with secret fields removed.
    pub raw_body: String,
    /// The normalised intent.
    pub intent: serde_json::Value,
    /// The resolved contract.
    pub contract_id: Option<String>,
    /// The account.
    pub account_id: Option<i32>,
}

/// A journal row.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct StoredAlert {
    /// The dedup key.
    pub alert_id: String,
    /// Arrival time (RFC 3339).
    pub received_at: String,
    /// The body with secret fields removed.
    pub raw_body: String,
    /// The normalised intent.
    pub intent: serde_json::Value,
    /// The resolved contract.
    pub contract_id: Option<String>,
    /// The account.
    pub account_id: Option<i32>,
    /// `received` until an outcome is recorded.
    pub status: String,
    /// How the outcome was reached.
    pub path: Option<String>,
    /// Gateway order ids (or dry-run requests).
    pub orders: serde_json::Value,
    /// The failure, if any.
    pub error: Option<String>,
    /// When the first money-moving call was sent.
    pub sent_at: Option<String>,
    /// When the outcome was known.
    pub acked_at: Option<String>,
    /// The final answer, returned again for duplicates.
    pub response: Option<serde_json::Value>,
}

/// What recording an alert found.
#[derive(Clone, Debug)]
pub enum Recorded {
    /// First time: go ahead.
    New,
    /// Seen within the dedup window: do nothing, answer with the original.
    Duplicate(Box<StoredAlert>),
}

/// An outcome to store.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Final status.
    pub status: String,
    /// How it was reached.
    pub path: Option<String>,
    /// Order ids or dry-run requests.
    pub orders: serde_json::Value,
    /// Failure text.
    pub error: Option<String>,
    /// The answer given.
    pub response: Option<serde_json::Value>,
}

/// The journal handle. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Journal {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    conn: parking_lot::Mutex<Connection>,
    path: PathBuf,
    window: Duration,
    /// Held open for the life of the process: the exclusive lock that keeps a second relay out.
    _lock: std::fs::File,
}

impl Journal {
    /// Opens (creating the directory and file on first start), locks, and migrates the journal.
    pub fn open(path: &Path, window: Duration) -> Result<Self, JournalError> {
        let shown = path.display().to_string();
        let io = |source| JournalError::Open { path: shown.clone(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let lock_path = format!("{shown}.lock");
        let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(io)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(JournalError::Locked(shown)),
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let conn = Connection::open(path)?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;")?;
        migrate(&conn)?;
        Ok(Self {
            inner: Arc::new(Inner { conn: parking_lot::Mutex::new(conn), path: path.to_owned(), window, _lock: lock }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection, Duration) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, JournalError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&mut inner.conn.lock(), inner.window))
            .await
            .map_err(|e| JournalError::Task(e.to_string()))?
            .map_err(JournalError::from)
    }

    /// Records `alert` unless its id was seen within the dedup window (then returns the earlier row).
    pub async fn record(&self, alert: NewAlert) -> Result<Recorded, JournalError> {
        self.run(move |conn, window| {
            let tx = conn.transaction()?;
            let existing = select_one(&tx, &alert.alert_id)?;
            let cutoff = alert.received_at.timestamp() - i64::try_from(window.as_secs()).unwrap_or(i64::MAX);
            if let Some((row, received_unix)) = existing
                && received_unix >= cutoff
            {
                return Ok(Recorded::Duplicate(Box::new(row)));
            }
            tx.execute(
                "INSERT OR REPLACE INTO alerts (alert_id, received_at, received_unix, raw_body, intent, contract_id,
                 account_id, status, orders) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'received', '[]')",
                params![
                    alert.alert_id,
                    alert.received_at.to_rfc3339(),
                    alert.received_at.timestamp(),
                    alert.raw_body,
                    alert.intent.to_string(),
                    alert.contract_id,
                    alert.account_id,
                ],
            )?;
            tx.commit()?;
            Ok(Recorded::New)
        })
        .await
    }

    /// Notes that the first money-moving call is about to be sent.
    pub async fn mark_sent(&self, alert_id: &str) -> Result<(), JournalError> {
        let id = alert_id.to_owned();
        self.run(move |conn, _| {
            conn.execute(
                "UPDATE alerts SET sent_at = COALESCE(sent_at, ?2) WHERE alert_id = ?1",
                params![id, Utc::now().to_rfc3339()],
            )
            .map(drop)
        })
        .await
    }

    /// Stores the outcome.
    pub async fn finish(&self, alert_id: &str, outcome: Outcome) -> Result<(), JournalError> {
        let id = alert_id.to_owned();
        self.run(move |conn, _| {
            conn.execute(
                "UPDATE alerts SET status = ?2, path = ?3, orders = ?4, error = ?5, response = ?6, acked_at = ?7
                 WHERE alert_id = ?1",
                params![
                    id,
                    outcome.status,
                    outcome.path,
                    outcome.orders.to_string(),
                    outcome.error,
                    outcome.response.map(|r| r.to_string()),
                    Utc::now().to_rfc3339(),
                ],
            )
            .map(drop)
        })
        .await
    }

    /// One alert.
    pub async fn get(&self, alert_id: &str) -> Result<Option<StoredAlert>, JournalError> {
        let id = alert_id.to_owned();
        self.run(move |conn, _| Ok(select_one(conn, &id)?.map(|(row, _)| row))).await
    }

    /// The newest `limit` alerts, newest first.
    pub async fn list(&self, limit: u32) -> Result<Vec<StoredAlert>, JournalError> {
        self.run(move |conn, _| {
            let mut stmt = conn.prepare(&format!("{SELECT} ORDER BY received_unix DESC, rowid DESC LIMIT ?1"))?;
            let rows = stmt.query_map(params![limit], |r| row(r).map(|(a, _)| a))?;
            rows.collect()
        })
        .await
    }

    /// Alerts without an outcome (the process stopped while handling them).
    pub async fn unfinished(&self) -> Result<Vec<StoredAlert>, JournalError> {
        self.run(move |conn, _| {
            let mut stmt = conn.prepare(&format!("{SELECT} WHERE status = 'received' ORDER BY received_unix"))?;
            let rows = stmt.query_map([], |r| row(r).map(|(a, _)| a))?;
            rows.collect()
        })
        .await
    }
}

const SELECT: &str = "SELECT alert_id, received_at, raw_body, intent, contract_id, account_id, status, path, orders,
    error, sent_at, acked_at, response, received_unix FROM alerts";

fn select_one(conn: &Connection, id: &str) -> rusqlite::Result<Option<(StoredAlert, i64)>> {
    conn.query_row(&format!("{SELECT} WHERE alert_id = ?1"), params![id], row).optional()
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(StoredAlert, i64)> {
    let json = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
    Ok((
        StoredAlert {
            alert_id: r.get(0)?,
            received_at: r.get(1)?,
            raw_body: r.get(2)?,
            intent: json(r.get(3)?).unwrap_or(serde_json::Value::Null),
            contract_id: r.get(4)?,
            account_id: r.get(5)?,
            status: r.get(6)?,
            path: r.get(7)?,
            orders: json(r.get(8)?).unwrap_or_else(|| serde_json::json!([])),
            error: r.get(9)?,
            sent_at: r.get(10)?,
            acked_at: r.get(11)?,
            response: json(r.get(12)?),
        },
        r.get(13)?,
    ))
}

/// Applies the migrations not yet applied (tracked in `PRAGMA user_version`).
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let applied: usize = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))?.try_into().unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        conn.execute_batch(&format!("BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;", i + 1))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pxrelay-journal-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("data").join("journal.db")
    }

    fn alert(id: &str, at: DateTime<Utc>) -> NewAlert {
        NewAlert {
            alert_id: id.into(),
            received_at: at,
            raw_body: r#"{"symbol":"MNQ"}"#.into(),
            intent: serde_json::json!({"symbol": "MNQ"}),
            contract_id: Some("CON.F.US.MNQ.Z25".into()),
            account_id: Some(1),
        }
    }

    #[tokio::test]
    async fn duplicates_within_the_window_return_the_first_outcome_across_reopen() {
        let path = temp("dup");
        let now = Utc::now();
        {
            let j = Journal::open(&path, Duration::from_secs(3600)).unwrap();
            assert!(matches!(j.record(alert("a1", now)).await.unwrap(), Recorded::New));
            j.mark_sent("a1").await.unwrap();
            let outcome = Outcome {
                status: "placed".into(),
                orders: serde_json::json!([42]),
                response: Some(serde_json::json!({"status": "placed"})),
                ..Outcome::default()
            };
            j.finish("a1", outcome).await.unwrap();
        }
        let j = Journal::open(&path, Duration::from_secs(3600)).unwrap();
        match j.record(alert("a1", now + chrono::TimeDelta::seconds(5))).await.unwrap() {
            Recorded::Duplicate(row) => {
                assert_eq!(row.status, "placed");
                assert_eq!(row.orders, serde_json::json!([42]));
                assert!(row.sent_at.is_some() && row.acked_at.is_some());
            }
            Recorded::New => panic!("a duplicate was recorded as new"),
        }
        // Outside the window the id may be used again.
        let later = now + chrono::TimeDelta::hours(2);
        assert!(matches!(j.record(alert("a1", later)).await.unwrap(), Recorded::New));
        assert_eq!(j.list(10).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_second_process_cannot_open_a_journal_in_use() {
        let path = temp("lock");
        let _first = Journal::open(&path, Duration::from_secs(60)).unwrap();
        let err = Journal::open(&path, Duration::from_secs(60)).unwrap_err();
        assert!(matches!(err, JournalError::Locked(_)));
        assert!(err.to_string().contains("another pxrelay process"), "{err}");
    }

    #[tokio::test]
    async fn unfinished_alerts_are_listed() {
        let path = temp("unfinished");
        let j = Journal::open(&path, Duration::from_secs(60)).unwrap();
        j.record(alert("u1", Utc::now())).await.unwrap();
        assert_eq!(j.unfinished().await.unwrap().len(), 1);
        assert_eq!(j.get("u1").await.unwrap().unwrap().status, "received");
        assert!(j.get("nope").await.unwrap().is_none());
    }
}
