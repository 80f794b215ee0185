//! Kinesis stream operations: create, delete, describe, list, shards, retention, tags and
//! limits. Streams are ACTIVE as soon as CreateStream returns (eddy creates them
//! synchronously), so `stream_exists` waiters pass at once.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use eddy_shards::limits::{MAX_SHARDS_PER_STREAM, MAX_STREAMS, MAX_TAGS_PER_CALL};
use eddy_shards::{ShardMeta, StreamChange, StreamMeta};
use serde::{Deserialize, Serialize};

use super::error::{ErrorType, KinesisError};
use super::protocol::Timestamp;
use super::{bounded, resolve_stream};
use crate::aws::AwsApi;

/// Shards an ON_DEMAND stream starts with, as in Kinesis.
const ON_DEMAND_SHARDS: u32 = 4;
const DEFAULT_DESCRIBE_SHARDS: i64 = 100;
const MAX_DESCRIBE_SHARDS: i64 = 10_000;
const DEFAULT_LIST_STREAMS: i64 = 100;
const MAX_LIST_STREAMS: i64 = 10_000;
const DEFAULT_LIST_SHARDS: i64 = 1_000;
const MAX_LIST_SHARDS: i64 = 10_000;
const MAX_LIST_TAGS: i64 = 50;

/// Operations that answer with no fields.
#[derive(Serialize)]
pub struct Empty {}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamModeDetails {
    pub stream_mode: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateStreamInput {
    stream_name: Option<String>,
    shard_count: Option<i64>,
    stream_mode_details: Option<StreamModeDetails>,
    tags: Option<BTreeMap<String, String>>,
}

fn tag_changes(tags: BTreeMap<String, String>) -> Vec<StreamChange> {
    let entries: Vec<_> = tags.into_iter().collect();
    entries
        .chunks(MAX_TAGS_PER_CALL)
        .map(|chunk| StreamChange::AddTags(chunk.iter().cloned().collect()))
        .collect()
}

pub async fn create_stream(api: &AwsApi, input: CreateStreamInput) -> Result<Empty, KinesisError> {
    let name = input
        .stream_name
        .ok_or_else(|| KinesisError::validation("StreamName", "is required"))?;
    let mode = input
        .stream_mode_details
        .and_then(|details| details.stream_mode)
        .unwrap_or_else(|| "PROVISIONED".into());
    let shard_count = match (mode.as_str(), input.shard_count) {
        ("PROVISIONED", None) => {
            return Err(KinesisError::validation(
                "ShardCount",
                "is required for a PROVISIONED stream",
            ))
        }
        ("PROVISIONED" | "ON_DEMAND", Some(count)) => bounded(
            "ShardCount",
            Some(count),
            1,
            1,
            i64::from(MAX_SHARDS_PER_STREAM),
        )? as u32,
        ("ON_DEMAND", None) => ON_DEMAND_SHARDS,
        (other, _) => {
            return Err(KinesisError::validation(
                "StreamModeDetails.StreamMode",
                format!("must be PROVISIONED or ON_DEMAND, got {other:?}"),
            ))
        }
    };
    // Tags are checked before the stream exists, so a bad tag creates nothing.
    let changes = tag_changes(input.tags.unwrap_or_default());
    let mut probe = StreamMeta::with_even_shards(0, name.clone(), 24, 0, 1);
    for change in &changes {
        probe = change.apply(&probe)?;
    }
    api.log
        .create_stream(
            &name,
            shard_count,
            eddy_shards::limits::DEFAULT_RETENTION_HOURS,
        )
        .await?;
    for change in changes {
        api.log.update_stream(&name, change).await?;
    }
    Ok(Empty {})
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
}

pub async fn delete_stream(api: &AwsApi, input: StreamInput) -> Result<Empty, KinesisError> {
    let name = resolve_stream(api, &input.stream_name, &input.stream_arn)?;
    api.log.delete_stream(&name).await?;
    Ok(Empty {})
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HashKeyRangeOut {
    starting_hash_key: String,
    ending_hash_key: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SequenceNumberRangeOut {
    starting_sequence_number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ending_sequence_number: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ShardOut {
    shard_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_shard_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    adjacent_parent_shard_id: Option<String>,
    hash_key_range: HashKeyRangeOut,
    sequence_number_range: SequenceNumberRangeOut,
}

fn shard_out(meta: &ShardMeta) -> ShardOut {
    ShardOut {
        shard_id: meta.shard_id(),
        parent_shard_id: meta.parent_index_opt.map(eddy_shards::shard_id_of_index),
        adjacent_parent_shard_id: meta
            .adjacent_parent_index_opt
            .map(eddy_shards::shard_id_of_index),
        hash_key_range: HashKeyRangeOut {
            starting_hash_key: meta.hash_key_range.start_inclusive.to_string(),
            ending_hash_key: meta.hash_key_range.end_inclusive.to_string(),
        },
        sequence_number_range: SequenceNumberRangeOut {
            starting_sequence_number: meta.starting_seq.to_string(),
            ending_sequence_number: meta.ending_seq_opt.map(|seq| seq.to_string()),
        },
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamModeOut {
    stream_mode: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnhancedMetricsOut {
    shard_level_metrics: [&'static str; 0],
}

const PROVISIONED: StreamModeOut = StreamModeOut {
    stream_mode: "PROVISIONED",
};

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamDescriptionOut {
    stream_name: String,
    #[serde(rename = "StreamARN")]
    stream_arn: String,
    stream_status: &'static str,
    stream_mode_details: StreamModeOut,
    shards: Vec<ShardOut>,
    has_more_shards: bool,
    retention_period_hours: u32,
    stream_creation_timestamp: Timestamp,
    enhanced_monitoring: [EnhancedMetricsOut; 1],
    encryption_type: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeStreamOutput {
    stream_description: StreamDescriptionOut,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeStreamInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    limit: Option<i64>,
    exclusive_start_shard_id: Option<String>,
}

fn shard_index_after(field: &str, shard_id: &Option<String>) -> Result<Option<u32>, KinesisError> {
    shard_id
        .as_deref()
        .map(|id| {
            eddy_shards::shard_index_of_id(id).ok_or_else(|| {
                KinesisError::validation(
                    field,
                    format!("{id:?} is not a shard id (shardId-NNNNNNNNNNNN)"),
                )
            })
        })
        .transpose()
}

pub async fn describe_stream(
    api: &AwsApi,
    input: DescribeStreamInput,
) -> Result<DescribeStreamOutput, KinesisError> {
    let name = resolve_stream(api, &input.stream_name, &input.stream_arn)?;
    let limit = bounded(
        "Limit",
        input.limit,
        DEFAULT_DESCRIBE_SHARDS,
        1,
        MAX_DESCRIBE_SHARDS,
    )? as usize;
    let after = shard_index_after("ExclusiveStartShardId", &input.exclusive_start_shard_id)?;
    let meta = api.log.describe_stream(&name)?.meta;
    let mut shards: Vec<&ShardMeta> = meta
        .shards
        .iter()
        .filter(|shard| after.is_none_or(|after| shard.index > after))
        .collect();
    let has_more_shards = shards.len() > limit;
    shards.truncate(limit);
    Ok(DescribeStreamOutput {
        stream_description: StreamDescriptionOut {
            stream_name: meta.name.clone(),
            stream_arn: api.stream_arn(&meta.name),
            stream_status: "ACTIVE",
            stream_mode_details: PROVISIONED,
            shards: shards.into_iter().map(shard_out).collect(),
            has_more_shards,
            retention_period_hours: meta.retention_hours,
            stream_creation_timestamp: Timestamp(meta.created_at_millis),
            enhanced_monitoring: [EnhancedMetricsOut {
                shard_level_metrics: [],
            }],
            encryption_type: "NONE",
        },
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamSummaryOut {
    stream_name: String,
    #[serde(rename = "StreamARN")]
    stream_arn: String,
    stream_status: &'static str,
    stream_mode_details: StreamModeOut,
    retention_period_hours: u32,
    stream_creation_timestamp: Timestamp,
    enhanced_monitoring: [EnhancedMetricsOut; 1],
    encryption_type: &'static str,
    open_shard_count: u32,
    consumer_count: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeStreamSummaryOutput {
    stream_description_summary: StreamSummaryOut,
}

pub async fn describe_stream_summary(
    api: &AwsApi,
    input: StreamInput,
) -> Result<DescribeStreamSummaryOutput, KinesisError> {
    let name = resolve_stream(api, &input.stream_name, &input.stream_arn)?;
    let meta = api.log.describe_stream(&name)?.meta;
    Ok(DescribeStreamSummaryOutput {
        stream_description_summary: StreamSummaryOut {
            stream_name: meta.name.clone(),
            stream_arn: api.stream_arn(&meta.name),
            stream_status: "ACTIVE",
            stream_mode_details: PROVISIONED,
            retention_period_hours: meta.retention_hours,
            stream_creation_timestamp: Timestamp(meta.created_at_millis),
            enhanced_monitoring: [EnhancedMetricsOut {
                shard_level_metrics: [],
            }],
            encryption_type: "NONE",
            open_shard_count: meta.open_shard_count(),
            consumer_count: 0,
        },
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListStreamsInput {
    limit: Option<i64>,
    exclusive_start_stream_name: Option<String>,
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamListEntry {
    stream_name: String,
    #[serde(rename = "StreamARN")]
    stream_arn: String,
    stream_status: &'static str,
    stream_mode_details: StreamModeOut,
    stream_creation_timestamp: Timestamp,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListStreamsOutput {
    stream_names: Vec<String>,
    has_more_streams: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
    stream_summaries: Vec<StreamListEntry>,
}

/// Pagination tokens are the last item returned, base64url-encoded: opaque to clients
/// and stable across restarts.
fn encode_token(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

fn decode_token(token: &str) -> Result<String, KinesisError> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| KinesisError::invalid_argument("NextToken", "was not issued by this server"))
}

pub async fn list_streams(
    api: &AwsApi,
    input: ListStreamsInput,
) -> Result<ListStreamsOutput, KinesisError> {
    let limit = bounded(
        "Limit",
        input.limit,
        DEFAULT_LIST_STREAMS,
        1,
        MAX_LIST_STREAMS,
    )? as usize;
    let after = match (&input.next_token, input.exclusive_start_stream_name) {
        (Some(token), _) => Some(decode_token(token)?),
        (None, name) => name,
    };
    let mut streams = api.log.list_streams();
    streams.sort_by(|a, b| a.name.cmp(&b.name));
    let mut page: Vec<StreamMeta> = streams
        .into_iter()
        .filter(|meta| after.as_ref().is_none_or(|after| meta.name > *after))
        .collect();
    let has_more_streams = page.len() > limit;
    page.truncate(limit);
    let next_token = has_more_streams
        .then(|| page.last().map(|meta| encode_token(&meta.name)))
        .flatten();
    Ok(ListStreamsOutput {
        stream_names: page.iter().map(|meta| meta.name.clone()).collect(),
        has_more_streams,
        next_token,
        stream_summaries: page
            .iter()
            .map(|meta| StreamListEntry {
                stream_name: meta.name.clone(),
                stream_arn: api.stream_arn(&meta.name),
                stream_status: "ACTIVE",
                stream_mode_details: PROVISIONED,
                stream_creation_timestamp: Timestamp(meta.created_at_millis),
            })
            .collect(),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ShardFilterInput {
    r#type: Option<String>,
    shard_id: Option<String>,
    timestamp: Option<Timestamp>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListShardsInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    next_token: Option<String>,
    exclusive_start_shard_id: Option<String>,
    max_results: Option<i64>,
    stream_creation_timestamp: Option<Timestamp>,
    shard_filter: Option<ShardFilterInput>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListShardsOutput {
    shards: Vec<ShardOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub async fn list_shards(
    api: &AwsApi,
    input: ListShardsInput,
) -> Result<ListShardsOutput, KinesisError> {
    let max_results = bounded(
        "MaxResults",
        input.max_results,
        DEFAULT_LIST_SHARDS,
        1,
        MAX_LIST_SHARDS,
    )? as usize;
    // A NextToken carries the stream and the last shard returned; Kinesis refuses it
    // together with StreamName.
    let (name, mut after) = match &input.next_token {
        Some(token) => {
            if input.stream_name.is_some() || input.stream_arn.is_some() {
                return Err(KinesisError::invalid_argument(
                    "NextToken",
                    "cannot be combined with StreamName or StreamARN",
                ));
            }
            let text = decode_token(token)?;
            let (name, index) = text
                .rsplit_once('\n')
                .and_then(|(name, index)| Some((name.to_string(), index.parse::<u32>().ok()?)))
                .ok_or_else(|| {
                    KinesisError::invalid_argument("NextToken", "was not issued by this server")
                })?;
            (name, Some(index))
        }
        None => (
            resolve_stream(api, &input.stream_name, &input.stream_arn)?,
            shard_index_after("ExclusiveStartShardId", &input.exclusive_start_shard_id)?,
        ),
    };
    let meta = api.log.describe_stream(&name)?.meta;
    if let Some(created) = input.stream_creation_timestamp {
        if created.0 / 1000 != meta.created_at_millis / 1000 {
            return Err(KinesisError::new(
                ErrorType::ResourceNotFound,
                format!("stream `{name}` was not created at the given StreamCreationTimestamp"),
            ));
        }
    }
    let filter = input.shard_filter.unwrap_or_default();
    let open_only = match filter.r#type.as_deref() {
        None | Some("AT_TRIM_HORIZON") | Some("FROM_TRIM_HORIZON") => false,
        Some("AT_LATEST") => true,
        Some("AT_TIMESTAMP") | Some("FROM_TIMESTAMP") => {
            if filter.timestamp.is_none() {
                return Err(KinesisError::invalid_argument(
                    "ShardFilter.Timestamp",
                    "is required for AT_TIMESTAMP and FROM_TIMESTAMP",
                ));
            }
            // Every shard eddy has was open at every time since the stream was made.
            false
        }
        Some("AFTER_SHARD_ID") => {
            let shard_id = shard_index_after("ShardFilter.ShardId", &filter.shard_id)?.ok_or_else(|| {
                KinesisError::invalid_argument("ShardFilter.ShardId", "is required for AFTER_SHARD_ID")
            })?;
            after = Some(after.map_or(shard_id, |after| after.max(shard_id)));
            false
        }
        Some(other) => {
            return Err(KinesisError::validation(
                "ShardFilter.Type",
                format!("must be AFTER_SHARD_ID, AT_TRIM_HORIZON, FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP or FROM_TIMESTAMP, got {other:?}"),
            ))
        }
    };
    let mut shards: Vec<&ShardMeta> = meta
        .shards
        .iter()
        .filter(|shard| after.is_none_or(|after| shard.index > after))
        .filter(|shard| !open_only || shard.is_open())
        .collect();
    let more = shards.len() > max_results;
    shards.truncate(max_results);
    let next_token = more
        .then(|| {
            shards
                .last()
                .map(|last| encode_token(&format!("{name}\n{}", last.index)))
        })
        .flatten();
    Ok(ListShardsOutput {
        shards: shards.into_iter().map(shard_out).collect(),
        next_token,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RetentionInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    retention_period_hours: Option<i64>,
}

pub async fn increase_retention(
    api: &AwsApi,
    input: RetentionInput,
) -> Result<Empty, KinesisError> {
    change_retention(api, input, |hours| StreamChange::IncreaseRetention {
        hours,
    })
    .await
}

pub async fn decrease_retention(
    api: &AwsApi,
    input: RetentionInput,
) -> Result<Empty, KinesisError> {
    change_retention(api, input, |hours| StreamChange::DecreaseRetention {
        hours,
    })
    .await
}

async fn change_retention(
    api: &AwsApi,
    input: RetentionInput,
    change: fn(u32) -> StreamChange,
) -> Result<Empty, KinesisError> {
    let name = resolve_stream(api, &input.stream_name, &input.stream_arn)?;
    let hours = input
        .retention_period_hours
        .ok_or_else(|| KinesisError::validation("RetentionPeriodHours", "is required"))?;
    let hours = u32::try_from(hours).map_err(|_| {
        KinesisError::invalid_argument(
            "RetentionPeriodHours",
            format!("must be between 24 and 8760 hours, got {hours}"),
        )
    })?;
    api.log.update_stream(&name, change(hours)).await?;
    Ok(Empty {})
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddTagsInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    tags: Option<BTreeMap<String, String>>,
}

pub async fn add_tags(api: &AwsApi, input: AddTagsInput) -> Result<Empty, KinesisError> {
    let name = resolve_stream(api, &input.stream_name, &input.stream_arn)?;
    let tags = input
        .tags
        .ok_or_else(|| KinesisError::validation("Tags", "is required"))?;
    api.log
        .update_stream(&name, StreamChange::AddTags(tags))
        .await?;
    Ok(Empty {})
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RemoveTagsInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    tag_keys: Option<Vec<String>>,
}

pub async fn remove_tags(api: &AwsApi, input: RemoveTagsInput) -> Result<Empty, KinesisError> {
    let name = resolve_stream(api, &input.stream_name, &input.stream_arn)?;
    let keys = input
        .tag_keys
        .ok_or_else(|| KinesisError::validation("TagKeys", "is required"))?;
    api.log
        .update_stream(&name, StreamChange::RemoveTags(keys))
        .await?;
    Ok(Empty {})
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    exclusive_start_tag_key: Option<String>,
    limit: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagOut {
    key: String,
    value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsOutput {
    tags: Vec<TagOut>,
    has_more_tags: bool,
}

pub async fn list_tags(api: &AwsApi, input: ListTagsInput) -> Result<ListTagsOutput, KinesisError> {
    let name = resolve_stream(api, &input.stream_name, &input.stream_arn)?;
    let limit = bounded("Limit", input.limit, MAX_LIST_TAGS, 1, MAX_LIST_TAGS)? as usize;
    let meta = api.log.describe_stream(&name)?.meta;
    let mut tags: Vec<TagOut> = meta
        .tags
        .into_iter()
        .filter(|(key, _)| {
            input
                .exclusive_start_tag_key
                .as_ref()
                .is_none_or(|after| key > after)
        })
        .map(|(key, value)| TagOut { key, value })
        .collect();
    let has_more_tags = tags.len() > limit;
    tags.truncate(limit);
    Ok(ListTagsOutput {
        tags,
        has_more_tags,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct DescribeLimitsInput {}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeLimitsOutput {
    shard_limit: u64,
    open_shard_count: u64,
    on_demand_stream_count: u64,
    on_demand_stream_count_limit: u64,
}

pub async fn describe_limits(
    api: &AwsApi,
    _input: DescribeLimitsInput,
) -> Result<DescribeLimitsOutput, KinesisError> {
    let open_shard_count = api
        .log
        .list_streams()
        .iter()
        .map(|meta| u64::from(meta.open_shard_count()))
        .sum();
    Ok(DescribeLimitsOutput {
        // eddy has no account-wide shard cap: only per stream and a stream count.
        shard_limit: u64::from(MAX_SHARDS_PER_STREAM) * MAX_STREAMS as u64,
        open_shard_count,
        on_demand_stream_count: 0,
        on_demand_stream_count_limit: MAX_STREAMS as u64,
    })
}
