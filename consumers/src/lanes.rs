//! ParallelizationFactor > 1: one shard, several batches in flight, order kept per
//! partition key.
//!
//! A reader task reads the shard as the single-lane poller does and hands each record to
//! lane `hash(partition key) % factor`, so one key always goes to the same lane and stays
//! in order. Each lane delivers its own batches (with the same retry, bisect and failure
//! handling). The shard's checkpoint is the lowest sequence number still in flight in any
//! lane (or the reader's position when none is): it never passes an undelivered record.
//! It is written behind delivery, as the single-lane poller's is (`shard_checkpoint`):
//! every 20 ms at most, without a lane or the reader waiting for the write. While lanes
//! have records in flight and no new record comes, the reader wakes every 20 ms to offer
//! the position they reached; once they are done it waits for that to be durable, and a
//! stopping poller writes its last one.
//! The reader stops reading while `factor × BatchSize × 2` records are in flight.

use std::collections::BTreeSet;
use std::sync::Arc;

use eddy_shards::hash_key::hash_key_of_partition_key;
use eddy_shards::sync::Mutex;
use eddy_shards::{Record, ShardHandle};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use crate::event::EventSource;
use crate::poller::{
    deliver, keep_matching, read_batch, wait_for_records_or, MappingContext, PollerError, Waited,
};
use crate::shard_checkpoint::{ShardCheckpoint, CHECKPOINT_INTERVAL};

/// What is in flight: dispatched to a lane but not yet delivered (or given up).
struct Progress {
    in_flight: BTreeSet<u64>,
    /// Everything below this was read (and either dispatched or filtered out).
    read_until: u64,
}

struct Shared {
    progress: Mutex<Progress>,
    /// One for the shard: its writes land in increasing order.
    checkpoint: tokio::sync::Mutex<ShardCheckpoint>,
    lane_done: Notify,
}

impl Shared {
    fn safe_checkpoint(&self) -> u64 {
        let progress = self.progress.lock();
        progress
            .in_flight
            .first()
            .copied()
            .unwrap_or(progress.read_until)
    }

    /// Hands the safe position to the log if one is due; never waits for a write.
    async fn checkpoint(&self) -> Result<(), PollerError> {
        let mut checkpoint = self.checkpoint.lock().await;
        checkpoint.offer(self.safe_checkpoint())
    }

    /// Makes the safe position durable, waiting for the write.
    async fn flush_checkpoint(&self) -> Result<(), PollerError> {
        let mut checkpoint = self.checkpoint.lock().await;
        checkpoint.flush(self.safe_checkpoint()).await
    }

    fn lanes_busy(&self) -> bool {
        !self.progress.lock().in_flight.is_empty()
    }

    /// When the reader, waiting for records, should see to the checkpoint: every interval
    /// while lanes have records in flight (they move the safe position without waking
    /// the reader), else when the single-lane poller would flush.
    async fn checkpoint_due(&self) -> Option<tokio::time::Instant> {
        if self.lanes_busy() {
            return Some(tokio::time::Instant::now() + CHECKPOINT_INTERVAL);
        }
        let checkpoint = self.checkpoint.lock().await;
        checkpoint.flush_at(self.safe_checkpoint())
    }

    /// At [`Shared::checkpoint_due`]: offers the position while lanes are busy (they must
    /// not wait for the write), else makes it durable.
    async fn see_to_checkpoint(&self) -> Result<(), PollerError> {
        if self.lanes_busy() {
            self.checkpoint().await
        } else {
            self.flush_checkpoint().await
        }
    }
}

pub(crate) async fn run_lanes(
    ctx: Arc<MappingContext>,
    shard: ShardHandle,
    source: EventSource,
    start_seq: u64,
    cancel: CancellationToken,
) -> Result<(), PollerError> {
    let factor = ctx.spec.parallelization_factor as usize;
    let shared = Arc::new(Shared {
        progress: Mutex::new(Progress {
            in_flight: BTreeSet::new(),
            read_until: start_seq,
        }),
        checkpoint: tokio::sync::Mutex::new(ShardCheckpoint::new(
            ctx.checkpoints.clone(),
            &ctx.mapping_id,
            &source.shard_id,
            start_seq,
        )),
        lane_done: Notify::new(),
    });
    // Lanes stop with the reader: on cancellation or when the stream goes away.
    let lanes_cancel = cancel.child_token();
    let mut lane_txs = Vec::with_capacity(factor);
    let mut lanes = Vec::with_capacity(factor);
    for _ in 0..factor {
        // Unbounded, but the reader admits at most `max_in_flight` records in all.
        let (lane_tx, lane_rx) = mpsc::unbounded_channel::<Record>();
        lane_txs.push(lane_tx);
        lanes.push(tokio::spawn(run_lane(
            ctx.clone(),
            shard.clone(),
            source.clone(),
            shared.clone(),
            lane_rx,
            lanes_cancel.clone(),
        )));
    }

    let result = read_into_lanes(
        &ctx, &shard, &shared, &lane_txs, &mut lanes, start_seq, &cancel,
    )
    .await;
    // Every lane has stopped before the poller reports that it has: a mapping that is
    // updated, disabled or deleted never has a batch still in flight behind it.
    lanes_cancel.cancel();
    for lane in lanes {
        let _ = lane.await;
    }
    result?;
    // Everything delivered up to the first record still in flight (none, on a clean
    // stop), so that a restart repeats nothing it need not.
    shared.flush_checkpoint().await
}

/// Reads the shard and hands each record to the lane of its partition key, until
/// cancelled or a lane fails.
async fn read_into_lanes(
    ctx: &Arc<MappingContext>,
    shard: &ShardHandle,
    shared: &Arc<Shared>,
    lane_txs: &[mpsc::UnboundedSender<Record>],
    lanes: &mut Vec<tokio::task::JoinHandle<Result<(), PollerError>>>,
    start_seq: u64,
    cancel: &CancellationToken,
) -> Result<(), PollerError> {
    let factor = lane_txs.len();
    let max_in_flight = factor * ctx.spec.batch_size as usize * 2;
    let mut next_seq = start_seq;
    let mut head_rx = shard.subscribe_head();
    loop {
        while shared.progress.lock().in_flight.len() >= max_in_flight {
            let done = shared.lane_done.notified();
            if shared.progress.lock().in_flight.len() < max_in_flight {
                break;
            }
            tokio::select! {
                _ = done => {}
                _ = cancel.cancelled() => return Ok(()),
            }
        }
        let due = shared.checkpoint_due().await;
        match wait_for_records_or(ctx, shard, &mut head_rx, next_seq, cancel, due).await {
            Waited::Records => {}
            Waited::FlushDue => {
                shared.see_to_checkpoint().await?;
                continue;
            }
            Waited::Stop => return Ok(()),
        }
        let batch = read_batch(&ctx.log, shard, next_seq, ctx.spec.batch_size as usize).await?;
        next_seq = batch.next_seq;
        let records = keep_matching(ctx, batch.records);
        {
            let mut progress = shared.progress.lock();
            progress.in_flight.extend(records.iter().map(|r| r.seq));
            progress.read_until = next_seq;
        }
        for record in records {
            let lane = (hash_key_of_partition_key(&record.partition_key) % factor as u128) as usize;
            if lane_txs[lane].send(record).is_err() {
                return Ok(()); // the lane stopped: cancelled
            }
        }
        shared.checkpoint().await?;
        if let Some(position) = lanes.iter().position(|lane| lane.is_finished()) {
            // A lane only stops on cancellation or a storage error: pass the error on.
            return lanes.swap_remove(position).await.map_err(|err| {
                PollerError::Storage(eddy_shards::StorageError::Io(format!(
                    "lane task failed: {err}"
                )))
            })?;
        }
    }
}

async fn run_lane(
    ctx: Arc<MappingContext>,
    shard: ShardHandle,
    source: EventSource,
    shared: Arc<Shared>,
    mut lane_rx: mpsc::UnboundedReceiver<Record>,
    cancel: CancellationToken,
) -> Result<(), PollerError> {
    let batch_size = ctx.spec.batch_size as usize;
    loop {
        let first = tokio::select! {
            record = lane_rx.recv() => match record { Some(record) => record, None => return Ok(()) },
            _ = cancel.cancelled() => return Ok(()),
        };
        let mut records = vec![first];
        while records.len() < batch_size {
            match lane_rx.try_recv() {
                Ok(record) => records.push(record),
                Err(_) => break,
            }
        }
        let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
        if !deliver(&ctx, &source, &shard, records, &cancel).await {
            return Ok(());
        }
        {
            let mut progress = shared.progress.lock();
            for seq in seqs {
                progress.in_flight.remove(&seq);
            }
        }
        shared.lane_done.notify_waiters();
        shared.checkpoint().await?;
    }
}
