//! Starting and stopping a server: open the log, serve gRPC, run background loops, and on
//! shutdown stop accepting, let the writer drain and flush the WAL.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use eddy_proto::v1 as pb;
use eddy_shards::{Log, LogConfig};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;
use tracing::info;

use crate::background::retention;
use crate::config::ServeConfig;
use crate::grpc::{self, records::RecordsService, streams::StreamsService};

/// A running server. Drop it or call [`RunningServer::shutdown`] to stop it.
pub struct RunningServer {
    pub grpc_addr: SocketAddr,
    pub log: Arc<Log>,
    shutdown: CancellationToken,
    grpc_task: Option<JoinHandle<anyhow::Result<()>>>,
    retention_task: Option<JoinHandle<()>>,
}

/// Opens the log in `config.data_dir` and starts serving. Returns once the gRPC listener
/// is bound, so `grpc_addr` holds the real port when port 0 was asked for.
pub async fn start(config: ServeConfig) -> anyhow::Result<RunningServer> {
    let log_config = LogConfig {
        durability: config.durability,
        tail_max_bytes_per_shard: config.tail_max_bytes_per_shard,
        max_queued_bytes: config.max_queued_bytes,
        ..LogConfig::default()
    };
    let data_dir = config.data_dir.clone();
    let log = tokio::task::spawn_blocking(move || Log::open(&data_dir, log_config))
        .await?
        .with_context(|| format!("cannot open the log in {}", config.data_dir.display()))?;
    let log = Arc::new(log);
    let shutdown = CancellationToken::new();

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
            .serve_with_incoming_shutdown(incoming, grpc_shutdown.cancelled_owned())
            .await
            .context("grpc server failed")
    });
    let retention_task = tokio::spawn(retention::run(
        log.clone(),
        std::time::Duration::from_secs(config.retention_check_interval_secs),
        shutdown.child_token(),
    ));
    info!(%grpc_addr, durability = ?config.durability, "eddy serving");
    Ok(RunningServer {
        grpc_addr,
        log,
        shutdown,
        grpc_task: Some(grpc_task),
        retention_task: Some(retention_task),
    })
}

impl RunningServer {
    /// Stops accepting, finishes in-flight requests, lets the writer drain and flushes
    /// the WAL to disk.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        if let Some(task) = self.retention_task.take() {
            let _ = task.await;
        }
        if let Some(task) = self.grpc_task.take() {
            task.await??;
        }
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || log.close()).await??;
        info!("eddy stopped");
        Ok(())
    }

    /// Resolves when the gRPC server stops on its own (it failed).
    pub async fn wait_failed(&mut self) -> anyhow::Result<()> {
        match self.grpc_task.as_mut() {
            Some(task) => (&mut *task).await?,
            None => std::future::pending().await,
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
