//! Per-mapping counters, readable while the pollers run (for `eddy mapping describe`).

use std::sync::atomic::{AtomicU64, Ordering};

use eddy_shards::sync::Mutex;

#[derive(Debug, Default)]
pub struct MappingStats {
    pub invocations: AtomicU64,
    pub errors: AtomicU64,
    pub records_delivered: AtomicU64,
    pub records_filtered: AtomicU64,
    pub records_to_failure_destination: AtomicU64,
    /// Records that exhausted their retries with no failure destination configured:
    /// discarded as Lambda does, but counted and logged, never silently.
    pub records_discarded: AtomicU64,
    /// Age of the last record of the last batch when its processing ended, in ms.
    pub iterator_age_millis: AtomicU64,
    last_processing_result: Mutex<String>,
}

/// A copy of the counters at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MappingStatsSnapshot {
    pub invocations: u64,
    pub errors: u64,
    pub records_delivered: u64,
    pub records_filtered: u64,
    pub records_to_failure_destination: u64,
    pub records_discarded: u64,
    pub iterator_age_millis: u64,
    pub last_processing_result: String,
}

impl MappingStats {
    pub fn set_last_processing_result(&self, result: impl Into<String>) {
        *self.last_processing_result.lock() = result.into();
    }

    pub fn snapshot(&self) -> MappingStatsSnapshot {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        MappingStatsSnapshot {
            invocations: load(&self.invocations),
            errors: load(&self.errors),
            records_delivered: load(&self.records_delivered),
            records_filtered: load(&self.records_filtered),
            records_to_failure_destination: load(&self.records_to_failure_destination),
            records_discarded: load(&self.records_discarded),
            iterator_age_millis: load(&self.iterator_age_millis),
            last_processing_result: self.last_processing_result.lock().clone(),
        }
    }
}
