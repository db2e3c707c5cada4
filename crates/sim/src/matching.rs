//! The matcher: working orders fill when the price reaches them, entries grow their Auto-OCO
//! bracket legs when they fill, and a leg that fills cancels its sibling.
//!
//! - A price move (the quote ticker, `SimHandle::set_price`, `SimHandle::move_price_to`) runs
//!   [`Exchange::cross`] for that contract: every working order that the new last price reaches
//!   fills, oldest first, until none is left (a leg created by a fill may itself be reached).
//! - An order placed or modified so that it is already reached fills at once at the last price.
//! - The trigger rules and fill prices are in [`crate::orders::trigger`]; trailing stops never
//!   trigger.
//! - A filled entry with brackets gets a stop-loss and/or take-profit leg on the opposite side,
//!   same size, at its signed tick offset from the **fill** price, linked to each other by
//!   `linkedOrderId` and to the entry by `parentOrderId`.
//! - A filled leg cancels its OCO sibling (Auto-OCO). Legs are *not* resized or cancelled when the
//!   position changes by other means (live behaviour, API reference §9 item 21), unless
//!   `SimConfig::cancel_brackets_when_flat` asks for the old cancel-when-flat cleanup (`fills.rs`).
//!
//! User events of one fill, in order: the order's Filled snapshot, the position, the trade, the
//! account, then new legs (Open) or the cancelled sibling.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::config::SimContract;
use crate::exchange::{Book, Exchange, UserEvent};
use crate::fills::Fill;
use crate::orders::{Bracket, CANCELLED, OPEN, STOP, fill_order, new_order, trigger};

impl Exchange {
    /// Fills every working order on `contract_id` that its last price reaches (see the module
    /// doc). Called after each price change, under the exchange lock.
    pub(crate) fn cross(&mut self, contract_id: &str, now: DateTime<Utc>) {
        let book = &mut self.book;
        let orders = &book.orders;
        book.working.retain(|&i| orders[i].status == OPEN);
        if !book.working.iter().any(|&i| book.orders[i].contract_id == contract_id) {
            return;
        }
        let Some(contract) = self.market.get(contract_id).cloned() else {
            return;
        };
        loop {
            let book = &mut self.book;
            let reached = book.working.iter().find_map(|&i| {
                let order = &book.orders[i];
                if order.contract_id != contract.id {
                    return None;
                }
                trigger(order, contract.price, false).map(|price| (i, price))
            });
            let Some((index, price)) = reached else {
                return;
            };
            book.execute(&contract, index, price, now);
        }
    }
}

impl Book {
    /// Fills the working order at `index` at once if the last price already reaches it (at the
    /// last price: see `orders::trigger`).
    pub(crate) fn fill_if_marketable(&mut self, contract: &SimContract, index: usize, now: DateTime<Utc>) {
        if let Some(price) = trigger(&self.orders[index], contract.price, true) {
            self.execute(contract, index, price, now);
        }
    }

    /// Fills the order at `index` completely at `price`: its Filled snapshot, the position, trade
    /// and balance (`fills.rs`), then its bracket legs (an entry) or its sibling's cancellation
    /// (a leg).
    pub(crate) fn execute(&mut self, contract: &SimContract, index: usize, price: Decimal, now: DateTime<Utc>) {
        let order = &mut self.orders[index];
        fill_order(order, price, now);
        let fill = Fill {
            account_id: order.account_id,
            side: order.side,
            size: order.size,
            price,
            order_id: order.id,
            at: now,
        };
        let parent = order.parent_order_id;
        let snapshot = order.clone();
        self.events.push(UserEvent::Order(snapshot));
        self.fill(contract, fill);
        if let Some(brackets) = self.pending_brackets.remove(&fill.order_id) {
            self.attach_legs(contract, fill, brackets);
        }
        if let Some(parent) = parent {
            self.cancel_siblings(parent, fill.order_id, now);
        }
    }

    /// Creates the stop-loss and take-profit legs of a filled entry.
    fn attach_legs(&mut self, contract: &SimContract, entry: Fill, brackets: [Option<Bracket>; 2]) {
        let ids: Vec<(i64, Bracket)> = brackets.into_iter().flatten().map(|b| (self.order_id(), b)).collect();
        for &(id, bracket) in &ids {
            let level = (entry.price + contract.tick_size * Decimal::from(bracket.ticks)).normalize();
            let mut leg =
                new_order(id, entry.account_id, contract, bracket.order_type, 1 - entry.side, entry.size, entry.at);
            leg.parent_order_id = Some(entry.order_id);
            leg.linked_order_id = ids.iter().map(|&(other, _)| other).find(|&other| other != id);
            if bracket.order_type == STOP {
                leg.stop_price = Some(level);
            } else {
                leg.limit_price = Some(level);
            }
            self.working.push(self.orders.len());
            self.orders.push(leg);
            self.emit_order(id);
        }
    }

    /// Cancels the Open legs of `parent` other than `filled` (Auto-OCO).
    fn cancel_siblings(&mut self, parent: i64, filled: i64, at: DateTime<Utc>) {
        let siblings =
            self.orders.iter_mut().filter(|o| o.parent_order_id == Some(parent) && o.id != filled && o.status == OPEN);
        for sibling in siblings {
            sibling.status = CANCELLED;
            sibling.updated = Some(at);
            self.events.push(UserEvent::Order(sibling.clone()));
        }
    }
}
