//! The retention loop: trims records past their stream's retention and lets RocksDB
//! reclaim their space. Reads already hide expired records; this reclaims the disk.

use std::sync::Arc;
use std::time::Duration;

use eddy_shards::Log;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub async fn run(log: Arc<Log>, interval: Duration, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        match log.enforce_retention().await {
            Ok(0) => {}
            Ok(trimmed) => info!(trimmed, "retention trimmed expired records"),
            Err(err) => warn!(%err, "retention pass failed; will retry"),
        }
    }
}
