//! The market-data hot path, measured beside its floor in the same run:
//!
//! - `pipeline`: what the market hub's connection task does per WebSocket frame: split records on 0x1E straight
//!   from the frame (`RecordBuffer::feed`, with the partial-tail buffer), route each record
//!   (`signalr::handler::dispatch`: the target is peeked, not parsed) to the market link's `QuoteSink`, which
//!   decodes the whole record in one pass (borrowed contract id and symbol, decimal and timestamp fast paths) and
//!   merges it into the `QuoteBook` with `Instant::now()` as receive time. The book and buffer persist across
//!   iterations, as in the running task (steady state: every contract already has its entry).
//! - `floor`: a bare reader that only splits the same frames on 0x1E and parses each record as JSON without
//!   keeping anything (`IgnoredAny`).
//!
//! Before the timings it prints heap allocations per quote in steady state, counted by a global allocator wrapper
//! around `System` (`stats_alloc`) over 10 passes after a warm-up pass that has seen every contract, and the
//! floor's per record for comparison (with serde_json's `arbitrary_precision`, `IgnoredAny` allocates a `String` per
//! number). The counter adds a few atomic increments to every allocation, in both benchmarks alike.
//!
//! Run: `cargo bench -p projectx --bench quote_pipeline`. The ratio of the two is what to compare across machines.
#![allow(clippy::unwrap_used, missing_docs, reason = "benchmark harness")]

use std::alloc::System;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use projectx::market::{QuoteBook, QuoteSink};
use signalr::handler::{Dispatched, dispatch};
use signalr::protocol::{self, RecordBuffer};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const RECORDS_PER_FRAME: usize = 8;
const FRAMES: usize = 128;

/// Frames of partial quote deltas across 10 contracts, shaped like the simulator's (and ProjectX's) updates.
fn frames() -> Vec<Vec<u8>> {
    let mut n = 0u64;
    (0..FRAMES)
        .map(|_| {
            let mut frame = Vec::new();
            for _ in 0..RECORDS_PER_FRAME {
                n += 1;
                let contract = format!("CON.F.US.C{}.Z25", n % 10);
                let price = 21000 + (n % 40);
                let record = if n.is_multiple_of(4) {
                    format!(
                        r#"{{"type":1,"target":"GatewayQuote","arguments":["{contract}",{{"symbol":"F.US.C","symbolName":"/C","lastPrice":{price}.25,"bestBid":{price}.000000000,"bestAsk":{price}.5,"change":12.75,"changePercent":0.06,"open":20990.0,"high":21050.25,"low":20950.5,"volume":{n},"lastUpdated":"2026-11-22T21:00:01.268009+00:00","timestamp":"2026-11-22T21:00:01.268009+00:00"}}]}}"#
                    )
                } else {
                    format!(
                        r#"{{"type":1,"target":"GatewayQuote","arguments":["{contract}",{{"symbol":"F.US.C","bestBid":{price}.25,"volume":{n},"timestamp":"2026-11-22T21:00:01.2Z"}}]}}"#
                    )
                };
                frame.extend_from_slice(record.as_bytes());
                frame.push(protocol::RS);
            }
            frame
        })
        .collect()
}

/// signalr's per-frame record loop with the market link's quote handler in it; returns the records handled.
fn pipeline(frames: &[Vec<u8>], buffer: &mut RecordBuffer, sink: &QuoteSink) -> usize {
    let mut handled = 0;
    for frame in frames {
        let mut records = buffer.feed(frame);
        while let Some(record) = records.next_record() {
            match dispatch(sink, record) {
                Dispatched::Handled => handled += 1,
                Dispatched::Parsed(other) => panic!("not a quote: {other:?}"),
            }
        }
    }
    handled
}

fn floor(frames: &[Vec<u8>]) -> usize {
    let mut parsed = 0;
    for frame in frames {
        for record in frame.split(|b| *b == protocol::RS).filter(|r| !r.is_empty()) {
            let _: serde::de::IgnoredAny = serde_json::from_slice(record).unwrap();
            parsed += 1;
        }
    }
    parsed
}

/// Heap allocations (fresh and grown) per item over 10 passes of `pass`, after one warm-up pass.
fn allocations_per_item(mut pass: impl FnMut() -> usize) -> (usize, usize) {
    pass();
    let region = Region::new(GLOBAL);
    let items: usize = (0..10).map(|_| pass()).sum();
    let change = region.change();
    (change.allocations + change.reallocations, items)
}

fn bench(c: &mut Criterion) {
    let frames = frames();
    let (book, merged) = (Arc::new(QuoteBook::default()), Arc::default());
    let (mut buffer, sink) = (RecordBuffer::default(), QuoteSink::new(book.clone(), Arc::clone(&merged)));
    let (allocs, quotes) = allocations_per_item(|| pipeline(&frames, &mut buffer, &sink));
    assert_eq!(merged.load(std::sync::atomic::Ordering::Relaxed), 11 * quotes as u64 / 10, "every quote merged");
    assert_eq!(book.len(), 10);
    let (floor_allocs, records) = allocations_per_item(|| floor(&frames));
    println!(
        "gateway_quote/pipeline allocations per quote (steady state): {:.3} ({allocs} in {quotes} quotes)",
        allocs as f64 / quotes as f64
    );
    println!(
        "gateway_quote/floor allocations per record: {:.3} ({floor_allocs} in {records} records)",
        floor_allocs as f64 / records as f64
    );
    let mut group = c.benchmark_group("gateway_quote");
    group.throughput(Throughput::Elements((FRAMES * RECORDS_PER_FRAME) as u64));
    group.bench_function("floor", |b| b.iter(|| floor(std::hint::black_box(&frames))));
    group.bench_function("pipeline", |b| b.iter(|| pipeline(std::hint::black_box(&frames), &mut buffer, &sink)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
