//! The SQLite store (rusqlite): one file, one process (an exclusive lock file keeps a second relay out).
//!
//! rusqlite is synchronous: every call runs on the blocking pool behind one connection (SQLite serialises writers
//! anyway), so request tasks never block a runtime worker. WAL with `synchronous=NORMAL`: a commit survives a
//! `kill -9` of pxrelay when it returns; when it reaches the disk (before some answers and untagged sends, and at
//! most [`durable::SYNC_INTERVAL`] later anyway) is [`durable`]'s business (docs/decisions/0008-journal-durability.md).
//! Why SQLite stays on rusqlite while Postgres is on sqlx: docs/decisions/0007-postgres-journal.md.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use projectx::{AccountId, ContractId};
use rusqlite::{Connection, OptionalExtension, params};

use super::row::{RawRow, Refusal};
use super::timeline::{self, Event, TimelineWrite};
use super::{Execution, JournalError, NewAlert, PositionSource, Recorded, Sending, StoredAlert};
use crate::mode::Mode;
use crate::outcome::{AlertStatus, Outcome};

pub(super) mod durable;
mod events;

pub(super) const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_alerts.sql"),
    include_str!("../../migrations/0002_status_check.sql"),
    include_str!("../../migrations/0003_expired_and_content_key.sql"),
    include_str!("../../migrations/0004_mode.sql"),
    include_str!("../../migrations/0005_timeline.sql"),
    include_str!("../../migrations/0006_fanout.sql"),
];

/// The SQLite journal.
#[derive(Debug)]
pub(super) struct Sqlite {
    conn: parking_lot::Mutex<Connection>,
    path: PathBuf,
    window: Duration,
    /// The journal's mode (equal to the process's: [`Sqlite::open`] refuses the other one).
    mode: Mode,
    /// When commits reach the disk ([`durable`]).
    durable: Arc<durable::Durable>,
    /// Held open for the life of the process: the exclusive lock that keeps a second relay out.
    _lock: std::fs::File,
}

impl Drop for Sqlite {
    fn drop(&mut self) {
        self.durable.close();
    }
}

impl Sqlite {
    pub(super) fn open(path: &Path, window: Duration, mode: Mode) -> Result<Self, JournalError> {
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
        // The writer's own checkpoint only as a safety net (10 000 pages, ~40 MB of WAL): the syncer checkpoints.
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;
             PRAGMA wal_autocheckpoint=10000;",
        )?;
        // Every hot statement compiled once and reused (issue 17: parsing SQL was a visible share of an alert's cost).
        conn.set_prepared_statement_cache_capacity(64);
        migrate(&conn)?;
        claim_mode(&conn, mode, &shown)?;
        // Whatever opening wrote (migrations, the mode) is synced here, before anything is accepted.
        let durable = durable::Durable::open(path).map_err(io)?;
        let checkpointer = Connection::open(path)?;
        checkpointer.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;")?;
        durable::spawn_syncer(&durable, checkpointer).map_err(io)?;
        Ok(Self { conn: parking_lot::Mutex::new(conn), path: path.to_owned(), window, mode, durable, _lock: lock })
    }

    pub(super) fn mode(&self) -> Mode {
        self.mode
    }

    #[cfg(test)]
    pub(super) async fn execute_raw(self: &Arc<Self>, sql: String) -> Result<u64, JournalError> {
        self.run(move |conn, _| conn.execute(&sql, []).map(|n| n as u64)).await
    }

    #[cfg(test)]
    pub(super) async fn query_i64(self: &Arc<Self>, sql: String) -> Result<i64, JournalError> {
        self.run(move |conn, _| conn.prepare_cached(&sql)?.query_row([], |r| r.get(0))).await
    }

    pub(super) async fn count(self: &Arc<Self>) -> Result<u64, JournalError> {
        let count: i64 = self.run(|conn, _| conn.query_row("SELECT COUNT(*) FROM alerts", [], |r| r.get(0))).await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    pub(super) async fn reset(self: &Arc<Self>) -> Result<u64, JournalError> {
        if self.mode != Mode::Sim {
            return Err(JournalError::ResetLive(self.path.display().to_string()));
        }
        let deleted = self
            .run(|conn, _| {
                conn.prepare_cached(
                    "DELETE FROM alert_events WHERE alert_id IN (SELECT alert_id FROM alerts WHERE mode = 'sim')",
                )?
                .execute([])?;
                conn.prepare_cached("DELETE FROM alerts WHERE mode = 'sim'")?.execute([])
            })
            .await?;
        Ok(u64::try_from(deleted).unwrap_or(u64::MAX))
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Connection, Duration) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, JournalError> {
        let inner = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.conn.lock();
            let before = conn.total_changes();
            let result = f(&mut conn, inner.window);
            // Counted while the lock is held: a sync that reads the count covers this commit.
            if conn.total_changes() != before {
                inner.durable.committed();
            }
            result
        })
        .await
        .map_err(|e| JournalError::Task(e.to_string()))?
        .map_err(JournalError::from)
    }

    /// Makes every commit made so far durable ([`durable::Durable::sync`]: at most one `fdatasync`, none when the
    /// syncer or another caller already covered them). Never holds the connection: other writes go on meanwhile.
    pub(super) async fn sync(self: &Arc<Self>) -> Result<(), JournalError> {
        let durable = self.durable.clone();
        tokio::task::spawn_blocking(move || durable.sync())
            .await
            .map_err(|e| JournalError::Task(e.to_string()))?
            .map_err(|source| JournalError::Sync { path: self.path.display().to_string(), source })
    }

    /// `fdatasync` calls of the WAL so far.
    pub(super) fn syncs(&self) -> u64 {
        self.durable.syncs()
    }

    pub(super) fn durable_state(&self) -> &durable::Durable {
        &self.durable
    }

    pub(super) async fn record(self: &Arc<Self>, alert: NewAlert) -> Result<Recorded, JournalError> {
        let mode = self.mode;
        self.run(move |conn, window| {
            let tx = conn.transaction()?;
            let received = alert.received_at.timestamp();
            let since = |w: Duration| received - i64::try_from(w.as_secs()).unwrap_or(i64::MAX);
            let existing = select_one(&tx, &alert.alert_id)?;
            if let Some((row, received_unix)) = existing
                && received_unix >= since(window)
            {
                return Ok(Recorded::Duplicate(Box::new(row)));
            }
            if let Some((key, content_window)) = &alert.content {
                let sql = format!(
                    "{SELECT} WHERE content_key = ?1 AND received_unix >= ?2 ORDER BY received_unix DESC, rowid DESC \
                     LIMIT 1"
                );
                let earlier =
                    tx.prepare_cached(&sql)?.query_row(params![key, since(*content_window)], row).optional()?;
                if let Some((row, _)) = earlier {
                    return Ok(Recorded::Duplicate(Box::new(row)));
                }
            }
            insert_new(&tx, &alert, mode)?;
            tx.commit()?;
            Ok(Recorded::New)
        })
        .await
    }

    pub(super) async fn record_children(self: &Arc<Self>, children: Vec<NewAlert>) -> Result<(), JournalError> {
        let mode = self.mode;
        self.run(move |conn, _| {
            let tx = conn.transaction()?;
            for child in &children {
                insert_new(&tx, child, mode)?;
            }
            tx.commit()
        })
        .await
    }

    pub(super) async fn record_refusal(self: &Arc<Self>, refusal: Refusal) -> Result<(), JournalError> {
        let mode = self.mode;
        self.run(move |conn, _| {
            let Refusal { alert_id, received_at, raw_body, intent, outcome, response } = refusal;
            conn.prepare_cached(
                "INSERT INTO alerts (alert_id, received_at, received_unix, raw_body, intent, status, path, orders,
                 error, acked_at, response, mode) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, '[]', ?8, ?2, ?9, ?10)",
            )?
            .execute(params![
                alert_id,
                received_at.to_rfc3339(),
                received_at.timestamp(),
                raw_body,
                intent,
                outcome.status.as_str(),
                outcome.path,
                outcome.error(),
                response,
                mode.as_str(),
            ])
            .map(drop)
        })
        .await
    }

    pub(super) async fn record_action(
        self: &Arc<Self>,
        alert_id: &str,
        at: DateTime<Utc>,
        raw_body: String,
        account_id: AccountId,
    ) -> Result<(), JournalError> {
        let (alert_id, mode) = (alert_id.to_owned(), self.mode);
        self.run(move |conn, _| {
            let tx = conn.transaction()?;
            tx.prepare_cached("INSERT INTO alerts (alert_id, received_at, received_unix, raw_body, intent, account_id, status, orders,
                 mode) VALUES (?1, ?2, ?3, ?4, 'null', ?5, ?6, '[]', ?7)")?.execute(
                params![
                    alert_id,
                    at.to_rfc3339(),
                    at.timestamp(),
                    raw_body,
                    account_id.get(),
                    AlertStatus::Received.as_str(),
                    mode.as_str(),
                ],
            )?;
            let none = serde_json::json!({});
            events::insert(&tx, &alert_id, Event::Received, at, &none)?;
            events::insert(&tx, &alert_id, Event::Journaled, Utc::now(), &none)?;
            tx.commit()
        })
        .await
    }

    pub(super) async fn mark_sent(self: &Arc<Self>, alert_id: &str, sending: Sending) -> Result<(), JournalError> {
        let id = alert_id.to_owned();
        self.run(move |conn, _| {
            let now = Utc::now();
            let tx = conn.transaction()?;
            tx.prepare_cached("UPDATE alerts SET sent_at = COALESCE(sent_at, ?2) WHERE alert_id = ?1")?
                .execute(params![id, now.to_rfc3339()])?;
            events::insert(&tx, &id, Event::Sent, now, &serde_json::json!({}))?;
            tx.commit()
        })
        .await?;
        match sending {
            // The broker holds the order under the alert's customTag: recoverable without this row.
            Sending::Tagged => Ok(()),
            // Nothing at the broker would tell this call was ours: the row and its mark reach the disk first.
            Sending::Untagged => self.sync().await,
        }
    }

    pub(super) async fn append(self: &Arc<Self>, writes: Vec<TimelineWrite>) -> Result<(), JournalError> {
        self.run(move |conn, _| events::append(conn, &writes)).await
    }

    pub(super) async fn replace_timeline(
        self: &Arc<Self>,
        alert_id: &str,
        writes: Vec<TimelineWrite>,
        execution: Execution,
    ) -> Result<bool, JournalError> {
        let id = alert_id.to_owned();
        self.run(move |conn, _| {
            let tx = conn.transaction()?;
            if store_execution(&tx, &id, &execution)? == 0 {
                return Ok(false);
            }
            events::replace(&tx, &id, &writes)?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    pub(super) async fn store_outcome(
        self: &Arc<Self>,
        alert_id: &str,
        outcome: &Outcome,
        response: String,
        execution: Execution,
    ) -> Result<(), JournalError> {
        let id = alert_id.to_owned();
        let outcome = outcome.clone();
        self.run(move |conn, _| {
            // One commit for both.
            let tx = conn.transaction()?;
            store_execution(&tx, &id, &execution)?;
            store_outcome(&tx, &id, &outcome, &response)?;
            tx.commit()
        })
        .await
    }

    pub(super) async fn get(self: &Arc<Self>, alert_id: &str) -> Result<Option<StoredAlert>, JournalError> {
        let id = alert_id.to_owned();
        self.run(move |conn, _| {
            let Some((first, _)) = select_one(conn, &id)? else { return Ok(None) };
            let Some(mut alert) = with_timelines(conn, vec![first])?.pop() else { return Ok(None) };
            let mut stmt = conn.prepare(&format!("{SELECT} WHERE parent_id = ?1 ORDER BY account_id"))?;
            let children = stmt.query_map(params![id], |r| row(r).map(|(a, _)| a))?;
            let children = children.collect::<rusqlite::Result<Vec<_>>>()?;
            drop(stmt);
            alert.accounts = with_timelines(conn, children)?;
            Ok(Some(alert))
        })
        .await
    }

    pub(super) async fn list(self: &Arc<Self>, limit: u32) -> Result<Vec<StoredAlert>, JournalError> {
        self.run(move |conn, _| {
            let mut stmt = conn.prepare(&format!(
                "{SELECT} WHERE parent_id IS NULL ORDER BY received_unix DESC, rowid DESC LIMIT ?1"
            ))?;
            let rows = stmt.query_map(params![limit], |r| row(r).map(|(a, _)| a))?;
            let rows = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            drop(stmt);
            with_timelines(conn, rows)
        })
        .await
    }

    pub(super) async fn state(self: &Arc<Self>, key: &'static str) -> Result<Option<String>, JournalError> {
        self.run(move |conn, _| {
            conn.prepare_cached("SELECT value FROM journal_meta WHERE key = ?1")?
                .query_row(params![key], |r| r.get(0))
                .optional()
        })
        .await
    }

    pub(super) async fn set_state(self: &Arc<Self>, key: &'static str, value: String) -> Result<(), JournalError> {
        self.run(move |conn, _| {
            conn.prepare_cached(
                "INSERT INTO journal_meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
            )?
            .execute(params![key, value])
            .map(drop)
        })
        .await
    }

    pub(super) async fn unfinished(self: &Arc<Self>) -> Result<Vec<StoredAlert>, JournalError> {
        self.run(move |conn, _| {
            let mut stmt = conn.prepare(&format!("{SELECT} WHERE status = ?1 ORDER BY received_unix"))?;
            let rows = stmt.query_map(params![AlertStatus::Received.as_str()], |r| row(r).map(|(a, _)| a))?;
            rows.collect()
        })
        .await
    }
    pub(super) async fn in_status(
        self: &Arc<Self>,
        status: AlertStatus,
        since: DateTime<Utc>,
    ) -> Result<Vec<StoredAlert>, JournalError> {
        self.run(move |conn, _| {
            let sql = format!("{SELECT} WHERE status = ?1 AND received_unix >= ?2 ORDER BY received_unix, rowid");
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt.query_map(params![status.as_str(), since.timestamp()], |r| row(r).map(|(a, _)| a))?;
            rows.collect()
        })
        .await
    }

    pub(super) async fn placed_orders(self: &Arc<Self>, since: DateTime<Utc>) -> Result<Vec<String>, JournalError> {
        self.run(move |conn, _| {
            let mut stmt = conn.prepare(
                "SELECT orders FROM alerts WHERE received_unix >= ?1 AND status IN ('placed', 'closed', 'unknown')",
            )?;
            let rows = stmt.query_map(params![since.timestamp()], |r| r.get::<_, String>(0))?;
            rows.collect()
        })
        .await
    }
}

/// Writes how an alert was executed (reference price, where the position was read), keeping what is already there
/// for a field `execution` leaves empty; returns the rows updated (0: no such alert).
fn store_execution(conn: &Connection, id: &str, execution: &Execution) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "UPDATE alerts SET reference_price = COALESCE(?2, reference_price),
         position_source = COALESCE(?3, position_source) WHERE alert_id = ?1",
    )?
    .execute(params![
        id,
        execution.reference_price.map(|p| p.normalize().to_string()),
        execution.position_source.map(PositionSource::as_str)
    ])
}

/// Writes an alert's outcome (status, path, orders, error) and its answer `response` (JSON), acknowledged now.
fn store_outcome(conn: &Connection, id: &str, outcome: &Outcome, response: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE alerts SET status = ?2, path = ?3, orders = ?4, error = ?5, response = ?6, acked_at = ?7
         WHERE alert_id = ?1",
    )?
    .execute(params![
        id,
        outcome.status.as_str(),
        outcome.path,
        serde_json::Value::Array(outcome.orders.clone()).to_string(),
        outcome.error(),
        response,
        Utc::now().to_rfc3339(),
    ])
    .map(drop)
}

/// Inserts a new row for `alert` (replacing an older row with its id, whose timeline starts again) with its
/// `received` and `journaled` events.
fn insert_new(tx: &rusqlite::Transaction<'_>, alert: &NewAlert, mode: Mode) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO alerts (alert_id, received_at, received_unix, raw_body, intent, contract_id,
         account_id, status, orders, content_key, mode, parent_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, '[]', ?9, ?10, ?11)",
    )?
    .execute(params![
        alert.alert_id,
        alert.received_at.to_rfc3339(),
        alert.received_at.timestamp(),
        alert.raw_body,
        serde_json::to_string(&alert.intent).map_err(to_sql_error)?,
        alert.contract_id.as_ref().map(ContractId::as_str),
        alert.account_id.map(AccountId::get),
        AlertStatus::Received.as_str(),
        alert.content.as_ref().map(|(key, _)| key.as_str()),
        mode.as_str(),
        alert.parent_id,
    ])?;
    // A reused id (outside the dedup window) starts a new timeline.
    tx.prepare_cached("DELETE FROM alert_events WHERE alert_id = ?1")?.execute(params![alert.alert_id])?;
    let none = serde_json::json!({});
    events::insert(tx, &alert.alert_id, Event::Received, alert.received_at, &none)?;
    events::insert(tx, &alert.alert_id, Event::Journaled, Utc::now(), &none)?;
    Ok(())
}

const SELECT: &str = "SELECT alert_id, received_at, raw_body, intent, contract_id, account_id, status, path, orders,
    error, sent_at, acked_at, response, received_unix, mode, reference_price, position_source, parent_id FROM alerts";

/// Adds each row's timeline and what it sums up to.
fn with_timelines(conn: &Connection, mut rows: Vec<StoredAlert>) -> rusqlite::Result<Vec<StoredAlert>> {
    let ids: Vec<String> = rows.iter().map(|r| r.alert_id.clone()).collect();
    let mut timelines = events::load(conn, &ids)?;
    for row in &mut rows {
        row.timeline = timelines.remove(&row.alert_id).unwrap_or_default();
        let summary = timeline::summarize(&row.timeline, row.reference_price);
        row.fills = summary.fills;
        row.fill_price = summary.fill_price;
        row.slippage_ticks = summary.slippage_ticks;
        row.realized_pnl = summary.realized_pnl;
    }
    Ok(rows)
}

fn select_one(conn: &Connection, id: &str) -> rusqlite::Result<Option<(StoredAlert, i64)>> {
    conn.prepare_cached(&format!("{SELECT} WHERE alert_id = ?1"))?.query_row(params![id], row).optional()
}

/// Reads a row ([`RawRow::parse`]: a value pxrelay did not write is a conversion error naming the column).
fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(StoredAlert, i64)> {
    let raw = RawRow {
        alert_id: r.get(0)?,
        received_at: r.get(1)?,
        raw_body: r.get(2)?,
        intent: r.get(3)?,
        contract_id: r.get(4)?,
        account_id: r.get(5)?,
        status: r.get(6)?,
        path: r.get(7)?,
        orders: r.get(8)?,
        error: r.get(9)?,
        sent_at: r.get(10)?,
        acked_at: r.get(11)?,
        response: r.get(12)?,
        received_unix: r.get(13)?,
        mode: r.get(14)?,
        reference_price: r.get(15)?,
        position_source: r.get(16)?,
        parent_id: r.get(17)?,
    };
    raw.parse().map_err(|(i, e)| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e))
}

fn to_sql_error(e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

/// Applies the migrations not yet applied (tracked in `PRAGMA user_version`).
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let applied: usize = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))?.try_into().unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        conn.execute_batch(&format!("BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;", i + 1))?;
    }
    Ok(())
}

/// Records `mode` as the journal's mode on its first open; refuses a journal recorded in the other mode.
fn claim_mode(conn: &Connection, mode: Mode, path: &str) -> Result<(), JournalError> {
    let recorded: Option<String> =
        conn.query_row("SELECT value FROM journal_meta WHERE key = 'mode'", [], |r| r.get(0)).optional()?;
    let Some(recorded) = recorded else {
        conn.prepare_cached("INSERT INTO journal_meta (key, value) VALUES ('mode', ?1)")?
            .execute(params![mode.as_str()])?;
        return Ok(());
    };
    let journal = recorded.parse::<Mode>().map_err(|e| {
        JournalError::Sqlite(rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
    })?;
    if journal == mode {
        Ok(())
    } else {
        Err(JournalError::WrongMode { path: path.to_owned(), journal, process: mode })
    }
}
