//! Recorded gateway JSON (shapes from the API reference's examples) decodes into the models, and prices stay exact.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use projectx::{
    AccountId, Bar, Contract, ContractId, Order, OrderId, OrderSide, OrderStatus, OrderType, PlaceOrder, Position,
    PositionType, Trade,
};
use rust_decimal::Decimal;

fn fixture(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn nine_fractional_digits_decode_to_the_exact_price() {
    let bars: Vec<Bar> = serde_json::from_value(fixture("retrieve_bars.json")["bars"].clone()).unwrap();
    assert_eq!(bars[0].c, "6335.25".parse::<Decimal>().unwrap());
    assert_eq!(bars[0].c.normalize().to_string(), "6335.25");
    assert_eq!(bars[0].o.normalize().to_string(), "6335.5");
}

#[test]
fn decimals_are_written_as_exact_json_numbers() {
    let order = PlaceOrder {
        account_id: AccountId::new(1),
        contract_id: "CON.F.US.EP.Z25".into(),
        order_type: OrderType::Limit,
        side: OrderSide::Bid,
        size: 1,
        limit_price: Some("6335.250000000".parse().unwrap()),
        stop_price: None,
        trail_price: None,
        custom_tag: None,
        stop_loss_bracket: None,
        take_profit_bracket: None,
    };
    let json = serde_json::to_string(&order).unwrap();
    assert!(json.starts_with(r#"{"accountId":1,"contractId":"CON.F.US.EP.Z25","#), "ids are bare values: {json}");
    assert!(json.contains(r#""limitPrice":6335.250000000"#), "{json}");
    assert!(json.contains(r#""type":1"#) && json.contains(r#""side":0"#), "{json}");
    assert!(!json.contains("stopPrice"), "absent fields are not sent: {json}");
    let back: serde_json::Value = serde_json::from_str(&json).unwrap();
    let price: Decimal = serde_json::from_value(back["limitPrice"].clone()).unwrap();
    assert_eq!(price.normalize().to_string(), "6335.25");
}

#[test]
fn recorded_models_decode() {
    let orders: Vec<Order> = serde_json::from_value(fixture("order_search.json")["orders"].clone()).unwrap();
    assert_eq!(orders[0].status, OrderStatus::Filled);
    assert_eq!(orders[0].filled_price.unwrap().normalize().to_string(), "5950.25");
    assert_eq!(orders[1].order_type, OrderType::Limit);
    assert!(orders[1].update_timestamp.is_none());

    let positions: Vec<Position> =
        serde_json::from_value(fixture("position_search.json")["positions"].clone()).unwrap();
    assert_eq!(positions[0].position_type, PositionType::Long);

    let trades: Vec<Trade> = serde_json::from_value(fixture("trade_search.json")["trades"].clone()).unwrap();
    assert!(trades[0].profit_and_loss.is_none(), "null P&L is a half-turn");
    assert_eq!(trades[1].profit_and_loss.unwrap().normalize().to_string(), "12.5");

    let contract: Contract = serde_json::from_value(fixture("contract_by_id.json")["contract"].clone()).unwrap();
    assert_eq!(contract.symbol_id.as_deref(), Some("F.US.ENQ"));
    assert_eq!(contract.tick_value.normalize().to_string(), "5");
}

/// The typed ids are `serde(transparent)`: a recorded answer decodes into them, and writing the model back gives
/// the very same id values (numbers stay numbers, the contract id stays a string).
#[test]
fn recorded_ids_decode_into_typed_ids_and_are_written_back_unchanged() {
    let raw = fixture("order_search.json")["orders"][0].clone();
    let order: Order = serde_json::from_value(raw.clone()).unwrap();
    assert_eq!(order.id, OrderId::new(26060));
    assert_eq!(order.account_id, AccountId::new(545));
    assert_eq!(order.contract_id, ContractId::new("CON.F.US.EP.M25"));
    let back = serde_json::to_value(&order).unwrap();
    for key in ["id", "accountId", "contractId"] {
        assert_eq!(back[key], raw[key], "{key}");
    }
    assert_eq!(serde_json::to_string(&back["id"]).unwrap(), "26060");

    let raw = fixture("position_search.json")["positions"][0].clone();
    let position: Position = serde_json::from_value(raw.clone()).unwrap();
    assert_eq!((position.account_id, position.contract_id.as_str()), (AccountId::new(536), "CON.F.US.GMET.J25"));
    let back = serde_json::to_value(&position).unwrap();
    for key in ["id", "accountId", "contractId"] {
        assert_eq!(back[key], raw[key], "{key}");
    }
    assert_eq!(serde_json::to_string(&back["contractId"]).unwrap(), r#""CON.F.US.GMET.J25""#);

    let raw = fixture("trade_search.json")["trades"][0].clone();
    let trade: Trade = serde_json::from_value(raw.clone()).unwrap();
    assert_eq!(trade.order_id, OrderId::new(14328));
    assert_eq!(serde_json::to_value(&trade).unwrap()["orderId"], raw["orderId"]);

    let contract: Contract = serde_json::from_value(fixture("contract_by_id.json")["contract"].clone()).unwrap();
    assert_eq!(serde_json::to_value(&contract).unwrap()["id"], fixture("contract_by_id.json")["contract"]["id"]);
}
