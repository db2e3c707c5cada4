//! Another session on the same login (issue 11), as the app sees it. TopstepX allows one session at a time (API
//! notes §9.22); the user hub is told so with `GatewayLogout` (§9.23). `projectx::UserHub` logs in again after one,
//! and after [`projectx::LOGOUT_LIMIT`] within [`projectx::LOGOUT_WINDOW`] stops logging in for
//! `USER_HUB_LOGOUT_PAUSE_SECS` ([`projectx::UserStatus::logged_out_by_other_session`]). This module turns that
//! state into what the operator sees: the refusal of entries (the executor's guard, `executor::refusal`; exits still go through), the
//! `/ready` and `/status` texts, and one `error` log line when a pause starts ([`watch`]). `POST /user-hub/resume`
//! (`routes::user_hub`) ends a pause at once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use projectx::{UserHub, UserStatus};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// What the operator does about a pause; part of every message about it.
pub const WHAT_TO_DO: &str = "close the other session on this login (the trading platform, another pxrelay or bot), \
                              then POST /user-hub/resume with the webhook secret; or wait for the pause to end \
                              (USER_HUB_LOGOUT_PAUSE_SECS), when pxrelay logs in again";

/// How often [`watch`] looks at the hub (a log line, so a second late is fine).
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// The pause in force, if any: `(reason, until)` from the hub's status.
fn pause(status: &UserStatus) -> Option<(&str, Option<DateTime<Utc>>)> {
    if !status.logged_out_by_other_session {
        return None;
    }
    let reason = status.logout_reason.as_deref().unwrap_or("another session keeps signing in to this login");
    Some((reason, status.paused_until))
}

/// `" until <time>"`, or nothing when the time is unknown.
fn until_text(until: Option<DateTime<Utc>>) -> String {
    until.map(|t| format!(" until {}", t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))).unwrap_or_default()
}

/// The pause in force as one phrase, `"<reason> until <time>"`; `None` when the hub is not paused. The executor's
/// refusal of entries starts with it.
pub fn pause_text(status: &UserStatus) -> Option<String> {
    let (reason, until) = pause(status)?;
    Some(format!("{reason}{}", until_text(until)))
}

/// The `/status` entry `user_hub_pause`: `null`, or `{reason, paused_until, what_to_do}`.
pub fn status_entry(status: &UserStatus) -> Value {
    match pause(status) {
        None => Value::Null,
        Some((reason, until)) => json!({"reason": reason, "paused_until": until, "what_to_do": WHAT_TO_DO}),
    }
}

/// `/ready`'s `user_hub` check. A pause always fails it. Otherwise the hub matters only when `trading` (webhooks
/// enabled and not `DRY_RUN`: orders may be sent, and positions are read from the hub-fed books) and an account is
/// watched (the default account from the warm-up on, or the first alert's): then it must be connected with every
/// subscription confirmed (`synced`).
pub fn ready_check(status: &UserStatus, trading: bool) -> Value {
    if let Some((reason, until)) = pause(status) {
        return json!({
            "ok": false,
            "reason": format!("{reason}{}", until_text(until)),
            "logged_out_by_other_session": true,
            "paused_until": until,
            "what_to_do": WHAT_TO_DO,
        });
    }
    if !trading {
        return json!({"ok": true, "reason": "not trading (no WEBHOOK_SECRET, or DRY_RUN): the user hub is not needed"});
    }
    if status.accounts.is_empty() {
        return json!({"ok": true, "reason": "no account watched yet"});
    }
    if status.synced {
        return json!({"ok": true, "epoch": status.epoch});
    }
    let reason = if status.connected {
        "the user hub is connected but not every subscription is confirmed yet"
    } else {
        "the user hub is not connected: account events (fills, positions) would be missed"
    };
    json!({"ok": false, "reason": reason, "reconnects": status.reconnects})
}

/// Logs at `error` once when a pause starts (what happened and what to do) and at `info` when it ends. Runs until
/// `cancel` fires.
pub async fn watch(hub: UserHub, cancel: CancellationToken) {
    let mut ticks = tokio::time::interval(WATCH_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The pause last logged, by its end time (a new pause has a new one).
    let mut logged: Option<Option<DateTime<Utc>>> = None;
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let status = hub.status();
        match (pause(&status), logged) {
            (Some((reason, until)), seen) if seen != Some(until) => {
                tracing::error!(
                    paused_until = ?until,
                    logouts = status.logouts,
                    "{reason}{}: entries are refused, exits still go through; {WHAT_TO_DO}",
                    until_text(until)
                );
                logged = Some(until);
            }
            (None, Some(_)) => {
                tracing::info!("the user hub re-login pause is over: entries are accepted again");
                logged = None;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> UserStatus {
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
            logouts: 0,
            logged_out_by_other_session: false,
            logout_reason: None,
            paused_until: None,
        }
    }

    fn watched() -> UserStatus {
        UserStatus { accounts: vec![projectx::AccountId::new(9001)], ..status() }
    }

    fn paused() -> UserStatus {
        UserStatus {
            logouts: 3,
            logged_out_by_other_session: true,
            logout_reason: Some("3 GatewayLogout messages within 10 minutes: another session".into()),
            paused_until: Some(DateTime::from_timestamp(1_800_000_000, 0).unwrap()),
            ..watched()
        }
    }

    #[test]
    fn a_watched_account_needs_a_synced_hub_when_trading() {
        let check = ready_check(&watched(), true);
        assert_eq!(check["ok"], false, "{check}");
        assert!(check["reason"].as_str().unwrap().contains("not connected"), "{check}");
        let connected = UserStatus { connected: true, ..watched() };
        let check = ready_check(&connected, true);
        assert_eq!(check["ok"], false);
        assert!(check["reason"].as_str().unwrap().contains("not every subscription"), "{check}");
        let synced = UserStatus { connected: true, synced: true, epoch: 2, ..watched() };
        assert_eq!(ready_check(&synced, true), json!({"ok": true, "epoch": 2}));
    }

    #[test]
    fn the_hub_is_not_needed_without_trading_or_a_watched_account() {
        assert_eq!(ready_check(&watched(), false)["ok"], true);
        assert_eq!(ready_check(&status(), true), json!({"ok": true, "reason": "no account watched yet"}));
    }

    #[test]
    fn a_pause_fails_the_check_even_without_trading_and_names_the_other_session() {
        for trading in [true, false] {
            let check = ready_check(&paused(), trading);
            assert_eq!(check["ok"], false);
            assert_eq!(check["logged_out_by_other_session"], true);
            assert_eq!(check["paused_until"], "2027-01-15T08:00:00Z");
            let reason = check["reason"].as_str().unwrap();
            assert!(reason.contains("another session") && reason.ends_with("until 2027-01-15T08:00:00Z"), "{reason}");
            assert!(check["what_to_do"].as_str().unwrap().contains("POST /user-hub/resume"));
        }
    }

    #[test]
    fn the_pause_is_shown_only_while_paused() {
        assert_eq!(pause_text(&watched()), None);
        let text = pause_text(&paused()).unwrap();
        assert!(text.contains("another session") && text.ends_with("until 2027-01-15T08:00:00Z"), "{text}");
        assert_eq!(status_entry(&watched()), Value::Null);
        assert_eq!(status_entry(&paused())["paused_until"], "2027-01-15T08:00:00Z");
    }
}
