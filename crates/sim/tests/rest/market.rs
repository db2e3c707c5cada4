//! Contracts, history and wire details: search, bars, exact decimals, 400s.

use super::support::*;

#[tokio::test]
async fn bars_are_newest_first_and_close_at_the_set_price() {
    let t = spawn_default().await;
    let token = t.login().await;
    t.sim.set_price(ES, dec("6400.5"));
    let now = chrono::Utc::now();
    let request = json!({
        "contractId": ES, "live": false, "startTime": now - chrono::TimeDelta::days(2), "endTime": now,
        "unit": 2, "unitNumber": 5, "limit": 50, "includePartialBar": false,
    });
    let env = t.call("/api/History/retrieveBars", &token, request.clone()).await;
    let bars = env["bars"].as_array().unwrap();
    assert_eq!(bars.len(), 50);
    assert_eq!(bars[0]["c"].to_string(), "6400.5");
    let times: Vec<chrono::DateTime<chrono::Utc>> =
        bars.iter().map(|b| b["t"].as_str().unwrap().parse().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] - w[1] == chrono::TimeDelta::minutes(5)), "newest first");
    let mut bad = request;
    bad["unit"] = json!(9);
    assert_eq!(t.call("/api/History/retrieveBars", &token, bad.clone()).await["errorCode"], 2);
    bad["contractId"] = json!("CON.F.US.NOPE.Z25");
    assert_eq!(t.call("/api/History/retrieveBars", &token, bad).await["errorCode"], 1);
}

#[tokio::test]
async fn contract_search_for_nq_returns_more_than_nasdaq() {
    let t = spawn_default().await;
    let token = t.login().await;
    let env = t.call("/api/Contract/search", &token, json!({ "searchText": "nq", "live": false })).await;
    let symbols: Vec<&str> =
        env["contracts"].as_array().unwrap().iter().map(|c| c["symbolId"].as_str().unwrap()).collect();
    assert!(symbols.contains(&"F.US.ENQ") && symbols.contains(&"F.US.NQG"), "{symbols:?}");
    let by_id = t.call("/api/Contract/searchById", &token, json!({ "contractId": "CON.F.US.MNQ.H26" })).await;
    assert_eq!(by_id["contract"]["activeContract"], false);
    assert_eq!(by_id["contract"]["tickSize"].to_string(), "0.25");
    let missing = t.call("/api/Contract/searchById", &token, json!({ "contractId": "CON.F.US.XX.Z25" })).await;
    assert_eq!((missing["errorCode"].clone(), missing["contract"].clone()), (json!(1), Value::Null));
}

#[tokio::test]
async fn decimals_round_trip_exactly_and_must_be_numbers() {
    let t = spawn_default().await;
    let token = t.login().await;
    let limit =
        r#"{"accountId":9001,"contractId":"CON.F.US.EP.Z25","type":1,"side":0,"size":1,"limitPrice":6330.250000000}"#;
    let resp = t
        .http
        .post(format!("{}/api/Order/place", t.sim.base_url()))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(limit)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["success"], true);
    assert_eq!(t.sim.orders()[0].limit_price, Some(dec("6330.25")), "below ES's 6335.25: resting");
    let resp = t.post("/api/Order/searchOpen", Some(&token), json!({ "accountId": ACCOUNT })).await;
    let text = resp.text().await.unwrap();
    assert!(text.contains(r#""limitPrice":6330.250000000"#), "sent scale is kept: {text}");
    let now = chrono::Utc::now();
    let bars = json!({
        "contractId": ES, "startTime": now - chrono::TimeDelta::hours(1), "endTime": now,
        "unit": 2, "unitNumber": 1, "limit": 1, "includePartialBar": true,
    });
    let text = t.post("/api/History/retrieveBars", Some(&token), bars).await.text().await.unwrap();
    assert!(text.contains(r#""c":6335.25"#), "{text}");
    let as_string =
        json!({ "accountId": ACCOUNT, "contractId": ES, "type": 1, "side": 0, "size": 1, "limitPrice": "6335.25" });
    assert_eq!(t.post("/api/Order/place", Some(&token), as_string).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn malformed_bodies_and_missing_fields_get_400() {
    let t = spawn_default().await;
    let token = t.login().await;
    let missing = t.post("/api/Auth/loginKey", None, json!({ "userName": "sim-user" })).await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    let problem: Value = missing.json().await.unwrap();
    assert_eq!(problem["status"], 400);
    let garbage = t
        .http
        .post(format!("{}/api/Order/place", t.sim.base_url()))
        .bearer_auth(&token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);
    let no_size = json!({ "accountId": ACCOUNT, "contractId": MNQ, "type": 2, "side": 0 });
    assert_eq!(t.post("/api/Order/place", Some(&token), no_size).await.status(), StatusCode::BAD_REQUEST);
}
