//! `QuoteSink`: the market link's [`InvocationHandler`]. It takes `GatewayQuote` invocations on the hub
//! connection's own task and merges each straight from the socket buffer into the [`QuoteBook`]
//! ([`QuoteBook::merge_gateway_quote_record`]: one pass over the record, no copy, no channel hop), counts them, and
//! notes when the last one arrived for the stale watchdog.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use signalr::InvocationHandler;
use tokio::time::Instant;

use super::QuoteBook;

/// Merges a hub connection's quotes into a book (see the module docs). Public so the quote benchmark runs the
/// market task's exact path.
#[derive(Debug)]
pub struct QuoteSink {
    book: Arc<QuoteBook>,
    /// `GatewayQuote` messages merged, shared with whoever reports them (the market task: all links together).
    merged: Arc<AtomicU64>,
    /// The origin of `last_quote_nanos`.
    base: Instant,
    /// Nanoseconds from `base` to the last merged quote's arrival, at least 1; 0 before the first. Written by the
    /// connection's task, read by the market task's watchdog.
    last_quote_nanos: AtomicU64,
}

impl QuoteSink {
    /// A sink merging into `book` and counting merged messages in `merged`.
    pub fn new(book: Arc<QuoteBook>, merged: Arc<AtomicU64>) -> Self {
        Self { book, merged, base: Instant::now(), last_quote_nanos: AtomicU64::new(0) }
    }

    /// When the last quote was merged.
    pub fn last_quote(&self) -> Option<Instant> {
        match self.last_quote_nanos.load(Ordering::Relaxed) {
            0 => None,
            n => Some(self.base + Duration::from_nanos(n)),
        }
    }
}

impl InvocationHandler for QuoteSink {
    fn wants(&self, target: &str) -> bool {
        target == "GatewayQuote"
    }

    fn handle(&self, record: &[u8]) {
        let now = Instant::now();
        match self.book.merge_gateway_quote_record(record, now) {
            Ok(_) => {
                self.merged.fetch_add(1, Ordering::Relaxed);
                let nanos = u64::try_from(now.duration_since(self.base).as_nanos()).unwrap_or(u64::MAX).max(1);
                self.last_quote_nanos.store(nanos, Ordering::Relaxed);
            }
            Err(e) => tracing::warn!(error = %e, "undecodable GatewayQuote ignored"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ContractId;

    #[test]
    fn quotes_are_merged_counted_and_timed_and_bad_ones_are_only_skipped() {
        let (book, merged) = (Arc::new(QuoteBook::default()), Arc::new(AtomicU64::new(0)));
        let sink = QuoteSink::new(book.clone(), merged.clone());
        assert!(sink.wants("GatewayQuote") && !sink.wants("GatewayTrade"));
        assert_eq!(sink.last_quote(), None);
        sink.handle(br#"{"type":1,"target":"GatewayQuote","arguments":["X",{"bestBid":1.25}]}"#);
        sink.handle(br#"{"type":1,"target":"GatewayQuote","arguments":["X",{"bestBid":"bad"}]}"#);
        assert_eq!(merged.load(Ordering::Relaxed), 1);
        let quote = book.get(&ContractId::new("X")).unwrap();
        assert_eq!((quote.bid(), quote.updates), (Some("1.25".parse().unwrap()), 1));
        assert_eq!(sink.last_quote(), Some(quote.received_at));
    }
}
