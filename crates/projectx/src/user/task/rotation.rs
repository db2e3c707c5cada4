//! Token rotation without a gap: the candidate link, its replay, the barrier on the current link, and the switch.
//! The protocol (and why the barrier proves the old connection has nothing more to say) is in the `user` module
//! docs.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use signalr::{HubEvent, InvokeError};
use tokio::time::Instant;

use super::{Call, Task, Which, spawn_call};
use crate::AccountId;

impl Task {
    /// Starts a candidate when the current connection is synced with an older token than the newest one.
    pub(super) fn maybe_rotate(&mut self) {
        if self.candidate.is_some() || self.rotation_retry.is_some() || self.paused.is_some() {
            return;
        }
        let newest = self.tokens.current().map_or(0, |t| t.revision());
        let Some(current) = self.current.as_mut() else { return };
        if newest == 0 || current.token_revision() == newest {
            return;
        }
        // Not connected: its next attempt takes the newest token anyway; cut a backoff wait short, since the wait
        // was most likely for a token (a 401 on upgrade, a logout) and one is in hand now (as the market hub does).
        if current.connected.is_none() {
            current.client.reconnect("a new session token");
            return;
        }
        // Not synced yet: rotate once it is.
        if !current.announced {
            return;
        }
        tracing::info!(
            token.revision = newest,
            "token rotated: opening a new user hub connection before closing the old one"
        );
        current.recent = Some(VecDeque::new());
        self.candidate = Some(self.start_link());
    }

    pub(super) fn on_candidate_event(&mut self, event: Option<HubEvent>) {
        let Some(link) = self.candidate.as_mut() else { return };
        match event {
            None => self.candidate_failed("its supervisor stopped"),
            Some(HubEvent::Connected { .. }) => {
                link.conn += 1;
                link.connected = Some(Instant::now());
                link.first_attempt = false;
                let accounts: Vec<AccountId> = self.shared.accounts.lock().iter().copied().collect();
                link.pending = 1 + accounts.len();
                let (id, conn, client) = (link.id, link.conn, link.client.clone());
                spawn_call(&mut self.calls, id, conn, &client, Call::Accounts, None);
                for account in accounts {
                    spawn_call(&mut self.calls, id, conn, &client, Call::Account(account), None);
                }
            }
            Some(HubEvent::Disconnected { reason, .. }) => self.candidate_failed(&format!("{reason:?}")),
            Some(HubEvent::Reconnecting { error, .. }) => self.candidate_failed(&error),
            Some(HubEvent::Invocation { target, arguments }) => {
                self.on_invocation(Which::Candidate, &target, &arguments)
            }
        }
    }

    /// Once the candidate is synced, asks the current link for the barrier (its events stay in the candidate's
    /// queue from now on: `run` stops reading it while the barrier is in flight).
    pub(super) fn advance_rotation(&mut self) {
        if self.barrier.is_some() || !self.candidate.as_ref().is_some_and(|c| c.synced()) {
            return;
        }
        let Some(current) = self.current.as_ref().filter(|c| c.connected.is_some()) else { return };
        tracing::debug!("new user hub connection subscribed; sending the switch barrier to the old one");
        self.barrier = Some((current.id, current.conn));
        let (id, conn, client) = (current.id, current.conn, current.client.clone());
        spawn_call(&mut self.calls, id, conn, &client, Call::Barrier, None);
    }

    /// The barrier's answer: everything the old connection sent before it is in its queue now. Drains that queue,
    /// then switches.
    pub(super) fn on_barrier(&mut self, link: u64, conn: u64, result: Result<(), InvokeError>) {
        if self.barrier != Some((link, conn)) {
            return; // from a rotation that was abandoned
        }
        self.barrier = None;
        if let Err(e) = result {
            return self.candidate_failed(&format!("the old connection did not answer the switch barrier: {e}"));
        }
        let same =
            |t: &Self| t.current.as_ref().is_some_and(|c| c.id == link && c.conn == conn && c.connected.is_some());
        while same(self) && self.candidate.is_some() {
            let Some(event) = self.current.as_mut().and_then(|c| c.events.try_recv().ok()) else { break };
            self.on_current_event(Some(event));
        }
        // A disconnect while draining dropped the candidate; a watch added meanwhile is still pending on the
        // candidate (another barrier follows once it is confirmed).
        if !same(self) || !self.candidate.as_ref().is_some_and(|c| c.synced()) {
            return self.advance_rotation();
        }
        self.promote();
    }

    /// The candidate takes over the current connection's epoch; the old connection is closed.
    fn promote(&mut self) {
        let (Some(mut candidate), Some(mut old)) = (self.candidate.take(), self.current.take()) else { return };
        candidate.epoch = old.epoch;
        candidate.announced = true;
        self.dedupe = old.recent.take().filter(|r| !r.is_empty());
        self.current = Some(candidate);
        self.retire(old);
        self.publish();
        self.rotation_failures = 0;
        self.shared.token_reconnects.fetch_add(1, Ordering::Relaxed);
        tracing::info!("the new user hub connection took over; the old one is closed");
        // Another rotation may have happened meanwhile.
        self.maybe_rotate();
    }

    /// Drops the candidate, keeps the current connection, and schedules another try.
    pub(super) fn candidate_failed(&mut self, error: &str) {
        if !self.drop_candidate() {
            return;
        }
        self.rotation_failures = self.rotation_failures.saturating_add(1);
        let delay = self.cfg.hub.backoff.delay(self.rotation_failures);
        self.rotation_retry = Some(Instant::now() + delay);
        tracing::warn!(
            attempt = self.rotation_failures,
            delay_ms = delay.as_millis() as u64,
            error,
            "new user hub connection failed; keeping the current one"
        );
    }

    /// Drops the candidate (if any) and the rotation's bookkeeping; `true` if there was one.
    pub(super) fn drop_candidate(&mut self) -> bool {
        let Some(candidate) = self.candidate.take() else { return false };
        self.retire(candidate);
        self.barrier = None;
        if let Some(current) = self.current.as_mut() {
            current.recent = None;
        }
        true
    }
}
