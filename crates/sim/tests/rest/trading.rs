//! Orders, positions and trades: fills, P&L, closes, customTag uniqueness, bracket validation,
//! resting orders (their fills on price moves are in `brackets.rs` and `resting.rs`).

use super::support::*;

#[tokio::test]
async fn market_buy_fills_and_close_flattens_with_realised_pnl() {
    let t = spawn_default().await;
    let token = t.login().await;
    let placed = t.place(&token, market_order(MNQ, 0, 2)).await;
    assert_eq!(placed["success"], true, "{placed}");
    let id = placed["orderId"].as_i64().unwrap();
    let order = &t.sim.orders()[0];
    assert_eq!((order.id, order.status, order.fill_volume), (id, 2, 2));
    assert_eq!(order.filled_price, Some(dec("21000.25")));
    let positions = t.call("/api/Position/searchOpen", &token, json!({ "accountId": ACCOUNT })).await;
    let position = &positions["positions"][0];
    assert_eq!((position["type"].clone(), position["size"].clone()), (json!(1), json!(2)));
    assert_eq!(position["averagePrice"].to_string(), "21000.25");

    t.sim.set_price(MNQ, dec("21010.25"));
    let closed =
        t.call("/api/Position/closeContract", &token, json!({ "accountId": ACCOUNT, "contractId": MNQ })).await;
    assert_eq!(closed["success"], true, "{closed}");
    assert!(t.sim.positions().is_empty());
    let start = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    let trades = t.call("/api/Trade/search", &token, json!({ "accountId": ACCOUNT, "startTimestamp": start })).await;
    let trades = trades["trades"].as_array().unwrap();
    assert_eq!(trades.len(), 2);
    assert_eq!(trades[0]["profitAndLoss"], Value::Null, "opening fill");
    assert_eq!(trades[1]["profitAndLoss"].to_string(), "40", "10 points = 40 ticks × 0.5 × 2 contracts");
    assert_eq!(trades[1]["side"], 1);
    assert_eq!(t.sim.accounts()[0].balance, dec("50038.52"), "+40 P&L - 4 × 0.37 fees");
    let again = t.call("/api/Position/closeContract", &token, json!({ "accountId": ACCOUNT, "contractId": MNQ })).await;
    assert_eq!((again["success"].clone(), again["errorCode"].clone()), (json!(false), json!(2)));
}

#[tokio::test]
async fn partial_close_uses_its_own_error_codes() {
    let t = spawn_default().await;
    let token = t.login().await;
    let partial = |size: i32| json!({ "accountId": ACCOUNT, "contractId": ES, "size": size });
    let none = t.call("/api/Position/partialCloseContract", &token, partial(1)).await;
    assert_eq!(none["errorCode"], 2, "PositionNotFound");
    t.place(&token, market_order(ES, 1, 3)).await;
    for size in [0, 4] {
        let bad = t.call("/api/Position/partialCloseContract", &token, partial(size)).await;
        assert_eq!(bad["errorCode"], 5, "InvalidCloseSize for {size}");
    }
    let ok = t.call("/api/Position/partialCloseContract", &token, partial(2)).await;
    assert_eq!(ok["success"], true, "{ok}");
    let position = &t.sim.positions()[0];
    assert_eq!((position.position_type, position.size), (2, 1));
}

#[tokio::test]
async fn duplicate_custom_tag_is_rejected_with_code_2_but_gets_an_order_id() {
    let t = spawn_default().await;
    let token = t.login().await;
    let mut order = market_order(ES, 0, 1);
    order["customTag"] = json!("tv-1");
    let first = t.place(&token, order.clone()).await;
    assert_eq!(first["success"], true);
    let second = t.place(&token, order).await;
    assert_eq!((second["success"].clone(), second["errorCode"].clone()), (json!(false), json!(2)));
    assert_eq!(second["errorMessage"], "The custom tag 'tv-1' is not unique within account 9001.");
    let id = second["orderId"].as_i64().expect("an order id despite the rejection");
    assert_ne!(Some(id), first["orderId"].as_i64());
    let stored = t.sim.orders().into_iter().find(|o| o.id == id).unwrap();
    assert_eq!((stored.status, stored.rejection.is_some()), (5, true));
}

#[tokio::test]
async fn brackets_with_the_wrong_sign_are_rejected_and_good_ones_create_children() {
    let t = spawn_default().await;
    let token = t.login().await;
    let mut order = market_order(MNQ, 0, 1);
    order["stopLossBracket"] = json!({ "ticks": 10, "type": 4 });
    let rejected = t.place(&token, order.clone()).await;
    assert_eq!(rejected["errorCode"], 2);
    assert_eq!(rejected["errorMessage"], "Invalid stop loss ticks (10). Ticks should be less than zero when longing.");
    assert!(rejected["orderId"].is_i64());
    assert!(t.sim.positions().is_empty());

    order["stopLossBracket"] = json!({ "ticks": -10, "type": 4 });
    order["takeProfitBracket"] = json!({ "ticks": 20, "type": 1 });
    let placed = t.place(&token, order).await;
    assert_eq!(placed["success"], true, "{placed}");
    let open = t.call("/api/Order/searchOpen", &token, json!({ "accountId": ACCOUNT })).await;
    let children = open["orders"].as_array().unwrap();
    assert_eq!(children.len(), 2);
    assert!(children.iter().all(|c| c["parentOrderId"] == placed["orderId"] && c["side"] == 1));
    assert_eq!(children[0]["stopPrice"].to_string(), "20997.75");
    assert_eq!(children[1]["limitPrice"].to_string(), "21005.25");
}

#[tokio::test]
async fn limit_orders_rest_and_can_be_modified_and_cancelled() {
    let t = spawn_default().await;
    let token = t.login().await;
    let limit = json!({ "accountId": ACCOUNT, "contractId": MNQ, "type": 1, "side": 0, "size": 1, "limitPrice": num("20900.5") });
    let id = t.place(&token, limit).await["orderId"].as_i64().unwrap();
    let modify = |price: &str| json!({ "accountId": ACCOUNT, "orderId": id, "limitPrice": num(price) });
    let bad = t.call("/api/Order/modify", &token, modify("20900.1")).await;
    assert_eq!(bad["errorCode"], 3, "{bad}");
    assert_eq!(t.call("/api/Order/modify", &token, modify("20901")).await["success"], true);
    let found = t.call("/api/Order/searchById", &token, json!({ "accountId": ACCOUNT, "orderId": id })).await;
    assert_eq!(
        (found["order"]["status"].clone(), found["order"]["limitPrice"].to_string()),
        (json!(1), "20901".into())
    );
    let cancel = json!({ "accountId": ACCOUNT, "orderId": id });
    assert_eq!(t.call("/api/Order/cancel", &token, cancel.clone()).await["success"], true);
    assert_eq!(t.sim.orders()[0].status, 3);
    assert_eq!(t.call("/api/Order/cancel", &token, cancel).await["errorCode"], 3);
    let unknown = t.call("/api/Order/cancel", &token, json!({ "accountId": ACCOUNT, "orderId": 1 })).await;
    assert_eq!(unknown["errorCode"], 2);
    let no_account = t.call("/api/Order/searchOpen", &token, json!({ "accountId": 1 })).await;
    assert_eq!(no_account["errorCode"], 1);
}

#[tokio::test]
async fn twenty_paper_accounts_trade_on_their_own_and_one_can_be_made_untradable() {
    let t = spawn_sim(SimConfig::default().with_paper_accounts(20)).await;
    let token = t.login().await;
    let listed = t.call("/api/Account/search", &token, json!({ "onlyActiveAccounts": true })).await;
    assert_eq!(listed["accounts"].as_array().map(Vec::len), Some(20), "{listed}");
    assert_eq!(listed["accounts"][19]["name"], "SIM-PAPER-20");
    let order = |account: i32| json!({ "accountId": account, "contractId": MNQ, "type": 2, "side": 0, "size": 1 });
    assert!(t.sim.set_can_trade(9007, false));
    assert!(!t.sim.set_can_trade(1234, false), "an unknown account is reported");
    let refused = t.place(&token, order(9007)).await;
    assert_eq!((refused["success"].clone(), refused["errorCode"].clone()), (json!(false), json!(10)), "{refused}");
    assert_eq!(t.place(&token, order(9008)).await["success"], true, "the other accounts still trade");
    let active = t.call("/api/Account/search", &token, json!({ "onlyActiveAccounts": true })).await;
    assert_eq!(active["accounts"].as_array().map(Vec::len), Some(19), "an untradable account is not active");
    let all = t.call("/api/Account/search", &token, json!({ "onlyActiveAccounts": false })).await;
    let blocked = all["accounts"].as_array().unwrap().iter().find(|a| a["id"] == 9007).cloned();
    assert_eq!(blocked.map(|a| a["canTrade"].clone()), Some(json!(false)));
    assert!(t.sim.set_can_trade(9007, true));
    assert_eq!(t.place(&token, order(9007)).await["success"], true, "tradable again");
}
