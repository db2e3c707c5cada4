//! The quote hot path allocates nothing in steady state: framing (`RecordBuffer::feed`), routing
//! (`signalr::handler::dispatch`) and the market link's `QuoteSink` (one-pass decode and merge into the
//! `QuoteBook`), once every contract has its entry. Counted by a global
//! allocator wrapper around `System`; it lives in this test binary alone, which holds this one test so nothing
//! else allocates while it counts.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::alloc::System;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use projectx::ContractId;
use projectx::market::{QuoteBook, QuoteSink};
use signalr::handler::{Dispatched, dispatch};
use signalr::protocol::{self, RecordBuffer};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Frames of `GatewayQuote` records over 5 contracts: full snapshots, partial deltas, nulls, integers, timestamps
/// in the gateway's forms; records split across frames in every pass.
fn frames() -> Vec<Vec<u8>> {
    let mut stream = Vec::new();
    for n in 0..200u64 {
        let contract = format!("CON.F.US.C{}.Z25", n % 5);
        let price = 21000 + n % 40;
        let data = match n % 4 {
            0 => format!(
                r#"{{"symbol":"F.US.C","symbolName":"/C","lastPrice":{price}.25,"bestBid":{price}.000000000,"bestAsk":{price}.5,"change":-12.75,"changePercent":-0.06,"open":20990.0,"high":21050.25,"low":20950,"volume":{n},"lastUpdated":"2026-11-22T21:00:01.268009+00:00","timestamp":"2026-11-22T16:00:01.268009-05:00"}}"#
            ),
            1 => format!(
                r#"{{"symbol":"F.US.C","bestBid":{price}.25,"volume":{n},"timestamp":"2026-11-22T21:00:01.2Z"}}"#
            ),
            2 => format!(
                r#"{{"bestAsk":{price}.75,"lastPrice":null,"symbolName":null,"timestamp":"2026-11-22T21:00:02Z"}}"#
            ),
            _ => format!(r#"{{"symbol":"F.US.C","lastPrice":{price}}}"#),
        };
        let record = format!(r#"{{"type":1,"target":"GatewayQuote","arguments":["{contract}",{data}]}}"#);
        stream.extend_from_slice(record.as_bytes());
        stream.push(protocol::RS);
    }
    // Frames of about 8 records, cut mid-record so the partial-tail buffer is used too.
    stream.chunks(1500).map(<[u8]>::to_vec).collect()
}

/// What the hub connection's task does with each frame, the market link's handler installed.
fn pass(frames: &[Vec<u8>], buffer: &mut RecordBuffer, sink: &QuoteSink) -> usize {
    let mut handled = 0;
    for frame in frames {
        let mut records = buffer.feed(frame);
        while let Some(record) = records.next_record() {
            match dispatch(sink, record) {
                Dispatched::Handled => handled += 1,
                Dispatched::Parsed(other) => panic!("{other:?}"),
            }
        }
    }
    handled
}

#[test]
fn merging_quotes_allocates_nothing_once_every_contract_has_been_seen() {
    let frames = frames();
    let (book, merged) = (Arc::new(QuoteBook::default()), Arc::new(AtomicU64::new(0)));
    let (mut buffer, sink) = (RecordBuffer::default(), QuoteSink::new(book.clone(), merged.clone()));
    let warm_up = Region::new(GLOBAL);
    assert_eq!(pass(&frames, &mut buffer, &sink), 200);
    assert!(warm_up.change().allocations > 0, "the first quotes of each contract allocate: the counter works");
    assert_eq!(book.len(), 5);

    let steady = Region::new(GLOBAL);
    let mut quotes = 0;
    for _ in 0..5 {
        quotes += pass(&frames, &mut buffer, &sink);
    }
    let change = steady.change();
    assert_eq!(quotes, 1000);
    assert_eq!(
        (change.allocations, change.reallocations),
        (0, 0),
        "heap allocations in {quotes} steady-state quotes: {change:?}"
    );
    // And the merges took effect.
    assert_eq!(merged.load(Ordering::Relaxed), 1200, "every record merged");
    let q = book.get(&ContractId::new("CON.F.US.C0.Z25")).unwrap();
    assert_eq!(q.updates, 6 * 40);
    assert_eq!(q.fields.symbol.as_deref(), Some("F.US.C"));
}
