//! A contract roll while the resolution is cached (issue: faults from the field, D): the first order refused with
//! `ContractNotActive` makes pxrelay resolve the symbol again and send the order once to the new front month; the
//! quote subscription follows; an explicit month is never moved.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use pxrelay_e2e::{SECRET, alert, app_on, quiet_sim};
use serde_json::json;

const PLACE: &str = "/api/Order/place";
const Z25: &str = "CON.F.US.MNQ.Z25";
const H26: &str = "CON.F.US.MNQ.H26";

#[tokio::test]
async fn a_roll_is_followed_at_once_and_an_explicit_month_is_never_moved() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[("QUOTE_SYMBOLS", "MNQ1!")]).await;
    let (_, first) = app.alert(alert(json!({"symbol": "MNQ1!", "action": "buy", "id": "before-roll"}))).await;
    assert_eq!(first["status"], "placed", "{first}");
    assert_eq!(sim.orders().last().unwrap().contract_id, Z25);

    sim.roll_to(H26);
    let (_, rolled) = app.alert(alert(json!({"symbol": "MNQ1!", "action": "buy", "id": "after-roll"}))).await;
    assert_eq!(rolled["status"], "placed", "{rolled}");
    let last = sim.orders().last().unwrap().clone();
    assert_eq!((last.contract_id.as_str(), last.status), (H26, 2), "filled on the new front month");
    assert_eq!(sim.counters().calls(PLACE), 3, "the refused attempt and one order on the new contract");
    let message = rolled["message"].as_str().unwrap();
    assert!(message.contains(Z25) && message.contains(H26), "{message}");
    let (_, row) = app.get_json(&format!("/alerts/after-roll?secret={SECRET}")).await;
    assert!(row["path"].as_str().unwrap().contains(&format!("rolled to {H26}")), "the journal records the roll: {row}");

    // The next alert goes straight to the new contract, and the quote subscription moved with it.
    let (_, next) = app.alert(alert(json!({"symbol": "MNQ1!", "action": "sell", "id": "next"}))).await;
    assert_eq!(next["status"], "closed", "{next}");
    assert_eq!(sim.counters().calls(PLACE), 3, "a close, no new refusal");
    let (_, status) = app.get_json("/status").await;
    let subscriptions = status["market"]["subscriptions"].to_string();
    assert!(subscriptions.contains(H26), "QUOTE_SYMBOLS moved to the new contract: {status}");

    // An alert naming the old month explicitly is refused, never silently moved.
    let (_, explicit) = app.alert(alert(json!({"symbol": "MNQZ25", "action": "buy", "id": "explicit"}))).await;
    assert_eq!(explicit["status"], "rejected", "{explicit}");
    assert!(explicit["message"].as_str().unwrap().contains("not moved"), "{explicit}");
    assert_eq!(sim.orders().last().unwrap().contract_id, Z25);
    app.stop().await.unwrap();
}
