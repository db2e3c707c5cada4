//! Connecting: handshake, auth on the upgrade, negotiate, invocations and completions, pings,
//! the client timeout, protocol violations.

use super::support::*;

#[tokio::test]
async fn handshake_is_answered_and_records_in_the_same_frame_are_read() {
    let sim = spawn_default().await;
    let token = token(&sim);
    let mut hub = HubClient::open(&ws_url(&sim, HubKind::Market, &token)).await.unwrap();
    hub.send_text(&format!("{HANDSHAKE}{{\"type\":6}}\u{1e}")).await;
    assert_eq!(hub.next().await, Some(json!({})));
    eventually("the ping after the handshake is counted", || sim.hub_counters().pings_received == 1).await;
    let connections = sim.hub_connections();
    assert_eq!(connections.len(), 1);
    let connection = &connections[0];
    assert_eq!((connection.hub, connection.messages_received), (HubKind::Market, 1));
    assert_eq!(connection.token_id, jti(&token), "the token's jti is recorded, never the token");
    assert_eq!(sim.hub_counters().connects, 1);
}

#[tokio::test]
async fn handshake_split_across_binary_frames_is_accepted() {
    let sim = spawn_default().await;
    let mut hub = HubClient::open(&ws_url(&sim, HubKind::User, &token(&sim))).await.unwrap();
    let (first, second) = HANDSHAKE.as_bytes().split_at(10);
    hub.send_binary(first).await;
    assert_eq!(hub.next_within(Duration::from_millis(100)).await, None, "no answer to half a handshake");
    hub.send_binary(second).await;
    assert_eq!(hub.next().await, Some(json!({})));
}

#[tokio::test]
async fn bad_handshake_gets_an_error_record_then_the_socket_closes() {
    let sim = spawn_default().await;
    let mut hub = HubClient::open(&ws_url(&sim, HubKind::Market, &token(&sim))).await.unwrap();
    hub.send_text("{\"protocol\":\"messagepack\",\"version\":1}\u{1e}").await;
    let ending = hub.ending().await;
    assert_eq!(ending.records, [json!({ "error": "The protocol 'messagepack' is not supported." })]);
    assert!(ending.close_frame);
    let counters = sim.hub_counters();
    assert_eq!((counters.bad_handshakes, counters.connects), (1, 0));
}

#[tokio::test]
async fn a_socket_without_handshake_is_closed_after_the_handshake_timeout() {
    let sim = spawn_sim(SimConfig { handshake_timeout: Duration::from_millis(150), ..SimConfig::default() }).await;
    let hub = HubClient::open(&ws_url(&sim, HubKind::Market, &token(&sim))).await.unwrap();
    let started = tokio::time::Instant::now();
    let ending = hub.ending().await;
    assert!(ending.records.is_empty() && ending.close_frame);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(sim.hub_counters().bad_handshakes, 1);
}

#[tokio::test]
async fn missing_garbage_expired_and_revoked_tokens_get_401_on_the_upgrade() {
    let sim = spawn_default().await;
    let revoked = token(&sim);
    sim.revoke_all_tokens();
    let plain = sim.market_hub_url().replacen("http://", "ws://", 1);
    assert_eq!(refused_status(&plain).await, 401, "missing");
    assert_eq!(refused_status(&format!("{plain}?access_token=not.a.jwt")).await, 401, "garbage");
    assert_eq!(refused_status(&ws_url(&sim, HubKind::Market, &sim.issue_expired_token())).await, 401, "expired");
    assert_eq!(refused_status(&ws_url(&sim, HubKind::User, &revoked)).await, 401, "revoked");
    assert_eq!(sim.hub_counters().rejected_upgrades, 4);

    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(plain.as_str()).unwrap();
    let header = format!("Bearer {}", token(&sim)).parse().unwrap();
    request.headers_mut().insert("authorization", header);
    let mut hub = HubClient::open_request(request).await.expect("a bearer header is accepted too");
    hub.handshake().await;
    assert_eq!(sim.hub_counters().connects, 1);
}

#[tokio::test]
async fn each_connection_records_the_jti_of_the_token_it_used() {
    let sim = spawn_default().await;
    let (old, new) = (token(&sim), token(&sim));
    let _a = HubClient::connect(&ws_url(&sim, HubKind::Market, &old)).await;
    let _b = HubClient::connect(&ws_url(&sim, HubKind::Market, &new)).await;
    let ids: Vec<String> = sim.hub_connections().into_iter().map(|c| c.token_id).collect();
    assert_eq!(ids, [jti(&old), jti(&new)]);
    assert_ne!(ids[0], ids[1]);
}

#[tokio::test]
async fn negotiate_then_connect_with_the_connection_token() {
    let sim = spawn_default().await;
    let token = token(&sim);
    let http = reqwest::Client::new();
    let negotiate = |hub_url: String, token: Option<String>| {
        let token = token.map(|t| format!("&access_token={t}")).unwrap_or_default();
        http.post(format!("{hub_url}/negotiate?negotiateVersion=1{token}")).send()
    };
    let refused = negotiate(sim.market_hub_url(), None).await.unwrap();
    assert_eq!(refused.status(), 401);
    let body: Value = negotiate(sim.market_hub_url(), Some(token.clone())).await.unwrap().json().await.unwrap();
    assert_eq!(body["negotiateVersion"], 1);
    assert!(body["connectionId"].is_string());
    let transports = json!([{ "transport": "WebSockets", "transferFormats": ["Text", "Binary"] }]);
    assert_eq!(body["availableTransports"], transports);
    let id = body["connectionToken"].as_str().unwrap();
    let url = format!("{}&id={id}", ws_url(&sim, HubKind::Market, &token));
    let _hub = HubClient::connect(&url).await;
    assert_eq!(refused_status(&url).await, 409, "a connection token is good for one socket");
    let unknown = format!("{}&id=nope", ws_url(&sim, HubKind::Market, &token));
    assert_eq!(refused_status(&unknown).await, 404);
    let user: Value = negotiate(sim.user_hub_url(), Some(token.clone())).await.unwrap().json().await.unwrap();
    let other_hub =
        format!("{}&id={}", ws_url(&sim, HubKind::Market, &token), user["connectionToken"].as_str().unwrap());
    assert_eq!(refused_status(&other_hub).await, 404, "a user-hub token on the market hub");
    assert_eq!(sim.hub_counters().negotiations, 2);
}

#[tokio::test]
async fn invocations_are_completed_refused_or_run_silently() {
    let sim = spawn_default().await;
    let mut hub = HubClient::connect_to(&sim, HubKind::Market).await;
    hub.call(Some("1"), "SubscribeContractQuotes", json!([MNQ])).await;
    assert_eq!(hub.next().await, Some(json!({ "type": 3, "invocationId": "1" })), "void: no result field");
    let snapshot = hub.next().await.unwrap();
    assert_eq!((&snapshot["target"], &snapshot["arguments"][0]), (&json!("GatewayQuote"), &json!(MNQ)));

    let unknown = hub.invoke("2", "Nope", json!([])).await;
    assert_eq!(unknown, json!({ "type": 3, "invocationId": "2", "error": "Unknown hub method 'Nope'" }));
    let arity = hub.invoke("3", "SubscribeContractTrades", json!([MNQ, 1])).await;
    assert!(arity["error"].as_str().unwrap().contains("provides 2 argument(s) but target expects 1"), "{arity}");
    let types = hub.invoke("4", "SubscribeContractTrades", json!([42])).await;
    assert!(types["error"].as_str().unwrap().contains("Error binding arguments"), "{types}");

    hub.call(None, "SubscribeContractTrades", json!([ES])).await;
    hub.call(None, "Nope", json!([])).await;
    let next = hub.invoke("5", "UnsubscribeContractQuotes", json!([MNQ])).await;
    assert_eq!(next, json!({ "type": 3, "invocationId": "5" }));
    assert_eq!(hub.next_within(Duration::from_millis(100)).await, None, "no answer without an invocation id");
    assert_eq!(sim.hub_connections()[0].subscriptions, [format!("trades:{ES}")]);
    assert_eq!(sim.hub_counters().subscribe_calls, 2);
}

#[tokio::test]
async fn server_pings_when_nothing_was_written_for_keep_alive() {
    let sim = spawn_sim(SimConfig { keep_alive: Duration::from_millis(100), ..SimConfig::default() }).await;
    let mut hub = HubClient::connect_to(&sim, HubKind::User).await;
    let started = tokio::time::Instant::now();
    for _ in 0..3 {
        assert_eq!(hub.next().await, Some(json!({ "type": 6 })));
    }
    assert!(started.elapsed() >= Duration::from_millis(250), "pings are spaced by keep_alive");
}

#[tokio::test]
async fn a_silent_client_is_dropped_after_client_timeout_but_a_pinging_one_stays() {
    let cfg = SimConfig { client_timeout: Duration::from_millis(300), ..SimConfig::default() };
    let sim = spawn_sim(cfg).await;
    let silent = HubClient::connect_to(&sim, HubKind::Market).await;
    let mut pinging = HubClient::connect_to(&sim, HubKind::Market).await;
    let keep_alive = async {
        for _ in 0..8 {
            pinging.send(json!({ "type": 6 })).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let (ending, ()) = tokio::join!(silent.ending(), keep_alive);
    assert!(ending.records.is_empty(), "dropped without a Close message: {:?}", ending.records);
    let counters = sim.hub_counters();
    assert_eq!((counters.client_timeouts, counters.pings_received), (1, 8));
    assert_eq!(sim.hub_connections().len(), 1, "the pinging client is still connected");
}

#[tokio::test]
async fn a_protocol_violation_closes_the_connection_with_an_error() {
    let sim = spawn_default().await;
    let mut hub = HubClient::connect_to(&sim, HubKind::Market).await;
    hub.send(json!({ "type": 1, "target": "SubscribeContractQuotes" })).await;
    let ending = hub.ending().await;
    let close = &ending.records[0];
    assert_eq!(close["type"], 7);
    assert!(close["error"].as_str().unwrap().starts_with("Connection closed with an error."), "{close}");
    assert_eq!(close.get("allowReconnect"), None);
    assert!(ending.close_frame);
}

#[tokio::test]
async fn a_client_close_message_ends_the_connection() {
    let sim = spawn_default().await;
    let mut hub = HubClient::connect_to(&sim, HubKind::User).await;
    hub.invoke("1", "SubscribeAccounts", json!([])).await;
    hub.send(json!({ "type": 7 })).await;
    let ending = hub.ending().await;
    assert!(ending.records.is_empty() && ending.close_frame);
    eventually("the connection is forgotten", || sim.hub_connections().is_empty()).await;
}
