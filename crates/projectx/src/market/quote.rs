//! `QuoteBook`: the latest quote per contract, merged from partial `GatewayQuote` updates.
//!
//! ProjectX sends a full snapshot first and then only the fields that changed, so a field that is absent **or
//! null** means "unchanged", never zero. Each quote keeps the gateway's timestamps and our receive time, so readers
//! judge freshness themselves. Decoding goes straight from the raw `arguments` array into [`QuoteUpdate`]; prices
//! are exact decimals.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::time::Instant;

use crate::ContractId;

/// One `GatewayQuote` payload: every field optional (absent or null = unchanged).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuoteUpdate {
    /// The symbol id, e.g. `F.US.MNQ`.
    pub symbol: Option<String>,
    /// Friendly name (documented as unused).
    pub symbol_name: Option<String>,
    /// Last trade price.
    pub last_price: Option<Decimal>,
    /// Best bid.
    pub best_bid: Option<Decimal>,
    /// Best ask.
    pub best_ask: Option<Decimal>,
    /// Change vs previous close.
    pub change: Option<Decimal>,
    /// Change in percent.
    pub change_percent: Option<Decimal>,
    /// Session open.
    pub open: Option<Decimal>,
    /// Session high.
    pub high: Option<Decimal>,
    /// Session low.
    pub low: Option<Decimal>,
    /// Session volume (a total, not per update).
    pub volume: Option<Decimal>,
    /// Last update time.
    pub last_updated: Option<DateTime<Utc>>,
    /// Quote time.
    pub timestamp: Option<DateTime<Utc>>,
}

/// The merged quote of one contract.
#[derive(Clone, Debug, PartialEq)]
pub struct Quote {
    /// The merged fields.
    pub fields: QuoteUpdate,
    /// When we received the latest update.
    pub received_at: Instant,
    /// Updates merged so far.
    pub updates: u64,
}

impl Quote {
    /// Best bid.
    pub fn bid(&self) -> Option<Decimal> {
        self.fields.best_bid
    }
    /// Best ask.
    pub fn ask(&self) -> Option<Decimal> {
        self.fields.best_ask
    }
    /// Last trade price.
    pub fn last(&self) -> Option<Decimal> {
        self.fields.last_price
    }
    /// Session volume.
    pub fn volume(&self) -> Option<Decimal> {
        self.fields.volume
    }
    /// The gateway's time of the latest update (`timestamp`, else `lastUpdated`).
    pub fn gateway_time(&self) -> Option<DateTime<Utc>> {
        self.fields.timestamp.or(self.fields.last_updated)
    }
}

impl QuoteUpdate {
    /// Overwrites the fields present in `delta`.
    fn merge(&mut self, delta: QuoteUpdate) {
        macro_rules! take {
            ($($f:ident),+) => { $( if delta.$f.is_some() { self.$f = delta.$f; } )+ };
        }
        take!(symbol, symbol_name, last_price, best_bid, best_ask, change, change_percent, open, high, low, volume);
        take!(last_updated, timestamp);
    }
}

/// Decodes `GatewayQuote`'s arguments `[contractId, data]`, where `data` is an object (documented) or an array of
/// objects (seen for other events; accepted everywhere).
pub fn decode_gateway_quote(arguments: &RawValue) -> Result<(ContractId, Vec<QuoteUpdate>), serde_json::Error> {
    let (contract_id, data): (ContractId, &RawValue) = serde_json::from_str(arguments.get())?;
    let updates = if data.get().trim_start().starts_with('[') {
        serde_json::from_str(data.get())?
    } else {
        vec![serde_json::from_str(data.get())?]
    };
    Ok((contract_id, updates))
}

/// The latest quote per contract. A sync lock held for one statement (never across an await); written only by the
/// market task, read by request handlers.
#[derive(Debug, Default)]
pub struct QuoteBook {
    quotes: parking_lot::RwLock<HashMap<ContractId, Quote>>,
}

impl QuoteBook {
    /// Merges `update` into the contract's quote (creating it on the first update).
    pub fn merge(&self, contract_id: &ContractId, update: QuoteUpdate) {
        let now = Instant::now();
        let mut quotes = self.quotes.write();
        match quotes.get_mut(contract_id) {
            Some(q) => {
                q.fields.merge(update);
                q.received_at = now;
                q.updates += 1;
            }
            None => {
                quotes.insert(contract_id.clone(), Quote { fields: update, received_at: now, updates: 1 });
            }
        }
    }

    /// A copy of the contract's quote.
    pub fn get(&self, contract_id: &ContractId) -> Option<Quote> {
        self.quotes.read().get(contract_id).cloned()
    }

    /// Forgets a contract (after unsubscribing).
    pub fn remove(&self, contract_id: &ContractId) {
        self.quotes.write().remove(contract_id);
    }

    /// Contracts with a quote.
    pub fn len(&self) -> usize {
        self.quotes.read().len()
    }

    /// Whether no quote is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The receive time of the newest quote of any contract.
    pub fn newest(&self) -> Option<Instant> {
        self.quotes.read().values().map(|q| q.received_at).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn absent_and_null_fields_leave_the_value_unchanged_never_zero() {
        let book = QuoteBook::default();
        let full = raw(
            r#"["CON.F.US.EP.Z25",{"symbol":"F.US.EP","lastPrice":6335.25,"bestBid":6335.000000000,"bestAsk":6335.5,"volume":1200,"timestamp":"2025-07-18T21:00:01.268009+00:00"}]"#,
        );
        let (id, updates) = decode_gateway_quote(&full).unwrap();
        for u in updates {
            book.merge(&id, u);
        }
        let (id, updates) =
            decode_gateway_quote(&raw(r#"["CON.F.US.EP.Z25",{"bestBid":6335.25,"bestAsk":null,"lastPrice":null}]"#))
                .unwrap();
        for u in updates {
            book.merge(&id, u);
        }
        let q = book.get(&ContractId::new("CON.F.US.EP.Z25")).unwrap();
        assert_eq!(q.bid(), Some(d("6335.25")));
        assert_eq!(q.ask(), Some(d("6335.5")), "null keeps the old ask");
        assert_eq!(q.last(), Some(d("6335.25")), "null keeps the old last");
        assert_eq!(q.volume(), Some(d("1200")));
        assert_eq!(q.fields.symbol.as_deref(), Some("F.US.EP"));
        assert_eq!(q.updates, 2);
        assert!(q.gateway_time().is_some());
    }

    #[test]
    fn array_payloads_and_bad_payloads() {
        let (id, updates) = decode_gateway_quote(&raw(r#"["X",[{"lastPrice":1.25},{"lastPrice":1.5}]]"#)).unwrap();
        assert_eq!((id.as_str(), updates.len()), ("X", 2));
        assert!(decode_gateway_quote(&raw(r#"["X"]"#)).is_err());
        assert!(decode_gateway_quote(&raw(r#"["X",{"lastPrice":"abc"}]"#)).is_err());
    }

    #[test]
    fn prices_keep_their_exact_value() {
        let (_, u) = decode_gateway_quote(&raw(r#"["X",{"lastPrice":21000.250000000}]"#)).unwrap();
        assert_eq!(u[0].last_price.unwrap().normalize().to_string(), "21000.25");
    }
}
