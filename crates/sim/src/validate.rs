//! The `Order/place` and `Order/modify` rules, with messages modelled on what the real gateway
//! says. Checks run in a fixed order (account, contract, type, side, size, prices, customTag,
//! brackets) and the first failure wins. Everything except account and contract problems is the
//! catch-all OrderRejected, as on the real gateway.

use rust_decimal::Decimal;

use crate::config::SimContract;
use crate::orders::{
    BUY, Bracket, JOIN_ASK, JOIN_BID, LIMIT, MARKET, Modify, PlaceOrder, Reason, Refusal, SELL, STOP, SimOrder,
    TRAILING_STOP, refuse,
};

/// Farthest a bracket may sit from the entry, in ticks.
const MAX_BRACKET_TICKS: i32 = 1000;

/// Validates a place request; returns the contract to trade.
pub(crate) fn place<'c>(
    req: &PlaceOrder,
    can_trade: bool,
    contract: Option<&'c SimContract>,
    tag_taken: bool,
) -> Result<&'c SimContract, Refusal> {
    if !can_trade {
        return refuse(Reason::AccountRejected, format!("Account {} is not allowed to trade.", req.account_id));
    }
    let Some(contract) = contract else {
        return refuse(Reason::ContractNotFound, format!("Contract {} not found.", req.contract_id));
    };
    if !contract.active {
        return refuse(Reason::ContractNotActive, format!("Contract {} is not active.", contract.id));
    }
    if ![LIMIT, MARKET, STOP, TRAILING_STOP, JOIN_BID, JOIN_ASK].contains(&req.order_type) {
        return rejected(format!("Invalid order type ({}).", req.order_type));
    }
    if req.side != BUY && req.side != SELL {
        return rejected(format!("Invalid order side ({}).", req.side));
    }
    if req.size <= 0 {
        return rejected(format!("Invalid order size ({}). Size must be greater than zero.", req.size));
    }
    let (field, value) = match req.order_type {
        LIMIT => ("limit", req.limit_price),
        STOP => ("stop", req.stop_price),
        TRAILING_STOP => ("trail", req.trail_price),
        _ => ("", None),
    };
    if !field.is_empty() {
        let Some(value) = value else {
            return rejected(format!("A {} order requires a {field} price.", type_name(req.order_type)));
        };
        price(field, value, contract.tick_size)?;
    }
    if tag_taken {
        let tag = req.custom_tag.as_deref().unwrap_or_default();
        return rejected(format!("The custom tag '{tag}' is not unique within account {}.", req.account_id));
    }
    if let Some(sl) = req.stop_loss {
        bracket(sl, true, req.side == BUY)?;
    }
    if let Some(tp) = req.take_profit {
        bracket(tp, false, req.side == BUY)?;
    }
    Ok(contract)
}

/// Validates a modify request against an Open order (refusals are code 3 Rejected).
pub(crate) fn modify(order: &SimOrder, change: &Modify, tick: Decimal) -> Result<(), Refusal> {
    if let Some(size) = change.size
        && size <= 0
    {
        return rejected(format!("Invalid order size ({size}). Size must be greater than zero."));
    }
    let kind = type_name(order.order_type);
    let fields = [
        ("limit", change.limit_price, [LIMIT, JOIN_BID, JOIN_ASK].contains(&order.order_type)),
        ("stop", change.stop_price, order.order_type == STOP),
        ("trail", change.trail_price, order.order_type == TRAILING_STOP),
    ];
    for (field, value, applies) in fields {
        let Some(value) = value else { continue };
        if !applies {
            return rejected(format!("A {field} price cannot be set on a {kind} order."));
        }
        price(field, value, tick)?;
    }
    Ok(())
}

fn price(field: &str, value: Decimal, tick: Decimal) -> Result<(), Refusal> {
    if value <= Decimal::ZERO {
        return rejected(format!("Invalid {field} price ({value}). Price must be greater than zero."));
    }
    if !tick.is_zero() && !(value % tick).is_zero() {
        return rejected(format!(
            "Invalid {field} price ({value}). Price must be a multiple of the tick size ({}).",
            tick.normalize()
        ));
    }
    Ok(())
}

/// Bracket ticks are signed offsets from the entry: negative for a long's stop loss and a short's
/// take profit, positive otherwise. A stop loss must be a Stop order, a take profit a Limit.
fn bracket(b: Bracket, stop_loss: bool, long: bool) -> Result<(), Refusal> {
    let (kind, required_type) = if stop_loss { ("stop loss", STOP) } else { ("take profit", LIMIT) };
    let side = if long { "longing" } else { "shorting" };
    let negative = stop_loss == long;
    if negative && b.ticks >= 0 {
        return rejected(format!("Invalid {kind} ticks ({}). Ticks should be less than zero when {side}.", b.ticks));
    }
    if !negative && b.ticks <= 0 {
        return rejected(format!("Invalid {kind} ticks ({}). Ticks should be greater than zero when {side}.", b.ticks));
    }
    if b.ticks.unsigned_abs() > MAX_BRACKET_TICKS.unsigned_abs() {
        return rejected(format!(
            "Invalid {kind} ticks ({}). Ticks should be at most {MAX_BRACKET_TICKS} away from the entry.",
            b.ticks
        ));
    }
    if b.order_type != required_type {
        return rejected(format!("Invalid {kind} type ({}).", type_name(b.order_type)));
    }
    Ok(())
}

fn rejected<T>(message: String) -> Result<T, Refusal> {
    refuse(Reason::Rejected, message)
}

/// OrderType names as the gateway spells them in messages.
pub(crate) fn type_name(order_type: i32) -> &'static str {
    match order_type {
        1 => "Limit",
        2 => "Market",
        3 => "StopLimit",
        4 => "Stop",
        5 => "TrailingStop",
        6 => "JoinBid",
        7 => "JoinAsk",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contracts::default_contracts;

    fn market(side: i32, sl: Option<i32>, tp: Option<i32>) -> PlaceOrder {
        PlaceOrder {
            account_id: 9001,
            contract_id: "CON.F.US.MNQ.Z25".into(),
            order_type: MARKET,
            side,
            size: 1,
            limit_price: None,
            stop_price: None,
            trail_price: None,
            custom_tag: None,
            stop_loss: sl.map(|ticks| Bracket { ticks, order_type: STOP }),
            take_profit: tp.map(|ticks| Bracket { ticks, order_type: LIMIT }),
        }
    }

    fn message(req: &PlaceOrder) -> String {
        let contracts = default_contracts();
        place(req, true, Some(&contracts[0]), false).unwrap_err().message
    }

    #[test]
    fn bracket_signs_follow_the_entry_side() {
        let contracts = default_contracts();
        assert!(place(&market(BUY, Some(-10), Some(20)), true, Some(&contracts[0]), false).is_ok());
        assert!(place(&market(SELL, Some(10), Some(-20)), true, Some(&contracts[0]), false).is_ok());
        assert_eq!(
            message(&market(BUY, Some(10), None)),
            "Invalid stop loss ticks (10). Ticks should be less than zero when longing."
        );
        assert_eq!(
            message(&market(SELL, None, Some(5))),
            "Invalid take profit ticks (5). Ticks should be less than zero when shorting."
        );
        assert_eq!(
            message(&market(SELL, Some(-3), None)),
            "Invalid stop loss ticks (-3). Ticks should be greater than zero when shorting."
        );
        assert!(message(&market(BUY, Some(-1001), None)).contains("at most 1000"));
        let mut limit_sl = market(BUY, Some(-10), None);
        limit_sl.stop_loss = Some(Bracket { ticks: -10, order_type: LIMIT });
        assert_eq!(message(&limit_sl), "Invalid stop loss type (Limit).");
    }

    #[test]
    fn prices_must_be_present_positive_and_on_the_tick_grid() {
        let mut req = market(BUY, None, None);
        req.order_type = LIMIT;
        assert_eq!(message(&req), "A Limit order requires a limit price.");
        req.limit_price = Some(Decimal::new(2_100_010, 2));
        assert!(message(&req).contains("multiple of the tick size (0.25)"));
        req.order_type = 3;
        assert_eq!(message(&req), "Invalid order type (3).");
    }
}
