//! Auto-OCO legs as a user-hub subscriber sees them: created after the entry's fill, a target
//! reached by a price move fills and cancels the stop, the position goes flat (size 0); and a
//! ticker step is a price move like any other.

use super::support::*;

#[tokio::test]
async fn a_target_reached_by_the_price_fills_cancels_the_stop_and_flattens() {
    let sim = spawn_default().await;
    let token = token(&sim);
    let mut hub = HubClient::user_feeds(&sim, ACCOUNT).await;
    let entry = place(&sim, &token, bracketed_buy(ACCOUNT, 1, -8, 12)).await;
    let opened = hub.user_events(7).await;
    let (stop, target) = (&opened[5].1, &opened[6].1);
    assert_eq!(opened[5].0, "GatewayUserOrder");
    assert_eq!(
        (&stop["type"], &stop["status"], &stop["side"], &stop["stopPrice"]),
        (&json!(4), &json!(1), &json!(1), &num("20998.25"))
    );
    assert_eq!((&target["type"], &target["limitPrice"]), (&json!(1), &num("21003.25")));
    assert_eq!((&stop["parentOrderId"], &target["parentOrderId"]), (&json!(entry), &json!(entry)));
    assert_eq!((&stop["linkedOrderId"], &target["linkedOrderId"]), (&target["id"], &stop["id"]), "OCO siblings");

    sim.set_price(MNQ, "21003".parse().unwrap());
    assert_eq!(hub.next_within(Duration::from_millis(100)).await, None, "one tick short of the target");
    sim.set_price(MNQ, "21003.25".parse().unwrap());
    let exit = hub.user_events(5).await;
    let targets: Vec<&str> = exit.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        targets,
        ["GatewayUserOrder", "GatewayUserPosition", "GatewayUserTrade", "GatewayUserAccount", "GatewayUserOrder"]
    );
    let (filled, position, trade, cancelled) = (&exit[0].1, &exit[1].1, &exit[2].1, &exit[4].1);
    assert_eq!(
        (&filled["id"], &filled["status"], &filled["filledPrice"]),
        (&target["id"], &json!(2), &num("21003.25"))
    );
    assert_eq!((&position["size"], &position["id"]), (&json!(0), &opened[2].1["id"]));
    assert_eq!((&trade["orderId"], &trade["profitAndLoss"]), (&target["id"], &num("6")), "12 ticks × 0.5");
    assert_eq!((&cancelled["id"], &cancelled["status"]), (&stop["id"], &json!(3)));
}

#[tokio::test]
async fn quote_ticker_steps_fill_working_orders() {
    let sim = spawn_default().await;
    let token = token(&sim);
    let limit = |side: i32, price: &str| json!({ "accountId": ACCOUNT, "contractId": MNQ, "type": 1, "side": side, "size": 1, "limitPrice": num(price) });
    // One tick either side of 21000.25: whichever way the random walk first moves, one fills.
    let buy = place(&sim, &token, limit(0, "21000")).await;
    let sell = place(&sim, &token, limit(1, "21000.5")).await;
    let mut user = HubClient::user_feeds(&sim, ACCOUNT).await;
    let mut market = HubClient::connect_to(&sim, HubKind::Market).await;
    market.invoke("q", "SubscribeContractQuotes", json!([MNQ])).await;
    sim.set_quotes_per_second(100);
    let filled = user.next_event("GatewayUserOrder").await;
    let order = &filled["arguments"][0];
    assert_eq!(order["status"], 2, "{order}");
    assert!(order["id"] == json!(buy) || order["id"] == json!(sell), "{order}");
    assert_eq!(order["filledPrice"], order["limitPrice"], "a resting limit fills at its price");
}
