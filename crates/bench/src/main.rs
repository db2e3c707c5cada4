//! `pxrelay-bench`: starts the simulator and pxrelay on loopback and measures each figure **beside its floor in
//! the same run**, printing a markdown table (the one in docs/performance.md comes from a run of this).
//!
//! Run: `cargo run --release -p pxrelay-bench -- all` (about 6 minutes on 2 cores), or `-- all --quick` (under two
//! minutes even in a debug build; CI runs it to prove the suite works and asserts nothing about speed). Single
//! sections: `latency`, `throughput`, `quotes`, `quote-http`, `footprint`, `rotation`, `fanout`, `network` (real-network
//! mode: 40 ms per gateway call). HTTP load uses `wrk` when installed (the CI script installs it) and says so in the
//! table when it falls back to the built-in loop.

mod child;
mod fanout;
mod latency;
mod network;
mod quotes;
mod rotation;
mod stages;
mod stats;
mod throughput;

use std::time::Duration;

/// One table row.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) figure: String,
    pub(crate) pxrelay: String,
    pub(crate) floor: String,
    pub(crate) ratio: String,
    pub(crate) notes: String,
    /// A correctness failure (not a speed one): the run exits non-zero after printing the table.
    pub(crate) broken: Option<String>,
}

impl Row {
    pub(crate) fn new(figure: impl Into<String>, pxrelay: impl Into<String>, floor: impl Into<String>) -> Self {
        Self {
            figure: figure.into(),
            pxrelay: pxrelay.into(),
            floor: floor.into(),
            ratio: "—".into(),
            notes: String::new(),
            broken: None,
        }
    }
    pub(crate) fn ratio(mut self, pxrelay: f64, floor: f64) -> Self {
        if floor > 0.0 && pxrelay.is_finite() {
            self.ratio = format!("{:.2}", pxrelay / floor);
        }
        self
    }
    pub(crate) fn notes(mut self, notes: impl Into<String>) -> Self {
        self.notes = notes.into();
        self
    }
}

/// Sizes for the full and the quick run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scale {
    pub(crate) quick: bool,
}

impl Scale {
    pub(crate) fn pick<T>(self, full: T, quick: T) -> T {
        if self.quick { quick } else { full }
    }
    pub(crate) fn secs(self, full: u64, quick: u64) -> Duration {
        Duration::from_secs(self.pick(full, quick))
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let which = args.iter().find(|a| !a.starts_with("--")).cloned().unwrap_or_else(|| "all".into());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(&which, Scale { quick }))
}

async fn run(which: &str, scale: Scale) -> anyhow::Result<()> {
    projectx::tls::install_crypto_provider();
    let started = tokio::time::Instant::now();
    let binary = child::binary()?;
    let mut rows = Vec::new();
    let all = which == "all";
    let sections = ["latency", "throughput", "quotes", "quote-http", "footprint", "rotation", "fanout", "network"];
    anyhow::ensure!(all || sections.contains(&which), "unknown section `{which}`: all, {}", sections.join(", "));
    for section in sections.into_iter().filter(|s| all || *s == which) {
        let began = tokio::time::Instant::now();
        rows.extend(match section {
            "latency" => latency::run(&binary, scale).await?,
            "throughput" => throughput::webhooks(&binary, scale).await?,
            "quotes" => quotes::ingestion(scale).await?,
            "quote-http" => throughput::quote_endpoint(&binary, scale).await?,
            "footprint" => quotes::footprint(&binary, scale).await?,
            "rotation" => rotation::run(&binary, scale).await?,
            "fanout" => fanout::run(&binary, scale).await?,
            "network" => network::run(&binary, scale).await?,
            other => anyhow::bail!("unknown section `{other}`"),
        });
        eprintln!("section {section}: {:.1} s", began.elapsed().as_secs_f64());
    }
    println!("\n| Figure | pxrelay | Floor | Ratio | Notes |\n|---|---|---|---|---|");
    for r in &rows {
        println!("| {} | {} | {} | {} | {} |", r.figure, r.pxrelay, r.floor, r.ratio, r.notes);
    }
    println!(
        "\n{} mode, {} figures in {:.0} s; binary {}; {} cores.",
        if scale.quick { "quick" } else { "full" },
        rows.len(),
        started.elapsed().as_secs_f64(),
        binary.display(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    let broken: Vec<&String> = rows.iter().filter_map(|r| r.broken.as_ref()).collect();
    anyhow::ensure!(broken.is_empty(), "correctness failures: {broken:?}");
    Ok(())
}
