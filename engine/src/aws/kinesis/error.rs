//! Kinesis errors as Kinesis returns them: `{"__type": "...", "message": "..."}` with
//! HTTP 400 (500 for InternalFailure), encoded in the request's protocol, and the
//! exhaustive mapping from eddy's errors to those types.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use eddy_shards::{
    AppendError, CreateStreamError, DeleteStreamError, InvalidArgument, NotFound, ReadError,
    StorageError, UpdateStreamError,
};
use serde::Serialize;

use super::protocol::Protocol;
use crate::shard_iterator::IteratorError;
use crate::shard_reads::ShardReadError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    ResourceNotFound,
    ResourceInUse,
    InvalidArgument,
    Validation,
    ExpiredIterator,
    ProvisionedThroughputExceeded,
    LimitExceeded,
    Serialization,
    UnknownOperation,
    MissingAuthenticationToken,
    IncompleteSignature,
    InvalidSignature,
    UnrecognizedClient,
    InternalFailure,
}

impl ErrorType {
    pub fn name(self) -> &'static str {
        match self {
            ErrorType::ResourceNotFound => "ResourceNotFoundException",
            ErrorType::ResourceInUse => "ResourceInUseException",
            ErrorType::InvalidArgument => "InvalidArgumentException",
            ErrorType::Validation => "ValidationException",
            ErrorType::ExpiredIterator => "ExpiredIteratorException",
            ErrorType::ProvisionedThroughputExceeded => "ProvisionedThroughputExceededException",
            ErrorType::LimitExceeded => "LimitExceededException",
            ErrorType::Serialization => "SerializationException",
            ErrorType::UnknownOperation => "UnknownOperationException",
            ErrorType::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            ErrorType::IncompleteSignature => "IncompleteSignatureException",
            ErrorType::InvalidSignature => "InvalidSignatureException",
            ErrorType::UnrecognizedClient => "UnrecognizedClientException",
            ErrorType::InternalFailure => "InternalFailure",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ErrorType::InternalFailure => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::MissingAuthenticationToken
            | ErrorType::IncompleteSignature
            | ErrorType::InvalidSignature
            | ErrorType::UnrecognizedClient => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KinesisError {
    pub error_type: ErrorType,
    pub message: String,
}

impl KinesisError {
    pub fn new(error_type: ErrorType, message: impl Into<String>) -> Self {
        Self {
            error_type,
            message: message.into(),
        }
    }

    pub fn validation(field: &str, message: impl std::fmt::Display) -> Self {
        Self::new(ErrorType::Validation, format!("`{field}` {message}"))
    }

    pub fn invalid_argument(field: &str, message: impl std::fmt::Display) -> Self {
        Self::new(ErrorType::InvalidArgument, format!("`{field}` {message}"))
    }

    pub fn into_response(self, protocol: Protocol) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            __type: &'a str,
            message: &'a str,
        }
        let body = protocol.encode(&Body {
            __type: self.error_type.name(),
            message: &self.message,
        });
        let mut response = (self.error_type.status(), body).into_response();
        let headers = response.headers_mut();
        headers.insert("content-type", protocol.content_type());
        headers.insert(
            "x-amzn-errortype",
            HeaderValue::from_static(self.error_type.name()),
        );
        response
    }
}

/// Shape errors (lengths, counts, sizes, names) are ValidationException in Kinesis;
/// semantic ones (hash keys, sequence numbers, retention, tags) InvalidArgumentException.
/// The field is renamed the way Kinesis spells it: `records[3].partition_key` becomes
/// `Records[3].PartitionKey`.
impl From<InvalidArgument> for KinesisError {
    fn from(err: InvalidArgument) -> Self {
        let field = err.field.rsplit('.').next().unwrap_or(&err.field);
        let shape = matches!(
            field,
            "partition_key" | "data" | "records" | "name" | "stream_name" | "shard_count" | "limit"
        );
        let error_type = if shape {
            ErrorType::Validation
        } else {
            ErrorType::InvalidArgument
        };
        let message = format!("`{}` {}", kinesis_field(&err.field), err.message);
        KinesisError::new(error_type, message)
    }
}

/// `records[3].partition_key` → `Records[3].PartitionKey`; eddy's `name` and
/// `retention_hours` are Kinesis's `StreamName` and `RetentionPeriodHours`.
fn kinesis_field(field: &str) -> String {
    field
        .split('.')
        .map(|segment| match segment {
            "name" => "StreamName".to_string(),
            "retention_hours" => "RetentionPeriodHours".to_string(),
            _ => {
                let mut out = String::with_capacity(segment.len());
                let mut upper = true;
                for c in segment.chars() {
                    if c == '_' {
                        upper = true;
                    } else if upper {
                        out.extend(c.to_uppercase());
                        upper = false;
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

impl From<NotFound> for KinesisError {
    fn from(err: NotFound) -> Self {
        KinesisError::new(ErrorType::ResourceNotFound, err.to_string())
    }
}

impl From<StorageError> for KinesisError {
    fn from(err: StorageError) -> Self {
        KinesisError::new(ErrorType::InternalFailure, err.to_string())
    }
}

fn shutting_down() -> KinesisError {
    KinesisError::new(ErrorType::InternalFailure, "the server is shutting down")
}

impl From<CreateStreamError> for KinesisError {
    fn from(err: CreateStreamError) -> Self {
        match err {
            CreateStreamError::InvalidArgument(err) => err.into(),
            CreateStreamError::AlreadyExists(_) => {
                KinesisError::new(ErrorType::ResourceInUse, err.to_string())
            }
            CreateStreamError::LimitExceeded(message) => {
                KinesisError::new(ErrorType::LimitExceeded, message)
            }
            CreateStreamError::Storage(err) => err.into(),
            CreateStreamError::ShuttingDown => shutting_down(),
        }
    }
}

impl From<DeleteStreamError> for KinesisError {
    fn from(err: DeleteStreamError) -> Self {
        match err {
            DeleteStreamError::NotFound(err) => err.into(),
            DeleteStreamError::Storage(err) => err.into(),
            DeleteStreamError::ShuttingDown => shutting_down(),
        }
    }
}

impl From<UpdateStreamError> for KinesisError {
    fn from(err: UpdateStreamError) -> Self {
        match err {
            UpdateStreamError::InvalidArgument(err) => err.into(),
            UpdateStreamError::NotFound(err) => err.into(),
            UpdateStreamError::Storage(err) => err.into(),
            UpdateStreamError::ShuttingDown => shutting_down(),
        }
    }
}

impl From<AppendError> for KinesisError {
    fn from(err: AppendError) -> Self {
        match err {
            AppendError::InvalidArgument(err) => err.into(),
            AppendError::NotFound(err) => err.into(),
            AppendError::Overloaded(message) => {
                KinesisError::new(ErrorType::ProvisionedThroughputExceeded, message)
            }
            AppendError::Storage(err) => err.into(),
            AppendError::ShuttingDown => shutting_down(),
        }
    }
}

impl From<ReadError> for KinesisError {
    fn from(err: ReadError) -> Self {
        match err {
            ReadError::InvalidArgument(err) => err.into(),
            ReadError::NotFound(err) => err.into(),
            ReadError::Storage(err) => err.into(),
        }
    }
}

impl From<IteratorError> for KinesisError {
    fn from(err: IteratorError) -> Self {
        let error_type = match err {
            IteratorError::Invalid => ErrorType::InvalidArgument,
            IteratorError::Expired { .. } => ErrorType::ExpiredIterator,
        };
        KinesisError::new(error_type, format!("`ShardIterator` {err}"))
    }
}

impl From<ShardReadError> for KinesisError {
    fn from(err: ShardReadError) -> Self {
        match err {
            ShardReadError::InvalidArgument(err) => err.into(),
            ShardReadError::Iterator(err) => err.into(),
            ShardReadError::NotFound(err) => err.into(),
            ShardReadError::IteratorStreamDeleted(_) => {
                KinesisError::new(ErrorType::ResourceNotFound, err.to_string())
            }
            ShardReadError::Read(err) => err.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_spelled_as_kinesis_spells_them() {
        assert_eq!(
            kinesis_field("records[3].partition_key"),
            "Records[3].PartitionKey"
        );
        assert_eq!(kinesis_field("name"), "StreamName");
        assert_eq!(kinesis_field("tag key"), "Tag key");
        let err: KinesisError = InvalidArgument::new("records[3].data", "is too big").into();
        assert_eq!(err.error_type, ErrorType::Validation);
        assert_eq!(err.message, "`Records[3].Data` is too big");
        let err: KinesisError = InvalidArgument::new("explicit_hash_key", "is too big").into();
        assert_eq!(err.error_type, ErrorType::InvalidArgument);
    }
}
