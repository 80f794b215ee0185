//! Invoke: `POST /2015-03-31/functions/{FunctionName}/invocations`.
//!
//! `X-Amz-Invocation-Type` `RequestResponse` (the default) answers 200 with the function's
//! result, `Event` 202 once the event is stored in the durable queue, `DryRun` 204. A
//! failed function answers 200 with `X-Amz-Function-Error: Unhandled` and the error
//! (`{"errorMessage","errorType"}`) as the body. `X-Amz-Log-Type: Tail` adds the last
//! 4 KB of the function's log, base64, in `X-Amz-Log-Result` (eddy's log is per function,
//! not per invocation: the tail may show other invocations' lines). `X-Amz-Client-Context`
//! is accepted and ignored.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine;
use eddy_consumers::handler::Outcome;
use eddy_consumers::invoke::InvocationType;

use super::arns::{check_qualifier, function_name};
use super::error::{self, LambdaError};
use super::extract::{PathParam, RequestBody};
use crate::aws::AwsApi;

/// How much of the function's log `X-Amz-Log-Type: Tail` returns, as Lambda.
const LOG_TAIL_BYTES: u64 = 4096;

fn invocation_type(headers: &HeaderMap) -> Result<InvocationType, LambdaError> {
    match headers
        .get("x-amz-invocation-type")
        .map(HeaderValue::to_str)
    {
        None => Ok(InvocationType::RequestResponse),
        Some(Ok("RequestResponse")) => Ok(InvocationType::RequestResponse),
        Some(Ok("Event")) => Ok(InvocationType::Event),
        Some(Ok("DryRun")) => Ok(InvocationType::DryRun),
        Some(other) => Err(LambdaError::invalid_parameter(format!(
            "`X-Amz-Invocation-Type` must be RequestResponse, Event or DryRun, got {:?}",
            other.unwrap_or("(not text)")
        ))),
    }
}

fn wants_log_tail(headers: &HeaderMap) -> Result<bool, LambdaError> {
    match headers.get("x-amz-log-type").map(HeaderValue::to_str) {
        None | Some(Ok("None")) => Ok(false),
        Some(Ok("Tail")) => Ok(true),
        Some(other) => Err(LambdaError::invalid_parameter(format!(
            "`X-Amz-Log-Type` must be None or Tail, got {:?}",
            other.unwrap_or("(not text)")
        ))),
    }
}

pub async fn invoke(
    State(api): State<Arc<AwsApi>>,
    PathParam(raw): PathParam,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    RequestBody(payload): RequestBody,
) -> Result<Response, LambdaError> {
    let name = function_name(&api, &raw)?;
    check_qualifier(&name, query.get("Qualifier").map(String::as_str))?;
    let invocation_type = invocation_type(&headers)?;
    let log_tail = wants_log_tail(&headers)? && invocation_type == InvocationType::RequestResponse;
    let invoked = api
        .invoker
        .invoke(&name, payload, invocation_type)
        .await
        .map_err(error::invoke)?;
    let (status, body, function_error) = match invoked.outcome {
        None if invocation_type == InvocationType::Event => {
            (StatusCode::ACCEPTED, Bytes::new(), false)
        }
        None => (StatusCode::NO_CONTENT, Bytes::new(), false),
        Some(Outcome::Success(body)) => (StatusCode::OK, body, false),
        Some(Outcome::Failed(error)) => {
            let body = serde_json::json!({
                "errorMessage": error.message,
                "errorType": error.error_type,
            });
            (StatusCode::OK, Bytes::from(body.to_string()), true)
        }
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let response_headers = response.headers_mut();
    response_headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(request_id) = HeaderValue::from_str(&invoked.request_id) {
        response_headers.insert("x-amzn-RequestId", request_id);
    }
    if status == StatusCode::OK {
        response_headers.insert(
            "X-Amz-Executed-Version",
            HeaderValue::from_static("$LATEST"),
        );
    }
    if function_error {
        response_headers.insert(
            "X-Amz-Function-Error",
            HeaderValue::from_static("Unhandled"),
        );
    }
    if log_tail {
        let functions = api.functions.clone();
        let tail =
            tokio::task::spawn_blocking(move || functions.read_log_tail(&name, LOG_TAIL_BYTES))
                .await
                .map_err(|err| LambdaError::service(err.to_string()))?
                .map_err(|err| {
                    LambdaError::service(format!("cannot read the function log: {err}"))
                })?;
        let encoded = base64::engine::general_purpose::STANDARD.encode(tail);
        if let Ok(value) = HeaderValue::from_str(&encoded) {
            response_headers.insert("X-Amz-Log-Result", value);
        }
    }
    Ok(response)
}
