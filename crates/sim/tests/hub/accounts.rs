//! Many accounts on one simulator (for fan-out tests): each has its own orders, positions, legs,
//! trades, balance and user-hub topics.

use rust_decimal::Decimal;

use super::support::*;

const ACCOUNTS: u16 = 25;

#[tokio::test]
async fn twenty_five_accounts_trade_independently() {
    let sim = spawn_sim(SimConfig::default().with_paper_accounts(ACCOUNTS)).await;
    let token = token(&sim);
    let listed = rest(&sim, &token, "/api/Account/search", json!({ "onlyActiveAccounts": true })).await;
    let ids: Vec<i64> = listed["accounts"].as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, (9001..=9025).collect::<Vec<i64>>());
    let watched = 9007;
    let mut hub = HubClient::connect_to(&sim, HubKind::User).await;
    for target in ["SubscribeOrders", "SubscribePositions", "SubscribeTrades"] {
        hub.invoke(target, target, json!([watched])).await;
    }

    let size = |account: i32| (account % 3) + 1;
    for account in 9001..=9025 {
        place(&sim, &token, bracketed_buy(account, size(account), -40, 4)).await;
    }
    let positions = sim.positions();
    assert_eq!(positions.len(), 25);
    for account in 9001..=9025 {
        let mine: Vec<_> = positions.iter().filter(|p| p.account_id == account).collect();
        assert_eq!((mine.len(), mine[0].size), (1, size(account)), "account {account}");
        let open = rest(&sim, &token, "/api/Order/searchOpen", json!({ "accountId": account })).await;
        assert_eq!(open["orders"].as_array().unwrap().len(), 2, "account {account}: its own two legs");
    }
    // Orders (entry open, filled, two legs), position and trade of the watched account only.
    let seen = hub.user_events(6).await;
    assert!(seen.iter().all(|(_, data)| data["accountId"] == json!(watched)), "{seen:?}");
    assert_eq!(hub.next_within(Duration::from_millis(100)).await, None, "nothing from the other 24");

    // One account closes; the others keep their positions. Then the target (+4 ticks) fills every
    // remaining long, and the closed account's target opens a short (its legs stayed working).
    let close =
        rest(&sim, &token, "/api/Position/closeContract", json!({ "accountId": 9010, "contractId": MNQ })).await;
    assert_eq!(close["success"], true);
    assert_eq!(sim.positions().len(), 24);
    sim.set_price(MNQ, "21001.25".parse().unwrap());
    let positions = sim.positions();
    assert_eq!(positions.len(), 1, "{positions:?}");
    assert_eq!((positions[0].account_id, positions[0].position_type, positions[0].size), (9010, 2, size(9010)));
    let fee = Decimal::new(37, 2);
    for account in sim.accounts() {
        let n = Decimal::from(size(account.id));
        let expected = if account.id == 9010 {
            Decimal::new(50_000, 0) - fee * n * Decimal::from(3)
        } else {
            Decimal::new(50_000, 0) + Decimal::from(2) * n - fee * n * Decimal::from(2)
        };
        assert_eq!(account.balance, expected, "account {}", account.id);
    }
}
