//! The Redis Streams consumer: one consumer group per fan-out consumer, and per shard key
//! (`bench:<shard>`) one task that reads with `XREADGROUP … COUNT n BLOCK 100 STREAMS key >`
//! and acknowledges each batch with one `XACK` before reading the next: the same work as
//! an eddy poller invoking a function and checkpointing.

use std::sync::Arc;

use redis::streams::{StreamReadOptions, StreamReadReply};
use redis::AsyncCommands;
use tokio_util::sync::CancellationToken;

use crate::open_loop::Sink;
use crate::systems::STREAM;

/// How long one XREADGROUP waits for records; records arriving end the wait at once.
const BLOCK_MILLIS: usize = 100;

/// Creates consumer group `group` on shard `shard`'s stream (from its start, or only
/// new entries) and returns once it exists; the returned future then consumes until
/// `stop`.
pub async fn subscribe(
    url: &str,
    shard: u32,
    group: &str,
    from_start: bool,
    batch: usize,
    sink: Arc<Sink>,
    stop: CancellationToken,
) -> anyhow::Result<impl std::future::Future<Output = anyhow::Result<()>>> {
    let key = format!("{STREAM}:{shard}");
    let mut connection = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let _: () = connection
        .xgroup_create_mkstream(&key, group, if from_start { "0" } else { "$" })
        .await?;
    let group = group.to_string();
    Ok(async move {
        let options = StreamReadOptions::default()
            .group(&group, "c")
            .count(batch)
            .block(BLOCK_MILLIS);
        while !stop.is_cancelled() {
            let reply: Option<StreamReadReply> =
                connection.xread_options(&[&key], &[">"], &options).await?;
            let Some(reply) = reply else { continue };
            for stream in reply.keys {
                let payloads: Vec<&[u8]> = stream
                    .ids
                    .iter()
                    .map(|entry| match entry.map.get("d") {
                        Some(redis::Value::BulkString(data)) => data.as_slice(),
                        _ => &[],
                    })
                    .collect();
                sink.observe(payloads.into_iter());
                let ids: Vec<&str> = stream.ids.iter().map(|entry| entry.id.as_str()).collect();
                let _: usize = connection.xack(&key, &group, &ids).await?;
            }
        }
        Ok(())
    })
}
