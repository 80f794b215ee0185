//! What a function is, as a user defines it: its runtime (a worker command speaking the
//! Lambda Runtime API, or an in-process Rust handler), its limits (timeout, memory,
//! concurrency), environment, and its asynchronous-invocation settings. Validation names
//! the field and the limit, with Lambda's ranges.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use eddy_shards::InvalidArgument;
use serde::{Deserialize, Serialize};

use crate::lambda_metadata::LambdaMetadata;

/// Lambda's default timeout (3 s) and its maximum (15 min).
pub const DEFAULT_TIMEOUT_SECS: u32 = 3;
pub const MAX_TIMEOUT_SECS: u32 = 900;
/// Lambda's memory range; eddy passes it to workers as `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`
/// and does not enforce it.
pub const DEFAULT_MEMORY_MB: u32 = 128;
pub const MIN_MEMORY_MB: u32 = 128;
pub const MAX_MEMORY_MB: u32 = 10_240;
/// Workers per function at most. Each is an OS process (a Python worker is ~30 MB), so
/// the default stays small; Lambda's account default is 1000.
pub const DEFAULT_CONCURRENCY: u32 = 4;
pub const MAX_CONCURRENCY: u32 = 1000;
/// Lambda's limit on the environment: 4 KB of keys and values together.
pub const MAX_ENV_BYTES: usize = 4096;
/// Asynchronous invocation: retries 0–2 (default 2), event age 60 s – 6 h (default 6 h).
pub const DEFAULT_ASYNC_RETRIES: u32 = 2;
pub const MAX_ASYNC_RETRIES: u32 = 2;
pub const MIN_EVENT_AGE_SECS: u32 = 60;
pub const MAX_EVENT_AGE_SECS: u32 = 21_600;

/// Variables Lambda sets itself and refuses in a function's environment.
const RESERVED_ENV: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// How a function runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Runtime {
    /// Worker processes of `command` (argv), started in `workdir`, each served the
    /// Lambda Runtime API.
    Process {
        command: Vec<String>,
        workdir: PathBuf,
        /// The `_HANDLER` value, e.g. `app.handler`.
        handler: Option<String>,
    },
    /// An in-process Rust handler registered through the library API; not persisted.
    Native,
}

/// Settings of asynchronous (`Event`) invocations, Lambda's `EventInvokeConfig`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsyncInvokeConfig {
    pub max_retries: u32,
    pub max_event_age_secs: u32,
    /// An eddy stream that receives Lambda's invocation record of every event that
    /// exhausted its retries or its age.
    pub on_failure_stream: Option<String>,
}

/// A change of [`AsyncInvokeConfig`]: fields that are set replace the current ones; an
/// empty `on_failure_stream` removes the destination.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AsyncInvokeChange {
    pub max_retries: Option<u32>,
    pub max_event_age_secs: Option<u32>,
    pub on_failure_stream: Option<String>,
}

impl AsyncInvokeConfig {
    /// This configuration with `change` applied.
    pub fn merged(mut self, change: AsyncInvokeChange) -> Self {
        if let Some(retries) = change.max_retries {
            self.max_retries = retries;
        }
        if let Some(age) = change.max_event_age_secs {
            self.max_event_age_secs = age;
        }
        if let Some(stream) = change.on_failure_stream {
            self.on_failure_stream = Some(stream).filter(|s| !s.is_empty());
        }
        self
    }
}

impl Default for AsyncInvokeConfig {
    fn default() -> Self {
        Self {
            max_retries: DEFAULT_ASYNC_RETRIES,
            max_event_age_secs: MAX_EVENT_AGE_SECS,
            on_failure_stream: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionSpec {
    pub name: String,
    pub runtime: Runtime,
    pub timeout_secs: u32,
    pub memory_mb: u32,
    pub concurrency: u32,
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub async_invoke: AsyncInvokeConfig,
    /// Milliseconds since the Unix epoch of the last create or update.
    #[serde(default)]
    pub last_modified_millis: u64,
    /// What the Lambda API recorded (runtime name, handler, code digest...); `None` for
    /// functions defined through eddy's own API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda: Option<LambdaMetadata>,
}

impl FunctionSpec {
    /// A process function with Lambda's defaults.
    pub fn process(name: impl Into<String>, command: Vec<String>, workdir: PathBuf) -> Self {
        Self::with_runtime(
            name,
            Runtime::Process {
                command,
                workdir,
                handler: None,
            },
        )
    }

    pub fn with_runtime(name: impl Into<String>, runtime: Runtime) -> Self {
        Self {
            name: name.into(),
            runtime,
            timeout_secs: DEFAULT_TIMEOUT_SECS,
            memory_mb: DEFAULT_MEMORY_MB,
            concurrency: DEFAULT_CONCURRENCY,
            env: BTreeMap::new(),
            async_invoke: AsyncInvokeConfig::default(),
            last_modified_millis: 0,
            lambda: None,
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.into())
    }

    pub fn is_native(&self) -> bool {
        matches!(self.runtime, Runtime::Native)
    }

    /// Checks every field against Lambda's limits.
    pub fn validate(&self) -> Result<(), InvalidArgument> {
        check_function_name("name", &self.name)?;
        if let Runtime::Process {
            command,
            workdir,
            handler,
        } = &self.runtime
        {
            if command.first().is_none_or(|program| program.is_empty()) {
                return Err(InvalidArgument::new(
                    "command",
                    "must name a program to run",
                ));
            }
            if command.iter().any(|arg| arg.contains('\0')) {
                return Err(InvalidArgument::new(
                    "command",
                    "must not contain NUL bytes",
                ));
            }
            if !workdir.is_absolute() {
                return Err(InvalidArgument::new(
                    "workdir",
                    format!(
                        "must be an absolute path, got {:?}",
                        workdir.display().to_string()
                    ),
                ));
            }
            if !workdir.is_dir() {
                return Err(InvalidArgument::new(
                    "workdir",
                    format!("{} is not a directory on the server", workdir.display()),
                ));
            }
            if let Some(handler) = handler {
                if handler.is_empty() || handler.len() > 128 {
                    return Err(InvalidArgument::new(
                        "handler",
                        "must be 1 to 128 characters",
                    ));
                }
            }
        }
        check_range(
            "timeout_secs",
            self.timeout_secs,
            1,
            MAX_TIMEOUT_SECS,
            " seconds",
        )?;
        check_range(
            "memory_mb",
            self.memory_mb,
            MIN_MEMORY_MB,
            MAX_MEMORY_MB,
            " MB",
        )?;
        check_range("concurrency", self.concurrency, 1, MAX_CONCURRENCY, "")?;
        check_env(&self.env)?;
        if let Some(lambda) = &self.lambda {
            lambda.validate()?;
        }
        self.async_invoke.validate()
    }
}

impl AsyncInvokeConfig {
    pub fn validate(&self) -> Result<(), InvalidArgument> {
        check_range(
            "async_invoke.max_retry_attempts",
            self.max_retries,
            0,
            MAX_ASYNC_RETRIES,
            "",
        )?;
        check_range(
            "async_invoke.max_event_age_secs",
            self.max_event_age_secs,
            MIN_EVENT_AGE_SECS,
            MAX_EVENT_AGE_SECS,
            " seconds",
        )?;
        if let Some(stream) = &self.on_failure_stream {
            eddy_shards::limits::check_stream_name("async_invoke.on_failure_stream", stream)?;
        }
        Ok(())
    }
}

/// Lambda's function names: 1–64 of letters, digits, `-` and `_`.
pub fn check_function_name(field: &str, name: &str) -> Result<(), InvalidArgument> {
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if name.is_empty() || name.len() > 64 || !valid_chars {
        return Err(InvalidArgument::new(
            field,
            format!("must be 1 to 64 characters of [a-zA-Z0-9-_], got {name:?}"),
        ));
    }
    Ok(())
}

fn check_range(
    field: &str,
    value: u32,
    min: u32,
    max: u32,
    unit: &str,
) -> Result<(), InvalidArgument> {
    if !(min..=max).contains(&value) {
        return Err(InvalidArgument::new(
            field,
            format!("must be between {min} and {max}{unit}, got {value}"),
        ));
    }
    Ok(())
}

fn check_env(env: &BTreeMap<String, String>) -> Result<(), InvalidArgument> {
    let mut total_bytes = 0;
    for (key, value) in env {
        let valid_key = key.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid_key {
            return Err(InvalidArgument::new(
                "env",
                format!("key {key:?} must start with a letter and hold only [a-zA-Z0-9_]"),
            ));
        }
        if RESERVED_ENV.contains(&key.as_str()) {
            return Err(InvalidArgument::new(
                "env",
                format!("key {key} is reserved: eddy sets it for every worker"),
            ));
        }
        if value.contains('\0') {
            return Err(InvalidArgument::new(
                "env",
                format!("the value of {key} must not contain NUL bytes"),
            ));
        }
        total_bytes += key.len() + value.len();
    }
    if total_bytes > MAX_ENV_BYTES {
        return Err(InvalidArgument::new(
            "env",
            format!("keys and values must total at most {MAX_ENV_BYTES} bytes, got {total_bytes}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> FunctionSpec {
        FunctionSpec::process("f", vec!["python3".into()], std::env::temp_dir())
    }

    #[test]
    fn defaults_are_lambdas_and_valid() {
        let spec = spec();
        assert_eq!((spec.timeout_secs, spec.memory_mb), (3, 128));
        assert_eq!(spec.async_invoke.max_retries, 2);
        assert_eq!(spec.async_invoke.max_event_age_secs, 21_600);
        spec.validate().unwrap();
    }

    #[test]
    fn every_limit_is_checked_and_named() {
        type Change = Box<dyn Fn(&mut FunctionSpec)>;
        let cases: Vec<(Change, &str)> = vec![
            (
                Box::new(|s| s.name = "a b".into()),
                "`name` must be 1 to 64",
            ),
            (Box::new(|s| s.name = "x".repeat(65)), "`name`"),
            (
                Box::new(|s| s.timeout_secs = 0),
                "`timeout_secs` must be between 1 and 900 seconds, got 0",
            ),
            (Box::new(|s| s.timeout_secs = 901), "got 901"),
            (
                Box::new(|s| s.memory_mb = 127),
                "`memory_mb` must be between 128 and 10240 MB",
            ),
            (
                Box::new(|s| s.concurrency = 0),
                "`concurrency` must be between 1 and 1000",
            ),
            (
                Box::new(|s| s.async_invoke.max_retries = 3),
                "`async_invoke.max_retry_attempts` must be between 0 and 2",
            ),
            (
                Box::new(|s| s.async_invoke.max_event_age_secs = 59),
                "`async_invoke.max_event_age_secs` must be between 60 and 21600",
            ),
            (
                Box::new(|s| s.async_invoke.on_failure_stream = Some("no way".into())),
                "`async_invoke.on_failure_stream`",
            ),
            (
                Box::new(|s| {
                    s.env.insert("1X".into(), "v".into());
                }),
                "key \"1X\" must start with a letter",
            ),
            (
                Box::new(|s| {
                    s.env.insert("AWS_LAMBDA_RUNTIME_API".into(), "v".into());
                }),
                "reserved",
            ),
            (
                Box::new(|s| {
                    s.env.insert("BIG".into(), "v".repeat(5000));
                }),
                "at most 4096 bytes",
            ),
            (
                Box::new(|s| {
                    s.runtime = Runtime::Process {
                        command: vec![],
                        workdir: std::env::temp_dir(),
                        handler: None,
                    }
                }),
                "`command`",
            ),
            (
                Box::new(|s| {
                    s.runtime = Runtime::Process {
                        command: vec!["x".into()],
                        workdir: "rel".into(),
                        handler: None,
                    }
                }),
                "`workdir` must be an absolute path",
            ),
            (
                Box::new(|s| {
                    s.runtime = Runtime::Process {
                        command: vec!["x".into()],
                        workdir: "/no/such/dir".into(),
                        handler: None,
                    }
                }),
                "not a directory",
            ),
        ];
        for (change, fragment) in cases {
            let mut bad = spec();
            change(&mut bad);
            let err = bad.validate().unwrap_err().to_string();
            assert!(err.contains(fragment), "{err} lacks {fragment}");
        }
    }
}
