//! Typed ids for the gateway's three kinds of identifier, so an account id cannot be passed where an order id is
//! expected and a contract id is never confused with a symbol or product id. Each is `#[serde(transparent)]`: on
//! the wire (and in anything pxrelay writes from them) it is exactly the bare value the gateway uses, and
//! [`Display`](fmt::Display) prints that bare value too. Types per the gateway notes, "Integer ids": `accountId`
//! int32, `orderId` int64, `contractId` string.

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A trading account's id (`accountId`, int32): `Account/search` lists them (`accounts[].id`), and every
/// per-account call (orders, positions, trades, user hub subscriptions) takes one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountId(i32);

impl AccountId {
    /// The id the gateway wrote as `value`.
    pub const fn new(value: i32) -> Self {
        Self(value)
    }

    /// The bare int32, as sent to the gateway.
    pub const fn get(self) -> i32 {
        self.0
    }
}

impl From<i32> for AccountId {
    fn from(value: i32) -> Self {
        Self(value)
    }
}

impl From<AccountId> for i32 {
    fn from(id: AccountId) -> Self {
        id.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// An order's id (`orderId`, int64): returned by `Order/place` (even, sometimes, by a rejected one), listed by the
/// order searches (`orders[].id`), named by `Order/modify`/`cancel` and by a fill (`trades[].orderId`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderId(i64);

impl OrderId {
    /// The id the gateway wrote as `value`.
    pub const fn new(value: i64) -> Self {
        Self(value)
    }

    /// The bare int64, as sent to the gateway.
    pub const fn get(self) -> i64 {
        self.0
    }
}

impl From<i64> for OrderId {
    fn from(value: i64) -> Self {
        Self(value)
    }
}

impl From<OrderId> for i64 {
    fn from(id: OrderId) -> Self {
        id.0
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A contract's id (`contractId`, a string such as `CON.F.US.MNQ.Z25`): `Contract/search`/`searchById`/`available`
/// list them (`contracts[].id`); orders, positions, trades, bars and the market hub's quote subscriptions and
/// events name one. Opaque to callers: not the product id (`F.US.MNQ`) nor the exchange-style name (`MNQZ5`).
///
/// Hashes and compares like its text, and borrows as `str`, so maps keyed by it can be searched with a `&str`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContractId(String);

impl ContractId {
    /// The id the gateway wrote as `value` (not checked: the id grammar is not documented).
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The id's text, as sent to the gateway.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id's text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl From<String> for ContractId {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for ContractId {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl From<ContractId> for String {
    fn from(id: ContractId) -> Self {
        id.0
    }
}

impl AsRef<str> for ContractId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for ContractId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for ContractId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ContractId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl fmt::Display for ContractId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn ids_serialise_as_the_bare_values_and_round_trip() {
        let account = AccountId::new(-2_147_483_648);
        let order = OrderId::new(9_007_199_254_740_993);
        let contract = ContractId::new("CON.F.US.MNQ.Z25");
        assert_eq!(serde_json::to_string(&account).unwrap(), "-2147483648");
        assert_eq!(serde_json::to_string(&order).unwrap(), "9007199254740993", "no float rounding of big ids");
        assert_eq!(serde_json::to_string(&contract).unwrap(), r#""CON.F.US.MNQ.Z25""#);
        assert_eq!(serde_json::from_str::<AccountId>("-2147483648").unwrap(), account);
        assert_eq!(serde_json::from_str::<OrderId>("9007199254740993").unwrap(), order);
        assert_eq!(serde_json::from_str::<ContractId>(r#""CON.F.US.MNQ.Z25""#).unwrap(), contract);
    }

    #[test]
    fn ids_keep_the_wire_types_range_checks() {
        assert!(serde_json::from_str::<AccountId>("2147483648").is_err(), "accountId is an int32");
        assert!(serde_json::from_str::<AccountId>(r#""7""#).is_err(), "a quoted account id is not an id");
        assert!(serde_json::from_str::<OrderId>("1.5").is_err());
        assert!(serde_json::from_str::<ContractId>("7").is_err(), "contractId is a string");
    }

    #[test]
    fn display_prints_the_bare_value() {
        assert_eq!(AccountId::new(42).to_string(), "42");
        assert_eq!(OrderId::new(-1).to_string(), "-1");
        assert_eq!(ContractId::new("CON.F.US.EP.H26").to_string(), "CON.F.US.EP.H26");
        assert_eq!(format!("{:>6}", AccountId::new(42)), "    42", "format options apply to the value");
    }

    #[test]
    fn conversions_give_back_the_value() {
        assert_eq!(i32::from(AccountId::from(7)), 7);
        assert_eq!(OrderId::from(8).get(), 8);
        assert_eq!(String::from(ContractId::from("CON.F.US.MNQ.Z25")), "CON.F.US.MNQ.Z25");
        assert_eq!(ContractId::from("x".to_owned()).into_string(), "x");
    }

    #[test]
    fn a_map_keyed_by_contract_id_is_searched_with_a_str() {
        let map = HashMap::from([(ContractId::new("CON.F.US.MNQ.Z25"), 1)]);
        assert_eq!(map.get("CON.F.US.MNQ.Z25"), Some(&1));
        assert_eq!(map.get("CON.F.US.MNQ.H26"), None);
        assert_eq!(ContractId::new("a"), "a");
    }
}
