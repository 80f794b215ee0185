//! Latency histograms of the write path, for operators and benchmarks alike. The log
//! keeps two:
//! - **writes**: how long each group commit's RocksDB write took (the WAL write, and its
//!   fsync under `fsync` durability), one count per write;
//! - **commits**: how long each record waited from its put's arrival at the log (before
//!   encoding) until its group's write returned, one count per record. That is the write
//!   plus the wait for the writer (the write in flight, a queue behind it), weighted the
//!   way producers feel it: one slow write delays every record that queued behind it.
//!
//! Put → handler latency is the commit wait plus delivery (the wake-up of the reader, the
//! batch, the handler); these tell the storage's share from the rest.
//!
//! Buckets are log-linear: each power of two of microseconds is split into
//! [`SUB_BUCKETS`] equal parts, so a percentile read back is at most 1/8 above the true
//! value. Recording is one relaxed atomic add; readers take a [`LatencyHistogram`]
//! snapshot and subtract an earlier one to get an interval.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Parts of each power of two (3 bits of precision).
const SUB_BUCKETS: usize = 8;
/// Powers of two of microseconds covered: up to 2^30 µs (18 minutes); longer ones count in
/// the last bucket.
const OCTAVES: usize = 28;
const BUCKETS: usize = SUB_BUCKETS * OCTAVES;

/// The live counters, updated by whoever commits.
#[derive(Debug)]
pub(crate) struct LatencyCounters {
    buckets: Box<[AtomicU64; BUCKETS]>,
}

impl Default for LatencyCounters {
    fn default() -> Self {
        Self {
            buckets: Box::new(std::array::from_fn(|_| AtomicU64::new(0))),
        }
    }
}

impl LatencyCounters {
    pub(crate) fn record(&self, elapsed: Duration) {
        self.record_many(elapsed, 1);
    }

    /// Counts `times` events that each took `elapsed` (the records of one append).
    pub(crate) fn record_many(&self, elapsed: Duration, times: u64) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.buckets[bucket_of(micros)].fetch_add(times, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> LatencyHistogram {
        LatencyHistogram {
            counts: self
                .buckets
                .iter()
                .map(|count| count.load(Ordering::Relaxed))
                .collect(),
        }
    }
}

/// Counts of writes (or records) by duration, since the log was opened (or, after
/// [`LatencyHistogram::since`], within an interval).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
}

impl LatencyHistogram {
    /// The events counted here and not in `earlier` (an earlier snapshot of the same
    /// histogram).
    pub fn since(&self, earlier: &LatencyHistogram) -> LatencyHistogram {
        LatencyHistogram {
            counts: self
                .counts
                .iter()
                .enumerate()
                .map(|(index, count)| {
                    count.saturating_sub(earlier.counts.get(index).copied().unwrap_or(0))
                })
                .collect(),
        }
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The duration at or below which `percent` % of the events took, as the upper bound
    /// of its bucket (at most 1/8 above the truth); `None` when nothing was counted.
    pub fn percentile(&self, percent: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((percent / 100.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(Duration::from_micros(upper_bound_of(index)));
            }
        }
        Some(Duration::from_micros(upper_bound_of(BUCKETS - 1)))
    }
}

/// Values below 8 µs get a bucket each; above, the top 3 bits after the leading one pick
/// the part of the power of two.
fn bucket_of(micros: u64) -> usize {
    if micros < SUB_BUCKETS as u64 {
        return micros as usize;
    }
    let octave = 63 - micros.leading_zeros() as usize; // ≥ 3
    let part = ((micros >> (octave - 3)) & (SUB_BUCKETS as u64 - 1)) as usize;
    ((octave - 2) * SUB_BUCKETS + part).min(BUCKETS - 1)
}

/// The largest value that falls into `index`.
fn upper_bound_of(index: usize) -> u64 {
    if index < SUB_BUCKETS {
        return index as u64;
    }
    let octave = index / SUB_BUCKETS + 2;
    let part = (index % SUB_BUCKETS) as u64;
    ((SUB_BUCKETS as u64 + part + 1) << (octave - 3)) - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn percentiles_come_from_the_counted_events() {
        let counters = LatencyCounters::default();
        assert_eq!(counters.snapshot().percentile(99.0), None);
        for _ in 0..98 {
            counters.record(Duration::from_micros(200));
        }
        let before = counters.snapshot();
        counters.record(Duration::from_millis(3));
        counters.record(Duration::from_millis(9));
        let all = counters.snapshot();
        assert_eq!(all.count(), 100);
        let p50 = all.percentile(50.0).unwrap().as_micros();
        assert!((200..=225).contains(&p50), "{p50}");
        let p99 = all.percentile(99.0).unwrap().as_micros();
        assert!((3_000..=3_375).contains(&p99), "{p99}");
        let max = all.percentile(100.0).unwrap().as_micros();
        assert!((9_000..=10_125).contains(&max), "{max}");
        let interval = all.since(&before);
        assert_eq!(interval.count(), 2);
        assert!(interval.percentile(1.0).unwrap() >= Duration::from_millis(3));
    }

    #[test]
    fn an_event_counted_many_times_weighs_as_many() {
        let counters = LatencyCounters::default();
        counters.record_many(Duration::from_micros(100), 10);
        counters.record(Duration::from_millis(5));
        let all = counters.snapshot();
        assert_eq!(all.count(), 11);
        // Ten of eleven at 100 µs: the 90th percentile is still there, the 95th is not.
        assert!(all.percentile(90.0).unwrap() < Duration::from_micros(120));
        assert!(all.percentile(95.0).unwrap() >= Duration::from_millis(5));
        counters.record_many(Duration::from_millis(1), 0);
        assert_eq!(counters.snapshot(), all, "counting nothing changes nothing");
    }

    proptest! {
        #[test]
        fn a_value_is_at_most_its_buckets_upper_bound_and_within_an_eighth(micros in 0u64..(1 << 27)) {
            let bound = upper_bound_of(bucket_of(micros));
            prop_assert!(bound >= micros);
            prop_assert!(bound <= micros + micros / 8, "{} -> {}", micros, bound);
        }

        #[test]
        fn buckets_are_in_order(a in 0u64..(1 << 30), b in 0u64..(1 << 30)) {
            if a <= b {
                prop_assert!(bucket_of(a) <= bucket_of(b));
            }
        }
    }
}
