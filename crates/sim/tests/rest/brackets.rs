//! Auto-OCO bracket legs over REST: closes leave them working (live behaviour) unless
//! `cancel_brackets_when_flat`; a price move through the target fills it, cancels the stop and
//! books P&L, fees and balance; a jump through the stop fills at the jump's price.

use super::support::*;

/// A market buy on MNQ for the default account with a stop loss and a take profit (signed ticks).
fn bracketed_buy(size: i32, stop_ticks: i32, target_ticks: i32) -> Value {
    let mut order = market_order(MNQ, 0, size);
    order["stopLossBracket"] = json!({ "ticks": stop_ticks, "type": 4 });
    order["takeProfitBracket"] = json!({ "ticks": target_ticks, "type": 1 });
    order
}

impl TestSim {
    /// `Order/searchOpen` for the default account.
    async fn open_orders(&self, token: &str) -> Vec<Value> {
        let open = self.call("/api/Order/searchOpen", token, json!({ "accountId": ACCOUNT })).await;
        open["orders"].as_array().expect("an orders array").clone()
    }

    /// `Trade/search` for the default account over the last hour.
    async fn trades(&self, token: &str) -> Vec<Value> {
        let start = chrono::Utc::now() - chrono::TimeDelta::hours(1);
        let trades =
            self.call("/api/Trade/search", token, json!({ "accountId": ACCOUNT, "startTimestamp": start })).await;
        trades["trades"].as_array().expect("a trades array").clone()
    }
}

#[tokio::test]
async fn close_contract_leaves_the_legs_working() {
    let t = spawn_default().await;
    let token = t.login().await;
    let entry = t.place(&token, bracketed_buy(2, -10, 20)).await["orderId"].clone();
    let partial = json!({ "accountId": ACCOUNT, "contractId": MNQ, "size": 1 });
    assert_eq!(t.call("/api/Position/partialCloseContract", &token, partial).await["success"], true);
    assert_eq!(t.open_orders(&token).await.len(), 2, "a partial close leaves both legs (size 2)");
    let close = json!({ "accountId": ACCOUNT, "contractId": MNQ });
    assert_eq!(t.call("/api/Position/closeContract", &token, close).await["success"], true);
    assert!(t.sim.positions().is_empty());
    let legs = t.open_orders(&token).await;
    assert_eq!(legs.len(), 2, "flat, and the stop and target still work: {legs:?}");
    assert!(legs.iter().all(|leg| leg["parentOrderId"] == entry && leg["status"] == 1 && leg["size"] == 2));

    // A leftover leg that the price reaches opens a position of its own: why a relay must cancel them.
    t.sim.set_price(MNQ, dec("20997.75"));
    let position = &t.sim.positions()[0];
    assert_eq!((position.position_type, position.size), (2, 2), "the sell stop opened a short");
    assert!(t.open_orders(&token).await.is_empty(), "the stop's fill cancelled its OCO sibling");
}

#[tokio::test]
async fn the_old_cancel_when_flat_behaviour_is_a_knob() {
    let t = spawn_sim(SimConfig { cancel_brackets_when_flat: true, ..SimConfig::default() }).await;
    let token = t.login().await;
    t.place(&token, bracketed_buy(2, -10, 20)).await;
    let partial = json!({ "accountId": ACCOUNT, "contractId": MNQ, "size": 1 });
    t.call("/api/Position/partialCloseContract", &token, partial).await;
    assert_eq!(t.open_orders(&token).await.len(), 2, "not flat yet");
    t.call("/api/Position/closeContract", &token, json!({ "accountId": ACCOUNT, "contractId": MNQ })).await;
    assert!(t.open_orders(&token).await.is_empty(), "flattening cancels the bracket children");
    assert!(t.sim.orders().iter().filter(|o| o.parent_order_id.is_some()).all(|o| o.status == 3));
}

#[tokio::test]
async fn a_move_through_the_target_fills_it_cancels_the_stop_and_books_the_pnl() {
    let t = spawn_default().await;
    let token = t.login().await;
    // MNQ: tick size 0.25, tick value 0.5.
    let (tick_size, tick_value, size) = (dec("0.25"), dec("0.5"), 3);
    t.place(&token, bracketed_buy(size, -16, 24)).await;
    let legs = t.open_orders(&token).await;
    let (stop, target) = (&legs[0], &legs[1]);
    let entry = t.sim.positions()[0].average_price;
    assert_eq!(dec(&target["limitPrice"].to_string()), entry + tick_size * Decimal::from(24));

    // Up in 10 steps to 2 ticks beyond the target: it fills at its limit on the way.
    t.sim.move_price_to(MNQ, entry + tick_size * Decimal::from(26), 10);
    assert!(t.sim.positions().is_empty(), "flat");
    let orders = t.sim.orders();
    let status = |id: &Value| orders.iter().find(|o| Some(o.id) == id.as_i64()).map(|o| o.status);
    assert_eq!((status(&target["id"]), status(&stop["id"])), (Some(2), Some(3)), "target filled, stop cancelled");
    let trades = t.trades(&token).await;
    assert_eq!(trades.len(), 2);
    let exit = &trades[1];
    let exit_price = dec(&exit["price"].to_string());
    assert_eq!(exit_price, entry + tick_size * Decimal::from(24), "a resting limit fills at its price");
    assert_eq!(
        (exit["side"].clone(), exit["size"].clone(), exit["orderId"].clone()),
        (json!(1), json!(3), target["id"].clone())
    );
    let gross = (exit_price - entry) * tick_value / tick_size * Decimal::from(size);
    assert_eq!(dec(&exit["profitAndLoss"].to_string()), gross, "profitAndLoss is gross: 24 ticks × 0.5 × 3");
    let fees: Decimal = trades.iter().map(|t| dec(&t["fees"].to_string())).sum();
    assert_eq!(fees, dec("0.37") * Decimal::from(2 * size));
    assert_eq!(gross - fees, dec("33.78"), "net: 36 − 6 × 0.37");
    assert_eq!(t.sim.accounts()[0].balance, dec("50000") + gross - fees);
}

#[tokio::test]
async fn a_jump_through_the_stop_fills_at_the_price_that_reached_it() {
    let t = spawn_default().await;
    let token = t.login().await;
    let mut sell = market_order(MNQ, 1, 1);
    sell["stopLossBracket"] = json!({ "ticks": 8, "type": 4 });
    t.place(&token, sell).await;
    let stop_price = dec("21002.25");
    assert_eq!(t.open_orders(&token).await[0]["stopPrice"].to_string(), "21002.25");
    t.sim.set_price(MNQ, dec("21002"));
    assert_eq!(t.sim.positions().len(), 1, "one tick short of the stop");
    t.sim.set_price(MNQ, dec("21003.5"));
    assert!(t.sim.positions().is_empty());
    let exit = &t.trades(&token).await[1];
    assert_eq!(exit["price"].to_string(), "21003.5", "slipped 5 ticks past {stop_price}");
    assert_eq!(exit["profitAndLoss"].to_string(), "-6.5", "short from 21000.25: −13 ticks × 0.5");
}
