//! The user hub: `SubscribeAccounts()`, `SubscribeOrders(accountId)`,
//! `SubscribePositions(accountId)`, `SubscribeTrades(accountId)` and their `Unsubscribe`
//! counterparts, and the fan-out of the exchange's change log (`Book::events`) as
//! `GatewayUserAccount`, `GatewayUserOrder`, `GatewayUserPosition` and `GatewayUserTrade` with
//! the documented bare `data` object. No snapshot is sent on subscribe: like the real gateway,
//! clients reconcile over REST.

use super::protocol::{self, Invocation};
use super::{Hubs, Sent};
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

impl Hubs {
    /// Sends each event to the connections subscribed to its account (or to `accounts`).
    /// Called by `Shared::trade` with the exchange lock held; never blocks.
    pub(crate) fn publish_user_events(&self, events: &[UserEvent]) {
        let mut registry = self.registry();
        for event in events {
            let topic = match event {
                UserEvent::Account(_) => "accounts".to_owned(),
                UserEvent::Order(order) => format!("orders:{}", order.account_id),
                UserEvent::Position(position) => format!("positions:{}", position.account_id),
                UserEvent::Trade(trade) => format!("trades:{}", trade.account_id),
            };
            if !registry.has_subscribers(&topic) {
                continue;
            }
            let record = match event {
                UserEvent::Account(account) => protocol::event("GatewayUserAccount", &[account.to_wire()]),
                UserEvent::Order(order) => protocol::event("GatewayUserOrder", &[order]),
                UserEvent::Position(position) => protocol::event("GatewayUserPosition", &[position]),
                UserEvent::Trade(trade) => protocol::event("GatewayUserTrade", &[trade]),
            };
            registry.broadcast(&topic, &record, Sent::UserEvent);
        }
    }
}
