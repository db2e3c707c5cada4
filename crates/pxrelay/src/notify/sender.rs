//! One destination's sender task: takes notices from its [`Queue`] in order, waits for the destination's rate limit
//! ([`Bucket`]), and POSTs each one, retrying on a 5xx, a 429 or a transport error with exponential backoff (a
//! `Retry-After` in seconds wins, capped) for at most [`Policy::attempts`] attempts. Any other answer is final.
//!
//! A destination that never answers holds up only its own queue (each destination has one task and one queue), and
//! that queue drops its oldest notices when full: the order path never waits on any of this.
//!
//! Logs name the destination by kind and host ([`Destination::label`]); reqwest errors are stripped of their URL
//! (`without_url`), since the URL is the destination's token.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::destination::Destination;
use super::queue::Queue;
use crate::metrics::Metrics;

/// Retries and timeouts of one send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Attempts per notice, the first included.
    pub attempts: u32,
    /// The first retry's delay; doubled for each further one.
    pub backoff: Duration,
    /// The longest wait between attempts (a longer `Retry-After` is cut to this).
    pub max_delay: Duration,
    /// One request's timeout.
    pub timeout: Duration,
}

impl Default for Policy {
    /// 5 attempts, 500 ms doubling to at most 30 s between them, 10 s per request: a receiver down for about
    /// half a minute still gets the notice.
    fn default() -> Self {
        Self {
            attempts: 5,
            backoff: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
        }
    }
}

/// A token bucket: `burst` sends at once, then one each `per`.
#[derive(Debug)]
pub struct Bucket {
    burst: f64,
    per: Duration,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// Full.
    pub fn new(burst: u32, per: Duration) -> Self {
        let burst = f64::from(burst.max(1));
        Self { burst, per, tokens: burst, last: Instant::now() }
    }

    /// Takes a token: `None` when one was there, else how long until one is (the token is taken then).
    pub fn take(&mut self, now: Instant) -> Option<Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed / self.per.as_secs_f64().max(1e-9)).min(self.burst);
        self.last = now;
        self.tokens -= 1.0;
        (self.tokens < 0.0).then(|| self.per.mul_f64(-self.tokens))
    }
}

/// What one attempt came to.
enum Attempt {
    Delivered,
    /// Worth another try, after at least this long (`Retry-After`), if given.
    Retry {
        why: String,
        after: Option<Duration>,
    },
    Final(String),
}

/// One destination's task (see the module docs).
#[derive(Debug)]
pub struct Sender {
    /// Where.
    pub destination: Destination,
    /// Its notices.
    pub queue: Arc<Queue>,
    /// The HTTP client (shared by every destination).
    pub http: reqwest::Client,
    /// Retries and timeouts.
    pub policy: Policy,
    /// `pxrelay_notifications_total{kind, result}`.
    pub metrics: Arc<Metrics>,
}

impl Sender {
    /// Sends until `cancel` fires (an attempt in flight is abandoned then; what is queued is not sent).
    pub async fn run(self, cancel: CancellationToken) {
        let (burst, per) = self.destination.kind().rate();
        let mut bucket = Bucket::new(burst, per);
        loop {
            let notice = tokio::select! {
                biased;
                () = cancel.cancelled() => return,
                n = self.queue.pop() => n,
            };
            if let Some(wait) = bucket.take(Instant::now()) {
                tokio::select! {
                    biased;
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
            }
            let body = self.destination.body(&notice);
            tokio::select! {
                biased;
                () = cancel.cancelled() => return,
                () = self.deliver(&body, notice.event.as_str()) => {}
            }
        }
    }

    /// Sends `body`, retrying as the policy says; counts the result.
    async fn deliver(&self, body: &serde_json::Value, event: &str) {
        let kind = self.destination.kind().as_str();
        let mut delay = self.policy.backoff;
        for attempt in 1..=self.policy.attempts {
            let why = match self.attempt(body).await {
                Attempt::Delivered => {
                    self.metrics.notification(kind, "sent");
                    return;
                }
                Attempt::Final(why) => {
                    self.metrics.notification(kind, "failed");
                    tracing::warn!(destination = %self.destination.label(), event, error = %why, "notification refused; not retried");
                    return;
                }
                Attempt::Retry { why, after } => {
                    if attempt < self.policy.attempts {
                        let wait = after.unwrap_or(delay).min(self.policy.max_delay);
                        tracing::debug!(destination = %self.destination.label(), event, attempt, error = %why, wait_ms = wait.as_millis() as u64, "notification not delivered; retrying");
                        tokio::time::sleep(wait).await;
                        delay = (delay * 2).min(self.policy.max_delay);
                    }
                    why
                }
            };
            if attempt == self.policy.attempts {
                self.metrics.notification(kind, "failed");
                tracing::warn!(destination = %self.destination.label(), event, attempts = attempt, error = %why, "notification not delivered; giving up");
            }
        }
    }

    async fn attempt(&self, body: &serde_json::Value) -> Attempt {
        let request = self.http.post(self.destination.url().clone()).timeout(self.policy.timeout).json(body);
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Attempt::Retry { why: e.without_url().to_string(), after: None },
        };
        let status = response.status();
        if status.is_success() {
            return Attempt::Delivered;
        }
        let why = format!("HTTP {status}");
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            Attempt::Retry { why, after: retry_after(response.headers()) }
        } else {
            Attempt::Final(why)
        }
    }
}

/// A `Retry-After` in whole or fractional seconds (Discord sends fractions); an HTTP date is ignored (the backoff
/// applies).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: f64 = text.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_lets_a_burst_through_then_spaces_sends() {
        let start = Instant::now();
        let mut b = Bucket::new(2, Duration::from_secs(1));
        assert_eq!(b.take(start), None);
        assert_eq!(b.take(start), None);
        assert_eq!(b.take(start), Some(Duration::from_secs(1)));
        // That token was taken for the moment it comes; the next one is a second later still.
        assert_eq!(b.take(start), Some(Duration::from_secs(2)));
        let later = start + Duration::from_secs(10);
        assert_eq!(b.take(later), None, "refilled, up to the burst");
    }

    #[test]
    fn retry_after_reads_seconds_and_ignores_dates() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(reqwest::header::RETRY_AFTER, "0.25".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        h.insert(reqwest::header::RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }
}
