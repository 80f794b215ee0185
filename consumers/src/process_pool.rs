//! The `process` runtime: worker processes of a function's command, each with its own
//! Lambda Runtime API endpoint, so the pool always knows which invocation a worker holds.
//!
//! Workers start lazily, up to the function's concurrency, and are kept warm between
//! invocations. As in Lambda, the timeout counts from the moment a worker takes the
//! invocation, so a cold worker's start-up is not charged to it; the start-up has its own
//! limit ([`INIT_TIMEOUT`], Lambda's 10 s). A worker past either is killed (the invocation
//! fails as `Sandbox.Timedout`) and replaced on demand; a worker that exits while holding an
//! invocation fails it as `Runtime.ExitError` (or with the init error it reported). Worker
//! stdout and stderr are appended to the function's log file.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use eddy_shards::sync::Mutex;
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::handler::Outcome;
use crate::runtime_api::RuntimeApi;

/// How long a new worker may take to ask for its first invocation: Lambda's limit on a
/// function's initialization.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// How to run one function's workers.
#[derive(Clone, Debug)]
pub struct ProcessFunction {
    pub name: String,
    pub arn: String,
    /// argv: the program and its arguments.
    pub command: Vec<String>,
    pub workdir: PathBuf,
    /// The `_HANDLER` value, e.g. `app.handler`.
    pub handler: Option<String>,
    pub env: Vec<(String, String)>,
    /// How long one invocation may run, from the moment a worker takes it.
    pub timeout: Duration,
    /// How long a starting worker may take before it asks for its first invocation
    /// ([`INIT_TIMEOUT`] unless a test wants less).
    pub init_timeout: Duration,
    pub concurrency: usize,
    pub memory_mb: u32,
    pub region: String,
    pub log_path: PathBuf,
    /// The log is cut to its newest half-ish when it passes this size: its content moves
    /// to `<log>.1` (replacing the previous one) and the file is emptied, so a chatty
    /// function holds at most about twice this on disk.
    pub log_max_bytes: u64,
    /// Warm workers idle this long are stopped (Lambda reaps idle environments too).
    pub idle_timeout: Duration,
}

struct Worker {
    child: Child,
    api: RuntimeApi,
    idle_since: std::time::Instant,
}

pub struct ProcessPool {
    function: ProcessFunction,
    idle: Mutex<Vec<Worker>>,
    slots: Semaphore,
    shutdown: CancellationToken,
}

impl ProcessPool {
    /// A pool with no workers yet, and its idle reaper (stops with `shutdown`).
    pub fn start(function: ProcessFunction, shutdown: CancellationToken) -> std::sync::Arc<Self> {
        let slots = Semaphore::new(function.concurrency.max(1));
        let pool = std::sync::Arc::new(Self {
            function,
            idle: Mutex::new(Vec::new()),
            slots,
            shutdown,
        });
        // Task: worker-reaper, one per process function; a housekeeping timer, not a
        // delivery path.
        tokio::spawn(reap_idle(
            std::sync::Arc::downgrade(&pool),
            pool.shutdown.clone(),
        ));
        pool
    }

    /// The longest one invocation can take once it has a worker slot: a cold worker's
    /// start-up and then the function's timeout.
    pub fn longest_invocation(&self) -> Duration {
        self.function.init_timeout + self.function.timeout
    }

    /// Workers alive and idle right now.
    pub fn idle_workers(&self) -> usize {
        self.idle.lock().len()
    }

    /// Runs one invocation on a warm worker, or a new one when none is idle (waiting for a
    /// free slot when `concurrency` workers are busy).
    pub async fn invoke(&self, request_id: &str, payload: Bytes) -> Outcome {
        let Ok(_slot) = self.slots.acquire().await else {
            return Outcome::failed("Runtime.Unavailable", "the function is shutting down");
        };
        let mut worker = match self.take_idle() {
            Some(worker) => worker,
            None => match self.spawn().await {
                Ok(worker) => worker,
                Err(message) => return Outcome::failed("Runtime.StartError", message),
            },
        };
        let (init_timeout, timeout) = (self.function.init_timeout, self.function.timeout);
        let (outcome, keep) = tokio::select! {
            outcome = worker.api.invoke(request_id, payload, init_timeout, timeout) => {
                let timed_out = matches!(&outcome, Outcome::Failed(e) if e.error_type == "Sandbox.Timedout");
                (outcome, !timed_out)
            }
            status = worker.child.wait() => {
                let status = status.map(|s| s.to_string()).unwrap_or_else(|err| err.to_string());
                let outcome = match worker.api.init_error() {
                    Some(init) => Outcome::failed(&init.error_type, init.message),
                    None => Outcome::failed("Runtime.ExitError", format!("the worker process exited ({status}) before answering")),
                };
                (outcome, false)
            }
        };
        if keep {
            worker.idle_since = std::time::Instant::now();
            self.idle.lock().push(worker);
        } else {
            warn!(function = %self.function.name, "replacing a worker that timed out or exited");
            let _ = worker.child.start_kill();
            let _ = worker.child.wait().await;
        }
        outcome
    }

    /// An idle worker that is still alive.
    fn take_idle(&self) -> Option<Worker> {
        let mut idle = self.idle.lock();
        while let Some(mut worker) = idle.pop() {
            if matches!(worker.child.try_wait(), Ok(None)) {
                return Some(worker);
            }
        }
        None
    }

    async fn spawn(&self) -> Result<Worker, String> {
        let function = &self.function;
        cap_log(function).await;
        let (program, args) = function
            .command
            .split_first()
            .ok_or_else(|| format!("function `{}` has an empty command", function.name))?;
        let api = RuntimeApi::start(&function.arn, self.shutdown.child_token())
            .await
            .map_err(|err| format!("cannot start the runtime API: {err}"))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&function.log_path)
            .map_err(|err| {
                format!(
                    "cannot open the function log {}: {err}",
                    function.log_path.display()
                )
            })?;
        let log_err = log
            .try_clone()
            .map_err(|err| format!("cannot share the function log: {err}"))?;
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(&function.workdir)
            .env("AWS_LAMBDA_RUNTIME_API", api.endpoint())
            .env("AWS_LAMBDA_FUNCTION_NAME", &function.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                function.memory_mb.to_string(),
            )
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", function.name),
            )
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                format!("eddy/{}", std::process::id()),
            )
            .env("AWS_REGION", &function.region)
            .env("AWS_DEFAULT_REGION", &function.region)
            .env("LAMBDA_TASK_ROOT", &function.workdir)
            .env("LAMBDA_RUNTIME_DIR", &function.workdir)
            .envs(function.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .kill_on_drop(true);
        if let Some(handler) = &function.handler {
            command.env("_HANDLER", handler);
        }
        die_with_the_server(&mut command);
        let child = command.spawn().map_err(|err| {
            format!(
                "cannot start `{program}` for function `{}`: {err}",
                function.name
            )
        })?;
        info!(function = %function.name, pid = child.id(), "worker started");
        Ok(Worker {
            child,
            api,
            idle_since: std::time::Instant::now(),
        })
    }
}

/// Copy-truncate: workers append with `O_APPEND`, so they keep writing to the emptied
/// file. Lines written between the copy and the truncation are lost; the cap holds.
async fn cap_log(function: &ProcessFunction) {
    let (path, max_bytes) = (function.log_path.clone(), function.log_max_bytes);
    let rotated = tokio::task::spawn_blocking(move || -> std::io::Result<bool> {
        let len = match std::fs::metadata(&path) {
            Ok(meta) => meta.len(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(err) => return Err(err),
        };
        if len <= max_bytes {
            return Ok(false);
        }
        let mut old = path.clone().into_os_string();
        old.push(".1");
        std::fs::copy(&path, &old)?;
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)?
            .set_len(0)?;
        Ok(true)
    })
    .await;
    match rotated {
        Ok(Ok(true)) => info!(function = %function.name, "function log rotated"),
        Ok(Ok(false)) => {}
        Ok(Err(err)) => warn!(function = %function.name, %err, "cannot rotate the function log"),
        Err(err) => warn!(function = %function.name, %err, "function log rotation task failed"),
    }
}

/// Workers must not outlive a server killed with `kill -9` (nothing would reap them, and
/// an orphan could still finish an invocation the restarted server runs again).
#[cfg(target_os = "linux")]
fn die_with_the_server(command: &mut Command) {
    // The signal comes when the thread that forked exits; tokio's worker threads live as
    // long as the runtime, that is, as long as the server.
    // SAFETY: getpid(2) here, and in the child between fork and exec only prctl(2) and
    // getppid(2), which are async-signal-safe.
    unsafe {
        let server_pid = libc::getpid();
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The server may have died between fork and prctl (eddy may itself be pid 1).
            if libc::getppid() != server_pid {
                return Err(std::io::Error::other("the server exited"));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_the_server(_command: &mut Command) {}

async fn reap_idle(pool: std::sync::Weak<ProcessPool>, shutdown: CancellationToken) {
    loop {
        let Some(period) = pool
            .upgrade()
            .map(|p| (p.function.idle_timeout / 2).max(Duration::from_millis(100)))
        else {
            return;
        };
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = shutdown.cancelled() => return,
        }
        let Some(pool) = pool.upgrade() else { return };
        cap_log(&pool.function).await;
        let expired: Vec<Worker> = {
            let mut idle = pool.idle.lock();
            let (expired, warm): (Vec<Worker>, Vec<Worker>) = idle
                .drain(..)
                .partition(|w| w.idle_since.elapsed() >= pool.function.idle_timeout);
            *idle = warm;
            expired
        };
        for mut worker in expired {
            info!(function = %pool.function.name, pid = worker.child.id(), "stopping an idle worker");
            let _ = worker.child.start_kill();
            let _ = worker.child.wait().await;
        }
    }
}
