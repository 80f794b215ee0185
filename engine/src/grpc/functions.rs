//! The `eddy.v1.Functions` gRPC service: process function definitions, their logs, and
//! Invoke.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use eddy_consumers::function_spec::{
    check_function_name, AsyncInvokeChange, FunctionSpec, Runtime, DEFAULT_CONCURRENCY,
};
use eddy_consumers::functions::{Function, Functions};
use eddy_consumers::handler::Outcome;
use eddy_consumers::invoke::{InvocationType, Invoker};
use eddy_proto::v1 as pb;
use eddy_shards::InvalidArgument;
use tonic::{Request, Response, Status};

use super::status;

/// `GetFunctionLogs` returns at most this much of a log's end.
const MAX_LOG_TAIL_BYTES: u32 = 1024 * 1024;
const DEFAULT_LOG_TAIL_BYTES: u32 = 64 * 1024;

pub struct FunctionsService {
    functions: Arc<Functions>,
    invoker: Arc<Invoker>,
}

impl FunctionsService {
    pub fn new(functions: Arc<Functions>, invoker: Arc<Invoker>) -> Self {
        Self { functions, invoker }
    }

    fn get(&self, name: &str) -> Result<Function, Status> {
        check_function_name("name", name).map_err(status::invalid_argument)?;
        self.functions
            .get(name)
            .ok_or_else(|| Status::not_found(format!("function `{name}` not found")))
    }
}

/// The asynchronous settings a request sets.
fn async_change(change: &pb::AsyncInvokeConfig) -> AsyncInvokeChange {
    AsyncInvokeChange {
        max_retries: change.max_retry_attempts,
        max_event_age_secs: change.max_event_age_secs,
        on_failure_stream: change.on_failure_stream.clone(),
    }
}

pub fn describe(function: &Function) -> pb::FunctionDescription {
    let spec = &function.spec;
    let (runtime, command, workdir, handler) = match &spec.runtime {
        Runtime::Process {
            command,
            workdir,
            handler,
        } => (
            "process",
            command.clone(),
            workdir.display().to_string(),
            handler.clone(),
        ),
        Runtime::Native => ("native", Vec::new(), String::new(), None),
    };
    pb::FunctionDescription {
        name: spec.name.clone(),
        arn: function.arn.clone(),
        runtime: runtime.into(),
        command,
        workdir,
        handler,
        env: spec.env.clone().into_iter().collect(),
        timeout_secs: spec.timeout_secs,
        memory_mb: spec.memory_mb,
        concurrency: spec.concurrency,
        async_invoke: Some(pb::AsyncInvokeConfig {
            max_retry_attempts: Some(spec.async_invoke.max_retries),
            max_event_age_secs: Some(spec.async_invoke.max_event_age_secs),
            on_failure_stream: spec.async_invoke.on_failure_stream.clone(),
        }),
        last_modified_millis: spec.last_modified_millis,
        idle_workers: function.idle_workers() as u32,
    }
}

#[tonic::async_trait]
impl pb::functions_server::Functions for FunctionsService {
    async fn create_function(
        &self,
        request: Request<pb::CreateFunctionRequest>,
    ) -> Result<Response<pb::FunctionDescription>, Status> {
        let request = request.into_inner();
        let mut spec = FunctionSpec::with_runtime(
            request.name,
            Runtime::Process {
                command: request.command,
                workdir: PathBuf::from(request.workdir),
                handler: request.handler.filter(|h| !h.is_empty()),
            },
        );
        spec.env = request.env.into_iter().collect::<BTreeMap<_, _>>();
        spec.timeout_secs = request.timeout_secs.unwrap_or(spec.timeout_secs);
        spec.memory_mb = request.memory_mb.unwrap_or(spec.memory_mb);
        spec.concurrency = request.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
        if let Some(change) = &request.async_invoke {
            spec.async_invoke = spec.async_invoke.merged(async_change(change));
        }
        let function = self
            .functions
            .create(spec)
            .map_err(status::function_config)?;
        Ok(Response::new(describe(&function)))
    }

    async fn update_function(
        &self,
        request: Request<pb::UpdateFunctionRequest>,
    ) -> Result<Response<pb::FunctionDescription>, Status> {
        let request = request.into_inner();
        self.get(&request.name)?;
        let function = self
            .functions
            .update(&request.name, |spec| {
                if let Runtime::Process {
                    command,
                    workdir,
                    handler,
                } = &mut spec.runtime
                {
                    if !request.command.is_empty() {
                        *command = request.command;
                    }
                    if let Some(dir) = request.workdir {
                        *workdir = PathBuf::from(dir);
                    }
                    if let Some(h) = request.handler {
                        *handler = Some(h).filter(|h| !h.is_empty());
                    }
                }
                if let Some(env) = request.env {
                    spec.env = env.vars.into_iter().collect();
                }
                spec.timeout_secs = request.timeout_secs.unwrap_or(spec.timeout_secs);
                spec.memory_mb = request.memory_mb.unwrap_or(spec.memory_mb);
                spec.concurrency = request.concurrency.unwrap_or(spec.concurrency);
                if let Some(change) = &request.async_invoke {
                    spec.async_invoke = spec.async_invoke.clone().merged(async_change(change));
                }
            })
            .map_err(status::function_config)?;
        Ok(Response::new(describe(&function)))
    }

    async fn delete_function(
        &self,
        request: Request<pb::DeleteFunctionRequest>,
    ) -> Result<Response<pb::DeleteFunctionResponse>, Status> {
        let name = request.into_inner().name;
        self.get(&name)?;
        self.functions
            .delete(&name)
            .map_err(status::function_config)?;
        Ok(Response::new(pb::DeleteFunctionResponse {}))
    }

    async fn list_functions(
        &self,
        _request: Request<pb::ListFunctionsRequest>,
    ) -> Result<Response<pb::ListFunctionsResponse>, Status> {
        let functions = self.functions.list().iter().map(describe).collect();
        Ok(Response::new(pb::ListFunctionsResponse { functions }))
    }

    async fn get_function(
        &self,
        request: Request<pb::GetFunctionRequest>,
    ) -> Result<Response<pb::FunctionDescription>, Status> {
        let function = self.get(&request.into_inner().name)?;
        Ok(Response::new(describe(&function)))
    }

    async fn get_function_logs(
        &self,
        request: Request<pb::GetFunctionLogsRequest>,
    ) -> Result<Response<pb::GetFunctionLogsResponse>, Status> {
        let request = request.into_inner();
        self.get(&request.name)?;
        let max_bytes = request.max_bytes.unwrap_or(DEFAULT_LOG_TAIL_BYTES);
        if max_bytes == 0 || max_bytes > MAX_LOG_TAIL_BYTES {
            return Err(status::invalid_argument(InvalidArgument::new(
                "max_bytes",
                format!("must be between 1 and {MAX_LOG_TAIL_BYTES}, got {max_bytes}"),
            )));
        }
        let functions = self.functions.clone();
        let log = tokio::task::spawn_blocking(move || {
            functions.read_log_tail(&request.name, max_bytes.into())
        })
        .await
        .map_err(|err| Status::internal(err.to_string()))?
        .map_err(|err| Status::internal(format!("cannot read the function log: {err}")))?;
        Ok(Response::new(pb::GetFunctionLogsResponse {
            log: log.into(),
        }))
    }

    async fn invoke(
        &self,
        request: Request<pb::InvokeRequest>,
    ) -> Result<Response<pb::InvokeResponse>, Status> {
        let request = request.into_inner();
        let invocation_type = match pb::InvocationType::try_from(request.invocation_type) {
            Ok(pb::InvocationType::RequestResponse) => InvocationType::RequestResponse,
            Ok(pb::InvocationType::Event) => InvocationType::Event,
            Ok(pb::InvocationType::DryRun) => InvocationType::DryRun,
            Err(_) => {
                return Err(status::invalid_argument(InvalidArgument::new(
                    "invocation_type",
                    format!(
                        "must be REQUEST_RESPONSE, EVENT or DRY_RUN, got {}",
                        request.invocation_type
                    ),
                )))
            }
        };
        let invoked = self
            .invoker
            .invoke(&request.function_name, request.payload, invocation_type)
            .await
            .map_err(status::invoke)?;
        let (status_code, payload, function_error) = match invoked.outcome {
            None if invocation_type == InvocationType::Event => (202, Bytes::new(), None),
            None => (204, Bytes::new(), None),
            Some(Outcome::Success(body)) => (200, body, None),
            Some(Outcome::Failed(error)) => {
                let body = serde_json::json!({
                    "errorMessage": error.message,
                    "errorType": error.error_type,
                });
                (
                    200,
                    Bytes::from(body.to_string()),
                    Some(pb::FunctionError {
                        error_type: error.error_type,
                        error_message: error.message,
                    }),
                )
            }
        };
        Ok(Response::new(pb::InvokeResponse {
            request_id: invoked.request_id,
            payload,
            function_error,
            status_code,
        }))
    }
}
