//! Lambda's errors on the wire, and the exhaustive mapping from eddy's error enums to
//! them (as [`crate::grpc::status`] does for gRPC).
//!
//! Lambda answers an error with its HTTP status, the header `x-amzn-ErrorType: <Type>`
//! (which botocore reads) and the body `{"Type":"User","message":"..."}`:
//! - `InvalidParameterValueException` 400: every eddy validation error, naming the field
//!   (in Lambda's spelling) and the limit;
//! - `InvalidRequestContentException` 400: a body that is not JSON, or not of the shape;
//! - `ResourceNotFoundException` 404, `ResourceConflictException` 409,
//!   `PreconditionFailedException` 412 (a stale `RevisionId`);
//! - `RequestTooLargeException` 413, `TooManyRequestsException` 429 (eddy's throttling);
//! - `ServiceException` 500: storage failures;
//! - `UnsupportedOperationException` 501: a Lambda operation eddy does not implement.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use eddy_consumers::functions::FunctionConfigError;
use eddy_consumers::invoke::InvokeError;
use eddy_consumers::manager::MappingError;
use eddy_shards::{InvalidArgument, StorageError};

#[derive(Debug)]
pub struct LambdaError {
    pub status: StatusCode,
    pub error_type: &'static str,
    pub message: String,
}

impl LambdaError {
    fn new(status: StatusCode, error_type: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            error_type,
            message: message.into(),
        }
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            message,
        )
    }

    pub fn invalid_request_content(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            message,
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "ResourceNotFoundException", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "ResourceConflictException", message)
    }

    pub fn precondition_failed(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailedException",
            message,
        )
    }

    pub fn request_too_large(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLargeException",
            message,
        )
    }

    pub fn too_many_requests(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsException",
            message,
        )
    }

    /// An operation eddy does not implement: 501 (not retried by the SDKs).
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "UnsupportedOperationException",
            message,
        )
    }

    pub fn service(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            message,
        )
    }
}

impl IntoResponse for LambdaError {
    fn into_response(self) -> Response {
        let kind = if self.status.is_server_error() {
            "Service"
        } else {
            "User"
        };
        let body = serde_json::json!({"Type": kind, "message": self.message});
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            "x-amzn-ErrorType",
            HeaderValue::from_static(self.error_type),
        );
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// eddy's name of a request field → Lambda's, so messages name what the caller sent.
fn lambda_field(field: &str) -> &str {
    match field {
        "name" | "function_name" => "FunctionName",
        "timeout_secs" => "Timeout",
        "memory_mb" => "MemorySize",
        "env" => "Environment.Variables",
        "handler" => "Handler",
        "payload" => "Payload",
        "async_invoke.max_retry_attempts" | "max_retry_attempts" => "MaximumRetryAttempts",
        "async_invoke.max_event_age_secs" => "MaximumEventAgeInSeconds",
        "async_invoke.on_failure_stream" | "on_failure_stream" => {
            "DestinationConfig.OnFailure.Destination"
        }
        "stream_name" | "stream" => "EventSourceArn",
        "batch_size" => "BatchSize",
        "batching_window_secs" => "MaximumBatchingWindowInSeconds",
        "parallelization_factor" => "ParallelizationFactor",
        "max_record_age_secs" => "MaximumRecordAgeInSeconds",
        other => other,
    }
}

pub fn invalid_argument(err: InvalidArgument) -> LambdaError {
    LambdaError::invalid_parameter(format!("`{}` {}", lambda_field(&err.field), err.message))
}

pub fn storage(err: StorageError) -> LambdaError {
    match err {
        StorageError::Io(_) | StorageError::Corruption(_) => LambdaError::service(err.to_string()),
    }
}

pub fn function_config(err: FunctionConfigError) -> LambdaError {
    match err {
        FunctionConfigError::InvalidArgument(err) => invalid_argument(err),
        FunctionConfigError::NotFound(_) => LambdaError::not_found(err.to_string()),
        FunctionConfigError::AlreadyExists(_) => LambdaError::conflict(err.to_string()),
        FunctionConfigError::DestinationNotFound(stream) => LambdaError::invalid_parameter(
            format!("`DestinationConfig.OnFailure.Destination`: stream `{stream}` not found"),
        ),
        FunctionConfigError::Native(_) => LambdaError::conflict(err.to_string()),
        FunctionConfigError::Storage(err) => storage(err),
    }
}

impl From<FunctionConfigError> for LambdaError {
    fn from(err: FunctionConfigError) -> Self {
        function_config(err)
    }
}

pub fn invoke(err: InvokeError) -> LambdaError {
    match err {
        InvokeError::InvalidArgument(err) => invalid_argument(err),
        InvokeError::PayloadTooLarge(err) => {
            LambdaError::request_too_large(invalid_argument(err).message)
        }
        InvokeError::PayloadNotJson(err) => {
            LambdaError::invalid_request_content(invalid_argument(err).message)
        }
        InvokeError::FunctionNotFound(_) => LambdaError::not_found(err.to_string()),
        InvokeError::Throttled(message) => LambdaError::too_many_requests(message),
        InvokeError::Storage(err) => storage(err),
    }
}

pub fn mapping(err: MappingError) -> LambdaError {
    match err {
        MappingError::InvalidArgument(err) => invalid_argument(err),
        MappingError::NotFound(_) | MappingError::FunctionNotFound(_) => {
            LambdaError::not_found(err.to_string())
        }
        MappingError::StreamNotFound(_) => LambdaError::invalid_parameter(err.to_string()),
        MappingError::Storage(err) => storage(err),
    }
}

/// Parses a JSON request body; a body that is not JSON or not of the shape is
/// `InvalidRequestContentException`, as Lambda answers.
pub fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, LambdaError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|err| {
        LambdaError::invalid_request_content(format!(
            "could not parse the request body into JSON of the expected shape: {err}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_lambdas_type_status_and_field_names() {
        let err = function_config(FunctionConfigError::InvalidArgument(InvalidArgument::new(
            "timeout_secs",
            "must be between 1 and 900 seconds, got 0",
        )));
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(err.error_type, "InvalidParameterValueException");
        assert_eq!(
            err.message,
            "`Timeout` must be between 1 and 900 seconds, got 0"
        );
        let err = invoke(InvokeError::PayloadTooLarge(InvalidArgument::new(
            "payload", "x",
        )));
        assert_eq!(
            (err.status.as_u16(), err.error_type),
            (413, "RequestTooLargeException")
        );
        let err = mapping(MappingError::NotFound("u".into()));
        assert_eq!(
            (err.status.as_u16(), err.error_type),
            (404, "ResourceNotFoundException")
        );
        let err = parse_body::<serde_json::Value>(b"{nope").unwrap_err();
        assert_eq!(err.error_type, "InvalidRequestContentException");
    }
}
