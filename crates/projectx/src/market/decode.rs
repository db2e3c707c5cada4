//! Decoding `GatewayQuote`'s arguments `[contractId, data]` in place: every string is borrowed from the frame
//! (owned only when the JSON escapes it), every number is read from its own JSON text into an exact `Decimal`,
//! and timestamps take the RFC 3339 fast path (`fastparse`), so a decoded update allocates nothing. The owned
//! [`QuoteUpdate`](super::QuoteUpdate) is built from it only where a copy is kept.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, de::value::MapAccessDeserializer};
use serde_json::value::RawValue;

use super::fastparse;

/// `GatewayQuote`'s arguments: the contract id and its update(s).
#[derive(Debug, Deserialize)]
pub(super) struct Args<'a>(#[serde(borrow)] pub(super) Text<'a>, #[serde(borrow)] pub(super) Deltas<'a>);

/// `data`: one object (documented) or an array of objects (seen for other events; accepted everywhere). One
/// object needs no allocation.
#[derive(Debug)]
#[expect(clippy::large_enum_variant, reason = "the common single object stays on the stack: no allocation")]
pub(super) enum Deltas<'a> {
    One(Delta<'a>),
    Many(Vec<Delta<'a>>),
}

impl<'a> Deltas<'a> {
    pub(super) fn as_slice(&self) -> &[Delta<'a>] {
        match self {
            Self::One(d) => std::slice::from_ref(d),
            Self::Many(v) => v,
        }
    }
}

/// One update, borrowing from the frame; absent or null fields are `None` (unchanged). Field meanings are on
/// [`QuoteUpdate`](super::QuoteUpdate).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Delta<'a> {
    #[serde(borrow)]
    pub(super) symbol: Option<Text<'a>>,
    #[serde(borrow)]
    pub(super) symbol_name: Option<Text<'a>>,
    pub(super) last_price: Option<Dec>,
    pub(super) best_bid: Option<Dec>,
    pub(super) best_ask: Option<Dec>,
    pub(super) change: Option<Dec>,
    pub(super) change_percent: Option<Dec>,
    pub(super) open: Option<Dec>,
    pub(super) high: Option<Dec>,
    pub(super) low: Option<Dec>,
    pub(super) volume: Option<Dec>,
    pub(super) last_updated: Option<Time>,
    pub(super) timestamp: Option<Time>,
}

/// A JSON string, borrowed from the input unless it contains escapes.
#[derive(Debug)]
pub(super) struct Text<'a>(pub(super) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v.to_owned()))
            }
        }
        d.deserialize_str(V).map(Text)
    }
}

/// An exact decimal read from the number's JSON text: the fast path for plain `-?d+(.d+)?`, else the general
/// path (`Decimal` through serde on the same text, exactly as a `Decimal` field would decode it).
#[derive(Clone, Copy, Debug)]
pub(super) struct Dec(pub(super) Decimal);

impl<'de> Deserialize<'de> for Dec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <&'de RawValue>::deserialize(d)?;
        match fastparse::decimal(raw.get().as_bytes()) {
            Some(v) => Ok(Dec(v)),
            None => serde_json::from_str::<Decimal>(raw.get()).map(Dec).map_err(de::Error::custom),
        }
    }
}

/// A UTC timestamp: the RFC 3339 fast path, else chrono's own `DateTime<Utc>` deserializer on the same string.
#[derive(Clone, Copy, Debug)]
pub(super) struct Time(pub(super) DateTime<Utc>);

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DateTime<Utc>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 date and time string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                match fastparse::timestamp(v.as_bytes()) {
                    Some(t) => Ok(t),
                    None => DateTime::<Utc>::deserialize(de::value::StrDeserializer::<E>::new(v)),
                }
            }
        }
        d.deserialize_str(V).map(Time)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Deltas<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Deltas<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a quote object or an array of quote objects")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                Delta::deserialize(MapAccessDeserializer::new(map)).map(Deltas::One)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut all = Vec::new();
                while let Some(d) = seq.next_element()? {
                    all.push(d);
                }
                Ok(Deltas::Many(all))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}
