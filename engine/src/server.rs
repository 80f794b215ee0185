//! Starting and stopping a server: open the log, serve gRPC, run background loops, and on
//! shutdown stop accepting, give open connections a grace period to finish (then drop
//! them), let the writer drain and flush the WAL.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use eddy_proto::v1 as pb;
use eddy_shards::{Log, LogConfig};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;
use tracing::{info, warn};

use crate::aws::{self, AwsApi};
use crate::background::retention;
use crate::config::ServeConfig;
use crate::grpc::{
    self, functions::FunctionsService, mappings::MappingsService, records::RecordsService,
    streams::StreamsService,
};
use eddy_consumers::event_queue::{EventQueue, QueueSettings};
use eddy_consumers::functions::{FunctionSettings, Functions};
use eddy_consumers::invoke::Invoker;
use eddy_consumers::manager::MappingManager;

/// A running server. Drop it or call [`RunningServer::shutdown`] to stop it.
pub struct RunningServer {
    pub grpc_addr: SocketAddr,
    /// The Kinesis and Lambda HTTP APIs, when served.
    pub http_addr: Option<SocketAddr>,
    pub log: Arc<Log>,
    pub functions: Arc<Functions>,
    pub mappings: Arc<MappingManager>,
    pub invoker: Arc<Invoker>,
    shutdown: CancellationToken,
    shutdown_grace: Duration,
    grpc_task: Option<JoinHandle<anyhow::Result<()>>>,
    http_task: Option<JoinHandle<anyhow::Result<()>>>,
    background_tasks: Vec<JoinHandle<()>>,
}

/// Opens the log in `config.data_dir` and starts serving. Returns once the gRPC listener
/// is bound, so `grpc_addr` holds the real port when port 0 was asked for.
pub async fn start(config: ServeConfig) -> anyhow::Result<RunningServer> {
    start_with(config, |_| {}).await
}

/// Like [`start`], for programs that embed eddy: `register` registers native functions
/// before the persisted mappings start, so mappings to them resume at once.
pub async fn start_with(
    config: ServeConfig,
    register: impl FnOnce(&Functions),
) -> anyhow::Result<RunningServer> {
    let log_config = LogConfig {
        durability: config.durability,
        tail_max_bytes_per_shard: config.tail_max_bytes_per_shard,
        tail_max_bytes_total: config.tail_max_bytes_total,
        max_queued_bytes: config.max_queued_bytes,
        memtable_budget_bytes: config.memtable_budget_bytes,
        records_compression: config.records_compression,
        ..LogConfig::default()
    };
    let data_dir = config.data_dir.clone();
    let log = tokio::task::spawn_blocking(move || Log::open(&data_dir, log_config))
        .await?
        .with_context(|| format!("cannot open the log in {}", config.data_dir.display()))?;
    let log = Arc::new(log);
    let shutdown = CancellationToken::new();

    let functions = Arc::new(Functions::open(
        log.clone(),
        FunctionSettings {
            region: config.region.clone(),
            account: config.account_id.clone(),
            log_dir: config.data_dir.join("function-logs"),
            idle_timeout: std::time::Duration::from_secs(config.worker_idle_timeout_secs),
        },
        shutdown.child_token(),
    )?);
    register(&functions);
    let mappings = Arc::new(MappingManager::open(
        log.clone(),
        functions.clone(),
        shutdown.child_token(),
    )?);
    let queue = EventQueue::open(
        log.clone(),
        functions.clone(),
        QueueSettings {
            first_retry_delay: std::time::Duration::from_millis(config.async_retry_delay_millis),
            ..QueueSettings::default()
        },
        shutdown.child_token(),
    )?;
    let invoker = Arc::new(Invoker::new(functions.clone(), queue.clone()));

    let listener = TcpListener::bind(config.grpc_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.grpc_addr))?;
    let grpc_addr = listener.local_addr()?;

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<pb::streams_server::StreamsServer<StreamsService>>()
        .await;
    health_reporter
        .set_serving::<pb::records_server::RecordsServer<RecordsService>>()
        .await;
    health_reporter
        .set_serving::<pb::functions_server::FunctionsServer<FunctionsService>>()
        .await;
    health_reporter
        .set_serving::<pb::mappings_server::MappingsServer<MappingsService>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("cannot build the reflection service")?;
    let streams = pb::streams_server::StreamsServer::new(StreamsService::new(log.clone()))
        .max_decoding_message_size(grpc::MAX_DECODING_MESSAGE_BYTES)
        .max_encoding_message_size(grpc::MAX_ENCODING_MESSAGE_BYTES);
    let records = pb::records_server::RecordsServer::new(RecordsService::new(
        log.clone(),
        shutdown.child_token(),
    ))
    .max_decoding_message_size(grpc::MAX_DECODING_MESSAGE_BYTES)
    .max_encoding_message_size(grpc::MAX_ENCODING_MESSAGE_BYTES);
    let functions_service = pb::functions_server::FunctionsServer::new(FunctionsService::new(
        functions.clone(),
        invoker.clone(),
    ))
    .max_decoding_message_size(grpc::MAX_DECODING_MESSAGE_BYTES)
    .max_encoding_message_size(grpc::MAX_ENCODING_MESSAGE_BYTES);
    let mappings_service = pb::mappings_server::MappingsServer::new(MappingsService::new(
        mappings.clone(),
        functions.clone(),
    ));

    // Nagle's algorithm on accepted sockets plus delayed ACKs cost ~40 ms per response.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let grpc_shutdown = shutdown.child_token();
    let grpc_task = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .tcp_nodelay(true)
            .initial_stream_window_size(grpc::STREAM_WINDOW_BYTES)
            .initial_connection_window_size(grpc::CONNECTION_WINDOW_BYTES)
            .max_frame_size(grpc::MAX_FRAME_BYTES)
            .max_concurrent_streams(grpc::MAX_CONCURRENT_STREAMS)
            .add_service(health_service)
            .add_service(reflection)
            .add_service(streams)
            .add_service(records)
            .add_service(functions_service)
            .add_service(mappings_service)
            .serve_with_incoming_shutdown(incoming, grpc_shutdown.cancelled_owned())
            .await
            .context("grpc server failed")
    });
    let (http_addr, http_task) = match config.http_addr {
        Some(addr) => {
            let api = Arc::new(AwsApi {
                log: log.clone(),
                functions: functions.clone(),
                mappings: mappings.clone(),
                invoker: invoker.clone(),
                region: config.region.clone(),
                account_id: config.account_id.clone(),
                code_dir: config.data_dir.join("function-code"),
                lambda_python: config.lambda_python.clone(),
                credentials: config.aws_credentials.clone(),
            });
            let (bound, task) = aws::serve(addr, api, shutdown.child_token()).await?;
            (Some(bound), Some(task))
        }
        None => (None, None),
    };
    let retention_task = tokio::spawn(retention::run(
        log.clone(),
        std::time::Duration::from_secs(config.retention_check_interval_secs),
        shutdown.child_token(),
    ));
    // Task: invoke-queue, runs asynchronous invocations until shutdown.
    let queue_task = tokio::spawn(queue.clone().run());
    info!(
        %grpc_addr,
        ?http_addr,
        durability = ?config.durability,
        records_compression = ?config.records_compression,
        memtable_budget_bytes = config.memtable_budget_bytes,
        "eddy serving"
    );
    Ok(RunningServer {
        grpc_addr,
        http_addr,
        log,
        functions,
        mappings,
        invoker,
        shutdown,
        shutdown_grace: Duration::from_secs(config.shutdown_grace_secs),
        grpc_task: Some(grpc_task),
        http_task,
        background_tasks: vec![retention_task, queue_task],
    })
}

impl RunningServer {
    /// Stops accepting, finishes in-flight requests, lets pollers finish their batch and
    /// checkpoint, lets the writer drain and flushes the WAL to disk.
    ///
    /// Open connections get the configured grace period (`shutdown_grace_secs`) to
    /// finish; a connection still open then (a client that went silent mid-request, an
    /// idle HTTP/2 peer that never answers the GOAWAY, a bare TCP connect) is dropped, so
    /// the server always stops. Puts it was sending are either acknowledged already, and
    /// so durable, or were never acknowledged.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let deadline = tokio::time::Instant::now() + self.shutdown_grace;
        for task in self.background_tasks.drain(..) {
            let _ = task.await;
        }
        self.mappings.shutdown().await;
        if let Some(task) = self.grpc_task.take() {
            finish_by(task, deadline, "gRPC").await?;
        }
        if let Some(task) = self.http_task.take() {
            finish_by(task, deadline, "HTTP").await?;
        }
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || log.close()).await??;
        info!("eddy stopped");
        Ok(())
    }

    /// Resolves when the gRPC or the HTTP server stops on its own (it failed).
    pub async fn wait_failed(&mut self) -> anyhow::Result<()> {
        async fn ended(task: Option<&mut JoinHandle<anyhow::Result<()>>>) -> anyhow::Result<()> {
            match task {
                Some(task) => task.await?,
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            result = ended(self.grpc_task.as_mut()) => result,
            result = ended(self.http_task.as_mut()) => result,
        }
    }
}

/// Waits for a server task to finish its connections until `deadline`, then stops it.
async fn finish_by(
    mut task: JoinHandle<anyhow::Result<()>>,
    deadline: tokio::time::Instant,
    api: &str,
) -> anyhow::Result<()> {
    match tokio::time::timeout_at(deadline, &mut task).await {
        Ok(result) => result?,
        Err(_) => {
            warn!("{api} connections still open after the shutdown grace period; dropping them");
            task.abort();
            match task.await {
                Ok(result) => result,
                Err(err) if err.is_cancelled() => Ok(()),
                Err(err) => Err(err.into()),
            }
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
