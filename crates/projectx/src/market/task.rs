//! The market task's event loop: the current link (connected only while something is desired), the candidate link
//! of a token rotation, subscribe/unsubscribe commands, invocation results, quotes and the stale watchdog. The
//! rotation protocol is described in the module docs of `market`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use signalr::{HubClient, HubEvent, InvokeError};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::link::{Link, Reply, next_event};
use super::{Command, MarketConfig, QuoteBook, Shared, SubscribeError};
use crate::ContractId;
use crate::auth::TokenManager;

/// Which hub method an invocation called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Subscribe,
    Unsubscribe,
}

/// A finished invocation: which link it ran on, for which contract, and whom to answer.
struct Done {
    link: u64,
    kind: Kind,
    contract: ContractId,
    result: Result<(), InvokeError>,
    reply: Option<Reply>,
}

pub(super) struct Task {
    cfg: MarketConfig,
    cmds: mpsc::Receiver<Command>,
    book: Arc<QuoteBook>,
    shared: Arc<Shared>,
    tokens: TokenManager,
    cancel: CancellationToken,
    /// The connection in use; `None` while nothing is desired.
    current: Option<Link>,
    /// A rotation's new connection, until it has replayed the desired set (then it becomes `current`).
    candidate: Option<Link>,
    /// The id of the next link.
    next_link: u64,
    /// Candidates that failed in a row; drives the delay before the next try.
    rotation_failures: u32,
    /// When a rotation may be tried again after a failed candidate.
    rotation_retry: Option<Instant>,
    /// Supervisors of retired links, closing; awaited when the task ends.
    retired: Vec<JoinHandle<()>>,
    /// Invocations in flight: run beside the event loop so a slow completion never blocks quotes.
    calls: JoinSet<Done>,
}

impl Task {
    pub(super) fn new(
        cfg: MarketConfig,
        cmds: mpsc::Receiver<Command>,
        book: Arc<QuoteBook>,
        shared: Arc<Shared>,
        tokens: TokenManager,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            cfg,
            cmds,
            book,
            shared,
            tokens,
            cancel,
            current: None,
            candidate: None,
            next_link: 0,
            rotation_failures: 0,
            rotation_retry: None,
            retired: Vec::new(),
            calls: JoinSet::new(),
        }
    }

    pub(super) async fn run(mut self) {
        let mut token_rx = self.tokens.subscribe();
        token_rx.borrow_and_update();
        let mut watchdog = tokio::time::interval((self.cfg.stale_after / 4).max(Duration::from_millis(50)));
        watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => break,
                event = next_event(&mut self.current) => self.on_current_event(event),
                event = next_event(&mut self.candidate) => self.on_candidate_event(event),
                Some(done) = self.calls.join_next() => {
                    if let Ok(done) = done {
                        self.on_done(done);
                    }
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
                _ = watchdog.tick() => self.check_stale(),
            }
            self.close_if_unwanted();
        }
        let links = [self.current.take(), self.candidate.take()];
        self.retired.extend(links.into_iter().flatten().map(Link::retire));
        *self.shared.client.lock() = None;
        for task in self.retired.drain(..) {
            let _ = task.await;
        }
    }

    // === links ===

    fn start_link(&mut self) -> Link {
        self.next_link += 1;
        Link::start(self.next_link, &self.cfg.hub, self.tokens.clone(), &self.cancel, &self.book, &self.shared)
    }

    fn retire(&mut self, link: Link) {
        self.retired.retain(|task| !task.is_finished());
        self.retired.push(link.retire());
    }

    /// Publishes the current link's client for `MarketHub::status`.
    fn publish(&self) {
        *self.shared.client.lock() = self.current.as_ref().map(|l| l.client.clone());
    }

    /// Nothing desired: no connection.
    fn close_if_unwanted(&mut self) {
        if self.current.is_none() && self.candidate.is_none() {
            return;
        }
        if !self.shared.subscriptions.lock().is_empty() {
            return;
        }
        tracing::info!("no quote subscription left; closing the market hub connection");
        for link in [self.current.take(), self.candidate.take()].into_iter().flatten() {
            self.retire(link);
        }
        self.rotation_retry = None;
        self.rotation_failures = 0;
        self.publish();
    }

    fn on_current_event(&mut self, event: Option<HubEvent>) {
        let Some(link) = self.current.as_mut() else { return };
        let Some(event) = event else {
            // Its supervisor ended (only cancellation does that); a new link starts on the next subscribe.
            if let Some(link) = self.current.take() {
                self.retire(link);
            }
            self.publish();
            return;
        };
        match event {
            HubEvent::Connected { .. } => {
                link.connected = Some(Instant::now());
                link.first_attempt = false;
                let mut waiting = std::mem::take(&mut link.waiting);
                let (id, client) = (link.id, link.client.clone());
                for contract in desired(&self.shared) {
                    let reply = waiting.iter().position(|(c, _)| *c == contract).map(|i| waiting.swap_remove(i).1);
                    spawn_call(&mut self.calls, id, &client, Kind::Subscribe, contract, reply);
                }
                // Waiters whose contract was dropped meanwhile.
                for (_, reply) in waiting {
                    let _ = reply.send(Ok(()));
                }
                self.maybe_rotate();
            }
            HubEvent::Disconnected { .. } => {
                link.connected = None;
                self.shared.reconnects.fetch_add(1, Ordering::Relaxed);
            }
            HubEvent::Reconnecting { .. } => link.release_waiting(),
            // Quotes are merged by the link's sink as they arrive; other server calls are not used.
            HubEvent::Invocation { .. } => {}
        }
    }

    fn on_candidate_event(&mut self, event: Option<HubEvent>) {
        let Some(link) = self.candidate.as_mut() else { return };
        match event {
            None => self.candidate_failed("its supervisor stopped"),
            Some(HubEvent::Connected { .. }) => {
                link.connected = Some(Instant::now());
                link.first_attempt = false;
                let (id, client) = (link.id, link.client.clone());
                let desired = desired(&self.shared);
                link.replaying = desired.len();
                for contract in desired {
                    spawn_call(&mut self.calls, id, &client, Kind::Subscribe, contract, None);
                }
                self.promote_if_ready();
            }
            Some(HubEvent::Disconnected { reason, .. }) => {
                self.shared.reconnects.fetch_add(1, Ordering::Relaxed);
                self.candidate_failed(&format!("{reason:?}"));
            }
            Some(HubEvent::Reconnecting { error, .. }) => self.candidate_failed(&error),
            Some(HubEvent::Invocation { .. }) => {}
        }
    }

    // === rotation ===

    /// Starts a candidate when the current connection is up with an older token than the newest one.
    fn maybe_rotate(&mut self) {
        if self.candidate.is_some() || self.rotation_retry.is_some() {
            return;
        }
        let Some(current) = &self.current else { return };
        let newest = self.tokens.current().map_or(0, |t| t.revision());
        if newest == 0 || current.token_revision() == newest {
            return;
        }
        // Not connected: its next attempt takes the newest token anyway; cut a backoff wait short, since the wait
        // was most likely for a token (a 401 on upgrade) and one is in hand now.
        if current.connected.is_none() {
            current.client.reconnect("a new session token");
            return;
        }
        tracing::info!(
            token.revision = newest,
            "token rotated: opening a new market hub connection before closing the old one"
        );
        self.candidate = Some(self.start_link());
    }

    /// The candidate takes over once every replayed subscription is confirmed.
    fn promote_if_ready(&mut self) {
        let ready = self.candidate.as_ref().is_some_and(|c| c.connected.is_some() && c.replaying == 0);
        if !ready {
            return;
        }
        let Some(candidate) = self.candidate.take() else { return };
        if let Some(old) = self.current.replace(candidate) {
            self.retire(old);
        }
        self.publish();
        self.rotation_failures = 0;
        self.shared.token_reconnects.fetch_add(1, Ordering::Relaxed);
        tracing::info!("the new market hub connection took over; the old one is closed");
        // Another rotation may have happened meanwhile.
        self.maybe_rotate();
    }

    /// Drops the candidate, keeps the current connection, and schedules another try.
    fn candidate_failed(&mut self, error: &str) {
        let Some(candidate) = self.candidate.take() else { return };
        self.retire(candidate);
        self.rotation_failures = self.rotation_failures.saturating_add(1);
        let delay = self.cfg.hub.backoff.delay(self.rotation_failures);
        self.rotation_retry = Some(Instant::now() + delay);
        tracing::warn!(
            attempt = self.rotation_failures,
            delay_ms = delay.as_millis() as u64,
            error,
            "new market hub connection failed; keeping the current one"
        );
    }

    // === commands and invocation results ===

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Subscribe(contract, reply) => self.subscribe(contract, reply),
            Command::Unsubscribe(contract) => {
                if !self.shared.subscriptions.lock().remove(&contract) {
                    return;
                }
                self.book.remove(&contract);
                if self.shared.subscriptions.lock().is_empty() {
                    return; // the connection closes instead
                }
                for link in [&self.current, &self.candidate].into_iter().flatten() {
                    if link.connected.is_some() {
                        spawn_call(&mut self.calls, link.id, &link.client, Kind::Unsubscribe, contract.clone(), None);
                    }
                }
            }
        }
    }

    fn subscribe(&mut self, contract: ContractId, reply: Reply) {
        {
            let mut subs = self.shared.subscriptions.lock();
            if subs.contains(&contract) {
                drop(subs);
                let _ = reply.send(Ok(()));
                return;
            }
            if subs.len() >= self.cfg.max_subscriptions {
                drop(subs);
                let _ = reply.send(Err(SubscribeError::Full(self.cfg.max_subscriptions)));
                return;
            }
            subs.insert(contract.clone());
        }
        // A connected candidate has replayed already: it needs this one too (answered by the current link).
        if let Some(candidate) = self.candidate.as_mut().filter(|c| c.connected.is_some()) {
            candidate.replaying += 1;
            spawn_call(&mut self.calls, candidate.id, &candidate.client, Kind::Subscribe, contract.clone(), None);
        }
        if self.current.is_none() {
            tracing::info!(contract.id = %contract, "first quote subscription; connecting the market hub");
            let link = self.start_link();
            self.current = Some(link);
            self.publish();
        }
        let Some(link) = self.current.as_mut() else { return };
        if link.first_attempt {
            link.waiting.push((contract, reply));
        } else if link.connected.is_some() {
            spawn_call(&mut self.calls, link.id, &link.client, Kind::Subscribe, contract, Some(reply));
        } else {
            let _ = reply.send(Ok(()));
        }
    }

    fn on_done(&mut self, done: Done) {
        let Done { link, kind, contract, result, reply } = done;
        if kind == Kind::Unsubscribe {
            if let Err(e) = result {
                tracing::debug!(contract.id = %contract, error = %e, "quote unsubscription not confirmed");
            }
            return;
        }
        if self.candidate.as_ref().is_some_and(|c| c.id == link) {
            return self.on_replayed(contract, result);
        }
        let from_current = self.current.as_ref().is_some_and(|c| c.id == link);
        match &result {
            Ok(()) => tracing::debug!(contract.id = %contract, "subscribed to quotes"),
            Err(InvokeError::Hub(e)) => {
                // The hub refused the contract itself: drop it from the desired set so it is not replayed forever.
                tracing::warn!(contract.id = %contract, error = %e, "hub refused the quote subscription");
                self.shared.subscriptions.lock().remove(&contract);
            }
            Err(e) if from_current => {
                tracing::warn!(contract.id = %contract, error = %e, "quote subscription not confirmed; retried on reconnect")
            }
            // A link replaced by a rotation: the new connection confirmed the desired set before taking over.
            Err(_) => {}
        }
        let Some(reply) = reply else { return };
        let answer = match result {
            Err(InvokeError::Hub(e)) => Err(SubscribeError::Hub(InvokeError::Hub(e))),
            Err(_) if !from_current && self.shared.subscriptions.lock().contains(&contract) => Ok(()),
            other => other.map_err(SubscribeError::Hub),
        };
        let _ = reply.send(answer);
    }

    /// A candidate's replayed subscription finished.
    fn on_replayed(&mut self, contract: ContractId, result: Result<(), InvokeError>) {
        match result {
            Ok(()) => {}
            Err(InvokeError::Hub(e)) => {
                tracing::warn!(contract.id = %contract, error = %e, "hub refused the quote subscription");
                self.shared.subscriptions.lock().remove(&contract);
            }
            Err(e) => return self.candidate_failed(&format!("subscription of {contract} not confirmed: {e}")),
        }
        if let Some(candidate) = self.candidate.as_mut() {
            candidate.replaying = candidate.replaying.saturating_sub(1);
        }
        self.promote_if_ready();
    }

    // === watchdog ===

    fn check_stale(&mut self) {
        let Some(link) = self.current.as_mut() else { return };
        let Some(connected) = link.connected else { return };
        if self.shared.subscriptions.lock().is_empty() {
            return;
        }
        // Quotes of an earlier connection of the link do not count.
        let quiet_since = link.last_quote().map_or(connected, |q| q.max(connected));
        if quiet_since.elapsed() >= self.cfg.stale_after {
            tracing::warn!(
                quiet_ms = quiet_since.elapsed().as_millis() as u64,
                "no quote within the stale limit while subscribed; reconnecting"
            );
            self.shared.stale_reconnects.fetch_add(1, Ordering::Relaxed);
            link.connected = None;
            link.client.reconnect("stale feed");
        }
    }
}

/// The desired set, sorted.
fn desired(shared: &Shared) -> Vec<ContractId> {
    shared.subscriptions.lock().iter().cloned().collect()
}

/// Runs one invocation beside the event loop; its result comes back through `calls`.
fn spawn_call(
    calls: &mut JoinSet<Done>,
    link: u64,
    client: &HubClient,
    kind: Kind,
    contract: ContractId,
    reply: Option<Reply>,
) {
    let client = client.clone();
    let method = match kind {
        Kind::Subscribe => "SubscribeContractQuotes",
        Kind::Unsubscribe => "UnsubscribeContractQuotes",
    };
    calls.spawn(async move {
        let result = client.invoke(method, vec![contract.as_str().into()]).await.map(drop);
        Done { link, kind, contract, result, reply }
    });
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
