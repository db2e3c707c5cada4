//! `LogoutGuard`: decides when `GatewayLogout` messages mean "another session is fighting this one".
//!
//! TopstepX allows one session at a time (API notes §9.22): a login elsewhere (the trader's platform, a second relay)
//! ends ours, and the gateway says so on the user hub with the undocumented `GatewayLogout` (§9.23). Re-logging in
//! at once is right for a one-off, but if the other session is still active each of our logins ends *its* session
//! and it logs in again: the two would take turns forever, and the trader could not use the platform. So a few
//! logouts close together stop the re-login for a pause that an operator can cut short.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Logouts within [`LOGOUT_WINDOW`] that stop the re-login. Three: one logout is a login elsewhere, two can still
/// be a reconnecting platform, a third within minutes means the other session keeps coming back.
pub const LOGOUT_LIMIT: usize = 3;

/// The window in which [`LOGOUT_LIMIT`] logouts count as a fight (10 minutes): long enough to catch a platform
/// that logs in again after a few minutes, short enough that a logout a day never adds up.
pub const LOGOUT_WINDOW: Duration = Duration::from_secs(10 * 60);

/// Recent logouts, oldest first.
#[derive(Debug, Default)]
pub(super) struct LogoutGuard {
    recent: VecDeque<Instant>,
}

impl LogoutGuard {
    /// Records a logout at `now`; `true` when it is the [`LOGOUT_LIMIT`]th within [`LOGOUT_WINDOW`] (the history is
    /// then cleared, so after a pause it takes as many again).
    pub(super) fn record(&mut self, now: Instant) -> bool {
        while self.recent.front().is_some_and(|t| now.duration_since(*t) >= LOGOUT_WINDOW) {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        if self.recent.len() >= LOGOUT_LIMIT {
            self.recent.clear();
            return true;
        }
        false
    }

    /// Forgets the history (an operator resumed).
    pub(super) fn clear(&mut self) {
        self.recent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_third_logout_within_ten_minutes_pauses() {
        let mut guard = LogoutGuard::default();
        assert!(!guard.record(Instant::now()));
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(!guard.record(Instant::now()));
        tokio::time::advance(Duration::from_secs(8 * 60)).await;
        assert!(guard.record(Instant::now()), "three within nine minutes");
        assert!(!guard.record(Instant::now()), "the history starts again after a pause");
    }

    #[tokio::test(start_paused = true)]
    async fn logouts_spread_over_more_than_ten_minutes_never_pause() {
        let mut guard = LogoutGuard::default();
        for _ in 0..10 {
            assert!(!guard.record(Instant::now()));
            tokio::time::advance(Duration::from_secs(5 * 60 + 1)).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn clearing_forgets_earlier_logouts() {
        let mut guard = LogoutGuard::default();
        guard.record(Instant::now());
        guard.record(Instant::now());
        guard.clear();
        assert!(!guard.record(Instant::now()));
    }
}
