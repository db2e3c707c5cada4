//! Refusals leave a trace where the trader looks (issue: faults from the field, I): every refusal of an
//! authenticated alert is journaled with its reason and listed by `GET /alerts`; unauthenticated requests leave none.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use pxrelay_e2e::{SECRET, alert, app_on, quiet_sim};
use serde_json::{Value, json};

#[tokio::test]
async fn authenticated_refusals_are_journaled_with_their_reason_and_unauthenticated_ones_are_not() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[("ALLOWED_SYMBOLS", "MNQ")]).await;
    let refusals = [
        (alert(json!({"action": "buy", "stoploss": 40})), 400, "stoploss"),
        (alert(json!({"symbol": "ZZZ", "action": "buy"})), 422, "ZZZ"),
        (alert(json!({"symbol": "ES", "action": "buy"})), 422, "ALLOWED_SYMBOLS"),
        (alert(json!({"action": "buy", "account": "nobody"})), 422, "nobody"),
    ];
    for (body, code, _) in &refusals {
        let (got, answer) = app.alert(body.clone()).await;
        assert_eq!(got, *code, "{answer}");
    }
    // Not authenticated: nothing is journaled (the sender may be anyone).
    let (code, _) = app.alert(json!({"secret": "wrong", "symbol": "MNQ", "action": "buy"})).await;
    assert_eq!(code, 401);
    let (_, list) = app.get_json(&format!("/alerts?secret={SECRET}")).await;
    let rows = list["alerts"].as_array().unwrap();
    assert_eq!(rows.len(), refusals.len(), "{list}");
    for (_, _, reason) in refusals {
        let row = rows.iter().find(|r| r["error"].as_str().unwrap_or_default().contains(reason));
        let row = row.unwrap_or_else(|| panic!("no journaled refusal mentions `{reason}`: {list}"));
        assert_eq!(row["status"], "rejected", "{row}");
        assert!(!row["raw_body"].as_str().unwrap().contains(SECRET), "the secret is not journaled: {row}");
    }
    let unknown = rows.iter().find(|r| r["error"].as_str().unwrap().contains("ZZZ")).unwrap();
    assert_eq!(unknown["intent"]["symbol"], "ZZZ", "the intent is kept when it could be read: {unknown}");
    let bad = rows.iter().find(|r| r["error"].as_str().unwrap().contains("stoploss")).unwrap();
    assert_eq!(bad["intent"], Value::Null, "{bad}");
    assert_eq!(sim.counters().calls("/api/Order/place"), 0);
    app.stop().await.unwrap();
}
