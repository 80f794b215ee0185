//! The ceiling: raw in-process RocksDB `WriteBatch` throughput for the same records (the
//! same payloads and partition keys, see [`crate::producer_records`]), with eddy's
//! RocksDB options and encoding, the same sync mode, the same concurrency and a data dir
//! on the same disk.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eddy_shards::codec;
use eddy_shards::store::{
    self, db_options_for, family_descriptors, records_family_name, records_family_of, DbOptions,
};
use rocksdb::{WriteBatch, WriteOptions, DB};

use crate::producer_records::{self, ProducerRecords};

pub struct CeilingResult {
    pub records: u64,
    pub elapsed: Duration,
}

pub fn raw_rocksdb_put(
    data_root: &Path,
    threads: usize,
    record_size: usize,
    batch_size: usize,
    shards: u32,
    sync: bool,
    duration: Duration,
) -> anyhow::Result<CeilingResult> {
    let dir = tempfile::tempdir_in(data_root)?;
    let db = Arc::new(open_like_eddy(dir.path(), &db_options_for(dir.path()))?);
    let load = WriteLoad {
        threads,
        record_size,
        batch_size,
        shards,
        sync,
        duration,
        entries: Entries::PerRecord,
    };
    write_records(&db, &load, records_family)
}

/// The records family eddy puts shard `shard` of the stream with id 1 in.
pub fn records_family(shard: u32) -> String {
    records_family_name(records_family_of(1, shard))
}

/// A database at `dir` with eddy's column families (`meta` and the records families).
pub fn open_like_eddy(dir: &Path, options: &DbOptions) -> anyhow::Result<DB> {
    Ok(DB::open_cf_descriptors(
        &options.db,
        dir,
        family_descriptors(options),
    )?)
}

/// What the raw RocksDB writers do: `threads` threads write batches of `batch_size`
/// records of `record_size` bytes, spread round-robin over `shards` shards, for `duration`.
pub struct WriteLoad {
    pub threads: usize,
    pub record_size: usize,
    pub batch_size: usize,
    pub shards: u32,
    pub sync: bool,
    pub duration: Duration,
    pub entries: Entries,
}

/// How records become RocksDB entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entries {
    /// One entry per record, keyed by its sequence number: eddy's layout.
    PerRecord,
    /// One entry per shard per batch: the shard's records of the batch, each value
    /// prefixed by its length (u32, little-endian), keyed by the first one's sequence
    /// number. An experiment on what such a layout would save (`eddy-bench entries`).
    PerShardPerBatch,
}

/// Runs `load` against `db` with the producers' records and eddy's encoding, shard `s`'s
/// records going to the column family `family_of(s)`.
pub fn write_records(
    db: &Arc<DB>,
    load: &WriteLoad,
    family_of: fn(u32) -> String,
) -> anyhow::Result<CeilingResult> {
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let seq = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let handles: Vec<_> = (0..load.threads)
        .map(|_| {
            let (db, stop, written, seq) = (db.clone(), stop.clone(), written.clone(), seq.clone());
            let (record_size, batch_size, shards, sync, entries) = (
                load.record_size,
                load.batch_size,
                load.shards,
                load.sync,
                load.entries,
            );
            std::thread::spawn(move || -> anyhow::Result<()> {
                let families: Vec<_> = (0..shards)
                    .map(|shard| {
                        let name = family_of(shard);
                        db.cf_handle(&name)
                            .ok_or_else(|| anyhow::anyhow!("no column family {name}"))
                    })
                    .collect::<anyhow::Result<_>>()?;
                let mut write_opts = WriteOptions::default();
                write_opts.set_sync(sync);
                let mut value = Vec::new();
                let mut records_to_put = ProducerRecords::new(record_size);
                // Allocated once per batch, as eddy's writer does.
                let batch_bytes = batch_size
                    * store::record_entry_bytes(
                        codec::RECORD_VALUE_HEADER_LEN + producer_records::KEY_BYTES + record_size,
                    );
                // Per shard, under `Entries::PerShardPerBatch`: its first sequence number in
                // the batch and its records so far.
                let mut chunks: Vec<(Option<u64>, Vec<u8>)> =
                    (0..shards).map(|_| (None, Vec::new())).collect();
                while !stop.load(Ordering::Relaxed) {
                    let mut batch = WriteBatch::with_capacity_bytes(batch_bytes);
                    let first = seq.fetch_add(batch_size as u64, Ordering::Relaxed);
                    for n in first..first + batch_size as u64 {
                        let shard = (n % u64::from(shards)) as u32;
                        let data = records_to_put.next_data();
                        let key = records_to_put.next_key();
                        codec::encode_record_value(&mut value, 1_700_000_000_000, key, &data);
                        match entries {
                            Entries::PerRecord => batch.put_cf(
                                families[shard as usize],
                                codec::record_key(1, shard, n),
                                &value,
                            ),
                            Entries::PerShardPerBatch => {
                                let (first_seq, chunk) = &mut chunks[shard as usize];
                                first_seq.get_or_insert(n);
                                chunk.extend_from_slice(&(value.len() as u32).to_le_bytes());
                                chunk.extend_from_slice(&value);
                            }
                        }
                    }
                    for (shard, (first_seq, chunk)) in chunks.iter_mut().enumerate() {
                        if let Some(first_seq) = first_seq.take() {
                            batch.put_cf(
                                families[shard],
                                codec::record_key(1, shard as u32, first_seq),
                                &chunk,
                            );
                            chunk.clear();
                        }
                    }
                    db.write_opt(batch, &write_opts)?;
                    written.fetch_add(batch_size as u64, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    std::thread::sleep(load.duration);
    stop.store(true, Ordering::Relaxed);
    for handle in handles {
        handle.join().expect("ceiling thread")?;
    }
    Ok(CeilingResult {
        records: written.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    })
}

/// How many 4 KiB write + fdatasync pairs one writer completes per second in `dir`: the
/// rate a log without group commit could acknowledge durable writes at.
pub fn fsync_rate(dir: &std::path::Path, duration: Duration) -> anyhow::Result<f64> {
    Ok(fsync_probe(dir, duration)?.per_second)
}

/// One writer's 4 KiB write + fdatasync pairs in `dir` for `duration`.
pub struct FsyncProbe {
    pub per_second: f64,
    /// Microseconds each pair took.
    pub micros: hdrhistogram::Histogram<u64>,
}

impl FsyncProbe {
    /// Percentile `q` (0–100) of one pair, in milliseconds.
    pub fn millis_at(&self, q: f64) -> f64 {
        self.micros.value_at_quantile(q / 100.0) as f64 / 1000.0
    }
}

/// Writes and fdatasyncs 4 KiB at a time into a file in `dir` for `duration`, timing
/// each pair.
pub fn fsync_probe(dir: &std::path::Path, duration: Duration) -> anyhow::Result<FsyncProbe> {
    use std::io::Write;
    let mut file = std::fs::File::create(dir.join("fsync-probe"))?;
    let block = [0x5au8; 4096];
    let mut micros = hdrhistogram::Histogram::<u64>::new(3)?;
    let started = Instant::now();
    while started.elapsed() < duration {
        let pair_started = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        micros.record(pair_started.elapsed().as_micros() as u64)?;
    }
    Ok(FsyncProbe {
        per_second: micros.len() as f64 / started.elapsed().as_secs_f64(),
        micros,
    })
}
