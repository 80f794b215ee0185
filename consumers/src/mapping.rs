//! Event source mappings: what a user asks for (Lambda's Kinesis parameters, with their
//! defaults and ranges) and its validation. Errors name the field and the range.

use eddy_shards::InvalidArgument;
use serde::{Deserialize, Serialize};

use crate::filter::FilterSet;

pub const DEFAULT_BATCH_SIZE: u32 = 100;
pub const MAX_BATCH_SIZE: u32 = 10_000;
pub const MAX_BATCHING_WINDOW_SECS: u32 = 300;
pub const MAX_PARALLELIZATION_FACTOR: u32 = 10;
pub const MAX_RETRY_ATTEMPTS: i32 = 10_000;
pub const MIN_RECORD_AGE_SECS: i32 = 60;
pub const MAX_RECORD_AGE_SECS: i32 = 604_800;
/// A batch also goes when it reaches 6 MB of data, as in Lambda.
pub const MAX_BATCH_BYTES: usize = 6 * 1024 * 1024;

/// Where a new mapping starts reading each shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StartingPosition {
    TrimHorizon,
    Latest,
    /// Milliseconds since the Unix epoch.
    AtTimestamp(u64),
}

/// A mapping as configured. `-1` means "no limit" for retries and record age, as in Lambda.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingSpec {
    pub stream: String,
    pub function: String,
    pub batch_size: u32,
    pub batching_window_secs: u32,
    pub starting_position: StartingPosition,
    pub parallelization_factor: u32,
    pub bisect_on_error: bool,
    pub max_retries: i32,
    pub max_record_age_secs: i32,
    pub on_failure_stream: Option<String>,
    pub report_batch_item_failures: bool,
    /// FilterCriteria patterns (JSON text), ORed.
    pub filters: Vec<String>,
    pub enabled: bool,
    /// Milliseconds since the Unix epoch of the last create or update (0 in records
    /// written before eddy kept it).
    #[serde(default)]
    pub last_modified_millis: u64,
}

/// The settings a create or update request sets; the rest stay as they are (Lambda's
/// defaults on create). An empty `on_failure_stream` removes the destination.
#[derive(Clone, Debug, Default)]
pub struct MappingChange {
    pub batch_size: Option<u32>,
    pub batching_window_secs: Option<u32>,
    pub parallelization_factor: Option<u32>,
    pub bisect_on_error: Option<bool>,
    pub max_retry_attempts: Option<i32>,
    pub max_record_age_secs: Option<i32>,
    pub on_failure_stream: Option<String>,
    pub report_batch_item_failures: Option<bool>,
    pub filters: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

impl MappingChange {
    pub fn apply(self, spec: &mut MappingSpec) {
        spec.batch_size = self.batch_size.unwrap_or(spec.batch_size);
        spec.batching_window_secs = self
            .batching_window_secs
            .unwrap_or(spec.batching_window_secs);
        spec.parallelization_factor = self
            .parallelization_factor
            .unwrap_or(spec.parallelization_factor);
        spec.bisect_on_error = self.bisect_on_error.unwrap_or(spec.bisect_on_error);
        spec.max_retries = self.max_retry_attempts.unwrap_or(spec.max_retries);
        spec.max_record_age_secs = self.max_record_age_secs.unwrap_or(spec.max_record_age_secs);
        if let Some(stream) = self.on_failure_stream {
            spec.on_failure_stream = Some(stream).filter(|s| !s.is_empty());
        }
        spec.report_batch_item_failures = self
            .report_batch_item_failures
            .unwrap_or(spec.report_batch_item_failures);
        if let Some(filters) = self.filters {
            spec.filters = filters;
        }
        spec.enabled = self.enabled.unwrap_or(spec.enabled);
    }
}

impl MappingSpec {
    /// A mapping with Lambda's defaults.
    pub fn new(
        stream: impl Into<String>,
        function: impl Into<String>,
        starting_position: StartingPosition,
    ) -> Self {
        Self {
            stream: stream.into(),
            function: function.into(),
            batch_size: DEFAULT_BATCH_SIZE,
            batching_window_secs: 0,
            starting_position,
            parallelization_factor: 1,
            bisect_on_error: false,
            max_retries: -1,
            max_record_age_secs: -1,
            on_failure_stream: None,
            report_batch_item_failures: false,
            filters: Vec::new(),
            enabled: true,
            last_modified_millis: 0,
        }
    }

    /// Checks every parameter against Lambda's ranges; returns the compiled filters.
    pub fn validate(&self) -> Result<FilterSet, InvalidArgument> {
        eddy_shards::limits::check_stream_name("stream_name", &self.stream)?;
        if self.function.is_empty() || self.function.len() > 64 {
            return Err(InvalidArgument::new(
                "function_name",
                "must be 1 to 64 characters",
            ));
        }
        if !(1..=MAX_BATCH_SIZE).contains(&self.batch_size) {
            return Err(InvalidArgument::new(
                "batch_size",
                format!(
                    "must be between 1 and {MAX_BATCH_SIZE}, got {}",
                    self.batch_size
                ),
            ));
        }
        if self.batching_window_secs > MAX_BATCHING_WINDOW_SECS {
            return Err(InvalidArgument::new(
                "batching_window_secs",
                format!(
                    "must be between 0 and {MAX_BATCHING_WINDOW_SECS} seconds, got {}",
                    self.batching_window_secs
                ),
            ));
        }
        if !(1..=MAX_PARALLELIZATION_FACTOR).contains(&self.parallelization_factor) {
            return Err(InvalidArgument::new(
                "parallelization_factor",
                format!(
                    "must be between 1 and {MAX_PARALLELIZATION_FACTOR}, got {}",
                    self.parallelization_factor
                ),
            ));
        }
        if !(-1..=MAX_RETRY_ATTEMPTS).contains(&self.max_retries) {
            return Err(InvalidArgument::new(
                "max_retry_attempts",
                format!("must be -1 (retry until the record expires) or 0 to {MAX_RETRY_ATTEMPTS}, got {}", self.max_retries),
            ));
        }
        let age = self.max_record_age_secs;
        if age != -1 && !(MIN_RECORD_AGE_SECS..=MAX_RECORD_AGE_SECS).contains(&age) {
            return Err(InvalidArgument::new(
                "max_record_age_secs",
                format!("must be -1 (no limit) or {MIN_RECORD_AGE_SECS} to {MAX_RECORD_AGE_SECS} seconds, got {age}"),
            ));
        }
        if let Some(stream) = &self.on_failure_stream {
            eddy_shards::limits::check_stream_name("on_failure_stream", stream)?;
            if *stream == self.stream {
                return Err(InvalidArgument::new(
                    "on_failure_stream",
                    "must not be the mapping's own stream (failures would feed back into it)",
                ));
            }
        }
        FilterSet::parse(&self.filters).map_err(|err| InvalidArgument::new(err.field, err.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> MappingSpec {
        MappingSpec::new("orders", "process", StartingPosition::TrimHorizon)
    }

    #[test]
    fn defaults_are_lambdas() {
        let spec = spec();
        assert_eq!(
            (
                spec.batch_size,
                spec.batching_window_secs,
                spec.parallelization_factor
            ),
            (100, 0, 1)
        );
        assert_eq!((spec.max_retries, spec.max_record_age_secs), (-1, -1));
        assert!(spec.enabled && !spec.bisect_on_error && !spec.report_batch_item_failures);
        assert!(spec.validate().unwrap().is_empty());
    }

    #[test]
    fn every_range_is_checked_and_named() {
        type Change = Box<dyn Fn(&mut MappingSpec)>;
        let cases: Vec<(Change, &str)> = vec![
            (
                Box::new(|s| s.batch_size = 0),
                "`batch_size` must be between 1 and 10000, got 0",
            ),
            (Box::new(|s| s.batch_size = 10_001), "got 10001"),
            (
                Box::new(|s| s.batching_window_secs = 301),
                "`batching_window_secs` must be between 0 and 300",
            ),
            (
                Box::new(|s| s.parallelization_factor = 0),
                "`parallelization_factor`",
            ),
            (
                Box::new(|s| s.parallelization_factor = 11),
                "between 1 and 10, got 11",
            ),
            (Box::new(|s| s.max_retries = -2), "`max_retry_attempts`"),
            (Box::new(|s| s.max_retries = 10_001), "0 to 10000"),
            (
                Box::new(|s| s.max_record_age_secs = 59),
                "`max_record_age_secs`",
            ),
            (
                Box::new(|s| s.max_record_age_secs = 604_801),
                "60 to 604800",
            ),
            (Box::new(|s| s.max_record_age_secs = 0), "got 0"),
            (
                Box::new(|s| s.on_failure_stream = Some("orders".into())),
                "own stream",
            ),
            (
                Box::new(|s| s.on_failure_stream = Some("bad name".into())),
                "`on_failure_stream`",
            ),
            (Box::new(|s| s.stream = String::new()), "`stream_name`"),
            (Box::new(|s| s.function = String::new()), "`function_name`"),
            (
                Box::new(|s| s.filters = vec!["{".into()]),
                "`FilterCriteria.Filters[0].Pattern` is not valid JSON",
            ),
        ];
        for (change, fragment) in cases {
            let mut bad = spec();
            change(&mut bad);
            let err = bad.validate().unwrap_err().to_string();
            assert!(err.contains(fragment), "{err} lacks {fragment}");
        }
        let mut edge = spec();
        edge.batch_size = 10_000;
        edge.max_retries = 10_000;
        edge.max_record_age_secs = 60;
        edge.parallelization_factor = 10;
        edge.batching_window_secs = 300;
        assert!(edge.validate().is_ok());
    }
}
