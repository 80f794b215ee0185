//! The AWS-compatible HTTP APIs: Kinesis Data Streams (`POST /` with `X-Amz-Target`, JSON
//! 1.1 or CBOR 1.1) and Lambda (REST under `/2015-03-31/` and `/2019-09-25/`), on one
//! listener, so boto3, the AWS CLI and other SDKs work unchanged against `endpoint_url`.
//!
//! # Invariants
//! - These handlers translate and delegate: every limit and every write goes through the
//!   same `eddy-shards` / `eddy-consumers` calls the gRPC services use, so the two APIs
//!   cannot disagree on what is valid or durable.
//! - Every error reaches the client as the error type and HTTP status AWS itself uses
//!   ([`kinesis::error`], [`lambda::error`]); no input panics a handler.
//! - Bodies are bounded before they are read ([`MAX_BODY_BYTES`]).

pub mod auth;
pub mod kinesis;
pub mod lambda;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::serve::ListenerExt;
use axum::Router;
use eddy_consumers::functions::Functions;
use eddy_consumers::invoke::Invoker;
use eddy_consumers::manager::MappingManager;
use eddy_shards::Log;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::AwsCredentials;

/// The largest request body read: a 50 MB function zip, base64 in JSON.
pub const MAX_BODY_BYTES: usize = 70 * 1024 * 1024;

/// What the HTTP handlers share.
pub struct AwsApi {
    pub log: Arc<Log>,
    pub functions: Arc<Functions>,
    pub mappings: Arc<MappingManager>,
    pub invoker: Arc<Invoker>,
    pub region: String,
    pub account_id: String,
    /// Where function code from `CreateFunction` / `UpdateFunctionCode` is unpacked.
    pub code_dir: PathBuf,
    /// The Python that runs `python3.x` functions (it has `awslambdaric`).
    pub lambda_python: PathBuf,
    pub credentials: Option<AwsCredentials>,
}

impl AwsApi {
    pub fn stream_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:kinesis:{}:{}:stream/{name}",
            self.region, self.account_id
        )
    }

    /// The stream a Kinesis stream ARN of this server's region and account names: the
    /// inverse of [`AwsApi::stream_arn`]. `None` for any other ARN (another region or
    /// account, a consumer ARN, another service).
    pub fn stream_name_of_arn<'a>(&self, arn: &'a str) -> Option<&'a str> {
        stream_name_of_arn(&self.region, &self.account_id, arn)
    }

    pub fn function_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            self.region, self.account_id
        )
    }
}

/// See [`AwsApi::stream_name_of_arn`].
pub fn stream_name_of_arn<'a>(region: &str, account_id: &str, arn: &'a str) -> Option<&'a str> {
    let name = arn
        .strip_prefix("arn:aws:kinesis:")?
        .strip_prefix(region)?
        .strip_prefix(':')?
        .strip_prefix(account_id)?
        .strip_prefix(":stream/")?;
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

pub fn router(api: Arc<AwsApi>) -> Router {
    Router::new()
        .merge(lambda::routes())
        .merge(kinesis::routes())
        .layer(axum::middleware::from_fn_with_state(
            api.clone(),
            auth::check_signature,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(api)
}

/// Binds `addr` and serves the HTTP APIs until `shutdown`. Returns the bound address (the
/// real port when port 0 was asked for) and the serving task.
pub async fn serve(
    addr: SocketAddr,
    api: Arc<AwsApi>,
    shutdown: CancellationToken,
) -> anyhow::Result<(SocketAddr, JoinHandle<anyhow::Result<()>>)> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (http_addr)"))?;
    let bound = listener.local_addr()?;
    // Nagle plus delayed ACKs would add ~40 ms to small responses.
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    let app = router(api);
    // Task: http-api, serves the Kinesis and Lambda APIs until shutdown.
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .context("http server failed")
    });
    Ok((bound, task))
}
