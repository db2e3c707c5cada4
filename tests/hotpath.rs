//! The hot path's gateway calls (issue 17): an alert sends exactly the calls its kind needs, because positions and
//! working orders come from the account's live book (user hub), never from a REST read first. Counted at the
//! simulator, across every `/api/` path, around each alert.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use pxrelay_e2e::{TestApp, alert, env_for, mnq_position, quiet_sim, spawn_app};
use serde_json::json;

/// An alert kind, its fields, the gateway calls it must make (path, count) and the position after it.
type Step = (&'static str, serde_json::Value, Vec<(&'static str, u64)>, i64);

/// Waits until the account's book is live and the warm-up's own reads are done.
async fn book_live(app: &TestApp) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (_, status) = app.get_json("/status").await;
        if status["accounts"][0]["live"] == true {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "the book goes live: {status}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Every REST call the simulator has seen, by path.
fn calls(sim: &projectx_sim::SimHandle) -> std::collections::BTreeMap<String, u64> {
    sim.counters().calls
}

/// The calls made between two snapshots, by path (paths with no new call left out).
fn made(
    before: &std::collections::BTreeMap<String, u64>,
    after: &std::collections::BTreeMap<String, u64>,
) -> Vec<(String, u64)> {
    after
        .iter()
        .filter_map(|(path, n)| {
            let new = n - before.get(path).copied().unwrap_or(0);
            (new > 0).then(|| (path.clone(), new))
        })
        .collect()
}

#[tokio::test]
async fn entry_exit_reverse_target_and_duplicate_make_1_1_2_1_and_0_gateway_calls() {
    let sim = quiet_sim().await;
    let mut env = env_for(&sim);
    env.insert("WEBHOOK_SECRET".into(), pxrelay_e2e::SECRET.into());
    // A first run trades MNQ once (its first alert resolves the symbol: one `Contract/search`)...
    let first = spawn_app(sim.clone(), env.clone()).await.unwrap();
    book_live(&first).await;
    let (_, answer) = first.alert(alert(json!({"action": "buy", "id": "yesterday"}))).await;
    assert_eq!(answer["status"], "placed", "{answer}");
    let (_, answer) = first.alert(alert(json!({"action": "exit", "id": "yesterday-exit"}))).await;
    assert_eq!(answer["status"], "closed", "{answer}");
    first.stop().await.unwrap();
    // ...and after a restart on the same journal, the warm-up resolved it ahead: every alert below pays only its
    // own order calls.
    let app = spawn_app(sim.clone(), env).await.unwrap();
    book_live(&app).await;
    // Each alert kind, its body, and the calls it must make (nothing else: no Position/searchOpen, no Order/search).
    let place = "/api/Order/place";
    let close = "/api/Position/closeContract";
    let steps: Vec<Step> = vec![
        ("entry", json!({"action": "buy", "quantity": 1, "id": "e1"}), vec![(place, 1)], 1),
        ("exit", json!({"action": "exit", "id": "x1"}), vec![(close, 1)], 0),
        ("entry", json!({"action": "sell", "quantity": 2, "id": "e2"}), vec![(place, 1)], -2),
        ("reverse", json!({"action": "reverse", "quantity": 1, "id": "r1"}), vec![(close, 1), (place, 1)], 1),
        ("target", json!({"target_position": 3, "id": "t1"}), vec![(place, 1)], 3),
        ("duplicate", json!({"target_position": 3, "id": "t1"}), vec![], 3),
        ("entry adding", json!({"action": "buy", "quantity": 1, "id": "e3"}), vec![(place, 1)], 4),
        ("exit", json!({"action": "exit", "id": "x2"}), vec![(close, 1)], 0),
        (
            "entry with brackets",
            json!({"action": "buy", "quantity": 1, "stop_loss_ticks": 40, "take_profit_ticks": 80, "id": "b1"}),
            vec![(place, 1)],
            1,
        ),
    ];
    for (kind, fields, expected, position) in steps {
        let before = calls(&sim);
        let (code, answer) = app.alert(alert(fields)).await;
        assert!(code == 200 || code == 409, "{kind}: {code} {answer}");
        let after = calls(&sim);
        let expected: Vec<(String, u64)> = {
            let mut e: Vec<(String, u64)> = expected.into_iter().map(|(p, n)| (p.to_owned(), n)).collect();
            e.sort();
            e
        };
        assert_eq!(made(&before, &after), expected, "{kind}: gateway calls; answer {answer}");
        assert_eq!(mnq_position(&sim), position, "{kind}: position at the simulator; answer {answer}");
    }
    // An exit of a position with bracket legs (which the gateway leaves working, §9): the answer comes after the
    // close, and the legs are cancelled right after it, before anything else on the account. Each cancel's answer
    // is held 2 s at the simulator, and the cancels go one after the other: had they run before the answer, both
    // would be made by the time it arrives.
    let cancel = "/api/Order/cancel";
    sim.set_latency_for(projectx_sim::Scope::Path(cancel.into()), std::time::Duration::from_secs(2));
    let before = calls(&sim);
    let (_, answer) = app.alert(alert(json!({"action": "exit", "id": "bx"}))).await;
    assert_eq!(answer["status"], "closed", "{answer}");
    let at_answer = made(&before, &calls(&sim));
    assert!(
        at_answer == [(close.to_owned(), 1)] || at_answer == [(cancel.to_owned(), 1), (close.to_owned(), 1)],
        "the exit was answered after its close, before its legs' cancels: {at_answer:?}"
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while sim.orders().iter().any(|o| o.status == 1) {
        assert!(tokio::time::Instant::now() < deadline, "the legs are cancelled after the answer: {:?}", sim.orders());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(made(&before, &calls(&sim)), [(cancel.to_owned(), 2), (close.to_owned(), 1)]);
    sim.set_latency_for(projectx_sim::Scope::Path(cancel.into()), std::time::Duration::ZERO);
    let metrics = app.http.get(format!("http://{}/metrics", app.addr)).send().await.unwrap().text().await.unwrap();
    let fallbacks = metrics
        .lines()
        .find(|l| l.starts_with("pxrelay_position_rest_fallbacks_total"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or("missing");
    assert_eq!(fallbacks, "0", "every position came from the live book");
    app.stop().await.unwrap();
}
