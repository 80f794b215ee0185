//! The functions the pollers and Invoke call, by name: process functions (persisted in
//! the log's documents, run by a [`ProcessPool`] each) and native handlers registered
//! through the library API (in memory only: their code lives in the embedding program).
//!
//! A mapping's handler for a process function looks the function up on every batch, so an
//! update (new command, environment, timeout) applies from the next batch on, and a
//! deleted function fails batches with `ResourceNotFoundException` instead of running
//! stale code.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eddy_shards::sync::RwLock;
use eddy_shards::{DocumentWrite, InvalidArgument, Log, StorageError};
use thiserror::Error;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::function_spec::{AsyncInvokeConfig, FunctionSpec, Runtime};
use crate::handler::{BoxFuture, NativeHandler, Outcome, RecordBatch};
use crate::process_pool::{ProcessFunction, ProcessPool, INIT_TIMEOUT};

const NAMESPACE: &str = "functions";
/// A function's log is rotated past 64 MiB (at most about twice that on disk).
const MAX_LOG_BYTES: u64 = 64 * 1024 * 1024;
/// How much longer than a process function's longest invocation (a cold start, then the
/// timeout) a poller waits for it: the pool itself kills the worker past either limit and
/// reports `Sandbox.Timedout`.
const PROCESS_TIMEOUT_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, Error)]
pub enum FunctionConfigError {
    #[error(transparent)]
    InvalidArgument(#[from] InvalidArgument),
    #[error("function `{0}` not found")]
    NotFound(String),
    #[error("function `{0}` already exists")]
    AlreadyExists(String),
    #[error("`async_invoke.on_failure_stream`: stream `{0}` not found")]
    DestinationNotFound(String),
    #[error("function `{0}` is a native function: it is defined by the program that embeds eddy")]
    Native(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Server-wide settings of the functions.
#[derive(Clone, Debug)]
pub struct FunctionSettings {
    pub region: String,
    pub account: String,
    /// Each function's worker output goes to `<log_dir>/<name>.log`.
    pub log_dir: PathBuf,
    /// Warm workers idle this long are stopped.
    pub idle_timeout: Duration,
}

impl FunctionSettings {
    /// Region `us-east-1`, account `000000000000`, idle workers kept 10 minutes.
    pub fn new(log_dir: PathBuf) -> Self {
        Self {
            region: "us-east-1".into(),
            account: "000000000000".into(),
            log_dir,
            idle_timeout: Duration::from_secs(600),
        }
    }
}

#[derive(Clone)]
enum Target {
    Native(Arc<dyn NativeHandler>),
    Process(Arc<ProcessPool>),
}

/// One function as it is now.
#[derive(Clone)]
pub struct Function {
    pub spec: FunctionSpec,
    pub arn: String,
    /// How long an invocation may run.
    timeout: Duration,
    target: Target,
}

impl Function {
    /// How long a poller waits for one batch.
    pub fn batch_timeout(&self) -> Duration {
        match &self.target {
            Target::Native(_) => self.timeout,
            Target::Process(pool) => pool.longest_invocation() + PROCESS_TIMEOUT_GRACE,
        }
    }

    /// Warm workers waiting for an invocation (always 0 for native functions).
    pub fn idle_workers(&self) -> usize {
        match &self.target {
            Target::Native(_) => 0,
            Target::Process(pool) => pool.idle_workers(),
        }
    }

    /// One direct invocation (the Invoke API) with a JSON payload. Failures are outcomes.
    pub async fn invoke(&self, request_id: &str, payload: Bytes) -> Outcome {
        match &self.target {
            Target::Process(pool) => pool.invoke(request_id, payload).await,
            Target::Native(handler) => {
                let handler = handler.clone();
                let timeout = self.timeout;
                // A task of its own, so a panicking handler is a failed invocation.
                let mut task = tokio::spawn(async move { handler.invoke(payload).await });
                match tokio::time::timeout(timeout, &mut task).await {
                    Ok(Ok(outcome)) => outcome,
                    Ok(Err(join_error)) => {
                        Outcome::failed("Runtime.HandlerPanicked", join_error.to_string())
                    }
                    Err(_) => {
                        task.abort();
                        Outcome::failed(
                            "Sandbox.Timedout",
                            format!("Task timed out after {:.2} seconds", timeout.as_secs_f64()),
                        )
                    }
                }
            }
        }
    }
}

#[derive(Default)]
struct Table {
    functions: HashMap<String, Function>,
}

/// Functions by name.
pub struct Functions {
    log: Arc<Log>,
    settings: FunctionSettings,
    table: Arc<RwLock<Table>>,
    /// Held across check → persist → publish by create, update and delete, so that two
    /// changes of one function cannot interleave.
    changes: eddy_shards::sync::Mutex<()>,
    shutdown: CancellationToken,
}

impl Functions {
    /// Loads the persisted process functions (their workers start on first use).
    pub fn open(
        log: Arc<Log>,
        settings: FunctionSettings,
        shutdown: CancellationToken,
    ) -> Result<Self, FunctionConfigError> {
        std::fs::create_dir_all(&settings.log_dir).map_err(|err| {
            StorageError::Io(format!(
                "cannot create the function log directory {}: {err}",
                settings.log_dir.display()
            ))
        })?;
        let functions = Self {
            log,
            settings,
            table: Arc::default(),
            changes: eddy_shards::sync::Mutex::new(()),
            shutdown,
        };
        for (name, bytes) in functions.log.list_documents(NAMESPACE)? {
            let spec: FunctionSpec = serde_json::from_slice(&bytes)
                .map_err(|err| StorageError::Corruption(format!("function {name}: {err}")))?;
            let function = functions.build(spec);
            functions.table.write().functions.insert(name, function);
        }
        Ok(functions)
    }

    pub fn settings(&self) -> &FunctionSettings {
        &self.settings
    }

    pub fn arn_of(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{}",
            self.settings.region, self.settings.account, name
        )
    }

    /// Where a function's worker output goes.
    pub fn log_path(&self, name: &str) -> PathBuf {
        self.settings.log_dir.join(format!("{name}.log"))
    }

    /// The last `max_bytes` of a function's log (empty when it has none yet). Blocking
    /// file i/o: call it on the blocking pool.
    pub fn read_log_tail(&self, name: &str, max_bytes: u64) -> std::io::Result<Vec<u8>> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = match std::fs::File::open(self.log_path(name)) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(err),
        };
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(max_bytes)))?;
        let mut tail = Vec::with_capacity(max_bytes.min(len) as usize);
        file.take(max_bytes).read_to_end(&mut tail)?;
        Ok(tail)
    }

    /// Registers (or replaces) an in-process handler under `name`. Not persisted.
    pub fn register_native(&self, name: &str, handler: Arc<dyn NativeHandler>, timeout: Duration) {
        self.register_native_with(name, handler, timeout, AsyncInvokeConfig::default());
    }

    /// [`Functions::register_native`] with asynchronous-invocation settings.
    pub fn register_native_with(
        &self,
        name: &str,
        handler: Arc<dyn NativeHandler>,
        timeout: Duration,
        async_invoke: AsyncInvokeConfig,
    ) {
        let mut spec = FunctionSpec::with_runtime(name, Runtime::Native);
        spec.async_invoke = async_invoke;
        // Whole seconds for display; `timeout` itself (tests use less than a second) is
        // what the pollers and Invoke wait.
        spec.timeout_secs = timeout.as_secs().clamp(1, u32::MAX.into()) as u32;
        spec.last_modified_millis = self.log.now_millis();
        let function = Function {
            arn: self.arn_of(name),
            spec,
            timeout,
            target: Target::Native(handler),
        };
        self.table
            .write()
            .functions
            .insert(name.to_string(), function);
    }

    /// Creates and persists a process function.
    pub fn create(&self, spec: FunctionSpec) -> Result<Function, FunctionConfigError> {
        if spec.is_native() {
            return Err(FunctionConfigError::Native(spec.name));
        }
        let _change = self.changes.lock();
        if self.get(&spec.name).is_some() {
            return Err(FunctionConfigError::AlreadyExists(spec.name));
        }
        let function = self.publish(spec)?;
        info!(function = %function.spec.name, "function created");
        Ok(function)
    }

    /// Changes a process function's configuration. Warm workers of the old configuration
    /// finish their invocation and stop; the next invocation starts new ones.
    pub fn update(
        &self,
        name: &str,
        change: impl FnOnce(&mut FunctionSpec),
    ) -> Result<Function, FunctionConfigError> {
        self.try_update(name, |spec| {
            change(spec);
            Ok(())
        })
    }

    /// [`Functions::update`] with a change that may refuse (it sees the current definition
    /// under the change lock, so two changes of one function cannot lose each other's
    /// fields). A refused change writes nothing.
    pub fn try_update<E: From<FunctionConfigError>>(
        &self,
        name: &str,
        change: impl FnOnce(&mut FunctionSpec) -> Result<(), E>,
    ) -> Result<Function, E> {
        let _change = self.changes.lock();
        let current = self
            .get(name)
            .ok_or_else(|| FunctionConfigError::NotFound(name.to_string()))?;
        if current.spec.is_native() {
            return Err(FunctionConfigError::Native(name.to_string()).into());
        }
        let mut spec = current.spec;
        change(&mut spec)?;
        if spec.name != name {
            return Err(FunctionConfigError::from(InvalidArgument::new(
                "name",
                "a function cannot be renamed",
            ))
            .into());
        }
        if spec.is_native() {
            return Err(FunctionConfigError::Native(name.to_string()).into());
        }
        let function = self.publish(spec)?;
        info!(function = %name, "function updated");
        Ok(function)
    }

    /// Checks a process function's definition (limits, and that its on-failure stream
    /// exists), persists it and makes it the current one. Called with `changes` held.
    fn publish(&self, mut spec: FunctionSpec) -> Result<Function, FunctionConfigError> {
        spec.validate()?;
        if let Some(stream) = &spec.async_invoke.on_failure_stream {
            if self.log.describe_stream(stream).is_err() {
                return Err(FunctionConfigError::DestinationNotFound(stream.clone()));
            }
        }
        spec.last_modified_millis = self.log.now_millis();
        self.persist(&spec)?;
        let function = self.build(spec);
        self.table
            .write()
            .functions
            .insert(function.spec.name.clone(), function.clone());
        Ok(function)
    }

    /// Forgets a function; its idle workers stop, busy ones finish their invocation.
    pub fn delete(&self, name: &str) -> Result<(), FunctionConfigError> {
        let _change = self.changes.lock();
        let function = self
            .get(name)
            .ok_or_else(|| FunctionConfigError::NotFound(name.to_string()))?;
        if !function.spec.is_native() {
            self.log.write_documents(
                &[DocumentWrite::Delete {
                    namespace: NAMESPACE,
                    key: name.to_string(),
                }],
                true,
            )?;
        }
        self.table.write().functions.remove(name);
        info!(function = %name, "function deleted");
        Ok(())
    }

    /// A function's concurrency, without cloning its definition.
    pub fn concurrency_of(&self, name: &str) -> Option<usize> {
        self.table
            .read()
            .functions
            .get(name)
            .map(|f| f.spec.concurrency as usize)
    }

    pub fn get(&self, name: &str) -> Option<Function> {
        self.table.read().functions.get(name).cloned()
    }

    /// Every function, by name.
    pub fn list(&self) -> Vec<Function> {
        let mut functions: Vec<Function> = self.table.read().functions.values().cloned().collect();
        functions.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        functions
    }

    /// What a mapping invokes for function `name`: the native handler itself (no lookup
    /// on the hot path), or for a process function a handler that finds the function's
    /// current pool on each batch.
    pub fn mapping_handler(&self, name: &str) -> Option<(Arc<dyn NativeHandler>, Duration)> {
        let function = self.get(name)?;
        let handler: Arc<dyn NativeHandler> = match &function.target {
            Target::Native(handler) => handler.clone(),
            Target::Process(_) => Arc::new(ProcessFunctionHandler {
                table: self.table.clone(),
                name: name.to_string(),
            }),
        };
        Some((handler, function.batch_timeout()))
    }

    fn persist(&self, spec: &FunctionSpec) -> Result<(), FunctionConfigError> {
        self.log.write_documents(
            &[DocumentWrite::Put {
                namespace: NAMESPACE,
                key: spec.name.clone(),
                value: serde_json::to_vec(spec).expect("function spec serialises"),
            }],
            true,
        )?;
        Ok(())
    }

    fn build(&self, spec: FunctionSpec) -> Function {
        let arn = self.arn_of(&spec.name);
        let target = match &spec.runtime {
            Runtime::Native => unreachable!("native functions are registered, not built"),
            Runtime::Process {
                command,
                workdir,
                handler,
            } => Target::Process(ProcessPool::start(
                ProcessFunction {
                    name: spec.name.clone(),
                    arn: arn.clone(),
                    command: command.clone(),
                    workdir: workdir.clone(),
                    handler: handler.clone(),
                    env: spec.env.clone().into_iter().collect(),
                    timeout: spec.timeout(),
                    init_timeout: INIT_TIMEOUT,
                    concurrency: spec.concurrency as usize,
                    memory_mb: spec.memory_mb,
                    region: self.settings.region.clone(),
                    log_path: self.log_path(&spec.name),
                    log_max_bytes: MAX_LOG_BYTES,
                    idle_timeout: self.settings.idle_timeout,
                },
                self.shutdown.child_token(),
            )),
        };
        Function {
            timeout: spec.timeout(),
            spec,
            arn,
            target,
        }
    }
}

/// A process function as a mapping target, resolved by name on every batch.
struct ProcessFunctionHandler {
    table: Arc<RwLock<Table>>,
    name: String,
}

impl NativeHandler for ProcessFunctionHandler {
    fn handle<'a>(&'a self, batch: &'a RecordBatch) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let pool = match self
                .table
                .read()
                .functions
                .get(&self.name)
                .map(|f| &f.target)
            {
                Some(Target::Process(pool)) => pool.clone(),
                _ => {
                    return Outcome::failed(
                        "ResourceNotFoundException",
                        format!("function `{}` was deleted", self.name),
                    )
                }
            };
            let event = crate::event::encode_kinesis_event(&batch.source, &batch.records);
            let request_id = crate::ids::new_uuid();
            pool.invoke(&request_id, Bytes::from(event)).await
        })
    }
}
