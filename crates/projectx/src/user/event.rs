//! What the user hub delivers: [`UserEvent`] (the four documented payloads plus the connection markers), the
//! [`UserUpdate`] envelope with its connection epoch, and [`decode_user_event`], which accepts every payload shape
//! seen in the wild.
//!
//! Payload shapes (API notes §7.5, §9.8, §9.25): the documented form is the bare model as the one `(data)`
//! argument; project-x-py also unwraps `{"action": n, "data": {...}}` (the Admin API's form, which its comments say
//! real position events use) and lists of either. All of them decode here, a list into several events in its order.
//! A wrapped `action: 2` (delete) of a position means the position is gone: it is reported flat (`size: 0`), the
//! same signal as a bare flat position (§9.9). That mapping is an inference from the Admin API's action codes.

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::{Account, Order, Position, Trade};

/// The `GatewayUserAccount` target.
pub const ACCOUNT_EVENT: &str = "GatewayUserAccount";
/// The `GatewayUserOrder` target.
pub const ORDER_EVENT: &str = "GatewayUserOrder";
/// The `GatewayUserPosition` target.
pub const POSITION_EVENT: &str = "GatewayUserPosition";
/// The `GatewayUserTrade` target.
pub const TRADE_EVENT: &str = "GatewayUserTrade";
/// The undocumented `GatewayLogout` target (§9.23): the gateway ended this session.
pub const LOGOUT_EVENT: &str = "GatewayLogout";

/// The Admin API's `action` for a deletion (0 create, 1 update, 2 delete; §9.25).
const ACTION_DELETE: i64 = 2;

/// One item of the user hub's ordered stream.
#[derive(Clone, Debug, PartialEq)]
pub enum UserEvent {
    /// `GatewayUserAccount`: an account's new state (balance, can-trade).
    Account(Account),
    /// `GatewayUserOrder`: a full snapshot of one order (the lifecycle arrives as repeated snapshots per id).
    Order(Order),
    /// `GatewayUserPosition`: a position's new state; `size == 0` means it went flat.
    Position(Position),
    /// `GatewayUserTrade`: one half-turn fill.
    Trade(Trade),
    /// Connection `epoch` is up and **every** subscription of every watched account is confirmed: from here on no
    /// event of `epoch` is missed. Take the REST snapshot (open orders, positions, accounts) now; events after this
    /// marker are at least as new as that snapshot.
    Connected {
        /// The connection epoch that became complete.
        epoch: u64,
    },
    /// Connection `epoch` ended (lost, closed because nothing is watched, or stopped after logouts): events may be
    /// missed until the next `Connected`. Also sent for an epoch whose `Connected` never came (it dropped before
    /// its subscriptions completed).
    Disconnected {
        /// The connection epoch that ended.
        epoch: u64,
    },
}

/// A [`UserEvent`] with where it came from.
///
/// An **epoch** is one gap-free stream: it starts when a connection comes up and ends with a `Disconnected`
/// marker. A token rotation switches connections *without* a gap (see the `user` module), so it keeps the epoch;
/// every reconnect after a loss starts a new one.
#[derive(Clone, Debug, PartialEq)]
pub struct UserUpdate {
    /// The connection epoch the event arrived on (for markers, the epoch they are about).
    pub epoch: u64,
    /// Whether it came after `Connected { epoch }` (`false`: it arrived while the connection was still
    /// resubscribing; events of accounts not subscribed yet may have been missed, so the snapshot is still due).
    pub synced: bool,
    /// The event.
    pub event: UserEvent,
}

/// A user-hub payload that does not decode.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The arguments are not a JSON array whose first element is the payload.
    #[error("{target}: the arguments are not an array with a data argument")]
    Shape {
        /// The event's target.
        target: String,
    },
    /// A field has the wrong type or is missing.
    #[error("{target}: bad payload at `{path}`: {message}")]
    Field {
        /// The event's target.
        target: String,
        /// Where in the model (e.g. `size`).
        path: String,
        /// What serde said.
        message: String,
    },
}

/// Whether `target` is one of the four documented user-hub events.
pub fn is_user_event(target: &str) -> bool {
    matches!(target, ACCOUNT_EVENT | ORDER_EVENT | POSITION_EVENT | TRADE_EVENT)
}

/// Decodes one user-hub invocation (`target` one of the four documented events, `arguments` the raw arguments
/// array) into its events, in order: one for a bare or wrapped object, one per item for a list.
pub fn decode_user_event(target: &str, arguments: &RawValue) -> Result<Vec<UserEvent>, DecodeError> {
    let shape = || DecodeError::Shape { target: target.to_owned() };
    let Ok(Value::Array(mut args)) = serde_json::from_str::<Value>(arguments.get()) else { return Err(shape()) };
    if args.is_empty() {
        return Err(shape());
    }
    let mut items = Vec::new();
    flatten(args.swap_remove(0), None, 0, &mut items);
    items
        .into_iter()
        .map(|(action, value)| match target {
            ACCOUNT_EVENT => model(target, value).map(UserEvent::Account),
            ORDER_EVENT => model(target, value).map(UserEvent::Order),
            POSITION_EVENT => model(target, value).map(|mut p: Position| {
                if action == Some(ACTION_DELETE) {
                    p.size = 0;
                }
                UserEvent::Position(p)
            }),
            TRADE_EVENT => model(target, value).map(UserEvent::Trade),
            _ => Err(shape()),
        })
        .collect()
}

/// Unwraps lists and `{action, data}` wrappers into the bare models with their action (depth-limited: a payload is
/// at most a list of wrapped objects whose data may itself be a list).
fn flatten(value: Value, action: Option<i64>, depth: u8, out: &mut Vec<(Option<i64>, Value)>) {
    match value {
        Value::Array(items) if depth < 3 => {
            for item in items {
                flatten(item, action, depth + 1, out);
            }
        }
        Value::Object(mut fields) if depth < 3 && fields.contains_key("data") => {
            let action = fields.get("action").and_then(Value::as_i64).or(action);
            let data = fields.remove("data").unwrap_or(Value::Null);
            flatten(data, action, depth + 1, out);
        }
        other => out.push((action, other)),
    }
}

fn model<T: DeserializeOwned>(target: &str, value: Value) -> Result<T, DecodeError> {
    serde_path_to_error::deserialize(value).map_err(|e| DecodeError::Field {
        target: target.to_owned(),
        path: e.path().to_string(),
        message: e.into_inner().to_string(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

    use super::*;
    use crate::{AccountId, OrderId, OrderStatus, PositionType};

    // Payloads in the simulator's wire shape, field for field as it serialises them (the live decode of its real
    // payloads is tests/user.rs); the wrapped and list forms are project-x-py's (API notes §9.8, §9.25).

    /// A `GatewayUserOrder` of a filled market bracket entry.
    const ORDER: &str = r#"{"id":7,"accountId":9001,"contractId":"CON.F.US.MNQ.Z25","symbolId":"F.US.MNQ","creationTimestamp":"2025-11-24T15:30:00.123Z","updateTimestamp":"2025-11-24T15:30:00.123Z","status":2,"type":2,"side":0,"size":1,"limitPrice":null,"stopPrice":null,"trailPrice":null,"fillVolume":1,"filledPrice":21000.25,"customTag":"alert-1","parentOrderId":null}"#;
    /// A stop leg of that entry.
    const LEG: &str = r#"{"id":8,"accountId":9001,"contractId":"CON.F.US.MNQ.Z25","symbolId":"F.US.MNQ","creationTimestamp":"2025-11-24T15:30:00.123Z","updateTimestamp":null,"status":1,"type":4,"side":1,"size":1,"limitPrice":null,"stopPrice":20990.25,"trailPrice":null,"fillVolume":0,"filledPrice":null,"customTag":null,"parentOrderId":7}"#;
    /// A flat position as the simulator (and project-x-py's rule) reports it.
    const FLAT: &str = r#"{"id":3,"accountId":9001,"contractId":"CON.F.US.MNQ.Z25","creationTimestamp":"2025-11-24T15:30:00Z","type":1,"size":0,"averagePrice":21000.25}"#;
    const POSITION: &str = r#"{"id":3,"accountId":9001,"contractId":"CON.F.US.MNQ.Z25","creationTimestamp":"2025-11-24T15:30:00Z","type":2,"size":2,"averagePrice":21000.125}"#;
    const TRADE: &str = r#"{"id":11,"accountId":9001,"contractId":"CON.F.US.MNQ.Z25","creationTimestamp":"2025-11-24T15:30:00Z","price":21000.25,"profitAndLoss":null,"fees":0.37,"side":0,"size":1,"voided":false,"orderId":7}"#;
    const ACCOUNT: &str =
        r#"{"id":9001,"name":"PRAC-9001","balance":50000.00,"canTrade":true,"isVisible":true,"simulated":true}"#;

    fn decode(target: &str, data: &str) -> Result<Vec<UserEvent>, DecodeError> {
        let args = RawValue::from_string(format!("[{data}]")).unwrap();
        decode_user_event(target, &args)
    }

    fn one(target: &str, data: &str) -> UserEvent {
        let mut events = decode(target, data).unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        events.remove(0)
    }

    #[test]
    fn bare_payloads_decode_into_the_rest_models() {
        let UserEvent::Order(order) = one(ORDER_EVENT, ORDER) else { panic!("not an order") };
        assert_eq!((order.id, order.status, order.fill_volume), (OrderId::new(7), OrderStatus::Filled, 1));
        assert_eq!(order.filled_price.unwrap().to_string(), "21000.25");
        assert_eq!(order.custom_tag.as_deref(), Some("alert-1"));
        let UserEvent::Order(leg) = one(ORDER_EVENT, LEG) else { panic!("not an order") };
        assert_eq!(leg.parent_order_id, Some(OrderId::new(7)), "bracket legs name their entry");
        let UserEvent::Position(p) = one(POSITION_EVENT, POSITION) else { panic!("not a position") };
        assert_eq!((p.position_type, p.size), (PositionType::Short, 2));
        let UserEvent::Position(flat) = one(POSITION_EVENT, FLAT) else { panic!("not a position") };
        assert_eq!(flat.size, 0, "flat is size 0");
        let UserEvent::Trade(t) = one(TRADE_EVENT, TRADE) else { panic!("not a trade") };
        assert_eq!((t.order_id, t.profit_and_loss), (OrderId::new(7), None));
        let UserEvent::Account(a) = one(ACCOUNT_EVENT, ACCOUNT) else { panic!("not an account") };
        assert_eq!((a.id, a.can_trade), (AccountId::new(9001), true));
    }

    #[test]
    fn wrapped_payloads_decode_like_bare_ones() {
        let wrapped = format!(r#"{{"action":1,"data":{ORDER}}}"#);
        assert_eq!(one(ORDER_EVENT, &wrapped), one(ORDER_EVENT, ORDER));
        let wrapped = format!(r#"{{"action":0,"data":{TRADE}}}"#);
        assert_eq!(one(TRADE_EVENT, &wrapped), one(TRADE_EVENT, TRADE));
        let wrapped = format!(r#"{{"action":1,"data":{POSITION}}}"#);
        assert_eq!(one(POSITION_EVENT, &wrapped), one(POSITION_EVENT, POSITION));
    }

    #[test]
    fn lists_of_bare_and_wrapped_payloads_decode_in_order() {
        let list = format!(r#"[{ORDER},{{"action":1,"data":{LEG}}}]"#);
        let events = decode(ORDER_EVENT, &list).unwrap();
        let ids: Vec<_> = events
            .iter()
            .map(|e| match e {
                UserEvent::Order(o) => o.id.get(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(ids, vec![7, 8]);
        let single = format!(r#"[{{"action":1,"data":{ACCOUNT}}}]"#);
        assert_eq!(one(ACCOUNT_EVENT, &single), one(ACCOUNT_EVENT, ACCOUNT));
        let inner_list = format!(r#"{{"action":1,"data":[{TRADE}]}}"#);
        assert_eq!(one(TRADE_EVENT, &inner_list), one(TRADE_EVENT, TRADE));
        assert_eq!(decode(TRADE_EVENT, "[]").unwrap(), vec![], "an empty list is no event");
    }

    #[test]
    fn a_deleted_position_is_reported_flat() {
        let deleted = format!(r#"{{"action":2,"data":{POSITION}}}"#);
        let UserEvent::Position(p) = one(POSITION_EVENT, &deleted) else { panic!("not a position") };
        assert_eq!((p.id, p.size), (3, 0));
    }

    #[test]
    fn bad_payloads_name_the_field() {
        let err = decode(POSITION_EVENT, r#"{"id":3,"accountId":9001}"#).unwrap_err();
        assert!(matches!(&err, DecodeError::Field { target, .. } if target == POSITION_EVENT), "{err:?}");
        let bad_size = POSITION.replace(r#""size":2"#, r#""size":"two""#);
        let err = decode(POSITION_EVENT, &bad_size).unwrap_err();
        assert!(matches!(&err, DecodeError::Field { path, .. } if path == "size"), "{err:?}");
        let no_args = RawValue::from_string("[]".into()).unwrap();
        assert!(matches!(decode_user_event(ORDER_EVENT, &no_args), Err(DecodeError::Shape { .. })));
        let not_array = RawValue::from_string("{}".into()).unwrap();
        assert!(matches!(decode_user_event(ORDER_EVENT, &not_array), Err(DecodeError::Shape { .. })));
    }
}
