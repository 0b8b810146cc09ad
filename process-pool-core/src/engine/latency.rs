//! [`Percentiles`]: how long jobs or calls waited in the queue and how long they ran, kept in
//! HDR histograms (3 significant figures, any range).

use std::time::Duration;

use hdrhistogram::Histogram;

/// The distribution of a time over a pool's jobs or calls so far.
///
/// Serialized (feature `serde`) with its times in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Percentiles {
    /// How many were recorded.
    pub count: u64,
    /// The median.
    #[cfg_attr(feature = "serde", serde(serialize_with = "seconds"))]
    pub p50: Duration,
    /// 90% took at most this.
    #[cfg_attr(feature = "serde", serde(serialize_with = "seconds"))]
    pub p90: Duration,
    /// 99% took at most this.
    #[cfg_attr(feature = "serde", serde(serialize_with = "seconds"))]
    pub p99: Duration,
    /// The longest.
    #[cfg_attr(feature = "serde", serde(serialize_with = "seconds"))]
    pub max: Duration,
}

impl std::fmt::Display for Percentiles {
    /// `p50 1.2ms p90 3ms p99 4.1ms max 5ms`, or `none` before anything was recorded.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.count == 0 {
            return f.write_str("none");
        }
        write!(
            f,
            "p50 {:.1?} p90 {:.1?} p99 {:.1?} max {:.1?}",
            self.p50, self.p90, self.p99, self.max
        )
    }
}

/// Serializes a duration as seconds (a float), as JSON readers expect.
#[cfg(feature = "serde")]
pub(crate) fn seconds<S: serde::Serializer>(time: &Duration, to: S) -> Result<S::Ok, S::Error> {
    to.serialize_f64(time.as_secs_f64())
}

impl Percentiles {
    fn of(histogram: &Histogram<u64>) -> Percentiles {
        if histogram.is_empty() {
            return Percentiles::default();
        }
        let at = |q: f64| Duration::from_nanos(histogram.value_at_quantile(q));
        Percentiles {
            count: histogram.len(),
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: Duration::from_nanos(histogram.max()),
        }
    }
}

/// Wait times (submitted to first started) and run times (each attempt), in nanoseconds.
#[derive(Debug, Clone)]
pub(crate) struct Latency {
    wait: Histogram<u64>,
    run: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        // Auto-resizing from 1 ns with 3 significant figures: cannot fail.
        let histogram = || Histogram::new(3).expect("3 significant figures are supported");
        Latency {
            wait: histogram(),
            run: histogram(),
        }
    }
}

impl Latency {
    /// Records how long one waited before it first started.
    pub(crate) fn waited(&mut self, time: Duration) {
        record(&mut self.wait, time);
    }

    /// Records how long one attempt ran.
    pub(crate) fn ran(&mut self, time: Duration) {
        record(&mut self.run, time);
    }

    /// The wait times so far.
    pub(crate) fn wait(&self) -> Percentiles {
        Percentiles::of(&self.wait)
    }

    /// The run times so far.
    pub(crate) fn run(&self) -> Percentiles {
        Percentiles::of(&self.run)
    }
}

/// Records `time` in nanoseconds; the histogram grows to hold it (up to about 292 years, so
/// it never refuses one).
fn record(histogram: &mut Histogram<u64>, time: Duration) {
    let nanos = u64::try_from(time.as_nanos()).unwrap_or(u64::MAX).max(1);
    if histogram.record(nanos).is_err() {
        histogram.saturating_record(nanos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_what_was_recorded() {
        let mut latency = Latency::default();
        assert_eq!(latency.run(), Percentiles::default());
        for ms in 1..=100 {
            latency.ran(Duration::from_millis(ms));
        }
        latency.waited(Duration::from_secs(3600));
        let run = latency.run();
        assert_eq!(run.count, 100);
        let close = |d: Duration, ms: u64| {
            d.abs_diff(Duration::from_millis(ms)) < Duration::from_micros(100)
        };
        assert!(
            close(run.p50, 50) && close(run.p90, 90) && close(run.p99, 99),
            "{run:?}"
        );
        assert!(close(run.max, 100), "{run:?}");
        let wait = latency.wait();
        assert_eq!(wait.count, 1);
        assert!(wait.max.abs_diff(Duration::from_secs(3600)) < Duration::from_secs(4));
    }
}
