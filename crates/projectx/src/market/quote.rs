//! `QuoteBook`: the latest quote per contract, merged from partial `GatewayQuote` updates.
//!
//! ProjectX sends a full snapshot first and then only the fields that changed, so a field that is absent **or
//! null** means "unchanged", never zero. Each quote keeps the gateway's timestamps and our receive time, so readers
//! judge freshness themselves. Prices are exact decimals.
//!
//! The hot path is [`QuoteBook::merge_gateway_quote_record`]: it decodes the whole SignalR record in one pass
//! (strings borrowed from the frame, numbers read from their JSON text, see `scan` and `decode`) and merges into
//! the book under one lock; once a contract has its entry and its `symbol`, an update allocates nothing.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::time::Instant;

use super::decode::{Args, Delta, Text};
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

    /// Overwrites the fields present in a borrowed update; a text field is copied only when it changed.
    fn apply(&mut self, delta: &Delta<'_>) {
        fn text(field: &mut Option<String>, new: Option<&Text<'_>>) {
            if let Some(Text(new)) = new
                && field.as_deref() != Some(new.as_ref())
            {
                *field = Some(new.as_ref().to_owned());
            }
        }
        text(&mut self.symbol, delta.symbol.as_ref());
        text(&mut self.symbol_name, delta.symbol_name.as_ref());
        macro_rules! copy {
            ($($f:ident),+) => { $( if let Some(v) = delta.$f { self.$f = Some(v.0); } )+ };
        }
        copy!(last_price, best_bid, best_ask, change, change_percent, open, high, low, volume);
        copy!(last_updated, timestamp);
    }
}

/// Decodes `GatewayQuote`'s arguments `[contractId, data]`, where `data` is an object (documented) or an array of
/// objects (seen for other events; accepted everywhere), into owned updates. The market task does not use it: it
/// merges in place with [`QuoteBook::merge_gateway_quote`] (same decoding, no copies).
pub fn decode_gateway_quote(arguments: &RawValue) -> Result<(ContractId, Vec<QuoteUpdate>), serde_json::Error> {
    let Args(contract_id, deltas) = serde_json::from_str(arguments.get())?;
    let updates = deltas
        .as_slice()
        .iter()
        .map(|d| {
            let mut u = QuoteUpdate::default();
            u.apply(d);
            u
        })
        .collect();
    Ok((ContractId::new(contract_id.0.into_owned()), updates))
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

    /// Decodes a whole `GatewayQuote` invocation record (`{"type":1,"target":"GatewayQuote","arguments":[…]}`,
    /// without its separator) in one pass and merges it like [`merge_gateway_quote`](Self::merge_gateway_quote).
    /// The market link's handler runs this on every quote, straight from the socket buffer. An error, and nothing
    /// merged, when any part of the record fails to decode or it invokes another target.
    ///
    /// A record in the usual shape is scanned by hand (`scan`); anything else goes through serde (`decode`), with
    /// the same result.
    pub fn merge_gateway_quote_record(&self, record: &[u8], received_at: Instant) -> Result<usize, serde_json::Error> {
        let mut delta = Delta::default();
        if let Some(contract_id) = super::scan::gateway_quote(record, &mut delta) {
            return Ok(self.merge_deltas(contract_id, std::slice::from_ref(&delta), received_at));
        }
        let call = signalr::protocol::parse_invocation::<Args<'_>>(record)?;
        if call.target != "GatewayQuote" {
            return Err(<serde_json::Error as serde::de::Error>::custom(format!(
                "not a GatewayQuote: {}",
                call.target
            )));
        }
        Ok(self.merge_args(call.arguments, received_at))
    }

    /// Decodes `GatewayQuote`'s arguments `[contractId, data]` (JSON text; `data` an object or an array of objects)
    /// and merges each update into the contract's quote, with `received_at` as its receive time. Returns how many
    /// updates were merged. Nothing is merged when any part fails to decode.
    ///
    /// Allocation-free in steady state: the contract id is looked up as the `&str` borrowed from the text (its
    /// `ContractId` is allocated on the contract's first quote only), `symbol`/`symbolName` are copied only when
    /// they change, and a single-object `data` needs no vector.
    pub fn merge_gateway_quote(&self, arguments: &str, received_at: Instant) -> Result<usize, serde_json::Error> {
        Ok(self.merge_args(serde_json::from_str(arguments)?, received_at))
    }

    fn merge_args(&self, args: Args<'_>, received_at: Instant) -> usize {
        let Args(Text(contract_id), deltas) = args;
        self.merge_deltas(&contract_id, deltas.as_slice(), received_at)
    }

    fn merge_deltas(&self, contract_id: &str, deltas: &[Delta<'_>], received_at: Instant) -> usize {
        if deltas.is_empty() {
            return 0;
        }
        let apply = |quote: &mut Quote| {
            for delta in deltas {
                quote.fields.apply(delta);
                quote.received_at = received_at;
                quote.updates += 1;
            }
        };
        let mut quotes = self.quotes.write();
        match quotes.get_mut(contract_id) {
            Some(quote) => apply(quote),
            None => {
                let mut quote = Quote { fields: QuoteUpdate::default(), received_at, updates: 0 };
                apply(&mut quote);
                quotes.insert(ContractId::new(contract_id), quote);
            }
        }
        deltas.len()
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

    /// The decoder before the in-place one (serde's derive for `QuoteUpdate`, `Decimal` and `DateTime`), kept as
    /// the reference the fast paths must agree with.
    fn reference_decode(arguments: &RawValue) -> Result<(ContractId, Vec<QuoteUpdate>), serde_json::Error> {
        let (contract_id, data): (ContractId, &RawValue) = serde_json::from_str(arguments.get())?;
        let updates = if data.get().trim_start().starts_with('[') {
            serde_json::from_str(data.get())?
        } else {
            vec![serde_json::from_str(data.get())?]
        };
        Ok((contract_id, updates))
    }

    #[test]
    fn merging_in_place_matches_the_reference_decoder() {
        let records = [
            r#"["CON.F.US.EP.Z25",{"symbol":"F.US.EP","symbolName":"/ES","lastPrice":6335.25,"bestBid":6335.000000000,"bestAsk":6335.5,"change":-12.75,"changePercent":-0.2,"open":6340,"high":6350.25,"low":6330.5,"volume":1200,"lastUpdated":"2025-07-18T21:00:01.268009+00:00","timestamp":"2025-07-18T21:00:01.268009+00:00"}]"#,
            r#"["CON.F.US.EP.Z25",{"bestBid":6335.25,"bestAsk":null,"lastPrice":null,"timestamp":"2025-07-18T21:00:02.2Z"}]"#,
            r#"["CON.F.US.EP.Z25",{"symbol":"F.US.EP2","volume":1.2e3,"timestamp":"2025-07-18 21:00:03Z"}]"#,
            r#"["CON.F.US.\u0045P.Z25",[{"lastPrice":6336},{"lastPrice":"6336.5"}]]"#,
            r#"["CON.F.US.NQ.Z25",[]]"#,
            r#"["CON.F.US.NQ.Z25",{"symbol":"F.US.\"NQ\"","bestAsk":21000.5}]"#,
        ];
        let (in_place, from_records, decoded) = (QuoteBook::default(), QuoteBook::default(), QuoteBook::default());
        let now = Instant::now();
        for r in records {
            let n = in_place.merge_gateway_quote(r, now).unwrap();
            let record = format!(r#"{{"type":1,"target":"GatewayQuote","arguments":{r}}}"#);
            assert_eq!(from_records.merge_gateway_quote_record(record.as_bytes(), now).unwrap(), n, "{r}");
            let (id, updates) = reference_decode(&raw(r)).unwrap();
            assert_eq!(decode_gateway_quote(&raw(r)).unwrap(), (id.clone(), updates.clone()), "{r}");
            assert_eq!(n, updates.len(), "{r}");
            for u in updates {
                decoded.merge(&id, u);
            }
        }
        for id in ["CON.F.US.EP.Z25", "CON.F.US.NQ.Z25"] {
            let id = ContractId::new(id);
            let (a, b) = (in_place.get(&id).unwrap(), decoded.get(&id).unwrap());
            // Debug shows each decimal's scale too (`6335.000000000`), which `==` does not compare.
            assert_eq!(format!("{:?}", a.fields), format!("{:?}", b.fields), "{id}");
            assert_eq!(a.updates, b.updates, "{id}");
            assert_eq!(from_records.get(&id), Some(a), "{id}");
        }
        let ep = in_place.get(&ContractId::new("CON.F.US.EP.Z25")).unwrap();
        assert_eq!((ep.updates, ep.received_at), (5, now), "the escaped id is the same contract");
        assert_eq!(ep.ask(), Some(d("6335.5")), "null keeps the old ask");
        assert_eq!(ep.last(), Some(d("6336.5")));
        assert_eq!(ep.volume(), Some(d("1200")), "an exponent goes through the general parser");
        assert_eq!(ep.fields.symbol.as_deref(), Some("F.US.EP2"), "a changed symbol is kept");
        assert_eq!(ep.gateway_time(), Some("2025-07-18T21:00:03Z".parse().unwrap()), "chrono's forms still parse");
        assert_eq!(ep.fields.last_updated, Some("2025-07-18T21:00:01.268009Z".parse().unwrap()));
        assert_eq!(ep.bid().unwrap().scale(), 2);
        let nq = in_place.get(&ContractId::new("CON.F.US.NQ.Z25")).unwrap();
        assert_eq!(
            (nq.updates, nq.fields.symbol.as_deref()),
            (1, Some("F.US.\"NQ\"")),
            "an empty array merges nothing"
        );
        assert_eq!(in_place.len(), 2);
    }

    #[test]
    fn a_bad_payload_merges_nothing() {
        let book = QuoteBook::default();
        for bad in [
            r#"["X",[{"lastPrice":1.25},{"lastPrice":"abc"}]]"#,
            r#"["X",{"lastPrice":1.25,"timestamp":"yesterday"}]"#,
            r#"["X",{"lastPrice":1.25,"lastPrice":1.5}]"#,
            r#"["X",{"lastPrice":1.25},1]"#,
            r#"["X",7]"#,
            r#"["X"]"#,
        ] {
            assert!(book.merge_gateway_quote(bad, Instant::now()).is_err(), "{bad}");
            let record = format!(r#"{{"type":1,"target":"GatewayQuote","arguments":{bad}}}"#);
            assert!(book.merge_gateway_quote_record(record.as_bytes(), Instant::now()).is_err(), "{bad}");
            assert!(decode_gateway_quote(&raw(bad)).is_err(), "{bad}");
            assert!(reference_decode(&raw(bad)).is_err(), "{bad}");
        }
        for bad in [
            r#"{"type":1,"target":"GatewayTrade","arguments":["X",{"lastPrice":1.25}]}"#,
            r#"{"type":1,"target":"GatewayQuote","arguments":["X",{"lastPrice":1.25}],"x":nul}"#,
        ] {
            assert!(book.merge_gateway_quote_record(bad.as_bytes(), Instant::now()).is_err(), "{bad}");
        }
        assert!(book.is_empty());
    }

    #[test]
    fn prices_keep_their_exact_value() {
        let (_, u) = decode_gateway_quote(&raw(r#"["X",{"lastPrice":21000.250000000}]"#)).unwrap();
        assert_eq!(u[0].last_price.unwrap().normalize().to_string(), "21000.25");
    }
}
