//! `token_failing` and `hub_down`: a task that reads the token manager's and both hubs' state every [`CHECK_EVERY`]
//! and notifies once an outage has lasted `NOTIFY_OUTAGE_SECS`, once per outage, then once when it is over.
//!
//! What counts as down:
//! - **token**: no usable session token (none yet, expired, or refused by the gateway), or the last refresh attempt
//!   failed (the token manager's `last_error`; a success clears it);
//! - **market hub**: something is subscribed and the hub is not connected (with nothing subscribed there is no
//!   connection to have);
//! - **user hub**: an account is watched and the hub is not connected (a re-login pause after repeated logouts
//!   included: entries are refused meanwhile).
//!
//! Why polling: the hubs publish their state through a connection that is replaced on every reconnect, and the
//! token manager has no change notification for failures; reading three snapshots from memory four times a second
//! is cheap and keeps this module out of those crates' internals. A short blip (a token rotation, a reconnect
//! under a second) never reaches `NOTIFY_OUTAGE_SECS`, so it is never announced.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{EventKind, Notice, Notifier};

/// How often the states are read.
pub const CHECK_EVERY: Duration = Duration::from_millis(250);

/// What an [`Outage`] says after a reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Down for `for_` now, for the first time in this outage.
    Down { for_: Duration },
    /// Up again after an announced outage that lasted `lasted`.
    Recovered { lasted: Duration },
}

/// One component's outage state (pure; the watcher feeds it readings).
#[derive(Debug, Default)]
pub struct Outage {
    /// When the current outage began.
    since: Option<Instant>,
    /// Whether it was announced.
    announced: bool,
}

impl Outage {
    /// Reads `down` at `now`: [`Change::Down`] once the outage reaches `after`, [`Change::Recovered`] when an
    /// announced one ends (an unannounced one ends silently).
    pub fn reading(&mut self, down: bool, now: Instant, after: Duration) -> Option<Change> {
        if down {
            let since = *self.since.get_or_insert(now);
            let lasted = now.saturating_duration_since(since);
            if !self.announced && lasted >= after {
                self.announced = true;
                return Some(Change::Down { for_: lasted });
            }
            return None;
        }
        let since = self.since.take()?;
        std::mem::take(&mut self.announced).then(|| Change::Recovered { lasted: now.saturating_duration_since(since) })
    }
}

/// What the watcher reads.
#[derive(Debug)]
pub struct Watched {
    /// The session token.
    pub tokens: projectx::TokenManager,
    /// The market hub.
    pub market: projectx::MarketHub,
    /// The user hub.
    pub user: projectx::UserHub,
}

/// Reads the states until `cancel`, notifying through `notify` (see the module docs); returns at once when
/// `notify` has no destination or neither outage event is wanted.
pub async fn watch(watched: Watched, notify: Notifier, after: Duration, cancel: CancellationToken) {
    if !(notify.wants(EventKind::TokenFailing) || notify.wants(EventKind::HubDown)) {
        return;
    }
    let (mut token, mut market, mut user) = (Outage::default(), Outage::default(), Outage::default());
    let mut every = tokio::time::interval(CHECK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            _ = every.tick() => {}
        }
        let now = Instant::now();
        let status = watched.tokens.status();
        let usable = watched.tokens.current().is_some_and(|t| t.is_usable());
        let token_down = !usable || status.last_error.is_some();
        if let Some(change) = token.reading(token_down, now, after) {
            let why = status.last_error.unwrap_or_else(|| "no usable session token".to_owned());
            notify.emit(token_notice(change, &why));
        }
        let m = watched.market.status();
        if let Some(change) = market.reading(!m.subscriptions.is_empty() && !m.connected, now, after) {
            notify.emit(hub_notice(change, "market"));
        }
        let u = watched.user.status();
        if let Some(change) = user.reading(!u.accounts.is_empty() && !u.connected, now, after) {
            let notice = hub_notice(change, "user");
            let notice = match u.logout_reason.filter(|_| matches!(change, Change::Down { .. })) {
                Some(reason) => Notice { message: format!("{} ({reason})", notice.message), ..notice },
                None => notice,
            };
            notify.emit(notice);
        }
    }
}

/// `token_failing` down or recovered. `why` is the token manager's last error text, which names no secret.
fn token_notice(change: Change, why: &str) -> Notice {
    match change {
        Change::Down { for_ } => Notice::new(
            EventKind::TokenFailing,
            format!("the session token has been failing for {} s: {why}; orders cannot be sent", for_.as_secs()),
        )
        .field("state", "down")
        .field("down_secs", for_.as_secs()),
        Change::Recovered { lasted } => Notice::new(
            EventKind::TokenFailing,
            format!("recovered: the session token is valid again after {} s", lasted.as_secs()),
        )
        .field("state", "recovered")
        .field("down_secs", lasted.as_secs()),
    }
}

/// `hub_down` down or recovered, for the `market` or `user` hub.
fn hub_notice(change: Change, hub: &'static str) -> Notice {
    let effect = if hub == "user" { "fills and positions are not seen live" } else { "quotes are not streaming" };
    match change {
        Change::Down { for_ } => {
            Notice::new(EventKind::HubDown, format!("the {hub} hub has been down for {} s: {effect}", for_.as_secs()))
                .field("hub", hub)
                .field("state", "down")
                .field("down_secs", for_.as_secs())
        }
        Change::Recovered { lasted } => Notice::new(
            EventKind::HubDown,
            format!("recovered: the {hub} hub is connected again after {} s", lasted.as_secs()),
        )
        .field("hub", hub)
        .field("state", "recovered")
        .field("down_secs", lasted.as_secs()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_announced_once_after_the_delay_then_its_recovery_once() {
        let after = Duration::from_secs(60);
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut o = Outage::default();
        assert_eq!(o.reading(false, at(0), after), None);
        assert_eq!(o.reading(true, at(1), after), None);
        assert_eq!(o.reading(true, at(60), after), None, "59 s down");
        assert_eq!(o.reading(true, at(61), after), Some(Change::Down { for_: Duration::from_secs(60) }));
        assert_eq!(o.reading(true, at(120), after), None, "once per outage");
        assert_eq!(o.reading(false, at(121), after), Some(Change::Recovered { lasted: Duration::from_secs(120) }));
        assert_eq!(o.reading(false, at(122), after), None);
    }

    #[test]
    fn a_short_outage_is_never_announced_nor_its_end() {
        let after = Duration::from_secs(60);
        let t0 = Instant::now();
        let mut o = Outage::default();
        assert_eq!(o.reading(true, t0, after), None);
        assert_eq!(o.reading(false, t0 + Duration::from_secs(59), after), None);
        // The next outage counts from its own start.
        assert_eq!(o.reading(true, t0 + Duration::from_secs(100), after), None);
        assert!(o.reading(true, t0 + Duration::from_secs(160), after).is_some());
    }
}
