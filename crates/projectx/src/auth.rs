//! `TokenManager`: the session token's whole life.
//!
//! * Seeds from a `JWT_TOKEN` (its `exp` read without an API call).
//! * [`TokenManager::ensure_valid_token`] hands out the current token with no API call while more than the refresh
//!   margin is left; otherwise it refreshes, `Auth/validate` first while the token is still accepted, `loginKey`
//!   after that.
//! * Refreshes are single-flight: a tokio mutex is the gate, callers that queue behind a refresh re-check the
//!   token once they get the gate and find the fresh one, so N concurrent callers cause one gateway call.
//! * Transient failures (network, 429, 5xx) never log the process out: while the old token is still accepted it is
//!   handed out and the refresh is retried with jittered backoff; with no usable token callers wait for the
//!   retries. Only a definitive refusal (bad credentials, no API subscription, no credentials) is an error.
//! * Every new token is published on a `watch` channel; the market hub reconnects on it.
//! * [`TokenManager::run_refresher`] refreshes ahead of expiry so request paths almost never wait.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::endpoint::{LOGIN_KEY, VALIDATE};
use crate::error::{AuthError, Error};
use crate::http::Http;
use crate::token::{Token, TokenSource, read_claims};

/// How long a caller holding a still-valid token waits for a refresh in flight before using the old token.
const USABLE_WAIT: Duration = Duration::from_secs(2);

/// Lifetime assumed for a token whose `exp` cannot be read (the gateway's are JWTs; this is a safety net).
const UNKNOWN_LIFETIME: Duration = Duration::from_secs(3600);

/// API-key login credentials. `Debug` redacts the key.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// Platform user name (`PROJECT_X_USERNAME`).
    pub username: String,
    /// API key (`PROJECT_X_API_KEY`).
    pub api_key: SecretString,
}

/// How the token manager behaves.
#[derive(Clone, Debug)]
pub struct TokenSettings {
    /// Credentials for `loginKey`; without them only the initial token (and `validate`) can be used.
    pub credentials: Option<Credentials>,
    /// A token to start from (`JWT_TOKEN`).
    pub initial_token: Option<SecretString>,
    /// Refresh once less than this is left before expiry (default 5 min).
    pub refresh_margin: Duration,
    /// The background refresher also wakes at least this often, as a safety net (default 60 s).
    pub check_interval: Duration,
    /// Delays between refresh attempts after transient failures.
    pub backoff: Backoff,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            credentials: None,
            initial_token: None,
            refresh_margin: Duration::from_secs(300),
            check_interval: Duration::from_secs(60),
            backoff: Backoff::default(),
        }
    }
}

/// What the status endpoint shows about the token.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TokenStatus {
    /// Expiry of the current token, if any.
    pub expires_at: Option<chrono::DateTime<Utc>>,
    /// Seconds until then (0 once expired).
    pub seconds_left: Option<u64>,
    /// Origin of the current token.
    pub source: Option<TokenSource>,
    /// Revision of the current token.
    pub revision: u64,
    /// Successful refreshes (validate or login) since start.
    pub refreshes: u64,
    /// Failed refresh attempts since start.
    pub failures: u64,
    /// The last refresh failure, if the last attempt failed.
    pub last_error: Option<String>,
}

/// Obtains, caches, refreshes and publishes the session token. Cheap to clone.
#[derive(Clone, Debug)]
pub struct TokenManager {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: Arc<Http>,
    settings: TokenSettings,
    /// The current token. Written only by the refresh flight holding `gate`; read by every caller (a brief read
    /// lock) and watched by the market hub, which reconnects when it changes.
    current: watch::Sender<Option<Arc<Token>>>,
    /// Single-flight gate (held across the refresh's `.await`s on purpose, so it is a tokio mutex) and the retry
    /// state only the flight holding it touches.
    gate: tokio::sync::Mutex<RetryState>,
    /// When the next refresh attempt is allowed after a failure; copied out of `gate` so the refresher can read it
    /// without queueing behind a flight.
    next_attempt: parking_lot::Mutex<Option<Instant>>,
    /// The last failure's text for status output; written by the flight, read by status.
    last_error: parking_lot::Mutex<Option<String>>,
    /// Notified when the gateway refuses the current token ([`TokenManager::invalidate`]), so the background
    /// refresher replaces it at once instead of at its next scheduled check (up to `check_interval` later).
    refused: tokio::sync::Notify,
    revisions: AtomicU64,
    refreshes: AtomicU64,
    failures: AtomicU64,
}

#[derive(Debug, Default)]
struct RetryState {
    consecutive_failures: u32,
    /// A definitive refusal stays the answer until the next attempt is due.
    definitive: Option<AuthError>,
}

enum Failure {
    Transient(Error),
    Definitive(AuthError),
}

impl TokenManager {
    pub(crate) fn new(http: Arc<Http>, settings: TokenSettings) -> Self {
        let initial = settings.initial_token.as_ref().and_then(|value| {
            let Some((exp, _)) = read_claims(value.expose_secret()) else {
                tracing::warn!("JWT_TOKEN is not a readable JWT (no `exp` claim); ignoring it");
                return None;
            };
            let left = (exp - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            tracing::info!(token.expires_at = %exp, token.seconds_left = left.as_secs(), "seeded session token from JWT_TOKEN");
            Some(Arc::new(Token::new(value.clone(), exp, settings.refresh_margin, 1, TokenSource::Env)))
        });
        let revisions = AtomicU64::new(u64::from(initial.is_some()));
        Self {
            inner: Arc::new(Inner {
                http,
                settings,
                current: watch::Sender::new(initial),
                gate: tokio::sync::Mutex::new(RetryState::default()),
                next_attempt: parking_lot::Mutex::new(None),
                last_error: parking_lot::Mutex::new(None),
                refused: tokio::sync::Notify::new(),
                revisions,
                refreshes: AtomicU64::new(0),
                failures: AtomicU64::new(0),
            }),
        }
    }

    /// The current token, refreshed first if it has less than the refresh margin left. No API call while it is
    /// fresh. Waits (single-flight) when a refresh is needed and no usable token exists; fails only on a
    /// definitive refusal.
    pub async fn ensure_valid_token(&self) -> Result<Arc<Token>, AuthError> {
        self.ensure(1).await
    }

    /// Marks token `revision` as refused by the gateway (a 401): the next [`Self::ensure_valid_token`] refreshes
    /// (logging in, since a refused token cannot be validated). A revision already replaced is ignored, so N
    /// requests failing with the same token cause one refresh.
    pub fn invalidate(&self, revision: u64) {
        if let Some(t) = self.inner.current.borrow().as_ref().filter(|t| t.revision() == revision) {
            tracing::warn!(token.revision = revision, "gateway refused the session token; refreshing");
            t.mark_rejected();
            // The background refresher may be asleep until its next scheduled check: wake it now.
            self.inner.refused.notify_one();
        }
    }

    /// Logs in with the credentials now, whatever the current token's state (the `pxrelay token` command).
    pub async fn login_now(&self) -> Result<Arc<Token>, Error> {
        let _gate = self.inner.gate.lock().await;
        let creds =
            self.inner.settings.credentials.as_ref().ok_or(AuthError::NoCredentials { token_state: "not used" })?;
        let value = self.login(creds).await.map_err(|f| match f {
            Failure::Transient(e) => e,
            Failure::Definitive(e) => Error::Auth(e),
        })?;
        Ok(self.publish(value, TokenSource::Login))
    }

    /// Receives every new token (the market hub reconnects with it).
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<Token>>> {
        self.inner.current.subscribe()
    }

    /// The current token, whatever its state.
    pub fn current(&self) -> Option<Arc<Token>> {
        self.inner.current.borrow().clone()
    }

    /// A snapshot for status output.
    pub fn status(&self) -> TokenStatus {
        let current = self.current();
        TokenStatus {
            expires_at: current.as_ref().map(|t| t.expires_at()),
            seconds_left: current.as_ref().map(|t| t.time_left().as_secs()),
            source: current.as_ref().map(|t| t.source()),
            revision: current.as_ref().map_or(0, |t| t.revision()),
            refreshes: self.inner.refreshes.load(Ordering::Relaxed),
            failures: self.inner.failures.load(Ordering::Relaxed),
            last_error: self.inner.last_error.lock().clone(),
        }
    }

    /// Refreshes ahead of expiry until `cancel` fires: wakes when the token has twice its refresh lead left (so
    /// request paths, which refresh at one lead, find a fresh token), after a failed attempt's backoff, and at
    /// least every `check_interval`.
    pub async fn run_refresher(self, cancel: CancellationToken) {
        loop {
            let wake = self.next_wake();
            tokio::select! {
                biased;
                () = cancel.cancelled() => return,
                () = tokio::time::sleep_until(wake) => {}
                () = self.inner.refused.notified() => {}
            }
            tokio::select! {
                biased;
                () = cancel.cancelled() => return,
                result = self.ensure(2) => if let Err(e) = result {
                    tracing::error!(error = %e, "background token refresh failed");
                }
            }
        }
    }

    fn next_wake(&self) -> Instant {
        let now = Instant::now();
        let mut target = match self.current() {
            Some(t) if t.is_usable() => now + t.time_left().saturating_sub(t.refresh_lead() * 2),
            _ => now,
        };
        if let Some(at) = *self.inner.next_attempt.lock() {
            target = target.max(at);
        }
        target.min(now + self.inner.settings.check_interval).max(now + Duration::from_millis(20))
    }

    /// `leads`: 1 for request paths, 2 for the refresher running ahead of them.
    async fn ensure(&self, leads: u32) -> Result<Arc<Token>, AuthError> {
        let fresh = |t: &Arc<Token>| t.is_fresh(t.refresh_lead() * leads);
        if let Some(t) = self.current().filter(fresh) {
            return Ok(t);
        }
        // A refresh is due. When the current token still works, wait only briefly for a refresh already in flight:
        // a slow gateway must not hold order placement while a valid token is in hand.
        let mut retry = match self.current().filter(|t| t.is_usable()) {
            Some(usable) => match tokio::time::timeout(USABLE_WAIT, self.inner.gate.lock()).await {
                Ok(gate) => gate,
                Err(_) => return Ok(usable),
            },
            None => self.inner.gate.lock().await,
        };
        loop {
            let current = self.current();
            if let Some(t) = current.clone().filter(fresh) {
                return Ok(t);
            }
            let usable = current.clone().filter(|t| t.is_usable());
            let due = self.inner.next_attempt.lock().is_none_or(|at| Instant::now() >= at);
            if !due {
                if let Some(t) = usable {
                    return Ok(t);
                }
                if let Some(e) = &retry.definitive {
                    return Err(e.clone());
                }
            }
            match self.obtain(current.as_deref()).await {
                Ok((value, source)) => {
                    *retry = RetryState::default();
                    *self.inner.next_attempt.lock() = None;
                    *self.inner.last_error.lock() = None;
                    return Ok(self.publish(value, source));
                }
                Err(failure) => {
                    retry.consecutive_failures += 1;
                    self.inner.failures.fetch_add(1, Ordering::Relaxed);
                    let (delay, text) = match &failure {
                        Failure::Transient(e) => {
                            let delay = self.inner.settings.backoff.delay(retry.consecutive_failures);
                            tracing::warn!(error = %e, attempt = retry.consecutive_failures, retry_in_ms = delay.as_millis() as u64, "token refresh failed");
                            (delay, e.to_string())
                        }
                        // Reported by the caller that gets it (startup exits with it; the refresher logs it):
                        // a retry time here would promise a retry to a process that is about to exit.
                        Failure::Definitive(e) => (self.inner.settings.backoff.delay(u32::MAX), e.to_string()),
                    };
                    *self.inner.last_error.lock() = Some(text);
                    *self.inner.next_attempt.lock() = Some(Instant::now() + delay);
                    if let Some(t) = usable.filter(|t| t.is_usable()) {
                        return Ok(t);
                    }
                    match failure {
                        Failure::Definitive(e) => {
                            retry.definitive = Some(e.clone());
                            return Err(e);
                        }
                        Failure::Transient(_) => tokio::time::sleep(delay).await,
                    }
                }
            }
        }
    }

    /// One refresh attempt: validate while the token is accepted, else (or if validate refuses) log in.
    async fn obtain(&self, current: Option<&Token>) -> Result<(SecretString, TokenSource), Failure> {
        let mut transient = None;
        if let Some(token) = current.filter(|t| t.is_usable()) {
            match self.validate(token).await {
                Ok(value) => return Ok((value, TokenSource::Validate)),
                Err(e) if e.is_retryable() => transient = Some(e),
                Err(e) => {
                    tracing::info!(error = %e, "session could not be validated; logging in");
                    token.mark_rejected();
                }
            }
        }
        let Some(creds) = self.inner.settings.credentials.as_ref() else {
            if let Some(e) = transient {
                return Err(Failure::Transient(e));
            }
            let token_state = match current {
                // Never printed: a malformed value may still be a secret pasted into the wrong variable.
                None if self.inner.settings.initial_token.is_some() => {
                    "set but is not a JWT (no header.payload.signature with a readable `exp` claim)"
                }
                None => "missing",
                Some(t) if t.is_rejected() => "rejected by the gateway",
                Some(_) => "expired",
            };
            return Err(Failure::Definitive(AuthError::NoCredentials { token_state }));
        };
        self.login(creds).await.map(|v| (v, TokenSource::Login))
    }

    async fn validate(&self, token: &Token) -> Result<SecretString, Error> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Validated {
            new_token: Option<String>,
        }
        self.inner.http.acquire(&VALIDATE).await;
        if !token.is_usable() {
            return Err(Error::Status { endpoint: VALIDATE.path, status: 401, retry_after: None, body: String::new() });
        }
        let resp: Validated = self.inner.http.send(&VALIDATE, Some(token.secret()), &serde_json::json!({})).await?;
        resp.new_token.filter(|t| !t.is_empty()).map(SecretString::from).ok_or(Error::Rejected {
            endpoint: VALIDATE.path,
            code: 0,
            name: "Success",
            message: Some("no newToken in the answer".into()),
            order_id: None,
        })
    }

    async fn login(&self, creds: &Credentials) -> Result<SecretString, Failure> {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Login<'a> {
            user_name: &'a str,
            api_key: &'a str,
        }
        #[derive(serde::Deserialize)]
        struct LoggedIn {
            token: Option<String>,
        }
        let body = Login { user_name: &creds.username, api_key: creds.api_key.expose_secret() };
        self.inner.http.acquire(&LOGIN_KEY).await;
        match self.inner.http.send::<_, LoggedIn>(&LOGIN_KEY, None, &body).await {
            Ok(LoggedIn { token: Some(t) }) if !t.is_empty() => Ok(SecretString::from(t)),
            Ok(_) => Err(Failure::Transient(Error::Rejected {
                endpoint: LOGIN_KEY.path,
                code: 0,
                name: "Success",
                message: Some("no token in the answer".into()),
                order_id: None,
            })),
            Err(e) if e.is_retryable() => Err(Failure::Transient(e)),
            // UnknownError is the gateway's own hiccup, not a verdict on the credentials.
            Err(e @ Error::Rejected { code: 8, .. }) => Err(Failure::Transient(e)),
            Err(Error::Rejected { code, name, message, .. }) => Err(Failure::Definitive(AuthError::LoginRejected {
                reason: format!("{name} (errorCode {code}){}", message.map(|m| format!(": {m}")).unwrap_or_default()),
                hint: login_hint(code),
            })),
            Err(Error::Status { status, .. }) => {
                Err(Failure::Definitive(AuthError::LoginRejected { reason: format!("HTTP {status}"), hint: "" }))
            }
            Err(e) => Err(Failure::Transient(e)),
        }
    }

    fn publish(&self, value: SecretString, source: TokenSource) -> Arc<Token> {
        let now = Utc::now();
        let (expires_at, issued_at) = read_claims(value.expose_secret()).unwrap_or_else(|| {
            tracing::warn!("the gateway's token has no readable `exp`; assuming it lasts one hour");
            (now + UNKNOWN_LIFETIME, None)
        });
        let lifetime = (expires_at - issued_at.unwrap_or(now)).to_std().unwrap_or(Duration::ZERO);
        // A token that lives only a few margins long refreshes after two thirds of its life instead.
        let lead = self.inner.settings.refresh_margin.min(lifetime / 3);
        let revision = self.inner.revisions.fetch_add(1, Ordering::Relaxed) + 1;
        let refreshes = self.inner.refreshes.fetch_add(1, Ordering::Relaxed) + 1;
        let token = Arc::new(Token::new(value, expires_at, lead, revision, source));
        tracing::info!(
            token.source = ?source,
            token.revision = revision,
            token.expires_at = %expires_at,
            token.refreshes = refreshes,
            "session token refreshed"
        );
        self.inner.current.send_replace(Some(token.clone()));
        token
    }
}

fn login_hint(code: i64) -> &'static str {
    match code {
        7 => " (accept the platform agreements in the firm's web platform)",
        9 => " (the API subscription must be active and linked to this user's profile)",
        10 => " (the firm has disabled API-key login)",
        _ => "",
    }
}
