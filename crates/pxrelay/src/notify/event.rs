//! What a notification says: the [`EventKind`]s a trader can ask for (`NOTIFY_EVENTS`), the set of them
//! ([`EventSet`]), and one [`Notice`] — the event, the alert, account and symbol it concerns, a one-line message for
//! a person, and any extra fields for the generic JSON format.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// One kind of notification. The names are what `NOTIFY_EVENTS` lists and what the generic JSON's `event` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// An alert's order was placed (confirmed by the gateway, or found by its `customTag`).
    Placed,
    /// One fill of an alert's own order (entry or close), from the user hub.
    Filled,
    /// An alert was refused by a guard or by the gateway; nothing is working.
    Rejected,
    /// An alert was not executed (a gateway or journal failure before sending, a failed close).
    Failed,
    /// Something was sent and its effect could not be established: check the platform.
    Unknown,
    /// An alert was too old to act on (`MAX_ALERT_AGE_SECS`); nothing was sent.
    Expired,
    /// A working order of a flat position that the gateway refused to cancel (an orphan leg).
    Orphan,
    /// A risk flatten (kill switch, daily limit, `FLAT_BY`) closed positions or cancelled orders, or failed to.
    Flattened,
    /// An account was blocked for the trading day (`DAILY_LOSS_LIMIT`, `DAILY_PROFIT_TARGET`).
    Blocked,
    /// No usable session token, or its refresh keeps failing, for longer than `NOTIFY_OUTAGE_SECS`; and its recovery.
    TokenFailing,
    /// The market or user hub is down while needed, for longer than `NOTIFY_OUTAGE_SECS`; and its recovery.
    HubDown,
    /// `pxrelay relay` only: no executor connected for longer than `NOTIFY_OUTAGE_SECS`; and its recovery.
    ExecutorDown,
}

impl EventKind {
    /// Every kind, in the order of docs/operations.md.
    pub const ALL: [Self; 12] = [
        Self::Placed,
        Self::Filled,
        Self::Rejected,
        Self::Failed,
        Self::Unknown,
        Self::Expired,
        Self::Orphan,
        Self::Flattened,
        Self::Blocked,
        Self::TokenFailing,
        Self::HubDown,
        Self::ExecutorDown,
    ];

    /// The name in `NOTIFY_EVENTS` and in the generic JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Placed => "placed",
            Self::Filled => "filled",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
            Self::Expired => "expired",
            Self::Orphan => "orphan",
            Self::Flattened => "flattened",
            Self::Blocked => "blocked",
            Self::TokenFailing => "token_failing",
            Self::HubDown => "hub_down",
            Self::ExecutorDown => "executor_down",
        }
    }

    /// The executor outcome's kind, for the statuses that notify (`placed`, `rejected`, `failed`, `unknown`,
    /// `expired`); `None` for the others (closed, cancelled, noop, dry run, …).
    pub fn of_status(status: crate::outcome::AlertStatus) -> Option<Self> {
        use crate::outcome::AlertStatus as S;
        match status {
            S::Placed => Some(Self::Placed),
            S::Rejected => Some(Self::Rejected),
            S::Failed => Some(Self::Failed),
            S::Unknown => Some(Self::Unknown),
            S::Expired => Some(Self::Expired),
            _ => None,
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|k| k.as_str().eq_ignore_ascii_case(s.trim())).ok_or(())
    }
}

/// The kinds to send (`NOTIFY_EVENTS`); a bit per [`EventKind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventSet(u16);

/// `NOTIFY_EVENTS`' default: what a trader needs to hear about without asking (`placed` and `expired` are opt-in).
pub const DEFAULT_EVENTS: &str =
    "filled,rejected,failed,unknown,orphan,flattened,blocked,token_failing,hub_down,executor_down";

impl EventSet {
    /// No kind.
    pub const NONE: Self = Self(0);

    /// Whether `kind` is in the set.
    pub fn contains(self, kind: EventKind) -> bool {
        self.0 & Self::bit(kind) != 0
    }

    /// The set with `kind` added.
    pub fn with(self, kind: EventKind) -> Self {
        Self(self.0 | Self::bit(kind))
    }

    fn bit(kind: EventKind) -> u16 {
        let index = EventKind::ALL.iter().position(|k| *k == kind).unwrap_or_default();
        1 << index
    }

    /// A comma-separated list of kind names (any case, blanks ignored; `all` for every kind). `Err` names the words
    /// that are not kinds.
    pub fn parse(text: &str) -> Result<Self, Vec<String>> {
        let mut set = Self::NONE;
        let mut unknown = Vec::new();
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            if word.eq_ignore_ascii_case("all") {
                set = EventKind::ALL.into_iter().fold(set, Self::with);
            } else {
                match word.parse() {
                    Ok(kind) => set = set.with(kind),
                    Err(()) => unknown.push(word.to_owned()),
                }
            }
        }
        if unknown.is_empty() { Ok(set) } else { Err(unknown) }
    }
}

impl Default for EventSet {
    fn default() -> Self {
        Self::parse(DEFAULT_EVENTS).unwrap_or(Self::NONE)
    }
}

/// One notification, before it is put in a destination's format.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    /// What happened.
    pub event: EventKind,
    /// The alert (journal id), when one is concerned.
    pub alert_id: Option<String>,
    /// The account's name (or id, when the name is not known).
    pub account: Option<String>,
    /// The alert's symbol as it was sent (`MNQ`), or the contract id (`CON.F.US.MNQ.Z25`) for fills and orphans.
    pub symbol: Option<String>,
    /// One line for a person, e.g. `filled: buy 1 @ 21000.25 (entry) CON.F.US.MNQ.Z25, alert abc`.
    pub message: String,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Extra fields for the generic JSON (`status`, `price`, `recovered`, …); never secrets.
    pub data: Map<String, Value>,
}

impl Notice {
    /// A notice of `event` now, with `message`.
    pub fn new(event: EventKind, message: impl Into<String>) -> Self {
        Self {
            event,
            alert_id: None,
            account: None,
            symbol: None,
            message: message.into(),
            at: Utc::now(),
            data: Map::new(),
        }
    }

    /// With the alert id.
    pub fn alert(mut self, id: impl Into<String>) -> Self {
        self.alert_id = Some(id.into());
        self
    }

    /// With the account.
    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.account = Some(account.into());
        self
    }

    /// With the symbol.
    pub fn symbol(mut self, symbol: impl Into<String>) -> Self {
        self.symbol = Some(symbol.into());
        self
    }

    /// With an extra field for the generic JSON.
    pub fn field(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.data.insert(key.to_owned(), value.into());
        self
    }

    /// The text chat destinations (Discord, Telegram, Slack) get: `pxrelay <event>: <message>` plus the alert,
    /// account and symbol when they are not in the message already.
    pub fn text(&self) -> String {
        let mut text = format!("pxrelay {}: {}", self.event, self.message);
        let extras = [("account", &self.account), ("symbol", &self.symbol), ("alert", &self.alert_id)];
        for (label, value) in extras {
            if let Some(v) = value.as_deref().filter(|v| !self.message.contains(*v)) {
                text.push_str(&format!(" · {label} {v}"));
            }
        }
        text
    }

    /// The generic JSON: `event`, `alert_id`, `account`, `symbol`, `message`, `at` (RFC 3339, UTC), `source`
    /// (`pxrelay`), then the extra fields (which never replace those).
    pub fn json(&self) -> Value {
        let mut body = self.data.clone();
        let fixed = [
            ("event", Value::from(self.event.as_str())),
            ("alert_id", self.alert_id.clone().map_or(Value::Null, Value::from)),
            ("account", self.account.clone().map_or(Value::Null, Value::from)),
            ("symbol", self.symbol.clone().map_or(Value::Null, Value::from)),
            ("message", Value::from(self.message.clone())),
            ("at", Value::from(self.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))),
            ("source", Value::from("pxrelay")),
        ];
        for (key, value) in fixed {
            body.insert(key.to_owned(), value);
        }
        Value::Object(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_set_is_the_documented_list() {
        let set = EventSet::default();
        for kind in EventKind::ALL {
            let expected = !matches!(kind, EventKind::Placed | EventKind::Expired);
            assert_eq!(set.contains(kind), expected, "{kind}");
        }
    }

    #[test]
    fn a_list_parses_in_any_case_and_names_the_words_that_are_not_kinds() {
        let set = EventSet::parse(" Filled, hub_down ,,").unwrap();
        assert!(set.contains(EventKind::Filled) && set.contains(EventKind::HubDown));
        assert!(!set.contains(EventKind::Rejected));
        assert_eq!(EventSet::parse("filled,fill,hubdown"), Err(vec!["fill".to_owned(), "hubdown".to_owned()]));
        assert!(EventKind::ALL.into_iter().all(|k| EventSet::parse("all").unwrap().contains(k)));
        assert_eq!(EventSet::parse(""), Ok(EventSet::NONE));
    }

    #[test]
    fn the_generic_json_has_the_fixed_fields_and_the_extras() {
        let n = Notice::new(EventKind::Filled, "buy 1 @ 100")
            .alert("a1")
            .account("PRAC-1")
            .symbol("MNQ")
            .field("price", 100)
            .field("event", "not this");
        let json = n.json();
        assert_eq!(json["event"], "filled");
        assert_eq!(json["alert_id"], "a1");
        assert_eq!(json["account"], "PRAC-1");
        assert_eq!(json["symbol"], "MNQ");
        assert_eq!(json["message"], "buy 1 @ 100");
        assert_eq!(json["price"], 100);
        assert_eq!(json["source"], "pxrelay");
        assert!(json["at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(n.text(), "pxrelay filled: buy 1 @ 100 · account PRAC-1 · symbol MNQ · alert a1");
    }
}
