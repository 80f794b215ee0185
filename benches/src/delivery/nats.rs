//! The NATS JetStream consumer: per fan-out consumer and shard subject (`bench.<shard>`) a
//! durable pull consumer with `AckPolicy::All`. One task loops over pull requests of up to
//! `batch` messages (each waiting at most 100 ms), hands each message to the sink as it
//! arrives, and acknowledges the batch through its last message: the same work as an eddy
//! poller checkpointing after each batch.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::open_loop::Sink;
use crate::systems::STREAM;

/// How long one pull request waits for its batch to fill.
const EXPIRES: Duration = Duration::from_millis(100);

/// Creates durable consumer `name` on shard `shard`'s subject and returns once it exists;
/// the returned future then consumes until `stop`.
pub async fn subscribe(
    url: &str,
    shard: u32,
    name: &str,
    from_start: bool,
    batch: usize,
    sink: Arc<Sink>,
    stop: CancellationToken,
) -> anyhow::Result<impl std::future::Future<Output = anyhow::Result<()>>> {
    let client = async_nats::connect(url).await?;
    let stream = async_nats::jetstream::new(client)
        .get_stream(STREAM)
        .await?;
    let consumer = stream
        .create_consumer(pull::Config {
            durable_name: Some(format!("{name}-{shard}")),
            filter_subject: format!("{STREAM}.{shard}"),
            deliver_policy: if from_start {
                DeliverPolicy::All
            } else {
                DeliverPolicy::New
            },
            ack_policy: AckPolicy::All,
            // A whole batch may be unacknowledged at once (the default is 1000).
            max_ack_pending: 1_000_000,
            ..Default::default()
        })
        .await?;
    Ok(async move {
        while !stop.is_cancelled() {
            let mut messages = consumer
                .batch()
                .max_messages(batch)
                .expires(EXPIRES)
                .messages()
                .await
                .map_err(|err| anyhow::anyhow!("pull request: {err}"))?;
            let mut last = None;
            while let Some(message) = messages.next().await {
                let message = message.map_err(|err| anyhow::anyhow!("pull: {err}"))?;
                sink.observe(std::iter::once(message.payload.as_ref()));
                last = Some(message);
            }
            if let Some(last) = last {
                last.ack()
                    .await
                    .map_err(|err| anyhow::anyhow!("ack: {err}"))?;
            }
        }
        Ok(())
    })
}
