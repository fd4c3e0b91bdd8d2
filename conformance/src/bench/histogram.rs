//! Latency distributions: microsecond samples collected per connection (a plain `Vec`, no
//! sharing on the hot path) and merged into one HdrHistogram at the end.

use hdrhistogram::Histogram;

/// Largest recordable latency: one hour, in µs (larger samples are clamped).
const MAX_US: u64 = 3_600_000_000;

/// A merged latency distribution.
pub struct Latencies {
    hist: Histogram<u64>,
}

/// The figures every mode reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Percentiles {
    /// Median, µs.
    pub p50_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
    /// 99.9th percentile, µs.
    pub p999_us: u64,
    /// Largest sample, µs.
    pub max_us: u64,
    /// Samples recorded.
    pub samples: u64,
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    /// An empty distribution (3 significant figures, 1 µs to one hour).
    pub fn new() -> Self {
        let hist = Histogram::new_with_bounds(1, MAX_US, 3)
            .expect("constant bounds that hdrhistogram accepts (1 µs to 1 h, 3 digits)");
        Latencies { hist }
    }

    /// Adds one sample (µs; 0 counts as 1, beyond an hour as an hour).
    pub fn record(&mut self, us: u64) {
        let _ = self.hist.record(us.clamp(1, MAX_US));
    }

    /// Adds many samples.
    pub fn extend(&mut self, samples: impl IntoIterator<Item = u64>) {
        for s in samples {
            self.record(s);
        }
    }

    /// p50, p99, p99.9 and max (all 0 when empty).
    pub fn percentiles(&self) -> Percentiles {
        if self.hist.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            p50_us: self.hist.value_at_quantile(0.5),
            p99_us: self.hist.value_at_quantile(0.99),
            p999_us: self.hist.value_at_quantile(0.999),
            max_us: self.hist.max(),
            samples: self.hist.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut l = Latencies::new();
        l.extend(1..=1000);
        let p = l.percentiles();
        assert_eq!(p.samples, 1000);
        assert_eq!(p.p50_us, 500);
        assert_eq!(p.p99_us, 990);
        assert_eq!(p.p999_us, 999);
        assert_eq!(p.max_us, 1000);
        assert_eq!(Latencies::new().percentiles(), Percentiles::default());
    }
}
