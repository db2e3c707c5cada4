//! The time rules at chosen instants: CME's break and weekend (both DST changes, another `MARKET_TIMEZONE`), trading
//! windows (parsing, midnight, a DST gap), the flat-by block, and their combination.

use chrono::{NaiveTime, TimeZone};

use super::*;

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn hm(text: &str) -> NaiveTime {
    NaiveTime::parse_from_str(text, "%H:%M").unwrap()
}

fn hours(venue: Venue, windows: &str, flat_by: Option<&str>) -> Hours {
    let rules = HoursRules { venue, windows: TradingWindows::parse(windows).unwrap(), flat_by: flat_by.map(hm) };
    Hours::new(MarketClock::default(), rules)
}

fn cme() -> Hours {
    hours(Venue::Cme, "", None)
}

/// The rule refusing at `at` (UTC) and its own reopening (UTC).
fn closed(h: &Hours, at: &str) -> Option<(Rule, DateTime<Utc>)> {
    h.closed(utc(at)).map(|c| (c.rule, c.reopens))
}

#[test]
fn the_cme_maintenance_break_is_16_to_17_chicago_monday_to_thursday() {
    let h = cme();
    // Tuesday 2026-12-01, CST (UTC−6).
    assert_eq!(closed(&h, "2026-12-01T21:59:59Z"), None, "15:59:59");
    assert_eq!(closed(&h, "2026-12-01T22:00:00Z"), Some((Rule::MaintenanceBreak, utc("2026-12-01T23:00:00Z"))));
    assert_eq!(closed(&h, "2026-12-01T22:30:00Z"), Some((Rule::MaintenanceBreak, utc("2026-12-01T23:00:00Z"))));
    assert_eq!(closed(&h, "2026-12-01T23:00:00Z"), None, "17:00 reopens");
    // Monday and Thursday too.
    assert_eq!(closed(&h, "2026-11-30T22:30:00Z").map(|c| c.0), Some(Rule::MaintenanceBreak));
    assert_eq!(closed(&h, "2026-12-03T22:30:00Z"), Some((Rule::MaintenanceBreak, utc("2026-12-03T23:00:00Z"))));
}

#[test]
fn the_cme_weekend_runs_from_friday_16_to_sunday_17_chicago() {
    let h = cme();
    let sunday_open = utc("2026-12-06T23:00:00Z");
    assert_eq!(closed(&h, "2026-12-04T21:59:00Z"), None, "Friday 15:59");
    assert_eq!(closed(&h, "2026-12-04T22:00:00Z"), Some((Rule::WeekendClose, sunday_open)), "Friday 16:00");
    assert_eq!(closed(&h, "2026-12-05T06:00:00Z"), Some((Rule::WeekendClose, sunday_open)), "Saturday 00:00");
    assert_eq!(closed(&h, "2026-12-05T18:00:00Z"), Some((Rule::WeekendClose, sunday_open)), "Saturday noon");
    assert_eq!(closed(&h, "2026-12-06T22:59:59Z"), Some((Rule::WeekendClose, sunday_open)), "Sunday 16:59:59");
    assert_eq!(closed(&h, "2026-12-06T23:00:00Z"), None, "Sunday 17:00");
    assert_eq!(closed(&h, "2026-12-07T06:00:00Z"), None, "Monday 00:00");
}

#[test]
fn cme_hours_follow_both_daylight_saving_changes() {
    let h = cme();
    // July: CDT (UTC−5); the break is 21:00–22:00 UTC.
    assert_eq!(closed(&h, "2026-07-14T21:30:00Z"), Some((Rule::MaintenanceBreak, utc("2026-07-14T22:00:00Z"))));
    assert_eq!(closed(&h, "2026-07-14T22:30:00Z"), None, "17:30 CDT");
    // Closed on Friday 2026-03-06 in CST; reopens Sunday 2026-03-08, after the change, at 17:00 CDT = 22:00 UTC.
    assert_eq!(closed(&h, "2026-03-06T23:00:00Z"), Some((Rule::WeekendClose, utc("2026-03-08T22:00:00Z"))));
    assert_eq!(closed(&h, "2026-03-08T22:00:00Z"), None);
    // Closed on Friday 2026-10-30 in CDT; reopens Sunday 2026-11-01, after the change, at 17:00 CST = 23:00 UTC.
    assert_eq!(closed(&h, "2026-10-30T21:30:00Z"), Some((Rule::WeekendClose, utc("2026-11-01T23:00:00Z"))));
    assert_eq!(closed(&h, "2026-11-01T22:30:00Z").map(|c| c.0), Some(Rule::WeekendClose), "16:30 CST");
}

#[test]
fn cme_hours_stay_in_chicago_whatever_the_market_time_zone_and_the_text_uses_the_market_zone() {
    let clock = MarketClock::new(chrono_tz::America::New_York, hm("18:00"));
    let h = Hours::new(clock, HoursRules::default());
    // Tuesday 17:30 New York = 16:30 Chicago: the break; it ends at 18:00 New York time.
    let refusal = h.refusal(utc("2026-12-01T22:30:00Z")).unwrap();
    assert_eq!(refusal.closed, Closed { rule: Rule::MaintenanceBreak, reopens: utc("2026-12-01T23:00:00Z") });
    assert_eq!(refusal.until, "the market reopens at 18:00 EST");
}

#[test]
fn the_refusal_names_the_rule_and_the_reopening_with_the_zone_abbreviation() {
    let h = cme();
    let text = h.refusal(utc("2026-12-01T22:30:00Z")).unwrap().to_string();
    assert_eq!(
        text,
        "the CME daily maintenance break (16:00-17:00 CT, Monday to Thursday): entries are refused; the market \
         reopens at 17:00 CST"
    );
    let summer = h.refusal(utc("2026-07-14T21:30:00Z")).unwrap();
    assert_eq!(summer.until, "the market reopens at 17:00 CDT");
    // Another day: the date is named.
    let weekend = h.refusal(utc("2026-12-05T18:00:00Z")).unwrap();
    assert_eq!(weekend.why, "the CME weekend close (Friday 16:00 to Sunday 17:00 CT)");
    assert_eq!(weekend.until, "the market reopens at Sun 2026-12-06 17:00 CST");
}

#[test]
fn always_never_closes() {
    let h = hours(Venue::Always, "", None);
    for at in ["2026-12-01T22:30:00Z", "2026-12-05T18:00:00Z", "2026-12-06T20:00:00Z"] {
        assert_eq!(h.refusal(utc(at)), None, "{at}");
    }
    assert_eq!(h.status(utc("2026-12-05T18:00:00Z")).next_entry_allowed_at, None);
}

#[test]
fn trading_windows_parse_sorted_and_print_back() {
    let w = TradingWindows::parse(" 13:00-15:00 ,08:30-11:30,").unwrap();
    assert_eq!(w.to_string(), "08:30-11:30,13:00-15:00");
    assert!(TradingWindows::parse("").unwrap().is_empty());
    assert!(TradingWindows::parse(" , ").unwrap().is_empty());
    assert_eq!(TradingWindows::parse("18:00-02:00").unwrap().to_string(), "18:00-02:00");
    for bad in ["08:30", "8.30-11:30", "08:30-25:00", "08:30-11:30;13:00-15:00", "morning"] {
        let err = TradingWindows::parse(bad).unwrap_err();
        assert!(err.contains("expected HH:MM-HH:MM"), "{bad}: {err}");
    }
    let err = TradingWindows::parse("08:30-08:30").unwrap_err();
    assert!(err.contains("starts where it ends"), "{err}");
}

#[test]
fn outside_the_windows_entries_wait_for_the_next_window_start() {
    let h = hours(Venue::Always, "08:30-11:30,13:00-15:00", None);
    // Tuesday 2026-12-01 in CST: 08:30 = 14:30 UTC.
    assert_eq!(closed(&h, "2026-12-01T14:29:59Z"), Some((Rule::OutsideWindows, utc("2026-12-01T14:30:00Z"))));
    assert_eq!(closed(&h, "2026-12-01T14:30:00Z"), None, "a window's start is inside");
    assert_eq!(closed(&h, "2026-12-01T17:30:00Z"), Some((Rule::OutsideWindows, utc("2026-12-01T19:00:00Z"))), "11:30");
    assert_eq!(closed(&h, "2026-12-01T20:59:00Z"), None, "14:59");
    // After the last window: tomorrow's first.
    assert_eq!(closed(&h, "2026-12-01T21:00:00Z"), Some((Rule::OutsideWindows, utc("2026-12-02T14:30:00Z"))));
    let refusal = h.refusal(utc("2026-12-01T18:00:00Z")).unwrap();
    assert_eq!(refusal.why, "outside TRADING_WINDOWS 08:30-11:30,13:00-15:00");
    assert_eq!(refusal.until, "the next window starts at 13:00 CST");
}

#[test]
fn a_window_may_cross_midnight() {
    let h = hours(Venue::Always, "18:00-02:00", None);
    assert_eq!(closed(&h, "2026-12-02T05:00:00Z"), None, "23:00 CST");
    assert_eq!(closed(&h, "2026-12-02T07:59:00Z"), None, "01:59 CST the next morning");
    assert_eq!(closed(&h, "2026-12-02T08:00:00Z"), Some((Rule::OutsideWindows, utc("2026-12-03T00:00:00Z"))), "02:00");
}

#[test]
fn a_window_starting_in_the_spring_gap_starts_when_the_clock_resumes() {
    // 2026-03-08 02:00 CST does not exist in Chicago: the clock jumps to 03:00 CDT; a 02:30 start is 03:30 CDT.
    let h = hours(Venue::Always, "02:30-04:00", None);
    assert_eq!(closed(&h, "2026-03-08T07:00:00Z"), Some((Rule::OutsideWindows, utc("2026-03-08T08:30:00Z"))));
    assert_eq!(closed(&h, "2026-03-08T08:45:00Z"), None, "03:45 CDT");
}

#[test]
fn the_flat_by_block_runs_from_flat_by_to_the_session_open() {
    let h = hours(Venue::Always, "", Some("15:08"));
    assert_eq!(closed(&h, "2026-12-01T21:07:59Z"), None, "15:07:59 CST");
    assert_eq!(closed(&h, "2026-12-01T21:08:00Z"), Some((Rule::FlatBy, utc("2026-12-01T23:00:00Z"))));
    assert_eq!(closed(&h, "2026-12-01T22:59:59Z"), Some((Rule::FlatBy, utc("2026-12-01T23:00:00Z"))));
    assert_eq!(closed(&h, "2026-12-01T23:00:00Z"), None, "17:00: the next session");
    // In July (CDT) the same local times.
    assert_eq!(closed(&h, "2026-07-14T20:08:00Z"), Some((Rule::FlatBy, utc("2026-07-14T22:00:00Z"))));
    let refusal = h.refusal(utc("2026-12-01T21:30:00Z")).unwrap();
    assert_eq!(
        refusal.to_string(),
        "FLAT_BY 15:08 has passed (managed positions are flattened then): entries are refused; the next session \
         opens at 17:00 CST (SESSION_OPEN)"
    );
}

#[test]
fn rules_combine_into_the_first_time_every_rule_allows_entries() {
    let h = hours(Venue::Cme, "08:30-11:30,13:00-15:00", Some("15:08"));
    // Friday 2026-12-04 15:30 CST: the flat-by block, then the weekend, then Monday's first window.
    let refusal = h.refusal(utc("2026-12-04T21:30:00Z")).unwrap();
    assert_eq!(refusal.closed.rule, Rule::FlatBy);
    assert_eq!(refusal.allowed_again, Some(utc("2026-12-07T14:30:00Z")));
    assert!(refusal.until.ends_with("; entries are allowed again at Mon 2026-12-07 08:30 CST"), "{}", refusal.until);
    // Tuesday 16:30: CME's break comes first.
    let status = h.status(utc("2026-12-01T22:30:00Z"));
    assert_eq!(
        status,
        HoursStatus {
            market_open: false,
            window_open: false,
            flat_by_block: true,
            next_entry_allowed_at: Some("2026-12-02T08:30:00-06:00".to_owned()),
        }
    );
    // Inside a window on a weekday: nothing refuses.
    let open = h.status(utc("2026-12-01T15:00:00Z"));
    assert!(open.market_open && open.window_open && !open.flat_by_block && open.next_entry_allowed_at.is_none());
}

#[test]
fn rules_that_exclude_each_other_say_so_instead_of_looping() {
    // The only window lies inside CME's maintenance break.
    let h = hours(Venue::Cme, "16:10-16:50", None);
    let refusal = h.refusal(utc("2026-12-01T22:30:00Z")).unwrap();
    assert_eq!(refusal.allowed_again, None);
    assert!(refusal.until.contains("no time within two weeks allows entries"), "{}", refusal.until);
}

#[test]
fn local_times_read_back_in_the_market_zone() {
    let h = cme();
    let at = chrono_tz::America::Chicago.with_ymd_and_hms(2026, 12, 1, 16, 30, 0).unwrap().with_timezone(&Utc);
    assert_eq!(h.when(at, at), "16:30 CST");
}
