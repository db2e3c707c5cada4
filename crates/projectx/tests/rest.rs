//! The REST client against the simulator: every endpoint, read retries, no blind retry of money-moving calls,
//! rate budgets and 429 handling, exact decimals.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

mod common;

use std::time::Duration;

use chrono::Utc;
use common::*;
use projectx::{
    BarUnit, BarsRequest, Bracket, ContractId, Error, ModifyOrder, OrderSide, OrderStatus, OrderType, PlaceOrder,
};
use projectx_sim::{RateLimit, Scope, SimConfig};
use rust_decimal::Decimal;

const MNQ: &str = "CON.F.US.MNQ.Z25";

fn mnq_id() -> ContractId {
    ContractId::new(MNQ)
}

async fn ready() -> (projectx_sim::SimHandle, projectx::Client) {
    let sim = sim().await;
    let client = client(config(&sim, Some(credentials(&sim)), None));
    (sim, client)
}

fn order(side: OrderSide, order_type: OrderType, tag: &str) -> PlaceOrder {
    PlaceOrder {
        account_id: ACCOUNT,
        contract_id: MNQ.into(),
        order_type,
        side,
        size: 1,
        limit_price: None,
        stop_price: None,
        trail_price: None,
        custom_tag: Some(tag.into()),
        stop_loss_bracket: None,
        take_profit_bracket: None,
    }
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

#[tokio::test]
async fn every_endpoint_round_trips_against_the_simulator() {
    let (sim, client) = ready().await;
    let accounts = client.accounts(true).await.unwrap();
    assert!(accounts[0].can_trade);

    let found = client.search_contracts("NQ", false).await.unwrap();
    assert!(found.iter().any(|c| c.id == MNQ));
    assert!(found.iter().any(|c| c.symbol_id.as_deref() != Some("F.US.MNQ")), "substring search finds other products");
    let mnq = client.contract_by_id(&mnq_id()).await.unwrap();
    assert_eq!(mnq.tick_size, dec("0.25"));
    assert!(client.available_contracts(false).await.unwrap().len() >= 5);

    sim.set_price(MNQ, dec("21000.50"));
    let bars = client
        .retrieve_bars(&BarsRequest {
            contract_id: MNQ.into(),
            live: false,
            start_time: Utc::now() - chrono::Duration::minutes(30),
            end_time: Utc::now(),
            unit: BarUnit::Minute,
            unit_number: 1,
            limit: 10,
            include_partial_bar: true,
        })
        .await
        .unwrap();
    assert!(!bars.is_empty() && bars.len() <= 10);
    assert!(bars.windows(2).all(|w| w[0].t <= w[1].t), "returned oldest first");
    assert_eq!(bars.last().unwrap().c, dec("21000.50"), "newest close is the current price, exactly");

    let buy = client.place_order(&order(OrderSide::Bid, OrderType::Market, "t1")).await.unwrap();
    let positions = client.open_positions(ACCOUNT).await.unwrap();
    assert_eq!((positions.len(), positions[0].size), (1, 1));
    let orders = client.search_orders(ACCOUNT, Utc::now() - chrono::Duration::hours(1), None).await.unwrap();
    let placed = orders.iter().find(|o| o.id == buy).unwrap();
    assert_eq!((placed.status, placed.custom_tag.as_deref()), (OrderStatus::Filled, Some("t1")));

    let mut limit = order(OrderSide::Bid, OrderType::Limit, "t2");
    limit.limit_price = Some(dec("20000.25"));
    let working = client.place_order(&limit).await.unwrap();
    assert!(client.open_orders(ACCOUNT).await.unwrap().iter().any(|o| o.id == working));
    client
        .modify_order(&ModifyOrder { limit_price: Some(dec("20001.00")), ..ModifyOrder::new(ACCOUNT, working) })
        .await
        .unwrap();
    client.cancel_order(ACCOUNT, working).await.unwrap();
    assert!(client.open_orders(ACCOUNT).await.unwrap().iter().all(|o| o.id != working));

    client.place_order(&order(OrderSide::Bid, OrderType::Market, "t3")).await.unwrap();
    client.partial_close_position(ACCOUNT, &mnq_id(), 1).await.unwrap();
    client.close_position(ACCOUNT, &mnq_id()).await.unwrap();
    assert!(client.open_positions(ACCOUNT).await.unwrap().is_empty());
    let trades = client.search_trades(ACCOUNT, Utc::now() - chrono::Duration::hours(1), None).await.unwrap();
    assert!(trades.len() >= 4);
    assert!(trades.iter().any(|t| t.profit_and_loss.is_none()), "opening fills carry no P&L");
}

#[tokio::test]
async fn business_rejections_carry_the_endpoint_code_name_and_message() {
    let (_sim, client) = ready().await;
    let mut bad = order(OrderSide::Bid, OrderType::Market, "br");
    bad.stop_loss_bracket = Some(Bracket { ticks: 10, order_type: OrderType::Stop });
    match client.place_order(&bad).await {
        Err(Error::Rejected { code: 2, name: "OrderRejected", message: Some(m), order_id: Some(_), .. }) => {
            assert!(m.contains("less than zero"), "{m}");
        }
        other => panic!("unexpected {other:?}"),
    }
    match client.close_position(ACCOUNT, &mnq_id()).await {
        Err(Error::Rejected { code: 2, name: "PositionNotFound", .. }) => {}
        other => panic!("unexpected {other:?}"),
    }
    client.place_order(&order(OrderSide::Bid, OrderType::Market, "open")).await.unwrap();
    match client.partial_close_position(ACCOUNT, &mnq_id(), 0).await {
        Err(Error::Rejected { code: 5, name: "InvalidCloseSize", .. }) => {}
        other => panic!("unexpected {other:?}"),
    }
    match client.contract_by_id(&ContractId::new("CON.F.US.NOPE.Z25")).await {
        Err(Error::Rejected { name: "ContractNotFound", .. }) => {}
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn reads_are_retried_through_transient_failures() {
    let (sim, client) = ready().await;
    client.tokens().ensure_valid_token().await.unwrap();
    sim.fail_next(2, 503, Scope::Path("/api/Account/search".into()));
    assert_eq!(client.accounts(true).await.unwrap().len(), 1);
    assert_eq!(sim.counters().calls("/api/Account/search"), 3);
}

#[tokio::test]
async fn an_order_answered_with_5xx_is_ambiguous_and_never_resent() {
    let (sim, client) = ready().await;
    client.tokens().ensure_valid_token().await.unwrap();
    sim.fail_next_after_processing(1, 500, Scope::Path("/api/Order/place".into()));
    let err = client.place_order(&order(OrderSide::Bid, OrderType::Market, "amb")).await.unwrap_err();
    assert!(matches!(err, Error::Ambiguous { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(sim.counters().calls("/api/Order/place"), 1, "not retried");
    assert_eq!(sim.orders().len(), 1, "the gateway did act: that is why the outcome must be reconciled");
    // Reconciliation by customTag finds it.
    let orders = client.search_orders(ACCOUNT, Utc::now() - chrono::Duration::minutes(5), None).await.unwrap();
    assert_eq!(orders.iter().filter(|o| o.custom_tag.as_deref() == Some("amb")).count(), 1);
}

#[tokio::test]
async fn an_order_that_times_out_after_sending_is_ambiguous() {
    let sim = sim().await;
    let mut cfg = config(&sim, Some(credentials(&sim)), None);
    cfg.request_timeout = Duration::from_millis(500);
    let client = client(cfg);
    client.tokens().ensure_valid_token().await.unwrap();
    sim.set_latency(Duration::from_millis(900));
    let err = client.place_order(&order(OrderSide::Bid, OrderType::Market, "slow")).await.unwrap_err();
    assert!(matches!(err, Error::Ambiguous { .. }), "{err:?}");
    assert_eq!(sim.counters().calls("/api/Order/place"), 1);
}

#[tokio::test]
async fn an_unreachable_gateway_is_a_plain_transport_error_for_orders() {
    let sim = sim().await;
    let mut cfg = config(&sim, Some(credentials(&sim)), Some(sim.issue_token(Duration::from_secs(3600))));
    // Nothing listens on port 9 of loopback: the connection is refused before anything is sent.
    cfg.api_url = "http://127.0.0.1:9".parse().unwrap();
    let client = client(cfg);
    let err = client.place_order(&order(OrderSide::Bid, OrderType::Market, "x")).await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
}

#[tokio::test]
async fn a_429_pauses_the_client_for_retry_after_and_the_read_then_succeeds() {
    let sim = sim_with(SimConfig {
        general_limit: Some(RateLimit { requests: 3, window: Duration::from_secs(2) }),
        ..SimConfig::default()
    })
    .await;
    // The client's own budget is looser than the sim's, so a 429 really arrives.
    let client = client(config(&sim, Some(credentials(&sim)), Some(sim.issue_token(Duration::from_secs(3600)))));
    let start = tokio::time::Instant::now();
    for _ in 0..5 {
        client.accounts(true).await.unwrap();
    }
    let c = sim.counters();
    assert!(c.rate_limited >= 1, "{c:?}");
    assert!(start.elapsed() >= Duration::from_secs(1), "waited for Retry-After");
}

#[tokio::test]
async fn the_client_budget_keeps_the_gateway_from_ever_answering_429() {
    let limit = RateLimit { requests: 10, window: Duration::from_secs(2) };
    let sim = sim_with(SimConfig { general_limit: Some(limit), ..SimConfig::default() }).await;
    let mut cfg = config(&sim, Some(credentials(&sim)), Some(sim.issue_token(Duration::from_secs(3600))));
    cfg.general_limit = projectx::RateLimit { requests: 10, window: Duration::from_secs(2) };
    let client = client(cfg);
    let start = tokio::time::Instant::now();
    let tasks: Vec<_> = (0..25)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.accounts(true).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(sim.counters().rate_limited, 0);
    assert!(start.elapsed() >= Duration::from_secs(4), "25 calls at 10 per 2 s take two more windows");
}
