//! The PostgreSQL store (sqlx; issue 14): the SQLite journal's semantics on a database many pxrelay processes share.
//!
//! What differs from SQLite, and why:
//! - **Many writers.** Recording an alert takes a transaction-scoped advisory lock on its id (and on its content key,
//!   if it has one) before the duplicate check, so two instances receiving the same alert at once record it once.
//! - **A queue.** A row recorded by [`Postgres::record_queued`] has no `claimed_epoch`: it waits for the leader, who
//!   takes queued rows in arrival order ([`Postgres::claim_queued`], `FOR UPDATE SKIP LOCKED`) when woken by
//!   `NOTIFY pxrelay_alerts` or by its poll. A row recorded by [`Postgres::record`] is claimed by this process's
//!   epoch: it executes it itself.
//! - **The fence.** [`Postgres::mark_sent`] writes `sent_at` only while this process's epoch is the current one
//!   (one statement, checked in the database), so a leader that lost the lock cannot send.
//!
//! Durability: PostgreSQL's default `synchronous_commit = on`: a committed alert is on disk before the answer.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use projectx::{AccountId, ContractId};
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres as Pg, Row, Transaction};

use super::row::{RawRow, Refusal};
use super::timeline::{Event, TimelineEvent, TimelineWrite, stamp};
use super::{Execution, JournalError, NewAlert, PositionSource, Recorded, StoredAlert};
use crate::mode::Mode;
use crate::outcome::{AlertStatus, Outcome};

/// The channel a queued alert is announced on (`NOTIFY`), to wake the leader.
pub const QUEUE_CHANNEL: &str = "pxrelay_alerts";

/// Connections per process: the webhook handlers, the executor and the fills writer share them (the leader lock and
/// the queue listener have their own).
const POOL_SIZE: u32 = 8;

macro_rules! select {
    ($rest:literal) => {
        concat!(
            "SELECT alert_id, received_at, raw_body, intent, contract_id, account_id, status, path, orders, error, \
             sent_at, acked_at, response, received_unix, mode, reference_price, position_source, parent_id \
             FROM alerts ",
            $rest
        )
    };
}

/// The Postgres journal.
#[derive(Debug)]
pub struct Postgres {
    pool: PgPool,
    url: SecretString,
    window: Duration,
    mode: Mode,
    /// This process's leader epoch; 0 while it does not lead (it sends nothing then).
    epoch: AtomicI64,
    /// The backend pid of the session holding the leader lock (0: none): a send also checks that it still holds it.
    lock_pid: std::sync::atomic::AtomicI32,
    /// `pxrelay-<pid>-<n>`: the `application_name` of this process's connections (seen in `pg_stat_activity`).
    instance: String,
}

impl Postgres {
    pub(super) async fn connect(url: SecretString, window: Duration, mode: Mode) -> Result<Self, JournalError> {
        static INSTANCES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = INSTANCES.fetch_add(1, Ordering::Relaxed);
        let instance = format!("pxrelay-{}-{n}", std::process::id());
        let options = Self::options_for(&url, &instance)?;
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let lock_pid = std::sync::atomic::AtomicI32::new(0);
        let store = Self { pool, url, window, mode, epoch: AtomicI64::new(0), lock_pid, instance };
        store.claim_mode().await?;
        Ok(store)
    }

    /// Connection options for `url`, named `application_name` (the URL's `sslmode` is honoured: `require` encrypts
    /// with rustls).
    pub(crate) fn options_for(url: &SecretString, application_name: &str) -> Result<PgConnectOptions, JournalError> {
        let options = PgConnectOptions::from_str(url.expose_secret())
            .map_err(|_| JournalError::Task("DATABASE_URL: the Postgres URL does not parse".to_owned()))?;
        Ok(options.application_name(application_name))
    }

    /// The database URL (secret), for the connections the leader lock and the queue listener keep to themselves.
    pub fn url(&self) -> &SecretString {
        &self.url
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// `pxrelay-<pid>-<n>`: the `application_name` of this journal's connections.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// This process's leader epoch (0: not the leader).
    pub fn epoch(&self) -> i64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Sets this process's leader epoch: the one it acquired, or 0 when it lost the lock (nothing is sent from then
    /// on: [`Self::mark_sent`] refuses without asking the database).
    pub fn set_epoch(&self, epoch: i64) {
        self.epoch.store(epoch, Ordering::SeqCst);
    }

    /// Records the backend pid of the session that holds the leader lock ([`crate::leader`]); every send checks the
    /// session still holds it, so a leader whose lock session was cut sends nothing even before another leads.
    pub fn set_lock_session(&self, backend_pid: i32) {
        self.lock_pid.store(backend_pid, Ordering::SeqCst);
    }

    pub(super) fn describe(&self) -> String {
        super::database::describe_postgres(self.url.expose_secret())
    }

    pub(super) fn mode(&self) -> Mode {
        self.mode
    }

    async fn claim_mode(&self) -> Result<(), JournalError> {
        sqlx::query("INSERT INTO journal_meta (key, value) VALUES ('mode', $1) ON CONFLICT (key) DO NOTHING")
            .bind(self.mode.as_str())
            .execute(&self.pool)
            .await?;
        let recorded: String =
            sqlx::query_scalar("SELECT value FROM journal_meta WHERE key = 'mode'").fetch_one(&self.pool).await?;
        let journal = recorded.parse::<Mode>().map_err(|e| JournalError::Task(e.to_string()))?;
        if journal == self.mode {
            Ok(())
        } else {
            Err(JournalError::WrongMode { path: self.describe(), journal, process: self.mode })
        }
    }

    #[cfg(test)]
    pub(super) async fn execute_raw(&self, sql: String) -> Result<u64, JournalError> {
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&self.pool).await?.rows_affected())
    }

    #[cfg(test)]
    pub(super) async fn query_i64(&self, sql: String) -> Result<i64, JournalError> {
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&self.pool).await?)
    }

    /// Takes the lead in the `leader` table without the lock (tests of the store alone): the next epoch.
    #[cfg(test)]
    pub(super) async fn lead_for_test(&self) -> i64 {
        let epoch: i64 = sqlx::query_scalar("UPDATE leader SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch")
            .fetch_one(&self.pool)
            .await
            .expect("leader row");
        self.set_epoch(epoch);
        epoch
    }

    pub(super) async fn count(&self) -> Result<u64, JournalError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM alerts").fetch_one(&self.pool).await?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    pub(super) async fn reset(&self) -> Result<u64, JournalError> {
        if self.mode != Mode::Sim {
            return Err(JournalError::ResetLive(self.describe()));
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM alert_events WHERE alert_id IN (SELECT alert_id FROM alerts WHERE mode = 'sim')")
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM alerts WHERE mode = 'sim'").execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(deleted)
    }

    pub(super) async fn record(&self, alert: NewAlert) -> Result<Recorded, JournalError> {
        self.record_claimed(alert, self.epoch()).await
    }

    /// Records `alert` (deduplicated as [`super::Journal::record`]) **for the leader**: unclaimed, announced on
    /// [`QUEUE_CHANNEL`] in the same transaction. The leader executes it ([`Self::claim_queued`]); the caller waits
    /// for its outcome in the row.
    pub async fn record_queued(&self, alert: NewAlert) -> Result<Recorded, JournalError> {
        self.record_claimed(alert, 0).await
    }

    /// Records `alert` claimed by `epoch` (0: unclaimed, queued for the leader and announced).
    async fn record_claimed(&self, alert: NewAlert, epoch: i64) -> Result<Recorded, JournalError> {
        let mut tx = self.pool.begin().await?;
        // Same id or same content at once on two instances: one waits for the other's commit, then finds it.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(&alert.alert_id)
            .execute(&mut *tx)
            .await?;
        if let Some((key, _)) = &alert.content {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 1))").bind(key).execute(&mut *tx).await?;
        }
        let received = alert.received_at.timestamp();
        let since = |w: Duration| received - i64::try_from(w.as_secs()).unwrap_or(i64::MAX);
        let existing =
            sqlx::query(select!("WHERE alert_id = $1")).bind(&alert.alert_id).fetch_optional(&mut *tx).await?;
        if let Some(existing) = existing.map(|r| parse(&r)).transpose()?
            && existing.1 >= since(self.window)
        {
            return Ok(Recorded::Duplicate(Box::new(existing.0)));
        }
        if let Some((key, content_window)) = &alert.content {
            let earlier = sqlx::query(select!(
                "WHERE content_key = $1 AND received_unix >= $2 ORDER BY received_unix DESC, seq DESC LIMIT 1"
            ))
            .bind(key)
            .bind(since(*content_window))
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((row, _)) = earlier.map(|r| parse(&r)).transpose()? {
                return Ok(Recorded::Duplicate(Box::new(row)));
            }
        }
        insert_new(&mut tx, &alert, self.mode, epoch).await?;
        if epoch == 0 {
            sqlx::query("SELECT pg_notify($1, '')").bind(QUEUE_CHANNEL).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(Recorded::New)
    }

    pub(super) async fn record_children(&self, children: Vec<NewAlert>) -> Result<(), JournalError> {
        let mut tx = self.pool.begin().await?;
        for child in &children {
            insert_new(&mut tx, child, self.mode, self.epoch()).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn record_refusal(&self, refusal: Refusal) -> Result<(), JournalError> {
        let Refusal { alert_id, received_at, raw_body, intent, outcome, response } = refusal;
        sqlx::query(
            "INSERT INTO alerts (alert_id, received_at, received_unix, raw_body, intent, status, path, orders, error,
             acked_at, response, mode) VALUES ($1, $2, $3, $4, $5, $6, $7, '[]', $8, $2, $9, $10)",
        )
        .bind(alert_id)
        .bind(received_at.to_rfc3339())
        .bind(received_at.timestamp())
        .bind(raw_body)
        .bind(intent)
        .bind(outcome.status.as_str())
        .bind(outcome.path.clone())
        .bind(outcome.error())
        .bind(response)
        .bind(self.mode.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn record_action(
        &self,
        alert_id: &str,
        at: DateTime<Utc>,
        raw_body: String,
        account_id: AccountId,
    ) -> Result<(), JournalError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO alerts (alert_id, received_at, received_unix, raw_body, intent, account_id, status, orders,
             mode, claimed_epoch) VALUES ($1, $2, $3, $4, 'null', $5, $6, '[]', $7, $8)",
        )
        .bind(alert_id)
        .bind(at.to_rfc3339())
        .bind(at.timestamp())
        .bind(raw_body)
        .bind(account_id.get())
        .bind(AlertStatus::Received.as_str())
        .bind(self.mode.as_str())
        .bind(self.epoch())
        .execute(&mut *tx)
        .await?;
        let none = serde_json::json!({});
        insert_event(&mut tx, alert_id, Event::Received, at, &none).await?;
        insert_event(&mut tx, alert_id, Event::Journaled, Utc::now(), &none).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn mark_sent(&self, alert_id: &str) -> Result<(), JournalError> {
        let mine = self.epoch();
        if mine == 0 {
            sqlx::query(
                "UPDATE alerts SET claimed_epoch = NULL WHERE alert_id = $1 AND sent_at IS NULL AND intent <> 'null'",
            )
            .bind(alert_id)
            .execute(&self.pool)
            .await?;
            return Err(JournalError::Fenced { mine, current: None });
        }
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        let written = sqlx::query(
            "UPDATE alerts SET sent_at = COALESCE(sent_at, $2), sent_epoch = $3
             WHERE alert_id = $1 AND $3 = (SELECT epoch FROM leader WHERE id = 1)
               AND ($4 = 0 OR EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = $4 AND granted))",
        )
        .bind(alert_id)
        .bind(now.to_rfc3339())
        .bind(mine)
        .bind(self.lock_pid.load(Ordering::SeqCst))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if written == 0 {
            let current: i64 = sqlx::query_scalar("SELECT epoch FROM leader WHERE id = 1").fetch_one(&mut *tx).await?;
            let holds: bool = sqlx::query_scalar(
                "SELECT $1 = 0 OR EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = $1 AND granted)",
            )
            .bind(self.lock_pid.load(Ordering::SeqCst))
            .fetch_one(&mut *tx)
            .await?;
            if current != mine || !holds {
                self.epoch.store(0, Ordering::SeqCst);
                // Nothing was sent for it: back to the queue, for the next leader.
                sqlx::query(
                    "UPDATE alerts SET claimed_epoch = NULL WHERE alert_id = $1 AND sent_at IS NULL AND intent <> 'null'",
                )
                .bind(alert_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                return Err(JournalError::Fenced { mine, current: Some(current) });
            }
            return Err(JournalError::Task(format!("mark_sent: no journal row {alert_id}")));
        }
        insert_event(&mut tx, alert_id, Event::Sent, now, &serde_json::json!({})).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn append(&self, writes: Vec<TimelineWrite>) -> Result<(), JournalError> {
        let mut tx = self.pool.begin().await?;
        for w in &writes {
            insert_event(&mut tx, &w.alert_id, w.event, w.at, &w.data).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn replace_timeline(
        &self,
        alert_id: &str,
        writes: Vec<TimelineWrite>,
        execution: Execution,
    ) -> Result<bool, JournalError> {
        let mut tx = self.pool.begin().await?;
        // The row's lock also orders two replacements of one alert's timeline (the second sees the first's events).
        let updated = sqlx::query(
            "UPDATE alerts SET reference_price = COALESCE($2, reference_price),
             position_source = COALESCE($3, position_source) WHERE alert_id = $1",
        )
        .bind(alert_id)
        .bind(execution.reference_price.map(|p| p.normalize().to_string()))
        .bind(execution.position_source.map(PositionSource::as_str))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM alert_events WHERE alert_id = $1 AND event NOT IN ('received', 'journaled')")
            .bind(alert_id)
            .execute(&mut *tx)
            .await?;
        for w in &writes {
            insert_event(&mut tx, alert_id, w.event, w.at, &w.data).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    pub(super) async fn store_outcome(
        &self,
        alert_id: &str,
        outcome: &Outcome,
        response: String,
        execution: Execution,
    ) -> Result<(), JournalError> {
        sqlx::query(
            "UPDATE alerts SET status = $2, path = $3, orders = $4, error = $5, response = $6, acked_at = $7,
             reference_price = COALESCE($8, reference_price), position_source = COALESCE($9, position_source)
             WHERE alert_id = $1",
        )
        .bind(alert_id)
        .bind(outcome.status.as_str())
        .bind(outcome.path.clone())
        .bind(serde_json::Value::Array(outcome.orders.clone()).to_string())
        .bind(outcome.error())
        .bind(response)
        .bind(Utc::now().to_rfc3339())
        .bind(execution.reference_price.map(|p| p.normalize().to_string()))
        .bind(execution.position_source.map(PositionSource::as_str))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn get(&self, alert_id: &str) -> Result<Option<StoredAlert>, JournalError> {
        let Some(first) = sqlx::query(select!("WHERE alert_id = $1")).bind(alert_id).fetch_optional(&self.pool).await?
        else {
            return Ok(None);
        };
        let Some(mut alert) = self.with_timelines(vec![parse(&first)?.0]).await?.pop() else { return Ok(None) };
        let children = sqlx::query(select!("WHERE parent_id = $1 ORDER BY account_id"))
            .bind(alert_id)
            .fetch_all(&self.pool)
            .await?;
        let children = children.iter().map(|r| parse(r).map(|(a, _)| a)).collect::<Result<Vec<_>, _>>()?;
        alert.accounts = self.with_timelines(children).await?;
        Ok(Some(alert))
    }

    pub(super) async fn list(&self, limit: u32) -> Result<Vec<StoredAlert>, JournalError> {
        let rows = sqlx::query(select!("WHERE parent_id IS NULL ORDER BY received_unix DESC, seq DESC LIMIT $1"))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let rows = rows.iter().map(|r| parse(r).map(|(a, _)| a)).collect::<Result<Vec<_>, _>>()?;
        self.with_timelines(rows).await
    }

    pub(super) async fn state(&self, key: &'static str) -> Result<Option<String>, JournalError> {
        Ok(sqlx::query_scalar("SELECT value FROM journal_meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub(super) async fn set_state(&self, key: &'static str, value: String) -> Result<(), JournalError> {
        sqlx::query("INSERT INTO journal_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Rows taken on by some leader (claimed) and never finished; queued rows wait for the leader instead.
    pub(super) async fn unfinished(&self) -> Result<Vec<StoredAlert>, JournalError> {
        let rows = sqlx::query(select!("WHERE status = $1 AND claimed_epoch IS NOT NULL ORDER BY seq"))
            .bind(AlertStatus::Received.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| parse(r).map(|(a, _)| a)).collect()
    }

    pub(super) async fn in_status(
        &self,
        status: AlertStatus,
        since: DateTime<Utc>,
    ) -> Result<Vec<StoredAlert>, JournalError> {
        let rows = sqlx::query(select!("WHERE status = $1 AND received_unix >= $2 ORDER BY received_unix, seq"))
            .bind(status.as_str())
            .bind(since.timestamp())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| parse(r).map(|(a, _)| a)).collect()
    }

    pub(super) async fn placed_orders(&self, since: DateTime<Utc>) -> Result<Vec<String>, JournalError> {
        Ok(sqlx::query_scalar(
            "SELECT orders FROM alerts WHERE received_unix >= $1 AND status IN ('placed', 'closed', 'unknown')",
        )
        .bind(since.timestamp())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Takes up to `limit` queued alerts for this leader's epoch, oldest first (rows another leader is taking are
    /// skipped, never waited for). Each is the leader's to execute from then on.
    pub async fn claim_queued(&self, limit: i64) -> Result<Vec<StoredAlert>, JournalError> {
        let epoch = self.epoch();
        if epoch == 0 {
            return Err(JournalError::Fenced { mine: 0, current: None });
        }
        let claimed = sqlx::query(
            "UPDATE alerts SET claimed_epoch = $1 WHERE alert_id IN (
                 SELECT alert_id FROM alerts WHERE status = 'received' AND claimed_epoch IS NULL
                 ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED)
             RETURNING alert_id, seq",
        )
        .bind(epoch)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut ids: Vec<(i64, String)> = claimed.iter().map(|r| (r.get("seq"), r.get("alert_id"))).collect();
        ids.sort();
        let mut out = Vec::with_capacity(ids.len());
        for (_, id) in ids {
            if let Some(row) = sqlx::query(select!("WHERE alert_id = $1")).bind(&id).fetch_optional(&self.pool).await? {
                out.push(parse(&row)?.0);
            }
        }
        Ok(out)
    }

    /// Records the contract and account the leader resolved for a queued alert.
    pub async fn assign(&self, alert_id: &str, contract: &ContractId, account: AccountId) -> Result<(), JournalError> {
        sqlx::query("UPDATE alerts SET contract_id = $2, account_id = $3 WHERE alert_id = $1")
            .bind(alert_id)
            .bind(contract.as_str())
            .bind(account.get())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// After taking the lead: alerts an earlier leader took on but never sent anything for (`sent_at` NULL, no
    /// fan-out rows) go back to the queue, to be executed in arrival order (their age is checked as any alert's).
    /// Returns how many.
    pub async fn requeue_unsent(&self) -> Result<u64, JournalError> {
        let epoch = self.epoch();
        let requeued = sqlx::query(
            "UPDATE alerts a SET claimed_epoch = NULL
             WHERE status = 'received' AND sent_at IS NULL AND claimed_epoch IS NOT NULL AND claimed_epoch < $1
               AND parent_id IS NULL AND intent <> 'null'
               AND NOT EXISTS (SELECT 1 FROM alerts c WHERE c.parent_id = a.alert_id)",
        )
        .bind(epoch)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(requeued)
    }

    /// Adds each row's timeline and what it sums up to (one query for all rows).
    async fn with_timelines(&self, mut rows: Vec<StoredAlert>) -> Result<Vec<StoredAlert>, JournalError> {
        let ids: Vec<String> = rows.iter().map(|r| r.alert_id.clone()).collect();
        let events =
            sqlx::query("SELECT alert_id, event, at, data FROM alert_events WHERE alert_id = ANY($1) ORDER BY at, seq")
                .bind(&ids)
                .fetch_all(&self.pool)
                .await?;
        let mut timelines: HashMap<String, Vec<TimelineEvent>> = HashMap::new();
        for e in &events {
            let event: String = e.try_get("event")?;
            let data: String = e.try_get("data")?;
            let decode = |e: serde_json::Error| JournalError::Postgres(sqlx::Error::Decode(Box::new(e)));
            timelines.entry(e.try_get("alert_id")?).or_default().push(TimelineEvent {
                event: serde_json::from_value(serde_json::Value::String(event)).map_err(decode)?,
                at: e.try_get("at")?,
                data: serde_json::from_str(&data).map_err(decode)?,
            });
        }
        for row in &mut rows {
            row.timeline = timelines.remove(&row.alert_id).unwrap_or_default();
            let summary = super::timeline::summarize(&row.timeline, row.reference_price);
            row.fills = summary.fills;
            row.fill_price = summary.fill_price;
            row.slippage_ticks = summary.slippage_ticks;
            row.realized_pnl = summary.realized_pnl;
        }
        Ok(rows)
    }
}

/// Inserts a new row for `alert` claimed by `epoch` (0: queued), replacing an older row with its id (whose timeline
/// starts again, and which takes a new place in arrival order), with its `received` and `journaled` events.
async fn insert_new(
    tx: &mut Transaction<'_, Pg>,
    alert: &NewAlert,
    mode: Mode,
    epoch: i64,
) -> Result<(), JournalError> {
    let intent = serde_json::to_string(&alert.intent).map_err(|e| JournalError::Task(e.to_string()))?;
    sqlx::query(
        "INSERT INTO alerts (alert_id, received_at, received_unix, raw_body, intent, contract_id, account_id, status,
         orders, content_key, mode, parent_id, claimed_epoch)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '[]', $9, $10, $11, NULLIF($12, 0))
         ON CONFLICT (alert_id) DO UPDATE SET seq = DEFAULT, received_at = $2, received_unix = $3, raw_body = $4,
             intent = $5, contract_id = $6, account_id = $7, status = $8, path = NULL, orders = '[]', error = NULL,
             sent_at = NULL, acked_at = NULL, response = NULL, content_key = $9, mode = $10, reference_price = NULL,
             position_source = NULL, parent_id = $11, claimed_epoch = NULLIF($12, 0), sent_epoch = NULL",
    )
    .bind(&alert.alert_id)
    .bind(alert.received_at.to_rfc3339())
    .bind(alert.received_at.timestamp())
    .bind(&alert.raw_body)
    .bind(intent)
    .bind(alert.contract_id.as_ref().map(ContractId::as_str))
    .bind(alert.account_id.map(AccountId::get))
    .bind(AlertStatus::Received.as_str())
    .bind(alert.content.as_ref().map(|(key, _)| key.as_str()))
    .bind(mode.as_str())
    .bind(&alert.parent_id)
    .bind(epoch)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM alert_events WHERE alert_id = $1").bind(&alert.alert_id).execute(&mut **tx).await?;
    let none = serde_json::json!({});
    insert_event(tx, &alert.alert_id, Event::Received, alert.received_at, &none).await?;
    insert_event(tx, &alert.alert_id, Event::Journaled, Utc::now(), &none).await?;
    Ok(())
}

async fn insert_event(
    tx: &mut Transaction<'_, Pg>,
    alert_id: &str,
    event: Event,
    at: DateTime<Utc>,
    data: &serde_json::Value,
) -> Result<(), JournalError> {
    sqlx::query("INSERT INTO alert_events (alert_id, event, at, data) VALUES ($1, $2, $3, $4)")
        .bind(alert_id)
        .bind(event.as_str())
        .bind(stamp(at))
        .bind(data.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Reads a row ([`RawRow::parse`]).
fn parse(r: &PgRow) -> Result<(StoredAlert, i64), JournalError> {
    let raw = RawRow {
        alert_id: r.try_get(0)?,
        received_at: r.try_get(1)?,
        raw_body: r.try_get(2)?,
        intent: r.try_get(3)?,
        contract_id: r.try_get(4)?,
        account_id: r.try_get(5)?,
        status: r.try_get(6)?,
        path: r.try_get(7)?,
        orders: r.try_get(8)?,
        error: r.try_get(9)?,
        sent_at: r.try_get(10)?,
        acked_at: r.try_get(11)?,
        response: r.try_get(12)?,
        received_unix: r.try_get(13)?,
        mode: r.try_get(14)?,
        reference_price: r.try_get(15)?,
        position_source: r.try_get(16)?,
        parent_id: r.try_get(17)?,
    };
    raw.parse().map_err(|(index, source)| {
        JournalError::Postgres(sqlx::Error::ColumnDecode { index: index.to_string(), source })
    })
}
