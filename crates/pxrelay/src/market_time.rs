//! Market time (issue 12): the trader's time zone (`MARKET_TIMEZONE`, default `America/Chicago`, from `chrono-tz`'s
//! IANA database, never a hand-made offset table) and the **trading day**, which on CME starts at `SESSION_OPEN`
//! (default 17:00) the evening before: Tuesday's trading day runs from Monday 17:00 to Tuesday 17:00 Chicago time.
//! Daily limits reset, and a day's block ends, when the next trading day starts.
//!
//! The clock is injectable ([`MarketClock::with_now`]) so time rules are tested at any instant without waiting.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// `MARKET_TIMEZONE`'s default: CME's own (Central Time).
pub const DEFAULT_TIMEZONE: Tz = chrono_tz::America::Chicago;

/// `SESSION_OPEN`'s default: 17:00, when CME Globex opens the next trading day.
pub const DEFAULT_SESSION_OPEN: NaiveTime = match NaiveTime::from_hms_opt(17, 0, 0) {
    Some(t) => t,
    None => panic!("17:00 is a valid time"),
};

/// The time source: `Utc::now` in production, a settable instant in tests.
pub type Now = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The market's time zone, session open and clock. Cheap to clone.
#[derive(Clone)]
pub struct MarketClock {
    /// `MARKET_TIMEZONE`: the zone `SESSION_OPEN` (and the other `HH:MM` settings) are read in.
    pub tz: Tz,
    /// `SESSION_OPEN`: when a trading day starts, the evening before its date (local time in `tz`).
    pub session_open: NaiveTime,
    now: Now,
}

impl fmt::Debug for MarketClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MarketClock").field("tz", &self.tz).field("session_open", &self.session_open).finish()
    }
}

impl Default for MarketClock {
    fn default() -> Self {
        Self::new(DEFAULT_TIMEZONE, DEFAULT_SESSION_OPEN)
    }
}

impl MarketClock {
    /// A clock on the system time.
    pub fn new(tz: Tz, session_open: NaiveTime) -> Self {
        Self { tz, session_open, now: Arc::new(Utc::now) }
    }

    /// The same zone and session open on another time source (tests).
    pub fn with_now(self, now: Now) -> Self {
        Self { now, ..self }
    }

    /// The current instant.
    pub fn now(&self) -> DateTime<Utc> {
        (self.now)()
    }

    /// `at` in the market's time zone.
    pub fn local(&self, at: DateTime<Utc>) -> DateTime<Tz> {
        at.with_timezone(&self.tz)
    }

    /// The trading day `at` belongs to: its local date, or the next date from `SESSION_OPEN` on.
    pub fn trading_day(&self, at: DateTime<Utc>) -> NaiveDate {
        let local = self.local(at);
        if local.time() >= self.session_open { local.date_naive() + Days::new(1) } else { local.date_naive() }
    }

    /// When `day` starts: `SESSION_OPEN` on the date before it, local time, as UTC.
    pub fn day_start(&self, day: NaiveDate) -> DateTime<Utc> {
        self.at_local(day - Days::new(1), self.session_open)
    }

    /// When the trading day containing `at` started.
    pub fn trading_day_start(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        self.day_start(self.trading_day(at))
    }

    /// When the next trading day after the one containing `at` starts (the next `SESSION_OPEN`).
    pub fn next_session_open(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        self.day_start(self.trading_day(at) + Days::new(1))
    }

    /// `time` on local `date` as UTC. A time that occurs twice (DST ends) is the first; one that does not occur
    /// (DST starts) is the first instant after the gap (one hour later).
    pub fn at_local(&self, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        let naive = date.and_time(time);
        match self.tz.from_local_datetime(&naive) {
            chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
            chrono::LocalResult::None => {
                let later = naive + chrono::TimeDelta::hours(1);
                self.tz
                    .from_local_datetime(&later)
                    .earliest()
                    .map_or_else(|| later.and_utc(), |t| t.with_timezone(&Utc))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn the_cme_day_starts_at_five_pm_chicago_the_evening_before() {
        let clock = MarketClock::default();
        // Tuesday 2026-12-01 10:00 CST (UTC−6) is Tuesday's day, which began Monday 17:00 CST = 23:00 UTC.
        let at = utc("2026-12-01T16:00:00Z");
        assert_eq!(clock.trading_day(at), NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        assert_eq!(clock.trading_day_start(at), utc("2026-11-30T23:00:00Z"));
        assert_eq!(clock.next_session_open(at), utc("2026-12-01T23:00:00Z"));
        // 17:00 on the dot starts Wednesday's day.
        assert_eq!(clock.trading_day(utc("2026-12-01T23:00:00Z")), NaiveDate::from_ymd_opt(2026, 12, 2).unwrap());
        assert_eq!(clock.trading_day(utc("2026-12-01T22:59:59Z")), NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
    }

    #[test]
    fn daylight_saving_time_moves_the_utc_start() {
        let clock = MarketClock::default();
        // In July Chicago is CDT (UTC−5): 17:00 is 22:00 UTC.
        assert_eq!(clock.trading_day_start(utc("2026-07-15T15:00:00Z")), utc("2026-07-14T22:00:00Z"));
        // Across the November change (Sunday 2026-11-01): Monday's day starts Sunday 17:00 CST = 23:00 UTC.
        assert_eq!(clock.trading_day_start(utc("2026-11-02T15:00:00Z")), utc("2026-11-01T23:00:00Z"));
    }

    #[test]
    fn another_zone_and_session_open_are_respected() {
        let clock = MarketClock::new(chrono_tz::America::New_York, NaiveTime::from_hms_opt(18, 0, 0).unwrap());
        // 18:00 EST = 23:00 UTC.
        assert_eq!(clock.trading_day_start(utc("2026-12-01T16:00:00Z")), utc("2026-11-30T23:00:00Z"));
    }

    #[test]
    fn an_injected_clock_is_the_now() {
        let at = utc("2026-12-01T16:00:00Z");
        let clock = MarketClock::default().with_now(Arc::new(move || at));
        assert_eq!(clock.now(), at);
    }
}
