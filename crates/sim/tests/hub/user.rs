//! The user hub: events from REST trading in life-cycle order, their timing against the REST
//! answer, the wrapped shape, argument checks.

use super::support::*;

/// The targets of `events`.
fn targets(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(t, _)| t.as_str()).collect()
}

#[tokio::test]
async fn a_market_entry_and_a_close_report_their_life_cycle_in_order() {
    let sim = spawn_default().await;
    let token = token(&sim);
    let mut hub = HubClient::user_feeds(&sim, ACCOUNT).await;
    market_order(&sim, &token, MNQ, 0, 2).await;
    let opened = hub.user_events(5).await;
    assert_eq!(
        targets(&opened),
        ["GatewayUserOrder", "GatewayUserOrder", "GatewayUserPosition", "GatewayUserTrade", "GatewayUserAccount"]
    );
    let (open, filled, position, trade, account) =
        (&opened[0].1, &opened[1].1, &opened[2].1, &opened[3].1, &opened[4].1);
    assert_eq!((&open["status"], &open["fillVolume"], &open["filledPrice"]), (&json!(1), &json!(0), &Value::Null));
    assert_eq!(open["id"], filled["id"]);
    assert_eq!(
        (&filled["status"], &filled["fillVolume"], &filled["filledPrice"]),
        (&json!(2), &json!(2), &num("21000.25"))
    );
    assert_eq!(
        (&position["type"], &position["size"], &position["averagePrice"]),
        (&json!(1), &json!(2), &num("21000.25"))
    );
    assert_eq!(
        (&trade["price"], &trade["profitAndLoss"], &trade["orderId"]),
        (&num("21000.25"), &Value::Null, &filled["id"])
    );
    assert_eq!(
        (&account["id"], &account["balance"], &account["canTrade"]),
        (&json!(ACCOUNT), &num("49999.26"), &json!(true))
    );

    let close = json!({ "accountId": ACCOUNT, "contractId": MNQ });
    let closed = rest(&sim, &token, "/api/Position/closeContract", close).await;
    assert_eq!(closed["success"], true, "{closed}");
    let flat = hub.user_events(5).await;
    assert_eq!(targets(&flat), targets(&opened), "a close is a market order's life cycle too");
    let position = &flat[2].1;
    assert_eq!((&position["size"], &position["id"]), (&json!(0), &opened[2].1["id"]), "flat = size 0");
    assert_eq!((&flat[1].1["status"], &flat[1].1["side"]), (&json!(2), &json!(1)));
    assert_eq!(flat[3].1["profitAndLoss"], num("0"));
    assert_eq!(hub.next_within(Duration::from_millis(100)).await, None, "nothing else");
    assert!(sim.hub_counters().user_events_sent >= 10);
}

#[tokio::test]
async fn events_are_on_the_socket_before_the_place_answer_by_default() {
    let sim = spawn_default().await;
    let token = token(&sim);
    let mut hub = HubClient::user_feeds(&sim, ACCOUNT).await;
    for size in 1..=5 {
        assert_eq!(hub.bytes_waiting(), 0);
        place(&sim, &token, bracketed_buy(ACCOUNT, size, -20, 40)).await;
        assert!(hub.bytes_waiting() > 0, "the answer came before any event (entry {size})");
        // This entry's events: open, filled, position, trade, account, then the two legs.
        let events = hub.user_events(7).await;
        assert_eq!(events[6].1["parentOrderId"], events[0].1["id"]);
    }
}

#[tokio::test]
async fn race_timing_still_delivers_every_event() {
    let sim = spawn_sim(SimConfig { user_event_timing: UserEventTiming::Race, ..SimConfig::default() }).await;
    let token = token(&sim);
    let mut hub = HubClient::user_feeds(&sim, ACCOUNT).await;
    market_order(&sim, &token, MNQ, 1, 1).await;
    let events = hub.user_events(5).await;
    assert_eq!(targets(&events)[..2], ["GatewayUserOrder", "GatewayUserOrder"]);
    assert_eq!(events[2].1["type"], 2, "short");
}

#[tokio::test]
async fn wrapped_events_carry_action_and_data() {
    let sim = spawn_sim(SimConfig { user_event_shape: UserEventShape::Wrapped, ..SimConfig::default() }).await;
    let token = token(&sim);
    let mut hub = HubClient::user_feeds(&sim, ACCOUNT).await;
    market_order(&sim, &token, MNQ, 0, 1).await;
    let opened = hub.user_events(5).await;
    for (_, wrapper) in &opened {
        let keys: Vec<&str> = wrapper.as_object().expect("an object").keys().map(String::as_str).collect();
        assert_eq!(keys, ["action", "data"], "{wrapper}");
    }
    let actions: Vec<&Value> = opened.iter().map(|(_, w)| &w["action"]).collect();
    assert_eq!(
        actions,
        [&json!(0), &json!(1), &json!(0), &json!(0), &json!(1)],
        "create, update, create, create, update"
    );
    assert_eq!((&opened[1].1["data"]["status"], &opened[2].1["data"]["size"]), (&json!(2), &json!(1)));
    assert_eq!(opened[4].1["data"]["balance"], num("49999.63"));

    let close = json!({ "accountId": ACCOUNT, "contractId": MNQ });
    rest(&sim, &token, "/api/Position/closeContract", close).await;
    let flat = hub.user_events(5).await;
    let position = &flat[2];
    assert_eq!(position.0, "GatewayUserPosition");
    assert_eq!((&position.1["action"], &position.1["data"]["size"]), (&json!(2), &json!(0)), "flat: delete, size 0");
}

#[tokio::test]
async fn only_subscribed_feeds_and_accounts_are_sent() {
    let sim = spawn_sim(SimConfig {
        accounts: vec![
            projectx_sim::SimAccount { id: ACCOUNT, name: "A".into(), balance: 1000.into(), can_trade: true },
            projectx_sim::SimAccount { id: 9002, name: "B".into(), balance: 1000.into(), can_trade: true },
        ],
        ..SimConfig::default()
    })
    .await;
    let token = token(&sim);
    let mut hub = HubClient::connect_to(&sim, HubKind::User).await;
    hub.invoke("1", "SubscribeOrders", json!([9002])).await;
    market_order(&sim, &token, ES, 1, 1).await;
    assert_eq!(hub.next_within(Duration::from_millis(100)).await, None, "account 9001 is not subscribed");
    hub.invoke("2", "SubscribeOrders", json!([ACCOUNT])).await;
    hub.invoke("3", "UnsubscribeOrders", json!([9002])).await;
    market_order(&sim, &token, ES, 0, 1).await;
    let only = hub.user_events(2).await;
    assert_eq!((only[0].0.as_str(), &only[0].1["accountId"]), ("GatewayUserOrder", &json!(ACCOUNT)));
    assert_eq!((only[0].1["status"].clone(), only[1].1["status"].clone()), (json!(1), json!(2)), "open, then filled");
    assert_eq!(hub.next_within(Duration::from_millis(100)).await, None, "no trade/position/account feeds");
}

#[tokio::test]
async fn user_methods_check_arity_types_and_accounts() {
    let sim = spawn_default().await;
    let mut hub = HubClient::connect_to(&sim, HubKind::User).await;
    let error = |answer: Value| answer["error"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned();
    assert!(error(hub.invoke("1", "SubscribeOrders", json!(["9001"])).await).contains("Error binding arguments"));
    assert!(error(hub.invoke("2", "SubscribeAccounts", json!([ACCOUNT])).await).contains("provides 1 argument(s)"));
    assert!(error(hub.invoke("3", "SubscribeTrades", json!([42])).await).contains("Account 42 not found."));
    assert_eq!(
        error(hub.invoke("4", "SubscribeContractQuotes", json!([MNQ])).await),
        "Unknown hub method 'SubscribeContractQuotes'"
    );
    let ok = hub.invoke("5", "subscribepositions", json!([ACCOUNT])).await;
    assert_eq!(ok, json!({ "type": 3, "invocationId": "5" }), "method names match ignoring case, like ASP.NET");
    assert_eq!(sim.hub_connections()[0].subscriptions, [format!("positions:{ACCOUNT}")]);
}
