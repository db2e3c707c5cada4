//! Why entries are refused now: the kill switch (`KILL_SWITCH`, `POST /kill`), the user hub's re-login pause
//! after repeated `GatewayLogout`s (another session on this login, [`crate::logout`]), or a time rule
//! ([`crate::hours`]: CME's break or weekend, the `FLAT_BY` block, outside `TRADING_WINDOWS`). One value, read once
//! per plan, whose text names what was refused and until when; exits are never refused, so a trader can always get
//! out.

use projectx::UserStatus;

use super::Guards;
use crate::logout::{WHAT_TO_DO, pause_text};

/// A refusal of entries: the cause, and what the operator does about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EntryRefusal {
    /// `"kill switch is on"`, the pause's reason and end, or the time rule.
    why: String,
    /// `""`, or `"; <what to do>"` (a pause), or `"; <when entries are allowed again>"` (a time rule).
    todo: String,
}

impl EntryRefusal {
    /// The refusal in force, if any; the kill switch first (an operator's own choice needs no explanation), then the
    /// re-login pause, then the time rules at the market clock's now.
    pub(crate) fn now(guards: &Guards, hub: &UserStatus) -> Option<Self> {
        if guards.kill_switch.load(std::sync::atomic::Ordering::Relaxed) {
            return Some(Self { why: "kill switch is on".to_owned(), todo: String::new() });
        }
        if let Some(why) = pause_text(hub) {
            return Some(Self { why, todo: format!("; {WHAT_TO_DO}") });
        }
        let refusal = guards.hours.refusal(guards.hours.now())?;
        Some(Self { why: refusal.why, todo: format!("; {}", refusal.until) })
    }

    /// A refusal for another reason (the daily loss limit, [`crate::risk`]): `why`, and `todo` (`""` or `"; …"`).
    pub(crate) fn new(why: String, todo: String) -> Self {
        Self { why, todo }
    }

    /// `"<why>: <what> (exits are still allowed)<todo>"`, e.g. `what` = `"entries are refused"`.
    pub(crate) fn text(&self, what: &str) -> String {
        format!("{}: {what} (exits are still allowed){}", self.why, self.todo)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    use super::*;
    use crate::hours::{HoursRules, Venue};
    use crate::market_time::MarketClock;

    fn guards(kill_switch: bool) -> Guards {
        guards_at(
            kill_switch,
            crate::hours::Hours::new(
                MarketClock::default(),
                HoursRules { venue: Venue::Always, ..HoursRules::default() },
            ),
        )
    }

    fn guards_at(kill_switch: bool, hours: crate::hours::Hours) -> Guards {
        Guards {
            kill_switch: AtomicBool::new(kill_switch),
            max_contracts: 1,
            account_limits: Arc::new(crate::executor::NoCaps),
            dry_run: false,
            max_age: Duration::ZERO,
            hours,
        }
    }

    /// CME hours on a clock stopped at `at`.
    fn cme_at(at: &str) -> crate::hours::Hours {
        let at: chrono::DateTime<chrono::Utc> = at.parse().unwrap();
        crate::hours::Hours::new(MarketClock::default().with_now(Arc::new(move || at)), HoursRules::default())
    }

    fn hub(paused: bool) -> UserStatus {
        UserStatus {
            connected: false,
            synced: false,
            epoch: 0,
            connected_for_secs: None,
            reconnects: 0,
            token_reconnects: 0,
            last_event_age_ms: None,
            last_message_age_ms: None,
            events: 0,
            undecodable: 0,
            queued: 0,
            accounts: Vec::new(),
            logouts: 3,
            logged_out_by_other_session: paused,
            logout_reason: paused.then(|| "another session keeps signing in; re-login paused".to_owned()),
            paused_until: None,
        }
    }

    #[test]
    fn nothing_refuses_entries_without_the_kill_switch_or_a_pause() {
        assert_eq!(EntryRefusal::now(&guards(false), &hub(false)), None);
    }

    #[test]
    fn the_kill_switch_text_is_unchanged() {
        let refusal = EntryRefusal::now(&guards(true), &hub(true)).unwrap();
        assert_eq!(
            refusal.text("entries are refused"),
            "kill switch is on: entries are refused (exits are still allowed)"
        );
    }

    #[test]
    fn a_pause_refuses_entries_naming_the_other_session_and_what_to_do() {
        let text = EntryRefusal::now(&guards(false), &hub(true)).unwrap().text("the entry part was refused");
        assert!(text.starts_with("another session keeps signing in"), "{text}");
        assert!(
            text.contains("the entry part was refused (exits are still allowed); close the other session"),
            "{text}"
        );
        assert!(text.contains("POST /user-hub/resume"), "{text}");
    }

    #[test]
    fn the_cme_maintenance_break_refuses_entries_with_the_reopening_time() {
        // Tuesday 2026-12-01 16:30 CST.
        let refusal = EntryRefusal::now(&guards_at(false, cme_at("2026-12-01T22:30:00Z")), &hub(false)).unwrap();
        assert_eq!(
            refusal.text("entries are refused"),
            "the CME daily maintenance break (16:00-17:00 CT, Monday to Thursday): entries are refused (exits are \
             still allowed); the market reopens at 17:00 CST"
        );
        assert_eq!(EntryRefusal::now(&guards_at(false, cme_at("2026-12-01T23:00:00Z")), &hub(false)), None, "17:00");
    }

    #[test]
    fn the_kill_switch_and_a_pause_come_before_the_time_rules() {
        let closed = || cme_at("2026-12-05T18:00:00Z");
        let killed = EntryRefusal::now(&guards_at(true, closed()), &hub(false)).unwrap();
        assert!(killed.text("x").starts_with("kill switch is on"));
        let paused = EntryRefusal::now(&guards_at(false, closed()), &hub(true)).unwrap();
        assert!(paused.text("x").starts_with("another session keeps signing in"));
    }
}
