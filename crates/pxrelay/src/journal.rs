//! The alert journal: every accepted alert is written **before** anything is sent, with its raw body (secret fields
//! removed), normalised intent, status, gateway order ids, error and timestamps. It is also the dedup store: an alert
//! id seen within the window returns the original outcome and sends nothing, across restarts.
//!
//! Two stores, the same semantics (the same test suite runs on both, [`tests`]): a SQLite file ([`sqlite`]; one
//! process: an exclusive lock file makes a second pxrelay pointed at it refuse to start) or PostgreSQL ([`postgres`];
//! many processes, one of them the leader that executes, issue 14 and [`crate::leader`]).
//!
//! Each alert also has a timeline ([`timeline`]: received, journaled, sent, acknowledged, filled, legs, closed),
//! from which the rows read by `GET /alerts` carry their fills, fill price, slippage and realized P&L.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use projectx::{AccountId, ContractId};
use serde::Serialize;

mod database;
pub mod postgres;
mod row;
mod sqlite;
#[cfg(test)]
mod tests;
pub mod timeline;

pub use crate::outcome::PositionSource;
pub use timeline::{Event, TimelineEvent, TimelineWrite};

use crate::mode::Mode;
use crate::outcome::{AlertStatus, Answer, Outcome};
use crate::signal::Intent;
pub use database::Database;

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
    /// PostgreSQL failed (the message never holds the URL).
    #[error("journal (postgres): {0}")]
    Postgres(#[from] sqlx::Error),
    /// The Postgres migrations could not be applied.
    #[error("journal (postgres) migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// This process is not the current leader (issue 14): another instance took the leader lock after it, or it
    /// lost its database session. Nothing may be sent.
    #[error("this instance is not the leader (epoch {mine}, current {current:?}): nothing may be sent from it")]
    Fenced {
        /// This process's epoch (0: it never led).
        mine: i64,
        /// The epoch in the database, when it could be read.
        current: Option<i64>,
    },
    /// The journal could not be made durable (`fdatasync` of the SQLite WAL failed: the disk is failing or full).
    #[error("cannot sync the journal {path} to disk: {source}")]
    Sync {
        /// The database file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
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

impl NewAlert {
    /// The row of an alert arriving now, with no contract or account yet: its key from [`crate::signal::alert_key`]
    /// (the alert's own id, else its timestamp, else a receipt number unique in this process) and, for an entry
    /// without either, its content key within `duplicate_window` (`DUPLICATE_WINDOW_SECS`). The one place every
    /// webhook path (single account, fan-out, standby queue, relay) builds its row.
    pub fn arriving(intent: Intent, raw_body: String, duplicate_window: Duration) -> Self {
        static RECEIPTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let received_at = Utc::now();
        let receipt = RECEIPTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let key = crate::signal::alert_key(&intent, received_at, receipt);
        let content = match key.dedup {
            crate::signal::Dedup::Content(k) => Some((k, duplicate_window)),
            crate::signal::Dedup::Id | crate::signal::Dedup::Never => None,
        };
        Self {
            alert_id: key.alert_id,
            received_at,
            raw_body,
            intent,
            contract_id: None,
            account_id: None,
            content,
            parent_id: None,
        }
    }
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

/// What the executor learned about an alert besides its outcome, stored with it ([`Journal::finish_with`]); also
/// what the executor tells the relay of it (JSON: `{"reference_price", "position_source"}`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Execution {
    /// The reference price at arrival (see [`StoredAlert::reference_price`]).
    pub reference_price: Option<rust_decimal::Decimal>,
    /// Where the position was read.
    pub position_source: Option<PositionSource>,
}

/// What a money-moving call about to be sent leaves at the broker, which decides whether the journal must reach the
/// disk before it ([`Journal::mark_sent`], docs/decisions/0008-journal-durability.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sending {
    /// An order carrying the alert's `customTag` (`Order/place`): after a host crash the broker still holds it under
    /// that tag (and refuses a second one with the same tag), so the row may reach the disk later.
    Tagged,
    /// A call the broker cannot tie to the alert (`Position/closeContract`, `Order/cancel`, `Order/modify`): the row
    /// and its `sent` mark reach the disk first, so after a host crash the alert reads "sent, check the platform",
    /// never "nothing sent".
    Untagged,
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
    store: Store,
}

#[derive(Clone, Debug)]
enum Store {
    Sqlite(Arc<sqlite::Sqlite>),
    Postgres(Arc<postgres::Postgres>),
}

/// The same call on whichever store the journal is in (both have the same methods).
macro_rules! on_store {
    ($journal:expr, $s:ident => $call:expr) => {
        match &$journal.store {
            Store::Sqlite($s) => $call,
            Store::Postgres($s) => $call,
        }
    };
}

impl Journal {
    /// Opens (creating the directory and file on first start), locks, and migrates a SQLite journal, for a process in
    /// `mode`. The first open records the mode in the journal; a journal recorded in the other mode is refused
    /// ([`JournalError::WrongMode`]), before anything could be sent.
    pub fn open(path: &Path, window: Duration, mode: Mode) -> Result<Self, JournalError> {
        Ok(Self { store: Store::Sqlite(Arc::new(sqlite::Sqlite::open(path, window, mode)?)) })
    }

    /// Opens the journal `database` names: [`Self::open`] for a SQLite file; for PostgreSQL, connects (a small pool),
    /// applies the migrations in `migrations/postgres/` (sqlx's migrator, under its own advisory lock, so two
    /// instances starting together apply them once) and checks the mode the same way.
    pub async fn connect(database: &Database, window: Duration, mode: Mode) -> Result<Self, JournalError> {
        match database {
            Database::Sqlite(path) => Self::open(path, window, mode),
            Database::Postgres(url) => {
                let store = postgres::Postgres::connect(url.clone(), window, mode).await?;
                Ok(Self { store: Store::Postgres(Arc::new(store)) })
            }
        }
    }

    /// The journal's mode.
    pub fn mode(&self) -> Mode {
        on_store!(self, s => s.mode())
    }

    /// What to show a person: the SQLite file, or `postgres://host:port/db` (never the user or password).
    pub fn describe(&self) -> String {
        match &self.store {
            Store::Sqlite(s) => s.path().display().to_string(),
            Store::Postgres(p) => p.describe(),
        }
    }

    /// The Postgres store, when the journal is one (the leader lock and the alert queue live there).
    pub fn postgres(&self) -> Option<&Arc<postgres::Postgres>> {
        match &self.store {
            Store::Sqlite(_) => None,
            Store::Postgres(p) => Some(p),
        }
    }

    /// Runs `sql` as it is (tests: constraints, raw reads).
    #[cfg(test)]
    async fn execute_raw(&self, sql: &str) -> Result<u64, JournalError> {
        on_store!(self, s => s.execute_raw(sql.to_owned()).await)
    }

    /// The first column of the first row of `sql`, an integer (tests).
    #[cfg(test)]
    async fn query_i64(&self, sql: &str) -> Result<i64, JournalError> {
        on_store!(self, s => s.query_i64(sql.to_owned()).await)
    }

    /// How many alerts the journal holds.
    pub async fn count(&self) -> Result<u64, JournalError> {
        on_store!(self, s => s.count().await)
    }

    /// Empties a paper-trading journal (`serve --sim --reset`): every alert is deleted, so paper trading starts
    /// afresh with the fresh simulator. Returns how many were deleted. A live journal is never emptied
    /// ([`JournalError::ResetLive`]).
    pub async fn reset(&self) -> Result<u64, JournalError> {
        on_store!(self, s => s.reset().await)
    }

    /// Records `alert` unless it is a duplicate: its id was seen within the dedup window, or (for an entry
    /// deduplicated by content) an identical entry arrived within its content window, sliding. Returns the earlier
    /// row then. In Postgres the row is claimed by this process's leader epoch: this process executes it.
    pub async fn record(&self, alert: NewAlert) -> Result<Recorded, JournalError> {
        on_store!(self, s => s.record(alert).await)
    }

    /// Records a fan-out's per-account rows (issue 13) in one transaction: one commit for all of them, so the last
    /// account's order does not wait for one journal write per account before it. Their ids derive from a parent
    /// just recorded, so no deduplication applies.
    pub async fn record_children(&self, children: Vec<NewAlert>) -> Result<(), JournalError> {
        on_store!(self, s => s.record_children(children).await)
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
        let id = format!("refused-{}-{seq}-{}", received_at.timestamp_millis(), std::process::id());
        let response = serde_json::to_string(&refusal.answer(&id)).map_err(|e| JournalError::Task(e.to_string()))?;
        let intent = serde_json::to_string(&intent).map_err(|e| JournalError::Task(e.to_string()))?;
        let refusal =
            row::Refusal { alert_id: id.clone(), received_at, raw_body, intent, outcome: refusal.clone(), response };
        on_store!(self, s => s.record_refusal(refusal).await)?;
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
        on_store!(self, s => s.record_action(alert_id, at, raw_body, account_id).await)
    }

    /// Notes that a money-moving call is about to be sent: `sent_at` (the first one's time) and a `sent` event. An
    /// error means nothing may be sent. In SQLite an [`Sending::Untagged`] call waits for the disk first
    /// ([`Self::durable`]); a tagged one does not. In Postgres (every commit is durable when it returns) this is also
    /// the fence (issue 14): the row is written only if this process's leader epoch is still the current one, and
    /// the epoch is written with it; otherwise [`JournalError::Fenced`].
    pub async fn mark_sent(&self, alert_id: &str, sending: Sending) -> Result<(), JournalError> {
        match &self.store {
            Store::Sqlite(s) => s.mark_sent(alert_id, sending).await,
            Store::Postgres(s) => s.mark_sent(alert_id).await,
        }
    }

    /// Makes every write made so far survive a host crash (not only a crash of pxrelay, which a write returned from
    /// survives already). SQLite: at most one `fdatasync` of the WAL, shared by concurrent callers, none when the
    /// background syncer already covered the writes; never holding up other writes. Postgres: nothing to do (a
    /// commit is durable on the server when it returns). Called before an answer that accepts an alert while nothing
    /// of it is at the broker ([`crate::outcome::AlertStatus::durable_before_answer`]).
    pub async fn durable(&self) -> Result<(), JournalError> {
        match &self.store {
            Store::Sqlite(s) => s.sync().await,
            Store::Postgres(_) => Ok(()),
        }
    }

    /// How many times the journal was synced to disk by pxrelay ([`Self::durable`], untagged sends and the background
    /// syncer; SQLite's own checkpoint syncs are not counted). Always 0 for Postgres.
    pub fn syncs(&self) -> u64 {
        match &self.store {
            Store::Sqlite(s) => s.syncs(),
            Store::Postgres(_) => 0,
        }
    }

    /// Commits that returned (they survive a crash of pxrelay) and have not reached the disk yet (a host crash could
    /// lose them); at most the syncer's interval (100 ms) old unless it is held. Always 0 for Postgres.
    pub fn unsynced(&self) -> u64 {
        match &self.store {
            Store::Sqlite(s) => s.durable_state().unsynced(),
            Store::Postgres(_) => 0,
        }
    }

    /// Tests only: holds the background syncer (`true`), so that only the syncs the durability rule asks for happen
    /// and [`Self::unsynced`] shows what they covered; `false` lets it go again.
    #[doc(hidden)]
    pub fn hold_background_sync(&self, held: bool) {
        if let Store::Sqlite(s) = &self.store {
            s.durable_state().hold(held);
        }
    }

    /// Appends events to alerts' timelines (one transaction).
    pub async fn append(&self, writes: Vec<TimelineWrite>) -> Result<(), JournalError> {
        on_store!(self, s => s.append(writes).await)
    }

    /// Replaces `alert_id`'s timeline, except its own `received` and `journaled` events, with `events` (another
    /// journal's: the executor's, copied to the relay's, issue 16), and stores `execution` (kept where `None`), in one
    /// transaction. Idempotent: the same events again leave the same timeline. `events` must all be `alert_id`'s
    /// (else an error, and nothing is written); `received`/`journaled` among them are skipped. Returns `false`, and
    /// writes nothing, when the journal has no such alert.
    pub async fn replace_timeline(
        &self,
        alert_id: &str,
        events: Vec<TimelineWrite>,
        execution: Execution,
    ) -> Result<bool, JournalError> {
        if let Some(other) = events.iter().find(|w| w.alert_id != alert_id) {
            return Err(JournalError::Task(format!(
                "replace_timeline({alert_id}): an event of another alert ({})",
                other.alert_id
            )));
        }
        let events: Vec<TimelineWrite> = events.into_iter().filter(|w| !w.event.with_the_alert()).collect();
        on_store!(self, s => s.replace_timeline(alert_id, events, execution).await)
    }

    /// Stores the outcome, and the answer built from it (returned again for duplicates).
    pub async fn finish(&self, alert_id: &str, outcome: &Outcome) -> Result<(), JournalError> {
        self.finish_with(alert_id, outcome, Execution::default()).await
    }

    /// Stores a fan-out parent's outcome with its whole `answer` (every account's part), returned again for
    /// duplicates.
    pub async fn finish_answer(&self, alert_id: &str, outcome: &Outcome, answer: &Answer) -> Result<(), JournalError> {
        let response = serde_json::to_string(answer).map_err(|e| JournalError::Task(e.to_string()))?;
        on_store!(self, s => s.store_outcome(alert_id, outcome, response, Execution::default()).await)
    }

    /// [`Journal::finish`], with what the executor learned on the way (kept when `None`).
    pub async fn finish_with(
        &self,
        alert_id: &str,
        outcome: &Outcome,
        execution: Execution,
    ) -> Result<(), JournalError> {
        let response =
            serde_json::to_string(&outcome.answer(alert_id)).map_err(|e| JournalError::Task(e.to_string()))?;
        on_store!(self, s => s.store_outcome(alert_id, outcome, response, execution).await)
    }

    /// One alert, with its timeline, and for a fan-out each account's row (`accounts`, with theirs).
    pub async fn get(&self, alert_id: &str) -> Result<Option<StoredAlert>, JournalError> {
        on_store!(self, s => s.get(alert_id).await)
    }

    /// The newest `limit` alerts, newest first (a fan-out's per-account rows are listed under their parent, by
    /// [`Self::get`], not here).
    pub async fn list(&self, limit: u32) -> Result<Vec<StoredAlert>, JournalError> {
        on_store!(self, s => s.list(limit).await)
    }

    /// A piece of state that survives a restart (`journal_meta`), e.g. `kill_switch`; `None` when never set.
    pub async fn state(&self, key: &'static str) -> Result<Option<String>, JournalError> {
        on_store!(self, s => s.state(key).await)
    }

    /// Sets a piece of state that survives a restart (see [`Self::state`]), durably.
    pub async fn set_state(&self, key: &'static str, value: String) -> Result<(), JournalError> {
        on_store!(self, s => s.set_state(key, value).await)
    }

    /// Alerts without an outcome that a process had taken on (it stopped while handling them). In Postgres, rows still
    /// waiting in the queue for the leader ([`postgres::Postgres::record_queued`]) are not among them.
    pub async fn unfinished(&self) -> Result<Vec<StoredAlert>, JournalError> {
        on_store!(self, s => s.unfinished().await)
    }

    /// Alerts in `status` received since `since`, oldest first (e.g. the `unknown` ones to resolve after a resync).
    pub async fn in_status(&self, status: AlertStatus, since: DateTime<Utc>) -> Result<Vec<StoredAlert>, JournalError> {
        on_store!(self, s => s.in_status(status, since).await)
    }

    /// The gateway order ids of the orders pxrelay placed for alerts received since `since` (the `orders` of rows
    /// that sent something; dry-run requests are not ids and are skipped). After a restart they tell pxrelay's
    /// positions and bracket legs from the trader's own ([`crate::books::Books::seed_placed`]).
    pub async fn placed_order_ids(&self, since: DateTime<Utc>) -> Result<Vec<projectx::OrderId>, JournalError> {
        let texts = on_store!(self, s => s.placed_orders(since).await)?;
        Ok(texts
            .iter()
            .filter_map(|t| serde_json::from_str::<Vec<serde_json::Value>>(t).ok())
            .flatten()
            .filter_map(|v| v.as_i64())
            .map(projectx::OrderId::new)
            .collect())
    }
}
