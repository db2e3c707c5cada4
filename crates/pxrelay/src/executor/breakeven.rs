//! Break-even (issue 12): `action: "breakeven"` (alias `move_to_breakeven`) moves the stop-loss leg of the
//! contract's position to the average entry price ± `offset_ticks` with `Order/modify`; the
//! `breakeven_after_ticks` watcher ([`crate::executor::breakeven_watch`]) sends the same job through the queue once the open profit
//! reaches its threshold.
//!
//! The stop legs are the working **Stop** orders on the contract on the closing side (a long's sells, a short's
//! buys), read from the live account book, else `Order/searchOpen`; the position (size, side, average price) the
//! same way. Trailing-stop legs are left alone: the gateway reads their level back as a distance, so pxrelay cannot
//! tell whether a new level would tighten them.
//!
//! The new stop is `average + offset × tick` for a long, `average − offset × tick` for a short, rounded to the tick
//! grid **away from a loss** (a long's up, a short's down: an average off the grid, after fills at several prices,
//! never leaves the stop a fraction of a tick in the red). A stop is only ever tightened: a leg already at or beyond
//! the new level is left where it is (`noop` when none moves). A new level at or through the market (a fresh quote's
//! bid for a long, ask for a short) would trigger at once: refused, nothing sent.
//!
//! `Order/modify` moves money and is never retried; an ambiguous answer is settled by reading the order back
//! (`Order/searchOpen`) before anything is said.

use projectx::{AccountId, Error, ModifyOrder, Order, OrderId, OrderSide, OrderType, PositionType};
use rust_decimal::Decimal;
use serde_json::json;

use super::{Executor, Job, dry_run, reconcile};
use crate::outcome::{AlertStatus, Outcome};

/// One stop leg to move.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Move {
    /// The stop order.
    pub order_id: OrderId,
    /// Its stop price now.
    pub from: Decimal,
    /// Its new stop price.
    pub to: Decimal,
}

/// What a break-even asks for, decided from the position and the working orders ([`decide`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Move these legs (each one tightens).
    Move {
        /// The break-even level.
        level: Decimal,
        /// The legs that move.
        moves: Vec<Move>,
    },
    /// Nothing to do (flat, no stop leg, or every leg already at or beyond break-even); the message says which.
    Noop(String),
    /// Refused: the level is at or through the market.
    Refused(String),
}

/// The open position as break-even needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    /// Signed size: long > 0.
    pub signed: i64,
    /// Average entry price.
    pub average: Decimal,
}

/// The break-even level for `held`: average ± `offset` ticks, rounded to the grid away from a loss.
pub fn level(held: Held, offset: u32, tick_size: Decimal) -> Decimal {
    let long = held.signed > 0;
    let shift = Decimal::from(offset) * tick_size;
    let raw = if long { held.average + shift } else { held.average - shift };
    let ticks = raw / tick_size;
    let ticks = if long { ticks.ceil() } else { ticks.floor() };
    (ticks * tick_size).normalize()
}

/// The rule: which of `working` (the account's working orders) are the position's stop legs on `contract`, and where
/// they go. `market` is a fresh price on the side a stop would trigger on (bid for a long, ask for a short), if any.
pub fn decide(
    held: Option<Held>,
    contract: &projectx::ContractId,
    working: &[Order],
    offset: u32,
    tick_size: Decimal,
    market: Option<Decimal>,
) -> Decision {
    let Some(held) = held.filter(|h| h.signed != 0) else {
        return Decision::Noop(format!("no open position in {contract}; nothing sent"));
    };
    let long = held.signed > 0;
    let closing = if long { OrderSide::Ask } else { OrderSide::Bid };
    let legs: Vec<&Order> = working
        .iter()
        .filter(|o| &o.contract_id == contract && o.status.is_working() && o.side == closing)
        .filter(|o| o.order_type == OrderType::Stop && o.stop_price.is_some())
        .collect();
    let level = level(held, offset, tick_size);
    let side = if long { "long" } else { "short" };
    if legs.is_empty() {
        return Decision::Noop(format!("the {side} position in {contract} has no working stop-loss leg; nothing sent"));
    }
    if let Some(market) = market
        && ((long && level >= market) || (!long && level <= market))
    {
        let (what, rule) = if long { ("bid", "below") } else { ("ask", "above") };
        return Decision::Refused(format!(
            "break-even {level} (average {} {} {offset} ticks) is not {rule} the {what} {market}: the stop would \
             trigger at once; nothing sent",
            held.average.normalize(),
            if long { "+" } else { "−" }
        ));
    }
    let tightens = |stop: Decimal| if long { level > stop } else { level < stop };
    let moves: Vec<Move> = legs
        .iter()
        .filter_map(|o| o.stop_price.map(|from| (o.id, from)))
        .filter(|&(_, from)| tightens(from))
        .map(|(order_id, from)| Move { order_id, from: from.normalize(), to: level })
        .collect();
    if moves.is_empty() {
        let stops: Vec<String> = legs.iter().filter_map(|o| o.stop_price).map(|p| p.normalize().to_string()).collect();
        return Decision::Noop(format!(
            "the {side}'s stop ({}) is already at or beyond break-even {level}; a stop is never loosened; nothing sent",
            stops.join(", ")
        ));
    }
    Decision::Move { level, moves }
}

impl Executor {
    /// `action: breakeven`: moves the position's stop legs to break-even ([`decide`]), one `Order/modify` each.
    pub(super) async fn breakeven(&self, job: &Job) -> Outcome {
        let (held, working) = match self.held_and_working(job).await {
            Ok(found) => found,
            Err(e) => {
                return Outcome::new(
                    AlertStatus::Failed,
                    format!("could not read the position and its orders: {e}"),
                    "position lookup",
                );
            }
        };
        let long = held.is_some_and(|h| h.signed > 0);
        let market = self.trigger_price(job, long).await;
        let offset = job.intent.offset_ticks.unwrap_or(0);
        let (level, moves) = match decide(held, &job.contract.id, &working, offset, job.contract.tick_size, market) {
            Decision::Move { level, moves } => (level, moves),
            Decision::Noop(message) => return Outcome::new(AlertStatus::Noop, message, "breakeven: no change"),
            Decision::Refused(message) => return Outcome::new(AlertStatus::Rejected, message, "breakeven: guard"),
        };
        let requests: Vec<ModifyOrder> = moves
            .iter()
            .map(|m| ModifyOrder { stop_price: Some(m.to), ..ModifyOrder::new(job.account_id, m.order_id) })
            .collect();
        if self.guards.dry_run {
            return dry_run(requests.iter().map(|r| json!({"endpoint": "/api/Order/modify", "body": r})).collect());
        }
        if let Some(refused) = self.before_sending(job, crate::journal::Sending::Untagged).await {
            return refused;
        }
        let mut moved = Vec::new();
        let mut failed = Vec::new();
        let mut unknown = Vec::new();
        for (m, request) in moves.iter().zip(&requests) {
            match self.modify_stop(job.account_id, request).await {
                Ok(()) => moved.push(m),
                Err(Settled::Failed(e)) => failed.push(format!("{}: {e}", m.order_id)),
                Err(Settled::Unknown(e)) => unknown.push(format!("{}: {e}", m.order_id)),
            }
        }
        let what = moved.iter().map(|m| format!("{} {} → {}", m.order_id, m.from, m.to)).collect::<Vec<_>>().join(", ");
        let mut message = format!(
            "moved the stop to break-even {level} (average {} {} {offset} ticks): {what}",
            held.map(|h| h.average.normalize()).unwrap_or_default(),
            if long { "+" } else { "−" }
        );
        for (label, list) in [("failed", &failed), ("unknown, check the platform", &unknown)] {
            if !list.is_empty() {
                message = format!("{message}; {label}: {}", list.join("; "));
            }
        }
        let status = match (moved.is_empty(), unknown.is_empty(), failed.is_empty()) {
            (_, false, _) => AlertStatus::Unknown,
            (true, true, _) => AlertStatus::Failed,
            (false, true, true) => AlertStatus::Placed,
            (false, true, false) => AlertStatus::Failed,
        };
        let orders = moved.iter().map(|m| json!(m.order_id)).collect();
        Outcome::new(status, message, "breakeven: Order/modify").with_orders(orders)
    }

    /// The position (signed size and average price) in the job's contract and the account's working orders: from
    /// the live book, else `Position/searchOpen` and `Order/searchOpen`.
    async fn held_and_working(&self, job: &Job) -> Result<(Option<Held>, Vec<Order>), Error> {
        let (positions, working) = match self.books.live_state(job.account_id) {
            Some(state) => state,
            None => {
                self.metrics.position_rest_fallbacks.inc();
                let positions = self.gateway.open_positions(job.account_id).await?;
                (positions, self.gateway.open_orders(job.account_id).await?)
            }
        };
        let held = positions.iter().find(|p| p.contract_id == job.contract.id && p.size != 0).map(|p| Held {
            signed: match p.position_type {
                PositionType::Short => -i64::from(p.size),
                _ => i64::from(p.size),
            },
            average: p.average_price,
        });
        Ok((held, working))
    }

    /// A fresh streamed price on the side a stop of the position triggers on (bid for a long, ask for a short,
    /// else the last trade); `None` without a fresh quote (the level is then sent unchecked against the market).
    async fn trigger_price(&self, job: &Job, long: bool) -> Option<Decimal> {
        let quote = self.quotes.quote(job.contract.id.as_str()).await.ok().filter(|q| !q.stale)?;
        let side = if long { quote.bid } else { quote.ask };
        side.or(quote.last)
    }

    /// One `Order/modify` of a stop price, never retried: an ambiguous answer is settled by reading the order back.
    async fn modify_stop(&self, account: AccountId, request: &ModifyOrder) -> Result<(), Settled> {
        match self.gateway.modify_order(request).await {
            Ok(()) => Ok(()),
            Err(e @ Error::Ambiguous { .. }) => {
                tracing::warn!(order.id = %request.order_id, error = %e, "stop modify outcome unknown; reading the order back");
                tokio::time::sleep(reconcile::RETRY_DELAY).await;
                match self.gateway.open_orders(account).await {
                    Ok(open) => match open.iter().find(|o| o.id == request.order_id) {
                        Some(o) if o.stop_price == request.stop_price => Ok(()),
                        Some(o) => Err(Settled::Failed(format!(
                            "modify not applied (the stop is at {})",
                            o.stop_price.map(|p| p.normalize().to_string()).unwrap_or_default()
                        ))),
                        None => Err(Settled::Unknown("the order is no longer working (filled or cancelled?)".into())),
                    },
                    Err(read) => Err(Settled::Unknown(format!("{e}; reading it back failed: {read}"))),
                }
            }
            Err(e) => Err(Settled::Failed(e.to_string())),
        }
    }
}

/// How a modify that did not plainly succeed ended.
enum Settled {
    /// Refused, or read back unchanged.
    Failed(String),
    /// Could not be established.
    Unknown(String),
}

#[cfg(test)]
mod tests;
