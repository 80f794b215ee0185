//! eddy's storage share of a latency run: its group commits' RocksDB writes (one count per
//! write) and its records' commit waits (one count per record, from the put's arrival at
//! the log until its group's write returned), read from the server's log before and after
//! the run. Put → handler latency minus the commit wait is what delivery and the load
//! generator add.

use std::time::Duration;

use eddy_shards::{LatencyHistogram, Log};

/// A snapshot of both histograms of one log.
pub struct StorageLatency {
    writes: LatencyHistogram,
    commits: LatencyHistogram,
}

impl StorageLatency {
    pub fn of(log: &Log) -> Self {
        Self {
            writes: log.write_latency(),
            commits: log.commit_latency(),
        }
    }

    /// What happened after `earlier`, a snapshot of the same log.
    pub fn since(&self, earlier: &StorageLatency) -> StorageLatency {
        StorageLatency {
            writes: self.writes.since(&earlier.writes),
            commits: self.commits.since(&earlier.commits),
        }
    }

    /// The records' commit wait at `percent`, in ms; `None` when nothing was committed.
    pub fn commit_millis(&self, percent: f64) -> Option<f64> {
        millis(&self.commits, percent)
    }

    /// "p50 / p99 / max" of the writes, in ms, for a table cell.
    pub fn writes_cell(&self) -> String {
        spread(&self.writes)
    }

    /// "p50 / p99 / max" of the records' commit waits, in ms, for a table cell.
    pub fn commits_cell(&self) -> String {
        spread(&self.commits)
    }

    /// A note with the p99 and max of both, or nothing when nothing was written.
    pub fn note(&self) -> Option<String> {
        let (write_p99, write_max) = (millis(&self.writes, 99.0)?, millis(&self.writes, 100.0)?);
        let (commit_p99, commit_max) =
            (millis(&self.commits, 99.0)?, millis(&self.commits, 100.0)?);
        Some(format!(
            "eddy's RocksDB writes: p99 {write_p99:.2} / max {write_max:.2} ms, its records' \
             commit wait: p99 {commit_p99:.2} / max {commit_max:.2} ms"
        ))
    }
}

fn millis(histogram: &LatencyHistogram, percent: f64) -> Option<f64> {
    histogram
        .percentile(percent)
        .map(|d: Duration| d.as_secs_f64() * 1000.0)
}

fn spread(histogram: &LatencyHistogram) -> String {
    let cell =
        |percent| millis(histogram, percent).map_or(String::from("–"), |ms| format!("{ms:.3}"));
    format!("{} / {} / {}", cell(50.0), cell(99.0), cell(100.0))
}
