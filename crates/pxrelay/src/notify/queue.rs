//! A bounded drop-oldest queue between [`super::Notifier::emit`] (any task, never waits) and one destination's
//! sender task. When it is full, the oldest notice goes: a backlog against a dead receiver costs at most
//! [`CAPACITY`] notices of memory, and what arrives once it answers again is the most recent news.
//!
//! Why not `tokio::sync::mpsc`: its `try_send` on a full channel refuses the *new* item, and the sender cannot
//! remove the oldest. A `parking_lot::Mutex<VecDeque>` held for a push or a pop (never across an await) and a
//! `Notify` to wake the sender do exactly this.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;

use super::Notice;

/// Notices waiting per destination, at most.
pub const CAPACITY: usize = 256;

/// One destination's queue. Shared (`Arc`) by the notifier (pushes) and the sender task (pops).
#[derive(Debug)]
pub struct Queue {
    /// Waiting notices, oldest first; locked for one push or pop.
    items: parking_lot::Mutex<VecDeque<Notice>>,
    /// Most waiting notices.
    capacity: usize,
    /// Wakes the sender after a push (a permit is stored when it is not waiting, so no wake-up is lost).
    ready: Notify,
    /// Notices dropped because the queue was full.
    dropped: AtomicU64,
}

impl Queue {
    /// An empty queue holding at most `capacity` (at least 1) notices.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            items: parking_lot::Mutex::new(VecDeque::with_capacity(capacity)),
            capacity,
            ready: Notify::new(),
            dropped: AtomicU64::new(0),
        }
    }

    /// Adds `notice`; when full, drops the oldest first and returns `true`. Never waits.
    pub fn push(&self, notice: Notice) -> bool {
        let dropped = {
            let mut items = self.items.lock();
            let dropped = items.len() >= self.capacity && items.pop_front().is_some();
            items.push_back(notice);
            dropped
        };
        if dropped {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.ready.notify_one();
        dropped
    }

    /// The oldest notice, waiting for one. Cancel-safe: a notice is taken only when this returns.
    pub async fn pop(&self) -> Notice {
        loop {
            if let Some(n) = self.items.lock().pop_front() {
                return n;
            }
            self.ready.notified().await;
        }
    }

    /// Notices waiting now.
    pub fn len(&self) -> usize {
        self.items.lock().len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most notices that may wait.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Notices dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::EventKind;

    fn notice(n: usize) -> Notice {
        Notice::new(EventKind::Filled, n.to_string())
    }

    #[tokio::test]
    async fn a_full_queue_drops_the_oldest_and_counts_it() {
        let q = Queue::new(3);
        for n in 0..5 {
            q.push(notice(n));
        }
        assert_eq!((q.len(), q.dropped()), (3, 2));
        assert_eq!(q.pop().await.message, "2");
        assert_eq!(q.pop().await.message, "3");
        assert_eq!(q.pop().await.message, "4");
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn a_waiting_pop_wakes_on_a_push() {
        let q = std::sync::Arc::new(Queue::new(3));
        let popper = tokio::spawn({
            let q = q.clone();
            async move { q.pop().await }
        });
        tokio::task::yield_now().await;
        q.push(notice(7));
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), popper).await.unwrap().unwrap();
        assert_eq!(got.message, "7");
    }
}
