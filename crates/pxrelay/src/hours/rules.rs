//! The two rule types read from the configuration: the venue's hours (`MARKET_HOURS`, CME's break and weekend in
//! Chicago time) and the trading windows (`TRADING_WINDOWS`, local times in `MARKET_TIMEZONE`).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, NaiveTime, Utc, Weekday};

use super::{Closed, Rule};
use crate::market_time::MarketClock;

/// `MARKET_HOURS`: whose hours entries follow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Venue {
    /// CME Globex: closed 16:00–17:00 Chicago Monday to Thursday (maintenance) and Friday 16:00 to Sunday 17:00
    /// (weekend). Holidays are not known (the gateway refuses those orders itself).
    #[default]
    Cme,
    /// Never closed (the simulator, other venues).
    Always,
}

/// CME's hours are CME's: Chicago time whatever `MARKET_TIMEZONE` says.
const CME_ZONE: chrono_tz::Tz = chrono_tz::America::Chicago;
/// The daily close, 16:00 Chicago.
const CME_CLOSE: NaiveTime = match NaiveTime::from_hms_opt(16, 0, 0) {
    Some(t) => t,
    None => panic!("16:00 is a valid time"),
};
/// The daily reopening, 17:00 Chicago.
const CME_OPEN: NaiveTime = match NaiveTime::from_hms_opt(17, 0, 0) {
    Some(t) => t,
    None => panic!("17:00 is a valid time"),
};

impl Venue {
    /// `cme` or `always`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cme => "cme",
            Self::Always => "always",
        }
    }

    /// The venue's rule refusing entries at `at`, if it is closed then.
    pub fn closed(self, at: DateTime<Utc>) -> Option<Closed> {
        if self == Self::Always {
            return None;
        }
        let chicago = MarketClock::new(CME_ZONE, CME_OPEN);
        let local = chicago.local(at);
        let (date, time) = (local.date_naive(), local.time());
        let (rule, days) = match local.weekday() {
            Weekday::Mon | Weekday::Tue | Weekday::Wed | Weekday::Thu if (CME_CLOSE..CME_OPEN).contains(&time) => {
                (Rule::MaintenanceBreak, 0)
            }
            Weekday::Fri if time >= CME_CLOSE => (Rule::WeekendClose, 2),
            Weekday::Sat => (Rule::WeekendClose, 1),
            Weekday::Sun if time < CME_OPEN => (Rule::WeekendClose, 0),
            _ => return None,
        };
        Some(Closed { rule, reopens: chicago.at_local(date + Days::new(days), CME_OPEN) })
    }
}

impl FromStr for Venue {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "cme" => Ok(Self::Cme),
            "always" => Ok(Self::Always),
            _ => Err(()),
        }
    }
}

/// One window: from `start` (included) to `end` (excluded), local times; `end < start` crosses midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Window {
    start: NaiveTime,
    end: NaiveTime,
}

impl Window {
    fn contains(self, t: NaiveTime) -> bool {
        if self.start < self.end { self.start <= t && t < self.end } else { t >= self.start || t < self.end }
    }
}

/// `TRADING_WINDOWS`: `08:30-11:30,13:00-15:00`, in `MARKET_TIMEZONE`. Empty: entries at any time of day.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TradingWindows(Vec<Window>);

impl TradingWindows {
    /// Parses a comma-separated list of `HH:MM-HH:MM` (blank: no windows). A window crossing midnight
    /// (`18:00-02:00`) is accepted; one that ends where it starts is not (empty or the whole day: unclear).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut windows = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = || format!("`{part}` is not a window; expected HH:MM-HH:MM such as 08:30-11:30");
            let (start, end) = part.split_once('-').ok_or_else(bad)?;
            let time = |t: &str| NaiveTime::parse_from_str(t.trim(), "%H:%M").map_err(|_| bad());
            let window = Window { start: time(start)?, end: time(end)? };
            if window.start == window.end {
                return Err(format!("`{part}` starts where it ends; a window needs a length"));
            }
            windows.push(window);
        }
        windows.sort_by_key(|w| w.start);
        Ok(Self(windows))
    }

    /// No window rule.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `None` when entries are inside a window at `at` (or there are no windows); else the next window's start.
    pub fn next_start(&self, clock: &MarketClock, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = clock.local(at);
        if self.0.is_empty() || self.0.iter().any(|w| w.contains(local.time())) {
            return None;
        }
        // Today's later starts, else tomorrow's (a window exists, so one of these is after `at`).
        [local.date_naive(), local.date_naive() + Days::new(1)]
            .into_iter()
            .flat_map(|date| self.0.iter().map(move |w| clock.at_local(date, w.start)))
            .find(|start| *start > at)
    }
}

impl fmt::Display for TradingWindows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> =
            self.0.iter().map(|w| format!("{}-{}", w.start.format("%H:%M"), w.end.format("%H:%M"))).collect();
        f.write_str(&parts.join(","))
    }
}
