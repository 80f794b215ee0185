//! Request extractors whose rejections are Lambda errors (axum's own answer in plain
//! text, which botocore cannot parse into an error code).
//!
//! - [`RequestBody`]: the raw body; over the listener's limit it is
//!   `RequestTooLargeException` (413), unreadable `InvalidRequestContentException`.
//! - [`PathParam`]: one path parameter (a function name or ARN, a mapping UUID); one that
//!   does not decode is `InvalidParameterValueException`.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;

use super::error::LambdaError;

pub struct RequestBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RequestBody {
    type Rejection = LambdaError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(request, state)
            .await
            .map(RequestBody)
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    LambdaError::request_too_large(format!(
                        "the request body must be at most {} bytes",
                        crate::aws::MAX_BODY_BYTES
                    ))
                } else {
                    LambdaError::invalid_request_content(format!(
                        "cannot read the request body: {}",
                        rejection.body_text()
                    ))
                }
            })
    }
}

pub struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = LambdaError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| PathParam(value))
            .map_err(|rejection| {
                LambdaError::invalid_parameter(format!(
                    "the resource name in the path is not valid: {}",
                    rejection.body_text()
                ))
            })
    }
}
