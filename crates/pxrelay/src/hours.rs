//! Trading hours (issue 12): when entries may be sent, as pure functions of an instant. Three rules, checked in this
//! order, each refusing **entries only** (exits always go through, so a trader can always get out):
//!
//! 1. **The venue's hours** (`MARKET_HOURS`): `cme` knows CME Globex's daily maintenance break (16:00–17:00 Chicago,
//!    Monday to Thursday) and its weekend close (Friday 16:00 to Sunday 17:00 Chicago), always in `America/Chicago`
//!    whatever `MARKET_TIMEZONE` is, since they are CME's. Exchange holidays are not known. `always` never closes
//!    (the simulator, other venues; the default under `--sim`).
//! 2. **The flat-by block** (`FLAT_BY`): from `FLAT_BY` to the next `SESSION_OPEN`, local time in `MARKET_TIMEZONE`
//!    (`FLAT_BY` is before `SESSION_OPEN`, checked at load). At `FLAT_BY` the managed positions are flattened
//!    ([`crate::flat_by`]).
//! 3. **Trading windows** (`TRADING_WINDOWS`): entries only inside one of the windows, `HH:MM-HH:MM` in
//!    `MARKET_TIMEZONE`, start included, end excluded. A window may cross midnight (`18:00-02:00`: from 18:00 to
//!    02:00 the next morning); one that starts where it ends is a configuration problem.
//!
//! [`Hours::refusal`] names the first rule that refuses and when entries are allowed again (every rule applied,
//! [`Hours::next_entry_allowed`]), in `MARKET_TIMEZONE` with the zone's abbreviation.

mod rules;
#[cfg(test)]
mod tests;

use std::fmt;

use chrono::{DateTime, NaiveTime, Utc};
use serde::Serialize;

use crate::market_time::MarketClock;
pub use rules::{TradingWindows, Venue};

/// The time rules from the configuration, without a clock (`Settings.hours`; combined with `Settings.market` into
/// [`Hours`] at startup, so a test can swap the clock after loading the settings).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HoursRules {
    /// `MARKET_HOURS`: the venue's own hours.
    pub venue: Venue,
    /// `TRADING_WINDOWS`: empty = no window rule.
    pub windows: TradingWindows,
    /// `FLAT_BY`: flatten at this local time and refuse entries until `SESSION_OPEN`; `None` = no such rule.
    pub flat_by: Option<NaiveTime>,
}

/// Which rule refuses entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// CME's daily maintenance break, 16:00–17:00 Chicago, Monday to Thursday.
    MaintenanceBreak,
    /// CME's weekend close, Friday 16:00 to Sunday 17:00 Chicago.
    WeekendClose,
    /// From `FLAT_BY` to the next `SESSION_OPEN`.
    FlatBy,
    /// Outside every `TRADING_WINDOWS` window.
    OutsideWindows,
}

/// One rule refusing at an instant, and when that rule alone allows entries again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Closed {
    /// The rule.
    pub rule: Rule,
    /// When the rule allows entries again (its own reopening; other rules may still refuse then).
    pub reopens: DateTime<Utc>,
}

/// A refusal of entries by the time rules, with the texts [`crate::executor`]'s refusal shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoursRefusal {
    /// The first rule that refuses, and its own reopening.
    pub closed: Closed,
    /// When every rule allows entries again; `None` when no such time was found within a fortnight (rules that
    /// exclude each other, e.g. windows only inside CME's maintenance break).
    pub allowed_again: Option<DateTime<Utc>>,
    /// The rule in words, e.g. `"the CME daily maintenance break (16:00-17:00 CT, Monday to Thursday)"`.
    pub why: String,
    /// When it ends in words, e.g. `"the market reopens at 17:00 CST"`.
    pub until: String,
}

/// What `/status.hours` shows.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct HoursStatus {
    /// `MARKET_HOURS` allows entries now (`always`: true).
    pub market_open: bool,
    /// Inside a `TRADING_WINDOWS` window now (no windows: true).
    pub window_open: bool,
    /// Between `FLAT_BY` and the next `SESSION_OPEN` now.
    pub flat_by_block: bool,
    /// `null` while entries are allowed; else when they are allowed again (RFC 3339 in `MARKET_TIMEZONE`).
    pub next_entry_allowed_at: Option<String>,
}

/// The time rules on the market clock. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Hours {
    /// The market's zone, session open and (injectable) clock.
    pub clock: MarketClock,
    /// The rules.
    pub rules: HoursRules,
}

/// How many rule changes [`Hours::next_entry_allowed`] follows before giving up (each moves forward at least to the
/// next window start, session open or CME reopening; two weeks of them is far more than any consistent setup needs).
const MAX_STEPS: usize = 64;

impl Hours {
    /// The rules on `clock`.
    pub fn new(clock: MarketClock, rules: HoursRules) -> Self {
        Self { clock, rules }
    }

    /// The current instant on the market clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The first rule refusing entries at `at`, in the order of the module doc.
    pub fn closed(&self, at: DateTime<Utc>) -> Option<Closed> {
        self.rules
            .venue
            .closed(at)
            .or_else(|| self.flat_by_block(at).map(|reopens| Closed { rule: Rule::FlatBy, reopens }))
            .or_else(|| {
                let reopens = self.rules.windows.next_start(&self.clock, at)?;
                Some(Closed { rule: Rule::OutsideWindows, reopens })
            })
    }

    /// `Some(end)` while `at` is in the flat-by block (from `FLAT_BY` to `SESSION_OPEN`, local time), `end` being the
    /// next `SESSION_OPEN`.
    pub fn flat_by_block(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let flat_by = self.rules.flat_by?;
        let time = self.clock.local(at).time();
        (flat_by <= time && time < self.clock.session_open).then(|| self.clock.next_session_open(at))
    }

    /// The first instant from `at` on at which no rule refuses entries (`at` itself when none does now).
    pub fn next_entry_allowed(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut t = at;
        for _ in 0..MAX_STEPS {
            match self.closed(t) {
                None => return Some(t),
                Some(closed) => t = closed.reopens,
            }
        }
        None
    }

    /// Why entries are refused at `at`, if they are.
    pub fn refusal(&self, at: DateTime<Utc>) -> Option<HoursRefusal> {
        let closed = self.closed(at)?;
        let allowed_again = self.next_entry_allowed(closed.reopens);
        let own = self.when(at, closed.reopens);
        let (why, mut until) = match closed.rule {
            Rule::MaintenanceBreak => (
                "the CME daily maintenance break (16:00-17:00 CT, Monday to Thursday)".to_owned(),
                format!("the market reopens at {own}"),
            ),
            Rule::WeekendClose => (
                "the CME weekend close (Friday 16:00 to Sunday 17:00 CT)".to_owned(),
                format!("the market reopens at {own}"),
            ),
            Rule::FlatBy => (
                format!(
                    "FLAT_BY {} has passed (managed positions are flattened then)",
                    self.rules.flat_by.map(hh_mm).unwrap_or_default()
                ),
                format!("the next session opens at {own} (SESSION_OPEN)"),
            ),
            Rule::OutsideWindows => {
                (format!("outside TRADING_WINDOWS {}", self.rules.windows), format!("the next window starts at {own}"))
            }
        };
        match allowed_again {
            Some(t) if t != closed.reopens => {
                until.push_str(&format!("; entries are allowed again at {}", self.when(at, t)))
            }
            Some(_) => {}
            None => until.push_str(
                "; no time within two weeks allows entries under these rules (check TRADING_WINDOWS, FLAT_BY and \
                 MARKET_HOURS)",
            ),
        }
        Some(HoursRefusal { closed, allowed_again, why, until })
    }

    /// What `/status.hours` shows at `at`.
    pub fn status(&self, at: DateTime<Utc>) -> HoursStatus {
        let next = self.closed(at).map(|_| self.next_entry_allowed(at));
        HoursStatus {
            market_open: self.rules.venue.closed(at).is_none(),
            window_open: self.rules.windows.next_start(&self.clock, at).is_none(),
            flat_by_block: self.flat_by_block(at).is_some(),
            next_entry_allowed_at: next.map(|t| match t {
                Some(t) => self.clock.local(t).to_rfc3339(),
                None => "not within two weeks under these rules".to_owned(),
            }),
        }
    }

    /// `t` for a person reading at `now`, in `MARKET_TIMEZONE`: `17:00 CST` on the same local date, else with the
    /// day, e.g. `Sun 2026-12-06 17:00 CST`.
    pub fn when(&self, now: DateTime<Utc>, t: DateTime<Utc>) -> String {
        let (now, t) = (self.clock.local(now), self.clock.local(t));
        if now.date_naive() == t.date_naive() {
            t.format("%H:%M %Z").to_string()
        } else {
            t.format("%a %Y-%m-%d %H:%M %Z").to_string()
        }
    }
}

impl fmt::Display for HoursRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: entries are refused; {}", self.why, self.until)
    }
}

/// `HH:MM`.
fn hh_mm(t: NaiveTime) -> String {
    t.format("%H:%M").to_string()
}
