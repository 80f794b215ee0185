//! One shard poller's checkpoint writes, pipelined behind delivery.
//!
//! While batches flow, a poller hands its position to the log at most every
//! [`CHECKPOINT_INTERVAL`] and goes on delivering without waiting for the write: the
//! write rides in the writer's next group commit, and under `fsync` durability it waits
//! for the fsync in flight and then its own. Awaiting it would hold back records that
//! became readable meanwhile by up to two fsyncs, once per interval and poller.
//!
//! # Invariants
//! - At most one write is in flight, so writes land in the order they were made and a
//!   checkpoint never moves backwards.
//! - A checkpoint is only ever a position the poller has finished with (the caller's
//!   `next_seq`): it never passes an undelivered record.
//! - A failed write is not lost: its error comes back from the next [`ShardCheckpoint::offer`]
//!   or [`ShardCheckpoint::flush`], and the poller stops on it as it did on an awaited one.
//! - [`ShardCheckpoint::flush`] returns once everything offered is durable; pollers call it
//!   when the shard goes quiet and when they stop, so a clean stop repeats nothing.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use eddy_shards::PendingDocuments;
use tokio::time::Instant;

use crate::checkpoint::CheckpointStore;
use crate::poller::PollerError;

/// While batches flow, a shard's checkpoint is written at most this often (and when the
/// shard goes quiet, this long after the last write): one writer round trip per 20 ms
/// instead of per batch. After a crash, the batch in flight and the deliveries since the
/// last durable checkpoint are repeated (at-least-once): 20 ms of them, or more while a
/// checkpoint write is held up by a slow disk.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(20);

pub(crate) struct ShardCheckpoint {
    checkpoints: CheckpointStore,
    mapping_id: String,
    shard_id: String,
    /// The last position handed to the log.
    offered: u64,
    /// The write in flight (of `offered`).
    in_flight: Option<PendingDocuments>,
    /// When the last write was handed to the log.
    last_offer: Instant,
}

impl ShardCheckpoint {
    /// `start_seq` is already durable (the poller read it, or wrote it, at start).
    pub(crate) fn new(
        checkpoints: CheckpointStore,
        mapping_id: &str,
        shard_id: &str,
        start_seq: u64,
    ) -> Self {
        Self {
            checkpoints,
            mapping_id: mapping_id.to_owned(),
            shard_id: shard_id.to_owned(),
            offered: start_seq,
            in_flight: None,
            last_offer: Instant::now(),
        }
    }

    /// After a batch: hands `next_seq` to the log if the interval has passed and no write
    /// is in flight. Never waits for a write; returns the error of one that failed.
    pub(crate) fn offer(&mut self, next_seq: u64) -> Result<(), PollerError> {
        self.reap()?;
        if self.in_flight.is_none()
            && next_seq > self.offered
            && self.last_offer.elapsed() >= CHECKPOINT_INTERVAL
        {
            self.start(next_seq);
        }
        Ok(())
    }

    /// When the poller should [`flush`](Self::flush) although no record comes: a position
    /// not yet handed to the log, or a write whose outcome is not yet known, is due one
    /// interval after the last write. `None` when everything is durable.
    pub(crate) fn flush_at(&self, next_seq: u64) -> Option<Instant> {
        (next_seq > self.offered || self.in_flight.is_some())
            .then(|| self.last_offer + CHECKPOINT_INTERVAL)
    }

    /// Waits for the write in flight, then writes `next_seq` if it is newer and waits for
    /// that too: everything up to `next_seq` is durable when it returns `Ok`.
    pub(crate) async fn flush(&mut self, next_seq: u64) -> Result<(), PollerError> {
        if let Some(pending) = self.in_flight.take() {
            pending.await?;
        }
        if next_seq > self.offered {
            self.start(next_seq);
            let pending = self.in_flight.take().expect("just started");
            pending.await?;
        }
        Ok(())
    }

    fn start(&mut self, next_seq: u64) {
        let pending = self
            .checkpoints
            .submit(&self.mapping_id, &self.shard_id, next_seq);
        self.in_flight = Some(pending);
        self.offered = next_seq;
        self.last_offer = Instant::now();
    }

    /// Takes the write in flight off if it has finished; its error if it failed.
    fn reap(&mut self) -> Result<(), PollerError> {
        let Some(pending) = &mut self.in_flight else {
            return Ok(());
        };
        // Polled without a waker to be woken: `flush` awaits a write that is still going.
        match Pin::new(pending).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Pending => Ok(()),
            Poll::Ready(outcome) => {
                self.in_flight = None;
                outcome.map_err(PollerError::from)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use eddy_shards::{Durability, Log, LogConfig};

    use super::*;

    fn open(durability: Durability) -> (tempfile::TempDir, Arc<Log>) {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            durability,
            ..LogConfig::default()
        };
        let log = Arc::new(Log::open(dir.path(), config).unwrap());
        (dir, log)
    }

    /// While the writer is held up, offering returns at once and starts one write only;
    /// the write lands once the writer goes on, and `flush` waits for it.
    #[tokio::test(start_paused = true)]
    async fn offers_never_wait_and_keep_one_write_in_flight() {
        for durability in [Durability::Fsync, Durability::Buffered] {
            let (_dir, log) = open(durability);
            let store = CheckpointStore::new(log.clone());
            let mut checkpoint = ShardCheckpoint::new(store.clone(), "m", "shard-0", 5);
            assert_eq!(checkpoint.flush_at(5), None, "nothing to write yet");

            // Too soon after the start: nothing is written, but a flush is due later.
            checkpoint.offer(8).unwrap();
            assert_eq!(store.get("m", "shard-0").unwrap(), None);
            assert!(checkpoint.flush_at(8).is_some());

            let release = log.stall_writer_for_tests();
            tokio::time::advance(CHECKPOINT_INTERVAL).await;
            checkpoint.offer(10).unwrap(); // starts a write, which the writer holds
            tokio::time::advance(CHECKPOINT_INTERVAL).await;
            checkpoint.offer(20).unwrap(); // one is in flight: no second write
            assert_eq!(store.get("m", "shard-0").unwrap(), None, "{durability:?}");

            drop(release);
            // The write in flight was 10, and nothing newer than 10 is asked for.
            checkpoint.flush(10).await.unwrap();
            assert_eq!(
                store.get("m", "shard-0").unwrap(),
                Some(10),
                "{durability:?}"
            );
            assert_eq!(
                checkpoint.flush_at(10),
                None,
                "everything offered is durable"
            );

            // Later offers write again; a flush makes the newest position durable.
            tokio::time::advance(CHECKPOINT_INTERVAL).await;
            checkpoint.offer(30).unwrap();
            checkpoint.flush(35).await.unwrap();
            assert_eq!(
                store.get("m", "shard-0").unwrap(),
                Some(35),
                "{durability:?}"
            );
            assert_eq!(checkpoint.flush_at(35), None);
        }
    }

    /// A checkpoint never moves backwards: an offer or a flush of an older position
    /// writes nothing.
    #[tokio::test(start_paused = true)]
    async fn older_positions_are_not_written() {
        let (_dir, log) = open(Durability::Buffered);
        let store = CheckpointStore::new(log.clone());
        let mut checkpoint = ShardCheckpoint::new(store.clone(), "m", "shard-0", 0);
        checkpoint.flush(50).await.unwrap();
        tokio::time::advance(CHECKPOINT_INTERVAL).await;
        checkpoint.offer(40).unwrap();
        checkpoint.flush(45).await.unwrap();
        assert_eq!(store.get("m", "shard-0").unwrap(), Some(50));
    }
}
