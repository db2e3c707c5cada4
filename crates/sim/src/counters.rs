//! What the simulator has seen, for tests to assert on: calls per path and the outcomes that matter
//! to a client's auth, retry and rate-limit logic. `SimHandle::counters` returns a snapshot.

use std::collections::BTreeMap;

use axum::http::StatusCode;

/// A snapshot of the simulator's counters.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    /// Successful `/api/Auth/loginKey` calls.
    pub logins: u64,
    /// `loginKey` calls refused for wrong credentials (errorCode 3).
    pub login_failures: u64,
    /// Successful `/api/Auth/validate` calls.
    pub validates: u64,
    /// Every 401 answered, whether from the auth check or injected by chaos.
    pub unauthorized: u64,
    /// Every 429 answered, whether from the rate limiter or injected by chaos.
    pub rate_limited: u64,
    /// Answers replaced by chaos rules (`fail_next`, `fail_for`, `fail_next_after_processing`).
    pub injected_failures: u64,
    /// Every request by path, including refused ones (401, 429, injected failures, 404).
    pub calls: BTreeMap<String, u64>,
    /// TCP connections accepted, of every kind (REST, hub upgrades and negotiates).
    pub tcp_connections: u64,
    /// TCP connections whose first request was a REST one (anything outside `/hubs/`): how many
    /// connections REST clients opened. A client that reuses its connection across a quiet period
    /// leaves this unchanged.
    pub rest_connections: u64,
    /// Connections closed by the idle close (`SimConfig::idle_close`).
    pub idle_closed: u64,
}

impl Counters {
    /// Requests seen for exactly this path, e.g. `"/api/Order/place"`.
    pub fn calls(&self, path: &str) -> u64 {
        self.calls.get(path).copied().unwrap_or(0)
    }

    /// All requests to paths under `/api/Auth/`.
    pub fn auth_calls(&self) -> u64 {
        self.calls.iter().filter(|(path, _)| path.starts_with("/api/Auth/")).map(|(_, n)| n).sum()
    }

    pub(crate) fn record_call(&mut self, path: &str) {
        *self.calls.entry(path.to_owned()).or_default() += 1;
    }

    pub(crate) fn record_answer(&mut self, status: StatusCode) {
        match status {
            StatusCode::UNAUTHORIZED => self.unauthorized += 1,
            StatusCode::TOO_MANY_REQUESTS => self.rate_limited += 1,
            _ => {}
        }
    }
}
