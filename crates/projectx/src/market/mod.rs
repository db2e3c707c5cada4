//! `MarketHub`: the long-running market-data task on top of the SignalR client.
//!
//! It owns the **desired** subscription set (not the socket's), so every (re)connect replays it with
//! `SubscribeContractQuotes` and checks each completion; it reconnects with the new token whenever the
//! [`TokenManager`] publishes one; it merges `GatewayQuote` updates into the [`QuoteBook`]; and a stale-feed
//! watchdog reconnects when it is connected and subscribed but no quote arrived for `stale_after`.

mod quote;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use signalr::{AccessToken, BoxFuture, HubClient, HubConfig, HubEvent, HubStatus, InvokeError, TokenProvider};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use quote::{Quote, QuoteBook, QuoteUpdate, decode_gateway_quote};

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
    /// Whether the hub is connected.
    pub connected: bool,
    /// Seconds since the current connection was established.
    pub connected_for_secs: Option<u64>,
    /// Connections that ended since start.
    pub reconnects: u64,
    /// Reconnects forced by the stale-feed watchdog.
    pub stale_reconnects: u64,
    /// Reconnects caused by a token rotation.
    pub token_reconnects: u64,
    /// Milliseconds since the last frame of any kind (pings included).
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
    Subscribe(ContractId, oneshot::Sender<Result<(), SubscribeError>>),
    Unsubscribe(ContractId),
}

/// Shared between the task and its handles; written by the task only.
#[derive(Debug, Default)]
struct Shared {
    subscriptions: parking_lot::Mutex<BTreeSet<ContractId>>,
    stale_reconnects: AtomicU64,
    token_reconnects: AtomicU64,
    quotes: AtomicU64,
}

/// Handle to the running market task. Cheap to clone.
#[derive(Clone, Debug)]
pub struct MarketHub {
    cmds: mpsc::Sender<Command>,
    book: Arc<QuoteBook>,
    hub: HubClient,
    shared: Arc<Shared>,
}

impl MarketHub {
    /// Starts the hub client and the market task. Both stop when `cancel` fires.
    pub fn start(cfg: MarketConfig, tokens: TokenManager, cancel: CancellationToken) -> (Self, JoinHandle<()>) {
        let provider = Arc::new(HubTokens { tokens: tokens.clone(), last_given: AtomicU64::new(0) });
        let (hub, events, hub_task) = HubClient::start(cfg.hub.clone(), provider.clone(), cancel.clone());
        let (cmd_tx, cmd_rx) = mpsc::channel(64);
        let book = Arc::new(QuoteBook::default());
        let shared = Arc::new(Shared::default());
        let task = Task {
            cfg,
            hub: hub.clone(),
            events,
            cmds: cmd_rx,
            book: book.clone(),
            shared: shared.clone(),
            provider,
            tokens,
            cancel,
            connected: None,
            last_quote: None,
            calls: JoinSet::new(),
        };
        let handle = tokio::spawn(async move {
            task.run().await;
            let _ = hub_task.await;
        });
        (Self { cmds: cmd_tx, book, hub, shared }, handle)
    }

    /// Adds `contract_id` to the desired set; when connected, subscribes now and returns the hub's answer.
    /// Already subscribed → `Ok` at once. While disconnected → `Ok` (it is subscribed on the next connect).
    pub async fn subscribe(&self, contract_id: &ContractId) -> Result<(), SubscribeError> {
        let (tx, rx) = oneshot::channel();
        self.cmds.send(Command::Subscribe(contract_id.clone(), tx)).await.map_err(|_| SubscribeError::Stopped)?;
        rx.await.map_err(|_| SubscribeError::Stopped)?
    }

    /// Removes `contract_id` from the desired set (and unsubscribes when connected).
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
        matches!(*self.hub.status().borrow(), HubStatus::Connected { .. })
    }

    /// A status snapshot.
    pub fn status(&self) -> MarketStatus {
        let connected_since = match *self.hub.status().borrow() {
            HubStatus::Connected { since, .. } => Some(since),
            _ => None,
        };
        MarketStatus {
            connected: connected_since.is_some(),
            connected_for_secs: connected_since.map(|s| s.elapsed().as_secs()),
            reconnects: self.hub.disconnects(),
            stale_reconnects: self.shared.stale_reconnects.load(Ordering::Relaxed),
            token_reconnects: self.shared.token_reconnects.load(Ordering::Relaxed),
            last_message_age_ms: self.hub.last_frame_age().map(|d| d.as_millis() as u64),
            last_quote_age_ms: self.book.newest().map(|t| t.elapsed().as_millis() as u64),
            quotes_received: self.shared.quotes.load(Ordering::Relaxed),
            subscriptions: self.shared.subscriptions.lock().iter().cloned().collect(),
        }
    }
}

/// The token manager as the hub's token source; remembers which revision the current connection used.
#[derive(Debug)]
struct HubTokens {
    tokens: TokenManager,
    last_given: AtomicU64,
}

impl TokenProvider for HubTokens {
    fn token(&self) -> BoxFuture<'_, Result<AccessToken, String>> {
        Box::pin(async move {
            let token = self.tokens.ensure_valid_token().await.map_err(|e| e.to_string())?;
            self.last_given.store(token.revision(), Ordering::Relaxed);
            Ok(AccessToken { value: token.secret().clone(), id: token.revision() })
        })
    }

    fn refused(&self, id: u64) {
        self.tokens.invalidate(id);
    }
}

type CallResult = (ContractId, Result<(), InvokeError>, Option<oneshot::Sender<Result<(), SubscribeError>>>);

struct Task {
    cfg: MarketConfig,
    hub: HubClient,
    events: mpsc::Receiver<HubEvent>,
    cmds: mpsc::Receiver<Command>,
    book: Arc<QuoteBook>,
    shared: Arc<Shared>,
    provider: Arc<HubTokens>,
    tokens: TokenManager,
    cancel: CancellationToken,
    /// When the current connection came up.
    connected: Option<Instant>,
    /// When the last quote arrived on the current connection.
    last_quote: Option<Instant>,
    /// Subscribe invocations in flight: run beside the event loop so a slow completion never blocks quotes.
    calls: JoinSet<CallResult>,
}

impl Task {
    async fn run(mut self) {
        let mut token_rx = self.tokens.subscribe();
        token_rx.borrow_and_update();
        let mut watchdog = tokio::time::interval((self.cfg.stale_after / 4).max(Duration::from_millis(50)));
        watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => return,
                event = self.events.recv() => match event {
                    Some(event) => self.on_event(event),
                    None => return,
                },
                Some(done) = self.calls.join_next() => {
                    if let Ok((contract, result, reply)) = done {
                        self.on_subscribed(contract, result, reply);
                    }
                }
                cmd = self.cmds.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => return,
                },
                changed = token_rx.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let revision = token_rx.borrow_and_update().as_ref().map_or(0, |t| t.revision());
                    if self.connected.is_some() && revision != self.provider.last_given.load(Ordering::Relaxed) {
                        self.shared.token_reconnects.fetch_add(1, Ordering::Relaxed);
                        self.hub.reconnect("token rotated");
                    }
                }
                _ = watchdog.tick() => self.check_stale(),
            }
        }
    }

    fn on_event(&mut self, event: HubEvent) {
        match event {
            HubEvent::Connected { .. } => {
                self.connected = Some(Instant::now());
                self.last_quote = None;
                let subs: Vec<ContractId> = self.shared.subscriptions.lock().iter().cloned().collect();
                for contract in subs {
                    self.invoke_subscribe(contract, None);
                }
            }
            HubEvent::Disconnected { .. } => self.connected = None,
            HubEvent::Reconnecting { .. } => {}
            HubEvent::Invocation { target, arguments } if target == "GatewayQuote" => {
                match decode_gateway_quote(&arguments) {
                    Ok((contract, updates)) => {
                        for update in updates {
                            self.book.merge(&contract, update);
                        }
                        self.shared.quotes.fetch_add(1, Ordering::Relaxed);
                        self.last_quote = Some(Instant::now());
                    }
                    Err(e) => tracing::warn!(error = %e, "undecodable GatewayQuote ignored"),
                }
            }
            HubEvent::Invocation { .. } => {}
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Subscribe(contract, reply) => {
                let added = {
                    let mut subs = self.shared.subscriptions.lock();
                    if subs.contains(&contract) {
                        None
                    } else if subs.len() >= self.cfg.max_subscriptions {
                        Some(Err(SubscribeError::Full(self.cfg.max_subscriptions)))
                    } else {
                        subs.insert(contract.clone());
                        Some(Ok(()))
                    }
                };
                match added {
                    None => {
                        let _ = reply.send(Ok(()));
                    }
                    Some(Err(e)) => {
                        let _ = reply.send(Err(e));
                    }
                    Some(Ok(())) if self.connected.is_some() => self.invoke_subscribe(contract, Some(reply)),
                    Some(Ok(())) => {
                        let _ = reply.send(Ok(()));
                    }
                }
            }
            Command::Unsubscribe(contract) => {
                if self.shared.subscriptions.lock().remove(&contract) {
                    self.book.remove(&contract);
                    if self.connected.is_some() {
                        let hub = self.hub.clone();
                        self.calls.spawn(async move {
                            let r = hub.invoke("UnsubscribeContractQuotes", vec![contract.as_str().into()]).await;
                            (contract, r.map(drop), None)
                        });
                    }
                }
            }
        }
    }

    fn invoke_subscribe(&mut self, contract: ContractId, reply: Option<oneshot::Sender<Result<(), SubscribeError>>>) {
        let hub = self.hub.clone();
        self.calls.spawn(async move {
            let r = hub.invoke("SubscribeContractQuotes", vec![contract.as_str().into()]).await;
            (contract, r.map(drop), reply)
        });
    }

    fn on_subscribed(
        &mut self,
        contract: ContractId,
        result: Result<(), InvokeError>,
        reply: Option<oneshot::Sender<Result<(), SubscribeError>>>,
    ) {
        match &result {
            Ok(()) => tracing::debug!(contract.id = %contract, "subscribed to quotes"),
            Err(InvokeError::Hub(e)) => {
                // The hub refused the contract itself: drop it from the desired set so it is not replayed forever.
                tracing::warn!(contract.id = %contract, error = %e, "hub refused the quote subscription");
                self.shared.subscriptions.lock().remove(&contract);
            }
            Err(e) => {
                tracing::warn!(contract.id = %contract, error = %e, "quote subscription not confirmed; retried on reconnect")
            }
        }
        if let Some(reply) = reply {
            let _ = reply.send(result.map_err(SubscribeError::Hub));
        }
    }

    fn check_stale(&mut self) {
        let Some(connected) = self.connected else { return };
        if self.shared.subscriptions.lock().is_empty() {
            return;
        }
        let quiet_since = self.last_quote.unwrap_or(connected);
        if quiet_since.elapsed() >= self.cfg.stale_after {
            tracing::warn!(
                quiet_ms = quiet_since.elapsed().as_millis() as u64,
                "no quote within the stale limit while subscribed; reconnecting"
            );
            self.shared.stale_reconnects.fetch_add(1, Ordering::Relaxed);
            self.connected = None;
            self.hub.reconnect("stale feed");
        }
    }
}
