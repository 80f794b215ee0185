//! [`Log`]: the façade over streams, shards and records.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Instant;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch};
use tracing::info;

use crate::clock::{Clock, SystemClock};
use crate::codec;
use crate::commit_queue::{CommitOn, CommitQueue, Refused};
use crate::documents::{self, DocumentWrite};
use crate::encoded_append::{EncodedAppend, RoutedRecord};
use crate::error::{
    AppendError, CreateStreamError, DeleteStreamError, InvalidArgument, NotFound, OpenError,
    ReadError, StorageError, UpdateStreamError,
};
use crate::hash_key::{
    hash_key_of_partition_key, hash_keys_of_partition_keys, parse_explicit_hash_key,
};
use crate::latency_histogram::LatencyHistogram;
use crate::limits;
use crate::record::Record;
use crate::shard::{Catalog, ShardState, StreamState};
use crate::store::{RecordsCompression, Store};
use crate::stream::{StreamMeta, STREAM_ID_FIRST};
use crate::stream_change::StreamChange;
use crate::sync::Mutex;
use crate::tail_budget::TailBudget;
use crate::writer::{AppendCommand, Command, WriteCounters, Writer};

/// When an append is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// After the WAL write and its fsync: survives power loss. Group commit shares one
    /// fsync among every producer of a group.
    #[default]
    Fsync,
    /// After the WAL write to the OS: survives `kill -9`, not power loss.
    Buffered,
}

#[derive(Clone)]
pub struct LogConfig {
    pub durability: Durability,
    /// Bytes of recent records kept in memory per shard, at most: 8 MiB by default. A
    /// reader within its shard's share of the head never touches RocksDB.
    pub tail_max_bytes_per_shard: usize,
    /// Bytes of recent records kept in memory by all shards together: 64 MiB by default.
    /// Split evenly across the shards (see `tail_budget.rs`), so 8 shards keep 8 MiB each
    /// and 64 shards 1 MiB each.
    pub tail_max_bytes_total: usize,
    /// Commands the commit queue (the writer's inbox) holds before producers are throttled.
    pub inbox_capacity: usize,
    /// Bytes of records queued for the writer before producers are throttled: 256 MiB.
    pub max_queued_bytes: usize,
    /// Bytes of RocksDB memtables of all shards together: 1 GiB by default, at least
    /// 64 MiB (see `store::DEFAULT_MEMTABLE_BUDGET_BYTES` for why not less).
    pub memtable_budget_bytes: usize,
    /// Whether records' SST files are compressed: not by default.
    pub records_compression: RecordsCompression,
    pub clock: Arc<dyn Clock>,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            durability: Durability::Fsync,
            tail_max_bytes_per_shard: 8 * 1024 * 1024,
            tail_max_bytes_total: 64 * 1024 * 1024,
            inbox_capacity: 16 * 1024,
            max_queued_bytes: 256 * 1024 * 1024,
            memtable_budget_bytes: crate::store::DEFAULT_MEMTABLE_BUDGET_BYTES,
            records_compression: RecordsCompression::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

/// A record to append, before validation and routing.
#[derive(Clone, Debug)]
pub struct AppendRecord {
    pub partition_key: String,
    pub data: Bytes,
    pub explicit_hash_key: Option<String>,
}

/// Where an appended record landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    pub shard_index: u32,
    pub seq: u64,
    pub arrival_millis: u64,
}

/// A handle to one shard, for reading and for waiting on its head.
#[derive(Clone, Debug)]
pub struct ShardHandle {
    state: Arc<ShardState>,
}

impl ShardHandle {
    pub fn stream_name(&self) -> &str {
        &self.state.stream_name
    }

    pub fn stream_id(&self) -> u32 {
        self.state.stream_id
    }

    pub fn shard_id(&self) -> &str {
        &self.state.shard_id
    }

    pub fn shard_index(&self) -> u32 {
        self.state.meta.index
    }

    /// Every record below this sequence number is committed and readable.
    pub fn head_seq_exclusive(&self) -> u64 {
        self.state.head_seq_exclusive()
    }

    /// The oldest sequence number that may still be returned.
    pub fn trim_seq(&self) -> u64 {
        self.state.trim_seq()
    }

    /// A receiver whose value is the head; it changes when records commit and when the
    /// stream is deleted.
    pub fn subscribe_head(&self) -> watch::Receiver<u64> {
        self.state.subscribe_head()
    }

    pub fn is_deleted(&self) -> bool {
        self.state.is_deleted()
    }

    /// Closed shards end at a sequence number; open ones do not.
    pub fn ending_seq(&self) -> Option<u64> {
        self.state.meta.ending_seq_opt
    }
}

/// What a read returned.
#[derive(Clone, Debug, Default)]
pub struct ReadBatch {
    pub records: Vec<Record>,
    /// Where the next read continues: after the last record examined.
    pub next_seq: u64,
    /// The shard's head when the read ran.
    pub head_seq_exclusive: u64,
    /// How far behind the head this batch ends, in milliseconds (0 when caught up).
    pub millis_behind_latest: u64,
}

/// A stream and, per shard, how far its sequence numbers have got.
#[derive(Clone, Debug)]
pub struct StreamDescription {
    pub meta: StreamMeta,
    /// Per shard, in `meta.shards` order: (trim seq, head seq exclusive).
    pub shard_positions: Vec<(u64, u64)>,
}

/// The durable, sharded log. See the crate docs for its invariants.
pub struct Log {
    store: Arc<Store>,
    catalog: Arc<Catalog>,
    queue: Arc<CommitQueue>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    queued_bytes: Arc<AtomicUsize>,
    counters: Arc<WriteCounters>,
    config: LogConfig,
    iterator_secret: [u8; 32],
}

/// Group-commit totals since the log was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// RocksDB writes of records (each one WAL write, and one fsync under `fsync`).
    pub groups_committed: u64,
    pub records_committed: u64,
    /// Of `groups_committed`, those a producer committed on its own thread (buffered
    /// durability, idle log; see [`CommitOn`]).
    pub groups_committed_inline: u64,
    /// Bytes of appends waiting for the writer now (producers are throttled past
    /// `max_queued_bytes`).
    pub queued_bytes: usize,
}

/// An append that is queued or committed, resolving to its records' positions once it
/// is durable (see [`Log::submit_records`]).
///
/// # Cancel safety
/// Dropping it does not withdraw the append: it may still be written.
pub struct PendingAppend {
    reply_rx: oneshot::Receiver<Result<Vec<Appended>, AppendError>>,
}

impl Future for PendingAppend {
    type Output = Result<Vec<Appended>, AppendError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.reply_rx)
            .poll(cx)
            .map(|reply| reply.unwrap_or(Err(AppendError::ShuttingDown)))
    }
}

/// Document writes handed to the log ([`Log::submit_documents`]): resolves once they are
/// applied (and fsynced under `fsync` durability). Dropping it does not withdraw them.
pub enum PendingDocuments {
    /// In the commit queue: the writer answers.
    Queued(oneshot::Receiver<Result<(), StorageError>>),
    /// The queue was full or closing: a direct write on the blocking pool.
    Direct(tokio::task::JoinHandle<Result<(), StorageError>>),
}

impl Future for PendingDocuments {
    type Output = Result<(), StorageError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            PendingDocuments::Queued(reply_rx) => Pin::new(reply_rx).poll(cx).map(|reply| {
                reply.unwrap_or_else(|_| Err(StorageError::Io("the log writer stopped".into())))
            }),
            PendingDocuments::Direct(task) => Pin::new(task).poll(cx).map(|done| {
                done.map_err(|err| StorageError::Io(format!("document write task failed: {err}")))?
            }),
        }
    }
}

impl Log {
    /// Opens (or creates) the log in `dir` and recovers every shard's position: sequence
    /// numbers continue after the last stored record or the trim point, whichever is
    /// higher, so none is ever handed out twice.
    pub fn open(dir: &Path, config: LogConfig) -> Result<Self, OpenError> {
        std::fs::create_dir_all(dir)
            .map_err(|err| OpenError::DataDir(format!("{}: {err}", dir.display())))?;
        crate::store::check_memtable_budget(config.memtable_budget_bytes)
            .map_err(OpenError::Config)?;
        let store = Arc::new(Store::open(
            dir,
            config.memtable_budget_bytes,
            config.records_compression,
        )?);
        let catalog = Arc::new(Catalog::default());
        let next_stream_id = match store.get_meta(codec::NEXT_STREAM_ID_KEY)? {
            Some(bytes) => codec::decode_u32("next_stream_id", &bytes)?,
            None => STREAM_ID_FIRST,
        };
        let iterator_secret = load_or_create_secret(&store)?;
        for (_, value) in store.scan_meta_prefix(codec::STREAM_KEY_PREFIX)? {
            let meta: StreamMeta = serde_json::from_slice(&value)
                .map_err(|err| StorageError::Corruption(format!("stream metadata: {err}")))?;
            let stream = recover_stream(&store, meta, config.tail_max_bytes_per_shard)?;
            catalog.insert(Arc::new(stream));
        }
        let tail_budget = TailBudget {
            total_bytes: config.tail_max_bytes_total,
            max_bytes_per_shard: config.tail_max_bytes_per_shard,
        };
        tail_budget.apply(&catalog);
        info!(dir = %dir.display(), streams = catalog.len(), "log opened");

        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let counters = Arc::new(WriteCounters::default());
        let writer = Writer {
            counters: counters.clone(),
            store: store.clone(),
            catalog: catalog.clone(),
            clock: config.clock.clone(),
            durability: config.durability,
            tail_budget,
            queued_bytes: queued_bytes.clone(),
            next_stream_id,
        };
        let queue = Arc::new(CommitQueue::new(
            writer,
            config.inbox_capacity,
            config.durability == Durability::Buffered,
        ));
        let thread_queue = queue.clone();
        let writer_thread = std::thread::Builder::new()
            .name("eddy-log-writer".into())
            .spawn(move || thread_queue.run_writer_thread())
            .map_err(|err| OpenError::DataDir(format!("cannot start the writer thread: {err}")))?;
        Ok(Self {
            store,
            catalog,
            queue,
            writer_thread: Mutex::new(Some(writer_thread)),
            queued_bytes,
            counters,
            config,
            iterator_secret,
        })
    }

    /// How many group commits and records the writer has written since open.
    pub fn write_stats(&self) -> WriteStats {
        WriteStats {
            groups_committed: self.counters.groups_committed.load(Ordering::Relaxed),
            records_committed: self.counters.records_committed.load(Ordering::Relaxed),
            groups_committed_inline: self
                .counters
                .groups_committed_inline
                .load(Ordering::Relaxed),
            queued_bytes: self.queued_bytes.load(Ordering::Relaxed),
        }
    }

    /// How long group commits' RocksDB writes (and fsyncs) took since open, one count per
    /// write; subtract an earlier snapshot ([`LatencyHistogram::since`]) for an interval.
    pub fn write_latency(&self) -> LatencyHistogram {
        self.counters.write_latency.snapshot()
    }

    /// How long each record committed since open waited from its put's arrival at the log
    /// until its group's write (and fsync) returned, one count per record: the storage's
    /// share of put latency, queueing for the writer included.
    pub fn commit_latency(&self) -> LatencyHistogram {
        self.counters.commit_latency.snapshot()
    }

    pub fn durability(&self) -> Durability {
        self.config.durability
    }

    /// A secret that stays the same across restarts, for signing shard iterators.
    pub fn iterator_secret(&self) -> &[u8; 32] {
        &self.iterator_secret
    }

    pub fn now_millis(&self) -> u64 {
        self.config.clock.now_millis()
    }

    /// Sends a metadata command; these wait for their turn rather than being throttled.
    async fn send_meta<T>(&self, command: Command, reply_rx: oneshot::Receiver<T>) -> Option<T> {
        self.queue.submit_unbounded(command).ok()?;
        reply_rx.await.ok()
    }

    pub async fn create_stream(
        &self,
        name: &str,
        shard_count: u32,
        retention_hours: u32,
    ) -> Result<StreamMeta, CreateStreamError> {
        limits::check_stream_name("name", name)?;
        limits::check_shard_count("shard_count", shard_count)?;
        limits::check_retention_hours("retention_hours", retention_hours)?;
        let (reply_tx, reply_rx) = oneshot::channel();
        let command = Command::CreateStream {
            name: name.to_string(),
            shard_count,
            retention_hours,
            reply_tx,
        };
        self.send_meta(command, reply_rx)
            .await
            .unwrap_or(Err(CreateStreamError::ShuttingDown))
    }

    /// Deletes a stream and all its records.
    pub async fn delete_stream(&self, name: &str) -> Result<(), DeleteStreamError> {
        self.catalog.get(name)?;
        let (reply_tx, reply_rx) = oneshot::channel();
        let command = Command::DeleteStream {
            name: name.to_string(),
            reply_tx,
        };
        self.send_meta(command, reply_rx)
            .await
            .unwrap_or(Err(DeleteStreamError::ShuttingDown))
    }

    /// Changes a stream's retention or tags (see [`StreamChange`]); returns its new
    /// settings. The change is synced before this returns.
    pub async fn update_stream(
        &self,
        name: &str,
        change: StreamChange,
    ) -> Result<StreamMeta, UpdateStreamError> {
        change.apply(&self.catalog.get(name)?.meta)?;
        let (reply_tx, reply_rx) = oneshot::channel();
        let command = Command::UpdateStream {
            name: name.to_string(),
            change,
            reply_tx,
        };
        self.send_meta(command, reply_rx)
            .await
            .unwrap_or(Err(UpdateStreamError::ShuttingDown))
    }

    /// Every stream, by name.
    pub fn list_streams(&self) -> Vec<StreamMeta> {
        self.catalog.all().iter().map(|s| s.meta.clone()).collect()
    }

    pub fn describe_stream(&self, name: &str) -> Result<StreamDescription, NotFound> {
        let stream = self.catalog.get(name)?;
        Ok(StreamDescription {
            meta: stream.meta.clone(),
            shard_positions: stream
                .shards
                .iter()
                .map(|shard| (shard.trim_seq(), shard.head_seq_exclusive()))
                .collect(),
        })
    }

    pub fn shard(&self, stream_name: &str, shard_id: &str) -> Result<ShardHandle, NotFound> {
        let stream = self.catalog.get(stream_name)?;
        let state = stream.shard(shard_id)?.clone();
        Ok(ShardHandle { state })
    }

    /// Every shard of a stream, in index order.
    pub fn shards(&self, stream_name: &str) -> Result<Vec<ShardHandle>, NotFound> {
        let stream = self.catalog.get(stream_name)?;
        Ok(stream
            .shards
            .iter()
            .map(|state| ShardHandle {
                state: state.clone(),
            })
            .collect())
    }

    /// Appends one record. `seq_for_ordering`, when set, must be a sequence number the
    /// record's shard has already handed out; the record then gets a higher one (always
    /// true here: sequence numbers only grow).
    ///
    /// # Cancel safety
    /// Dropping the future does not withdraw the record: it may still be written.
    pub async fn put_record(
        &self,
        stream_name: &str,
        record: AppendRecord,
        seq_for_ordering: Option<u64>,
    ) -> Result<Appended, AppendError> {
        let stream = self.catalog.get(stream_name)?;
        let routed = route(&stream, record, None, limits::MAX_RECORD_DATA_BYTES, None)?;
        if let Some(ordering) = seq_for_ordering {
            let shard = &stream.shards[routed.shard_position];
            if ordering >= shard.next_seq() {
                return Err(InvalidArgument::new(
                    "sequence_number_for_ordering",
                    format!(
                        "{ordering} is not a sequence number of shard `{}` (its next is {})",
                        shard.shard_id,
                        shard.next_seq()
                    ),
                )
                .into());
            }
        }
        let mut appended = self.enqueue(stream, vec![routed])?.await?;
        Ok(appended.pop().expect("one record in, one out"))
    }

    /// Appends one record that eddy itself produces (a failure-destination record that
    /// embeds a failed batch), which may exceed the 1 MiB client limit up to
    /// [`limits::MAX_SYSTEM_RECORD_BYTES`].
    ///
    /// # Cancel safety
    /// Dropping the future does not withdraw the record: it may still be written.
    pub async fn put_system_record(
        &self,
        stream_name: &str,
        record: AppendRecord,
    ) -> Result<Appended, AppendError> {
        let stream = self.catalog.get(stream_name)?;
        let routed = route(&stream, record, None, limits::MAX_SYSTEM_RECORD_BYTES, None)?;
        let mut appended = self.enqueue(stream, vec![routed])?.await?;
        Ok(appended.pop().expect("one record in, one out"))
    }

    /// Appends up to 500 records, each routed to its shard; all of them commit in one
    /// group, so they succeed or fail together. Validation errors name the entry:
    /// `records[3].partition_key`.
    ///
    /// # Cancel safety
    /// Dropping the future does not withdraw the records: they may still be written.
    pub async fn put_records(
        &self,
        stream_name: &str,
        records: Vec<AppendRecord>,
    ) -> Result<Vec<Appended>, AppendError> {
        self.submit_records(stream_name, records)?.await
    }

    /// Like [`Log::put_records`], but returns as soon as the records are queued (or
    /// already committed): appends submitted one after another commit in that order, so
    /// a pipelining producer can submit its next request before awaiting the previous
    /// one's [`PendingAppend`]. Everything [`Log::put_records`] refuses is refused here,
    /// before anything is queued.
    pub fn submit_records(
        &self,
        stream_name: &str,
        records: Vec<AppendRecord>,
    ) -> Result<PendingAppend, AppendError> {
        let (stream, routed) = self.route_records(stream_name, records)?;
        self.enqueue(stream, routed)
    }

    /// Like [`Log::submit_records`] for several requests, in order. Those that pass
    /// validation are queued together, so they commit in one group: one RocksDB write and
    /// one wake-up of each shard's readers for all of them, on the caller's thread or on
    /// the writer thread as `on` allows (see [`CommitOn`]). One outcome per request, in
    /// order; a refused request writes nothing and does not affect the others.
    pub fn submit_records_all(
        &self,
        requests: Vec<(String, Vec<AppendRecord>)>,
        on: CommitOn,
    ) -> Vec<Result<PendingAppend, AppendError>> {
        let mut outcomes = Vec::with_capacity(requests.len());
        let mut commands = Vec::with_capacity(requests.len());
        for (stream_name, records) in requests {
            let admitted = self
                .route_records(&stream_name, records)
                .and_then(|(stream, routed)| self.admit(stream, routed));
            outcomes.push(admitted.map(|(command, pending)| {
                commands.push(command);
                pending
            }));
        }
        let mut submitted = self.queue.submit_all(commands, on).into_iter();
        for outcome in &mut outcomes {
            if outcome.is_ok() {
                if let Err(refused) = submitted.next().expect("one outcome per command") {
                    *outcome = Err(self.refusal(refused));
                }
            }
        }
        outcomes
    }

    /// Checks a PutRecords-style request against every limit and routes its records.
    fn route_records(
        &self,
        stream_name: &str,
        records: Vec<AppendRecord>,
    ) -> Result<(Arc<StreamState>, Vec<RoutedRecord>), AppendError> {
        if records.is_empty() || records.len() > limits::MAX_PUT_RECORDS_ENTRIES {
            return Err(InvalidArgument::new(
                "records",
                format!(
                    "must hold 1 to {} entries, got {}",
                    limits::MAX_PUT_RECORDS_ENTRIES,
                    records.len()
                ),
            )
            .into());
        }
        let total_bytes: usize = records
            .iter()
            .map(|r| r.data.len() + r.partition_key.len())
            .sum();
        if total_bytes > limits::MAX_PUT_RECORDS_BYTES {
            return Err(InvalidArgument::new(
                "records",
                format!(
                    "must hold at most {} bytes of data and partition keys, got {total_bytes}",
                    limits::MAX_PUT_RECORDS_BYTES
                ),
            )
            .into());
        }
        let stream = self.catalog.get(stream_name)?;
        // The keys of records without an explicit hash key, hashed together (MD5 takes
        // eight at a time where the CPU allows), in record order.
        let keys_to_hash: Vec<&str> = records
            .iter()
            .filter(|record| record.explicit_hash_key.is_none())
            .map(|record| record.partition_key.as_str())
            .collect();
        let mut hashed = hash_keys_of_partition_keys(&keys_to_hash).into_iter();
        let routed = records
            .into_iter()
            .enumerate()
            .map(|(index, record)| {
                let hash_of_key = match record.explicit_hash_key {
                    None => hashed.next(),
                    Some(_) => None,
                };
                route(
                    &stream,
                    record,
                    Some(index),
                    limits::MAX_RECORD_DATA_BYTES,
                    hash_of_key,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((stream, routed))
    }

    /// Encodes an append and hands it to the commit queue (which may commit it at once).
    fn enqueue(
        &self,
        stream: Arc<StreamState>,
        records: Vec<RoutedRecord>,
    ) -> Result<PendingAppend, AppendError> {
        let (command, pending) = self.admit(stream, records)?;
        self.queue
            .submit(command)
            .map_err(|refused| self.refusal(refused))?;
        Ok(pending)
    }

    /// Encodes an append and reserves its bytes in the write queue's budget: the command
    /// to queue, and where its outcome will arrive.
    fn admit(
        &self,
        stream: Arc<StreamState>,
        records: Vec<RoutedRecord>,
    ) -> Result<(Command, PendingAppend), AppendError> {
        let arrived = Instant::now();
        let append = EncodedAppend::encode(&stream, records);
        let num_bytes = append.num_bytes;
        let queued = self.queued_bytes.fetch_add(num_bytes, Ordering::AcqRel);
        if queued + num_bytes > self.config.max_queued_bytes && queued > 0 {
            self.queued_bytes.fetch_sub(num_bytes, Ordering::AcqRel);
            return Err(AppendError::Overloaded(format!(
                "the write queue holds {queued} bytes, over its limit of {} bytes; retry later",
                self.config.max_queued_bytes
            )));
        }
        let (reply_tx, reply_rx) = oneshot::channel();
        let command = Command::Append(AppendCommand {
            stream,
            append,
            arrived,
            reply_tx,
        });
        Ok((command, PendingAppend { reply_rx }))
    }

    /// The error for an append the commit queue refused; releases its reserved bytes.
    fn refusal(&self, refused: Refused) -> AppendError {
        let (Refused::Full(command) | Refused::Closed(command)) = &refused;
        let num_bytes = command.inline_bytes().unwrap_or(0);
        self.queued_bytes.fetch_sub(num_bytes, Ordering::AcqRel);
        match refused {
            Refused::Full(_) => AppendError::Overloaded(format!(
                "the write queue is full ({} requests); retry later",
                self.config.inbox_capacity
            )),
            Refused::Closed(_) => AppendError::ShuttingDown,
        }
    }

    /// Reads up to `max_records` records (and about `max_bytes`, but at least one record)
    /// of a shard from `from_seq_inclusive`, from the in-memory tail when it holds them,
    /// otherwise from RocksDB. Trimmed and expired records are skipped. Blocking: call it
    /// from a blocking thread when it may reach RocksDB (see [`Log::read_is_in_memory`]).
    pub fn read(
        &self,
        shard: &ShardHandle,
        from_seq_inclusive: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<ReadBatch, ReadError> {
        let state = &shard.state;
        if state.is_deleted() {
            return Err(NotFound::Stream(state.stream_name.clone()).into());
        }
        let head = state.head_seq_exclusive();
        let now = self.now_millis();
        let cutoff_millis = now.saturating_sub(state.retention_millis());
        let mut pos = from_seq_inclusive.max(state.trim_seq());
        let mut records: Vec<Record> = Vec::new();
        let mut num_bytes = 0usize;
        let full = |records: &Vec<Record>, num_bytes: usize| {
            records.len() >= max_records || num_bytes >= max_bytes
        };
        while pos < head && !full(&records, num_bytes) {
            let served_from_tail = {
                let tail = state.tail.read();
                let in_tail_opt = tail.range(pos, head);
                let served = in_tail_opt.is_some();
                for record in in_tail_opt.into_iter().flatten() {
                    if full(&records, num_bytes) {
                        break;
                    }
                    pos = record.seq + 1;
                    if record.arrival_millis < cutoff_millis {
                        continue;
                    }
                    num_bytes += record.data.len();
                    records.push(record.clone());
                }
                served
            };
            if served_from_tail {
                break;
            }
            let disk_end = state.tail.read().first_seq().min(head);
            self.store.scan_records(
                state.stream_id,
                state.meta.index,
                pos,
                disk_end,
                |seq, value| {
                    pos = seq + 1;
                    if codec::arrival_millis_of_value(value)? >= cutoff_millis {
                        let record = codec::decode_record(seq, value)?;
                        num_bytes += record.data.len();
                        records.push(record);
                    }
                    Ok(!full(&records, num_bytes))
                },
            )?;
            if !full(&records, num_bytes) {
                // Nothing (more) below the tail: trimmed or deleted ranges are skipped.
                pos = pos.max(disk_end);
            }
        }
        let next_seq = pos.max(from_seq_inclusive);
        let millis_behind_latest = match records.last() {
            Some(last) if next_seq < head => now.saturating_sub(last.arrival_millis),
            _ => 0,
        };
        Ok(ReadBatch {
            records,
            next_seq,
            head_seq_exclusive: head,
            millis_behind_latest,
        })
    }

    /// Whether a read from `from_seq_inclusive` is served from memory alone, so it may
    /// run on an async task without blocking.
    pub fn read_is_in_memory(&self, shard: &ShardHandle, from_seq_inclusive: u64) -> bool {
        let state = &shard.state;
        let pos = from_seq_inclusive.max(state.trim_seq());
        pos >= state.head_seq_exclusive() || pos >= state.tail.read().first_seq()
    }

    /// [`Log::read`] without blocking the async runtime: in place when the tail holds the
    /// position, on the blocking pool when it must reach RocksDB.
    pub async fn read_async(
        self: &Arc<Self>,
        shard: &ShardHandle,
        from_seq_inclusive: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<ReadBatch, ReadError> {
        if self.read_is_in_memory(shard, from_seq_inclusive) {
            return self.read(shard, from_seq_inclusive, max_records, max_bytes);
        }
        let (log, shard) = (self.clone(), shard.clone());
        tokio::task::spawn_blocking(move || {
            log.read(&shard, from_seq_inclusive, max_records, max_bytes)
        })
        .await
        .map_err(|err| StorageError::Io(format!("read task failed: {err}")))?
    }

    /// The first sequence number of a shard whose record arrived at or after
    /// `timestamp_millis`, or the head when there is none (as Kinesis's AT_TIMESTAMP).
    /// Blocking: it may probe RocksDB.
    pub fn seq_at_timestamp(
        &self,
        shard: &ShardHandle,
        timestamp_millis: u64,
    ) -> Result<u64, ReadError> {
        seq_at_timestamp_in(&self.store, shard, timestamp_millis)
    }

    /// Drops every record older than its stream's retention: raises each shard's trim
    /// point past them and deletes them with one range tombstone per shard. Returns how
    /// many records were trimmed.
    pub async fn enforce_retention(&self) -> Result<u64, StorageError> {
        let mut trimmed = 0;
        for stream in self.catalog.all() {
            let cutoff = self
                .now_millis()
                .saturating_sub(stream.meta.retention_millis());
            for state in &stream.shards {
                let handle = ShardHandle {
                    state: state.clone(),
                };
                let store = self.store.clone();
                let new_trim = tokio::task::spawn_blocking(move || {
                    seq_at_timestamp_in(&store, &handle, cutoff)
                })
                .await
                .map_err(|err| StorageError::Io(format!("retention task failed: {err}")))?
                .map_err(|err| match err {
                    ReadError::Storage(err) => err,
                    other => StorageError::Io(other.to_string()),
                })?;
                let old_trim = state.trim_seq();
                if new_trim <= old_trim {
                    continue;
                }
                let (reply_tx, reply_rx) = oneshot::channel();
                let command = Command::Trim {
                    shard: state.clone(),
                    trim_seq: new_trim,
                    reply_tx,
                };
                if let Some(result) = self.send_meta(command, reply_rx).await {
                    result?;
                    trimmed += new_trim - old_trim;
                }
            }
        }
        Ok(trimmed)
    }

    /// Applies document writes (definitions and checkpoints of the layers above the log)
    /// atomically. With `sync`, returns after an fsync; without, the write survives
    /// `kill -9` but not power loss. Blocking.
    pub fn write_documents(
        &self,
        writes: &[DocumentWrite],
        sync: bool,
    ) -> Result<(), StorageError> {
        documents::write(&self.store, writes, sync)
    }

    /// Applies document writes atomically in the writer's next group commit, so that
    /// frequent small writes (checkpoints) share the WAL write of the records instead of
    /// each taking a blocking thread and a RocksDB write of their own. Under `fsync`
    /// durability they are fsynced with the group. When the commit queue is full, falls
    /// back to a direct write on the blocking pool.
    ///
    /// # Cancel safety
    /// Dropping the future does not withdraw the writes: they may still be applied.
    pub async fn write_documents_async(
        self: &Arc<Self>,
        writes: Vec<DocumentWrite>,
    ) -> Result<(), StorageError> {
        self.submit_documents(writes).await
    }

    /// Like [`Log::write_documents_async`], but the writes are handed to the writer now,
    /// before the returned future is first polled: a caller can go on and learn the
    /// outcome later (a poller keeps delivering while its checkpoint commits). Must be
    /// called within a Tokio runtime (the fallback runs on its blocking pool).
    pub fn submit_documents(self: &Arc<Self>, writes: Vec<DocumentWrite>) -> PendingDocuments {
        let (reply_tx, reply_rx) = oneshot::channel();
        let command = Command::Documents { writes, reply_tx };
        let rejected = match self.queue.submit(command) {
            Ok(()) => None,
            Err(Refused::Full(command) | Refused::Closed(command)) => Some(command),
        };
        let Some(Command::Documents { writes, .. }) = rejected else {
            return PendingDocuments::Queued(reply_rx);
        };
        let log = self.clone();
        let sync = self.durability() == Durability::Fsync;
        PendingDocuments::Direct(tokio::task::spawn_blocking(move || {
            log.write_documents(&writes, sync)
        }))
    }

    /// One document, if it exists. Blocking.
    pub fn get_document(
        &self,
        namespace: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        documents::get(&self.store, namespace, key)
    }

    /// Every document of a namespace, as (key, value), in key order. Blocking.
    pub fn list_documents(&self, namespace: &str) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        documents::list(&self.store, namespace)
    }

    /// Stops the writer until the returned guard is dropped, so that tests can fill its
    /// queue and observe backpressure. Not for production use.
    #[doc(hidden)]
    pub fn stall_writer_for_tests(&self) -> std::sync::mpsc::Sender<()> {
        let (release_tx, release_rx) = std::sync::mpsc::channel();
        let _ = self.queue.submit_unbounded(Command::Stall { release_rx });
        release_tx
    }

    /// Stops the writer after it has written everything queued, then flushes the WAL to
    /// disk. Appends after this fail with `ShuttingDown`.
    pub fn close(&self) -> Result<(), StorageError> {
        self.queue.close();
        if let Some(thread) = self.writer_thread.lock().take() {
            let _ = thread.join();
        }
        self.store.flush_wal(true)
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

fn seq_at_timestamp_in(
    store: &Store,
    shard: &ShardHandle,
    timestamp_millis: u64,
) -> Result<u64, ReadError> {
    let state = &shard.state;
    let head = state.head_seq_exclusive();
    if let Some(seq) = state.tail.read().seq_at_timestamp(timestamp_millis) {
        return Ok(seq.min(head).max(state.trim_seq()));
    }
    // Arrival times never decrease within a shard, so "the first stored record at or after
    // `seq` arrived at or after the timestamp (or there is none)" is monotone in `seq`:
    // binary search for the lowest such `seq`, each probe one RocksDB seek.
    let (mut low, mut high) = (state.trim_seq(), state.tail.read().first_seq().min(head));
    while low < high {
        let mid = low + (high - low) / 2;
        let mut arrival_opt = None;
        store.scan_records(state.stream_id, state.meta.index, mid, high, |_, value| {
            arrival_opt = Some(codec::arrival_millis_of_value(value)?);
            Ok(false)
        })?;
        match arrival_opt {
            Some(arrival) if arrival < timestamp_millis => low = mid + 1,
            _ => high = mid,
        }
    }
    Ok(low)
}

/// Validates one record and finds its shard. `index_opt` is the entry's position in a
/// PutRecords call, for error messages (`records[3].partition_key`); field names are only
/// formatted when a check fails. `hash_of_key` is the partition key's hash key when the
/// caller has computed it already (many at once); otherwise it is computed here.
fn route(
    stream: &Arc<StreamState>,
    record: AppendRecord,
    index_opt: Option<usize>,
    max_data_bytes: usize,
    hash_of_key: Option<u128>,
) -> Result<RoutedRecord, AppendError> {
    let field = |name: &str| match index_opt {
        Some(index) => format!("records[{index}].{name}"),
        None => name.to_string(),
    };
    // A key of 1..=256 bytes has 1..=256 characters: only longer keys need counting.
    let key_len = record.partition_key.len();
    if key_len == 0 || key_len > limits::MAX_PARTITION_KEY_CHARS {
        limits::check_partition_key(&field("partition_key"), &record.partition_key)?;
    }
    if record.data.len() > max_data_bytes {
        limits::check_record_data(&field("data"), record.data.len(), max_data_bytes)?;
    }
    let hash_key = match &record.explicit_hash_key {
        Some(text) => parse_explicit_hash_key(text).ok_or_else(|| {
            InvalidArgument::new(
                field("explicit_hash_key"),
                format!(
                    "must be a decimal integer from 0 to 2^128-1 without leading zeros, got {:?}",
                    text.chars().take(50).collect::<String>()
                ),
            )
        })?,
        None => hash_of_key.unwrap_or_else(|| hash_key_of_partition_key(&record.partition_key)),
    };
    let shard_position = stream.route(hash_key).ok_or_else(|| {
        AppendError::Storage(StorageError::Corruption(format!(
            "stream `{}` has no open shard for hash key {hash_key}",
            stream.meta.name
        )))
    })?;
    Ok(RoutedRecord {
        shard_position,
        partition_key: record.partition_key,
        data: record.data,
    })
}

fn load_or_create_secret(store: &Store) -> Result<[u8; 32], StorageError> {
    if let Some(bytes) = store.get_meta(codec::ITERATOR_SECRET_KEY)? {
        return bytes
            .try_into()
            .map_err(|_| StorageError::Corruption("iterator secret: expected 32 bytes".into()));
    }
    let mut secret = [0u8; 32];
    getrandom_fill(&mut secret)?;
    let mut batch = store.batch();
    batch.put_meta(store, codec::ITERATOR_SECRET_KEY, &secret);
    store.write(batch, true)?;
    Ok(secret)
}

fn getrandom_fill(out: &mut [u8]) -> Result<(), StorageError> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(out))
        .map_err(|err| StorageError::Io(format!("cannot read /dev/urandom: {err}")))
}

fn recover_stream(
    store: &Store,
    meta: StreamMeta,
    tail_max_bytes: usize,
) -> Result<StreamState, StorageError> {
    let mut shards = Vec::with_capacity(meta.shards.len());
    for shard_meta in &meta.shards {
        let trim_seq = match store.get_meta(&codec::trim_key(meta.id, shard_meta.index))? {
            Some(bytes) => codec::decode_u64("trim point", &bytes)?,
            None => shard_meta.starting_seq,
        };
        let (next_seq, last_arrival) = match store.last_record(meta.id, shard_meta.index)? {
            Some((seq, value)) => (seq + 1, codec::arrival_millis_of_value(&value)?),
            None => (shard_meta.starting_seq, 0),
        };
        let next_seq = next_seq.max(trim_seq);
        shards.push(Arc::new(ShardState::new(
            &meta,
            shard_meta.clone(),
            next_seq,
            last_arrival,
            trim_seq,
            tail_max_bytes,
        )));
    }
    Ok(StreamState::new(meta, shards))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log in `dir` with buffered durability and the default limits.
    fn buffered_log(dir: &Path) -> Log {
        let config = LogConfig {
            durability: Durability::Buffered,
            ..LogConfig::default()
        };
        Log::open(dir, config).unwrap()
    }

    fn record(key: &str, len: usize) -> AppendRecord {
        AppendRecord {
            partition_key: key.to_string(),
            data: Bytes::from(vec![7u8; len]),
            explicit_hash_key: None,
        }
    }

    #[test]
    fn a_memtable_budget_below_the_minimum_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            memtable_budget_bytes: 1 << 20,
            ..LogConfig::default()
        };
        let Err(err) = Log::open(dir.path(), config) else {
            panic!("a 1 MiB memtable budget was accepted")
        };
        assert!(
            err.to_string()
                .contains("`memtable_budget_bytes` must be at least"),
            "{err}"
        );
    }

    /// On an idle buffered log, `CallerIfIdle` commits on the caller's thread before
    /// `submit_records_all` returns; `WriterThread` never does, and its appends still
    /// commit, in order after the earlier ones.
    #[tokio::test]
    async fn a_producer_commits_inline_only_when_it_may() {
        let dir = tempfile::tempdir().unwrap();
        let log = buffered_log(dir.path());
        log.create_stream("s", 1, 24).await.unwrap();
        // The writer thread ran the creation and may still be leading: wait until it has
        // let go, or the submit below would rightly queue instead of committing inline.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !log.queue.is_idle() {
            assert!(
                std::time::Instant::now() < deadline,
                "the writer thread never went idle"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let before = log.write_stats();
        let requests = vec![("s".to_string(), vec![record("a", 1)])];
        let inline = log.submit_records_all(requests, CommitOn::CallerIfIdle);
        let after_inline = log.write_stats();
        assert_eq!(
            after_inline.groups_committed_inline,
            before.groups_committed_inline + 1
        );
        assert_eq!(
            after_inline.groups_committed,
            before.groups_committed + 1,
            "committed already"
        );
        let requests = vec![("s".to_string(), vec![record("b", 1), record("c", 1)])];
        let queued = log.submit_records_all(requests, CommitOn::WriterThread);
        let mut seqs = Vec::new();
        for pending in inline.into_iter().chain(queued) {
            seqs.extend(pending.unwrap().await.unwrap().iter().map(|a| a.seq));
        }
        assert_eq!(seqs, [0, 1, 2]);
        let after = log.write_stats();
        assert_eq!(after.groups_committed, before.groups_committed + 2);
        assert_eq!(
            after.groups_committed_inline, after_inline.groups_committed_inline,
            "the writer thread committed the second group"
        );
    }

    /// Every group commit's write is timed, and every committed record's wait for it,
    /// under fsync (the default) as under buffered durability; an interval counts only its
    /// own writes; a refused put writes nothing and times nothing.
    #[tokio::test]
    async fn group_commit_writes_are_timed() {
        for durability in [Durability::Fsync, Durability::Buffered] {
            let dir = tempfile::tempdir().unwrap();
            let config = LogConfig {
                durability,
                ..LogConfig::default()
            };
            let log = Log::open(dir.path(), config).unwrap();
            log.create_stream("s", 2, 24).await.unwrap();
            let opened = log.write_latency();
            let commits_opened = log.commit_latency();
            let mut slowest_put = std::time::Duration::ZERO;
            for key in ["a", "b", "c"] {
                let started = Instant::now();
                log.put_records("s", vec![record(key, 10), record("z", 20)])
                    .await
                    .unwrap();
                slowest_put = slowest_put.max(started.elapsed());
            }
            let after_puts = log.write_latency();
            let puts = after_puts.since(&opened);
            assert_eq!(
                puts.count(),
                3,
                "{durability:?}: one write per put, each alone"
            );
            assert_eq!(
                after_puts.count() - opened.count(),
                log.write_stats().groups_committed,
                "{durability:?}: every group commit of records is timed"
            );
            assert!(puts.percentile(50.0).unwrap() <= puts.percentile(100.0).unwrap());
            let commits = log.commit_latency().since(&commits_opened);
            assert_eq!(
                commits.count(),
                6,
                "{durability:?}: the commit wait counts each record"
            );
            // A record's commit wait holds its write and lies within its put's own time
            // (a bucket's upper bound is at most 1/8 above the truth, plus 1 µs of rounding).
            assert!(commits.percentile(100.0).unwrap() >= puts.percentile(1.0).unwrap() / 2);
            assert!(
                commits.percentile(100.0).unwrap()
                    <= slowest_put + slowest_put / 8 + std::time::Duration::from_micros(1)
            );
            let refused = log.put_records("s", vec![record("", 1)]).await;
            assert!(refused.is_err());
            assert_eq!(log.write_latency().since(&after_puts).count(), 0);
            assert_eq!(
                log.commit_latency().since(&commits_opened).count(),
                6,
                "{durability:?}: a refused put waited for no commit"
            );
        }
    }

    /// Requests submitted together on an idle buffered log commit in one group, in order;
    /// a refused one fails alone and writes nothing.
    #[tokio::test]
    async fn requests_submitted_together_commit_in_one_group() {
        let dir = tempfile::tempdir().unwrap();
        let log = buffered_log(dir.path());
        log.create_stream("s", 1, 24).await.unwrap();
        let before = log.write_stats().groups_committed;
        let requests = vec![
            ("s".to_string(), vec![record("a", 1), record("b", 2)]),
            ("s".to_string(), vec![record("", 3)]),
            ("missing".to_string(), vec![record("c", 4)]),
            ("s".to_string(), vec![record("d", 5)]),
        ];
        let outcomes = log.submit_records_all(requests, CommitOn::CallerIfIdle);
        assert_eq!(outcomes.len(), 4);
        let mut results = Vec::new();
        for outcome in outcomes {
            results.push(match outcome {
                Ok(pending) => pending.await,
                Err(err) => Err(err),
            });
        }
        let seqs: Vec<u64> = results[0].as_ref().unwrap().iter().map(|a| a.seq).collect();
        assert_eq!(seqs, [0, 1]);
        assert!(
            matches!(&results[1], Err(AppendError::InvalidArgument(e)) if e.to_string().contains("records[0].partition_key")),
            "{:?}",
            results[1]
        );
        assert!(
            matches!(results[2], Err(AppendError::NotFound(_))),
            "{:?}",
            results[2]
        );
        assert_eq!(results[3].as_ref().unwrap()[0].seq, 2);
        assert_eq!(
            log.write_stats().groups_committed,
            before + 1,
            "one group for all"
        );
        let shard = log.shard("s", "shardId-000000000000").unwrap();
        let read = log.read(&shard, 0, 100, 1 << 20).unwrap();
        let sizes: Vec<usize> = read.records.iter().map(|r| r.data.len()).collect();
        assert_eq!(sizes, [1, 2, 5]);
    }

    /// All tails share one memory budget: a new stream shrinks the other streams' tails at
    /// once, deleting it gives the memory back, a reopened log applies it too, and records
    /// past a tail are still read, from RocksDB.
    #[tokio::test]
    async fn tails_share_one_memory_budget() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            durability: Durability::Buffered,
            tail_max_bytes_per_shard: 8 * 1024,
            tail_max_bytes_total: 16 * 1024,
            ..LogConfig::default()
        };
        let twelve = || (0..12).map(|_| record("k", 1000)).collect::<Vec<_>>();
        let oldest_in_memory = |log: &Log| {
            let shard = log.shard("a", "shardId-000000000000").unwrap();
            (0..)
                .find(|&seq| log.read_is_in_memory(&shard, seq))
                .unwrap()
        };
        let log = Log::open(dir.path(), config.clone()).unwrap();
        log.create_stream("a", 1, 24).await.unwrap();
        log.put_records("a", twelve()).await.unwrap();
        // A record counts 1,049 bytes (data, key, 48 of overhead): 7 fit in 8 KiB.
        assert_eq!(oldest_in_memory(&log), 12 - 7);
        log.create_stream("b", 3, 24).await.unwrap();
        // Four shards share 16 KiB: 4 KiB each, 3 records.
        assert_eq!(oldest_in_memory(&log), 12 - 3);
        log.delete_stream("b").await.unwrap();
        log.put_records("a", twelve()).await.unwrap();
        assert_eq!(oldest_in_memory(&log), 24 - 7, "one shard again: 8 KiB");
        let shard = log.shard("a", "shardId-000000000000").unwrap();
        let read = log.read(&shard, 0, 100, 1 << 20).unwrap();
        assert_eq!(read.records.len(), 24);

        log.create_stream("b", 3, 24).await.unwrap();
        drop(log);
        let log = Log::open(dir.path(), config).unwrap();
        log.put_records("a", twelve()).await.unwrap();
        assert_eq!(
            oldest_in_memory(&log),
            36 - 3,
            "the budget holds after reopening"
        );
    }

    /// Every record of every shard of `stream`: (shard index, seq, data).
    fn all_records(log: &Log, stream: &str, shards: u32) -> Vec<(u32, u64, Bytes)> {
        let mut all = Vec::new();
        for index in 0..shards {
            let shard = log
                .shard(stream, &crate::stream::shard_id_of_index(index))
                .unwrap();
            let read = log.read(&shard, 0, 10_000, 1 << 24).unwrap();
            all.extend(read.records.into_iter().map(|r| (index, r.seq, r.data)));
        }
        all
    }

    fn distinct_records(count: usize) -> Vec<AppendRecord> {
        (0..count)
            .map(|n| AppendRecord {
                partition_key: format!("key-{n}"),
                data: Bytes::from(format!("record {n}")),
                explicit_hash_key: None,
            })
            .collect()
    }

    /// A store written before the records families (one `records` family, no others) is
    /// migrated at open: every record reads back the same (from RocksDB: a reopened
    /// log's tails are empty), sequence numbers continue after the old ones, and
    /// `records` is gone. A migration that stopped midway, with half of the copies made,
    /// runs again and completes them without duplicating anything.
    #[tokio::test]
    async fn a_store_with_one_records_family_is_migrated() {
        use crate::store::family_names;
        use crate::store::migration::{rewrite_into_legacy_layout, LeftInFamilies};
        for left in [LeftInFamilies::Nothing, LeftInFamilies::EvenFamilies] {
            let dir = tempfile::tempdir().unwrap();
            let log = buffered_log(dir.path());
            // 70 shards: more than there are families, so some share one.
            log.create_stream("a", 70, 24).await.unwrap();
            log.put_records("a", distinct_records(500)).await.unwrap();
            let before = all_records(&log, "a", 70);
            assert_eq!(before.len(), 500);
            drop(log);

            rewrite_into_legacy_layout(dir.path(), left);
            let families = family_names(dir.path());
            assert!(families.contains(&"records".to_string()));
            assert_eq!(
                families.iter().any(|name| name.starts_with("records/")),
                matches!(left, LeftInFamilies::EvenFamilies),
                "{left:?}"
            );
            let log = buffered_log(dir.path());
            assert!(!family_names(dir.path()).contains(&"records".to_string()));
            assert_eq!(all_records(&log, "a", 70), before, "{left:?}");
            let appended = log.put_records("a", distinct_records(500)).await.unwrap();
            for shard in 0..70 {
                let last_before = before
                    .iter()
                    .filter(|(index, ..)| *index == shard)
                    .map(|(_, seq, _)| *seq)
                    .max();
                let first_after = appended
                    .iter()
                    .filter(|a| a.shard_index == shard)
                    .map(|a| a.seq)
                    .min();
                if let (Some(last_before), Some(first_after)) = (last_before, first_after) {
                    assert_eq!(first_after, last_before + 1, "shard {shard}");
                }
            }
            drop(log);
            let log = buffered_log(dir.path());
            assert_eq!(all_records(&log, "a", 70).len(), 1000);
        }
    }

    /// Deleting a stream deletes every record of every one of its shards and nothing
    /// else, also of a shard that shares a family with one of its shards and whose keys
    /// sort right after them.
    #[tokio::test]
    async fn deleting_a_stream_spares_the_shards_it_shares_families_with() {
        use crate::store::records_family_of;
        let dir = tempfile::tempdir().unwrap();
        let log = buffered_log(dir.path());
        let a = log.create_stream("a", 2, 24).await.unwrap();
        let b = log.create_stream("b", 1, 24).await.unwrap();
        assert_eq!(records_family_of(a.id, 1), records_family_of(b.id, 0));
        assert!(
            a.id < b.id,
            "b's keys sort after a's in the family they share"
        );
        log.put_records("a", distinct_records(20)).await.unwrap();
        log.put_records("b", distinct_records(5)).await.unwrap();
        let a_records = all_records(&log, "a", 2);
        assert!(a_records.iter().any(|(index, ..)| *index == 0));
        assert!(a_records.iter().any(|(index, ..)| *index == 1));
        let b_records = all_records(&log, "b", 1);
        assert_eq!(b_records.len(), 5);
        log.delete_stream("a").await.unwrap();
        for index in 0..2 {
            assert_eq!(log.store.last_record(a.id, index), Ok(None));
            log.store
                .scan_records(a.id, index, 0, 100, |seq, _| {
                    panic!("read {seq} of a deleted stream")
                })
                .unwrap();
        }
        drop(log);
        // Reopened, the tails are empty: `b` is read from RocksDB.
        let log = buffered_log(dir.path());
        assert_eq!(all_records(&log, "b", 1), b_records);
        assert_eq!(log.store.last_record(a.id, 1), Ok(None));
    }

    /// Many producers racing, with small puts and batches, and metadata changes going
    /// through the same writer meanwhile, must each be acknowledged (a put that no one
    /// commits would hang here until the timeout) and leave every shard's sequence
    /// numbers consecutive, every record readable once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_buffered_producers_are_all_committed_in_order() {
        const PRODUCERS: usize = 16;
        const PUTS: usize = 400;
        const BIG_BATCH: usize = 300;
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(buffered_log(dir.path()));
        log.create_stream("s", 3, 24).await.unwrap();
        let mut tasks = Vec::new();
        for producer in 0..PRODUCERS {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                for n in 0..PUTS {
                    let key = format!("{producer}-{n}");
                    let put = async {
                        if n % 5 == 0 {
                            // Coalesced requests, as a PutRecordStream call submits them.
                            let requests = (0..3)
                                .map(|i| ("s".to_string(), vec![record(&format!("{key}-{i}"), 10)]))
                                .collect();
                            let on = if n % 2 == 0 {
                                CommitOn::CallerIfIdle
                            } else {
                                CommitOn::WriterThread
                            };
                            for pending in log.submit_records_all(requests, on) {
                                pending?.await?;
                            }
                            Ok(())
                        } else if n % 7 == 0 {
                            let batch = (0..BIG_BATCH)
                                .map(|i| record(&format!("{key}-{i}"), 1024))
                                .collect();
                            log.put_records("s", batch).await.map(|_| ())
                        } else {
                            log.put_record("s", record(&key, 10), None)
                                .await
                                .map(|_| ())
                        }
                    };
                    tokio::time::timeout(std::time::Duration::from_secs(30), put)
                        .await
                        .expect("a put was never committed")
                        .unwrap();
                }
            }));
        }
        // Writer-thread work racing the producers.
        for n in 0..20 {
            log.create_stream(&format!("other-{n}"), 1, 24)
                .await
                .unwrap();
        }
        for task in tasks {
            task.await.unwrap();
        }
        let records_of_put = |n: usize| match n {
            n if n % 5 == 0 => 3,
            n if n % 7 == 0 => BIG_BATCH,
            _ => 1,
        };
        let expected = PRODUCERS * (0..PUTS).map(records_of_put).sum::<usize>();
        let mut total = 0;
        for shard in log.shards("s").unwrap() {
            let head = shard.head_seq_exclusive();
            let read = log.read(&shard, 0, usize::MAX, usize::MAX).unwrap();
            let seqs: Vec<u64> = read.records.iter().map(|r| r.seq).collect();
            assert_eq!(seqs, (0..head).collect::<Vec<_>>(), "{}", shard.shard_id());
            total += seqs.len();
        }
        assert_eq!(total, expected);
        assert_eq!(log.write_stats().queued_bytes, 0);
        log.close().unwrap();
    }

    /// A record decoded from a request is a slice of the request's buffer; the tail must
    /// hold its own copy, or a 100-byte record would pin the whole buffer and the
    /// tail's byte bound would not bound memory.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_tail_does_not_pin_the_producers_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let log = buffered_log(dir.path());
        log.create_stream("s", 1, 24).await.unwrap();
        let request_buffer = Bytes::from(vec![5u8; 64 * 1024]);
        let record = AppendRecord {
            partition_key: "k".into(),
            data: request_buffer.slice(100..200),
            explicit_hash_key: None,
        };
        log.put_record("s", record, None).await.unwrap();
        let shard = log.shard("s", "shardId-000000000000").unwrap();
        assert!(log.read_is_in_memory(&shard, 0));
        let read = log.read(&shard, 0, 10, 1 << 20).unwrap();
        let data = &read.records[0].data;
        assert_eq!(data.as_ref(), &[5u8; 100][..]);
        let buffer = request_buffer.as_ptr_range();
        assert!(
            !buffer.contains(&data.as_ptr()),
            "the tail's record points into the producer's 64 KiB buffer"
        );
        log.close().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stream_changes_persist_and_a_shorter_retention_hides_old_records() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(crate::ManualClock::new(1_000_000_000));
        let config = || LogConfig {
            durability: Durability::Buffered,
            clock: clock.clone(),
            ..LogConfig::default()
        };
        let log = Log::open(dir.path(), config()).unwrap();
        log.create_stream("s", 1, 24).await.unwrap();
        log.put_record("s", record("k", 10), None).await.unwrap();
        let meta = log
            .update_stream("s", StreamChange::IncreaseRetention { hours: 48 })
            .await
            .unwrap();
        assert_eq!(meta.retention_hours, 48);
        log.update_stream(
            "s",
            StreamChange::AddTags([("team".into(), "a".into())].into()),
        )
        .await
        .unwrap();
        let refused = log
            .update_stream("s", StreamChange::DecreaseRetention { hours: 72 })
            .await;
        assert!(matches!(
            refused,
            Err(UpdateStreamError::InvalidArgument(_))
        ));
        // 30 hours on, the record is inside 48 h of retention but outside 24 h.
        clock.advance_millis(30 * 3_600_000);
        let shard = log.shard("s", "shardId-000000000000").unwrap();
        assert_eq!(log.read(&shard, 0, 10, 1 << 20).unwrap().records.len(), 1);
        log.update_stream("s", StreamChange::DecreaseRetention { hours: 24 })
            .await
            .unwrap();
        assert_eq!(log.read(&shard, 0, 10, 1 << 20).unwrap().records.len(), 0);
        log.close().unwrap();
        drop(log);

        let reopened = Log::open(dir.path(), config()).unwrap();
        let meta = reopened.describe_stream("s").unwrap().meta;
        assert_eq!(meta.retention_hours, 24);
        assert_eq!(meta.tags.get("team").map(String::as_str), Some("a"));
        assert!(matches!(
            reopened
                .update_stream("absent", StreamChange::IncreaseRetention { hours: 48 })
                .await,
            Err(UpdateStreamError::NotFound(_))
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_throttles_and_writes_nothing_for_the_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            max_queued_bytes: 10_000,
            durability: Durability::Buffered,
            ..LogConfig::default()
        };
        let log = Arc::new(Log::open(dir.path(), config).unwrap());
        log.create_stream("s", 1, 24).await.unwrap();
        let release = log.stall_writer_for_tests();
        let mut admitted = Vec::new();
        let mut rejected = 0;
        // Admission is decided before `submit_records` returns, so no timing is involved.
        for _ in 0..10 {
            match log.submit_records("s", vec![record("k", 3_000)]) {
                Ok(pending) => admitted.push(pending),
                Err(AppendError::Overloaded(message)) => {
                    assert!(message.contains("10000"), "{message}");
                    rejected += 1;
                }
                Err(other) => panic!("expected Overloaded while stalled, got {other:?}"),
            }
        }
        // 10_000 bytes hold three 3_001-byte requests; the rest are throttled.
        assert_eq!((admitted.len(), rejected), (3, 7));
        let before = log.write_stats();
        drop(release);
        let mut seqs = Vec::new();
        for pending in admitted {
            seqs.push(pending.await.unwrap()[0].seq);
        }
        seqs.sort_unstable();
        assert_eq!(seqs, vec![0, 1, 2]);
        // The three producers queued behind the stall share one group commit.
        let after = log.write_stats();
        assert_eq!(after.records_committed - before.records_committed, 3);
        assert_eq!(after.groups_committed - before.groups_committed, 1);
        let shard = log.shard("s", "shardId-000000000000").unwrap();
        let batch = log.read(&shard, 0, 100, usize::MAX).unwrap();
        assert_eq!(batch.records.len(), 3, "throttled requests wrote nothing");
    }

    #[tokio::test]
    async fn rejected_batches_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogConfig::default()).unwrap();
        log.create_stream("s", 2, 24).await.unwrap();
        let err = log
            .put_records("s", vec![record("ok", 10), record("", 10)])
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`records[1].partition_key` must be 1 to 256 Unicode characters, got 0"
        );
        for shard in log.shards("s").unwrap() {
            assert_eq!(shard.head_seq_exclusive(), 0);
        }
        let err = log
            .put_records("nope", vec![record("k", 1)])
            .await
            .unwrap_err();
        assert_eq!(err, AppendError::NotFound(NotFound::Stream("nope".into())));
    }

    #[test]
    fn documents_are_namespaced_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let put = |namespace: &'static str, key: &str, value: &str| DocumentWrite::Put {
            namespace,
            key: key.into(),
            value: value.as_bytes().to_vec(),
        };
        {
            let log = Log::open(dir.path(), LogConfig::default()).unwrap();
            log.write_documents(
                &[
                    put("functions", "b", "2"),
                    put("functions", "a", "1"),
                    put("mappings", "a", "x"),
                ],
                true,
            )
            .unwrap();
            log.write_documents(
                &[DocumentWrite::Delete {
                    namespace: "mappings",
                    key: "a".into(),
                }],
                false,
            )
            .unwrap();
        }
        let log = Log::open(dir.path(), LogConfig::default()).unwrap();
        let functions = log.list_documents("functions").unwrap();
        assert_eq!(
            functions,
            vec![("a".into(), b"1".to_vec()), ("b".into(), b"2".to_vec())]
        );
        assert!(log.list_documents("mappings").unwrap().is_empty());
        assert_eq!(
            log.get_document("functions", "b").unwrap(),
            Some(b"2".to_vec())
        );
        assert_eq!(log.get_document("functions", "c").unwrap(), None);
    }

    #[tokio::test]
    async fn at_timestamp_finds_the_first_record_at_or_after() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(crate::ManualClock::new(1_000_000));
        let config = LogConfig {
            clock: clock.clone(),
            tail_max_bytes_per_shard: 0, // everything from RocksDB
            ..LogConfig::default()
        };
        let log = Log::open(dir.path(), config).unwrap();
        log.create_stream("s", 1, 24).await.unwrap();
        for _ in 0..10 {
            log.put_records("s", vec![record("k", 1), record("k", 1)])
                .await
                .unwrap();
            clock.advance_millis(100);
        }
        let shard = log.shard("s", "shardId-000000000000").unwrap();
        // Records 2k and 2k+1 arrived at 1_000_000 + 100k.
        assert_eq!(log.seq_at_timestamp(&shard, 0).unwrap(), 0);
        assert_eq!(log.seq_at_timestamp(&shard, 1_000_000).unwrap(), 0);
        assert_eq!(log.seq_at_timestamp(&shard, 1_000_001).unwrap(), 2);
        assert_eq!(log.seq_at_timestamp(&shard, 1_000_500).unwrap(), 10);
        assert_eq!(log.seq_at_timestamp(&shard, 1_000_900).unwrap(), 18);
        assert_eq!(
            log.seq_at_timestamp(&shard, 9_000_000).unwrap(),
            20,
            "the head"
        );
    }
}
