//! The AWS Lambda Runtime API that a function's worker processes talk to
//! (`AWS_LAMBDA_RUNTIME_API`), so that real runtime interface clients (Python's
//! `awslambdaric`, Rust's `lambda_runtime`, …) run unchanged.
//!
//! - `GET /2018-06-01/runtime/invocation/next` blocks until an invocation is queued and
//!   answers with its payload and the `Lambda-Runtime-*` headers (the deadline in epoch
//!   milliseconds). The function's timeout runs from this hand-off, as in Lambda: a
//!   worker's start-up (its init) is not counted against it, but bounded on its own.
//! - `POST …/invocation/{id}/response` and `…/{id}/error` complete that invocation; both
//!   answer 202 with a `Content-Length` (clients keep the connection alive and wait for it).
//! - `POST /2018-06-01/runtime/init/error` records why the function could not start.
//!
//! One server per function, on 127.0.0.1 and an ephemeral port. Worker processes and their
//! lifecycle are the pool's business; this module only moves invocations.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eddy_shards::sync::Mutex;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::handler::{FunctionError, Outcome};

const PREFIX: &str = "/2018-06-01/runtime";
/// Invocations queued for workers before `invoke` waits for room.
const QUEUE_INVOCATIONS: usize = 64;
/// Largest response or error body a worker may post: 6 MB, Lambda's synchronous limit.
const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

struct Pending {
    request_id: String,
    payload: Bytes,
    /// The function's timeout; the deadline is set when a worker takes the invocation.
    timeout: Duration,
    /// Told when a worker takes the invocation; dropped by a caller that gave up.
    taken: oneshot::Sender<tokio::time::Instant>,
}

struct Shared {
    function_arn: String,
    queue_rx: tokio::sync::Mutex<mpsc::Receiver<Pending>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<FunctionError>>,
}

/// A running Runtime API endpoint for one function.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    queue_tx: mpsc::Sender<Pending>,
    shutdown: CancellationToken,
}

impl RuntimeApi {
    /// Binds 127.0.0.1:0 and serves until `shutdown` fires.
    pub async fn start(
        function_arn: &str,
        shutdown: CancellationToken,
    ) -> std::io::Result<RuntimeApi> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (queue_tx, queue_rx) = mpsc::channel(QUEUE_INVOCATIONS);
        let shared = Arc::new(Shared {
            function_arn: function_arn.to_string(),
            queue_rx: tokio::sync::Mutex::new(queue_rx),
            in_flight: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
        });
        // Task: runtime-api accept loop, one per function, until shutdown.
        tokio::spawn(accept_loop(listener, shared.clone(), shutdown.clone()));
        Ok(RuntimeApi {
            addr,
            shared,
            queue_tx,
            shutdown,
        })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API` for workers.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// What a worker reported through `/runtime/init/error`, if anything.
    pub fn init_error(&self) -> Option<FunctionError> {
        self.shared.init_error.lock().clone()
    }

    /// Queues one invocation for the next worker and waits for its outcome. The worker
    /// must take it within `init_timeout` (a cold worker is still starting: importing the
    /// handler, connecting), and answer within `timeout` of taking it. Either limit passed
    /// is a `Sandbox.Timedout` failure; killing the worker is the pool's job.
    pub async fn invoke(
        &self,
        request_id: &str,
        payload: Bytes,
        init_timeout: Duration,
        timeout: Duration,
    ) -> Outcome {
        let (reply_tx, reply_rx) = oneshot::channel();
        let (taken_tx, taken_rx) = oneshot::channel();
        self.shared
            .in_flight
            .lock()
            .insert(request_id.to_string(), reply_tx);
        let pending = Pending {
            request_id: request_id.to_string(),
            payload,
            timeout,
            taken: taken_tx,
        };
        let unavailable = || Outcome::failed("Runtime.Unavailable", "the runtime API is shut down");
        if self.queue_tx.send(pending).await.is_err() {
            self.shared.in_flight.lock().remove(request_id);
            return unavailable();
        }
        let taken_at = match tokio::time::timeout(init_timeout, taken_rx).await {
            Ok(Ok(taken_at)) => taken_at,
            Ok(Err(_)) => {
                self.shared.in_flight.lock().remove(request_id);
                return unavailable();
            }
            Err(_) => {
                self.shared.in_flight.lock().remove(request_id);
                return Outcome::failed(
                    "Sandbox.Timedout",
                    format!(
                        "the worker did not ask for the invocation within {:.2} seconds \
                         (its initialization did not finish)",
                        init_timeout.as_secs_f64()
                    ),
                );
            }
        };
        match tokio::time::timeout_at(taken_at + timeout, reply_rx).await {
            Ok(outcome) => outcome.unwrap_or_else(|_| unavailable()),
            Err(_) => {
                self.shared.in_flight.lock().remove(request_id);
                Outcome::failed(
                    "Sandbox.Timedout",
                    format!("Task timed out after {:.2} seconds", timeout.as_secs_f64()),
                )
            }
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn epoch_millis() -> u64 {
    eddy_shards::Clock::now_millis(&eddy_shards::SystemClock)
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, shutdown: CancellationToken) {
    loop {
        let (socket, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    debug!(%err, "runtime api accept failed");
                    continue;
                }
            },
            _ = shutdown.cancelled() => return,
        };
        let _ = socket.set_nodelay(true);
        let (shared, shutdown) = (shared.clone(), shutdown.clone());
        // Task: runtime-api connection, one per worker connection.
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request| handle(shared.clone(), request));
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(socket), service);
            tokio::select! {
                _ = connection => {}
                _ = shutdown.cancelled() => {}
            }
        });
    }
}

fn reply(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("static response is valid")
}

async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_string();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return Ok(reply(
            StatusCode::NOT_FOUND,
            r#"{"errorMessage":"unknown path","errorType":"NotFound"}"#,
        ));
    };
    match (request.method().clone(), rest) {
        (Method::GET, "/invocation/next") => Ok(next(&shared).await),
        (Method::POST, "/init/error") => {
            let error = read_error(request).await;
            *shared.init_error.lock() = Some(error);
            Ok(reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#))
        }
        (Method::POST, rest) if rest.starts_with("/invocation/") => {
            let tail = &rest["/invocation/".len()..];
            let (request_id, kind) = match tail.rsplit_once('/') {
                Some((id, kind)) => (id.to_string(), kind.to_string()),
                None => {
                    return Ok(reply(
                        StatusCode::NOT_FOUND,
                        r#"{"errorMessage":"unknown path","errorType":"NotFound"}"#,
                    ))
                }
            };
            let outcome = match kind.as_str() {
                "response" => match read_body(request).await {
                    Ok(body) => Outcome::Success(body),
                    Err(message) => Outcome::failed("Runtime.ResponseTooLarge", message),
                },
                "error" => Outcome::Failed(read_error(request).await),
                _ => {
                    return Ok(reply(
                        StatusCode::NOT_FOUND,
                        r#"{"errorMessage":"unknown path","errorType":"NotFound"}"#,
                    ))
                }
            };
            match shared.in_flight.lock().remove(&request_id) {
                Some(reply_tx) => {
                    let _ = reply_tx.send(outcome);
                    Ok(reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#))
                }
                None => Ok(reply(
                    StatusCode::BAD_REQUEST,
                    r#"{"errorMessage":"unknown or finished request id","errorType":"InvalidRequestID"}"#,
                )),
            }
        }
        _ => Ok(reply(
            StatusCode::NOT_FOUND,
            r#"{"errorMessage":"unknown path","errorType":"NotFound"}"#,
        )),
    }
}

/// Blocks until an invocation is queued, then hands it to this worker.
async fn next(shared: &Shared) -> Response<Full<Bytes>> {
    loop {
        let pending = shared.queue_rx.lock().await.recv().await;
        let Some(pending) = pending else {
            return reply(
                StatusCode::GONE,
                r#"{"errorMessage":"shutting down","errorType":"ShuttingDown"}"#,
            );
        };
        // Skip invocations whose caller already gave up (timed out while queued); the
        // timeout starts now, at the hand-off.
        let taken_at = tokio::time::Instant::now();
        let deadline_millis = epoch_millis() + pending.timeout.as_millis() as u64;
        if !shared.in_flight.lock().contains_key(&pending.request_id)
            || pending.taken.send(taken_at).is_err()
        {
            continue;
        }
        return Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .header("Lambda-Runtime-Aws-Request-Id", &pending.request_id)
            .header("Lambda-Runtime-Deadline-Ms", deadline_millis.to_string())
            .header("Lambda-Runtime-Invoked-Function-Arn", &shared.function_arn)
            .header(
                "Lambda-Runtime-Trace-Id",
                format!(
                    "Root=1-{:08x}-{}",
                    epoch_millis() / 1000,
                    pending.request_id.replace('-', "").get(..24).unwrap_or("0")
                ),
            )
            .body(Full::new(pending.payload))
            .expect("valid response");
    }
}

async fn read_body(request: Request<Incoming>) -> Result<Bytes, String> {
    let limited = http_body_util::Limited::new(request.into_body(), MAX_BODY_BYTES);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) => Err(format!(
            "the response body could not be read or exceeds {MAX_BODY_BYTES} bytes: {err}"
        )),
    }
}

/// Reads `{"errorMessage","errorType"}` (and the error-type header) from an error post.
async fn read_error(request: Request<Incoming>) -> FunctionError {
    let header_type = request
        .headers()
        .get("Lambda-Runtime-Function-Error-Type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = read_body(request).await.unwrap_or_default();
    let parsed: serde_json::Value =
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    FunctionError {
        error_type: parsed["errorType"]
            .as_str()
            .map(str::to_string)
            .or(header_type)
            .unwrap_or_else(|| "Unhandled".to_string()),
        message: parsed["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    }
}
