//! The user hub: `SubscribeAccounts()`, `SubscribeOrders(accountId)`,
//! `SubscribePositions(accountId)`, `SubscribeTrades(accountId)` and their `Unsubscribe`
//! counterparts, and the fan-out of the exchange's change log (`Book::events`) as
//! `GatewayUserAccount`, `GatewayUserOrder`, `GatewayUserPosition` and `GatewayUserTrade` with
//! the documented bare `data` object (or wrapped as `{"action", "data"}` with
//! `UserEventShape::Wrapped`). No snapshot is sent on subscribe: like the real gateway, clients
//! reconcile over REST.

use serde_json::{Value, json};

use super::protocol::{self, Invocation};
use super::{Receipt, Registry, Sent};
use crate::config::UserEventShape;
use crate::exchange::UserEvent;
use crate::state::Shared;

/// The user feeds and their topic prefixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Feed {
    Accounts,
    Orders,
    Positions,
    Trades,
}

/// Runs one user-hub invocation and queues its Completion when it has an id.
pub(super) fn invoke(shared: &Shared, conn: u64, call: &Invocation) {
    let (feed, subscribe) = match call.target.to_ascii_lowercase().as_str() {
        "subscribeaccounts" => (Feed::Accounts, true),
        "unsubscribeaccounts" => (Feed::Accounts, false),
        "subscribeorders" => (Feed::Orders, true),
        "unsubscribeorders" => (Feed::Orders, false),
        "subscribepositions" => (Feed::Positions, true),
        "unsubscribepositions" => (Feed::Positions, false),
        "subscribetrades" => (Feed::Trades, true),
        "unsubscribetrades" => (Feed::Trades, false),
        _ => return shared.hubs.fail(conn, call, &format!("Unknown hub method '{}'", call.target)),
    };
    let topic = match feed {
        Feed::Accounts => call.expect_args(0).map(|()| "accounts".to_owned()),
        Feed::Orders => call.int_arg().map(|id| format!("orders:{id}")),
        Feed::Positions => call.int_arg().map(|id| format!("positions:{id}")),
        Feed::Trades => call.int_arg().map(|id| format!("trades:{id}")),
    };
    let topic = match topic {
        Ok(topic) => topic,
        Err(error) => return shared.hubs.fail(conn, call, &error),
    };
    let invocation_id = call.id.as_deref();
    if !subscribe {
        let mut registry = shared.hubs.registry();
        registry.unsubscribe(conn, &topic);
        registry.complete(conn, invocation_id, Ok(()));
        return;
    }
    if let Ok(account_id) = call.int_arg() {
        let known = shared.exchange.lock().book.account(account_id).is_ok();
        if !known {
            let error = format!(
                "An unexpected error occurred invoking '{}' on the server. HubException: Account {account_id} not found.",
                call.target
            );
            return shared.hubs.fail(conn, call, &error);
        }
    }
    let mut registry = shared.hubs.registry();
    registry.subscribe(conn, topic);
    registry.complete(conn, invocation_id, Ok(()));
}

impl Registry {
    /// Sends each event to the connections subscribed to its account (or to `accounts`), shaped as
    /// `shape` says; the receipt says which connections got records. Called with the exchange lock
    /// held; never blocks.
    pub(crate) fn publish_user_events(&mut self, events: &[UserEvent], shape: UserEventShape) -> Receipt {
        let mut receipt = Receipt::default();
        for event in events {
            let topic = match event {
                UserEvent::Account(_) => "accounts".to_owned(),
                UserEvent::Order(order) => format!("orders:{}", order.account_id),
                UserEvent::Position { position, .. } => format!("positions:{}", position.account_id),
                UserEvent::Trade(trade) => format!("trades:{}", trade.account_id),
            };
            let Some(subscribers) = self.topics.get(&topic) else {
                continue;
            };
            let (target, data) = match event {
                UserEvent::Account(account) => ("GatewayUserAccount", account.to_wire()),
                UserEvent::Order(order) => ("GatewayUserOrder", json!(order)),
                UserEvent::Position { position, .. } => ("GatewayUserPosition", json!(position)),
                UserEvent::Trade(trade) => ("GatewayUserTrade", json!(trade)),
            };
            let argument: Value = match shape {
                UserEventShape::Bare => data,
                UserEventShape::Wrapped => json!({ "action": event.action(), "data": data }),
            };
            let record = protocol::event(target, &[argument]);
            for &id in subscribers.keys() {
                if self.conns.send(id, &record, Sent::UserEvent)
                    && let Some(conn) = self.conns.map.get(&id)
                {
                    receipt.include(conn);
                }
            }
        }
        receipt
    }
}
