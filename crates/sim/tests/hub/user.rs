//! The user hub: events from REST trading, argument checks.

use super::support::*;

/// Targets and data of the next `n` user events.
async fn events(hub: &mut HubClient, n: usize) -> Vec<(String, Value)> {
    let mut events = Vec::new();
    while events.len() < n {
        let record = hub.next_message().await;
        assert_eq!(record["type"], 1, "{record}");
        let arguments = record["arguments"].as_array().expect("an arguments array");
        assert_eq!(arguments.len(), 1, "user events carry one bare data object: {record}");
        events.push((record["target"].as_str().expect("a target").to_owned(), arguments[0].clone()));
    }
    events
}

#[tokio::test]
async fn a_market_order_and_a_close_emit_order_trade_account_and_position_events() {
    let sim = spawn_default().await;
    let token = token(&sim);
    let mut hub = HubClient::connect_to(&sim, HubKind::User).await;
    hub.invoke("1", "SubscribeAccounts", json!([])).await;
    for (id, target) in ["SubscribeOrders", "SubscribePositions", "SubscribeTrades"].iter().enumerate() {
        let answer = hub.invoke(&format!("s{id}"), target, json!([ACCOUNT])).await;
        assert_eq!(answer.get("error"), None, "{answer}");
    }
    market_order(&sim, &token, MNQ, 0, 2).await;
    let opened = events(&mut hub, 4).await;
    let targets: Vec<&str> = opened.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(targets, ["GatewayUserOrder", "GatewayUserTrade", "GatewayUserAccount", "GatewayUserPosition"]);
    let (order, trade, account, position) = (&opened[0].1, &opened[1].1, &opened[2].1, &opened[3].1);
    assert_eq!(
        (&order["status"], &order["fillVolume"], &order["filledPrice"]),
        (&json!(2), &json!(2), &num("21000.25"))
    );
    assert_eq!(
        (&trade["price"], &trade["profitAndLoss"], &trade["orderId"]),
        (&num("21000.25"), &Value::Null, &order["id"])
    );
    assert_eq!(
        (&account["id"], &account["balance"], &account["canTrade"]),
        (&json!(ACCOUNT), &num("49999.26"), &json!(true))
    );
    assert_eq!(
        (&position["type"], &position["size"], &position["averagePrice"]),
        (&json!(1), &json!(2), &num("21000.25"))
    );

    let close = json!({ "accountId": ACCOUNT, "contractId": MNQ });
    let closed = rest(&sim, &token, "/api/Position/closeContract", close).await;
    assert_eq!(closed["success"], true, "{closed}");
    let flat = events(&mut hub, 4).await;
    let (target, position) = &flat[3];
    assert_eq!(
        (target.as_str(), &position["size"], &position["id"]),
        ("GatewayUserPosition", &json!(0), &opened[3].1["id"])
    );
    assert_eq!(flat[1].1["profitAndLoss"], num("0"));
    assert!(sim.hub_counters().user_events_sent >= 8);
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
    let only = events(&mut hub, 1).await;
    assert_eq!((only[0].0.as_str(), &only[0].1["accountId"]), ("GatewayUserOrder", &json!(ACCOUNT)));
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
