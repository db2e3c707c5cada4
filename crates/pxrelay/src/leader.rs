//! One executor at a time on a shared Postgres journal (issue 14): the instance that holds a session-level advisory
//! lock is the **leader** — it runs the hubs, the books and the executors, and executes every alert; the others are
//! **standbys** — they journal the webhooks they receive into the queue and wait for the leader's outcome.
//!
//! - **Taking the lead.** A standby tries the lock every [`POLL`] on a connection of its own; a leader that stops
//!   releases it (SIGTERM: once its executor drained) and one that dies loses it with its session, so a standby
//!   leads within a poll of either. Each acquisition increments the epoch in the `leader` table.
//! - **Fencing.** The lock's connection is pinged every [`POLL`]; a ping that fails or takes longer than
//!   [`PING_TIMEOUT`] means the session may be gone (the database may already have given the lock to another
//!   instance): the epoch is set to 0 at once, so nothing more is sent ([`crate::journal::Journal::mark_sent`]
//!   refuses), and the process stops with an error, for the platform to restart it as a standby. Every send also
//!   checks the epoch in the database, so a leader that comes back from a pause cannot act.

use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::journal::postgres::Postgres;

/// The advisory lock key (`pxrelay` in ASCII, as a number): one leader per database.
pub const LOCK_KEY: i64 = 0x0070_7872_656c_6179;

/// How often a standby tries the lock and a leader pings its session.
pub const POLL: Duration = Duration::from_millis(200);

/// A ping slower than this means the leader's session can no longer be trusted.
pub const PING_TIMEOUT: Duration = Duration::from_millis(1500);

/// This instance's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Waiting for the lock: webhooks are journaled for the leader.
    Standby,
    /// Holding the lock, with this epoch.
    Leader {
        /// Incremented at every acquisition (the `leader` table).
        epoch: i64,
    },
    /// Was the leader and lost its database session: sends nothing and stops.
    Fenced,
}

impl Role {
    /// `standby`, `leader` or `fenced` (shown by `/status`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standby => "standby",
            Self::Leader { .. } => "leader",
            Self::Fenced => "fenced",
        }
    }
}

/// `{"role", "epoch", "instance"}` for `/status` and `/ready`: `single` (a SQLite journal: no other instance can
/// exist), `standby`, `leader` or `fenced`; the epoch while leading.
pub fn status(leadership: Option<&Leadership>) -> serde_json::Value {
    match leadership {
        None => serde_json::json!({"role": "single", "epoch": null, "instance": null}),
        Some(l) => {
            let role = l.role();
            let epoch = match role {
                Role::Leader { epoch } => Some(epoch),
                Role::Standby | Role::Fenced => None,
            };
            serde_json::json!({"role": role.as_str(), "epoch": epoch, "instance": l.instance()})
        }
    }
}

/// The leadership of one process over a Postgres journal.
#[derive(Debug)]
pub struct Leadership {
    store: Arc<Postgres>,
    role: watch::Sender<Role>,
    /// Paper trading (`--sim`): each process has its own simulator, so instances cannot share a journal's lead; a
    /// second one stops instead of waiting as a standby.
    exclusive: bool,
}

impl Leadership {
    /// A standby over `store` (call [`Self::run`] to contend for the lock); `exclusive` in sim mode (see the field).
    pub fn new(store: Arc<Postgres>, exclusive: bool) -> Self {
        Self { store, role: watch::Sender::new(Role::Standby), exclusive }
    }

    /// The role now.
    pub fn role(&self) -> Role {
        *self.role.borrow()
    }

    /// Changes of the role.
    pub fn subscribe(&self) -> watch::Receiver<Role> {
        self.role.subscribe()
    }

    /// The instance name (`application_name` of its connections).
    pub fn instance(&self) -> &str {
        self.store.instance()
    }

    /// Contends for the lock until `cancel`; leads while it holds it. On `cancel` it waits for `drained` (the executor
    /// finished what it had) before releasing the lock. Returns an error when the lead was lost (the process must
    /// stop: it cannot tell whether another instance leads now).
    pub async fn run(self: Arc<Self>, cancel: CancellationToken, drained: CancellationToken) -> anyhow::Result<()> {
        let name = format!("{}-lock", self.store.instance());
        let mut conn = loop {
            match self.connect(&name).await {
                Ok(conn) => break conn,
                Err(e) => {
                    tracing::warn!(error = %e, "leader lock: cannot connect to the database yet");
                    tokio::select! {
                        () = cancel.cancelled() => return Ok(()),
                        () = tokio::time::sleep(POLL * 5) => {}
                    }
                }
            }
        };
        let epoch = loop {
            match self.try_lead(&mut conn).await {
                Ok(Some(epoch)) => break epoch,
                Ok(None) if self.exclusive => anyhow::bail!(
                    "another paper-trading (--sim) instance leads this Postgres journal (DATABASE_URL); each --sim \
                     process has its own simulator, so two cannot share a journal: stop the other one, or give this \
                     one its own DATABASE_URL"
                ),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "leader lock: try failed; reconnecting");
                    conn = match self.connect(&name).await {
                        Ok(c) => c,
                        Err(_) => conn,
                    };
                }
            }
            tokio::select! {
                () = cancel.cancelled() => return Ok(()),
                () = tokio::time::sleep(POLL) => {}
            }
        };
        match sqlx::query_scalar::<_, i32>("SELECT pg_backend_pid()").fetch_one(&mut conn).await {
            Ok(pid) => self.store.set_lock_session(pid),
            Err(e) => tracing::warn!(error = %e, "leader: could not read the lock session's pid"),
        }
        self.store.set_epoch(epoch);
        self.role.send_replace(Role::Leader { epoch });
        tracing::warn!(epoch, instance = self.store.instance(), "leader: this instance executes alerts from now on");
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(POLL) => {}
            }
            let ping = tokio::time::timeout(PING_TIMEOUT, sqlx::query("SELECT 1").execute(&mut conn)).await;
            if !matches!(ping, Ok(Ok(_))) {
                self.store.set_epoch(0);
                self.role.send_replace(Role::Fenced);
                tracing::error!(epoch, "leader: lost the database session; nothing more is sent from this instance");
                anyhow::bail!("lost the leader lock's database session (epoch {epoch}); stopping so a standby leads");
            }
        }
        // Stopping: let the executor finish what it holds (its sends still pass the fence), then hand over.
        let _ = tokio::time::timeout(Duration::from_secs(2), drained.cancelled()).await;
        self.store.set_epoch(0);
        self.role.send_replace(Role::Standby);
        let released = sqlx::query("SELECT pg_advisory_unlock($1)").bind(LOCK_KEY).execute(&mut conn).await;
        let _ = conn.close().await;
        tracing::info!(epoch, released = released.is_ok(), "leader: lock released");
        Ok(())
    }

    async fn connect(&self, name: &str) -> anyhow::Result<PgConnection> {
        let options = Postgres::options_for(self.store.url(), name)?;
        Ok(PgConnection::connect_with(&options).await?)
    }

    /// One try: `Some(epoch)` when this instance now holds the lock (the epoch incremented and recorded).
    async fn try_lead(&self, conn: &mut PgConnection) -> anyhow::Result<Option<i64>> {
        let got: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(LOCK_KEY).fetch_one(&mut *conn).await?;
        if !got {
            return Ok(None);
        }
        let epoch: i64 = sqlx::query_scalar(
            "UPDATE leader SET epoch = epoch + 1, holder = $1, since = $2 WHERE id = 1 RETURNING epoch",
        )
        .bind(self.store.instance())
        .bind(chrono::Utc::now().to_rfc3339())
        .fetch_one(&mut *conn)
        .await?;
        Ok(Some(epoch))
    }
}
