//! Exponential backoff with full jitter, validated at construction (linkerd's `exp-backoff` shape).
//!
//! Used by the hub reconnect loop and by projectx (token refresher, read retries).

use std::time::Duration;

/// Backoff bounds: the first delay is about `min`, each later one doubles, none exceeds `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    min: Duration,
    max: Duration,
}

/// `min` was zero or larger than `max`.
#[derive(Debug, thiserror::Error)]
#[error("invalid backoff: min {min:?} must be > 0 and <= max {max:?}")]
pub struct InvalidBackoff {
    min: Duration,
    max: Duration,
}

impl Backoff {
    /// Validated bounds.
    pub fn try_new(min: Duration, max: Duration) -> Result<Self, InvalidBackoff> {
        if min.is_zero() || min > max {
            return Err(InvalidBackoff { min, max });
        }
        Ok(Self { min, max })
    }

    /// The delay before retry number `attempt` (1-based): uniformly random in `[ceiling/2, ceiling]` where
    /// `ceiling = min(max, min * 2^(attempt-1))`. Half the ceiling is kept so retries never bunch at zero.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(20);
        let ceiling = self.min.saturating_mul(1 << exp).min(self.max);
        let half = ceiling / 2;
        let span = u64::try_from((ceiling - half).as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(fastrand::u64(0..=span))
    }
}

impl Default for Backoff {
    /// 500 ms doubling to 30 s.
    fn default() -> Self {
        Self { min: Duration::from_millis(500), max: Duration::from_secs(30) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_zero_or_inverted_bounds() {
        assert!(Backoff::try_new(Duration::ZERO, Duration::from_secs(1)).is_err());
        assert!(Backoff::try_new(Duration::from_secs(2), Duration::from_secs(1)).is_err());
    }

    #[test]
    fn delays_grow_jittered_and_stay_under_the_cap() {
        let b = Backoff::try_new(Duration::from_millis(100), Duration::from_secs(2)).unwrap();
        for _ in 0..200 {
            let d1 = b.delay(1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100), "{d1:?}");
            let d3 = b.delay(3);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400), "{d3:?}");
            let d30 = b.delay(30);
            assert!(d30 >= Duration::from_secs(1) && d30 <= Duration::from_secs(2), "{d30:?}");
        }
    }
}
