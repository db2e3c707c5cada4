//! Watch/unwatch commands and invocation results: the subscriptions of each connection, their confirmations (which
//! make a connection synced and send `Connected { epoch }`), and the hub's refusals.

use signalr::{HubClient, InvokeError};
use tokio::task::JoinSet;

use super::{Call, Done, Task, Which};
use crate::AccountId;
use crate::user::link::{Link, Reply};
use crate::user::{Command, UserEvent, UserUpdate, WatchError};

impl Task {
    pub(super) fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Watch(account, reply) => self.watch(account, reply),
            Command::Unwatch(account) => {
                if !self.shared.accounts.lock().remove(&account) {
                    return;
                }
                if self.shared.accounts.lock().is_empty() {
                    return; // the connection closes instead
                }
                for link in [&self.current, &self.candidate].into_iter().flatten() {
                    if link.connected.is_some() {
                        let call = Call::Unwatch(account);
                        spawn_call(&mut self.calls, link.id, link.conn, &link.client, call, None);
                    }
                }
            }
            Command::Resume => self.resume("resumed by the operator"),
        }
    }

    fn watch(&mut self, account: AccountId, reply: Reply) {
        if !self.shared.accounts.lock().insert(account) {
            let _ = reply.send(Ok(()));
            return;
        }
        if self.paused.is_some() {
            let _ = reply.send(Ok(()));
            return;
        }
        // A connected candidate has replayed already: it needs this one too (answered by the current link).
        if let Some(candidate) = self.candidate.as_mut().filter(|c| c.connected.is_some()) {
            candidate.pending += 1;
            let (id, conn, client) = (candidate.id, candidate.conn, candidate.client.clone());
            spawn_call(&mut self.calls, id, conn, &client, Call::Account(account), None);
        }
        if self.current.is_none() {
            tracing::info!(account.id = %account, "first watched account; connecting the user hub");
            self.current = Some(self.start_link());
            self.publish();
        }
        let Some(link) = self.current.as_mut() else { return };
        if link.first_attempt {
            link.waiting.push((account, reply));
        } else if link.connected.is_some() {
            link.pending += 1;
            let (id, conn, client) = (link.id, link.conn, link.client.clone());
            spawn_call(&mut self.calls, id, conn, &client, Call::Account(account), Some(reply));
        } else {
            let _ = reply.send(Ok(()));
        }
        self.publish();
    }

    pub(super) fn on_done(&mut self, done: Done) {
        let Done { link, conn, call, result, reply } = done;
        match call {
            Call::Unwatch(account) => {
                if let Err(e) = result {
                    tracing::debug!(account.id = %account, error = %e, "user hub unsubscription not confirmed");
                }
                return;
            }
            Call::Barrier => return self.on_barrier(link, conn, result),
            Call::Accounts | Call::Account(_) => {}
        }
        if let Err(InvokeError::Hub(e)) = &result {
            match call {
                Call::Account(account) => {
                    // The hub refused the account itself: drop it so it is not replayed forever.
                    tracing::warn!(account.id = %account, error = %e, "hub refused the account subscriptions");
                    self.shared.accounts.lock().remove(&account);
                }
                _ => tracing::warn!(error = %e, "hub refused SubscribeAccounts; account events will not arrive"),
            }
        }
        if let Some(reply) = reply {
            let answer = match &result {
                Err(InvokeError::Hub(e)) => Err(WatchError::Hub(InvokeError::Hub(e.clone()))),
                // Not confirmed (timeout, connection lost): it stays watched and is subscribed on the reconnect.
                _ => Ok(()),
            };
            let _ = reply.send(answer);
        }
        let matches = |l: &Option<Link>| l.as_ref().is_some_and(|l| l.id == link && l.conn == conn);
        let which = if matches(&self.current) {
            Which::Current
        } else if matches(&self.candidate) {
            Which::Candidate
        } else {
            return; // an earlier connection's answer
        };
        let confirmed = matches!(result, Ok(()) | Err(InvokeError::Hub(_)));
        match (which, confirmed) {
            (Which::Candidate, true) => {
                if let Some(c) = self.candidate.as_mut() {
                    c.pending = c.pending.saturating_sub(1);
                }
                self.advance_rotation();
            }
            (Which::Candidate, false) => {
                let error = result.err().map(|e| e.to_string()).unwrap_or_default();
                self.candidate_failed(&format!("a subscription was not confirmed: {error}"));
            }
            (Which::Current, true) => {
                if let Some(c) = self.current.as_mut() {
                    c.pending = c.pending.saturating_sub(1);
                }
                self.announce_if_synced();
            }
            (Which::Current, false) => {
                // A connection missing a subscription would miss events silently: start over.
                let error = result.err().map(|e| e.to_string()).unwrap_or_default();
                tracing::warn!(error, "user hub subscription not confirmed; reconnecting");
                if let Some(c) = self.current.as_ref() {
                    c.client.reconnect("a subscription was not confirmed");
                }
            }
        }
    }

    /// Sends `Connected { epoch }` once the current connection has every subscription confirmed.
    pub(super) fn announce_if_synced(&mut self) {
        if let Some(link) = self.current.as_mut().filter(|l| l.synced() && !l.announced) {
            link.announced = true;
            let epoch = link.epoch;
            tracing::info!(epoch, "user hub synced: every subscription confirmed");
            self.push(UserUpdate { epoch, synced: true, event: UserEvent::Connected { epoch } });
            self.maybe_rotate();
        }
        self.publish();
    }
}

/// The hub methods of one call.
fn methods(call: Call) -> &'static [&'static str] {
    match call {
        Call::Accounts | Call::Barrier => &["SubscribeAccounts"],
        Call::Account(_) => &["SubscribeOrders", "SubscribePositions", "SubscribeTrades"],
        Call::Unwatch(_) => &["UnsubscribeOrders", "UnsubscribePositions", "UnsubscribeTrades"],
    }
}

/// Runs one call's invocations (in order) beside the event loop; the first error is its result.
pub(super) fn spawn_call(
    calls: &mut JoinSet<Done>,
    link: u64,
    conn: u64,
    client: &HubClient,
    call: Call,
    reply: Option<Reply>,
) {
    let client = client.clone();
    calls.spawn(async move {
        let args = match call {
            Call::Account(a) | Call::Unwatch(a) => vec![serde_json::Value::from(a.get())],
            Call::Accounts | Call::Barrier => vec![],
        };
        let mut result = Ok(());
        for method in methods(call) {
            let answer = client.invoke(method, args.clone()).await.map(drop);
            if result.is_ok() {
                result = answer;
            }
            // A subscription stops at the first failure (the call failed either way); an unwatch tries them all.
            if result.is_err() && !matches!(call, Call::Unwatch(_)) {
                break;
            }
        }
        Done { link, conn, call, result, reply }
    });
}
