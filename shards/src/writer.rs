//! The single writer: group commit.
//!
//! Whoever holds the leadership of the [`CommitQueue`](crate::commit_queue) (the writer
//! thread, or under buffered durability a producer committing inline) runs commands
//! through the one [`Writer`]. A group of queued appends and document writes (up to
//! [`MAX_GROUP_BYTES`]) gets per-shard sequence numbers in order, one RocksDB write batch
//! and one write (one WAL write; one fsync under `fsync` durability). Then the writer
//! puts the records into each shard's tail, publishes each shard's new head and
//! acknowledges every producer of the group. Stream creation, deletion and trims run on
//! the writer thread in their turn in the queue, so they are ordered with appends and
//! never race them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;
use tracing::{error, info, warn};

use crate::clock::Clock;
use crate::codec;
use crate::documents::{self, DocumentWrite};
use crate::encoded_append::{EncodedAppend, Slab};
use crate::error::{
    AppendError, CreateStreamError, DeleteStreamError, NotFound, StorageError, UpdateStreamError,
};
use crate::latency_histogram::LatencyCounters;
use crate::limits::MAX_STREAMS;
use crate::log::{Appended, Durability};
use crate::record::{PartitionKey, Record};
use crate::shard::{Catalog, ShardState, StreamState};
use crate::store::Store;
use crate::stream::StreamMeta;
use crate::stream_change::StreamChange;
use crate::tail_budget::TailBudget;

/// A group stops growing past this many bytes of record data: 16 MiB. Bigger groups
/// amortise the WAL write and fsync further but delay the first producer of the group.
pub(crate) const MAX_GROUP_BYTES: usize = 16 * 1024 * 1024;

/// A group commit's RocksDB write (with its fsync under `fsync`) that takes this long is
/// logged as a warning: producers waited that long for their acknowledgements. On this
/// project's VM the slowest writes seen took 0.3 s.
const SLOW_WRITE: Duration = Duration::from_secs(1);

pub(crate) struct AppendCommand {
    pub stream: Arc<StreamState>,
    pub append: EncodedAppend,
    /// When the put reached the log, before it was encoded: its records' commit wait
    /// counts from here.
    pub arrived: Instant,
    pub reply_tx: oneshot::Sender<Result<Vec<Appended>, AppendError>>,
}

pub(crate) enum Command {
    Append(AppendCommand),
    /// Document writes (checkpoints) that ride in the next group commit's batch.
    Documents {
        writes: Vec<DocumentWrite>,
        reply_tx: oneshot::Sender<Result<(), StorageError>>,
    },
    CreateStream {
        name: String,
        shard_count: u32,
        retention_hours: u32,
        reply_tx: oneshot::Sender<Result<StreamMeta, CreateStreamError>>,
    },
    DeleteStream {
        name: String,
        reply_tx: oneshot::Sender<Result<(), DeleteStreamError>>,
    },
    UpdateStream {
        name: String,
        change: StreamChange,
        reply_tx: oneshot::Sender<Result<StreamMeta, UpdateStreamError>>,
    },
    Trim {
        shard: Arc<ShardState>,
        trim_seq: u64,
        reply_tx: oneshot::Sender<Result<(), StorageError>>,
    },
    /// Blocks the writer until the sender side is dropped; for tests of backpressure.
    Stall {
        release_rx: std::sync::mpsc::Receiver<()>,
    },
}

/// What group commit has done so far: records per group shows how many producers share
/// each WAL write (and each fsync under `fsync` durability).
#[derive(Debug, Default)]
pub struct WriteCounters {
    pub groups_committed: AtomicU64,
    pub records_committed: AtomicU64,
    /// Of `groups_committed`, those a producer committed on its own thread.
    pub groups_committed_inline: AtomicU64,
    /// How long each group's RocksDB write took (with its fsync under `fsync`).
    pub(crate) write_latency: LatencyCounters,
    /// How long each record waited from its put's arrival until its group's write
    /// returned.
    pub(crate) commit_latency: LatencyCounters,
}

/// A shard written by the current group, and where it stood before it.
struct TouchedShard {
    shard: Arc<ShardState>,
    next_seq_before: u64,
    last_arrival_before: u64,
}

pub(crate) struct Writer {
    pub store: Arc<Store>,
    pub catalog: Arc<Catalog>,
    pub clock: Arc<dyn Clock>,
    pub durability: Durability,
    pub tail_budget: TailBudget,
    pub queued_bytes: Arc<AtomicUsize>,
    pub counters: Arc<WriteCounters>,
    pub next_stream_id: u32,
}

/// What one group commit writes: appends and document writes, in one WriteBatch.
#[derive(Default)]
pub(crate) struct Group {
    appends: Vec<AppendCommand>,
    documents: Vec<DocumentWrite>,
    document_replies: Vec<oneshot::Sender<Result<(), StorageError>>>,
}

impl Command {
    /// The bytes an append or a document write adds to a group; `None` for the commands
    /// that run alone on the writer thread (metadata changes, stalls).
    pub(crate) fn inline_bytes(&self) -> Option<usize> {
        match self {
            Command::Append(append) => Some(append.append.num_bytes),
            // A checkpoint's key and value: small, but not free.
            Command::Documents { writes, .. } => Some(64 * writes.len()),
            _ => None,
        }
    }
}

impl Group {
    /// Adds an append or a document write. Metadata commands never join a group.
    pub(crate) fn add(&mut self, command: Command) {
        match command {
            Command::Append(append) => self.appends.push(append),
            Command::Documents { writes, reply_tx } => {
                self.documents.extend(writes);
                self.document_replies.push(reply_tx);
            }
            _ => unreachable!("metadata commands run alone, not in a group"),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.appends.is_empty() && self.document_replies.is_empty()
    }

    /// The group's size in a RocksDB write batch, at most, so that its batch is allocated
    /// once.
    fn batch_bytes(&self) -> usize {
        let records: usize = self
            .appends
            .iter()
            .map(|command| command.append.batch_bytes)
            .sum();
        records + documents::batch_bytes(&self.documents)
    }
}

impl Writer {
    fn sync(&self) -> bool {
        self.durability == Durability::Fsync
    }

    /// Writes every queued append and document write in one batch and acknowledges them.
    /// Returns how many records it wrote (none if the write failed).
    pub(crate) fn commit(&mut self, group: &mut Group) -> usize {
        if group.is_empty() {
            return 0;
        }
        let mut batch = self.store.batch_with_capacity(group.batch_bytes());
        let appends = &mut group.appends;
        let now_millis = self.clock.now_millis();
        documents::add_to_batch(&self.store, &mut batch, &group.documents);
        group.documents.clear();
        let mut outcomes: Vec<Option<Vec<Appended>>> = Vec::with_capacity(appends.len());
        // Shards touched by this group, with their positions before it (for rollback), and
        // for each slab of each written append, in order, the slot of its shard in
        // `touched`.
        let mut touched: Vec<TouchedShard> = Vec::new();
        let mut slot_of_shard: HashMap<*const ShardState, usize> = HashMap::new();
        let mut slab_slots: Vec<usize> = Vec::new();
        let mut records_written = 0;
        let mut released_bytes = 0;
        for command in appends.iter_mut() {
            let append = &mut command.append;
            released_bytes += append.num_bytes;
            if command.stream.is_deleted() {
                outcomes.push(None);
                continue;
            }
            for slab in &append.slabs {
                let shard = &slab.shard;
                let slot = *slot_of_shard.entry(Arc::as_ptr(shard)).or_insert_with(|| {
                    touched.push(TouchedShard {
                        shard: shard.clone(),
                        next_seq_before: shard.next_seq(),
                        last_arrival_before: shard.last_arrival_millis(),
                    });
                    touched.len() - 1
                });
                slab_slots.push(slot);
            }
            let mut appended = Vec::with_capacity(append.records.len());
            for record in &append.records {
                let Slab { shard, values, .. } = &mut append.slabs[record.slab];
                let seq = shard.next_seq();
                let arrival_millis = now_millis.max(shard.last_arrival_millis());
                let value = &mut values[record.value_start..record.value_end()];
                codec::stamp_arrival_millis(value, arrival_millis);
                batch.put_record(&self.store, shard.stream_id, shard.meta.index, seq, value);
                shard.set_next_seq(seq + 1);
                shard.set_last_arrival_millis(arrival_millis);
                appended.push(Appended {
                    shard_index: shard.meta.index,
                    seq,
                    arrival_millis,
                });
            }
            records_written += appended.len();
            outcomes.push(Some(appended));
        }
        self.queued_bytes
            .fetch_sub(released_bytes, Ordering::AcqRel);

        // When the write returned: the end of every record's commit wait.
        let (written, durable) = if batch.is_empty() {
            (Ok(()), Instant::now())
        } else {
            let started = Instant::now();
            let written = self.store.write(batch, self.sync());
            let durable = Instant::now();
            let took = durable - started;
            self.counters.write_latency.record(took);
            if took >= SLOW_WRITE {
                warn!(
                    took_ms = took.as_millis() as u64,
                    records = records_written,
                    fsync = self.sync(),
                    "a group commit's RocksDB write took over {} s, and every producer of the \
                     group waited for it: is the data disk slow or stalled?",
                    SLOW_WRITE.as_secs()
                );
            }
            (written, durable)
        };
        if let Err(err) = written {
            error!(%err, "group commit failed; rolling back sequence numbers");
            for touched in &touched {
                touched.shard.set_next_seq(touched.next_seq_before);
                touched
                    .shard
                    .set_last_arrival_millis(touched.last_arrival_before);
                touched.shard.tail.write().reset(touched.next_seq_before);
            }
            for append in appends.drain(..) {
                let _ = append.reply_tx.send(Err(AppendError::Storage(err.clone())));
            }
            for reply_tx in group.document_replies.drain(..) {
                let _ = reply_tx.send(Err(err.clone()));
            }
            return 0;
        }
        for reply_tx in group.document_replies.drain(..) {
            let _ = reply_tx.send(Ok(()));
        }
        if records_written > 0 {
            self.counters
                .groups_committed
                .fetch_add(1, Ordering::Relaxed);
            self.counters
                .records_committed
                .fetch_add(records_written as u64, Ordering::Relaxed);
        }
        // Durable: make the records visible (one lock per shard), then wake readers, then
        // acknowledge. The tail holds slices of the slabs the producers encoded, so the
        // data is not copied again (see `encoded_append`).
        {
            let mut tails: Vec<_> = touched.iter().map(|t| t.shard.tail.write()).collect();
            let mut slab_slots = slab_slots.into_iter();
            for (command, outcome) in appends.iter_mut().zip(&outcomes) {
                let Some(appended) = outcome else { continue };
                let append = &mut command.append;
                let slabs: Vec<(Bytes, usize)> = append
                    .slabs
                    .iter_mut()
                    .map(|slab| {
                        let slot = slab_slots.next().expect("one slot per written slab");
                        (std::mem::take(&mut slab.values).freeze(), slot)
                    })
                    .collect();
                for (record, at) in append.records.iter().zip(appended) {
                    let (values, slot) = &slabs[record.slab];
                    let partition_key = PartitionKey::from_str_bytes(
                        values.slice(record.partition_key_start()..record.data_start()),
                    );
                    tails[*slot].push(Record {
                        seq: at.seq,
                        arrival_millis: at.arrival_millis,
                        partition_key,
                        data: values.slice(record.data_start()..record.value_end()),
                    });
                }
            }
        }
        for touched in &touched {
            touched.shard.publish_head(touched.shard.next_seq());
        }
        for (append, outcome) in appends.drain(..).zip(outcomes) {
            let reply = match outcome {
                Some(appended) => {
                    self.counters.commit_latency.record_many(
                        durable.saturating_duration_since(append.arrived),
                        appended.len() as u64,
                    );
                    Ok(appended)
                }
                None => Err(AppendError::NotFound(NotFound::Stream(
                    append.stream.meta.name.clone(),
                ))),
            };
            let _ = append.reply_tx.send(reply);
        }
        records_written
    }

    pub(crate) fn run_meta(&mut self, command: Command) {
        match command {
            Command::Append(_) | Command::Documents { .. } => {
                unreachable!("appends and documents are committed in groups")
            }
            Command::CreateStream {
                name,
                shard_count,
                retention_hours,
                reply_tx,
            } => {
                let _ = reply_tx.send(self.create_stream(name, shard_count, retention_hours));
            }
            Command::DeleteStream { name, reply_tx } => {
                let _ = reply_tx.send(self.delete_stream(&name));
            }
            Command::UpdateStream {
                name,
                change,
                reply_tx,
            } => {
                let _ = reply_tx.send(self.update_stream(&name, &change));
            }
            Command::Trim {
                shard,
                trim_seq,
                reply_tx,
            } => {
                let _ = reply_tx.send(self.trim(&shard, trim_seq));
            }
            Command::Stall { release_rx } => {
                let _ = release_rx.recv();
            }
        }
    }

    fn create_stream(
        &mut self,
        name: String,
        shard_count: u32,
        retention_hours: u32,
    ) -> Result<StreamMeta, CreateStreamError> {
        if self.catalog.contains(&name) {
            return Err(CreateStreamError::AlreadyExists(name));
        }
        if self.catalog.len() >= MAX_STREAMS {
            return Err(CreateStreamError::LimitExceeded(format!(
                "this server already has the maximum of {MAX_STREAMS} streams"
            )));
        }
        let id = self.next_stream_id;
        let Some(next_id) = id.checked_add(1) else {
            return Err(CreateStreamError::LimitExceeded(
                "stream ids are exhausted".into(),
            ));
        };
        let meta = StreamMeta::with_even_shards(
            id,
            name,
            retention_hours,
            self.clock.now_millis(),
            shard_count,
        );
        let encoded = serde_json::to_vec(&meta).expect("stream meta serialises");
        let mut batch = self.store.batch();
        batch.put_meta(&self.store, &codec::stream_meta_key(&meta.name), &encoded);
        batch.put_meta(
            &self.store,
            codec::NEXT_STREAM_ID_KEY,
            &next_id.to_be_bytes(),
        );
        // Metadata is always fsynced: it is rare and losing it would orphan records.
        self.store.write(batch, true)?;
        self.next_stream_id = next_id;
        let shards = meta
            .shards
            .iter()
            .map(|shard| {
                Arc::new(ShardState::new(
                    &meta,
                    shard.clone(),
                    shard.starting_seq,
                    0,
                    shard.starting_seq,
                    self.tail_budget.max_bytes_per_shard,
                ))
            })
            .collect();
        self.catalog
            .insert(Arc::new(StreamState::new(meta.clone(), shards)));
        // Before any append can reach the new shards: appends run only while this thread
        // or a producer holds the commit queue's leadership, and this thread holds it.
        self.tail_budget.apply(&self.catalog);
        info!(stream = %meta.name, shards = shard_count, "stream created");
        Ok(meta)
    }

    fn update_stream(
        &mut self,
        name: &str,
        change: &StreamChange,
    ) -> Result<StreamMeta, UpdateStreamError> {
        let stream = self.catalog.get(name)?;
        let meta = change.apply(&stream.meta)?;
        let encoded = serde_json::to_vec(&meta).expect("stream meta serialises");
        let mut batch = self.store.batch();
        batch.put_meta(&self.store, &codec::stream_meta_key(name), &encoded);
        self.store.write(batch, true)?;
        for shard in &stream.shards {
            shard.set_retention_millis(meta.retention_millis());
        }
        self.catalog.insert(Arc::new(StreamState::new(
            meta.clone(),
            stream.shards.clone(),
        )));
        info!(stream = %name, ?change, "stream updated");
        Ok(meta)
    }

    fn delete_stream(&mut self, name: &str) -> Result<(), DeleteStreamError> {
        let stream = self.catalog.get(name)?;
        let id = stream.meta.id;
        let mut batch = self.store.batch();
        batch.delete_meta(&self.store, &codec::stream_meta_key(name));
        for shard in &stream.shards {
            batch.delete_meta(&self.store, &codec::trim_key(id, shard.meta.index));
            batch.delete_shard_records(&self.store, id, shard.meta.index);
        }
        self.store.write(batch, true)?;
        self.catalog.remove(name);
        self.tail_budget.apply(&self.catalog);
        for shard in &stream.shards {
            shard.set_deleted(true);
        }
        info!(stream = %name, "stream deleted");
        Ok(())
    }

    fn trim(&mut self, shard: &ShardState, trim_seq: u64) -> Result<(), StorageError> {
        if shard.is_deleted() || trim_seq <= shard.trim_seq() {
            return Ok(());
        }
        let trim_seq = trim_seq.min(shard.next_seq());
        let mut batch = self.store.batch();
        batch.delete_records_below(&self.store, shard.stream_id, shard.meta.index, trim_seq);
        batch.put_meta(
            &self.store,
            &codec::trim_key(shard.stream_id, shard.meta.index),
            &trim_seq.to_be_bytes(),
        );
        self.store.write(batch, self.sync())?;
        shard.raise_trim_seq(trim_seq);
        Ok(())
    }
}
