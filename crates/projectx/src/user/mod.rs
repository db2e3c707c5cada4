//! `UserHub`: the long-running account-event task on top of the SignalR client (the user hub: accounts, orders,
//! positions, fills). Same supervised shape as [`crate::MarketHub`].
//!
//! **Desired state, replayed.** The task owns the set of watched accounts (not the socket's). Every connection gets
//! `SubscribeAccounts()` once, then `SubscribeOrders/SubscribePositions/SubscribeTrades(accountId)` per account, and
//! every completion is checked. A subscription the hub refuses (an unknown account) drops that account; one that
//! gets no answer reconnects, since a connection missing a subscription would silently miss events. With nothing
//! watched there is no connection: the first `watch_account` connects and waits for that attempt.
//!
//! **Epochs and markers.** Each connection that comes up starts a new *epoch*; every event is delivered as a
//! [`UserUpdate`] carrying it. Once all of a connection's subscriptions are confirmed the stream carries
//! [`UserEvent::Connected`] `{ epoch }` (take the REST snapshot now); when it ends, [`UserEvent::Disconnected`]
//! `{ epoch }` (events may be missed until the next `Connected`). Events that arrive while a connection is still
//! resubscribing are delivered with `synced: false`.
//!
//! **Delivery: one bounded channel, never lossy.** Updates go, in order, through one `mpsc` channel of
//! `event_capacity` (taken once with [`UserHub::take_events`]); the consumer is an account book that must not miss
//! an event, so nothing is ever dropped. When the consumer is slow the channel fills, the task stops reading the hub
//! connection (its commands and completions still run), the SignalR client's own queue fills and it stops reading the
//! socket. A gateway that gives up on the unread socket closes it: that is a `Disconnected` marker and a new epoch,
//! never a silent gap. If the receiver is dropped, updates are discarded (nobody listens); if it is never taken, the
//! hub stalls once `event_capacity` updates are queued.
//!
//! **Token rotation without a gap (make before break).** When the [`TokenManager`] publishes a new token while the
//! current connection is synced with an older one, a *candidate* connection is opened with the new token and
//! replays every subscription. Meanwhile the current connection keeps delivering everything (the candidate's events
//! are dropped, the current one has them all). Once the candidate is synced, a barrier call (`SubscribeAccounts()`
//! again, which changes nothing) goes to the current connection: the hub answers it after every event it sent
//! before it, so when the answer comes the current connection's queue is drained to the end and the candidate
//! takes over. Events that reached both connections around the switch are delivered once: the candidate's events
//! that match (same target and exact text) the last ones the old connection delivered are dropped. The epoch is
//! kept (no gap, no REST snapshot needed). A failed candidate is dropped and retried after a backoff; the old
//! connection stays. This assumes the hub sends events to both connections in the same order, as one server does.
//! When the current connection is down no candidate is needed: a new token cuts its backoff wait short and its next
//! attempt uses it.
//!
//! **`GatewayLogout`** (undocumented, API notes §9.23) is logged at warn; the token revision of that connection is
//! invalidated and the connection reconnects, which logs in again. [`LOGOUT_LIMIT`] logouts within
//! [`LOGOUT_WINDOW`] mean another session is fighting this one (TopstepX allows one session at a time, §9.22): the
//! hub then closes its connection and does not log in for `logout_pause` ([`UserStatus`] says so and until when),
//! then tries again; [`UserHub::resume`] tries at once. The logout that starts the pause does not invalidate the
//! token, so the hub itself causes no login during the pause (a REST call answered 401 still logs in: that is the
//! application's call); when the pause ends, a refused token is replaced through the usual 401 path.
//!
//! The stream ends (`recv` gives `None`) when the task stops; no `Disconnected` marker is sent then.
//!
//! Layout: this file (the handle and its types), `event` (the stream's types and the payload decoder), `link` (one
//! hub client and its token source), `task` (the event loop), `task/calls` (watch commands and subscription
//! results), `task/rotation` (the make-before-break switch), `logout` (the logout guard).

mod event;
mod link;
mod logout;
mod task;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use signalr::{HubClient, HubConfig, HubStatus, InvokeError};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use event::{
    ACCOUNT_EVENT, DecodeError, LOGOUT_EVENT, ORDER_EVENT, POSITION_EVENT, TRADE_EVENT, UserEvent, UserUpdate,
    decode_user_event, is_user_event,
};
pub use logout::{LOGOUT_LIMIT, LOGOUT_WINDOW};

use crate::AccountId;
use crate::auth::TokenManager;

/// User hub options.
#[derive(Clone, Debug)]
pub struct UserConfig {
    /// The SignalR connection (URL, timeouts, backoff).
    pub hub: HubConfig,
    /// How long re-login stops after [`LOGOUT_LIMIT`] logouts within [`LOGOUT_WINDOW`] (default 15 minutes: long
    /// enough for a trader to notice and close the other session).
    pub logout_pause: Duration,
    /// Capacity of the update channel (default 4096).
    pub event_capacity: usize,
}

impl UserConfig {
    /// Defaults for `url` (e.g. `https://rtc.topstepx.com/hubs/user`).
    pub fn new(url: url::Url) -> Self {
        Self { hub: HubConfig::new(url), logout_pause: Duration::from_secs(15 * 60), event_capacity: 4096 }
    }
}

/// Why watching an account failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WatchError {
    /// The hub refused a subscription (e.g. an unknown account); the account is not watched.
    #[error(transparent)]
    Hub(#[from] InvokeError),
    /// The user task has stopped.
    #[error("the user hub task has stopped")]
    Stopped,
}

/// What `/status` shows about the user hub.
#[derive(Clone, Debug, serde::Serialize)]
pub struct UserStatus {
    /// Whether the hub is connected (always `false` while nothing is watched or re-login is paused).
    pub connected: bool,
    /// Connected and every subscription of every watched account confirmed.
    pub synced: bool,
    /// The current connection epoch (0 before the first connection).
    pub epoch: u64,
    /// Seconds since the current connection was established.
    pub connected_for_secs: Option<u64>,
    /// Connections that ended on their own or by a logout (a rotation's replaced connection and a close because
    /// nothing is watched are not counted).
    pub reconnects: u64,
    /// Token rotations completed: a new connection took over from the old one without a gap.
    pub token_reconnects: u64,
    /// Milliseconds since the last account, order, position or trade event.
    pub last_event_age_ms: Option<u64>,
    /// Milliseconds since the last frame of any kind (pings included) on the current connection.
    pub last_message_age_ms: Option<u64>,
    /// Account, order, position and trade events delivered.
    pub events: u64,
    /// User-hub messages that did not decode (logged at warn, skipped).
    pub undecodable: u64,
    /// Updates waiting for the consumer.
    pub queued: u64,
    /// Watched accounts.
    pub accounts: Vec<AccountId>,
    /// `GatewayLogout` messages received.
    pub logouts: u64,
    /// Re-login is paused: repeated logouts mean another session is active.
    pub logged_out_by_other_session: bool,
    /// Why it is paused.
    pub logout_reason: Option<String>,
    /// Until when it is paused (it tries again then; [`UserHub::resume`] tries at once).
    pub paused_until: Option<DateTime<Utc>>,
}

#[derive(Debug)]
enum Command {
    Watch(AccountId, link::Reply),
    Unwatch(AccountId),
    Resume,
}

/// A re-login pause after repeated logouts.
#[derive(Clone, Debug)]
struct Pause {
    /// For status.
    reason: String,
    /// For status (the task's timer keeps its own `Instant`).
    until_utc: DateTime<Utc>,
}

/// Shared between the task and its handles; written by the task only.
#[derive(Debug, Default)]
struct Shared {
    /// The desired set.
    accounts: parking_lot::Mutex<BTreeSet<AccountId>>,
    /// The current connection's client (`None` while nothing is watched), for `status()`.
    client: parking_lot::Mutex<Option<HubClient>>,
    /// The re-login pause, if any.
    pause: parking_lot::Mutex<Option<Pause>>,
    /// When the last data event was delivered.
    last_event: parking_lot::Mutex<Option<Instant>>,
    synced: AtomicBool,
    epoch: AtomicU64,
    reconnects: AtomicU64,
    token_reconnects: AtomicU64,
    events: AtomicU64,
    undecodable: AtomicU64,
    /// Updates in the task's outbox (not yet in the channel).
    outbox: AtomicU64,
    logouts: AtomicU64,
}

/// Handle to the running user task. Cheap to clone.
#[derive(Clone, Debug)]
pub struct UserHub {
    cmds: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    /// The update channel's sender (held only to measure its fill level).
    probe: mpsc::WeakSender<UserUpdate>,
    /// The update channel's receiver until [`UserHub::take_events`] takes it.
    events: Arc<parking_lot::Mutex<Option<mpsc::Receiver<UserUpdate>>>>,
}

impl UserHub {
    /// Starts the user task (it connects once an account is watched). It stops when `cancel` fires, after closing
    /// its connections. Take the update stream with [`Self::take_events`].
    pub fn start(cfg: UserConfig, tokens: TokenManager, cancel: CancellationToken) -> (Self, JoinHandle<()>) {
        let (cmd_tx, cmd_rx) = mpsc::channel(64);
        let (out_tx, out_rx) = mpsc::channel(cfg.event_capacity.max(1));
        let shared = Arc::new(Shared::default());
        let probe = out_tx.downgrade();
        let task = task::Task::new(cfg, cmd_rx, out_tx, shared.clone(), tokens, cancel);
        let hub = Self { cmds: cmd_tx, shared, probe, events: Arc::new(parking_lot::Mutex::new(Some(out_rx))) };
        (hub, tokio::spawn(task.run()))
    }

    /// The ordered update stream; `Some` for the first caller only.
    pub fn take_events(&self) -> Option<mpsc::Receiver<UserUpdate>> {
        self.events.lock().take()
    }

    /// Adds `account` to the watched set; when connected, subscribes its orders, positions and trades now and
    /// returns once the hub confirmed all three (the point from which none of its events is missed: snapshot it
    /// then). Already watched → `Ok` at once. The first watch connects the hub and waits for that attempt (the
    /// hub's answer when it connects, `Ok` when it fails: the account stays watched and is subscribed on the next
    /// connect, announced by `Connected`). While disconnected or paused → `Ok`.
    pub async fn watch_account(&self, account: AccountId) -> Result<(), WatchError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.cmds.send(Command::Watch(account, tx)).await.map_err(|_| WatchError::Stopped)?;
        rx.await.map_err(|_| WatchError::Stopped)?
    }

    /// Removes `account` from the watched set (and unsubscribes it when connected; the last one closes the
    /// connection).
    pub async fn unwatch_account(&self, account: AccountId) {
        let _ = self.cmds.send(Command::Unwatch(account)).await;
    }

    /// Ends a re-login pause at once (an operator closed the other session): the hub connects and logs in again.
    /// The logout history is forgotten. No effect when not paused.
    pub async fn resume(&self) {
        let _ = self.cmds.send(Command::Resume).await;
    }

    /// Whether `account` is watched.
    pub fn is_watching(&self, account: AccountId) -> bool {
        self.shared.accounts.lock().contains(&account)
    }

    /// Whether the hub is connected now.
    pub fn is_connected(&self) -> bool {
        self.client().is_some_and(|c| matches!(*c.status().borrow(), HubStatus::Connected { .. }))
    }

    /// A status snapshot.
    pub fn status(&self) -> UserStatus {
        let client = self.client();
        let connected_since = client.as_ref().and_then(|c| match *c.status().borrow() {
            HubStatus::Connected { since, .. } => Some(since),
            _ => None,
        });
        let pause = self.shared.pause.lock().clone();
        let in_channel = self.probe.upgrade().map_or(0, |tx| tx.max_capacity() - tx.capacity());
        UserStatus {
            connected: connected_since.is_some(),
            synced: connected_since.is_some() && self.shared.synced.load(Ordering::Relaxed),
            epoch: self.shared.epoch.load(Ordering::Relaxed),
            connected_for_secs: connected_since.map(|s| s.elapsed().as_secs()),
            reconnects: self.shared.reconnects.load(Ordering::Relaxed),
            token_reconnects: self.shared.token_reconnects.load(Ordering::Relaxed),
            last_event_age_ms: self.shared.last_event.lock().map(|t| t.elapsed().as_millis() as u64),
            last_message_age_ms: client.and_then(|c| c.last_frame_age()).map(|d| d.as_millis() as u64),
            events: self.shared.events.load(Ordering::Relaxed),
            undecodable: self.shared.undecodable.load(Ordering::Relaxed),
            queued: self.shared.outbox.load(Ordering::Relaxed) + in_channel as u64,
            accounts: self.shared.accounts.lock().iter().copied().collect(),
            logouts: self.shared.logouts.load(Ordering::Relaxed),
            logged_out_by_other_session: pause.is_some(),
            logout_reason: pause.as_ref().map(|p| p.reason.clone()),
            paused_until: pause.map(|p| p.until_utc),
        }
    }

    /// The current connection's client, cloned out of the lock.
    fn client(&self) -> Option<HubClient> {
        self.shared.client.lock().clone()
    }
}
