//! A bounded wait on the monotonic clock.
//!
//! The workspace bans `std::time::Instant` (clippy.toml: use tokio's so paused-time tests work); this crate is std only
//! and runs no tokio runtime, and its waits are on real processes, so real time is what it must measure.
#![expect(
    clippy::disallowed_types,
    reason = "std-only crate without a tokio runtime; it waits on real processes in real time"
)]

use std::time::{Duration, Instant};

/// A moment `after` from when it was made.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(Instant);

impl Deadline {
    /// The moment `after` from now.
    pub(crate) fn after(after: Duration) -> Deadline {
        Deadline(Instant::now() + after)
    }

    /// Whether the moment has come.
    pub(crate) fn passed(self) -> bool {
        Instant::now() >= self.0
    }
}
