//! Hub chaos: Close with and without allowReconnect, abrupt drops, refused connects, frozen
//! quotes, disabled pings.

use super::support::*;

#[tokio::test]
async fn close_sends_a_close_message_then_a_close_frame() {
    let sim = spawn_default().await;
    let mut market = HubClient::connect_to(&sim, HubKind::Market).await;
    let user = HubClient::connect_to(&sim, HubKind::User).await;
    market.invoke("1", "SubscribeContractQuotes", json!([MNQ])).await;
    sim.close_hub_connections(Some("token rotated"), true);
    assert!(sim.hub_connections().is_empty(), "forgotten at once, subscriptions included");
    let (market, user) = (market.ending().await, user.ending().await);
    let close = json!({ "type": 7, "error": "token rotated", "allowReconnect": true });
    assert_eq!(market.records.last(), Some(&close), "queued records first, then the Close");
    assert_eq!(market.records[0]["target"], "GatewayQuote");
    assert_eq!(user.records, [close]);
    assert!(market.close_frame && user.close_frame);

    let again = HubClient::connect_to(&sim, HubKind::Market).await;
    sim.close_hub_connections(None, false);
    let ending = again.ending().await;
    assert_eq!(ending.records, [json!({ "type": 7 })], "no error, no allowReconnect");
    assert_eq!(sim.hub_counters().closed_by_chaos, 3);
}

#[tokio::test]
async fn drop_ends_sockets_without_a_close_message_or_frame() {
    let sim = spawn_default().await;
    let mut hub = HubClient::connect_to(&sim, HubKind::Market).await;
    hub.invoke("1", "SubscribeContractQuotes", json!([MNQ])).await;
    hub.next_event("GatewayQuote").await;
    sim.drop_hub_connections();
    assert!(sim.hub_connections().is_empty());
    let ending = hub.ending().await;
    assert!(ending.records.is_empty() && !ending.close_frame, "{ending:?}");
    let counters = sim.hub_counters();
    assert_eq!((counters.closed_by_chaos, counters.connects), (1, 1));
    let _back = HubClient::connect_to(&sim, HubKind::Market).await;
    assert_eq!(sim.hub_counters().connects, 2, "reconnecting works at once");
}

#[tokio::test]
async fn refused_connects_get_503_until_the_window_ends() {
    let sim = spawn_default().await;
    let url = ws_url(&sim, HubKind::User, &token(&sim));
    sim.refuse_hub_connects_for(Duration::from_millis(300));
    assert_eq!(refused_status(&url).await, 503);
    let negotiate = format!("{}/negotiate?negotiateVersion=1&access_token={}", sim.user_hub_url(), token(&sim));
    assert_eq!(reqwest::Client::new().post(negotiate).send().await.unwrap().status(), 503);
    assert_eq!(refused_status(&ws_url(&sim, HubKind::Market, "garbage")).await, 503, "503 comes before auth");
    tokio::time::sleep(Duration::from_millis(350)).await;
    let _hub = HubClient::connect(&url).await;
    let counters = sim.hub_counters();
    assert_eq!((counters.refused_upgrades, counters.rejected_upgrades, counters.connects), (3, 0, 1));
}

#[tokio::test]
async fn frozen_quotes_keep_the_connection_pinged_and_resume_with_a_snapshot() {
    let sim = spawn_sim(SimConfig { keep_alive: Duration::from_millis(100), ..SimConfig::default() }).await;
    let mut hub = HubClient::connect_to(&sim, HubKind::Market).await;
    hub.invoke("1", "SubscribeContractQuotes", json!([MNQ])).await;
    hub.next_event("GatewayQuote").await;
    sim.freeze_quotes(true);
    sim.set_quotes_per_second(50);
    sim.set_price(MNQ, "21100".parse().unwrap());
    sim.push_quote(MNQ, json!({ "symbol": "F.US.MNQ" }));
    let started = tokio::time::Instant::now();
    let mut pings = 0;
    while started.elapsed() < Duration::from_millis(400) {
        if let Some(record) = hub.next_within(Duration::from_millis(50)).await {
            assert_eq!(record, json!({ "type": 6 }), "only pings while frozen");
            pings += 1;
        }
    }
    assert!(pings >= 2, "{pings} pings");
    let frozen_quotes = sim.hub_counters().quotes_sent;
    sim.set_quotes_per_second(0);
    sim.freeze_quotes(false);
    let snapshot = hub.next_event("GatewayQuote").await;
    let data = &snapshot["arguments"][1];
    assert_eq!((&data["symbolName"], &data["lastPrice"]), (&json!("/MNQ"), &num("21100")), "a full, current snapshot");
    assert_eq!(sim.hub_counters().quotes_sent, frozen_quotes + 1);
}

#[tokio::test]
async fn without_server_pings_an_idle_connection_stays_silent() {
    let sim = spawn_sim(SimConfig { keep_alive: Duration::from_millis(50), ..SimConfig::default() }).await;
    sim.set_hub_pings(false);
    let mut hub = HubClient::connect_to(&sim, HubKind::User).await;
    assert_eq!(hub.next_within(Duration::from_millis(300)).await, None);
    sim.set_hub_pings(true);
    assert_eq!(hub.next().await, Some(json!({ "type": 6 })));
}

#[tokio::test]
async fn shutdown_or_dropping_the_last_handle_ends_hub_connections() {
    let sim = spawn_default().await;
    let hub = HubClient::connect_to(&sim, HubKind::Market).await;
    sim.shutdown();
    assert!(!hub.ending().await.close_frame);
    let sim = spawn_default().await;
    let hub = HubClient::connect_to(&sim, HubKind::User).await;
    drop(sim);
    assert!(!hub.ending().await.close_frame);
}

#[tokio::test]
async fn logging_out_sessions_revokes_tokens_and_tells_user_hub_connections_only() {
    let sim = spawn_default().await;
    let old = token(&sim);
    let mut user = HubClient::connect(&ws_url(&sim, HubKind::User, &old)).await;
    let mut market = HubClient::connect(&ws_url(&sim, HubKind::Market, &old)).await;
    user.invoke("1", "SubscribeAccounts", json!([])).await;
    assert_eq!(sim.log_out_sessions(), 1, "one user-hub connection told");
    let logout = user.next_message().await;
    assert_eq!(logout, json!({ "type": 1, "target": "GatewayLogout", "arguments": [] }));
    assert_eq!(sim.hub_counters().logouts_sent, 1);
    assert_eq!(sim.hub_connections().len(), 2, "the connections stay open");
    while let Some(record) = market.next_within(Duration::from_millis(200)).await {
        assert_ne!(record["target"], "GatewayLogout", "the market hub is not told");
    }
    let accounts = json!({ "onlyActiveAccounts": true });
    assert_eq!(rest_status(&sim, &old, "/api/Account/search", accounts.clone()).await, 401, "the old token is revoked");
    assert_eq!(refused_status(&ws_url(&sim, HubKind::User, &old)).await, 401, "on hub upgrades too");
    let new = token(&sim);
    assert_eq!(rest_status(&sim, &new, "/api/Account/search", accounts).await, 200, "a new login works");
    let _again = HubClient::connect(&ws_url(&sim, HubKind::User, &new)).await;
}

/// The HTTP status of a REST call with a bearer token.
async fn rest_status(sim: &SimHandle, token: &str, path: &str, body: Value) -> u16 {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", sim.base_url()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request reaches the simulator");
    response.status().as_u16()
}
