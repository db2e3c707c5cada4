//! Alert ids for deduplication and the gateway `customTag` derived from them.
//!
//! The tag is the gateway-side guard against replays (ProjectX refuses a `customTag` already used in the account),
//! so it must be a function of the alert id alone, and two different ids must never produce the same tag.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use ring::digest;

use super::{Distance, Intent, OrderKind};

/// Ids made only of these characters, and short enough, are used verbatim in the tag (readable in the platform's
/// order list); anything else is hashed.
const MAX_VERBATIM_ID: usize = 40;

/// How an accepted alert is recognised when it arrives again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dedup {
    /// By its id: the same id within `DEDUP_WINDOW_SECS` (24 h) is a duplicate. The id is the sender's `id`, or
    /// derived from the alert's content and its own timestamp (`timenow`, `time`, …): a TradingView re-delivery
    /// carries the same timestamp, a new firing a new one, whatever minute each arrives in.
    Id,
    /// An entry with neither an id nor a timestamp: a duplicate only of an identical entry (this content key)
    /// received within `DUPLICATE_WINDOW_SECS` (10 s, sliding) — a near-immediate re-delivery.
    Content(String),
    /// An exit, close-only alert or cancel with neither an id nor a timestamp: never a duplicate by content alone.
    /// Repeating one is safe (closing when flat is a `noop`); swallowing one could leave a position open.
    Never,
}

/// An accepted alert's journal key and how duplicates of it are found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertKey {
    /// The journal key (at most 64 characters); the `customTag` is derived from it ([`custom_tag`]).
    pub alert_id: String,
    /// How a repeat is recognised.
    pub dedup: Dedup,
}

/// The key of an alert received at `received_at`; `receipt` is a number unique to this receipt within the process
/// (two identical exits in the same millisecond still get two ids).
pub fn alert_key(intent: &Intent, received_at: DateTime<Utc>, receipt: u64) -> AlertKey {
    if let Some(id) = &intent.alert_id {
        return AlertKey { alert_id: id.clone(), dedup: Dedup::Id };
    }
    let content = content_key(intent);
    if let Some(sent_at) = intent.sent_at {
        let canon = format!("{content}\nsent_at_ms={}", sent_at.timestamp_millis());
        return AlertKey {
            alert_id: hex16(digest::digest(&digest::SHA256, canon.as_bytes()).as_ref()),
            dedup: Dedup::Id,
        };
    }
    let alert_id = format!("r{}-{}-{receipt}", &content[..12], received_at.timestamp_millis());
    let dedup = if intent.is_entry() { Dedup::Content(content) } else { Dedup::Never };
    AlertKey { alert_id, dedup }
}

/// What makes two alerts trade the same way: hex SHA-256 (first 16 bytes) of the normalised intent. Normalised:
/// symbol uppercased, decimals without trailing zeros (`21000.50` = `21000.5`), fields in a fixed, versioned order;
/// the alert's own timestamp and id are not part of it.
pub fn content_key(intent: &Intent) -> String {
    let mut canon = String::with_capacity(160);
    // `write!` into a String cannot fail.
    let _ = write!(
        canon,
        "pxrelay-intent-v2\nsymbol={}\naction={}\nclose_only={}\nsentiment={}\ntarget={}\nquantity={}\norder={}\nstop_loss={}\n\
         take_profit={}\naccount={}",
        intent.symbol.to_uppercase(),
        intent.action.as_str(),
        u8::from(intent.close_only),
        intent.sentiment.map_or("", |s| if s == super::Sentiment::Long { "long" } else { "short" }),
        intent.target_position.map(|t| t.to_string()).unwrap_or_default(),
        intent.quantity,
        OrderText(intent.order),
        DistanceText(intent.stop_loss),
        DistanceText(intent.take_profit),
        intent.account.as_deref().unwrap_or(""),
    );
    // Added later: written only when present, so the keys of alerts without them are unchanged.
    if let Some(risk) = intent.risk_usd {
        let _ = write!(canon, "\nrisk_usd={}", risk.normalize());
    }
    if let Some(after) = intent.breakeven_after_ticks {
        let _ = write!(canon, "\nbreakeven_after_ticks={after}");
    }
    if let Some(offset) = intent.offset_ticks {
        let _ = write!(canon, "\noffset_ticks={offset}");
    }
    hex16(digest::digest(&digest::SHA256, canon.as_bytes()).as_ref())
}

/// The gateway `customTag` for order `leg` of an alert (the executor uses leg 1 for an alert's order and leg 2 for a
/// reverse's entry; the close of a reverse is `Position/closeContract`, which takes no tag). At most 47 ASCII characters, and distinct for every distinct `(alert_id, leg)`:
///
/// - `pxr<leg>-<alert_id>` when the id is at most 40 characters of `A-Z a-z 0-9 . _ -` (readable in the platform);
/// - `pxh<leg>-<32 hex>` otherwise, the hex being the first 16 bytes of SHA-256 of the id.
///
/// The leg number sits before the first `-` and contains no `-`, so neither form can be confused with another id's
/// tag, and the two forms have different prefixes.
pub fn custom_tag(alert_id: &str, leg: u8) -> String {
    let verbatim = alert_id.len() <= MAX_VERBATIM_ID
        && !alert_id.is_empty()
        && alert_id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if verbatim {
        format!("pxr{leg}-{alert_id}")
    } else {
        let hash = hex16(digest::digest(&digest::SHA256, alert_id.as_bytes()).as_ref());
        format!("pxh{leg}-{hash}")
    }
}

/// Lowercase hex of the first 16 bytes.
fn hex16(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    for &b in bytes.iter().take(16) {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

struct OrderText(OrderKind);

impl std::fmt::Display for OrderText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            OrderKind::Market => f.write_str("market"),
            OrderKind::Limit(p) => write!(f, "limit:{}", p.normalize()),
            OrderKind::Stop(p) => write!(f, "stop:{}", p.normalize()),
            OrderKind::TrailingStop(p) => write!(f, "trailing_stop:{}", p.normalize()),
        }
    }
}

struct DistanceText(Option<Distance>);

impl std::fmt::Display for DistanceText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            None => Ok(()),
            Some(Distance::Ticks(n)) => write!(f, "ticks:{n}"),
            Some(Distance::Price(p)) => write!(f, "price:{}", p.normalize()),
            Some(Distance::Points(p)) => write!(f, "points:{}", p.normalize()),
            Some(Distance::Usd(p)) => write!(f, "usd:{}", p.normalize()),
            Some(Distance::Percent(p)) => write!(f, "percent:{}", p.normalize()),
        }
    }
}
