//! CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions, DeleteFunction,
//! UpdateFunctionConfiguration and UpdateFunctionCode.
//!
//! Accepted and ignored (stored nowhere): `Publish` (the version stays `$LATEST`),
//! `VpcConfig`, `DeadLetterConfig`, `KMSKeyArn`, `TracingConfig`, `Layers`, `Tags`,
//! `FileSystemConfigs`, `ImageConfig`, `CodeSigningConfigArn`, `EphemeralStorage`,
//! `SnapStart`, `LoggingConfig`, `DryRun` of UpdateFunctionCode. `Role` is stored and
//! shown, not used. Code comes only as `ZipFile`: `S3Bucket`/`S3Key` and `ImageUri` are
//! refused, as is `PackageType: Image`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use eddy_consumers::function_spec::{FunctionSpec, Runtime};
use eddy_consumers::functions::Function;
use eddy_consumers::lambda_metadata::LambdaMetadata;
use serde::Deserialize;
use serde_json::json;

use super::arns::{check_qualifier, function_name};
use super::code::{self, UnpackedCode};
use super::error::{self, parse_body, LambdaError};
use super::extract::{PathParam, RequestBody};
use super::function_configuration::function_configuration;
use super::json_response;
use crate::aws::AwsApi;

/// ListFunctions answers at most this many per page unless `MaxItems` says fewer.
const DEFAULT_LIST_PAGE: usize = 50;
const MAX_LIST_PAGE: usize = 10_000;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct FunctionCode {
    zip_file: Option<String>,
    #[serde(rename = "S3Bucket")]
    s3_bucket: Option<String>,
    image_uri: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Environment {
    variables: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateFunctionRequest {
    function_name: String,
    runtime: Option<String>,
    role: Option<String>,
    handler: Option<String>,
    code: Option<FunctionCode>,
    description: Option<String>,
    timeout: Option<u32>,
    memory_size: Option<u32>,
    environment: Option<Environment>,
    package_type: Option<String>,
    architectures: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct UpdateConfigurationRequest {
    role: Option<String>,
    handler: Option<String>,
    description: Option<String>,
    timeout: Option<u32>,
    memory_size: Option<u32>,
    environment: Option<Environment>,
    runtime: Option<String>,
    revision_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct UpdateCodeRequest {
    zip_file: Option<String>,
    #[serde(rename = "S3Bucket")]
    s3_bucket: Option<String>,
    image_uri: Option<String>,
    architectures: Option<Vec<String>>,
    revision_id: Option<String>,
}

type Api = State<Arc<AwsApi>>;

fn function_dir(api: &AwsApi, name: &str) -> PathBuf {
    api.code_dir.join(name)
}

/// The function `raw` names, with the request's `Qualifier` checked.
fn lookup(
    api: &AwsApi,
    raw: &str,
    query: &HashMap<String, String>,
) -> Result<Function, LambdaError> {
    let name = function_name(api, raw)?;
    check_qualifier(&name, query.get("Qualifier").map(String::as_str))?;
    api.functions
        .get(&name)
        .ok_or_else(|| LambdaError::not_found(format!("function `{name}` not found")))
}

/// Refuses a change made against another revision than the current one (Lambda's
/// optimistic locking with `RevisionId`).
fn check_revision(spec: &FunctionSpec, expected: Option<&str>) -> Result<(), LambdaError> {
    let current = spec.lambda.as_ref().map(|l| l.revision_id.as_str());
    match expected {
        Some(expected) if Some(expected) != current => {
            Err(LambdaError::precondition_failed(format!(
                "`RevisionId` {expected} is not the function's current revision {}",
                current.unwrap_or("(none)")
            )))
        }
        _ => Ok(()),
    }
}

/// The zip of a request, or why it cannot be used.
fn zip_of(
    field: &str,
    zip_file: Option<String>,
    s3_bucket: Option<String>,
    image_uri: Option<String>,
) -> Result<Vec<u8>, LambdaError> {
    if s3_bucket.is_some() || image_uri.is_some() {
        return Err(LambdaError::invalid_parameter(format!(
            "code from S3 (`S3Bucket`) or a container image (`ImageUri`) is not supported by \
             eddy: send the zip itself in `{field}`"
        )));
    }
    let zip_file =
        zip_file.ok_or_else(|| LambdaError::invalid_parameter(format!("`{field}` is required")))?;
    code::decode_zip(field, &zip_file)
}

async fn unpack(api: &AwsApi, name: &str, zip: Vec<u8>) -> Result<UnpackedCode, LambdaError> {
    let dir = function_dir(api, name);
    tokio::task::spawn_blocking(move || code::unpack(&zip, &dir))
        .await
        .map_err(|err| LambdaError::service(format!("unpacking the code failed: {err}")))?
}

async fn remove_revision(dir: PathBuf, revision: String) {
    let _ = tokio::task::spawn_blocking(move || code::remove_revision(&dir, &revision)).await;
}

pub async fn create_function(
    State(api): Api,
    RequestBody(body): RequestBody,
) -> Result<Response, LambdaError> {
    let request: CreateFunctionRequest = parse_body(&body)?;
    let name = function_name(&api, &request.function_name)?;
    if let Some(package_type) = request.package_type.as_deref() {
        if package_type != "Zip" {
            return Err(LambdaError::invalid_parameter(format!(
                "`PackageType` {package_type:?} is not supported: eddy runs Zip packages only"
            )));
        }
    }
    let runtime = request
        .runtime
        .ok_or_else(|| LambdaError::invalid_parameter("`Runtime` is required"))?;
    code::runtime_kind(&runtime)?;
    let handler = request.handler.unwrap_or_default();
    let function_code = request.code.unwrap_or_default();
    let zip = zip_of(
        "Code.ZipFile",
        function_code.zip_file,
        function_code.s3_bucket,
        function_code.image_uri,
    )?;
    if api.functions.get(&name).is_some() {
        return Err(LambdaError::conflict(format!(
            "function `{name}` already exists"
        )));
    }
    let mut spec = FunctionSpec::with_runtime(
        name.clone(),
        Runtime::Process {
            command: Vec::new(),
            workdir: PathBuf::new(),
            handler: None,
        },
    );
    spec.timeout_secs = request.timeout.unwrap_or(spec.timeout_secs);
    spec.memory_mb = request.memory_size.unwrap_or(spec.memory_mb);
    spec.env = request
        .environment
        .and_then(|env| env.variables)
        .unwrap_or_default();
    let unpacked = unpack(&api, &name, zip).await?;
    let metadata = LambdaMetadata {
        runtime,
        handler,
        role: request.role.unwrap_or_default(),
        description: request.description.unwrap_or_default(),
        code_sha256: unpacked.sha256_base64.clone(),
        code_size_bytes: unpacked.zip_size_bytes,
        code_revision: unpacked.revision.clone(),
        revision_id: eddy_consumers::ids::new_uuid(),
        architectures: request
            .architectures
            .unwrap_or_else(|| vec!["x86_64".into()]),
        event_invoke_config_modified_millis: None,
    };
    let created = set_code(&api, &mut spec, metadata, &unpacked.dir)
        .and_then(|()| api.functions.create(spec).map_err(error::function_config));
    match created {
        Ok(function) => Ok(json_response(
            StatusCode::CREATED,
            &function_configuration(&function),
        )),
        Err(err) => {
            remove_revision(function_dir(&api, &name), unpacked.revision).await;
            Err(err)
        }
    }
}

/// Points `spec` at code in `dir` run by `metadata`'s runtime and handler.
fn set_code(
    api: &AwsApi,
    spec: &mut FunctionSpec,
    metadata: LambdaMetadata,
    dir: &FsPath,
) -> Result<(), LambdaError> {
    let command = code::worker_command(
        &metadata.runtime,
        &metadata.handler,
        dir,
        &api.lambda_python,
    )?;
    spec.runtime = Runtime::Process {
        command,
        workdir: dir.to_path_buf(),
        handler: Some(metadata.handler.clone()).filter(|h| !h.is_empty()),
    };
    spec.lambda = Some(metadata);
    Ok(())
}

pub async fn get_function(
    State(api): Api,
    PathParam(raw): PathParam,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, LambdaError> {
    let function = lookup(&api, &raw, &query)?;
    let location = match &function.spec.runtime {
        Runtime::Process { workdir, .. } => format!("file://{}", workdir.display()),
        Runtime::Native => String::new(),
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "Configuration": function_configuration(&function),
            "Code": {"RepositoryType": "S3", "Location": location},
            "Tags": {},
        }),
    ))
}

pub async fn get_function_configuration(
    State(api): Api,
    PathParam(raw): PathParam,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, LambdaError> {
    let function = lookup(&api, &raw, &query)?;
    Ok(json_response(
        StatusCode::OK,
        &function_configuration(&function),
    ))
}

/// The page size from `MaxItems` (1 to 10000).
pub fn max_items(query: &HashMap<String, String>, default: usize) -> Result<usize, LambdaError> {
    match query.get("MaxItems") {
        None => Ok(default),
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=MAX_LIST_PAGE).contains(&n) => Ok(n),
            _ => Err(LambdaError::invalid_parameter(format!(
                "`MaxItems` must be between 1 and {MAX_LIST_PAGE}, got {raw:?}"
            ))),
        },
    }
}

pub async fn list_functions(
    State(api): Api,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, LambdaError> {
    let page_size = max_items(&query, DEFAULT_LIST_PAGE)?;
    let marker = query.get("Marker").cloned().unwrap_or_default();
    let mut after_marker = api
        .functions
        .list()
        .into_iter()
        .filter(|f| marker.is_empty() || f.spec.name > marker);
    let page: Vec<Function> = after_marker.by_ref().take(page_size).collect();
    let mut body = json!({
        "Functions": page.iter().map(function_configuration).collect::<Vec<_>>(),
    });
    if after_marker.next().is_some() {
        if let Some(last) = page.last() {
            body["NextMarker"] = json!(last.spec.name);
        }
    }
    Ok(json_response(StatusCode::OK, &body))
}

pub async fn delete_function(
    State(api): Api,
    PathParam(raw): PathParam,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, LambdaError> {
    let function = lookup(&api, &raw, &query)?;
    let name = function.spec.name.clone();
    api.functions
        .delete(&name)
        .map_err(error::function_config)?;
    if function.spec.lambda.is_some() {
        let dir = function_dir(&api, &name);
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn update_function_configuration(
    State(api): Api,
    PathParam(raw): PathParam,
    RequestBody(body): RequestBody,
) -> Result<Response, LambdaError> {
    let request: UpdateConfigurationRequest = parse_body(&body)?;
    let name = lookup(&api, &raw, &HashMap::new())?.spec.name;
    let function = api.functions.try_update(&name, |spec| {
        check_revision(spec, request.revision_id.as_deref())?;
        match spec.lambda.clone() {
            Some(mut metadata) => {
                if let Some(runtime) = request.runtime {
                    metadata.runtime = runtime;
                }
                if let Some(handler) = request.handler {
                    metadata.handler = handler;
                }
                if let Some(role) = request.role {
                    metadata.role = role;
                }
                if let Some(description) = request.description {
                    metadata.description = description;
                }
                metadata.revision_id = eddy_consumers::ids::new_uuid();
                let workdir = workdir_of(spec);
                set_code(&api, spec, metadata, &workdir)?;
            }
            None if request.runtime.is_some()
                || request.handler.is_some()
                || request.role.is_some()
                || request.description.is_some() =>
            {
                return Err(LambdaError::invalid_parameter(format!(
                    "function `{name}` was defined through eddy's own API: only Timeout, \
                     MemorySize and Environment can change through the Lambda API"
                )));
            }
            None => {}
        }
        if let Some(timeout) = request.timeout {
            spec.timeout_secs = timeout;
        }
        if let Some(memory) = request.memory_size {
            spec.memory_mb = memory;
        }
        if let Some(environment) = request.environment {
            spec.env = environment.variables.unwrap_or_default();
        }
        Ok(())
    })?;
    Ok(json_response(
        StatusCode::OK,
        &function_configuration(&function),
    ))
}

fn workdir_of(spec: &FunctionSpec) -> PathBuf {
    match &spec.runtime {
        Runtime::Process { workdir, .. } => workdir.clone(),
        Runtime::Native => PathBuf::new(),
    }
}

pub async fn update_function_code(
    State(api): Api,
    PathParam(raw): PathParam,
    RequestBody(body): RequestBody,
) -> Result<Response, LambdaError> {
    let request: UpdateCodeRequest = parse_body(&body)?;
    let function = lookup(&api, &raw, &HashMap::new())?;
    let name = function.spec.name.clone();
    if function.spec.lambda.is_none() {
        return Err(LambdaError::invalid_parameter(format!(
            "function `{name}` was defined through eddy's own API (a command, not a zip): its \
             code cannot be replaced through the Lambda API"
        )));
    }
    check_revision(&function.spec, request.revision_id.as_deref())?;
    let zip = zip_of(
        "ZipFile",
        request.zip_file,
        request.s3_bucket,
        request.image_uri,
    )?;
    let unpacked = unpack(&api, &name, zip).await?;
    let mut previous_revision = String::new();
    let updated = api.functions.try_update(&name, |spec| {
        check_revision(spec, request.revision_id.as_deref())?;
        let Some(mut metadata) = spec.lambda.clone() else {
            return Err(LambdaError::conflict(format!(
                "function `{name}` was replaced while its code was unpacked"
            )));
        };
        previous_revision =
            std::mem::replace(&mut metadata.code_revision, unpacked.revision.clone());
        metadata.code_sha256 = unpacked.sha256_base64.clone();
        metadata.code_size_bytes = unpacked.zip_size_bytes;
        metadata.revision_id = eddy_consumers::ids::new_uuid();
        if let Some(architectures) = request.architectures {
            metadata.architectures = architectures;
        }
        set_code(&api, spec, metadata, &unpacked.dir)
    });
    let dir = function_dir(&api, &name);
    match updated {
        Ok(function) => {
            // Workers still running the previous revision finish from its directory; older
            // revisions go.
            let new_revision = unpacked.revision;
            let _ = tokio::task::spawn_blocking(move || {
                code::remove_revisions_except(&dir, &[&new_revision, &previous_revision])
            })
            .await;
            Ok(json_response(
                StatusCode::OK,
                &function_configuration(&function),
            ))
        }
        Err(err) => {
            remove_revision(dir, unpacked.revision).await;
            Err(err)
        }
    }
}
