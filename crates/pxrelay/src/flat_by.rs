//! The `FLAT_BY` scheduler: once the market clock is in the flat-by block (from `FLAT_BY` to the next
//! `SESSION_OPEN`), it flattens the managed positions once for that block; entries are refused meanwhile by
//! [`crate::hours::Hours::refusal`], exits still go through.
//!
//! Design: the task re-reads the market clock every [`TICK`] (1 s) rather than sleeping until the `FLAT_BY` instant.
//! That single loop covers everything a long sleep would miss: a start (or restart) inside the block flattens at once,
//! a wall clock that jumps (NTP, a suspended host) is followed, and a test's injected clock is followed within a
//! second without any extra wake-up channel. The cost is one clock read per second. A flatten that reports a failure
//! is tried again after [`RETRY`] while the block lasts; one that succeeded is not repeated in the same block.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::books::Books;
use crate::executor::Work;
use crate::executor::flatten::{FlattenScope, request};
use crate::hours::Hours;
use crate::outcome::AlertStatus;
use crate::warmup::{Stage, Warmup};

/// How often the clock is read.
pub const TICK: Duration = Duration::from_secs(1);
/// How long after a failed flatten the next attempt comes (the gateway is likely down: no tight loop on it).
pub const RETRY: Duration = Duration::from_secs(5);

/// Starts the scheduler on `tracker` when `FLAT_BY` is set (else does nothing). It waits for the warm-up first (the
/// default account's book is watched by then, and the executor takes jobs), then flattens through the executor queue
/// ([`flatten_watched`]).
pub fn spawn(
    hours: Hours,
    jobs: mpsc::Sender<Work>,
    books: Arc<Books>,
    warmup: &Warmup,
    tracker: &TaskTracker,
    cancel: CancellationToken,
) {
    let Some(flat_by) = hours.rules.flat_by else { return };
    let by = format!("FLAT_BY {}", flat_by.format("%H:%M"));
    let mut stage = warmup.subscribe();
    tracker.spawn(async move {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            ready = stage.wait_for(|s| *s == Stage::Ready) => if ready.is_err() { return },
        }
        let flatten = |_end| {
            let (jobs, books, by) = (jobs.clone(), books.clone(), by.clone());
            async move { flatten_watched(&jobs, &books, &by).await }
        };
        run(hours, flatten, cancel).await;
    });
}

/// Flattens every watched account's managed positions and their working orders, one flatten job per account in the
/// executor queue ([`crate::executor::flatten`], scope `managed`: foreign positions are left and listed), journaled
/// with `by` (e.g. `FLAT_BY 15:08`). `Ok(summary)`, or `Err` naming the accounts whose flatten failed or was not run.
pub async fn flatten_watched(jobs: &mpsc::Sender<Work>, books: &Books, by: &str) -> Result<String, String> {
    let (mut done, mut failed) = (Vec::new(), Vec::new());
    for account in books.accounts() {
        match request(jobs, account, FlattenScope::Managed, by).await {
            Ok(r) if r.status == AlertStatus::Failed => {
                failed.push(format!("account {account} ({}): {}", r.id, r.errors.join("; ")));
            }
            Ok(r) => done.push(format!(
                "account {account} ({}): {} closed, {} cancelled, {} left",
                r.id,
                r.closed.len(),
                r.cancelled.len(),
                r.left.len()
            )),
            Err(e) => failed.push(format!("account {account}: {e}")),
        }
    }
    match (failed.is_empty(), done.is_empty()) {
        (true, true) => Ok("no watched account".to_owned()),
        (true, false) => Ok(done.join("; ")),
        (false, _) => Err(failed.join("; ")),
    }
}

/// Runs until `cancel`: at each block's start (or on finding itself inside one) calls `flatten(block_end)`, where
/// `block_end` is the next `SESSION_OPEN`. `flatten` answers `Ok(summary)` (logged) or `Err(why)` (retried).
/// Only spawn it when `FLAT_BY` is set.
pub async fn run<F, Fut>(hours: Hours, flatten: F, cancel: CancellationToken)
where
    F: Fn(DateTime<Utc>) -> Fut,
    Fut: Future<Output = Result<String, String>>,
{
    // The block (by its end, the next session open) already flattened.
    let mut done_for: Option<DateTime<Utc>> = None;
    loop {
        let mut wait = TICK;
        if let Some(end) = hours.flat_by_block(hours.now()).filter(|end| done_for != Some(*end)) {
            let until = hours.when(hours.now(), end);
            tracing::warn!(flat_by = ?hours.rules.flat_by, entries_allowed_at = %until, "FLAT_BY reached: cancelling working orders and flattening managed positions; entries are refused until the session opens");
            match flatten(end).await {
                Ok(summary) => {
                    tracing::warn!(summary = %summary, "FLAT_BY: flattened");
                    done_for = Some(end);
                }
                Err(why) => {
                    tracing::error!(error = %why, retry_secs = RETRY.as_secs(), "FLAT_BY: flattening failed; trying again");
                    wait = RETRY;
                }
            }
        }
        tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use chrono::NaiveTime;

    use super::*;
    use crate::hours::HoursRules;
    use crate::market_time::MarketClock;

    /// A settable clock, the flat-by rules at 15:08 Chicago, and a counter of flattens (failing while `fail` > 0).
    struct Fixture {
        now: Arc<Mutex<DateTime<Utc>>>,
        calls: Arc<AtomicUsize>,
        fail: Arc<AtomicUsize>,
        cancel: CancellationToken,
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn start(at: &str) -> Fixture {
        let now = Arc::new(Mutex::new(utc(at)));
        let read = now.clone();
        let clock = MarketClock::default().with_now(Arc::new(move || *read.lock().unwrap()));
        let rules = HoursRules { flat_by: NaiveTime::from_hms_opt(15, 8, 0), ..HoursRules::default() };
        let (calls, fail, cancel) =
            (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), CancellationToken::new());
        let (c, f) = (calls.clone(), fail.clone());
        let flatten = move |_end: DateTime<Utc>| {
            let (c, f) = (c.clone(), f.clone());
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                if f.load(Ordering::SeqCst) > 0 {
                    f.fetch_sub(1, Ordering::SeqCst);
                    return Err("gateway down".to_owned());
                }
                Ok("flat".to_owned())
            }
        };
        tokio::spawn(run(Hours::new(clock, rules), flatten, cancel.clone()));
        Fixture { now, calls, fail, cancel }
    }

    impl Fixture {
        fn set(&self, at: &str) {
            *self.now.lock().unwrap() = utc(at);
        }
        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn flattens_once_when_the_clock_reaches_flat_by_and_again_the_next_day() {
        // Tuesday 2026-12-01 15:00 CST = 21:00 UTC.
        let f = start("2026-12-01T21:00:00Z");
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(f.calls(), 0, "before FLAT_BY");
        f.set("2026-12-01T21:08:00Z");
        tokio::time::sleep(TICK + Duration::from_millis(1)).await;
        assert_eq!(f.calls(), 1, "within a tick of FLAT_BY");
        f.set("2026-12-01T22:30:00Z");
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(f.calls(), 1, "once per block");
        f.set("2026-12-01T23:00:00Z"); // 17:00 CST: the block is over
        tokio::time::sleep(Duration::from_secs(3)).await;
        f.set("2026-12-02T21:08:30Z"); // Wednesday 15:08:30
        tokio::time::sleep(TICK + Duration::from_millis(1)).await;
        assert_eq!(f.calls(), 2, "the next day's block");
        f.cancel.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn a_start_inside_the_block_flattens_at_once() {
        let f = start("2026-12-01T22:00:00Z"); // 16:00 CST
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(f.calls(), 1);
        f.cancel.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_flatten_is_retried_after_the_retry_delay_not_every_tick() {
        let f = start("2026-12-01T21:00:00Z");
        f.fail.store(1, Ordering::SeqCst);
        f.set("2026-12-01T21:08:00Z");
        // The task's first look (at t = 0) is already at FLAT_BY: it fails then.
        tokio::time::sleep(RETRY - Duration::from_millis(100)).await;
        assert_eq!(f.calls(), 1, "one failed attempt, none again before the retry delay");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(f.calls(), 2, "retried");
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(f.calls(), 2, "done for this block");
        f.cancel.cancel();
    }
}
