//! One gateway round trip: rate budget, bearer header, status mapping and envelope decoding.
//!
//! This is where a failure is classified once for everyone: before-send network errors are
//! [`Error::Transport`]; for a money-moving endpoint anything after the request may have reached the gateway
//! (timeout, reset, 5xx, an unreadable 200) becomes [`Error::Ambiguous`]; `success:false` becomes
//! [`Error::Rejected`] with the endpoint's own code name. Retrying is decided by callers, never here.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::endpoint::{Bucket, Endpoint, Kind, STATUS_PING};
use crate::error::Error;
use crate::keepwarm::{self, Activity};
use crate::rate::{Priority, RateBudget, RateLimit};

/// `Retry-After` assumed for a 429 that carries none.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(10);
/// How much of an error body is kept for diagnosis.
const BODY_SNIPPET: usize = 512;

/// Called after every gateway request with the endpoint path, the HTTP status (0 when no answer arrived) and the
/// latency: how metrics see the gateway without this crate knowing about any metrics library.
#[derive(Clone)]
pub struct RequestObserver(pub std::sync::Arc<dyn Fn(&'static str, u16, Duration) + Send + Sync>);

impl std::fmt::Debug for RequestObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestObserver")
    }
}

/// The HTTP transport shared by the REST client and the token manager.
#[derive(Debug)]
pub(crate) struct Http {
    client: reqwest::Client,
    observer: Option<RequestObserver>,
    /// REST base without a trailing slash, e.g. `https://api.topstepx.com`.
    base: String,
    /// Also taken (without waiting) by the keep-warm ping.
    pub(crate) general: RateBudget,
    history: RateBudget,
    /// When a request last went out or came back; read by the keep-warm loop.
    pub(crate) activity: Activity,
    /// Keep-warm pings sent, failed and skipped.
    pub(crate) keep_warm: keepwarm::Counters,
}

/// The fields every response carries.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    success: bool,
    #[serde(default)]
    error_code: i64,
    #[serde(default)]
    error_message: Option<String>,
    #[serde(default)]
    order_id: Option<crate::OrderId>,
}

impl Http {
    /// Pings the gateway whenever the client has sent nothing for `every`, until `cancel` fires or the client is
    /// dropped (`closed`). Returns at once when `every` is zero (keep-warm off). Every wait is cancellable, so it ends
    /// promptly on either; nothing is logged above debug.
    pub(crate) async fn keep_warm(
        self: Arc<Self>,
        every: Duration,
        cancel: CancellationToken,
        closed: CancellationToken,
    ) {
        if every.is_zero() {
            return;
        }
        tracing::debug!(every_ms = every.as_millis() as u64, "keeping the gateway connection warm");
        let stop = async {
            tokio::select! {
                () = cancel.cancelled() => {}
                () = closed.cancelled() => {}
            }
        };
        let pinger =
            keepwarm::Pinger { activity: &self.activity, budget: &self.general, counters: &self.keep_warm, every };
        pinger.run(stop, || self.ping(keepwarm::PING_TIMEOUT)).await;
    }

    pub(crate) fn new(
        base: &url::Url,
        timeout: Duration,
        general: RateLimit,
        history: RateLimit,
        observer: Option<RequestObserver>,
        keep_warm: Duration,
    ) -> Result<Self, reqwest::Error> {
        crate::tls::install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("pxrelay/", env!("CARGO_PKG_VERSION")))
            // reqwest's own values, made explicit: the kernel probes a connection idle for 15 s every 15 s and
            // gives it up after 3 unanswered probes, so a dead peer does not sit in the pool.
            .tcp_keepalive(Duration::from_secs(15))
            .tcp_keepalive_interval(Duration::from_secs(15))
            .tcp_keepalive_retries(3);
        if !keep_warm.is_zero() {
            // Keep-warm (crate::keepwarm): the pool keeps an idle connection for good, h2 pings it while idle.
            builder = builder
                .pool_idle_timeout(None)
                .http2_keep_alive_interval(keep_warm)
                .http2_keep_alive_timeout(keepwarm::PING_TIMEOUT)
                .http2_keep_alive_while_idle(true);
        }
        Ok(Self {
            client: builder.build()?,
            observer,
            base: base.as_str().trim_end_matches('/').to_owned(),
            general: RateBudget::new(general),
            history: RateBudget::new(history),
            activity: Activity::new(),
            keep_warm: keepwarm::Counters::default(),
        })
    }

    /// Waits for room in the rate budgets `ep` draws on. Call it *before* choosing the token, so a call that
    /// waited long in the queue does not go out with a token that expired meanwhile.
    pub(crate) async fn acquire(&self, ep: &'static Endpoint) {
        if ep.bucket == Bucket::History {
            self.history.acquire(Priority::Normal).await;
        }
        let priority = match ep.kind {
            Kind::Auth => Priority::Auth,
            Kind::Mutation if ep.reduces_risk => Priority::Exit,
            Kind::Mutation => Priority::Mutation,
            Kind::Read => Priority::Normal,
        };
        self.general.acquire(priority).await;
    }

    /// Sends one request to `ep` (budget already acquired) and decodes the payload `T` of a successful envelope.
    pub(crate) async fn send<B, T>(
        &self,
        ep: &'static Endpoint,
        bearer: Option<&SecretString>,
        body: &B,
    ) -> Result<T, Error>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let mut req = self.client.post(format!("{}{}", self.base, ep.path)).json(body);
        if let Some(token) = bearer {
            let mut value = HeaderValue::try_from(format!("Bearer {}", token.expose_secret())).map_err(|_| {
                Error::Status { endpoint: ep.path, status: 401, retry_after: None, body: String::new() }
            })?;
            value.set_sensitive(true);
            req = req.header(AUTHORIZATION, value);
        }
        let started = Instant::now();
        self.activity.touch();
        let result = self.round_trip(ep, req).await;
        self.activity.touch();
        let latency = started.elapsed();
        let status = match &result {
            Ok(_) | Err(Error::Rejected { .. } | Error::Decode { .. }) => 200,
            Err(Error::Status { status, .. }) => *status,
            Err(Error::Ambiguous { source, .. }) => match source.as_ref() {
                Error::Status { status, .. } => *status,
                Error::Decode { .. } => 200,
                _ => 0,
            },
            Err(_) => 0,
        };
        tracing::debug!(endpoint = ep.path, status, latency_ms = latency.as_millis() as u64, "gateway call");
        if let Some(observe) = &self.observer {
            (observe.0)(ep.path, status, latency);
        }
        result
    }

    /// `GET /api/Status/ping` with no token, giving up after `timeout` (the keep-warm call; rate budget already
    /// taken). The answer is read to its end, so an HTTP/1.1 connection goes back to the pool.
    pub(crate) async fn ping(&self, timeout: Duration) -> Result<(), Error> {
        let ep = &STATUS_PING;
        let started = Instant::now();
        self.activity.touch();
        let result = async {
            let resp = self
                .client
                .get(format!("{}{}", self.base, ep.path))
                .timeout(timeout)
                .send()
                .await
                .map_err(|e| network_error(ep, e))?;
            let status = resp.status();
            if status == StatusCode::TOO_MANY_REQUESTS {
                let wait = parse_retry_after(resp.headers().get(RETRY_AFTER)).unwrap_or(DEFAULT_RETRY_AFTER);
                self.general.pause_until(Instant::now() + wait);
                self.history.pause_until(Instant::now() + wait);
            }
            resp.bytes().await.map_err(|e| network_error(ep, e))?;
            match status {
                StatusCode::OK => Ok(()),
                _ => Err(Error::Status {
                    endpoint: ep.path,
                    status: status.as_u16(),
                    retry_after: None,
                    body: String::new(),
                }),
            }
        }
        .await;
        self.activity.touch();
        let status = match &result {
            Ok(()) => 200,
            Err(Error::Status { status, .. }) => *status,
            Err(_) => 0,
        };
        if let Some(observe) = &self.observer {
            (observe.0)(ep.path, status, started.elapsed());
        }
        result
    }

    async fn round_trip<T: DeserializeOwned>(
        &self,
        ep: &'static Endpoint,
        req: reqwest::RequestBuilder,
    ) -> Result<T, Error> {
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Err(network_error(ep, e)),
        };
        let status = resp.status();
        if status != StatusCode::OK {
            let retry_after = (status == StatusCode::TOO_MANY_REQUESTS)
                .then(|| parse_retry_after(resp.headers().get(RETRY_AFTER)).unwrap_or(DEFAULT_RETRY_AFTER));
            if let Some(wait) = retry_after {
                let until = Instant::now() + wait;
                self.general.pause_until(until);
                self.history.pause_until(until);
            }
            let mut body = resp.text().await.unwrap_or_default();
            body.truncate(floor_char_boundary(&body, BODY_SNIPPET));
            let err = Error::Status { endpoint: ep.path, status: status.as_u16(), retry_after, body };
            return Err(if ep.kind == Kind::Mutation && status.is_server_error() {
                Error::Ambiguous { endpoint: ep.path, source: Box::new(err) }
            } else {
                err
            });
        }
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => return Err(network_error(ep, e)),
        };
        decode(ep, &bytes)
    }
}

/// Decodes an envelope: `success:false` is a rejection, otherwise the payload is read from the same bytes.
pub(crate) fn decode<T: DeserializeOwned>(ep: &'static Endpoint, bytes: &[u8]) -> Result<T, Error> {
    let ambiguous = |e: Error| {
        if ep.kind == Kind::Mutation { Error::Ambiguous { endpoint: ep.path, source: Box::new(e) } } else { e }
    };
    let head: Envelope = parse(ep, bytes).map_err(ambiguous)?;
    if !head.success {
        return Err(Error::Rejected {
            endpoint: ep.path,
            code: head.error_code,
            name: ep.code_name(head.error_code),
            message: head.error_message.filter(|m| !m.is_empty()),
            order_id: head.order_id,
        });
    }
    parse(ep, bytes).map_err(ambiguous)
}

fn parse<T: DeserializeOwned>(ep: &'static Endpoint, bytes: &[u8]) -> Result<T, Error> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| Error::Decode {
        endpoint: ep.path,
        path: e.path().to_string(),
        source: e.into_inner(),
    })
}

/// A network error: before-send (connect) failures are plain transport errors; for a mutation anything later may
/// have reached the gateway.
fn network_error(ep: &'static Endpoint, e: reqwest::Error) -> Error {
    let not_sent = e.is_connect() || e.is_builder();
    let err = Error::Transport { endpoint: ep.path, source: e.without_url() };
    if ep.kind == Kind::Mutation && !not_sent {
        Error::Ambiguous { endpoint: ep.path, source: Box::new(err) }
    } else {
        err
    }
}

fn parse_retry_after(value: Option<&HeaderValue>) -> Option<Duration> {
    let text = value?.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    let secs = (at.timestamp() - chrono::Utc::now().timestamp()).max(0);
    Some(Duration::from_secs(secs.unsigned_abs()))
}

fn floor_char_boundary(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    (0..=max).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::{ACCOUNT_SEARCH, ORDER_PLACE, POSITION_PARTIAL_CLOSE};

    #[derive(serde::Deserialize, Debug)]
    #[expect(dead_code, reason = "only decoding is exercised")]
    struct Placed {
        #[serde(rename = "orderId")]
        order_id: i64,
    }

    #[test]
    fn rejection_carries_the_endpoint_code_name_and_the_order_id() {
        let body = br#"{"orderId":123,"success":false,"errorCode":2,"errorMessage":"Invalid stop loss ticks (10)."}"#;
        match decode::<Placed>(&ORDER_PLACE, body) {
            Err(Error::Rejected { code: 2, name: "OrderRejected", message: Some(m), order_id: Some(id), .. }) => {
                assert!(m.contains("stop loss"));
                assert_eq!(id, crate::OrderId::new(123));
            }
            other => panic!("unexpected {other:?}"),
        }
        let body = br#"{"success":false,"errorCode":5,"errorMessage":null}"#;
        assert!(matches!(
            decode::<serde_json::Value>(&POSITION_PARTIAL_CLOSE, body),
            Err(Error::Rejected { name: "InvalidCloseSize", message: None, .. })
        ));
    }

    #[test]
    fn decode_failure_names_the_json_path() {
        #[derive(serde::Deserialize, Debug)]
        #[expect(dead_code, reason = "only decoding is exercised")]
        struct Accounts {
            accounts: Vec<Acc>,
        }
        #[derive(serde::Deserialize, Debug)]
        #[expect(dead_code, reason = "only decoding is exercised")]
        struct Acc {
            id: i32,
        }
        let body = br#"{"success":true,"errorCode":0,"accounts":[{"id":1},{"id":"x"}]}"#;
        match decode::<Accounts>(&ACCOUNT_SEARCH, body) {
            Err(Error::Decode { path, .. }) => assert_eq!(path, "accounts[1].id"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn an_unreadable_answer_to_an_order_is_ambiguous() {
        let body = br#"{"success":true,"orderId":"not a number"}"#;
        assert!(matches!(decode::<Placed>(&ORDER_PLACE, body), Err(Error::Ambiguous { .. })));
        assert!(matches!(decode::<Placed>(&ORDER_PLACE, b"<html>"), Err(Error::Ambiguous { .. })));
    }

    #[test]
    fn retry_after_reads_seconds() {
        assert_eq!(parse_retry_after(Some(&HeaderValue::from_static("7"))), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(Some(&HeaderValue::from_static("soon"))), None);
        assert_eq!(parse_retry_after(None), None);
    }
}
