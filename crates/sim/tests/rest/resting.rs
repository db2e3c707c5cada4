//! Resting limit and stop orders fill when a price move reaches them (limits at their price, stops
//! at the price that reached them); orders already reached fill at once at the last price; a
//! resting entry's brackets become legs when it fills; trailing stops never trigger.

use super::support::*;

fn resting(order_type: i32, side: i32, field: &str, price: &str) -> Value {
    let mut order = json!({ "accountId": ACCOUNT, "contractId": MNQ, "type": order_type, "side": side, "size": 1 });
    order[field] = num(price);
    order
}

/// Status and fill price of the order with this id.
fn state(t: &TestSim, id: &Value) -> (i32, Option<Decimal>) {
    let order = t.sim.orders().into_iter().find(|o| Some(o.id) == id.as_i64()).expect("the order exists");
    (order.status, order.filled_price)
}

#[tokio::test]
async fn resting_limits_and_stops_fill_when_the_price_reaches_them() {
    let t = spawn_default().await;
    let token = t.login().await;
    // MNQ starts at 21000.25.
    let buy_limit = t.place(&token, resting(1, 0, "limitPrice", "20999")).await["orderId"].clone();
    let sell_limit = t.place(&token, resting(1, 1, "limitPrice", "21002")).await["orderId"].clone();
    let buy_stop = t.place(&token, resting(4, 0, "stopPrice", "21001")).await["orderId"].clone();
    let sell_stop = t.place(&token, resting(4, 1, "stopPrice", "20998")).await["orderId"].clone();
    let trail = t.place(&token, resting(5, 1, "trailPrice", "20999.5")).await["orderId"].clone();
    for id in [&buy_limit, &sell_limit, &buy_stop, &sell_stop, &trail] {
        assert_eq!(state(&t, id), (1, None), "resting");
    }
    t.sim.set_price(MNQ, dec("20999.25"));
    assert_eq!(state(&t, &buy_limit).0, 1, "a tick above the buy limit");
    t.sim.set_price(MNQ, dec("20998.75"));
    assert_eq!(state(&t, &buy_limit), (2, Some(dec("20999"))), "crossed: filled at its limit");
    t.sim.set_price(MNQ, dec("21001.5"));
    assert_eq!(state(&t, &buy_stop), (2, Some(dec("21001.5"))), "triggered: filled where the price is");
    t.sim.set_price(MNQ, dec("21002"));
    assert_eq!(state(&t, &sell_limit), (2, Some(dec("21002"))), "reached exactly");
    t.sim.set_price(MNQ, dec("20997"));
    assert_eq!(state(&t, &sell_stop), (2, Some(dec("20997"))));
    assert_eq!(state(&t, &trail), (1, None), "trailing stops are not simulated");
    assert!(t.sim.positions().is_empty(), "bought 2, sold 2");
    assert_eq!(t.sim.trades().len(), 4);
}

#[tokio::test]
async fn an_order_already_reached_fills_at_once_at_the_last_price() {
    let t = spawn_default().await;
    let token = t.login().await;
    let marketable = t.place(&token, resting(1, 0, "limitPrice", "21005")).await["orderId"].clone();
    assert_eq!(state(&t, &marketable), (2, Some(dec("21000.25"))), "a buy limit above the market buys at the market");
    let limit = t.place(&token, resting(1, 1, "limitPrice", "21010")).await["orderId"].clone();
    assert_eq!(state(&t, &limit).0, 1);
    let modify = json!({ "accountId": ACCOUNT, "orderId": limit, "limitPrice": num("21000") });
    assert_eq!(t.call("/api/Order/modify", &token, modify).await["success"], true);
    assert_eq!(state(&t, &limit), (2, Some(dec("21000.25"))), "modified into the market: filled");
    assert!(t.sim.positions().is_empty());
}

#[tokio::test]
async fn a_resting_entry_gets_its_legs_when_it_fills() {
    let t = spawn_default().await;
    let token = t.login().await;
    let mut entry = resting(1, 0, "limitPrice", "20990");
    entry["stopLossBracket"] = json!({ "ticks": -12, "type": 4 });
    entry["takeProfitBracket"] = json!({ "ticks": 20, "type": 1 });
    let id = t.place(&token, entry).await["orderId"].clone();
    assert_eq!(t.sim.orders().len(), 1, "no legs before the entry fills");
    t.sim.move_price_to(MNQ, dec("20985"), 5);
    assert_eq!(state(&t, &id), (2, Some(dec("20990"))));
    let legs: Vec<_> = t.sim.orders().into_iter().filter(|o| o.parent_order_id == id.as_i64()).collect();
    assert_eq!(legs.len(), 2);
    assert_eq!((legs[0].stop_price, legs[1].limit_price), (Some(dec("20987")), Some(dec("20995"))), "from the fill");
    // The walk: 20997.25, 20994.25, 20991.25, 20988.25 (the entry fills at 20990), 20985 (the stop).
    assert_eq!((legs[0].status, legs[1].status), (2, 3), "the walk went on through the stop at 20987");
    assert_eq!(legs[0].filled_price, Some(dec("20985")), "the step that reached it");
    assert!(t.sim.positions().is_empty());
}
