//! Why entries are refused now: the kill switch (`KILL_SWITCH`, `POST /kill`), or the user hub's re-login pause
//! after repeated `GatewayLogout`s (another session on this login, [`crate::logout`]). One value, read once per
//! plan, whose text names what was refused; exits are never refused, so a trader can always get out.

use projectx::UserStatus;

use super::Guards;
use crate::logout::{WHAT_TO_DO, pause_text};

/// A refusal of entries: the cause, and what the operator does about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EntryRefusal {
    /// `"kill switch is on"`, or the pause's reason and end.
    why: String,
    /// `""`, or `"; <what to do>"`.
    todo: String,
}

impl EntryRefusal {
    /// The refusal in force, if any; the kill switch first (an operator's own choice needs no explanation).
    pub(crate) fn now(guards: &Guards, hub: &UserStatus) -> Option<Self> {
        if guards.kill_switch.load(std::sync::atomic::Ordering::Relaxed) {
            return Some(Self { why: "kill switch is on".to_owned(), todo: String::new() });
        }
        pause_text(hub).map(|why| Self { why, todo: format!("; {WHAT_TO_DO}") })
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
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    use super::*;

    fn guards(kill_switch: bool) -> Guards {
        Guards { kill_switch: AtomicBool::new(kill_switch), max_contracts: 1, dry_run: false, max_age: Duration::ZERO }
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
}
