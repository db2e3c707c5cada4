//! `Client`: the typed REST client. One generic call path ([`Client::call`]) gives every endpoint the same
//! behaviour: a valid token first, a 401 answered by one refresh and one replay (safe even for orders: a 401 means
//! the gateway did not act), transient failures of *reads* retried with backoff (a 429 after its `Retry-After`),
//! and money-moving calls never retried.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::auth::{TokenManager, TokenSettings};
use crate::backoff::Backoff;
use crate::endpoint::{Endpoint, Kind};
use crate::error::Error;
use crate::http::Http;
use crate::keepwarm::{DEFAULT_KEEP_WARM, KeepWarmStats};
use crate::rate::RateLimit;

/// Everything the client needs; pxrelay builds it from its settings.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// REST base, e.g. `https://api.topstepx.com` (http:// works too, for tests).
    pub api_url: url::Url,
    /// Token lifecycle settings.
    pub token: TokenSettings,
    /// Per-request timeout (default 10 s).
    pub request_timeout: Duration,
    /// General rate budget (default 200 / 60 s).
    pub general_limit: RateLimit,
    /// `History/retrieveBars` budget (default 50 / 30 s).
    pub history_limit: RateLimit,
    /// Extra attempts for a read after a transient failure (default 3).
    pub read_retries: u32,
    /// Delays between read retries.
    pub read_backoff: Backoff,
    /// A 429 on a read is retried only if its `Retry-After` is at most this long (default 30 s).
    pub max_retry_after: Duration,
    /// Sees every request's endpoint, status and latency (metrics).
    pub observer: Option<crate::http::RequestObserver>,
    /// Keep the connection warm through quiet periods (default [`DEFAULT_KEEP_WARM`], 30 s; zero = off):
    /// no pool idle timeout, HTTP/2 keep-alive pings this often while idle, and, while
    /// [`Client::run_keep_warm`] runs, one `GET /api/Status/ping` (public, no token, from the general budget only
    /// if a read slot is free) whenever the client has sent nothing for this long. Keep it below the idle timeout
    /// of whatever sits in front of the gateway (an AWS ALB closes after 60 s). Why this call and these layers:
    /// [`crate::keepwarm`]. Zero restores reqwest's pool defaults (an idle connection is dropped after 90 s).
    pub keep_warm: Duration,
}

impl ClientConfig {
    /// Defaults for `api_url`.
    pub fn new(api_url: url::Url) -> Self {
        Self {
            api_url,
            token: TokenSettings::default(),
            request_timeout: Duration::from_secs(10),
            general_limit: RateLimit::GENERAL,
            history_limit: RateLimit::HISTORY,
            read_retries: 3,
            read_backoff: Backoff::default(),
            max_retry_after: Duration::from_secs(30),
            observer: None,
            keep_warm: DEFAULT_KEEP_WARM,
        }
    }
}

/// The gateway client. Cheap to clone; clones share the connection pool, rate budgets and token.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: Arc<Http>,
    tokens: TokenManager,
    read_retries: u32,
    read_backoff: Backoff,
    max_retry_after: Duration,
    /// [`ClientConfig::keep_warm`].
    keep_warm: Duration,
    /// Cancelled when the last clone of the client is dropped: ends the keep-warm loop.
    closed: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.closed.cancel();
    }
}

impl Client {
    /// Builds the client (no network call). Installs the rustls `ring` provider if none is installed yet.
    pub fn new(cfg: ClientConfig) -> Result<Self, Error> {
        let http = Http::new(
            &cfg.api_url,
            cfg.request_timeout,
            cfg.general_limit,
            cfg.history_limit,
            cfg.observer,
            cfg.keep_warm,
        )
        .map_err(|source| Error::Transport { endpoint: "client setup", source })?;
        let http = Arc::new(http);
        let tokens = TokenManager::new(http.clone(), cfg.token);
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                tokens,
                read_retries: cfg.read_retries,
                read_backoff: cfg.read_backoff,
                max_retry_after: cfg.max_retry_after,
                keep_warm: cfg.keep_warm,
                closed: CancellationToken::new(),
            }),
        })
    }

    /// The token manager (status, the refresher task, the token watch channel).
    pub fn tokens(&self) -> &TokenManager {
        &self.inner.tokens
    }

    /// The keep-warm loop ([`ClientConfig::keep_warm`], [`crate::keepwarm`]): pings the gateway whenever this
    /// client (any clone) has sent nothing for `keep_warm`. Spawn it once; it ends when `cancel` fires or when the
    /// last clone of the client is dropped, and at once when keep-warm is off. It takes no token and no lock, and
    /// logs at debug only.
    pub fn run_keep_warm(&self, cancel: CancellationToken) -> impl Future<Output = ()> + Send + 'static {
        self.inner.http.clone().keep_warm(self.inner.keep_warm, cancel, self.inner.closed.clone())
    }

    /// The keep-warm loop's counts so far (pings sent, failed, skipped).
    pub fn keep_warm_stats(&self) -> KeepWarmStats {
        self.inner.http.keep_warm.snapshot()
    }

    /// Calls `ep` with `body` and decodes its payload.
    pub(crate) async fn call<B, T>(&self, ep: &'static Endpoint, body: &B) -> Result<T, Error>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let mut replayed_after_401 = false;
        let mut retries = 0;
        loop {
            self.inner.http.acquire(ep).await;
            let token = self.inner.tokens.ensure_valid_token().await?;
            match self.inner.http.send(ep, Some(token.secret()), body).await {
                Err(e) if e.is_unauthorized() && !replayed_after_401 => {
                    // The gateway refused the token, so it did not act: refresh once and send again.
                    replayed_after_401 = true;
                    self.inner.tokens.invalidate(token.revision());
                }
                Err(e) if ep.kind == Kind::Read && e.is_retryable() && retries < self.inner.read_retries => {
                    retries += 1;
                    let delay = match e.retry_after() {
                        Some(wait) if wait > self.inner.max_retry_after => return Err(e),
                        // The rate budget itself holds the next call until Retry-After has passed.
                        Some(_) => Duration::ZERO,
                        None => self.inner.read_backoff.delay(retries),
                    };
                    tracing::debug!(endpoint = ep.path, error = %e, retry = retries, "retrying read");
                    tokio::time::sleep(delay).await;
                }
                other => return other,
            }
        }
    }
}
