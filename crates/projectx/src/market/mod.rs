//! `MarketHub`: the long-running market-data task on top of the SignalR client.
//!
//! It owns the **desired** subscription set (not the socket's), so every (re)connect replays it with
//! `SubscribeContractQuotes` and checks each completion; `GatewayQuote` updates are merged into the [`QuoteBook`] as
//! they are read from the socket (each connection's [`QuoteSink`], without a hop through the task); and a stale-feed
//! watchdog reconnects when it is connected and subscribed but no quote arrived for `stale_after`.
//!
//! **Connected only when needed.** With nothing desired there is no connection (and so nothing to rotate): the
//! first `subscribe` starts the hub client and waits for its first attempt (the hub's answer when it connects,
//! `Ok` when it fails: the contract stays desired and is subscribed on the next connect). When the desired set
//! becomes empty again (unsubscribes, or the hub refusing every contract) the connection is closed.
//!
//! **Token rotation without a gap (make before break).** When the [`TokenManager`] publishes a new token while the
//! current connection is up with an older one, the task starts a second hub client, the *candidate*, which connects
//! with the new token; on its `Connected` the task replays the desired set on it and waits for every completion.
//! Meanwhile both connections deliver quotes into the same [`QuoteBook`]: merging is idempotent (absent or null
//! fields are unchanged), so duplicates are harmless. Subscribes during the overlap go to both; their answer is the
//! current connection's. Once every replayed subscription is confirmed (or refused by the hub as unknown), the
//! candidate becomes the current connection and the old one is closed (a Close message): quotes never stop. If the
//! candidate fails (an attempt fails, it disconnects, or a replay gets no completion), it is dropped, the old
//! connection stays, and the switch is tried again after a jittered backoff that grows with consecutive failures.
//! A planned switch therefore never leaves zero connections. When the current connection is down anyway, no
//! candidate is needed: its supervisor's next attempt takes the new token.
//!
//! Planned reconnects of one connection (a server Close with `allowReconnect: true`, the watchdog's request) are
//! immediate and never raise the supervisor's failure streak (see `signalr::client`).
//!
//! Layout: this file (the handle and its types), `link` (one hub client and its token source), `task` (the event
//! loop: links, subscriptions, rotation, watchdog), `quote` (the book), `sink` (quotes merged on the connection's
//! task), `scan` (the hand-scanned fast path for a usual `GatewayQuote` record), `decode` (the serde decoder
//! for everything else) and `fastparse` (decimal and timestamp text fast paths).

mod decode;
mod fastparse;
mod link;
mod quote;
mod scan;
mod sink;
mod task;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use signalr::{HubClient, HubConfig, HubStatus, InvokeError};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use quote::{Quote, QuoteBook, QuoteUpdate, decode_gateway_quote};
pub use sink::QuoteSink;

use crate::ContractId;
use crate::auth::TokenManager;

/// Market hub options.
#[derive(Clone, Debug)]
pub struct MarketConfig {
    /// The SignalR connection (URL, timeouts, backoff).
    pub hub: HubConfig,
    /// Connected, subscribed and no quote for this long → reconnect (default 60 s).
    pub stale_after: Duration,
    /// Most contracts subscribed at once (default 50).
    pub max_subscriptions: usize,
}

impl MarketConfig {
    /// Defaults for `url`.
    pub fn new(url: url::Url) -> Self {
        Self { hub: HubConfig::new(url), stale_after: Duration::from_secs(60), max_subscriptions: 50 }
    }
}

/// Why a subscription failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubscribeError {
    /// The subscription limit is reached.
    #[error("at most {0} contracts can be subscribed")]
    Full(usize),
    /// The hub refused it (e.g. an unknown contract).
    #[error(transparent)]
    Hub(#[from] InvokeError),
    /// The market task has stopped.
    #[error("the market task has stopped")]
    Stopped,
}

/// What `/status` shows about the feed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MarketStatus {
    /// Whether the hub is connected (always `false` while nothing is subscribed: there is no connection then).
    pub connected: bool,
    /// Seconds since the current connection was established.
    pub connected_for_secs: Option<u64>,
    /// Connections that ended on their own or by the watchdog (a rotation's replaced connection and a close because
    /// nothing is subscribed are not counted).
    pub reconnects: u64,
    /// Reconnects forced by the stale-feed watchdog.
    pub stale_reconnects: u64,
    /// Token rotations completed: a new connection took over from the old one.
    pub token_reconnects: u64,
    /// Milliseconds since the last frame of any kind (pings included) on the current connection.
    pub last_message_age_ms: Option<u64>,
    /// Milliseconds since the last quote of any contract.
    pub last_quote_age_ms: Option<u64>,
    /// `GatewayQuote` messages merged.
    pub quotes_received: u64,
    /// Desired subscriptions.
    pub subscriptions: Vec<ContractId>,
}

#[derive(Debug)]
enum Command {
    Subscribe(ContractId, link::Reply),
    Unsubscribe(ContractId),
}

/// Shared between the task and its handles; written by the task only.
#[derive(Debug, Default)]
struct Shared {
    /// The desired set.
    subscriptions: parking_lot::Mutex<BTreeSet<ContractId>>,
    /// The current connection's client (`None` while nothing is subscribed), for `status()`.
    client: parking_lot::Mutex<Option<HubClient>>,
    reconnects: AtomicU64,
    stale_reconnects: AtomicU64,
    token_reconnects: AtomicU64,
    /// `GatewayQuote` messages merged, by every link's [`QuoteSink`].
    quotes: Arc<AtomicU64>,
}

/// Handle to the running market task. Cheap to clone.
#[derive(Clone, Debug)]
pub struct MarketHub {
    cmds: mpsc::Sender<Command>,
    book: Arc<QuoteBook>,
    shared: Arc<Shared>,
}

impl MarketHub {
    /// Starts the market task (it connects once something is subscribed). It stops when `cancel` fires, after
    /// closing its connections.
    pub fn start(cfg: MarketConfig, tokens: TokenManager, cancel: CancellationToken) -> (Self, JoinHandle<()>) {
        let (cmd_tx, cmd_rx) = mpsc::channel(64);
        let book = Arc::new(QuoteBook::default());
        let shared = Arc::new(Shared::default());
        let task = task::Task::new(cfg, cmd_rx, book.clone(), shared.clone(), tokens, cancel);
        (Self { cmds: cmd_tx, book, shared }, tokio::spawn(task.run()))
    }

    /// Adds `contract_id` to the desired set; when connected, subscribes now and returns the hub's answer.
    /// Already subscribed → `Ok` at once. The first subscribe connects the hub and waits for that attempt: the hub's
    /// answer when it connects, `Ok` when it fails. While disconnected → `Ok` (it is subscribed on the next
    /// connect).
    pub async fn subscribe(&self, contract_id: &ContractId) -> Result<(), SubscribeError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.cmds.send(Command::Subscribe(contract_id.clone(), tx)).await.map_err(|_| SubscribeError::Stopped)?;
        rx.await.map_err(|_| SubscribeError::Stopped)?
    }

    /// Removes `contract_id` from the desired set (and unsubscribes when connected; the last one closes the
    /// connection).
    pub async fn unsubscribe(&self, contract_id: &ContractId) {
        let _ = self.cmds.send(Command::Unsubscribe(contract_id.clone())).await;
    }

    /// Whether `contract_id` is in the desired set.
    pub fn is_subscribed(&self, contract_id: &ContractId) -> bool {
        self.shared.subscriptions.lock().contains(contract_id)
    }

    /// The quote book.
    pub fn quotes(&self) -> &Arc<QuoteBook> {
        &self.book
    }

    /// Whether the hub is connected now.
    pub fn is_connected(&self) -> bool {
        self.client().is_some_and(|c| matches!(*c.status().borrow(), HubStatus::Connected { .. }))
    }

    /// A status snapshot.
    pub fn status(&self) -> MarketStatus {
        let client = self.client();
        let connected_since = client.as_ref().and_then(|c| match *c.status().borrow() {
            HubStatus::Connected { since, .. } => Some(since),
            _ => None,
        });
        MarketStatus {
            connected: connected_since.is_some(),
            connected_for_secs: connected_since.map(|s| s.elapsed().as_secs()),
            reconnects: self.shared.reconnects.load(Ordering::Relaxed),
            stale_reconnects: self.shared.stale_reconnects.load(Ordering::Relaxed),
            token_reconnects: self.shared.token_reconnects.load(Ordering::Relaxed),
            last_message_age_ms: client.and_then(|c| c.last_frame_age()).map(|d| d.as_millis() as u64),
            last_quote_age_ms: self.book.newest().map(|t| t.elapsed().as_millis() as u64),
            quotes_received: self.shared.quotes.load(Ordering::Relaxed),
            subscriptions: self.shared.subscriptions.lock().iter().cloned().collect(),
        }
    }

    /// The current connection's client, cloned out of the lock.
    fn client(&self) -> Option<HubClient> {
        self.shared.client.lock().clone()
    }
}
