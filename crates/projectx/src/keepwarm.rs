//! Keeping the gateway connection warm through quiet hours, so the first order after a long silence goes out on an
//! open connection instead of paying TCP and TLS handshakes first.
//!
//! TradingView alerts come minutes or hours apart. Left alone, the connection pool drops an idle connection after
//! 90 s (reqwest's default), and a load balancer in front of the gateway closes idle keep-alive connections after
//! its own idle timeout (an AWS ALB after 60 s by default; Kestrel, the gateway's server, after 130 s). Three layers
//! keep it open (all set up by [`crate::Client`] when [`crate::ClientConfig::keep_warm`] is not zero):
//! - no pool idle timeout, and TCP keep-alive probes (15 s idle, every 15 s, 3 probes; reqwest's values, set
//!   explicitly) so a dead peer is noticed by the kernel;
//! - HTTP/2 keep-alive PING frames every `keep_warm` while idle, when h2 is negotiated (ALPN over TLS): no request,
//!   no rate budget, and a connection whose ping is not answered within 5 s is closed before an order can use it;
//! - because HTTP/1.1 has no ping and a load balancer may not count h2 PINGs as traffic: one
//!   `GET /api/Status/ping` once the client has sent nothing for `keep_warm` ([`run`]).
//!
//! Why `Status/ping`: it is the cheapest call the gateway has. It needs no token (so it never waits for, or holds,
//! the token lock a refresh takes, and never triggers a login), has no body, answers a constant `pong`, and touches
//! no account data. The gateway's rate limits apply to authenticated requests (API notes §4, §9.24), so it is
//! probably not even counted; it is taken from the general budget anyway, at read priority and only if a slot is
//! free right now ([`crate::rate::RateBudget::try_acquire`]): it never waits, never uses the slots kept for orders,
//! exits and token refreshes, and is skipped when the budget is busy (a busy client is not idle). At the default
//! 30 s that is at most 2 calls a minute, 1 % of the documented 200 / 60 s, and none while other calls flow.
//!
//! Limits: with HTTP/1.1 a request can only reuse a connection that is not busy, so an order that arrives during
//! the few milliseconds a ping is in flight opens a second connection (a 0.1 % chance at 30 ms per 30 s); with h2
//! they share the connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::Error;
use crate::rate::{Priority, RateBudget};

/// The default of [`crate::ClientConfig::keep_warm`]: half an AWS ALB's default idle timeout (60 s), so a
/// connection is never quiet long enough for the most common load balancer to close it.
pub const DEFAULT_KEEP_WARM: Duration = Duration::from_secs(30);

/// Longest a keep-warm ping (and an HTTP/2 keep-alive PING) may take; a connection that does not answer within it
/// is dropped, so the next real call opens a fresh one instead of waiting on a dead one.
pub(crate) const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// When the client last used its connection: touched by every request as it leaves and as its answer arrives, read
/// by the keep-warm loop. One atomic (milliseconds since `epoch`, only ever raised), so the order path pays a
/// relaxed `fetch_max` and takes no lock.
#[derive(Debug)]
pub(crate) struct Activity {
    epoch: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    pub(crate) fn new() -> Self {
        Self { epoch: Instant::now(), last_ms: AtomicU64::new(0) }
    }

    /// The connection is in use now.
    pub(crate) fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// When the connection was last in use (the client's creation if never).
    pub(crate) fn last(&self) -> Instant {
        self.epoch + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// What the keep-warm loop did so far ([`crate::Client::keep_warm_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeepWarmStats {
    /// Pings answered 200.
    pub sent: u64,
    /// Pings that failed (no answer within 5 s, a network error, a non-200 status).
    pub failed: u64,
    /// Pings not sent because the rate budget had no free read slot (busy, or paused by a 429).
    pub skipped: u64,
}

/// The counters behind [`KeepWarmStats`]; written by the loop, read by metrics.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    sent: AtomicU64,
    failed: AtomicU64,
    skipped: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> KeepWarmStats {
        KeepWarmStats {
            sent: self.sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
        }
    }
}

/// The schedule, apart from the HTTP call so paused-time tests can drive it.
pub(crate) struct Pinger<'a> {
    pub(crate) activity: &'a Activity,
    pub(crate) budget: &'a RateBudget,
    pub(crate) counters: &'a Counters,
    pub(crate) every: Duration,
}

impl Pinger<'_> {
    /// Calls `ping` whenever `activity` shows nothing for `every` and `budget` has a free read slot, until `stop`.
    /// `ping` is expected to touch `activity` (as `Http::ping` does).
    pub(crate) async fn run<F>(&self, stop: impl Future<Output = ()>, mut ping: impl FnMut() -> F)
    where
        F: Future<Output = Result<(), Error>>,
    {
        tokio::pin!(stop);
        // After a skipped ping: not again before this (the activity alone would make it due at once).
        let mut not_before = Instant::now();
        loop {
            let due = (self.activity.last() + self.every).max(not_before);
            if Instant::now() < due {
                tokio::select! {
                    biased;
                    () = &mut stop => return,
                    // A call may have gone out meanwhile: the next turn recomputes the due time.
                    () = tokio::time::sleep_until(due) => continue,
                }
            }
            not_before = Instant::now() + self.every;
            if !self.budget.try_acquire(Priority::Normal) {
                self.counters.skipped.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("keep-warm ping skipped: the rate budget is busy");
                continue;
            }
            let result = tokio::select! {
                biased;
                () = &mut stop => return,
                r = ping() => r,
            };
            match result {
                Ok(()) => self.counters.sent.fetch_add(1, Ordering::Relaxed),
                Err(error) => {
                    tracing::debug!(%error, "keep-warm ping failed");
                    self.counters.failed.fetch_add(1, Ordering::Relaxed)
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate::RateLimit;
    use std::sync::Arc;
    use tokio_util::sync::CancellationToken;

    const EVERY: Duration = Duration::from_secs(30);

    /// A pinger on its own activity, budget and counters; each ping records when it went out.
    struct Rig {
        activity: Activity,
        budget: RateBudget,
        counters: Counters,
        pings: parking_lot::Mutex<Vec<Duration>>,
        start: Instant,
    }

    impl Rig {
        fn new(limit: RateLimit) -> Arc<Self> {
            Arc::new(Self {
                activity: Activity::new(),
                budget: RateBudget::new(limit),
                counters: Counters::default(),
                pings: parking_lot::Mutex::new(Vec::new()),
                start: Instant::now(),
            })
        }

        /// Runs the schedule until `stop` is cancelled.
        fn spawn(self: &Arc<Self>, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
            let rig = self.clone();
            tokio::spawn(async move {
                let pinger =
                    Pinger { activity: &rig.activity, budget: &rig.budget, counters: &rig.counters, every: EVERY };
                pinger
                    .run(stop.cancelled(), || async {
                        rig.activity.touch();
                        rig.pings.lock().push(rig.start.elapsed());
                        Ok(())
                    })
                    .await;
            })
        }

        fn ping_secs(&self) -> Vec<u64> {
            self.pings.lock().iter().map(Duration::as_secs).collect()
        }
    }

    /// Lets `n` seconds of paused time pass; the runtime jumps from timer to timer, so the pinger runs exactly
    /// when its own sleeps end.
    async fn advance_secs(n: u64) {
        tokio::time::sleep(Duration::from_secs(n)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn pings_only_after_a_quiet_interval_and_never_while_calls_flow() {
        let rig = Rig::new(RateLimit::GENERAL);
        let stop = CancellationToken::new();
        let task = rig.spawn(stop.clone());
        // A call every 20 s for 100 s: never quiet for 30 s.
        for _ in 0..5 {
            rig.activity.touch();
            advance_secs(20).await;
        }
        assert_eq!(rig.ping_secs(), Vec::<u64>::new(), "no ping while calls flow");
        // The last call was at 80 s: silence from there on.
        advance_secs(80).await;
        assert_eq!(rig.ping_secs(), vec![110, 140, 170], "one ping per 30 s of quiet");
        assert_eq!(rig.counters.snapshot(), KeepWarmStats { sent: 3, failed: 0, skipped: 0 });
        // It is 180 s: a call at 185 s moves the next ping from 200 s to 215 s.
        advance_secs(5).await;
        rig.activity.touch();
        advance_secs(31).await;
        assert_eq!(rig.ping_secs(), vec![110, 140, 170, 215]);
        stop.cancel();
        task.await.expect("the pinger ends without panicking");
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_budget_skips_the_ping_and_never_waits_for_a_slot() {
        // 10 requests a minute, of which reads may use 9 (5 % and 10 % reserves round down to 0 and 1).
        let rig = Rig::new(RateLimit { requests: 10, window: Duration::from_secs(60) });
        for _ in 0..9 {
            rig.budget.acquire(Priority::Normal).await;
        }
        let stop = CancellationToken::new();
        let task = rig.spawn(stop.clone());
        advance_secs(61).await;
        assert_eq!(rig.ping_secs(), Vec::<u64>::new(), "the reads' slots were taken: no ping");
        assert_eq!(rig.counters.snapshot().skipped, 2, "tried at 30 s and 60 s, waited for neither");
        // The window (60 s + 3 s slack) has passed: the 90 s attempt finds a slot.
        advance_secs(30).await;
        assert_eq!(rig.ping_secs(), vec![90]);
        // The order reserve is untouched: an order goes out at once.
        let before = Instant::now();
        rig.budget.acquire(Priority::Mutation).await;
        assert_eq!(before.elapsed(), Duration::ZERO);
        stop.cancel();
        task.await.expect("the pinger ends without panicking");
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_ends_when_the_client_is_dropped_or_cancelled_and_is_off_at_zero() {
        let url: url::Url = "http://127.0.0.1:9".parse().expect("a URL");
        let client = crate::Client::new(crate::ClientConfig::new(url.clone())).expect("a client");
        let task = tokio::spawn(client.clone().run_keep_warm(CancellationToken::new()));
        drop(client);
        tokio::time::timeout(Duration::from_millis(1), task)
            .await
            .expect("the loop ended when the last clone was dropped")
            .expect("without panicking");

        let client = crate::Client::new(crate::ClientConfig::new(url.clone())).expect("a client");
        let cancel = CancellationToken::new();
        let task = tokio::spawn(client.run_keep_warm(cancel.clone()));
        tokio::task::yield_now().await;
        cancel.cancel();
        tokio::time::timeout(Duration::from_millis(1), task).await.expect("the loop ended on cancel").expect("ok");

        let mut cfg = crate::ClientConfig::new(url);
        cfg.keep_warm = Duration::ZERO;
        let client = crate::Client::new(cfg).expect("a client");
        tokio::time::timeout(Duration::from_millis(1), client.run_keep_warm(CancellationToken::new()))
            .await
            .expect("keep-warm off: returns at once");
        assert_eq!(client.keep_warm_stats(), KeepWarmStats::default());
    }
}
