//! `Link`: one SignalR hub client (a supervisor keeping at most one connection) and what the market task knows of
//! it. The task holds a current link and, during a token rotation, a candidate link; each has its own token
//! provider, so the task knows which token revision each one connected with.
//!
//! Quotes do not travel through the task: each link's [`QuoteSink`] merges `GatewayQuote` invocations into the
//! [`QuoteBook`] on the hub connection's own task, straight from the socket buffer (no copy, no channel hop), and
//! notes the arrival time the stale watchdog reads.

use std::sync::Arc;

use signalr::{HubClient, HubConfig, HubEvent};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{QuoteBook, QuoteSink, Shared, SubscribeError};
use crate::ContractId;
use crate::auth::TokenManager;
use crate::hub_tokens::HubTokens;

/// The answer channel of a `MarketHub::subscribe` call.
pub(super) type Reply = oneshot::Sender<Result<(), SubscribeError>>;

/// One hub client owned by the market task.
pub(super) struct Link {
    /// Increases with every link; tags invocation results so late answers from a retired link are recognised.
    pub(super) id: u64,
    /// The handle for invocations and status.
    pub(super) client: HubClient,
    /// The supervisor's events, in order; read only by the market task.
    pub(super) events: mpsc::Receiver<HubEvent>,
    /// Stops this link's supervisor (a child of the market task's token).
    cancel: CancellationToken,
    /// The supervisor task; awaited by whoever retires the link.
    task: JoinHandle<()>,
    /// This link's token source: remembers the revision of its latest connection attempt.
    tokens: Arc<HubTokens>,
    /// When its current connection came up (`None` while it is not connected).
    pub(super) connected: Option<Instant>,
    /// Merges this link's quotes; knows when the last one arrived.
    quotes: Arc<QuoteSink>,
    /// True until its first attempt succeeds or fails: subscribes wait for that outcome in `waiting`.
    pub(super) first_attempt: bool,
    /// Subscribes answered once the first attempt ends (the hub's answer, or `Ok` if the attempt failed).
    pub(super) waiting: Vec<(ContractId, Reply)>,
    /// Candidate only: replayed subscriptions whose completion has not arrived yet.
    pub(super) replaying: usize,
}

impl Link {
    /// Starts a hub client whose every attempt asks `tokens` for a valid token.
    /// Its `GatewayQuote`s are merged into `book` (and counted in `shared`) as they arrive.
    pub(super) fn start(
        id: u64,
        cfg: &HubConfig,
        tokens: TokenManager,
        cancel: &CancellationToken,
        book: &Arc<QuoteBook>,
        shared: &Arc<Shared>,
    ) -> Self {
        let provider = HubTokens::new(tokens);
        let cancel = cancel.child_token();
        let quotes = Arc::new(QuoteSink::new(book.clone(), shared.quotes.clone()));
        let (client, events, task) =
            HubClient::start_with_handler(cfg.clone(), provider.clone(), quotes.clone(), cancel.clone());
        Self {
            id,
            client,
            events,
            cancel,
            task,
            tokens: provider,
            connected: None,
            quotes,
            first_attempt: true,
            waiting: Vec::new(),
            replaying: 0,
        }
    }

    /// When the last quote arrived on this link (any of its connections).
    pub(super) fn last_quote(&self) -> Option<Instant> {
        self.quotes.last_quote()
    }

    /// The token revision of its latest connection attempt (0 before the first).
    pub(super) fn token_revision(&self) -> u64 {
        self.tokens.last_given()
    }

    /// Answers the subscribes waiting for the first attempt with `Ok` (they stay desired and are subscribed on the
    /// next connection).
    pub(super) fn release_waiting(&mut self) {
        self.first_attempt = false;
        for (_, reply) in self.waiting.drain(..) {
            let _ = reply.send(Ok(()));
        }
    }

    /// Stops the link: its supervisor sends a Close message and ends. Returns the task to await.
    pub(super) fn retire(mut self) -> JoinHandle<()> {
        self.release_waiting();
        self.cancel.cancel();
        self.task
    }
}

/// Waits for the next event of `link`; never resolves without a link. `None` when its supervisor ended.
pub(super) async fn next_event(link: &mut Option<Link>) -> Option<HubEvent> {
    match link {
        Some(link) => link.events.recv().await,
        None => std::future::pending().await,
    }
}
