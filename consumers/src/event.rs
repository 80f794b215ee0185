//! The Lambda Kinesis event a function receives, the filterable view of a record, and
//! the `batchItemFailures` response of ReportBatchItemFailures.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use eddy_shards::Record;
use serde_json::{json, Value};

/// Where a batch comes from, for the event's ARNs and ids.
#[derive(Clone, Debug)]
pub struct EventSource {
    pub shard_id: String,
    pub stream_arn: String,
    pub region: String,
    /// Lambda sends the mapping's execution role; eddy has none and sends this fixed ARN.
    pub invoke_identity_arn: String,
}

/// Arrival time as Kinesis writes it in JSON: epoch seconds with millisecond decimals.
fn epoch_seconds(millis: u64) -> String {
    format!("{}.{:03}", millis / 1000, millis % 1000)
}

/// Encodes `{"Records":[…]}` exactly as Lambda's Kinesis event, written straight into a
/// buffer (this runs once per batch on the delivery path).
pub fn encode_kinesis_event(source: &EventSource, records: &[Record]) -> Vec<u8> {
    let data_bytes: usize = records.iter().map(|r| r.data.len()).sum();
    let mut out = Vec::with_capacity(data_bytes * 4 / 3 + records.len() * 420 + 16);
    out.extend_from_slice(b"{\"Records\":[");
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"kinesis\":{\"kinesisSchemaVersion\":\"1.0\",\"partitionKey\":");
        serde_json::to_writer(&mut out, &*record.partition_key)
            .expect("writing to a Vec cannot fail");
        out.extend_from_slice(
            format!(",\"sequenceNumber\":\"{}\",\"data\":\"", record.seq).as_bytes(),
        );
        let start = out.len();
        out.resize(
            start + base64::encoded_len(record.data.len(), true).expect("record sizes fit"),
            0,
        );
        let written = BASE64
            .encode_slice(&record.data, &mut out[start..])
            .expect("buffer sized for the encoding");
        out.truncate(start + written);
        out.extend_from_slice(
            format!(
                "\",\"approximateArrivalTimestamp\":{}}},\"eventSource\":\"aws:kinesis\",\"eventVersion\":\"1.0\",\"eventID\":\"{}:{}\",\"eventName\":\"aws:kinesis:record\",\"invokeIdentityArn\":",
                epoch_seconds(record.arrival_millis),
                source.shard_id,
                record.seq
            )
            .as_bytes(),
        );
        serde_json::to_writer(&mut out, &source.invoke_identity_arn).expect("vec write");
        out.extend_from_slice(b",\"awsRegion\":");
        serde_json::to_writer(&mut out, &source.region).expect("vec write");
        out.extend_from_slice(b",\"eventSourceARN\":");
        serde_json::to_writer(&mut out, &source.stream_arn).expect("vec write");
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    out
}

/// What filters see of a record: its metadata, and `data` parsed when it is JSON (a
/// record whose data is not JSON has no `data` field to filter on).
pub fn filterable_view(record: &Record) -> Value {
    let mut view = json!({
        "kinesisSchemaVersion": "1.0",
        "partitionKey": &*record.partition_key,
        "sequenceNumber": record.seq.to_string(),
        "approximateArrivalTimestamp": record.arrival_millis as f64 / 1000.0,
    });
    if let Ok(data) = serde_json::from_slice::<Value>(&record.data) {
        view["data"] = data;
    }
    view
}

/// How a function's response to a batch reads under ReportBatchItemFailures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchResponse {
    /// Every record succeeded.
    Success,
    /// Records before `lowest_failed_seq` succeeded; it and the rest are retried.
    PartialFailure { lowest_failed_seq: u64 },
    /// The response breaks the contract: the whole batch failed.
    Malformed(String),
}

/// Reads a response under ReportBatchItemFailures, as Lambda does: an empty or null
/// response or list is success; invalid JSON, or an `itemIdentifier` that is missing,
/// empty, null or not a sequence number of the batch, fails the whole batch.
pub fn parse_batch_response(body: &[u8], batch_seqs: &[u64]) -> BatchResponse {
    if body.iter().all(u8::is_ascii_whitespace) {
        return BatchResponse::Success;
    }
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(err) => return BatchResponse::Malformed(format!("the response is not JSON: {err}")),
    };
    let failures = match value.get("batchItemFailures") {
        None | Some(Value::Null) => return BatchResponse::Success,
        Some(Value::Array(items)) => items,
        Some(_) => return BatchResponse::Malformed("`batchItemFailures` is not a list".into()),
    };
    let mut lowest: Option<u64> = None;
    for (i, item) in failures.iter().enumerate() {
        let identifier = match item.get("itemIdentifier") {
            Some(Value::String(id)) if !id.is_empty() => id,
            _ => {
                return BatchResponse::Malformed(format!(
                    "`batchItemFailures[{i}].itemIdentifier` is missing, empty or not a string"
                ))
            }
        };
        match identifier.parse::<u64>() {
            Ok(seq) if batch_seqs.binary_search(&seq).is_ok() => {
                lowest = Some(lowest.map_or(seq, |l| l.min(seq)));
            }
            _ => {
                return BatchResponse::Malformed(format!(
                    "`batchItemFailures[{i}].itemIdentifier` {identifier:?} is not a sequence number of the batch"
                ))
            }
        }
    }
    match lowest {
        Some(lowest_failed_seq) => BatchResponse::PartialFailure { lowest_failed_seq },
        None => BatchResponse::Success,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn record(seq: u64, key: &str, data: &[u8]) -> Record {
        Record {
            seq,
            arrival_millis: 1_545_084_650_987,
            partition_key: key.into(),
            data: Bytes::copy_from_slice(data),
        }
    }

    fn source() -> EventSource {
        EventSource {
            shard_id: "shardId-000000000006".into(),
            stream_arn: "arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream".into(),
            region: "us-east-2".into(),
            invoke_identity_arn: "arn:aws:iam::123456789012:role/lambda-role".into(),
        }
    }

    #[test]
    fn the_event_is_lambdas_kinesis_event() {
        let body = encode_kinesis_event(
            &source(),
            &[
                record(42, "1", b"Hello, this is a test."),
                record(43, "k\"2", b""),
            ],
        );
        let event: Value = serde_json::from_slice(&body).unwrap();
        let expected = json!({"Records": [
            {"kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "1", "sequenceNumber": "42",
              "data": "SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==", "approximateArrivalTimestamp": 1545084650.987},
             "eventSource": "aws:kinesis", "eventVersion": "1.0",
             "eventID": "shardId-000000000006:42", "eventName": "aws:kinesis:record",
             "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
             "awsRegion": "us-east-2",
             "eventSourceARN": "arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream"},
            {"kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "k\"2", "sequenceNumber": "43",
              "data": "", "approximateArrivalTimestamp": 1545084650.987},
             "eventSource": "aws:kinesis", "eventVersion": "1.0",
             "eventID": "shardId-000000000006:43", "eventName": "aws:kinesis:record",
             "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
             "awsRegion": "us-east-2",
             "eventSourceARN": "arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream"}
        ]});
        assert_eq!(event, expected);
        assert_eq!(encode_kinesis_event(&source(), &[]), b"{\"Records\":[]}");
    }

    #[test]
    fn filterable_view_parses_json_data_only() {
        let view = filterable_view(&record(7, "pk", br#"{"temp": 31}"#));
        assert_eq!(view["data"]["temp"], 31);
        assert_eq!(view["partitionKey"], "pk");
        assert_eq!(view["sequenceNumber"], "7");
        assert!(filterable_view(&record(7, "pk", b"not json"))
            .get("data")
            .is_none());
    }

    #[test]
    fn batch_responses_follow_lambda() {
        let seqs = [10, 11, 12, 13];
        for success in [
            &b""[..],
            b"null",
            b"{}",
            b"\"ok\"",
            br#"{"batchItemFailures": []}"#,
            br#"{"batchItemFailures": null}"#,
        ] {
            assert_eq!(
                parse_batch_response(success, &seqs),
                BatchResponse::Success,
                "{:?}",
                String::from_utf8_lossy(success)
            );
        }
        assert_eq!(
            parse_batch_response(
                br#"{"batchItemFailures": [{"itemIdentifier": "13"}, {"itemIdentifier": "11"}]}"#,
                &seqs
            ),
            BatchResponse::PartialFailure {
                lowest_failed_seq: 11
            }
        );
        for malformed in [
            &b"{not json"[..],
            br#"{"batchItemFailures": "13"}"#,
            br#"{"batchItemFailures": [{"itemIdentifier": ""}]}"#,
            br#"{"batchItemFailures": [{"itemIdentifier": null}]}"#,
            br#"{"batchItemFailures": [{"itemId": "12"}]}"#,
            br#"{"batchItemFailures": [{"itemIdentifier": "99"}]}"#,
            br#"{"batchItemFailures": [{"itemIdentifier": 12}]}"#,
        ] {
            assert!(
                matches!(
                    parse_batch_response(malformed, &seqs),
                    BatchResponse::Malformed(_)
                ),
                "{:?}",
                String::from_utf8_lossy(malformed)
            );
        }
    }
}
