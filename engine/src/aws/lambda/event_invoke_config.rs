//! Event invoke configs (`/2019-09-25/functions/{FunctionName}/event-invoke-config`):
//! PutFunctionEventInvokeConfig (PUT, replaces), UpdateFunctionEventInvokeConfig (POST,
//! changes the fields given), GetFunctionEventInvokeConfig and
//! DeleteFunctionEventInvokeConfig. They are the function's [`AsyncInvokeConfig`]:
//! `MaximumRetryAttempts` 0–2, `MaximumEventAgeInSeconds` 60–21600, and an on-failure
//! Kinesis stream.
//!
//! A function has a config once one was put or updated; until then (and after delete) Get
//! answers ResourceNotFoundException and asynchronous invocations use Lambda's defaults.
//! A function defined through eddy's own API counts as configured when its settings
//! differ from the defaults.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use eddy_consumers::function_spec::{AsyncInvokeChange, AsyncInvokeConfig};
use eddy_consumers::functions::Function;
use serde::Deserialize;
use serde_json::{json, Value};

use super::arns::{check_qualifier, function_name};
use super::destination_config::DestinationConfig;
use super::error::{self, parse_body, LambdaError};
use super::extract::{PathParam, RequestBody};
use super::function_configuration::epoch_seconds;
use super::json_response;
use crate::aws::AwsApi;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct EventInvokeConfigRequest {
    maximum_retry_attempts: Option<u32>,
    maximum_event_age_in_seconds: Option<u32>,
    destination_config: Option<DestinationConfig>,
}

/// When the function's config was last set, or `None` when it has none.
fn configured_at_millis(function: &Function) -> Option<u64> {
    let spec = &function.spec;
    match &spec.lambda {
        Some(lambda) => lambda.event_invoke_config_modified_millis,
        None => {
            (spec.async_invoke != AsyncInvokeConfig::default()).then_some(spec.last_modified_millis)
        }
    }
}

fn render(api: &AwsApi, function: &Function, modified_millis: u64) -> Value {
    let config = &function.spec.async_invoke;
    json!({
        "LastModified": epoch_seconds(modified_millis),
        "FunctionArn": format!("{}:$LATEST", function.arn),
        "MaximumRetryAttempts": config.max_retries,
        "MaximumEventAgeInSeconds": config.max_event_age_secs,
        "DestinationConfig": {
            "OnSuccess": {},
            "OnFailure": config.on_failure_stream.as_ref().map_or_else(
                || json!({}),
                |stream| json!({"Destination": api.stream_arn(stream)}),
            ),
        },
    })
}

fn name_of(
    api: &AwsApi,
    raw: &str,
    query: &HashMap<String, String>,
) -> Result<String, LambdaError> {
    let name = function_name(api, raw)?;
    check_qualifier(&name, query.get("Qualifier").map(String::as_str))?;
    Ok(name)
}

fn not_configured(name: &str) -> LambdaError {
    LambdaError::not_found(format!("function `{name}` has no event invoke config"))
}

/// Sets the config: over the defaults (`replace`, PUT) or over the current one (POST).
fn set(
    api: &AwsApi,
    raw: &str,
    query: &HashMap<String, String>,
    body: &[u8],
    replace: bool,
) -> Result<Response, LambdaError> {
    let request: EventInvokeConfigRequest = parse_body(body)?;
    let name = name_of(api, raw, query)?;
    let on_failure_stream = match request.destination_config {
        Some(config) => config.on_failure_stream(api)?,
        None => None,
    };
    let change = AsyncInvokeChange {
        max_retries: request.maximum_retry_attempts,
        max_event_age_secs: request.maximum_event_age_in_seconds,
        on_failure_stream,
    };
    let now_millis = api.log.now_millis();
    let function = api
        .functions
        .update(&name, |spec| {
            let base = if replace {
                AsyncInvokeConfig::default()
            } else {
                spec.async_invoke.clone()
            };
            spec.async_invoke = base.merged(change);
            if let Some(lambda) = spec.lambda.as_mut() {
                lambda.event_invoke_config_modified_millis = Some(now_millis);
                lambda.revision_id = eddy_consumers::ids::new_uuid();
            }
        })
        .map_err(error::function_config)?;
    Ok(json_response(
        StatusCode::OK,
        &render(api, &function, now_millis),
    ))
}

pub async fn put_config(
    State(api): State<Arc<AwsApi>>,
    PathParam(raw): PathParam,
    Query(query): Query<HashMap<String, String>>,
    RequestBody(body): RequestBody,
) -> Result<Response, LambdaError> {
    set(&api, &raw, &query, &body, true)
}

pub async fn update_config(
    State(api): State<Arc<AwsApi>>,
    PathParam(raw): PathParam,
    Query(query): Query<HashMap<String, String>>,
    RequestBody(body): RequestBody,
) -> Result<Response, LambdaError> {
    set(&api, &raw, &query, &body, false)
}

pub async fn get_config(
    State(api): State<Arc<AwsApi>>,
    PathParam(raw): PathParam,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, LambdaError> {
    let name = name_of(&api, &raw, &query)?;
    let function = api
        .functions
        .get(&name)
        .ok_or_else(|| LambdaError::not_found(format!("function `{name}` not found")))?;
    let modified_millis = configured_at_millis(&function).ok_or_else(|| not_configured(&name))?;
    Ok(json_response(
        StatusCode::OK,
        &render(&api, &function, modified_millis),
    ))
}

pub async fn delete_config(
    State(api): State<Arc<AwsApi>>,
    PathParam(raw): PathParam,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, LambdaError> {
    let name = name_of(&api, &raw, &query)?;
    let function = api
        .functions
        .get(&name)
        .ok_or_else(|| LambdaError::not_found(format!("function `{name}` not found")))?;
    configured_at_millis(&function).ok_or_else(|| not_configured(&name))?;
    api.functions
        .update(&name, |spec| {
            spec.async_invoke = AsyncInvokeConfig::default();
            if let Some(lambda) = spec.lambda.as_mut() {
                lambda.event_invoke_config_modified_millis = None;
                lambda.revision_id = eddy_consumers::ids::new_uuid();
            }
        })
        .map_err(error::function_config)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
