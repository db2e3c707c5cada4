//! Hub misbehaviour on demand, for reconnect and keep-alive tests: freeze market data, end every
//! connection abruptly or with a Close message, refuse upgrades with 503 for a while, stop server
//! pings, change how records are cut into frames, tell user-hub connections `GatewayLogout`. Ending connections removes them (and their
//! subscriptions) from the registry at once, so `hub_connections()` is empty when the call returns;
//! the sockets themselves close a moment later.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::{Control, HubFraming, HubKind, Hubs, Sent, protocol};

impl Hubs {
    /// Frozen: connections stay up and pinged, market data is not sent (prices set meanwhile are
    /// kept). Unfreezing sends every quote and depth subscriber a fresh snapshot.
    pub(crate) fn freeze(&self, frozen: bool) {
        let mut registry = self.registry();
        if registry.frozen == frozen {
            return;
        }
        registry.frozen = frozen;
        if frozen {
            return;
        }
        for (topic, subscribers) in &mut registry.topics {
            if topic.starts_with("quotes:") || topic.starts_with("depth:") {
                subscribers.values_mut().for_each(|needs_snapshot| *needs_snapshot = true);
            }
        }
        let contracts: Vec<String> = registry.tapes.keys().cloned().collect();
        for contract_id in contracts {
            registry.flush_snapshots(&contract_id);
        }
        drop(registry);
        self.wake.notify_one();
    }

    /// Ends every connection with `control` and forgets it.
    pub(crate) fn end_all(&self, control: &Control) {
        let mut registry = self.registry();
        let ids: Vec<u64> = registry.conns.map.keys().copied().collect();
        for id in ids {
            if registry.unregister(id, control) {
                registry.conns.counters.closed_by_chaos += 1;
            }
        }
    }

    /// Every socket dropped without a Close message or close frame.
    pub(crate) fn drop_all(&self) {
        self.end_all(&Control::Abort);
    }

    /// Every connection sent a Close message (`error`, `allowReconnect`), then a close frame.
    pub(crate) fn close_all(&self, error: Option<&str>, allow_reconnect: bool) {
        self.end_all(&Control::Close(Some(protocol::close(error, allow_reconnect))));
    }

    /// Queues `GatewayLogout` with no arguments on every user-hub connection and leaves the
    /// connections open (API notes §9.23: the message is undocumented; its arguments and whether
    /// the gateway closes the connection after it are unknown [I]). Returns how many got it.
    pub(crate) fn log_out_user_connections(&self) -> usize {
        let mut registry = self.registry();
        let record = protocol::event(super::LOGOUT_TARGET, &[(); 0]);
        let ids: Vec<u64> =
            registry.conns.map.iter().filter(|(_, c)| c.kind == HubKind::User).map(|(&id, _)| id).collect();
        let sent = ids.into_iter().filter(|&id| registry.conns.send(id, &record, Sent::Other)).count();
        registry.conns.counters.logouts_sent += sent as u64;
        sent
    }

    /// Upgrades and negotiates get 503 for `d` from now.
    pub(crate) fn refuse_for(&self, d: Duration) {
        let now = Instant::now();
        let century = Duration::from_secs(100 * 365 * 24 * 60 * 60);
        self.registry().refuse_until = Some(now.checked_add(d).unwrap_or(now + century));
    }

    pub(crate) fn set_pings(&self, enabled: bool) {
        self.pings.store(enabled, Ordering::Relaxed);
    }

    pub(crate) fn set_framing(&self, framing: HubFraming) {
        self.framing.store(framing.to_u8(), Ordering::Relaxed);
    }
}
