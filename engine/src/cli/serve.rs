//! `eddy serve`: run until SIGINT or SIGTERM, then drain and flush.

use anyhow::Context;
use tokio::signal::unix::{signal, SignalKind};
use tracing::info;

use super::ServeArgs;
use crate::config::{FileConfig, ServeConfig};
use crate::server;

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let config = ServeConfig::resolve(
        args.data_dir,
        args.grpc_addr,
        args.http_addr,
        args.durability,
        file,
    )?;
    let mut sigterm = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut sigint = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let mut running = server::start(config.clone()).await?;
    // One line on stdout that scripts and tests can wait for.
    println!(
        "eddy listening grpc={} http={} data_dir={} durability={}",
        running.grpc_addr,
        running
            .http_addr
            .map_or_else(|| "off".to_string(), |addr| addr.to_string()),
        config.data_dir.display(),
        match config.durability {
            eddy_shards::Durability::Fsync => "fsync",
            eddy_shards::Durability::Buffered => "buffered",
        }
    );
    tokio::select! {
        _ = sigterm.recv() => info!("SIGTERM: draining"),
        _ = sigint.recv() => info!("SIGINT: draining"),
        result = running.wait_failed() => return result,
    }
    running.shutdown().await
}
