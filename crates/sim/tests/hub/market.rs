//! The market hub: snapshots and deltas, push_quote, set_price, trades and depth, per-connection
//! subscriptions, throughput and framing.

use std::collections::HashMap;

use super::support::*;

/// Every documented GatewayQuote field.
const QUOTE_FIELDS: [&str; 13] = [
    "symbol",
    "symbolName",
    "lastPrice",
    "bestBid",
    "bestAsk",
    "change",
    "changePercent",
    "open",
    "high",
    "low",
    "volume",
    "lastUpdated",
    "timestamp",
];

fn on_grid(value: &Value, tick: &str) -> bool {
    (dec(value) % tick.parse::<rust_decimal::Decimal>().expect("a tick literal")).is_zero()
}

#[tokio::test]
async fn first_quote_is_a_full_snapshot_then_partial_deltas() {
    let sim = spawn_default().await;
    let mut hub = HubClient::connect_to(&sim, HubKind::Market).await;
    hub.invoke("1", "SubscribeContractQuotes", json!([MNQ])).await;
    sim.set_quotes_per_second(50);
    let snapshot = hub.next_event("GatewayQuote").await;
    let data = &snapshot["arguments"][1];
    let mut keys: Vec<&str> = data.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = QUOTE_FIELDS;
    expected.sort_unstable();
    assert_eq!(keys, expected, "{data}");
    assert_eq!((&data["symbol"], &data["lastPrice"]), (&json!("F.US.MNQ"), &num("21000.25")));
    assert_eq!((&data["bestBid"], &data["bestAsk"]), (&num("21000"), &num("21000.5")));
    let mut volume = data["volume"].as_u64().unwrap();
    for _ in 0..10 {
        let delta = hub.next_event("GatewayQuote").await;
        assert_eq!(delta["arguments"][0], MNQ);
        let data = delta["arguments"][1].as_object().unwrap();
        assert!(data.len() < QUOTE_FIELDS.len() && !data.contains_key("symbolName"), "partial: {delta}");
        assert_eq!(data["symbol"], "F.US.MNQ");
        assert!(data["timestamp"].is_string() && data["lastUpdated"].is_string());
        for field in ["lastPrice", "bestBid", "bestAsk", "high", "low"] {
            assert!(data.get(field).is_none_or(|p| on_grid(p, "0.25")), "{field} off the grid: {delta}");
        }
        let next = data["volume"].as_u64().expect("every ticker step trades, so volume is in every delta");
        assert!(next > volume);
        volume = next;
    }
    let last = sim.hub_connections()[0].quotes_sent;
    assert!(last >= 11, "{last}");
}

#[tokio::test]
async fn push_quote_arrives_verbatim() {
    let sim = spawn_default().await;
    let mut hub = HubClient::connect_to(&sim, HubKind::Market).await;
    hub.invoke("1", "SubscribeContractQuotes", json!([ES])).await;
    hub.next_event("GatewayQuote").await;
    let data = json!({ "symbol": "F.US.EP", "bestBid": num("6335.250"), "timestamp": "2025-11-20T15:47:39Z" });
    sim.push_quote(ES, data.clone());
    sim.push_quote(MNQ, json!({ "symbol": "F.US.MNQ" }));
    let pushed = hub.next_message().await;
    assert_eq!(pushed, json!({ "type": 1, "target": "GatewayQuote", "arguments": [ES, data] }));
    assert_eq!(pushed["arguments"][1]["bestBid"].to_string(), "6335.250", "the number's text is kept");
    assert_eq!(hub.next_within(Duration::from_millis(100)).await, None, "no MNQ subscription, no MNQ quote");
    assert_eq!(sim.hub_counters().quotes_sent, 2);
}

#[tokio::test]
async fn set_price_sends_a_delta_and_market_orders_fill_at_the_quoted_price() {
    let sim = spawn_default().await;
    let token = token(&sim);
    let mut hub = HubClient::connect_to(&sim, HubKind::Market).await;
    hub.invoke("1", "SubscribeContractQuotes", json!([MNQ])).await;
    hub.next_event("GatewayQuote").await;
    sim.set_price(MNQ, "21012.5".parse().unwrap());
    let delta = hub.next_event("GatewayQuote").await;
    let data = &delta["arguments"][1];
    assert_eq!(
        (&data["lastPrice"], &data["bestBid"], &data["bestAsk"]),
        (&num("21012.5"), &num("21012.25"), &num("21012.75"))
    );
    assert_eq!((&data["change"], &data["high"]), (&num("12.25"), &num("21012.5")));
    assert_eq!(data.get("volume"), None, "set_price moves the price without a trade");
    market_order(&sim, &token, MNQ, 0, 1).await;
    assert_eq!(sim.orders()[0].filled_price, Some("21012.5".parse().unwrap()));
}

#[tokio::test]
async fn unknown_contract_subscribe_gets_an_error_completion() {
    let sim = spawn_default().await;
    let mut hub = HubClient::connect_to(&sim, HubKind::Market).await;
    for (id, target) in
        ["SubscribeContractQuotes", "SubscribeContractTrades", "SubscribeContractMarketDepth"].iter().enumerate()
    {
        let answer = hub.invoke(&id.to_string(), target, json!(["CON.F.US.NOPE.Z25"])).await;
        let error = answer["error"].as_str().unwrap_or_else(|| panic!("{answer}"));
        assert!(error.contains("HubException: Contract 'CON.F.US.NOPE.Z25' not found."), "{error}");
    }
    assert!(sim.hub_connections()[0].subscriptions.is_empty());
    assert_eq!(sim.hub_counters().subscribe_calls, 0);
}

#[tokio::test]
async fn subscriptions_are_per_connection_and_vanish_when_it_closes() {
    let sim = spawn_default().await;
    let mut a = HubClient::connect_to(&sim, HubKind::Market).await;
    let mut b = HubClient::connect_to(&sim, HubKind::Market).await;
    for target in ["SubscribeContractQuotes", "SubscribeContractTrades", "SubscribeContractMarketDepth"] {
        a.invoke("1", target, json!([MNQ])).await;
    }
    b.invoke("1", "SubscribeContractQuotes", json!([ES])).await;
    b.next_event("GatewayQuote").await;
    let subscriptions = |i: usize| sim.hub_connections()[i].subscriptions.clone();
    assert_eq!(subscriptions(0), [format!("depth:{MNQ}"), format!("quotes:{MNQ}"), format!("trades:{MNQ}")]);
    assert_eq!(subscriptions(1), [format!("quotes:{ES}")]);
    a.invoke("2", "UnsubscribeContractQuotes", json!([MNQ])).await;
    assert_eq!(subscriptions(0), [format!("depth:{MNQ}"), format!("trades:{MNQ}")]);
    drop(a);
    eventually("the closed connection is forgotten", || sim.hub_connections().len() == 1).await;
    sim.set_price(MNQ, "21001".parse().unwrap());
    sim.set_price(ES, "6336".parse().unwrap());
    let quote = b.next_event("GatewayQuote").await;
    assert_eq!((&quote["arguments"][0], &quote["arguments"][1]["lastPrice"]), (&json!(ES), &num("6336")));
}

#[tokio::test]
async fn trades_and_depth_arrive_as_arrays() {
    let sim = spawn_default().await;
    let mut hub = HubClient::connect_to(&sim, HubKind::Market).await;
    hub.invoke("1", "SubscribeContractMarketDepth", json!([ES])).await;
    let book = hub.next_event("GatewayDepth").await;
    let entries = book["arguments"][1].as_array().unwrap();
    assert_eq!((&book["arguments"][0], &entries[0]["type"]), (&json!(ES), &json!(6)), "starts with a Reset");
    assert_eq!((&entries[1]["type"], &entries[1]["price"]), (&json!(4), &num("6335")), "best bid");
    assert_eq!((&entries[2]["type"], &entries[2]["price"]), (&json!(3), &num("6335.5")), "best ask");
    hub.invoke("2", "SubscribeContractTrades", json!([ES])).await;
    hub.invoke("3", "SubscribeContractQuotes", json!([ES])).await;
    sim.set_quotes_per_second(40);
    let trade = hub.next_event("GatewayTrade").await;
    let entry = &trade["arguments"][1][0];
    assert_eq!((&trade["arguments"][0], &entry["symbolId"]), (&json!(ES), &json!("F.US.EP")));
    assert!(on_grid(&entry["price"], "0.25") && entry["volume"].as_u64().unwrap() > 0, "{trade}");
    assert!(entry["type"] == 0 || entry["type"] == 1);
    let update = hub.next_event("GatewayDepth").await;
    let kinds: Vec<&Value> = update["arguments"][1].as_array().unwrap().iter().map(|e| &e["type"]).collect();
    assert_eq!(kinds, [&json!(4), &json!(3)], "top-of-book updates");
}

#[tokio::test]
async fn two_thousand_quotes_a_second_arrive_in_order() {
    let sim = spawn_default().await;
    let contracts = ["CON.F.US.MNQ.Z25", "CON.F.US.ENQ.Z25", "CON.F.US.EP.Z25", "CON.F.US.MES.Z25"];
    let mut hub = HubClient::connect_to(&sim, HubKind::Market).await;
    for (i, contract) in contracts.iter().enumerate() {
        hub.invoke(&i.to_string(), "SubscribeContractQuotes", json!([contract])).await;
    }
    sim.set_quotes_per_second(500);
    let mut volumes: HashMap<String, u64> = HashMap::new();
    let mut received = 0_u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while tokio::time::Instant::now() < deadline {
        let quote = hub.next_event("GatewayQuote").await;
        let (contract, volume) = (quote["arguments"][0].as_str().unwrap(), quote["arguments"][1]["volume"].as_u64());
        let volume = volume.expect("snapshots and ticker deltas all carry volume");
        if let Some(previous) = volumes.insert(contract.to_owned(), volume) {
            assert!(volume > previous, "{contract}: volume went from {previous} to {volume}: out of order");
        }
        received += 1;
    }
    sim.set_quotes_per_second(0);
    assert_eq!(volumes.len(), 4);
    assert!(received >= 1_000, "only {received} quotes in a second at 4 × 500/s");
    assert!(hub.text_frames < usize::try_from(received).unwrap(), "several records share frames under load");
    let counters = sim.hub_counters();
    assert!(counters.quotes_sent >= received && counters.messages_dropped == 0, "{counters:?}");
}

#[tokio::test]
async fn split_single_and_binary_framing_carry_the_same_records() {
    let sim = spawn_default().await;
    let mut hub = HubClient::connect_to(&sim, HubKind::Market).await;
    hub.invoke("1", "SubscribeContractQuotes", json!([MNQ])).await;
    hub.next_event("GatewayQuote").await;
    let data = json!({ "symbol": "F.US.MNQ", "symbolName": "/MNQ ✓", "lastPrice": num("21000.75") });
    for framing in [HubFraming::Split, HubFraming::Single, HubFraming::Binary] {
        sim.set_hub_framing(framing);
        let (text_before, binary_before) = (hub.text_frames, hub.binary_frames);
        sim.push_quote(MNQ, data.clone());
        sim.push_quote(MNQ, data.clone());
        for _ in 0..2 {
            assert_eq!(hub.next_message().await["arguments"][1], data, "{framing:?}");
        }
        let (text, binary) = (hub.text_frames - text_before, hub.binary_frames - binary_before);
        match framing {
            HubFraming::Split => assert!(text >= 2 && text % 2 == 0 && binary == 0, "{text} {binary}"),
            HubFraming::Single => assert_eq!((text, binary), (2, 0)),
            _ => assert!(text == 0 && binary >= 1, "{text} {binary}"),
        }
    }
}
