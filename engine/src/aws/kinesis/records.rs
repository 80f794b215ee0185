//! Kinesis record operations: PutRecord, PutRecords, GetShardIterator and GetRecords.
//! Writes go through the same `Log::put_record(s)` as gRPC (group commit, the same limits
//! and durability); reads through [`crate::shard_reads`], as gRPC's do.

use eddy_shards::limits::MAX_GET_RECORDS_LIMIT;
use eddy_shards::{AppendError, AppendRecord, Record};
use serde::{Deserialize, Serialize};

use super::error::{ErrorType, KinesisError};
use super::protocol::{Blob, BlobRef, Timestamp};
use super::{bounded, resolve_stream};
use crate::aws::AwsApi;
use crate::shard_reads::{self, StartingPosition};

/// Checks an ExplicitHashKey's shape (`0|([1-9]\d{0,38})`), a ValidationException in
/// Kinesis; its range (≤ 2^128−1) is checked by the log (an InvalidArgumentException).
fn check_explicit_hash_key(field: &str, key: &Option<String>) -> Result<(), KinesisError> {
    let Some(key) = key else { return Ok(()) };
    let digits = !key.is_empty() && key.len() <= 39 && key.bytes().all(|b| b.is_ascii_digit());
    if !digits || (key.len() > 1 && key.starts_with('0')) {
        return Err(KinesisError::validation(
            field,
            format!("must match 0|([1-9]\\d{{0,38}}), got {key:?}"),
        ));
    }
    Ok(())
}

/// Sequence numbers are decimal strings on the wire.
fn parse_sequence_number(field: &str, text: &str) -> Result<u64, KinesisError> {
    text.parse::<u64>().map_err(|_| {
        KinesisError::invalid_argument(
            field,
            format!("{text:?} is not a sequence number issued by this server"),
        )
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRecordInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    data: Option<Blob>,
    partition_key: Option<String>,
    explicit_hash_key: Option<String>,
    sequence_number_for_ordering: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRecordOutput {
    shard_id: String,
    sequence_number: String,
    encryption_type: &'static str,
}

pub async fn put_record(
    api: &AwsApi,
    input: PutRecordInput,
) -> Result<PutRecordOutput, KinesisError> {
    let name = resolve_stream(api, &input.stream_name, &input.stream_arn)?;
    let data = input
        .data
        .ok_or_else(|| KinesisError::validation("Data", "is required"))?;
    let partition_key = input
        .partition_key
        .ok_or_else(|| KinesisError::validation("PartitionKey", "is required"))?;
    check_explicit_hash_key("ExplicitHashKey", &input.explicit_hash_key)?;
    let ordering = input
        .sequence_number_for_ordering
        .as_deref()
        .map(|text| parse_sequence_number("SequenceNumberForOrdering", text))
        .transpose()?;
    let record = AppendRecord {
        partition_key,
        data: data.0,
        explicit_hash_key: input.explicit_hash_key,
    };
    let appended = api.log.put_record(&name, record, ordering).await?;
    Ok(PutRecordOutput {
        shard_id: eddy_shards::shard_id_of_index(appended.shard_index),
        sequence_number: appended.seq.to_string(),
        encryption_type: "NONE",
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRecordsEntry {
    data: Option<Blob>,
    partition_key: Option<String>,
    explicit_hash_key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRecordsInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    records: Option<Vec<PutRecordsEntry>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRecordsResultEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    sequence_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shard_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRecordsOutput {
    failed_record_count: usize,
    records: Vec<PutRecordsResultEntry>,
    encryption_type: &'static str,
}

/// Shape errors fail the whole request, as in Kinesis. The entries then commit as one
/// group: when the write queue is full every entry is reported as throttled
/// (ProvisionedThroughputExceededException, per entry, so SDKs retry just those).
pub async fn put_records(
    api: &AwsApi,
    input: PutRecordsInput,
) -> Result<PutRecordsOutput, KinesisError> {
    let name = resolve_stream(api, &input.stream_name, &input.stream_arn)?;
    let entries = input
        .records
        .ok_or_else(|| KinesisError::validation("Records", "is required"))?;
    let mut records = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let data = entry.data.ok_or_else(|| {
            KinesisError::validation(&format!("Records[{index}].Data"), "is required")
        })?;
        let partition_key = entry.partition_key.ok_or_else(|| {
            KinesisError::validation(&format!("Records[{index}].PartitionKey"), "is required")
        })?;
        check_explicit_hash_key(
            &format!("Records[{index}].ExplicitHashKey"),
            &entry.explicit_hash_key,
        )?;
        records.push(AppendRecord {
            partition_key,
            data: data.0,
            explicit_hash_key: entry.explicit_hash_key,
        });
    }
    let count = records.len();
    match api.log.put_records(&name, records).await {
        Ok(appended) => Ok(PutRecordsOutput {
            failed_record_count: 0,
            records: appended
                .iter()
                .map(|at| PutRecordsResultEntry {
                    sequence_number: Some(at.seq.to_string()),
                    shard_id: Some(eddy_shards::shard_id_of_index(at.shard_index)),
                    error_code: None,
                    error_message: None,
                })
                .collect(),
            encryption_type: "NONE",
        }),
        Err(AppendError::Overloaded(message)) => Ok(PutRecordsOutput {
            failed_record_count: count,
            records: (0..count)
                .map(|_| PutRecordsResultEntry {
                    sequence_number: None,
                    shard_id: None,
                    error_code: Some(ErrorType::ProvisionedThroughputExceeded.name()),
                    error_message: Some(message.clone()),
                })
                .collect(),
            encryption_type: "NONE",
        }),
        Err(err) => Err(err.into()),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetShardIteratorInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    shard_id: Option<String>,
    shard_iterator_type: Option<String>,
    starting_sequence_number: Option<String>,
    timestamp: Option<Timestamp>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetShardIteratorOutput {
    shard_iterator: String,
}

pub async fn get_shard_iterator(
    api: &AwsApi,
    input: GetShardIteratorInput,
) -> Result<GetShardIteratorOutput, KinesisError> {
    let name = resolve_stream(api, &input.stream_name, &input.stream_arn)?;
    let shard_id = input
        .shard_id
        .ok_or_else(|| KinesisError::validation("ShardId", "is required"))?;
    let kind = input
        .shard_iterator_type
        .ok_or_else(|| KinesisError::validation("ShardIteratorType", "is required"))?;
    let sequence_number = |kind: &str| {
        let text = input.starting_sequence_number.as_deref().ok_or_else(|| {
            KinesisError::invalid_argument(
                "StartingSequenceNumber",
                format!("is required for {kind}"),
            )
        })?;
        parse_sequence_number("StartingSequenceNumber", text)
    };
    let position = match kind.as_str() {
        "TRIM_HORIZON" => StartingPosition::TrimHorizon,
        "LATEST" => StartingPosition::Latest,
        "AT_SEQUENCE_NUMBER" => StartingPosition::AtSequenceNumber(sequence_number(&kind)?),
        "AFTER_SEQUENCE_NUMBER" => StartingPosition::AfterSequenceNumber(sequence_number(&kind)?),
        "AT_TIMESTAMP" => StartingPosition::AtTimestamp(
            input
                .timestamp
                .ok_or_else(|| KinesisError::invalid_argument("Timestamp", "is required for AT_TIMESTAMP"))?
                .0,
        ),
        other => {
            return Err(KinesisError::validation(
                "ShardIteratorType",
                format!("must be TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER or AT_TIMESTAMP, got {other:?}"),
            ))
        }
    };
    let shard = api.log.shard(&name, &shard_id)?;
    let next_seq =
        shard_reads::resolve_start(&api.log, &shard, position, "StartingSequenceNumber").await?;
    Ok(GetShardIteratorOutput {
        shard_iterator: shard_reads::issue_iterator(&api.log, &shard, next_seq),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetRecordsInput {
    shard_iterator: Option<String>,
    limit: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RecordOut<'a> {
    sequence_number: String,
    approximate_arrival_timestamp: Timestamp,
    data: BlobRef<'a>,
    partition_key: &'a str,
}

/// Serialises records in place, without copying their payloads.
mod records_out {
    use super::*;
    use serde::ser::SerializeSeq;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(records: &[Record], serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(records.len()))?;
        for record in records {
            seq.serialize_element(&RecordOut {
                sequence_number: record.seq.to_string(),
                approximate_arrival_timestamp: Timestamp(record.arrival_millis),
                data: BlobRef(&record.data),
                partition_key: &record.partition_key,
            })?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetRecordsResponse {
    #[serde(serialize_with = "records_out::serialize")]
    records: Vec<Record>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_shard_iterator: Option<String>,
    millis_behind_latest: u64,
}

pub async fn get_records(
    api: &AwsApi,
    input: GetRecordsInput,
) -> Result<GetRecordsResponse, KinesisError> {
    let token = input
        .shard_iterator
        .ok_or_else(|| KinesisError::validation("ShardIterator", "is required"))?;
    let max = i64::from(MAX_GET_RECORDS_LIMIT);
    let limit = bounded("Limit", input.limit, max, 1, max)?;
    let read = shard_reads::get_records(&api.log, &token, limit as usize).await?;
    Ok(GetRecordsResponse {
        records: read.batch.records,
        next_shard_iterator: read.next_shard_iterator,
        millis_behind_latest: read.batch.millis_behind_latest,
    })
}
