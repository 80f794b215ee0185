//! `eddy function create|update|list|describe|delete|logs` and `eddy invoke`.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use eddy_proto::v1 as pb;
use serde_json::json;

use super::client::{connect, status_error};
use super::output::{millis_to_rfc3339, print_json, print_table};
use super::{FunctionCommand, FunctionOptions, InvokeArgs};

pub async fn run(endpoint: &str, json: bool, command: FunctionCommand) -> anyhow::Result<()> {
    let mut clients = connect(endpoint).await?;
    let functions = &mut clients.functions;
    match command {
        FunctionCommand::Create { name, options } => {
            let Some(command) = &options.command else {
                bail!("`--command` is required: the worker program and its arguments");
            };
            let workdir = match &options.workdir {
                Some(dir) => absolute(dir)?,
                None => std::env::current_dir().context("cannot read the current directory")?,
            };
            let request = pb::CreateFunctionRequest {
                name,
                command: split_command(command)?,
                workdir: workdir.display().to_string(),
                handler: options.handler.clone(),
                env: parse_env(&options.env)?,
                timeout_secs: options.timeout,
                memory_mb: options.memory,
                concurrency: options.concurrency,
                async_invoke: async_config(&options),
            };
            let function = functions
                .create_function(request)
                .await
                .map_err(status_error)?
                .into_inner();
            print_function(json, &function, "created");
        }
        FunctionCommand::Update { name, options } => {
            let request = pb::UpdateFunctionRequest {
                name,
                command: match &options.command {
                    Some(command) => split_command(command)?,
                    None => Vec::new(),
                },
                workdir: match &options.workdir {
                    Some(dir) => Some(absolute(dir)?.display().to_string()),
                    None => None,
                },
                handler: options.handler.clone(),
                env: if options.env.is_empty() {
                    None
                } else {
                    Some(pb::EnvVars {
                        vars: parse_env(&options.env)?,
                    })
                },
                timeout_secs: options.timeout,
                memory_mb: options.memory,
                concurrency: options.concurrency,
                async_invoke: async_config(&options),
            };
            let function = functions
                .update_function(request)
                .await
                .map_err(status_error)?
                .into_inner();
            print_function(json, &function, "updated");
        }
        FunctionCommand::List => {
            let list = functions
                .list_functions(pb::ListFunctionsRequest {})
                .await
                .map_err(status_error)?
                .into_inner()
                .functions;
            if json {
                list.iter().for_each(|f| print_json(&function_json(f)));
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|f| {
                        vec![
                            f.name.clone(),
                            f.runtime.clone(),
                            f.timeout_secs.to_string(),
                            f.concurrency.to_string(),
                            f.idle_workers.to_string(),
                            shlex::try_join(f.command.iter().map(String::as_str))
                                .unwrap_or_default(),
                        ]
                    })
                    .collect();
                print_table(
                    &[
                        "NAME",
                        "RUNTIME",
                        "TIMEOUT_S",
                        "CONCURRENCY",
                        "IDLE_WORKERS",
                        "COMMAND",
                    ],
                    &rows,
                );
            }
        }
        FunctionCommand::Describe { name } => {
            let function = functions
                .get_function(pb::GetFunctionRequest { name })
                .await
                .map_err(status_error)?
                .into_inner();
            print_function(json, &function, "");
        }
        FunctionCommand::Delete { name } => {
            functions
                .delete_function(pb::DeleteFunctionRequest { name: name.clone() })
                .await
                .map_err(status_error)?;
            if json {
                print_json(&json!({ "deleted": name }));
            } else {
                println!("deleted function {name}");
            }
        }
        FunctionCommand::Logs { name, bytes } => {
            let log = functions
                .get_function_logs(pb::GetFunctionLogsRequest {
                    name,
                    max_bytes: bytes,
                })
                .await
                .map_err(status_error)?
                .into_inner()
                .log;
            std::io::stdout().lock().write_all(&log)?;
        }
    }
    Ok(())
}

/// `eddy invoke`: prints the function's response; a function error goes to stderr and
/// the exit status is 1.
pub async fn invoke(endpoint: &str, json: bool, args: InvokeArgs) -> anyhow::Result<()> {
    let invocation_type = match args.invocation_type.as_str() {
        "request-response" => pb::InvocationType::RequestResponse,
        "event" => pb::InvocationType::Event,
        "dry-run" => pb::InvocationType::DryRun,
        other => bail!("`--type` must be request-response, event or dry-run, got `{other}`"),
    };
    let mut clients = connect(endpoint).await?;
    let response = clients
        .functions
        .invoke(pb::InvokeRequest {
            function_name: args.name,
            payload: args.payload.unwrap_or_default().into(),
            invocation_type: invocation_type as i32,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    if json {
        print_json(&json!({
            "request_id": response.request_id,
            "status_code": response.status_code,
            "function_error": response.function_error.as_ref().map(|e| json!({
                "error_type": e.error_type,
                "error_message": e.error_message,
            })),
            "payload": String::from_utf8_lossy(&response.payload),
        }));
    } else if !response.payload.is_empty() {
        let mut out = std::io::stdout().lock();
        out.write_all(&response.payload)?;
        out.write_all(b"\n")?;
    } else if response.status_code == 202 {
        println!("queued (request id {})", response.request_id);
    } else if response.status_code == 204 {
        println!("dry run passed: the function exists and the payload is valid");
    }
    if let Some(error) = response.function_error {
        bail!(
            "the function failed: {}: {}",
            error.error_type,
            error.error_message
        );
    }
    Ok(())
}

fn split_command(command: &str) -> anyhow::Result<Vec<String>> {
    let argv = shlex::split(command)
        .with_context(|| format!("`--command` has unbalanced quotes: {command:?}"))?;
    if argv.is_empty() {
        bail!("`--command` must name a program to run");
    }
    Ok(argv)
}

fn absolute(dir: &std::path::Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(dir).with_context(|| format!("bad `--workdir` {}", dir.display()))
}

fn parse_env(pairs: &[String]) -> anyhow::Result<HashMap<String, String>> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) => Ok((key.to_string(), value.to_string())),
            None => bail!("`--env` takes KEY=VALUE, got {pair:?}"),
        })
        .collect()
}

fn async_config(options: &FunctionOptions) -> Option<pb::AsyncInvokeConfig> {
    if options.async_retries.is_none()
        && options.max_event_age.is_none()
        && options.on_failure.is_none()
    {
        return None;
    }
    Some(pb::AsyncInvokeConfig {
        max_retry_attempts: options.async_retries,
        max_event_age_secs: options.max_event_age,
        on_failure_stream: options.on_failure.clone(),
    })
}

fn function_json(f: &pb::FunctionDescription) -> serde_json::Value {
    let async_invoke = f.async_invoke.clone().unwrap_or_default();
    json!({
        "name": f.name,
        "arn": f.arn,
        "runtime": f.runtime,
        "command": f.command,
        "workdir": f.workdir,
        "handler": f.handler,
        "env": f.env,
        "timeout_secs": f.timeout_secs,
        "memory_mb": f.memory_mb,
        "concurrency": f.concurrency,
        "async_max_retry_attempts": async_invoke.max_retry_attempts,
        "async_max_event_age_secs": async_invoke.max_event_age_secs,
        "async_on_failure_stream": async_invoke.on_failure_stream,
        "last_modified": millis_to_rfc3339(f.last_modified_millis),
        "idle_workers": f.idle_workers,
    })
}

fn print_function(json: bool, f: &pb::FunctionDescription, verb: &str) {
    if json {
        print_json(&function_json(f));
        return;
    }
    if !verb.is_empty() {
        println!("{verb} function {}", f.name);
    }
    let async_invoke = f.async_invoke.clone().unwrap_or_default();
    let mut env: Vec<String> = f.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    env.sort();
    let rows = [
        ("Name", f.name.clone()),
        ("Arn", f.arn.clone()),
        ("Runtime", f.runtime.clone()),
        (
            "Command",
            shlex::try_join(f.command.iter().map(String::as_str)).unwrap_or_default(),
        ),
        ("Workdir", f.workdir.clone()),
        ("Handler", f.handler.clone().unwrap_or_else(|| "-".into())),
        (
            "Env",
            if env.is_empty() {
                "-".into()
            } else {
                env.join(" ")
            },
        ),
        ("Timeout", format!("{} s", f.timeout_secs)),
        ("Memory", format!("{} MB", f.memory_mb)),
        ("Concurrency", f.concurrency.to_string()),
        ("IdleWorkers", f.idle_workers.to_string()),
        (
            "AsyncMaxRetryAttempts",
            async_invoke.max_retry_attempts.unwrap_or(2).to_string(),
        ),
        (
            "AsyncMaxEventAge",
            format!("{} s", async_invoke.max_event_age_secs.unwrap_or(21_600)),
        ),
        (
            "AsyncOnFailure",
            async_invoke.on_failure_stream.unwrap_or_else(|| "-".into()),
        ),
        ("LastModified", millis_to_rfc3339(f.last_modified_millis)),
    ];
    for (key, value) in rows {
        println!("{key:<22} {value}");
    }
}
