//! The per-stage breakdown of a figure: pxrelay's `pxrelay_webhook_stage_seconds{stage}` histograms read from its
//! `/metrics` before and after the figure's alerts, and the difference turned into a row: per stage the mean
//! (sum / count) and an approximate p50 (interpolated inside the histogram's buckets, which step by about 1.5×, so it
//! is good to about ±25 %). The stages are `pxrelay::metrics::Stage`: `send` (one observation per gateway call) is
//! part of `execute`, the others follow one another; "before sending" is `execute` − `send` (means per alert: the
//! position from the book, the plan, the journal's `sent` mark).

use std::collections::BTreeMap;
use std::time::Duration;

use pxrelay::metrics::Stage;

use crate::Row;
use crate::child::Relay;

/// The metric family.
const FAMILY: &str = "pxrelay_webhook_stage_seconds";

/// One stage's histogram: sum (seconds), count, and cumulative counts by upper bound (seconds; `+Inf` last).
#[derive(Clone, Debug, Default, PartialEq)]
struct Histogram {
    sum: f64,
    count: f64,
    buckets: Vec<(f64, f64)>,
}

/// Every stage's histogram at one moment, by stage label.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Snapshot(BTreeMap<String, Histogram>);

/// Reads `relay`'s `/metrics`.
pub(crate) async fn scrape(http: &reqwest::Client, relay: &Relay) -> anyhow::Result<Snapshot> {
    let text = http.get(relay.url("/metrics")).send().await?.error_for_status()?.text().await?;
    Ok(parse(&text))
}

/// The stage histograms of a Prometheus / OpenMetrics text exposition (other families are skipped).
fn parse(text: &str) -> Snapshot {
    let mut stages: BTreeMap<String, Histogram> = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(FAMILY).and_then(|r| r.strip_prefix('_')) else { continue };
        let Some((series, labels_value)) = rest.split_once('{') else { continue };
        let Some((labels, value)) = labels_value.split_once('}') else { continue };
        let Ok(value) = value.trim().parse::<f64>() else { continue };
        let label = |key: &str| {
            labels.split(',').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                (k.trim() == key).then(|| v.trim().trim_matches('"').to_owned())
            })
        };
        let Some(stage) = label("stage") else { continue };
        let h = stages.entry(stage).or_default();
        match series {
            "sum" => h.sum = value,
            "count" => h.count = value,
            "bucket" => {
                let le = label("le").and_then(|le| if le == "+Inf" { Some(f64::INFINITY) } else { le.parse().ok() });
                if let Some(le) = le {
                    h.buckets.push((le, value));
                }
            }
            _ => {}
        }
    }
    for h in stages.values_mut() {
        h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    Snapshot(stages)
}

impl Snapshot {
    /// What was observed between `before` and `self`.
    pub(crate) fn since(&self, before: &Snapshot) -> Snapshot {
        let stages = self
            .0
            .iter()
            .map(|(stage, after)| {
                let earlier = before.0.get(stage).cloned().unwrap_or_default();
                let buckets = after
                    .buckets
                    .iter()
                    .map(|&(le, n)| {
                        let was = earlier.buckets.iter().find(|(l, _)| *l == le).map_or(0.0, |(_, n)| *n);
                        (le, n - was)
                    })
                    .collect();
                (stage.clone(), Histogram { sum: after.sum - earlier.sum, count: after.count - earlier.count, buckets })
            })
            .collect();
        Snapshot(stages)
    }

    /// Observations of `stage`.
    fn count(&self, stage: Stage) -> f64 {
        self.0.get(stage.as_str()).map_or(0.0, |h| h.count)
    }

    /// Mean of `stage` (zero without observations).
    fn mean(&self, stage: Stage) -> Duration {
        self.0
            .get(stage.as_str())
            .filter(|h| h.count > 0.0)
            .map_or(Duration::ZERO, |h| Duration::from_secs_f64((h.sum / h.count).max(0.0)))
    }

    /// Total time in `stage` (all observations).
    fn total(&self, stage: Stage) -> Duration {
        self.0.get(stage.as_str()).map_or(Duration::ZERO, |h| Duration::from_secs_f64(h.sum.max(0.0)))
    }

    /// The median of `stage`, interpolated linearly inside the bucket that holds it (the lower bound of the first
    /// bucket is 0; a median in the `+Inf` bucket is reported as the last finite bound).
    fn p50(&self, stage: Stage) -> Duration {
        let Some(h) = self.0.get(stage.as_str()).filter(|h| h.count > 0.0) else { return Duration::ZERO };
        let half = h.count / 2.0;
        let (mut lower, mut below) = (0.0, 0.0);
        for &(le, n) in &h.buckets {
            if n >= half {
                if le.is_infinite() {
                    return Duration::from_secs_f64(lower);
                }
                let share = if n > below { (half - below) / (n - below) } else { 0.0 };
                return Duration::from_secs_f64(lower + (le - lower) * share);
            }
            (lower, below) = (le, n);
        }
        Duration::from_secs_f64(lower)
    }

    /// The row of `figure`'s stages; `alerts` is how many alerts the figure sent (the per-alert figure of `send`).
    pub(crate) fn row(&self, figure: &str, alerts: usize) -> Row {
        let mut parts = Vec::new();
        for stage in Stage::ALL {
            parts.push(format!("{} {} / {}", stage.as_str(), short(self.mean(stage)), short(self.p50(stage))));
        }
        let per_alert = |d: Duration| if alerts == 0 { Duration::ZERO } else { d / alerts as u32 };
        let before_sending = per_alert(self.total(Stage::Execute)).saturating_sub(per_alert(self.total(Stage::Send)));
        let serial: Duration = [Stage::Parse, Stage::Auth, Stage::Fields, Stage::Resolve, Stage::Journal, Stage::Queue]
            .into_iter()
            .map(|s| self.mean(s))
            .sum();
        Row::new(
            format!("{figure}: pxrelay's stages (mean / ≈p50)"),
            parts.join("; "),
            "—",
        )
        .notes(format!(
            "from `pxrelay_webhook_stage_seconds` read before and after the figure's {alerts} alerts; `send` is part of \
             `execute` ({} gateway calls, {} per alert); before sending (`execute` − `send`, per alert: position \
             from the book, plan, journal `sent` mark) {}; arrival → lane (parse … queue, means) {}; ≈p50 \
             interpolated in buckets about 1.5× apart",
            self.count(Stage::Send),
            short(per_alert(self.total(Stage::Send))),
            short(before_sending),
            short(serial),
        ))
    }
}

/// `12 µs` below a millisecond, else `1.23 ms`.
fn short(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{} µs", d.as_micros())
    } else {
        format!("{:.2} ms", d.as_secs_f64() * 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = r#"# TYPE pxrelay_webhook_stage_seconds histogram
pxrelay_webhook_stage_seconds_sum{stage="parse"} 0.001
pxrelay_webhook_stage_seconds_count{stage="parse"} 10
pxrelay_webhook_stage_seconds_bucket{le="0.00001",stage="parse"} 0
pxrelay_webhook_stage_seconds_bucket{le="0.0001",stage="parse"} 10
pxrelay_webhook_stage_seconds_bucket{le="+Inf",stage="parse"} 10
pxrelay_http_requests_total{route="/webhook",status="200"} 10
"#;

    const AFTER: &str = r#"pxrelay_webhook_stage_seconds_sum{stage="parse"} 0.005
pxrelay_webhook_stage_seconds_count{stage="parse"} 30
pxrelay_webhook_stage_seconds_bucket{le="0.00001",stage="parse"} 0
pxrelay_webhook_stage_seconds_bucket{le="0.0001",stage="parse"} 20
pxrelay_webhook_stage_seconds_bucket{le="+Inf",stage="parse"} 30
# EOF
"#;

    fn micros(d: Duration) -> f64 {
        (d.as_secs_f64() * 1e6).round()
    }

    #[test]
    fn the_difference_gives_the_mean_and_an_interpolated_median() {
        let run = parse(AFTER).since(&parse(BEFORE));
        assert_eq!(run.count(Stage::Parse), 20.0);
        // 0.004 s over 20 observations.
        assert_eq!(micros(run.mean(Stage::Parse)), 200.0);
        // 10 of the 20 are at most 100 µs, 10 above: the median is the top of the 10 µs..100 µs bucket.
        assert_eq!(micros(run.p50(Stage::Parse)), 100.0);
        assert_eq!(run.count(Stage::Send), 0.0);
        assert_eq!(run.p50(Stage::Send), Duration::ZERO);
    }

    #[test]
    fn a_median_inside_a_bucket_is_interpolated() {
        let text = r#"pxrelay_webhook_stage_seconds_count{stage="auth"} 4
pxrelay_webhook_stage_seconds_bucket{le="0.001",stage="auth"} 0
pxrelay_webhook_stage_seconds_bucket{le="0.002",stage="auth"} 4
pxrelay_webhook_stage_seconds_bucket{le="+Inf",stage="auth"} 4
"#;
        assert_eq!(micros(parse(text).p50(Stage::Auth)), 1500.0);
    }
}
