//! Target-position alerts (issue 11): `target_position` (`{{strategy.position_size}}`) is the signed position to end
//! on; pxrelay sends exactly the one order that reaches it, nothing when already there, and self-heals after a
//! missed alert.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use pxrelay_e2e::{alert, app_on, mnq_position, quiet_sim};
use serde_json::json;

#[tokio::test]
async fn targets_2_2_minus1_0_0_send_buy_2_nothing_sell_3_a_close_and_nothing() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[]).await;
    let calls = || {
        let c = sim.counters();
        (c.calls("/api/Order/place"), c.calls("/api/Position/closeContract"))
    };
    let mut answers = Vec::new();
    for (i, target) in [2, 2, -1, 0, 0].into_iter().enumerate() {
        // The strategy template's fields: the target drives, action and quantity do not size the order.
        let body = alert(json!({"action": "buy", "quantity": 7, "position_size": target, "id": format!("t{i}")}));
        let (code, answer) = app.alert(body).await;
        assert_eq!(code, 200, "{answer}");
        answers.push((answer["status"].as_str().unwrap().to_owned(), calls(), mnq_position(&sim)));
    }
    let statuses: Vec<&str> = answers.iter().map(|(s, _, _)| s.as_str()).collect();
    assert_eq!(statuses, ["placed", "noop", "placed", "closed", "noop"], "{answers:?}");
    let positions: Vec<i64> = answers.iter().map(|(_, _, p)| *p).collect();
    assert_eq!(positions, [2, 2, -1, 0, 0]);
    let gateway: Vec<(u64, u64)> = answers.iter().map(|(_, c, _)| *c).collect();
    assert_eq!(gateway, [(1, 0), (1, 0), (2, 0), (2, 1), (2, 1)], "one order per change, none when already there");
    let sells: Vec<i32> = sim.orders().iter().filter(|o| o.side == 1).map(|o| o.size).collect();
    assert_eq!(sells, [3], "from +2 to -1 is one sell of 3");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_target_needs_no_action_respects_max_contracts_and_conflicts_with_exit() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[("MAX_CONTRACTS", "3")]).await;
    let (_, answer) = app.alert(alert(json!({"target_position": -2, "id": "a"}))).await;
    assert_eq!(answer["status"], "placed", "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("target position -2"),
        "the answer names the target: {answer}"
    );
    assert_eq!(mnq_position(&sim), -2);
    let (_, answer) = app.alert(alert(json!({"target_position": 4, "id": "b"}))).await;
    assert_eq!(answer["status"], "rejected", "a position of 4 exceeds MAX_CONTRACTS 3: {answer}");
    assert_eq!(mnq_position(&sim), -2);
    let (code, answer) = app.alert(alert(json!({"action": "exit", "target_position": 0, "id": "c"}))).await;
    assert_eq!((code, answer["error"].as_str()), (400, Some("bad_payload")), "{answer}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn flipping_between_long_1_and_short_1_is_one_order_per_alert() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[]).await;
    for i in 0..10 {
        let target = if i % 2 == 0 { 1 } else { -1 };
        let (_, answer) = app.alert(alert(json!({"target_position": target, "id": format!("flip-{i}")}))).await;
        assert_eq!(answer["status"], "placed", "alert {i}: {answer}");
        assert_eq!(mnq_position(&sim), target, "alert {i}");
    }
    assert_eq!(sim.counters().calls("/api/Order/place"), 10);
    app.stop().await.unwrap();
}
