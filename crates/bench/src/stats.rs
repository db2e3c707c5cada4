//! Percentiles over recorded samples (sorted once; the sample counts here are thousands, not millions).

use std::time::Duration;

/// p50, p99 and max of `samples` (empty → zeros).
pub(crate) fn summary(samples: &mut [Duration]) -> (Duration, Duration, Duration) {
    if samples.is_empty() {
        return (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    }
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.50), at(0.99), samples[samples.len() - 1])
}

/// Milliseconds with two decimals.
pub(crate) fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// "p50 / p99 / max" in milliseconds.
pub(crate) fn triple(samples: &mut [Duration]) -> (String, Duration, Duration) {
    let (p50, p99, max) = summary(samples);
    (format!("{} / {} / {}", ms(p50), ms(p99), ms(max)), p50, p99)
}
