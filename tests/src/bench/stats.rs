//! Percentiles of latency samples, and the median of several runs.

use serde::Serialize;

/// Latency percentiles, in milliseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub(crate) struct Percentiles {
    /// Samples.
    pub(crate) count: usize,
    /// Median.
    pub(crate) p50: f64,
    /// 99th percentile.
    pub(crate) p99: f64,
    /// 99.9th percentile.
    pub(crate) p999: f64,
    /// Largest.
    pub(crate) max: f64,
}

impl Percentiles {
    /// From samples in microseconds (sorted in place).
    pub(crate) fn of_micros(samples: &mut [u32]) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        let at = |q: f64| {
            let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            f64::from(samples[rank - 1]) / 1000.0
        };
        Percentiles {
            count: samples.len(),
            p50: at(0.50),
            p99: at(0.99),
            p999: at(0.999),
            max: at(1.0),
        }
    }
}

/// A figure over several runs.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Spread {
    /// The median run.
    pub(crate) median: f64,
    /// The lowest run.
    pub(crate) min: f64,
    /// The highest run.
    pub(crate) max: f64,
    /// Every run, in order.
    pub(crate) runs: Vec<f64>,
}

impl Spread {
    /// The spread of `runs` (`None` when there is none).
    pub(crate) fn of(runs: &[f64]) -> Option<Spread> {
        let mut sorted: Vec<f64> = runs.iter().copied().filter(|v| v.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let middle = sorted.len() / 2;
        let median = if sorted.len() % 2 == 1 {
            sorted[middle]
        } else {
            (sorted[middle - 1] + sorted[middle]) / 2.0
        };
        Some(Spread {
            median,
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            runs: runs.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut samples: Vec<u32> = (1..=1000).collect();
        let p = Percentiles::of_micros(&mut samples);
        assert_eq!((p.p50, p.p99, p.p999, p.max), (0.5, 0.99, 0.999, 1.0));
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        let spread = Spread::of(&[4.0, 1.0, 3.0, 2.0]).map(|s| (s.median, s.min, s.max));
        assert_eq!(spread, Some((2.5, 1.0, 4.0)));
    }
}
