//! Misbehaviour on demand: scripted failures (before or after the request is processed), added
//! latency (for every request or per [`Scope`]), and the sliding-window rate limiter that answers 429. All state sits behind
//! `parking_lot` mutexes held for a statement; times use `tokio::time::Instant` so tests with paused
//! time can advance through `fail_for` windows and rate-limit windows.

use std::collections::VecDeque;
use std::time::Duration;

use axum::http::StatusCode;
use parking_lot::Mutex;
use tokio::time::Instant;

use crate::config::RateLimit;

/// Which requests a chaos rule applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every request.
    All,
    /// Requests whose path starts with `/api/Auth/`.
    Auth,
    /// Requests to exactly this path, e.g. `"/api/Order/place"` (case-sensitive).
    Path(String),
}

impl Scope {
    /// How narrow the scope is: a path beats the auth group, which beats every request.
    fn specificity(&self) -> u8 {
        match self {
            Self::All => 0,
            Self::Auth => 1,
            Self::Path(_) => 2,
        }
    }

    fn matches(&self, path: &str) -> bool {
        match self {
            Self::All => true,
            Self::Auth => path.starts_with("/api/Auth/"),
            Self::Path(p) => p == path,
        }
    }
}

/// When a rule fires.
#[derive(Debug)]
enum Trigger {
    /// The next n matching requests, not processed.
    Next(u32),
    /// Every matching request until the deadline, not processed.
    Until(Instant),
    /// The next n matching requests, processed and then answered with the status.
    NextAfterProcessing(u32),
}

#[derive(Debug)]
struct Rule {
    scope: Scope,
    status: StatusCode,
    trigger: Trigger,
}

impl Rule {
    fn spent(&self, now: Instant) -> bool {
        match self.trigger {
            Trigger::Next(n) | Trigger::NextAfterProcessing(n) => n == 0,
            Trigger::Until(deadline) => now >= deadline,
        }
    }
}

/// Scripted failures and latency, set through `SimHandle`, read by the REST gate.
#[derive(Debug, Default)]
pub(crate) struct Chaos {
    /// Written by the handle's chaos methods and by the gate (consuming `Next` rules).
    state: Mutex<ChaosState>,
}

#[derive(Debug, Default)]
struct ChaosState {
    /// Rules in insertion order; the first matching live rule wins.
    rules: Vec<Rule>,
    /// Added before the answers of matching requests, one entry per scope (setting a scope again
    /// replaces its entry). The most specific matching scope wins: `Path`, then `Auth`, then `All`.
    latencies: Vec<(Scope, Duration)>,
}

impl Chaos {
    pub(crate) fn fail_next(&self, n: u32, status: u16, scope: Scope) {
        self.push(scope, status, Trigger::Next(n));
    }

    pub(crate) fn fail_for(&self, d: Duration, status: u16, scope: Scope) {
        let deadline = Instant::now().checked_add(d).unwrap_or_else(far_future);
        self.push(scope, status, Trigger::Until(deadline));
    }

    pub(crate) fn fail_next_after_processing(&self, n: u32, status: u16, scope: Scope) {
        self.push(scope, status, Trigger::NextAfterProcessing(n));
    }

    pub(crate) fn set_latency(&self, scope: Scope, d: Duration) {
        let mut state = self.state.lock();
        state.latencies.retain(|(s, _)| *s != scope);
        state.latencies.push((scope, d));
    }

    /// The latency added to an answer to `path`: that of the most specific matching scope
    /// (`Path`, then `Auth`, then `All`), zero when none matches.
    pub(crate) fn latency(&self, path: &str) -> Duration {
        let state = self.state.lock();
        let matching = state.latencies.iter().filter(|(scope, _)| scope.matches(path));
        matching.max_by_key(|(scope, _)| scope.specificity()).map_or(Duration::ZERO, |(_, d)| *d)
    }

    pub(crate) fn clear(&self) {
        *self.state.lock() = ChaosState::default();
    }

    /// The status to answer instead of processing this request, consuming one `Next` shot.
    pub(crate) fn before(&self, path: &str, now: Instant) -> Option<StatusCode> {
        self.take(path, now, false)
    }

    /// The status to answer after processing this request, consuming one shot.
    pub(crate) fn after(&self, path: &str, now: Instant) -> Option<StatusCode> {
        self.take(path, now, true)
    }

    fn take(&self, path: &str, now: Instant, after_processing: bool) -> Option<StatusCode> {
        let mut state = self.state.lock();
        state.rules.retain(|rule| !rule.spent(now));
        let rule = state.rules.iter_mut().find(|rule| {
            rule.scope.matches(path) && matches!(rule.trigger, Trigger::NextAfterProcessing(_)) == after_processing
        })?;
        if let Trigger::Next(n) | Trigger::NextAfterProcessing(n) = &mut rule.trigger {
            *n -= 1; // live rules have n > 0: spent ones were just removed
        }
        Some(rule.status)
    }

    fn push(&self, scope: Scope, status: u16, trigger: Trigger) {
        let status = StatusCode::from_u16(status).unwrap_or_else(|_| {
            tracing::warn!(status, "invalid injected HTTP status, using 500");
            StatusCode::INTERNAL_SERVER_ERROR
        });
        self.state.lock().rules.push(Rule { scope, status, trigger });
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 60 * 60)
}

/// One sliding-window log: the instants of admitted requests still inside the window.
#[derive(Debug)]
struct Window {
    limit: RateLimit,
    admitted: VecDeque<Instant>,
}

impl Window {
    fn new(limit: RateLimit) -> Self {
        Self { limit, admitted: VecDeque::new() }
    }

    /// How long until a slot frees, or `None` if a request may be admitted now.
    fn wait(&mut self, now: Instant) -> Option<Duration> {
        while self.admitted.front().is_some_and(|&t| now.saturating_duration_since(t) >= self.limit.window) {
            self.admitted.pop_front();
        }
        let requests = usize::try_from(self.limit.requests).unwrap_or(usize::MAX);
        if requests == 0 {
            return Some(self.limit.window);
        }
        if self.admitted.len() < requests {
            return None;
        }
        let oldest_blocking = self.admitted[self.admitted.len() - requests];
        Some((oldest_blocking + self.limit.window).saturating_duration_since(now))
    }
}

/// The gateway's two budgets: general (every `/api/` request) and history (`retrieveBars`).
#[derive(Debug)]
pub(crate) struct RateLimiter {
    /// Written by the gate only.
    windows: Mutex<(Option<Window>, Option<Window>)>,
}

/// The path that also counts against the history budget.
pub(crate) const HISTORY_PATH: &str = "/api/History/retrieveBars";

impl RateLimiter {
    pub(crate) fn new(general: Option<RateLimit>, history: Option<RateLimit>) -> Self {
        Self { windows: Mutex::new((general.map(Window::new), history.map(Window::new))) }
    }

    /// Admits the request (recording it in every budget it counts against) or returns how long to
    /// wait. A refused request consumes no slot.
    pub(crate) fn admit(&self, path: &str, now: Instant) -> Result<(), Duration> {
        if !path.starts_with("/api/") {
            return Ok(());
        }
        let mut guard = self.windows.lock();
        let (general, history) = &mut *guard;
        let history = history.as_mut().filter(|_| path == HISTORY_PATH);
        let mut windows: Vec<&mut Window> = general.as_mut().into_iter().chain(history).collect();
        let wait = windows.iter_mut().filter_map(|w| w.wait(now)).max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        for window in windows {
            window.admitted.push_back(now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEARCH: &str = "/api/Account/search";

    #[test]
    fn sliding_window_frees_the_oldest_slot_first() {
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let limit = RateLimit { requests: 2, window: Duration::from_secs(10) };
        let limiter = RateLimiter::new(Some(limit), Some(RateLimit { requests: 1, window: Duration::from_secs(30) }));
        assert!(limiter.admit(SEARCH, at(0)).is_ok());
        assert!(limiter.admit(SEARCH, at(4)).is_ok());
        assert_eq!(limiter.admit(SEARCH, at(4)), Err(Duration::from_secs(6)));
        assert!(limiter.admit("/hubs/user", at(4)).is_ok(), "non-API paths are not limited");
        assert!(limiter.admit(HISTORY_PATH, at(10)).is_ok());
        assert_eq!(limiter.admit(HISTORY_PATH, at(20)), Err(Duration::from_secs(20)));
        assert!(limiter.admit(SEARCH, at(20)).is_ok(), "the refused bars call took no general slot");
        assert!(limiter.admit(SEARCH, at(20)).is_ok());
        assert_eq!(limiter.admit(SEARCH, at(20)), Err(Duration::from_secs(10)));
    }

    #[test]
    fn next_rules_are_consumed_and_timed_rules_expire() {
        let chaos = Chaos::default();
        let t0 = Instant::now();
        chaos.fail_next(1, 503, Scope::Auth);
        chaos.fail_for(Duration::from_secs(5), 502, Scope::Path("/api/Order/place".into()));
        chaos.fail_next_after_processing(1, 500, Scope::All);
        assert_eq!(chaos.before("/api/Order/place", t0), Some(StatusCode::BAD_GATEWAY));
        assert_eq!(chaos.before("/api/Auth/loginKey", t0), Some(StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(chaos.before("/api/Auth/loginKey", t0), None);
        assert_eq!(chaos.after("/api/Order/place", t0), Some(StatusCode::INTERNAL_SERVER_ERROR));
        assert_eq!(chaos.after("/api/Order/place", t0), None);
        let after_window = Instant::now() + Duration::from_secs(5);
        assert_eq!(chaos.before("/api/Order/place", after_window), None);
    }

    #[test]
    fn the_most_specific_latency_applies_and_setting_a_scope_again_replaces_it() {
        let chaos = Chaos::default();
        let ms = Duration::from_millis;
        assert_eq!(chaos.latency("/api/Order/place"), Duration::ZERO);
        chaos.set_latency(Scope::Path("/api/Order/place".into()), ms(150));
        assert_eq!(chaos.latency("/api/Order/place"), ms(150));
        assert_eq!(chaos.latency("/api/Position/closeContract"), Duration::ZERO, "other paths are not slowed");
        chaos.set_latency(Scope::All, ms(20));
        chaos.set_latency(Scope::Auth, ms(40));
        assert_eq!(chaos.latency("/api/Order/place"), ms(150), "the path's own latency wins over every request's");
        assert_eq!(chaos.latency("/api/Auth/loginKey"), ms(40));
        assert_eq!(chaos.latency("/api/Account/search"), ms(20));
        chaos.set_latency(Scope::Path("/api/Order/place".into()), Duration::ZERO);
        assert_eq!(chaos.latency("/api/Order/place"), Duration::ZERO, "a zero path latency exempts that path");
        chaos.clear();
        assert_eq!(chaos.latency("/api/Account/search"), Duration::ZERO);
    }
}
