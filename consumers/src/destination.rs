//! Failure-destination records: Lambda's OnFailure invocation record for Kinesis
//! (`requestContext`, `responseContext`, `KinesisBatchInfo`, …) plus what Lambda leaves
//! out — the failed records themselves — so nothing that exhausts its retries is lost.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chrono::{TimeZone, Utc};
use eddy_shards::Record;
use serde_json::{json, Value};

use crate::event::EventSource;

/// Why records went to the failure destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FailureCondition {
    /// A mapping's batch failed MaximumRetryAttempts + 1 times.
    RetryAttemptsExhausted,
    /// A mapping's records outlived MaximumRecordAgeInSeconds.
    RecordAgeExceeded,
    /// An asynchronous invocation failed MaximumRetryAttempts + 1 times.
    RetriesExhausted,
    /// An asynchronous invocation outlived MaximumEventAgeInSeconds.
    EventAgeExceeded,
}

impl FailureCondition {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCondition::RetryAttemptsExhausted => "RetryAttemptsExhausted",
            FailureCondition::RecordAgeExceeded => "RecordAgeExceeded",
            FailureCondition::RetriesExhausted => "RetriesExhausted",
            FailureCondition::EventAgeExceeded => "EventAgeExceeded",
        }
    }
}

/// What is known of the failed invocations.
#[derive(Clone, Debug)]
pub struct FailureContext<'a> {
    pub function_arn: &'a str,
    pub condition: FailureCondition,
    pub approximate_invoke_count: u32,
    /// The last error, e.g. `Unhandled` or the function's `errorType`.
    pub function_error: &'a str,
    pub error_message: &'a str,
    pub now_millis: u64,
}

fn rfc3339(millis: u64) -> String {
    Utc.timestamp_millis_opt(millis as i64)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The failure record for `records` (consecutive records of one shard, not empty).
pub fn failure_record(
    source: &EventSource,
    context: &FailureContext<'_>,
    records: &[Record],
) -> Value {
    let first = records
        .first()
        .expect("a failure covers at least one record");
    let last = records
        .last()
        .expect("a failure covers at least one record");
    let request_id = format!("{:032x}", rand::random::<u128>());
    json!({
        "requestContext": {
            "requestId": request_id,
            "functionArn": context.function_arn,
            "condition": context.condition.as_str(),
            "approximateInvokeCount": context.approximate_invoke_count,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": context.function_error,
        },
        "version": "1.0",
        "timestamp": rfc3339(context.now_millis),
        "KinesisBatchInfo": {
            "shardId": source.shard_id,
            "startSequenceNumber": first.seq.to_string(),
            "endSequenceNumber": last.seq.to_string(),
            "approximateArrivalOfFirstRecord": rfc3339(first.arrival_millis),
            "approximateArrivalOfLastRecord": rfc3339(last.arrival_millis),
            "batchSize": records.len(),
            "streamArn": source.stream_arn,
        },
        "errorMessage": context.error_message,
        "records": records.iter().map(|r| json!({
            "partitionKey": &*r.partition_key,
            "sequenceNumber": r.seq.to_string(),
            "data": BASE64.encode(&r.data),
            "approximateArrivalTimestamp": r.arrival_millis as f64 / 1000.0,
        })).collect::<Vec<_>>(),
    })
}

/// Lambda's invocation record for an asynchronous (`Event`) invocation that exhausted its
/// retries (`RetriesExhausted`) or its age (`EventAgeExceeded`), with the request payload.
pub fn async_failure_record(
    context: &FailureContext<'_>,
    request_id: &str,
    request_payload: &[u8],
) -> Value {
    let payload: Value = serde_json::from_slice(request_payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(request_payload).into_owned()));
    json!({
        "version": "1.0",
        "timestamp": rfc3339(context.now_millis),
        "requestContext": {
            "requestId": request_id,
            "functionArn": format!("{}:$LATEST", context.function_arn),
            "condition": context.condition.as_str(),
            "approximateInvokeCount": context.approximate_invoke_count,
        },
        "requestPayload": payload,
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": context.function_error,
        },
        "responsePayload": {
            "errorType": context.function_error,
            "errorMessage": context.error_message,
        },
    })
}

/// Splits records into runs whose failure records stay under `max_bytes` (each run has
/// at least one record; one record of up to 1 MiB always fits in eddy's system limit).
pub fn chunk_for_destination(records: &[Record], max_bytes: usize) -> Vec<&[Record]> {
    const OVERHEAD_PER_RECORD: usize = 160;
    const OVERHEAD_PER_FAILURE: usize = 2048;
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut bytes = OVERHEAD_PER_FAILURE;
    for (i, record) in records.iter().enumerate() {
        let size = record.data.len().div_ceil(3) * 4
            + record.partition_key.len() * 6
            + OVERHEAD_PER_RECORD;
        if i > start && bytes + size > max_bytes {
            chunks.push(&records[start..i]);
            start = i;
            bytes = OVERHEAD_PER_FAILURE;
        }
        bytes += size;
    }
    if start < records.len() {
        chunks.push(&records[start..]);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn record(seq: u64, len: usize) -> Record {
        Record {
            seq,
            arrival_millis: 1_700_000_000_000 + seq,
            partition_key: "pk".into(),
            data: Bytes::from(vec![b'x'; len]),
        }
    }

    #[test]
    fn carries_lambdas_metadata_and_the_records() {
        let source = EventSource {
            shard_id: "shardId-000000000001".into(),
            stream_arn: "arn:aws:kinesis:us-east-1:000000000000:stream/s".into(),
            region: "us-east-1".into(),
            invoke_identity_arn: "arn:aws:iam::000000000000:role/eddy".into(),
        };
        let context = FailureContext {
            function_arn: "arn:aws:lambda:us-east-1:000000000000:function:f",
            condition: FailureCondition::RetryAttemptsExhausted,
            approximate_invoke_count: 3,
            function_error: "Unhandled",
            error_message: "boom",
            now_millis: 1_700_000_001_000,
        };
        let value = failure_record(&source, &context, &[record(5, 3), record(6, 3)]);
        assert_eq!(
            value["requestContext"]["condition"],
            "RetryAttemptsExhausted"
        );
        assert_eq!(value["requestContext"]["approximateInvokeCount"], 3);
        assert_eq!(value["responseContext"]["functionError"], "Unhandled");
        assert_eq!(value["KinesisBatchInfo"]["startSequenceNumber"], "5");
        assert_eq!(value["KinesisBatchInfo"]["endSequenceNumber"], "6");
        assert_eq!(value["KinesisBatchInfo"]["batchSize"], 2);
        assert_eq!(
            value["KinesisBatchInfo"]["approximateArrivalOfFirstRecord"],
            "2023-11-14T22:13:20.005Z"
        );
        assert_eq!(value["timestamp"], "2023-11-14T22:13:21.000Z");
        assert_eq!(value["records"][1]["data"], "eHh4");
        assert_eq!(value["records"][1]["sequenceNumber"], "6");
    }

    #[test]
    fn chunks_fit_the_limit_and_cover_every_record() {
        let records: Vec<Record> = (0..100).map(|i| record(i, 100_000)).collect();
        let chunks = chunk_for_destination(&records, 1_000_000);
        assert!(chunks.len() > 1);
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), 100);
        assert!(chunks
            .iter()
            .all(|c| c.len() * (100_000 * 4 / 3) < 1_000_000));
        let big = [record(0, 1024 * 1024)];
        assert_eq!(
            chunk_for_destination(&big, 1_000_000).len(),
            1,
            "one record always forms a chunk"
        );
    }
}
