//! `Link`: one SignalR hub client (a supervisor keeping at most one connection) and what the user task knows of it.
//! The task holds a current link and, during a token rotation, a candidate link; each has its own token provider
//! ([`HubTokens`]), so the task knows which token revision each one connected with.

use std::collections::VecDeque;
use std::sync::Arc;

use signalr::{HubClient, HubConfig, HubEvent};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::WatchError;
use crate::AccountId;
use crate::auth::TokenManager;
use crate::hub_tokens::HubTokens;

/// The answer channel of a `UserHub::watch_account` call.
pub(super) type Reply = oneshot::Sender<Result<(), WatchError>>;

/// Most invocations remembered from the current link during a rotation (for the duplicate check at the switch).
const RECENT_LIMIT: usize = 4096;

/// One hub client owned by the user task.
pub(super) struct Link {
    /// Increases with every link; tags invocation results so late answers from a retired link are recognised.
    pub(super) id: u64,
    /// The handle for invocations and status.
    pub(super) client: HubClient,
    /// The supervisor's events, in order; read only by the user task.
    pub(super) events: mpsc::Receiver<HubEvent>,
    /// Stops this link's supervisor (a child of the user task's token).
    cancel: CancellationToken,
    /// The supervisor task; awaited by whoever retires the link.
    task: JoinHandle<()>,
    /// This link's token source: remembers the revision of its latest connection attempt.
    tokens: Arc<HubTokens>,
    /// Increases with every connection of this link; tags invocation results so an answer from an earlier
    /// connection never counts for the current one.
    pub(super) conn: u64,
    /// When its current connection came up (`None` while it is not connected).
    pub(super) connected: Option<Instant>,
    /// The epoch of its current connection (current link only; a promoted candidate inherits the old one's).
    pub(super) epoch: u64,
    /// Subscriptions of the current connection not confirmed yet.
    pub(super) pending: usize,
    /// Current link: `Connected { epoch }` was sent (every subscription confirmed once). Candidate: unused.
    pub(super) announced: bool,
    /// True until its first attempt succeeds or fails: watches wait for that outcome in `waiting`.
    pub(super) first_attempt: bool,
    /// Watches answered once the first attempt ends (the hub's answer, or `Ok` if the attempt failed).
    pub(super) waiting: Vec<(AccountId, Reply)>,
    /// Current link during a rotation: the invocations it delivered (target + raw arguments), newest last, so the
    /// candidate's copies of the same events can be dropped at the switch.
    pub(super) recent: Option<VecDeque<String>>,
}

impl Link {
    /// Starts a hub client whose every attempt asks `tokens` for a valid token.
    pub(super) fn start(id: u64, cfg: &HubConfig, tokens: TokenManager, cancel: &CancellationToken) -> Self {
        let provider = HubTokens::new(tokens);
        let cancel = cancel.child_token();
        let (client, events, task) = HubClient::start(cfg.clone(), provider.clone(), cancel.clone());
        Self {
            id,
            client,
            events,
            cancel,
            task,
            tokens: provider,
            conn: 0,
            connected: None,
            epoch: 0,
            pending: 0,
            announced: false,
            first_attempt: true,
            waiting: Vec::new(),
            recent: None,
        }
    }

    /// The token revision of its latest connection attempt (0 before the first).
    pub(super) fn token_revision(&self) -> u64 {
        self.tokens.last_given()
    }

    /// Connected and every subscription confirmed.
    pub(super) fn synced(&self) -> bool {
        self.connected.is_some() && self.pending == 0
    }

    /// Remembers a delivered invocation while a rotation is in flight.
    pub(super) fn remember(&mut self, fingerprint: &str) {
        if let Some(recent) = self.recent.as_mut() {
            if recent.len() >= RECENT_LIMIT {
                recent.pop_front();
            }
            recent.push_back(fingerprint.to_owned());
        }
    }

    /// Answers the watches waiting for the first attempt with `Ok` (they stay desired and are subscribed on the
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

/// Waits for the next event of `link`; never resolves without a link or while `paused`. `None` when its supervisor
/// ended.
pub(super) async fn next_event(link: &mut Option<Link>, paused: bool) -> Option<HubEvent> {
    match link {
        Some(link) if !paused => link.events.recv().await,
        _ => std::future::pending().await,
    }
}

/// The identity of one invocation for the duplicate check: the target and the exact arguments text. Two connections
/// of one server serialise the same event identically.
pub(super) fn fingerprint(target: &str, arguments: &str) -> String {
    let mut s = String::with_capacity(target.len() + 1 + arguments.len());
    s.push_str(target);
    s.push('\u{0}');
    s.push_str(arguments);
    s
}
