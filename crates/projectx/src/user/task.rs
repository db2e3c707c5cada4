//! The user task's event loop: the current link (connected only while an account is watched and re-login is not
//! paused), the candidate link of a token rotation (`rotation`), watch/unwatch commands and invocation results
//! (`calls`), the ordered outbox towards the consumer, and `GatewayLogout`. The protocols are described in the
//! `user` module docs.

mod calls;
mod rotation;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::value::RawValue;
use signalr::{HubEvent, InvokeError};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::event::{LOGOUT_EVENT, UserEvent, UserUpdate, decode_user_event, is_user_event};
use super::link::{Link, Reply, fingerprint, next_event};
use super::logout::{LOGOUT_LIMIT, LOGOUT_WINDOW, LogoutGuard};
use super::{Command, Pause, Shared, UserConfig};
use crate::AccountId;
use crate::auth::TokenManager;
use calls::spawn_call;

/// Link events are read only while fewer updates than this wait in the outbox: a slow consumer pushes back on the
/// hub connection instead of growing memory (commands and completions keep running).
const OUTBOX_LIMIT: usize = 256;

/// What an invocation did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    /// `SubscribeAccounts()`.
    Accounts,
    /// `SubscribeOrders/Positions/Trades(id)`.
    Account(AccountId),
    /// `UnsubscribeOrders/Positions/Trades(id)`.
    Unwatch(AccountId),
    /// `SubscribeAccounts()` again on the current link during a rotation: its answer comes after every event the
    /// hub sent on that connection before it.
    Barrier,
}

/// A finished invocation: which link and connection it ran on, what it was, and whom to answer.
struct Done {
    link: u64,
    conn: u64,
    call: Call,
    result: Result<(), InvokeError>,
    reply: Option<Reply>,
}

/// Which link a message came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Current,
    Candidate,
}

pub(super) struct Task {
    cfg: UserConfig,
    cmds: mpsc::Receiver<Command>,
    /// The consumer's channel; fed from `outbox` by the loop.
    out: mpsc::Sender<UserUpdate>,
    /// Updates in order, waiting for room in `out`.
    outbox: VecDeque<UserUpdate>,
    /// The receiver was dropped: updates are discarded.
    out_closed: bool,
    shared: Arc<Shared>,
    tokens: TokenManager,
    cancel: CancellationToken,
    /// The connection in use; `None` while nothing is watched or re-login is paused.
    current: Option<Link>,
    /// A rotation's new connection, until it takes over.
    candidate: Option<Link>,
    /// The id of the next link.
    next_link: u64,
    /// The last epoch given to a connection.
    epoch: u64,
    /// Candidates that failed in a row; drives the delay before the next try.
    rotation_failures: u32,
    /// When a rotation may be tried again after a failed candidate.
    rotation_retry: Option<Instant>,
    /// The rotation barrier in flight on the current link: (link, connection).
    barrier: Option<(u64, u64)>,
    /// Right after a switch: what the old link delivered last, to drop the new link's copies of the same events.
    dedupe: Option<VecDeque<String>>,
    /// Supervisors of retired links, closing; awaited when the task ends.
    retired: Vec<JoinHandle<()>>,
    /// Invocations in flight: run beside the event loop so a slow completion never blocks events.
    calls: JoinSet<Done>,
    logouts: LogoutGuard,
    /// Re-login paused until then.
    paused: Option<Instant>,
}

impl Task {
    pub(super) fn new(
        cfg: UserConfig,
        cmds: mpsc::Receiver<Command>,
        out: mpsc::Sender<UserUpdate>,
        shared: Arc<Shared>,
        tokens: TokenManager,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            cfg,
            cmds,
            out,
            outbox: VecDeque::new(),
            out_closed: false,
            shared,
            tokens,
            cancel,
            current: None,
            candidate: None,
            next_link: 0,
            epoch: 0,
            rotation_failures: 0,
            rotation_retry: None,
            barrier: None,
            dedupe: None,
            retired: Vec::new(),
            calls: JoinSet::new(),
            logouts: LogoutGuard::default(),
            paused: None,
        }
    }

    pub(super) async fn run(mut self) {
        let mut token_rx = self.tokens.subscribe();
        token_rx.borrow_and_update();
        loop {
            let backed_up = self.outbox.len() >= OUTBOX_LIMIT;
            // An owned permit, so the branch holds no borrow of `self` (a sender clone is a counter increment).
            let out = self.out.clone();
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => break,
                permit = out.reserve_owned(), if !self.outbox.is_empty() => match permit {
                    Ok(permit) => {
                        if let Some(update) = self.outbox.pop_front() {
                            permit.send(update);
                        }
                    }
                    Err(_) => {
                        if !self.out_closed {
                            tracing::warn!("the user event receiver is gone; discarding user hub events");
                        }
                        self.out_closed = true;
                        self.outbox.clear();
                    }
                },
                Some(done) = self.calls.join_next() => {
                    if let Ok(done) = done {
                        self.on_done(done);
                    }
                }
                event = next_event(&mut self.current, backed_up) => self.on_current_event(event),
                event = next_event(&mut self.candidate, backed_up || self.barrier.is_some()) => {
                    self.on_candidate_event(event)
                }
                cmd = self.cmds.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => break,
                },
                changed = token_rx.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    self.maybe_rotate();
                }
                () = sleep_until(self.rotation_retry) => {
                    self.rotation_retry = None;
                    self.maybe_rotate();
                }
                () = sleep_until(self.paused) => self.resume("the logout pause is over"),
            }
            self.close_if_unwanted();
            self.shared.outbox.store(self.outbox.len() as u64, Ordering::Relaxed);
        }
        let links = [self.current.take(), self.candidate.take()];
        self.retired.extend(links.into_iter().flatten().map(Link::retire));
        *self.shared.client.lock() = None;
        self.shared.synced.store(false, Ordering::Relaxed);
        for task in self.retired.drain(..) {
            let _ = task.await;
        }
    }

    // === output ===

    fn push(&mut self, update: UserUpdate) {
        if !self.out_closed {
            self.outbox.push_back(update);
        }
    }

    /// Publishes the current link's client and sync state for `UserHub::status`.
    fn publish(&self) {
        *self.shared.client.lock() = self.current.as_ref().map(|l| l.client.clone());
        let synced = self.current.as_ref().is_some_and(|l| l.synced() && l.announced);
        self.shared.synced.store(synced, Ordering::Relaxed);
    }

    // === links ===

    fn start_link(&mut self) -> Link {
        self.next_link += 1;
        Link::start(self.next_link, &self.cfg.hub, self.tokens.clone(), &self.cancel)
    }

    fn retire(&mut self, link: Link) {
        self.retired.retain(|task| !task.is_finished());
        self.retired.push(link.retire());
    }

    /// Closes every link; the current connection's epoch ends with a `Disconnected` marker.
    fn close_links(&mut self) {
        if let Some(link) = self.current.take() {
            if link.connected.is_some() {
                self.push(UserUpdate {
                    epoch: link.epoch,
                    synced: link.announced,
                    event: UserEvent::Disconnected { epoch: link.epoch },
                });
            }
            self.retire(link);
        }
        if let Some(link) = self.candidate.take() {
            self.retire(link);
        }
        self.barrier = None;
        self.dedupe = None;
        self.rotation_retry = None;
        self.rotation_failures = 0;
        self.publish();
    }

    /// Nothing watched: no connection.
    fn close_if_unwanted(&mut self) {
        if self.current.is_none() && self.candidate.is_none() {
            return;
        }
        if !self.shared.accounts.lock().is_empty() {
            return;
        }
        tracing::info!("no account watched; closing the user hub connection");
        self.close_links();
    }

    fn on_current_event(&mut self, event: Option<HubEvent>) {
        let Some(link) = self.current.as_mut() else { return };
        let Some(event) = event else {
            // Its supervisor ended (only cancellation does that); a new link starts on the next watch.
            self.close_links();
            return;
        };
        match event {
            HubEvent::Connected { .. } => {
                self.epoch += 1;
                link.conn += 1;
                link.connected = Some(Instant::now());
                link.first_attempt = false;
                link.epoch = self.epoch;
                link.announced = false;
                self.shared.epoch.store(self.epoch, Ordering::Relaxed);
                let accounts: Vec<AccountId> = self.shared.accounts.lock().iter().copied().collect();
                link.pending = 1 + accounts.len();
                tracing::info!(epoch = self.epoch, accounts = accounts.len(), "user hub connected; subscribing");
                let mut waiting = std::mem::take(&mut link.waiting);
                let (id, conn, client) = (link.id, link.conn, link.client.clone());
                spawn_call(&mut self.calls, id, conn, &client, Call::Accounts, None);
                for account in accounts {
                    let reply = waiting.iter().position(|(a, _)| *a == account).map(|i| waiting.swap_remove(i).1);
                    spawn_call(&mut self.calls, id, conn, &client, Call::Account(account), reply);
                }
                // Waiters whose account was dropped meanwhile.
                for (_, reply) in waiting {
                    let _ = reply.send(Ok(()));
                }
            }
            HubEvent::Disconnected { .. } => {
                let was_up = link.connected.take().is_some();
                let (epoch, synced) = (link.epoch, link.announced);
                link.pending = 0;
                link.announced = false;
                if was_up {
                    self.shared.reconnects.fetch_add(1, Ordering::Relaxed);
                    self.push(UserUpdate { epoch, synced, event: UserEvent::Disconnected { epoch } });
                }
                // A rotation in flight is moot: the next attempt takes the newest token anyway.
                self.drop_candidate();
            }
            HubEvent::Reconnecting { .. } => link.release_waiting(),
            HubEvent::Invocation { target, arguments } => self.on_invocation(Which::Current, &target, &arguments),
        }
        self.publish();
    }

    /// A server invocation on either link.
    fn on_invocation(&mut self, which: Which, target: &str, arguments: &RawValue) {
        if target == LOGOUT_EVENT {
            return self.on_logout(which, arguments);
        }
        if !is_user_event(target) {
            tracing::debug!(target, "ignoring an unknown user hub message");
            return;
        }
        // The candidate's events are dropped until it takes over: the current connection delivers them all.
        if which == Which::Candidate {
            return;
        }
        let Some(link) = self.current.as_mut() else { return };
        let print = fingerprint(target, arguments.get());
        if let Some(recent) = self.dedupe.as_mut() {
            if let Some(i) = recent.iter().position(|p| *p == print) {
                recent.drain(..=i);
                tracing::debug!(target, "dropped an event the old connection delivered already");
                return;
            }
            // The overlap with the old connection is over.
            self.dedupe = None;
        }
        link.remember(&print);
        let (epoch, synced) = (link.epoch, link.announced);
        match decode_user_event(target, arguments) {
            Ok(events) => {
                self.shared.events.fetch_add(events.len() as u64, Ordering::Relaxed);
                *self.shared.last_event.lock() = Some(Instant::now());
                for event in events {
                    self.push(UserUpdate { epoch, synced, event });
                }
            }
            Err(e) => {
                self.shared.undecodable.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "undecodable user hub event skipped");
            }
        }
    }

    /// `GatewayLogout`: re-login and reconnect, unless logouts keep coming (then pause).
    fn on_logout(&mut self, which: Which, arguments: &RawValue) {
        self.shared.logouts.fetch_add(1, Ordering::Relaxed);
        let link = match which {
            Which::Current => self.current.as_ref(),
            Which::Candidate => self.candidate.as_ref(),
        };
        let revision = link.map_or(0, Link::token_revision);
        let details: String = arguments.get().chars().take(200).collect();
        if self.logouts.record(Instant::now()) {
            let until = Instant::now() + self.cfg.logout_pause;
            let until_utc =
                chrono::Utc::now() + chrono::Duration::from_std(self.cfg.logout_pause).unwrap_or(chrono::Duration::MAX);
            let reason = format!(
                "{LOGOUT_LIMIT} GatewayLogout messages within {} minutes: another session keeps signing in to this \
                 account (TopstepX allows one session at a time); re-login paused",
                LOGOUT_WINDOW.as_secs() / 60
            );
            tracing::warn!(
                token.revision = revision,
                arguments = %details,
                pause_secs = self.cfg.logout_pause.as_secs(),
                "{reason}"
            );
            *self.shared.pause.lock() = Some(Pause { reason, until_utc });
            self.paused = Some(until);
            self.close_links();
            return;
        }
        tracing::warn!(
            token.revision = revision,
            arguments = %details,
            "GatewayLogout: the gateway ended this session; logging in again and reconnecting the user hub"
        );
        self.tokens.invalidate(revision);
        self.drop_candidate();
        if let Some(link) = self.current.as_ref() {
            link.client.reconnect("GatewayLogout");
        }
    }

    /// Ends a re-login pause: connects again when an account is watched.
    fn resume(&mut self, why: &str) {
        if self.paused.take().is_none() {
            return;
        }
        *self.shared.pause.lock() = None;
        self.logouts.clear();
        let watched = !self.shared.accounts.lock().is_empty();
        tracing::info!(why, "user hub re-login resumes");
        if watched && self.current.is_none() {
            self.current = Some(self.start_link());
            self.publish();
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
