//! The alert journal (SQLite): every accepted alert is written **before** anything is sent, with its raw body
//! (secret fields removed), normalised intent, status, gateway order ids, error and timestamps. It is also the
//! dedup store: an alert id seen within the window returns the original outcome and sends nothing, across
//! restarts. An exclusive lock file makes a second pxrelay pointed at the same journal refuse to start.
//!
//! Each alert also has a timeline ([`timeline`]: received, journaled, sent, acknowledged, filled, legs, closed),
//! from which the rows read by `GET /alerts` carry their fills, fill price, slippage and realized P&L.
//!
//! rusqlite is synchronous: every call runs on the blocking pool behind one connection (SQLite serialises writers
//! anyway), so request tasks never block a runtime worker. `synchronous=FULL`: an accepted alert survives a crash.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use projectx::{AccountId, ContractId};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

pub mod timeline;

pub use crate::outcome::PositionSource;
pub use timeline::{Event, TimelineEvent, TimelineWrite};

use crate::mode::Mode;
use crate::outcome::{AlertStatus, Answer, Outcome};
use crate::signal::Intent;

const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_alerts.sql"),
    include_str!("../migrations/0002_status_check.sql"),
    include_str!("../migrations/0003_expired_and_content_key.sql"),
    include_str!("../migrations/0004_mode.sql"),
    include_str!("../migrations/0005_timeline.sql"),
    include_str!("../migrations/0006_fanout.sql"),
];

/// Journal failures. Opening failures name the file.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Another process holds the journal.
    #[error(
        "another pxrelay process is already using the journal {0} (lock file {0}.lock). Two relays must never \
         trade the same journal: stop the other one, or give this one its own DATABASE_URL"
    )]
    Locked(String),
    /// The journal was written in the other mode: live and paper trading never share a journal.
    #[error(
        "the journal {path} (DATABASE_URL) was written in {journal} mode, and this process runs in {process} mode \
         (PXRELAY_MODE, or --sim). Live and paper trading never share a journal: point DATABASE_URL at a \
         {process}-mode journal, or unset it ({} in live mode, {} in sim mode)",
        crate::mode::LIVE_JOURNAL,
        crate::mode::SIM_JOURNAL
    )]
    WrongMode {
        /// The database file.
        path: String,
        /// The mode recorded in the journal.
        journal: Mode,
        /// The mode of this process.
        process: Mode,
    },
    /// `reset` on a live journal: only a paper journal may be emptied.
    #[error("the journal {0} is a live journal: only a paper-trading (sim) journal can be reset")]
    ResetLive(String),
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
    pub intent: Intent,
    /// The resolved contract (stored as its text).
    pub contract_id: Option<ContractId>,
    /// The account (stored as its integer).
    pub account_id: Option<AccountId>,
    /// For an entry without an id or timestamp: its content key (`signal::content_key`) and the window within
    /// which an identical entry is a duplicate (`DUPLICATE_WINDOW_SECS`). `None`: only the id dedupes.
    pub content: Option<(String, Duration)>,
    /// For one account's row of a fan-out: the parent alert (issue 13); `None` for an alert of its own.
    pub parent_id: Option<String>,
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
    /// The normalised intent; `None` for an alert refused before its fields could be read (a bad payload).
    pub intent: Option<Intent>,
    /// The resolved contract (stored as its text).
    pub contract_id: Option<ContractId>,
    /// The account (stored as its integer).
    pub account_id: Option<AccountId>,
    /// `received` until an outcome is recorded.
    pub status: AlertStatus,
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
    pub response: Option<Answer>,
    /// Live or paper: the mode of the process that recorded the alert (rows from before modes were recorded are
    /// `live`, see migrations/0004_mode.sql).
    pub mode: Mode,
    /// The reference price at arrival: the limit/stop price, or for a market order the touch of a fresh streamed
    /// quote (the ask for a buy, the bid for a sell); `None` when there was no fresh quote (or nothing was sent).
    pub reference_price: Option<rust_decimal::Decimal>,
    /// Where the executor read the position (`book` or `rest`); `None` when it read none.
    pub position_source: Option<PositionSource>,
    /// Volume-weighted slippage of [`Self::fills`] against [`Self::reference_price`], in ticks (positive = worse
    /// for the trader); `None` without a reference price or fills.
    pub slippage_ticks: Option<f64>,
    /// Volume-weighted price of [`Self::fills`].
    pub fill_price: Option<rust_decimal::Decimal>,
    /// Realized P&L (USD, before fees) of the `closed` events: positions this alert opened or closed.
    pub realized_pnl: Option<rust_decimal::Decimal>,
    /// Fills of the alert's own orders (partial fills listed).
    pub fills: Vec<timeline::Fill>,
    /// Everything that happened to the alert, in time order.
    pub timeline: Vec<TimelineEvent>,
    /// For one account's row of a fan-out: the parent alert.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// For a fan-out's parent: each account's row (status, orders, timeline, fills), by account id.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<StoredAlert>,
}

/// What the executor learned about an alert besides its outcome, stored with it ([`Journal::finish_with`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Execution {
    /// The reference price at arrival (see [`StoredAlert::reference_price`]).
    pub reference_price: Option<rust_decimal::Decimal>,
    /// Where the position was read.
    pub position_source: Option<PositionSource>,
}

/// What recording an alert found.
#[derive(Clone, Debug)]
pub enum Recorded {
    /// First time: go ahead.
    New,
    /// Seen within the dedup window: do nothing, answer with the original.
    Duplicate(Box<StoredAlert>),
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
    /// The journal's mode (equal to the process's: [`Journal::open`] refuses the other one).
    mode: Mode,
    /// Held open for the life of the process: the exclusive lock that keeps a second relay out.
    _lock: std::fs::File,
}

impl Journal {
    /// Opens (creating the directory and file on first start), locks, and migrates the journal, for a process in
    /// `mode`. The first open records the mode in the journal; a journal recorded in the other mode is refused
    /// ([`JournalError::WrongMode`]), before anything could be sent.
    pub fn open(path: &Path, window: Duration, mode: Mode) -> Result<Self, JournalError> {
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
        claim_mode(&conn, mode, &shown)?;
        let inner = Inner { conn: parking_lot::Mutex::new(conn), path: path.to_owned(), window, mode, _lock: lock };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// The journal's mode.
    pub fn mode(&self) -> Mode {
        self.inner.mode
    }

    /// How many alerts the journal holds.
    pub async fn count(&self) -> Result<u64, JournalError> {
        let count: i64 = self.run(|conn, _| conn.query_row("SELECT COUNT(*) FROM alerts", [], |r| r.get(0))).await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    /// Empties a paper-trading journal (`serve --sim --reset`): every alert is deleted, so paper trading starts
    /// afresh with the fresh simulator. Returns how many were deleted. A live journal is never emptied
    /// ([`JournalError::ResetLive`]).
    pub async fn reset(&self) -> Result<u64, JournalError> {
        if self.inner.mode != Mode::Sim {
            return Err(JournalError::ResetLive(self.inner.path.display().to_string()));
        }
        let deleted = self
            .run(|conn, _| {
                conn.execute(
                    "DELETE FROM alert_events WHERE alert_id IN (SELECT alert_id FROM alerts WHERE mode = 'sim')",
                    [],
                )?;
                conn.execute("DELETE FROM alerts WHERE mode = 'sim'", [])
            })
            .await?;
        Ok(u64::try_from(deleted).unwrap_or(u64::MAX))
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

    /// Records `alert` unless it is a duplicate: its id was seen within the dedup window, or (for an entry
    /// deduplicated by content) an identical entry arrived within its content window, sliding. Returns the earlier
    /// row then.
    pub async fn record(&self, alert: NewAlert) -> Result<Recorded, JournalError> {
        let mode = self.inner.mode;
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
                let earlier = tx.query_row(&sql, params![key, since(*content_window)], row).optional()?;
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

    /// Records a fan-out's per-account rows (issue 13) in one transaction: one fsync for all of them, so the last
    /// account's order does not wait for one journal write per account before it. Their ids derive from a parent
    /// just recorded, so no deduplication applies.
    pub async fn record_children(&self, children: Vec<NewAlert>) -> Result<(), JournalError> {
        let mode = self.inner.mode;
        self.run(move |conn, _| {
            let tx = conn.transaction()?;
            for child in &children {
                insert_new(&tx, child, mode)?;
            }
            tx.commit()
        })
        .await
    }

    /// Records an authenticated alert that was refused before it was accepted (a bad field, an unknown or disallowed
    /// symbol, an unknown account), with the refusal as its outcome, so the trader sees it in `GET /alerts`. Its id
    /// is its own (`refused-…`): it never takes part in deduplication, so a corrected re-send is a new alert.
    pub async fn record_refusal(
        &self,
        received_at: DateTime<Utc>,
        raw_body: String,
        intent: Option<Intent>,
        refusal: &Outcome,
    ) -> Result<String, JournalError> {
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("refused-{}-{seq}", received_at.timestamp_millis());
        let (alert_id, refusal, mode) = (id.clone(), refusal.clone(), self.inner.mode);
        self.run(move |conn, _| {
            let response = serde_json::to_string(&refusal.answer(&alert_id)).map_err(to_sql_error)?;
            conn.execute(
                "INSERT INTO alerts (alert_id, received_at, received_unix, raw_body, intent, status, path, orders,
                 error, acked_at, response, mode) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, '[]', ?8, ?2, ?9, ?10)",
                params![
                    alert_id,
                    received_at.to_rfc3339(),
                    received_at.timestamp(),
                    raw_body,
                    serde_json::to_string(&intent).map_err(to_sql_error)?,
                    refusal.status.as_str(),
                    refusal.path,
                    refusal.error(),
                    response,
                    mode.as_str(),
                ],
            )
            .map(drop)
        })
        .await?;
        Ok(id)
    }

    /// Records an action pxrelay starts itself, not from an alert (a risk flatten: kill switch, daily loss, flat-by),
    /// before anything is sent for it: its own row (`alert_id`, e.g. `flatten-…`), `raw_body` describing what and
    /// why (JSON), no intent, status `received`, with `received` and `journaled` events. It never takes part in
    /// deduplication. [`Self::mark_sent`] and [`Self::finish`] follow as for an alert.
    pub async fn record_action(
        &self,
        alert_id: &str,
        at: DateTime<Utc>,
        raw_body: String,
        account_id: AccountId,
    ) -> Result<(), JournalError> {
        let (alert_id, mode) = (alert_id.to_owned(), self.inner.mode);
        self.run(move |conn, _| {
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO alerts (alert_id, received_at, received_unix, raw_body, intent, account_id, status, orders,
                 mode) VALUES (?1, ?2, ?3, ?4, 'null', ?5, ?6, '[]', ?7)",
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
            timeline::insert(&tx, &alert_id, Event::Received, at, &none)?;
            timeline::insert(&tx, &alert_id, Event::Journaled, Utc::now(), &none)?;
            tx.commit()
        })
        .await
    }

    /// Notes that a money-moving call is about to be sent: `sent_at` (the first one's time) and a `sent` event.
    pub async fn mark_sent(&self, alert_id: &str) -> Result<(), JournalError> {
        let id = alert_id.to_owned();
        self.run(move |conn, _| {
            let now = Utc::now();
            let tx = conn.transaction()?;
            tx.execute(
                "UPDATE alerts SET sent_at = COALESCE(sent_at, ?2) WHERE alert_id = ?1",
                params![id, now.to_rfc3339()],
            )?;
            timeline::insert(&tx, &id, Event::Sent, now, &serde_json::json!({}))?;
            tx.commit()
        })
        .await
    }

    /// Appends events to alerts' timelines (one transaction).
    pub async fn append(&self, writes: Vec<TimelineWrite>) -> Result<(), JournalError> {
        self.run(move |conn, _| timeline::append(conn, &writes)).await
    }

    /// Stores the outcome, and the answer built from it (returned again for duplicates).
    pub async fn finish(&self, alert_id: &str, outcome: &Outcome) -> Result<(), JournalError> {
        self.finish_with(alert_id, outcome, Execution::default()).await
    }

    /// Stores a fan-out parent's outcome with its whole `answer` (every account's part), returned again for
    /// duplicates.
    pub async fn finish_answer(&self, alert_id: &str, outcome: &Outcome, answer: &Answer) -> Result<(), JournalError> {
        let (id, outcome) = (alert_id.to_owned(), outcome.clone());
        let response = serde_json::to_string(answer).map_err(|e| JournalError::Task(e.to_string()))?;
        self.run(move |conn, _| store_outcome(conn, &id, &outcome, &response)).await
    }

    /// [`Journal::finish`], with what the executor learned on the way (kept when `None`).
    pub async fn finish_with(
        &self,
        alert_id: &str,
        outcome: &Outcome,
        execution: Execution,
    ) -> Result<(), JournalError> {
        let id = alert_id.to_owned();
        let outcome = outcome.clone();
        self.run(move |conn, _| {
            conn.execute(
                "UPDATE alerts SET reference_price = COALESCE(?2, reference_price),
                 position_source = COALESCE(?3, position_source) WHERE alert_id = ?1",
                params![
                    id,
                    execution.reference_price.map(|p| p.normalize().to_string()),
                    execution.position_source.map(PositionSource::as_str)
                ],
            )?;
            let response = serde_json::to_string(&outcome.answer(&id)).map_err(to_sql_error)?;
            store_outcome(conn, &id, &outcome, &response)
        })
        .await
    }

    /// One alert, with its timeline, and for a fan-out each account's row (`accounts`, with theirs).
    pub async fn get(&self, alert_id: &str) -> Result<Option<StoredAlert>, JournalError> {
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

    /// The newest `limit` alerts, newest first (a fan-out's per-account rows are listed under their parent, by
    /// [`Self::get`], not here).
    pub async fn list(&self, limit: u32) -> Result<Vec<StoredAlert>, JournalError> {
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

    /// A piece of state that survives a restart (`journal_meta`), e.g. `kill_switch`; `None` when never set.
    pub async fn state(&self, key: &'static str) -> Result<Option<String>, JournalError> {
        self.run(move |conn, _| {
            conn.query_row("SELECT value FROM journal_meta WHERE key = ?1", params![key], |r| r.get(0)).optional()
        })
        .await
    }

    /// Sets a piece of state that survives a restart (see [`Self::state`]); written with `synchronous=FULL`.
    pub async fn set_state(&self, key: &'static str, value: String) -> Result<(), JournalError> {
        self.run(move |conn, _| {
            conn.execute(
                "INSERT INTO journal_meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
                params![key, value],
            )
            .map(drop)
        })
        .await
    }

    /// Alerts without an outcome (the process stopped while handling them).
    pub async fn unfinished(&self) -> Result<Vec<StoredAlert>, JournalError> {
        self.run(move |conn, _| {
            let mut stmt = conn.prepare(&format!("{SELECT} WHERE status = ?1 ORDER BY received_unix"))?;
            let rows = stmt.query_map(params![AlertStatus::Received.as_str()], |r| row(r).map(|(a, _)| a))?;
            rows.collect()
        })
        .await
    }
    /// Alerts in `status` received since `since`, oldest first (e.g. the `unknown` ones to resolve after a resync).
    pub async fn in_status(&self, status: AlertStatus, since: DateTime<Utc>) -> Result<Vec<StoredAlert>, JournalError> {
        self.run(move |conn, _| {
            let sql = format!("{SELECT} WHERE status = ?1 AND received_unix >= ?2 ORDER BY received_unix, rowid");
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt.query_map(params![status.as_str(), since.timestamp()], |r| row(r).map(|(a, _)| a))?;
            rows.collect()
        })
        .await
    }

    /// The gateway order ids of the orders pxrelay placed for alerts received since `since` (the `orders` of rows
    /// that sent something; dry-run requests are not ids and are skipped). After a restart they tell pxrelay's
    /// positions and bracket legs from the trader's own ([`crate::books::Books::seed_placed`]).
    pub async fn placed_order_ids(&self, since: DateTime<Utc>) -> Result<Vec<projectx::OrderId>, JournalError> {
        let texts: Vec<String> = self
            .run(move |conn, _| {
                let mut stmt = conn.prepare(
                    "SELECT orders FROM alerts WHERE received_unix >= ?1 AND status IN ('placed', 'closed', 'unknown')",
                )?;
                let rows = stmt.query_map(params![since.timestamp()], |r| r.get::<_, String>(0))?;
                rows.collect()
            })
            .await?;
        Ok(texts
            .iter()
            .filter_map(|t| serde_json::from_str::<Vec<serde_json::Value>>(t).ok())
            .flatten()
            .filter_map(|v| v.as_i64())
            .map(projectx::OrderId::new)
            .collect())
    }
}

/// Writes an alert's outcome (status, path, orders, error) and its answer `response` (JSON), acknowledged now.
fn store_outcome(conn: &Connection, id: &str, outcome: &Outcome, response: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE alerts SET status = ?2, path = ?3, orders = ?4, error = ?5, response = ?6, acked_at = ?7
         WHERE alert_id = ?1",
        params![
            id,
            outcome.status.as_str(),
            outcome.path,
            serde_json::Value::Array(outcome.orders.clone()).to_string(),
            outcome.error(),
            response,
            Utc::now().to_rfc3339(),
        ],
    )
    .map(drop)
}

/// Inserts a new row for `alert` (replacing an older row with its id, whose timeline starts again) with its
/// `received` and `journaled` events.
fn insert_new(tx: &rusqlite::Transaction<'_>, alert: &NewAlert, mode: Mode) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO alerts (alert_id, received_at, received_unix, raw_body, intent, contract_id,
         account_id, status, orders, content_key, mode, parent_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, '[]', ?9, ?10, ?11)",
        params![
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
        ],
    )?;
    // A reused id (outside the dedup window) starts a new timeline.
    tx.execute("DELETE FROM alert_events WHERE alert_id = ?1", params![alert.alert_id])?;
    let none = serde_json::json!({});
    timeline::insert(tx, &alert.alert_id, Event::Received, alert.received_at, &none)?;
    timeline::insert(tx, &alert.alert_id, Event::Journaled, Utc::now(), &none)?;
    Ok(())
}

const SELECT: &str = "SELECT alert_id, received_at, raw_body, intent, contract_id, account_id, status, path, orders,
    error, sent_at, acked_at, response, received_unix, mode, reference_price, position_source, parent_id FROM alerts";

/// Adds each row's timeline and what it sums up to.
fn with_timelines(conn: &Connection, mut rows: Vec<StoredAlert>) -> rusqlite::Result<Vec<StoredAlert>> {
    let ids: Vec<String> = rows.iter().map(|r| r.alert_id.clone()).collect();
    let mut timelines = timeline::load(conn, &ids)?;
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
    conn.query_row(&format!("{SELECT} WHERE alert_id = ?1"), params![id], row).optional()
}

/// Reads a row. The intent and the status are typed: a row pxrelay did not write (or a future version wrote) is a
/// conversion error naming the column, never a silently different value.
fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(StoredAlert, i64)> {
    fn typed<T: serde::de::DeserializeOwned>(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<T> {
        let text: String = r.get(i)?;
        serde_json::from_str(&text)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e)))
    }
    let status: String = r.get(6)?;
    let status = status
        .parse::<AlertStatus>()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Text, Box::new(e)))?;
    let response: Option<String> = r.get(12)?;
    let mode: String = r.get(14)?;
    let mode = mode
        .parse::<Mode>()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(14, rusqlite::types::Type::Text, Box::new(e)))?;
    Ok((
        StoredAlert {
            alert_id: r.get(0)?,
            received_at: r.get(1)?,
            raw_body: r.get(2)?,
            intent: typed(r, 3)?,
            contract_id: r.get::<_, Option<String>>(4)?.map(ContractId::from),
            account_id: r.get::<_, Option<i32>>(5)?.map(AccountId::from),
            status,
            path: r.get(7)?,
            orders: typed(r, 8)?,
            error: r.get(9)?,
            sent_at: r.get(10)?,
            acked_at: r.get(11)?,
            // An answer that no longer reads (written by an older version) is rebuilt from the row by the caller.
            response: response.and_then(|text| serde_json::from_str(&text).ok()),
            mode,
            reference_price: r.get::<_, Option<String>>(15)?.and_then(|p| p.parse().ok()),
            position_source: match r.get::<_, Option<String>>(16)?.as_deref() {
                Some("book") => Some(PositionSource::Book),
                Some("rest") => Some(PositionSource::Rest),
                _ => None,
            },
            slippage_ticks: None,
            fill_price: None,
            realized_pnl: None,
            fills: Vec::new(),
            timeline: Vec::new(),
            parent_id: r.get(17)?,
            accounts: Vec::new(),
        },
        r.get(13)?,
    ))
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
        conn.execute("INSERT INTO journal_meta (key, value) VALUES ('mode', ?1)", params![mode.as_str()])?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pxrelay-journal-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("data").join("journal.db")
    }

    fn intent(body: &str) -> Intent {
        crate::signal::parse_alert(body.as_bytes()).expect("a valid test alert").intent
    }

    fn alert(id: &str, at: DateTime<Utc>) -> NewAlert {
        NewAlert {
            alert_id: id.into(),
            received_at: at,
            raw_body: r#"{"symbol":"MNQ"}"#.into(),
            intent: intent(r#"{"symbol":"MNQ","action":"buy"}"#),
            contract_id: Some("CON.F.US.MNQ.Z25".into()),
            account_id: Some(AccountId::new(1)),
            content: None,
            parent_id: None,
        }
    }

    #[tokio::test]
    async fn duplicates_within_the_window_return_the_first_outcome_across_reopen() {
        let path = temp("dup");
        let now = Utc::now();
        {
            let j = Journal::open(&path, Duration::from_secs(3600), Mode::Live).unwrap();
            assert!(matches!(j.record(alert("a1", now)).await.unwrap(), Recorded::New));
            j.mark_sent("a1").await.unwrap();
            let outcome =
                Outcome::new(AlertStatus::Placed, "order placed", "placed").with_orders(vec![serde_json::json!(42)]);
            j.finish("a1", &outcome).await.unwrap();
        }
        let j = Journal::open(&path, Duration::from_secs(3600), Mode::Live).unwrap();
        match j.record(alert("a1", now + chrono::TimeDelta::seconds(5))).await.unwrap() {
            Recorded::Duplicate(row) => {
                assert_eq!(row.status, AlertStatus::Placed);
                assert_eq!(row.orders, serde_json::json!([42]));
                assert!(row.sent_at.is_some() && row.acked_at.is_some());
                let answer = row.response.expect("the answer is stored");
                assert_eq!((answer.status, answer.orders), (AlertStatus::Placed, vec![serde_json::json!(42)]));
            }
            Recorded::New => panic!("a duplicate was recorded as new"),
        }
        // Outside the window the id may be used again.
        let later = now + chrono::TimeDelta::hours(2);
        assert!(matches!(j.record(alert("a1", later)).await.unwrap(), Recorded::New));
        assert_eq!(j.list(10).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_identical_entry_within_the_content_window_is_a_duplicate_sliding_not_minute_aligned() {
        let path = temp("content");
        let j = Journal::open(&path, Duration::from_secs(3600), Mode::Live).unwrap();
        let content = Some(("k1".to_owned(), Duration::from_secs(10)));
        // 12:00:59 then 12:01:04: across a minute boundary, 5 s apart.
        let first = DateTime::parse_from_rfc3339("2026-11-29T12:00:59Z").unwrap().with_timezone(&Utc);
        let record =
            |id: &str, at: DateTime<Utc>, content: Option<(String, Duration)>| NewAlert { content, ..alert(id, at) };
        assert!(matches!(j.record(record("r1", first, content.clone())).await.unwrap(), Recorded::New));
        let again = first + chrono::TimeDelta::seconds(5);
        match j.record(record("r2", again, content.clone())).await.unwrap() {
            Recorded::Duplicate(row) => assert_eq!(row.alert_id, "r1"),
            Recorded::New => panic!("a re-delivery 5 s later must be a duplicate"),
        }
        let other = Some(("k2".to_owned(), Duration::from_secs(10)));
        assert!(matches!(j.record(record("r3", again, other)).await.unwrap(), Recorded::New), "other content");
        let later = first + chrono::TimeDelta::seconds(11);
        assert!(matches!(j.record(record("r4", later, content)).await.unwrap(), Recorded::New), "outside 10 s");
        let no_content = first + chrono::TimeDelta::seconds(12);
        assert!(matches!(j.record(record("r5", no_content, None)).await.unwrap(), Recorded::New), "exits never");
    }

    #[tokio::test]
    async fn the_intent_is_stored_and_read_back_typed() {
        let path = temp("typed");
        let j = Journal::open(&path, Duration::from_secs(60), Mode::Live).unwrap();
        let mut record = alert("t1", Utc::now());
        record.intent = intent(
            r#"{"symbol":"MNQ1!","action":"sell","quantity":3,"order_type":"limit","limit_price":21000.25,
                "stop_loss_ticks":40,"take_profit":20950.5,"id":"t1"}"#,
        );
        j.record(record.clone()).await.unwrap();
        let row = j.get("t1").await.unwrap().unwrap();
        assert_eq!(row.intent.as_ref(), Some(&record.intent));
        assert_eq!(row.status, AlertStatus::Received);
        let outcome = Outcome::new(AlertStatus::Unknown, "check the platform", "interrupted after sending");
        j.finish("t1", &outcome).await.unwrap();
        let row = j.get("t1").await.unwrap().unwrap();
        assert_eq!((row.status, row.error.as_deref()), (AlertStatus::Unknown, Some("check the platform")));
    }

    #[tokio::test]
    async fn a_status_outside_the_list_is_refused_by_the_schema() {
        let path = temp("check");
        let j = Journal::open(&path, Duration::from_secs(60), Mode::Live).unwrap();
        j.record(alert("c1", Utc::now())).await.unwrap();
        let bogus = j.run(|conn, _| conn.execute("UPDATE alerts SET status = 'placedd' WHERE alert_id = 'c1'", []));
        assert!(bogus.await.is_err(), "the CHECK constraint refuses an unknown status");
        for status in AlertStatus::ALL {
            let sql = format!("UPDATE alerts SET status = '{}' WHERE alert_id = 'c1'", status.as_str());
            j.run(move |conn, _| conn.execute(&sql, [])).await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_version_1_journal_is_migrated_with_its_rows() {
        let path = temp("v1");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(&format!("BEGIN; {}; PRAGMA user_version = 1; COMMIT;", MIGRATIONS[0])).unwrap();
            let intent = serde_json::to_string(&alert("x", Utc::now()).intent).unwrap();
            conn.execute(
                "INSERT INTO alerts (alert_id, received_at, received_unix, raw_body, intent, status, orders)
                 VALUES ('old', '2026-11-28T10:00:00+00:00', 1764324000, '{}', ?1, 'placed', '[7]')",
                params![intent],
            )
            .unwrap();
        }
        let j = Journal::open(&path, Duration::from_secs(60), Mode::Live).unwrap();
        let row = j.get("old").await.unwrap().expect("the row survives the migration");
        assert_eq!((row.status, row.orders), (AlertStatus::Placed, serde_json::json!([7])));
        let version: i64 = j.run(|conn, _| conn.query_row("PRAGMA user_version", [], |r| r.get(0))).await.unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
    }

    /// A journal as version 3 (before modes) left it, with one placed row when `with_row`.
    fn version_3_journal(path: &Path, with_row: bool) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let conn = Connection::open(path).unwrap();
        let v3 = MIGRATIONS[..3].join(";\n");
        conn.execute_batch(&format!("BEGIN; {v3}; PRAGMA user_version = 3; COMMIT;")).unwrap();
        if with_row {
            let intent = serde_json::to_string(&alert("x", Utc::now()).intent).unwrap();
            conn.execute(
                "INSERT INTO alerts (alert_id, received_at, received_unix, raw_body, intent, status, orders)
                 VALUES ('old', '2026-11-28T10:00:00+00:00', 1764324000, '{}', ?1, 'placed', '[7]')",
                params![intent],
            )
            .unwrap();
        }
    }

    #[tokio::test]
    async fn a_journal_written_in_sim_mode_is_refused_by_a_live_process_and_vice_versa() {
        for (written, other) in [(Mode::Sim, Mode::Live), (Mode::Live, Mode::Sim)] {
            let path = temp(&format!("mode-{written}"));
            {
                let j = Journal::open(&path, Duration::from_secs(60), written).unwrap();
                assert_eq!(j.mode(), written);
                j.record(alert("m1", Utc::now())).await.unwrap();
                assert_eq!(j.get("m1").await.unwrap().unwrap().mode, written, "every row records the mode");
                let refusal = Outcome::new(AlertStatus::Rejected, "symbol not allowed", "validation");
                let id = j.record_refusal(Utc::now(), "{}".into(), None, &refusal).await.unwrap();
                assert_eq!(j.get(&id).await.unwrap().unwrap().mode, written, "refusals too");
            }
            let err = Journal::open(&path, Duration::from_secs(60), other).unwrap_err();
            match &err {
                JournalError::WrongMode { journal, process, .. } => assert_eq!((*journal, *process), (written, other)),
                e => panic!("expected WrongMode, got {e}"),
            }
            let text = err.to_string();
            assert!(text.contains("DATABASE_URL") && text.contains(path.to_str().unwrap()), "{text}");
            assert!(text.contains(&format!("written in {written} mode")), "{text}");
            assert!(text.contains(&format!("runs in {other} mode")), "{text}");
            // Refused without taking the journal over: the rightful mode still opens it, row intact.
            let j = Journal::open(&path, Duration::from_secs(60), written).unwrap();
            assert_eq!(j.count().await.unwrap(), 2);
        }
    }

    #[tokio::test]
    async fn a_version_3_journal_with_rows_is_migrated_as_live_and_refused_in_sim_mode() {
        let path = temp("v3-rows");
        version_3_journal(&path, true);
        let err = Journal::open(&path, Duration::from_secs(60), Mode::Sim).unwrap_err();
        assert!(matches!(err, JournalError::WrongMode { journal: Mode::Live, process: Mode::Sim, .. }), "{err}");
        let j = Journal::open(&path, Duration::from_secs(60), Mode::Live).unwrap();
        let row = j.get("old").await.unwrap().expect("the row survives the migration");
        assert_eq!((row.mode, row.status, row.orders), (Mode::Live, AlertStatus::Placed, serde_json::json!([7])));
        let version: i64 = j.run(|conn, _| conn.query_row("PRAGMA user_version", [], |r| r.get(0))).await.unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        j.record(alert("new", Utc::now())).await.unwrap();
        assert_eq!(j.get("new").await.unwrap().unwrap().mode, Mode::Live);
        let bogus = j.run(|conn, _| conn.execute("UPDATE alerts SET mode = 'paper' WHERE alert_id = 'new'", []));
        assert!(bogus.await.is_err(), "the CHECK constraint refuses an unknown mode");
    }

    #[tokio::test]
    async fn an_empty_version_3_journal_takes_the_mode_of_its_first_opener() {
        let path = temp("v3-empty");
        version_3_journal(&path, false);
        drop(Journal::open(&path, Duration::from_secs(60), Mode::Sim).unwrap());
        assert!(matches!(
            Journal::open(&path, Duration::from_secs(60), Mode::Live).unwrap_err(),
            JournalError::WrongMode { journal: Mode::Sim, process: Mode::Live, .. }
        ));
    }

    #[tokio::test]
    async fn reset_empties_a_paper_journal_and_never_a_live_one() {
        let path = temp("reset-sim");
        {
            let j = Journal::open(&path, Duration::from_secs(3600), Mode::Sim).unwrap();
            j.record(alert("p1", Utc::now())).await.unwrap();
            j.record(alert("p2", Utc::now())).await.unwrap();
            assert_eq!(j.reset().await.unwrap(), 2);
            assert_eq!(j.count().await.unwrap(), 0);
        }
        let j = Journal::open(&path, Duration::from_secs(3600), Mode::Sim).unwrap();
        assert!(j.get("p1").await.unwrap().is_none(), "gone across a reopen");
        assert!(matches!(j.record(alert("p1", Utc::now())).await.unwrap(), Recorded::New), "an id can be used again");

        let path = temp("reset-live");
        let j = Journal::open(&path, Duration::from_secs(3600), Mode::Live).unwrap();
        j.record(alert("l1", Utc::now())).await.unwrap();
        let err = j.reset().await.unwrap_err();
        assert!(matches!(err, JournalError::ResetLive(_)), "{err}");
        assert_eq!(j.count().await.unwrap(), 1, "a live journal keeps its rows");
    }

    #[tokio::test]
    async fn the_timeline_is_written_read_back_in_time_order_and_summed_up() {
        let path = temp("timeline");
        let j = Journal::open(&path, Duration::from_secs(60), Mode::Sim).unwrap();
        let received = Utc::now() - chrono::TimeDelta::seconds(1);
        j.record(alert("tl1", received)).await.unwrap();
        j.mark_sent("tl1").await.unwrap();
        // A fill stamped before the acknowledgement written after it: read back in time order.
        let fill_at = Utc::now();
        let data = serde_json::json!({"order_id": 7, "trade_id": 1, "price": 21000.5, "size": 2, "fees": 0.74,
                                      "side": "buy", "role": "entry", "tick_size": 0.25});
        let ack = TimelineWrite {
            alert_id: "tl1".into(),
            event: Event::Acknowledged,
            at: fill_at + chrono::TimeDelta::milliseconds(5),
            data: serde_json::json!({"order_id": 7}),
        };
        let fill = TimelineWrite { alert_id: "tl1".into(), event: Event::Filled, at: fill_at, data };
        j.append(vec![ack, fill]).await.unwrap();
        let outcome = Outcome::new(AlertStatus::Placed, "order placed", "placed");
        let execution = Execution {
            reference_price: Some("21000.25".parse().unwrap()),
            position_source: Some(PositionSource::Book),
        };
        j.finish_with("tl1", &outcome, execution).await.unwrap();
        let row = j.get("tl1").await.unwrap().unwrap();
        let names: Vec<Event> = row.timeline.iter().map(|e| e.event).collect();
        assert_eq!(names, [Event::Received, Event::Journaled, Event::Sent, Event::Filled, Event::Acknowledged]);
        assert_eq!(row.timeline[0].at, timeline::stamp(received));
        assert_eq!((row.fills.len(), row.fills[0].size), (1, 2));
        assert_eq!(row.fill_price, Some("21000.5".parse().unwrap()));
        assert_eq!((row.slippage_ticks, row.position_source), (Some(1.0), Some(PositionSource::Book)));
        assert_eq!(j.list(10).await.unwrap()[0].timeline.len(), 5, "the list carries the timeline too");
        let bogus = j.run(|conn, _| {
            conn.execute("INSERT INTO alert_events (alert_id, seq, event, at) VALUES ('tl1', 99, 'bogus', 'x')", [])
        });
        assert!(bogus.await.is_err(), "the CHECK constraint refuses an unknown event");
        j.reset().await.unwrap();
        let left: i64 =
            j.run(|conn, _| conn.query_row("SELECT COUNT(*) FROM alert_events", [], |r| r.get(0))).await.unwrap();
        assert_eq!(left, 0, "a reset empties the timelines too");
    }

    #[tokio::test]
    async fn a_second_process_cannot_open_a_journal_in_use() {
        let path = temp("lock");
        let _first = Journal::open(&path, Duration::from_secs(60), Mode::Live).unwrap();
        let err = Journal::open(&path, Duration::from_secs(60), Mode::Live).unwrap_err();
        assert!(matches!(err, JournalError::Locked(_)));
        assert!(err.to_string().contains("another pxrelay process"), "{err}");
    }

    #[tokio::test]
    async fn unfinished_alerts_are_listed() {
        let path = temp("unfinished");
        let j = Journal::open(&path, Duration::from_secs(60), Mode::Live).unwrap();
        j.record(alert("u1", Utc::now())).await.unwrap();
        assert_eq!(j.unfinished().await.unwrap().len(), 1);
        assert_eq!(j.get("u1").await.unwrap().unwrap().status, AlertStatus::Received);
        assert!(j.get("nope").await.unwrap().is_none());
    }
}
