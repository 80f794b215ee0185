//! The Kinesis Data Streams API: `POST /` with `X-Amz-Target: Kinesis_20131202.<Op>`, in
//! JSON 1.1 (blobs base64) or CBOR 1.1 (blobs raw, timestamps as tag 1 epoch millis).
//!
//! Operations: CreateStream, DeleteStream, DescribeStream, DescribeStreamSummary,
//! ListStreams, ListShards, PutRecord, PutRecords, GetShardIterator, GetRecords,
//! Increase/DecreaseStreamRetentionPeriod, AddTagsToStream, RemoveTagsFromStream,
//! ListTagsForStream, DescribeLimits. Every operation takes `StreamName` or `StreamARN`.
//! Anything else (resharding, enhanced fan-out consumers, SubscribeToShard, encryption)
//! answers UnknownOperationException naming the operation; eddy's gRPC
//! `SubscribeToShard` is the push-based read.

pub mod error;
pub mod protocol;
mod records;
mod streams;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

use self::error::{ErrorType, KinesisError};
use self::protocol::Protocol;
use super::AwsApi;

const TARGET_PREFIX: &str = "Kinesis_20131202.";
/// The largest Kinesis request: a 5 MiB PutRecords is about 7 MiB in base64 JSON.
const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

pub fn routes() -> Router<Arc<AwsApi>> {
    Router::new().route(
        "/",
        post(handle).layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES)),
    )
}

async fn handle(State(api): State<Arc<AwsApi>>, headers: HeaderMap, body: Bytes) -> Response {
    let protocol = Protocol::of(&headers);
    let target = headers
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    match dispatch(&api, protocol, target, &body).await {
        Ok(encoded) => ([("content-type", protocol.content_type())], encoded).into_response(),
        Err(err) => err.into_response(protocol),
    }
}

async fn dispatch(
    api: &AwsApi,
    protocol: Protocol,
    target: &str,
    body: &[u8],
) -> Result<Vec<u8>, KinesisError> {
    macro_rules! call {
        ($operation:path) => {
            $operation(api, protocol.decode(body)?)
                .await
                .map(|response| protocol.encode(&response))
        };
    }
    let Some(operation) = target.strip_prefix(TARGET_PREFIX) else {
        return Err(KinesisError::new(
            ErrorType::UnknownOperation,
            format!("`X-Amz-Target` must be {TARGET_PREFIX}<Operation>, got {target:?}"),
        ));
    };
    match operation {
        "CreateStream" => call!(streams::create_stream),
        "DeleteStream" => call!(streams::delete_stream),
        "DescribeStream" => call!(streams::describe_stream),
        "DescribeStreamSummary" => call!(streams::describe_stream_summary),
        "ListStreams" => call!(streams::list_streams),
        "ListShards" => call!(streams::list_shards),
        "IncreaseStreamRetentionPeriod" => call!(streams::increase_retention),
        "DecreaseStreamRetentionPeriod" => call!(streams::decrease_retention),
        "AddTagsToStream" => call!(streams::add_tags),
        "RemoveTagsFromStream" => call!(streams::remove_tags),
        "ListTagsForStream" => call!(streams::list_tags),
        "DescribeLimits" => call!(streams::describe_limits),
        "PutRecord" => call!(records::put_record),
        "PutRecords" => call!(records::put_records),
        "GetShardIterator" => call!(records::get_shard_iterator),
        "GetRecords" => call!(records::get_records),
        other => Err(KinesisError::new(
            ErrorType::UnknownOperation,
            format!("eddy does not implement the Kinesis operation {other:?}"),
        )),
    }
}

/// Reads an integer field that must lie in `min..=max` (a ValidationException otherwise).
pub fn bounded(
    field: &str,
    value: Option<i64>,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, KinesisError> {
    let value = value.unwrap_or(default);
    if !(min..=max).contains(&value) {
        return Err(KinesisError::validation(
            field,
            format!("must be between {min} and {max}, got {value}"),
        ));
    }
    Ok(value)
}

/// The stream a request names by `StreamName` or `StreamARN` (every stream operation
/// takes either). An ARN must be of this server's region and account.
pub fn resolve_stream(
    api: &AwsApi,
    stream_name: &Option<String>,
    stream_arn: &Option<String>,
) -> Result<String, KinesisError> {
    let from_arn = match stream_arn {
        None => None,
        Some(arn) => match api.stream_name_of_arn(arn) {
            Some(name) => Some(name.to_string()),
            None => {
                return Err(KinesisError::invalid_argument(
                    "StreamARN",
                    format!(
                        "{arn:?} is not a stream ARN of this server (expected {}<name>)",
                        api.stream_arn("")
                    ),
                ))
            }
        },
    };
    match (stream_name, from_arn) {
        (Some(name), Some(arn_name)) if *name != arn_name => Err(KinesisError::invalid_argument(
            "StreamARN",
            format!("names stream {arn_name:?} but StreamName is {name:?}"),
        )),
        (Some(name), _) => Ok(name.clone()),
        (None, Some(name)) => Ok(name),
        (None, None) => Err(KinesisError::validation(
            "StreamName",
            "or `StreamARN` is required",
        )),
    }
}
