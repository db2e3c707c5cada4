//! The market-data hot path, measured beside its floor in the same run:
//!
//! - `pipeline`: what pxrelay does per WebSocket frame: split records on 0x1E (with the partial-tail buffer), parse
//!   each record's envelope, copy the invocation out of the socket buffer (as the hub client does), decode
//!   `GatewayQuote` into typed exact decimals, merge into the `QuoteBook`.
//! - `floor`: a bare reader that only splits the same frames on 0x1E and parses each record as JSON without
//!   keeping anything (`IgnoredAny`).
//!
//! Run: `cargo bench -p projectx --bench quote_pipeline`. The ratio of the two is what to compare across machines.
#![allow(clippy::unwrap_used, missing_docs, reason = "benchmark harness")]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use projectx::market::{QuoteBook, decode_gateway_quote};
use signalr::protocol::{self, Incoming, RecordBuffer};

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

fn pipeline(frames: &[Vec<u8>], book: &QuoteBook) -> usize {
    let mut buffer = RecordBuffer::default();
    let mut merged = 0;
    for frame in frames {
        buffer.extend(frame);
        while let Some(record) = buffer.next_record() {
            if let Ok(Incoming::Invocation { target, arguments }) = protocol::parse(record) {
                let (target, arguments) = (target.to_owned(), arguments.to_owned());
                if target == "GatewayQuote" {
                    let (contract, updates) = decode_gateway_quote(&arguments).unwrap();
                    for u in updates {
                        book.merge(&contract, u);
                        merged += 1;
                    }
                }
            }
        }
        buffer.compact();
    }
    merged
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

fn bench(c: &mut Criterion) {
    let frames = frames();
    let mut group = c.benchmark_group("gateway_quote");
    group.throughput(Throughput::Elements((FRAMES * RECORDS_PER_FRAME) as u64));
    group.bench_function("floor", |b| b.iter(|| floor(std::hint::black_box(&frames))));
    group.bench_function("pipeline", |b| {
        b.iter_batched_ref(
            QuoteBook::default,
            |book| pipeline(std::hint::black_box(&frames), book),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
