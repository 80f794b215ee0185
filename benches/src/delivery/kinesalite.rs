//! The Kinesis consumer Lambda runs for a stream, against kinesalite: per fan-out
//! consumer and shard, GetShardIterator (TRIM_HORIZON or LATEST), then GetRecords in a
//! loop, sleeping the poll interval whenever a call returns nothing. With a 1 s interval
//! this is what Kinesis + Lambda polling gives; kinesalite has no enhanced fan-out.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::kinesis_client::KinesisClient;
use crate::open_loop::Sink;
use crate::systems::STREAM;

/// Gets shard `shard`'s iterator and returns once it has it; the returned future then
/// polls until `stop`.
pub async fn subscribe(
    url: &str,
    shard: u32,
    poll_interval: Duration,
    from_start: bool,
    batch: usize,
    sink: Arc<Sink>,
    stop: CancellationToken,
) -> anyhow::Result<impl std::future::Future<Output = anyhow::Result<()>>> {
    let client = KinesisClient::new(url);
    let answer = client
        .call(
            "GetShardIterator",
            &json!({
                "StreamName": STREAM,
                "ShardId": format!("shardId-{shard:012}"),
                "ShardIteratorType": if from_start { "TRIM_HORIZON" } else { "LATEST" },
            }),
        )
        .await?;
    let mut iterator = answer["ShardIterator"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok(async move {
        while !stop.is_cancelled() {
            let answer = client
                .call(
                    "GetRecords",
                    &json!({"ShardIterator": iterator, "Limit": batch}),
                )
                .await?;
            let records = answer["Records"].as_array().cloned().unwrap_or_default();
            let payloads = records
                .iter()
                .map(|record| STANDARD.decode(record["Data"].as_str().unwrap_or_default()))
                .collect::<Result<Vec<_>, _>>()?;
            sink.observe(payloads.iter().map(Vec::as_slice));
            iterator = answer["NextShardIterator"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if payloads.is_empty() {
                tokio::select! {
                    () = tokio::time::sleep(poll_interval) => {}
                    () = stop.cancelled() => {}
                }
            }
        }
        Ok(())
    })
}
