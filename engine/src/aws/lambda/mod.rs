//! The Lambda REST API: functions, invoke, event source mappings and event invoke
//! configs, under `/2015-03-31/` and `/2019-09-25/`, so boto3 and the AWS CLI work
//! unchanged against eddy.
//!
//! - [`functions`]: CreateFunction (a zip of a `python3.x` or `provided*` runtime, unpacked
//!   by [`code`]), Get/List/Delete, UpdateFunctionConfiguration, UpdateFunctionCode,
//!   shown as [`function_configuration`];
//! - [`invoke`]: Invoke (RequestResponse, Event, DryRun, log tail);
//! - [`event_source_mappings`]: Kinesis event source mappings;
//! - [`event_invoke_config`]: asynchronous invocation settings;
//! - [`zip_archive`]: the zip reader [`code`] unpacks with;
//! - [`arns`]: function names, ARNs and partial ARNs, and stream ARNs;
//! - [`extract`]: body and path extractors that reject with Lambda errors;
//! - [`error`]: Lambda's error types, mapped exhaustively from eddy's errors.
//!
//! # Invariants
//! - Handlers translate and delegate: limits are checked by `eddy-consumers` (the same
//!   checks as the gRPC API); messages name the field in Lambda's spelling.
//! - A rejected request writes nothing: code is unpacked into a fresh revision directory
//!   that is removed when the function is not created or updated.
//! - Only `$LATEST` exists: versions, aliases, layers, VPC, KMS, tracing, IAM and tags are
//!   accepted where botocore sends them and ignored (each module lists which).

pub mod arns;
pub mod code;
pub mod destination_config;
pub mod error;
pub mod event_invoke_config;
pub mod event_source_mappings;
pub mod extract;
pub mod function_configuration;
pub mod functions;
pub mod invoke;
pub mod zip_archive;

use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use axum::Router;

use self::error::LambdaError;
use super::AwsApi;

/// The path prefixes (API versions) of Lambda's REST operations, those eddy implements
/// and those it does not.
const LAMBDA_PATH_PREFIXES: &[&str] = &[
    "2014-11-13",
    "2015-03-31",
    "2016-08-19",
    "2017-03-31",
    "2017-10-31",
    "2018-10-31",
    "2019-09-25",
    "2019-09-30",
    "2020-04-22",
    "2020-06-30",
    "2021-07-20",
    "2021-10-31",
    "2021-11-15",
];

/// Lambda operations eddy does not implement (versions, aliases, layers, policies, tags,
/// concurrency, URLs...) get a Lambda-shaped error that names them, not an empty 404.
async fn not_implemented(method: Method, uri: Uri) -> LambdaError {
    LambdaError::not_implemented(format!(
        "eddy does not implement this Lambda operation ({method} {})",
        uri.path()
    ))
}

pub fn routes() -> Router<Arc<AwsApi>> {
    let functions_root = get(functions::list_functions).post(functions::create_function);
    let mappings_root =
        get(event_source_mappings::list_mappings).post(event_source_mappings::create_mapping);
    let mut router = Router::new();
    for prefix in LAMBDA_PATH_PREFIXES {
        router = router.route(&format!("/{prefix}/{{*rest}}"), any(not_implemented));
    }
    router
        .route("/2015-03-31/functions", functions_root.clone())
        .route("/2015-03-31/functions/", functions_root)
        .route(
            "/2015-03-31/functions/{name}",
            get(functions::get_function).delete(functions::delete_function),
        )
        .route(
            "/2015-03-31/functions/{name}/configuration",
            get(functions::get_function_configuration)
                .put(functions::update_function_configuration),
        )
        .route(
            "/2015-03-31/functions/{name}/code",
            put(functions::update_function_code),
        )
        .route(
            "/2015-03-31/functions/{name}/invocations",
            post(invoke::invoke),
        )
        .route("/2015-03-31/event-source-mappings", mappings_root.clone())
        .route("/2015-03-31/event-source-mappings/", mappings_root)
        .route(
            "/2015-03-31/event-source-mappings/{id}",
            get(event_source_mappings::get_mapping)
                .put(event_source_mappings::update_mapping)
                .delete(event_source_mappings::delete_mapping),
        )
        .route(
            "/2019-09-25/functions/{name}/event-invoke-config",
            get(event_invoke_config::get_config)
                .put(event_invoke_config::put_config)
                .post(event_invoke_config::update_config)
                .delete(event_invoke_config::delete_config),
        )
}

/// A JSON response, as Lambda sends them.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
