//! Jittered exponential backoff. It lives in the `signalr` crate (the bottom of the dependency chain) so the hub
//! reconnect loop and this crate's token refresher and read retries share one validated implementation.

pub use signalr::backoff::{Backoff, InvalidBackoff};
