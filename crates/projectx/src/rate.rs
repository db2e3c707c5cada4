//! Client-side rate budgets, so the gateway never has to answer 429.
//!
//! The gateway documents 200 requests / 60 s for most endpoints and 50 / 30 s for `History/retrieveBars`, without
//! saying whether the window is fixed or sliding. A sliding-window log is the conservative reading: it never admits
//! more than `requests` calls in *any* window of that length, which also satisfies a fixed window. (A GCRA limiter
//! such as `governor` with burst = limit would admit up to twice the limit in one window, so it is not used.)
//! The window is padded by a small slack (5 %, at least 250 ms): we count a call when it leaves, the gateway when
//! it arrives, and a first call delayed by connection setup would otherwise let a later call on a warm connection
//! land inside the gateway's window. 5 % of the budget is kept for login/validate and a further 10 % for
//! money-moving calls, so a client saturated with reads can still refresh its token and place orders; the top half of
//! that 10 % is kept for calls that only reduce risk (position closes and order cancels, [`Priority::Exit`]), so when
//! a wave of orders cannot all fit, entries stop at 90 % of the budget and the closes and cancels still go out.
//! Waiters are not queued: below those marks calls are admitted in whatever order they ask, and a waiter wakes when
//! the slot it needs frees. A 429 that still arrives pauses every budget until its `Retry-After` has passed.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// A limit of `requests` per `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Calls admitted per window (at least 1).
    pub requests: u32,
    /// Window length.
    pub window: Duration,
}

impl RateLimit {
    /// The documented general limit: 200 requests / 60 s.
    pub const GENERAL: Self = Self { requests: 200, window: Duration::from_secs(60) };
    /// The documented `History/retrieveBars` limit: 50 requests / 30 s.
    pub const HISTORY: Self = Self { requests: 50, window: Duration::from_secs(30) };
}

/// Which reserved slots a call may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// Reads: everything but the reserves.
    Normal,
    /// Money-moving calls: may use the first half of the 10 % kept for them, so reads (quotes, searches) can never
    /// starve an order.
    Mutation,
    /// Money-moving calls that only reduce risk (closes, cancels): may use the whole 10 %, so entries can never
    /// starve an exit.
    Exit,
    /// Login and validate: may use every slot, so a busy client can always refresh its token.
    Auth,
}

/// One sliding-window budget.
#[derive(Debug)]
pub struct RateBudget {
    limit: RateLimit,
    /// `limit.window` plus the slack.
    window: Duration,
    /// Slots only [`Priority::Auth`] calls may take (5 % of the limit).
    reserve: usize,
    /// Further slots [`Priority::Mutation`], [`Priority::Exit`] and [`Priority::Auth`] calls may take (10 % of the
    /// limit).
    mutation_reserve: usize,
    /// The part of `mutation_reserve` only [`Priority::Exit`] and [`Priority::Auth`] calls may take (5 % of the limit).
    exit_reserve: usize,
    /// Send times of the calls inside the current window (oldest first) and the 429 pause. A sync lock held for a
    /// few statements, never across an await: waiters compute their wake-up time, release it and sleep.
    state: parking_lot::Mutex<State>,
}

#[derive(Debug)]
struct State {
    sent: VecDeque<Instant>,
    /// No call is admitted before this instant (set by a 429's `Retry-After`).
    paused_until: Option<Instant>,
}

impl RateBudget {
    /// A budget admitting `limit.requests` calls per `limit.window` (a zero request count is treated as 1).
    pub fn new(limit: RateLimit) -> Self {
        let limit = RateLimit { requests: limit.requests.max(1), ..limit };
        let window = limit.window + (limit.window / 20).max(Duration::from_millis(250));
        Self {
            limit,
            window,
            reserve: limit.requests as usize / 20,
            mutation_reserve: limit.requests as usize / 10,
            exit_reserve: limit.requests as usize / 20,
            state: parking_lot::Mutex::new(State {
                sent: VecDeque::with_capacity(limit.requests as usize),
                paused_until: None,
            }),
        }
    }

    /// The configured limit.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// How many calls of `priority` one window admits.
    fn capacity(&self, priority: Priority) -> usize {
        let all = self.limit.requests as usize;
        match priority {
            Priority::Normal => all - self.reserve - self.mutation_reserve,
            Priority::Mutation => all - self.reserve - self.exit_reserve,
            Priority::Exit => all - self.reserve,
            Priority::Auth => all,
        }
    }

    /// Records a call and returns `true` if one of `priority` may be sent now; `false` (and nothing recorded)
    /// otherwise, without waiting. For optional calls (the keep-warm ping) that should rather not happen than queue
    /// beside real work.
    pub fn try_acquire(&self, priority: Priority) -> bool {
        let capacity = self.capacity(priority);
        let mut state = self.state.lock();
        let now = Instant::now();
        if state.paused_until.is_some_and(|until| until > now) {
            return false;
        }
        while state.sent.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
            state.sent.pop_front();
        }
        if state.sent.len() < capacity {
            state.sent.push_back(now);
            return true;
        }
        false
    }

    /// Waits until a call may be sent and records it. Cancel-safe: a caller dropped while waiting takes no slot.
    pub async fn acquire(&self, priority: Priority) {
        let capacity = self.capacity(priority);
        loop {
            let wake = {
                let mut state = self.state.lock();
                let now = Instant::now();
                match state.paused_until {
                    Some(until) if until > now => until,
                    _ => {
                        while state.sent.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
                            state.sent.pop_front();
                        }
                        if state.sent.len() < capacity {
                            state.sent.push_back(now);
                            return;
                        }
                        // The slot that frees first is the one `capacity` places from the newest end.
                        let freeing = state.sent.len() - capacity;
                        state.sent[freeing] + self.window
                    }
                }
            };
            tokio::time::sleep_until(wake).await;
        }
    }

    /// Admits nothing until `until` (a 429's `Retry-After`).
    pub fn pause_until(&self, until: Instant) {
        let mut state = self.state.lock();
        if state.paused_until.is_none_or(|p| p < until) {
            state.paused_until = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn never_admits_more_than_the_limit_in_any_window() {
        let budget = RateBudget::new(RateLimit { requests: 3, window: Duration::from_secs(10) });
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..7 {
            budget.acquire(Priority::Normal).await;
            times.push(start.elapsed());
        }
        // A 10 s window plus 500 ms slack.
        let ms: Vec<u128> = times.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, vec![0, 0, 0, 10_500, 10_500, 10_500, 21_000]);
    }

    #[tokio::test(start_paused = true)]
    async fn try_acquire_takes_a_free_slot_and_never_waits_for_one() {
        let budget = RateBudget::new(RateLimit { requests: 20, window: Duration::from_secs(10) });
        // Reads may use 17 of 20 slots (5 % for the token, 10 % for orders).
        for _ in 0..17 {
            assert!(budget.try_acquire(Priority::Normal));
        }
        assert!(!budget.try_acquire(Priority::Normal), "a full read budget refuses at once");
        budget.acquire(Priority::Mutation).await;
        tokio::time::advance(Duration::from_millis(10_500)).await;
        assert!(budget.try_acquire(Priority::Normal), "the window moved on");
        budget.pause_until(Instant::now() + Duration::from_secs(5));
        assert!(!budget.try_acquire(Priority::Normal), "a 429 pause refuses too");
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_pause_holds_every_call_until_retry_after() {
        let budget = RateBudget::new(RateLimit::GENERAL);
        let start = Instant::now();
        budget.pause_until(start + Duration::from_secs(7));
        budget.acquire(Priority::Normal).await;
        assert_eq!(start.elapsed().as_secs(), 7);
    }

    #[tokio::test(start_paused = true)]
    async fn orders_exits_and_token_refreshes_have_reserves_the_others_cannot_take() {
        let budget = RateBudget::new(RateLimit { requests: 40, window: Duration::from_secs(60) });
        for _ in 0..34 {
            budget.acquire(Priority::Normal).await;
        }
        let blocked = tokio::time::timeout(Duration::from_secs(1), budget.acquire(Priority::Normal)).await;
        assert!(blocked.is_err(), "reads stop at 85 %");
        let start = Instant::now();
        for _ in 0..2 {
            budget.acquire(Priority::Mutation).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "orders use their reserve at once");
        let blocked = tokio::time::timeout(Duration::from_secs(1), budget.acquire(Priority::Mutation)).await;
        assert!(blocked.is_err(), "entries stop at 90 %");
        let start = Instant::now();
        for _ in 0..2 {
            budget.acquire(Priority::Exit).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "closes and cancels go on past the entries' mark");
        let blocked = tokio::time::timeout(Duration::from_secs(1), budget.acquire(Priority::Exit)).await;
        assert!(blocked.is_err(), "exits stop at 95 %");
        budget.acquire(Priority::Auth).await;
        budget.acquire(Priority::Auth).await;
        assert_eq!(start.elapsed(), Duration::from_secs(1), "the last two slots are the token's (after the 1 s probe)");
    }

    #[tokio::test(start_paused = true)]
    async fn when_a_wave_does_not_fit_a_waiting_exit_goes_before_a_waiting_entry() {
        let budget = std::sync::Arc::new(RateBudget::new(RateLimit { requests: 40, window: Duration::from_secs(60) }));
        let start = Instant::now();
        // 95 % taken, one call a second: the oldest slots free first.
        for _ in 0..38 {
            budget.acquire(Priority::Auth).await;
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        let entry = tokio::spawn({
            let budget = budget.clone();
            async move {
                budget.acquire(Priority::Mutation).await;
                start.elapsed()
            }
        });
        tokio::time::advance(Duration::from_secs(10)).await;
        let exit = tokio::spawn({
            let budget = budget.clone();
            async move {
                budget.acquire(Priority::Exit).await;
                start.elapsed()
            }
        });
        let (entry, exit) = (entry.await.unwrap(), exit.await.unwrap());
        assert!(exit < entry, "the exit asked 10 s later and still went first: exit {exit:?}, entry {entry:?}");
    }
}
