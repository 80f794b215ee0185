//! The one module that touches RocksDB. No `rocksdb::` type leaves it.
//!
//! Column families:
//! - `records/0` … `records/63`: record keys → record values (see [`crate::codec`]).
//!   Shard `i` of the stream with id `s` lives in `records/{(s + i) mod 64}`, so the
//!   shards of a stream of up to 64 shards each have a family of their own, and more
//!   shards (or streams) share them evenly. Within a shard keys only grow, so a flushed
//!   file of a family with one shard never overlaps the files already below it and
//!   compaction moves files down instead of rewriting them. With every shard in one
//!   family (the layout before), each flushed file spanned every shard's keys and
//!   compaction rewrote 2.2–2.6× the flushed bytes; a family per shard sustains 1.5–2.4×
//!   the records/s (`eddy-bench layout`).
//! - `meta`: streams, trim points, counters and documents.
//!
//! Why a fixed set of families and not one per shard created with its stream: RocksDB
//! rewrites and fsyncs its OPTIONS file, which lists every family's options (5.7 KB
//! each), whenever a family is created or dropped, so creating families one by one costs
//! O(n²): 1,024 of them took 219 s here, the last 256 at 408 ms each, against 1.1 s for
//! all 1,024 at open (`eddy-bench family-create --count 1024`). The 64 families are
//! created together when the store is first opened, in one OPTIONS write, and are never
//! dropped; a deleted stream's records go with one range tombstone per shard.
//!
//! `atomic_flush` is on, so a lightly written family never pins old WAL files and after a
//! power loss every family recovers to the same point in time (a family flushed past the
//! surviving WAL would otherwise hold records whose sequence numbers the others forget).
//! Only families with unflushed writes are flushed.
//!
//! Flushes and compactions write their files with direct I/O (`O_DIRECT`) where the data
//! dir's file system supports it (see [`direct_io`]); the WAL stays buffered.
//!
//! Records families store records uncompressed unless the server is configured for LZ4
//! (see [`RecordsCompression`]).
//!
//! A store written by an earlier eddy (one `records` family) is migrated at open (see
//! [`migration`]).

mod compression;
pub mod direct_io;
pub(crate) mod migration;

pub use compression::RecordsCompression;

use std::path::Path;

use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DBRecoveryMode, Options, ReadOptions, WriteBatch,
    WriteOptions, DB,
};

use crate::codec::{self, RECORD_KEY_LEN};
use crate::error::StorageError;
use crate::stream::StreamId;

const META_FAMILY: &str = "meta";
/// The one records family of stores written before the records families.
pub const LEGACY_RECORDS_FAMILY: &str = "records";
/// How many records families there are. Part of the on-disk format: a shard's family
/// follows from its stream id and index, so changing this needs a migration.
pub const RECORDS_FAMILIES: u32 = 64;

/// Memtable size of each records family: 16 MiB, so that a few busy shards hold about
/// the 64 MiB of memtables the one `records` family of the layout before did. With
/// 64 MiB per family, 4 shards of W2 (8 producers, 1 KiB × 500) peaked at 592–629 MiB
/// RSS against 252–359 with 16 MiB, at the same records/s (ratios 0.99–1.03, 5-s runs).
/// Up to `RECORDS_MAX_WRITE_BUFFERS` of them per family are held while flushes catch up.
const RECORDS_WRITE_BUFFER_BYTES: usize = 16 * 1024 * 1024;
const RECORDS_MAX_WRITE_BUFFERS: i32 = 4;
/// All memtables of all families together, by default (`LogConfig::memtable_budget_bytes`
/// sets it): 1 GiB. Past it RocksDB flushes every written family at once (atomic flush
/// being on), so memory does not grow with the number of busy families; with few busy
/// families the per-family limits above bind first (4 shards: 4 × 4 × 16 MiB at most).
/// Many busy families flush at budget / families each, and small flushes are slow: with
/// 64 busy shards (W3, 64 producers, 1 KiB × 100, buffered, 6-s runs) 256 MiB flushed
/// 1,215–1,465 files of 1.2–1.3 MB on average, stalled writes all along (three immutable
/// memtables per family) and took 216k–250k rec/s at 660–680 MiB peak RSS; 512 MiB,
/// 3.6–3.7 MB files, fewer stalls, 234k–287k at 1.0 GB; 1 GiB, 6.4–8.4 MB files, no
/// stall, 293k–318k at 1.3 GB. At 128 MiB the same load took 27k rec/s.
pub const DEFAULT_MEMTABLE_BUDGET_BYTES: usize = 1024 * 1024 * 1024;
/// The smallest budget `Log::open` accepts: one full memtable for each of four families.
pub const MIN_MEMTABLE_BUDGET_BYTES: usize = 64 * 1024 * 1024;

/// The one check of a memtable budget, for `Log::open` and for configuration readers that
/// want to refuse it before opening anything.
pub fn check_memtable_budget(bytes: usize) -> Result<(), String> {
    if bytes < MIN_MEMTABLE_BUDGET_BYTES {
        return Err(format!(
            "`memtable_budget_bytes` must be at least {MIN_MEMTABLE_BUDGET_BYTES} (64 MiB), got {bytes}"
        ));
    }
    Ok(())
}
/// Obsolete WAL files kept to be overwritten by later WALs instead of creating new ones.
/// A recycled file's blocks are allocated and its size already covers every write, so the
/// fdatasync of each fsync commit writes data only: it no longer updates the inode
/// (RocksDB's own description). On ext4 an inode update means a journal commit, which can
/// wait for the pages of a memtable flush being written at the same time; that is the
/// likely reason for what was measured: without it, under fsync at 60k single-record
/// puts/s, the run the first flush fell into had a put → handler p99 of 8–17 ms against
/// 2.0–2.8 ms with it (`eddy-bench e2e --durability fsync --rate 60000 --seconds 2
/// --repeat 5`, 4 invocations each; README, "Recycled WAL files"). RocksDB reads a
/// recycled file's stale tail as the end of the log (its records carry the old log
/// number), with point-in-time recovery.
const RECYCLED_WAL_FILES: usize = 4;
/// Bytes of a record key that name its shard: `stream_id u32 | shard_index u32`.
const SHARD_PREFIX_LEN: usize = 8;
/// A RocksDB write batch's header: sequence number (8 bytes) and count (4).
const WRITE_BATCH_HEADER_BYTES: usize = 12;

/// The bytes a record whose value is `value_len` bytes long takes in a write batch, at
/// most: its type tag, column family id and both lengths (varints of up to 5 bytes), its
/// key and its value.
pub fn record_entry_bytes(value_len: usize) -> usize {
    1 + 5 + 5 + codec::RECORD_KEY_LEN + 5 + value_len
}

/// The RocksDB options eddy uses, shared with the raw-RocksDB ceiling in the benchmarks
/// so that both measure the same engine configuration.
pub struct DbOptions {
    pub db: Options,
    pub meta: Options,
    /// Options of every records family.
    pub records: Options,
}

/// eddy's RocksDB options, except for direct I/O, which depends on the store's directory
/// ([`db_options_for`]).
pub fn db_options() -> DbOptions {
    let mut db = Options::default();
    db.create_if_missing(true);
    db.create_missing_column_families(true);
    db.set_atomic_flush(true);
    db.set_wal_recovery_mode(DBRecoveryMode::PointInTime);
    db.set_max_background_jobs(2);
    db.set_max_total_wal_size(512 * 1024 * 1024);
    db.set_db_write_buffer_size(DEFAULT_MEMTABLE_BUDGET_BYTES);
    db.set_keep_log_file_num(4);
    db.set_bytes_per_sync(1024 * 1024);
    db.set_recycle_log_file_num(RECYCLED_WAL_FILES);

    let mut records = Options::default();
    records.set_write_buffer_size(RECORDS_WRITE_BUFFER_BYTES);
    records.set_max_write_buffer_number(RECORDS_MAX_WRITE_BUFFERS);
    records.set_compression_type(RecordsCompression::default().rocksdb_type());
    // Within a shard (the key's first 8 bytes) keys only grow, so the memtable can insert
    // each one next to the last of its shard instead of searching the skip list from the
    // top. The option has no setter of its own, only its string form.
    let records = records
        .get_options_from_string(format!(
            "memtable_insert_with_hint_prefix_extractor=rocksdb.FixedPrefix.{SHARD_PREFIX_LEN}"
        ))
        .expect("a valid options string");
    DbOptions {
        db,
        meta: Options::default(),
        records,
    }
}

/// [`db_options`] for a store in `dir`: with direct I/O for flushes and compactions when
/// `dir`'s file system takes `O_DIRECT` writes ([`direct_io::supported`]).
pub fn db_options_for(dir: &Path) -> DbOptions {
    let mut options = db_options();
    match direct_io::supported(dir) {
        Ok(()) => options.db.set_use_direct_io_for_flush_and_compaction(true),
        Err(reason) => tracing::info!(
            dir = %dir.display(),
            %reason,
            "flushes and compactions use buffered I/O: the data dir does not take O_DIRECT writes"
        ),
    }
    options
}

/// Which records family holds the records of a shard.
pub fn records_family_of(stream_id: StreamId, shard_index: u32) -> u32 {
    stream_id.wrapping_add(shard_index) % RECORDS_FAMILIES
}

/// The name of records family `family` (`0..RECORDS_FAMILIES`).
pub fn records_family_name(family: u32) -> String {
    format!("records/{family}")
}

/// Every column family of a new store, with its options.
pub fn family_descriptors(options: &DbOptions) -> Vec<ColumnFamilyDescriptor> {
    std::iter::once(ColumnFamilyDescriptor::new(
        META_FAMILY,
        options.meta.clone(),
    ))
    .chain((0..RECORDS_FAMILIES).map(|family| {
        ColumnFamilyDescriptor::new(records_family_name(family), options.records.clone())
    }))
    .collect()
}

/// A key and its value, as read from a column family.
pub(crate) type KeyValue = (Vec<u8>, Vec<u8>);

pub(crate) struct Store {
    db: DB,
    /// `records_family_name(i)` at index `i`, so that lookups do not format.
    records_family_names: Vec<String>,
}

fn io(err: rocksdb::Error) -> StorageError {
    match err.kind() {
        rocksdb::ErrorKind::Corruption => StorageError::Corruption(err.into_string()),
        _ => StorageError::Io(err.into_string()),
    }
}

/// Writes collected for one atomic RocksDB write.
pub(crate) struct StoreBatch<'a> {
    inner: WriteBatch,
    /// The records families used so far, by number.
    families: [Option<&'a ColumnFamily>; RECORDS_FAMILIES as usize],
}

impl Store {
    /// Opens (or creates) the store at `path`, migrating a store of the layout with one
    /// `records` family. All memtables together hold at most `memtable_budget_bytes`.
    pub fn open(
        path: &Path,
        memtable_budget_bytes: usize,
        records_compression: RecordsCompression,
    ) -> Result<Self, StorageError> {
        let mut options = db_options_for(path);
        options.db.set_db_write_buffer_size(memtable_budget_bytes);
        options
            .records
            .set_compression_type(records_compression.rocksdb_type());
        let mut descriptors = family_descriptors(&options);
        if path.join("CURRENT").exists() {
            for name in DB::list_cf(&options.db, path).map_err(io)? {
                if descriptors.iter().any(|known| known.name() == name) {
                    continue;
                }
                // `default`, the legacy `records` or a family of a later eddy: RocksDB
                // opens a store only with every family it has.
                let family_options = if name == LEGACY_RECORDS_FAMILY {
                    options.records.clone()
                } else {
                    Options::default()
                };
                descriptors.push(ColumnFamilyDescriptor::new(name, family_options));
            }
        }
        let db = DB::open_cf_descriptors(&options.db, path, descriptors).map_err(io)?;
        let mut store = Self {
            db,
            records_family_names: (0..RECORDS_FAMILIES).map(records_family_name).collect(),
        };
        if store.db.cf_handle(LEGACY_RECORDS_FAMILY).is_some() {
            migration::move_legacy_records(&mut store)?;
        }
        Ok(store)
    }

    fn meta(&self) -> &ColumnFamily {
        self.db
            .cf_handle(META_FAMILY)
            .expect("meta column family is created at open")
    }

    fn records(&self, stream_id: StreamId, shard_index: u32) -> &ColumnFamily {
        self.records_family(records_family_of(stream_id, shard_index))
    }

    fn records_family(&self, family: u32) -> &ColumnFamily {
        self.db
            .cf_handle(&self.records_family_names[family as usize])
            .expect("records column families are created at open")
    }

    pub fn batch(&self) -> StoreBatch<'_> {
        self.batch_with_capacity(0)
    }

    /// A batch with room for `bytes` of encoded writes (see [`record_entry_bytes`]),
    /// allocated at once. A group commit's batch is megabytes; grown by doubling, it
    /// would be copied about once more in full and fault in fresh pages on the way.
    pub fn batch_with_capacity(&self, bytes: usize) -> StoreBatch<'_> {
        StoreBatch {
            inner: if bytes == 0 {
                WriteBatch::default()
            } else {
                WriteBatch::with_capacity_bytes(WRITE_BATCH_HEADER_BYTES + bytes)
            },
            families: [None; RECORDS_FAMILIES as usize],
        }
    }

    /// One atomic write. With `sync`, returns after the WAL is fsynced.
    pub fn write(&self, batch: StoreBatch<'_>, sync: bool) -> Result<(), StorageError> {
        let mut write_opts = WriteOptions::default();
        write_opts.set_sync(sync);
        self.db.write_opt(batch.inner, &write_opts).map_err(io)
    }

    /// Flushes every family's memtable into SST files (tests look at the files).
    #[cfg(test)]
    fn flush_all(&self) {
        for family in 0..RECORDS_FAMILIES {
            self.db.flush_cf(self.records_family(family)).unwrap();
        }
    }

    /// Flushes the WAL to the OS and, with `sync`, to the disk.
    pub fn flush_wal(&self, sync: bool) -> Result<(), StorageError> {
        self.db.flush_wal(sync).map_err(io)
    }

    pub fn get_meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.db.get_cf(self.meta(), key).map_err(io)
    }

    /// Every `meta` entry whose key starts with `prefix`, in key order.
    pub fn scan_meta_prefix(&self, prefix: &[u8]) -> Result<Vec<KeyValue>, StorageError> {
        let mut upper = prefix.to_vec();
        // Prefixes used here end in an ASCII byte < 0xff, so incrementing it is an exact
        // exclusive upper bound.
        *upper.last_mut().expect("non-empty prefix") += 1;
        let mut read_opts = ReadOptions::default();
        read_opts.set_iterate_upper_bound(upper);
        let mut iter = self.db.raw_iterator_cf_opt(self.meta(), read_opts);
        iter.seek(prefix);
        let mut entries = Vec::new();
        while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
            entries.push((key.to_vec(), value.to_vec()));
            iter.next();
        }
        iter.status().map_err(io)?;
        Ok(entries)
    }

    /// The highest stored record of a shard: its sequence number and value.
    pub fn last_record(
        &self,
        stream_id: StreamId,
        shard_index: u32,
    ) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
        let mut read_opts = ReadOptions::default();
        read_opts.set_iterate_lower_bound(codec::record_key(stream_id, shard_index, 0).to_vec());
        let mut iter = self
            .db
            .raw_iterator_cf_opt(self.records(stream_id, shard_index), read_opts);
        iter.seek_for_prev(codec::record_key(stream_id, shard_index, u64::MAX));
        let found = match (iter.key(), iter.value()) {
            (Some(key), Some(value))
                if key[..SHARD_PREFIX_LEN]
                    == codec::record_key(stream_id, shard_index, 0)[..SHARD_PREFIX_LEN] =>
            {
                let seq = codec::seq_of_record_key(key).ok_or_else(|| {
                    StorageError::Corruption("record key of the wrong length".into())
                })?;
                Some((seq, value.to_vec()))
            }
            _ => None,
        };
        iter.status().map_err(io)?;
        Ok(found)
    }

    /// Visits the records of one shard in `[from_seq_inclusive, to_seq_exclusive)` in
    /// order, until `visit` returns `false`.
    pub fn scan_records(
        &self,
        stream_id: StreamId,
        shard_index: u32,
        from_seq_inclusive: u64,
        to_seq_exclusive: u64,
        mut visit: impl FnMut(u64, &[u8]) -> Result<bool, StorageError>,
    ) -> Result<(), StorageError> {
        if from_seq_inclusive >= to_seq_exclusive {
            return Ok(());
        }
        let mut read_opts = ReadOptions::default();
        read_opts.set_iterate_upper_bound(
            codec::record_key(stream_id, shard_index, to_seq_exclusive).to_vec(),
        );
        let mut iter = self
            .db
            .raw_iterator_cf_opt(self.records(stream_id, shard_index), read_opts);
        iter.seek(codec::record_key(
            stream_id,
            shard_index,
            from_seq_inclusive,
        ));
        while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
            if key.len() != RECORD_KEY_LEN {
                return Err(StorageError::Corruption(
                    "record key of the wrong length".into(),
                ));
            }
            let seq = codec::seq_of_record_key(key).expect("length checked");
            if !visit(seq, value)? {
                return Ok(());
            }
            iter.next();
        }
        iter.status().map_err(io)
    }
}

impl<'a> StoreBatch<'a> {
    /// Records family `family`, looked up once per batch.
    fn records_family(&mut self, store: &'a Store, family: u32) -> &'a ColumnFamily {
        self.families[family as usize].get_or_insert_with(|| store.records_family(family))
    }

    /// Adds record `seq` of a shard to the shard's family.
    pub fn put_record(
        &mut self,
        store: &'a Store,
        stream_id: StreamId,
        shard_index: u32,
        seq: u64,
        value: &[u8],
    ) {
        let family = self.records_family(store, records_family_of(stream_id, shard_index));
        let key = codec::record_key(stream_id, shard_index, seq);
        self.inner.put_cf(family, key, value);
    }

    pub fn put_meta(&mut self, store: &Store, key: &[u8], value: &[u8]) {
        self.inner.put_cf(store.meta(), key, value);
    }

    pub fn delete_meta(&mut self, store: &Store, key: &[u8]) {
        self.inner.delete_cf(store.meta(), key);
    }

    /// Deletes the records of one shard below `to_seq_exclusive`, as one range tombstone.
    pub fn delete_records_below(
        &mut self,
        store: &'a Store,
        stream_id: StreamId,
        shard_index: u32,
        to_seq_exclusive: u64,
    ) {
        let to = codec::record_key(stream_id, shard_index, to_seq_exclusive);
        self.delete_records(store, stream_id, shard_index, &to);
    }

    /// Deletes every record of one shard, as one range tombstone.
    pub fn delete_shard_records(
        &mut self,
        store: &'a Store,
        stream_id: StreamId,
        shard_index: u32,
    ) {
        // Past every key of the shard (a key sorts after the shorter keys it starts with)
        // and before every key of the next: the 8-byte prefix plus one. Stream ids stop
        // below u32::MAX (see the writer's create_stream), so it does not overflow.
        let first_key = codec::record_key(stream_id, shard_index, 0);
        let prefix: [u8; SHARD_PREFIX_LEN] = first_key[..SHARD_PREFIX_LEN]
            .try_into()
            .expect("a record key starts with its shard");
        let past_prefix = (u64::from_be_bytes(prefix) + 1).to_be_bytes();
        self.delete_records(store, stream_id, shard_index, &past_prefix);
    }

    fn delete_records(
        &mut self,
        store: &'a Store,
        stream_id: StreamId,
        shard_index: u32,
        to: &[u8],
    ) {
        let family = self.records_family(store, records_family_of(stream_id, shard_index));
        let from = codec::record_key(stream_id, shard_index, 0);
        self.inner.delete_range_cf(family, &from[..], to);
    }

    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The batch's encoded size in bytes.
    #[cfg(test)]
    pub(crate) fn size_in_bytes(&self) -> usize {
        self.inner.size_in_bytes()
    }
}

/// Test support: the names of the column families of the store at `path`.
#[cfg(test)]
pub(crate) fn family_names(path: &Path) -> Vec<String> {
    let mut names = DB::list_cf(&Options::default(), path).unwrap();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shards_of_a_stream_get_families_of_their_own_up_to_64() {
        for stream_id in [1, 2, 63, 64, 1000, u32::MAX - 1] {
            let families: std::collections::HashSet<u32> = (0..RECORDS_FAMILIES)
                .map(|shard| records_family_of(stream_id, shard))
                .collect();
            assert_eq!(
                families.len(),
                RECORDS_FAMILIES as usize,
                "stream {stream_id}"
            );
            assert!(families.iter().all(|&family| family < RECORDS_FAMILIES));
        }
        // Past 64 shards they share, evenly.
        assert_eq!(records_family_of(5, 0), records_family_of(5, 64));
        assert_eq!(records_family_name(7), "records/7");
    }

    #[test]
    fn record_entry_bytes_bounds_what_a_record_takes_in_a_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 128 << 20, RecordsCompression::default()).unwrap();
        // Value lengths around the varint steps (128, 16 Ki) and a big one; the stream
        // and shard pick families with ids of one and two varint bytes alike.
        let values: Vec<Vec<u8>> = [0, 1, 127, 128, 16_383, 16_384, 1 << 20]
            .iter()
            .map(|&len| vec![7u8; len])
            .collect();
        let mut batch = store.batch();
        let mut bound = WRITE_BATCH_HEADER_BYTES;
        for (n, value) in values.iter().enumerate() {
            for shard in [0, 63] {
                batch.put_record(&store, 200, shard, n as u64, value);
                bound += record_entry_bytes(value.len());
            }
        }
        let size = batch.size_in_bytes();
        assert!(size <= bound, "{size} > {bound}");
        // Tight enough to matter: within the varints' slack.
        assert!(bound - size <= 14 * 2 * values.len() + WRITE_BATCH_HEADER_BYTES);
    }

    /// Bytes of the SST files in `dir`.
    fn sst_bytes(dir: &Path) -> u64 {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap())
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".sst"))
            .map(|entry| entry.metadata().unwrap().len())
            .sum()
    }

    #[test]
    fn records_are_compressed_only_when_configured_and_read_back_either_way() {
        let dir = tempfile::tempdir().unwrap();
        // 2,000 records of 1 KiB that compress well; 2 MB in all.
        let value = vec![b'x'; 1024];
        let raw_bytes = 2_000 * value.len() as u64;
        let write_and_flush = |store: &Store, shard: u32| {
            let mut batch = store.batch();
            for seq in 0..2_000 {
                batch.put_record(store, 1, shard, seq, &value);
            }
            store.write(batch, false).unwrap();
            store.flush_all();
        };
        let count_records = |store: &Store, shard: u32| {
            let mut count = 0;
            store
                .scan_records(1, shard, 0, u64::MAX, |_, stored| {
                    assert_eq!(stored, &value[..]);
                    count += 1;
                    Ok(true)
                })
                .unwrap();
            count
        };

        let store = Store::open(dir.path(), 128 << 20, RecordsCompression::Lz4).unwrap();
        write_and_flush(&store, 0);
        let lz4_bytes = sst_bytes(dir.path());
        assert!(
            lz4_bytes < raw_bytes / 4,
            "{lz4_bytes} bytes of SST under lz4"
        );
        drop(store);

        // The default: shard 1's records are stored as they are, shard 0's stay readable.
        let store = Store::open(dir.path(), 128 << 20, RecordsCompression::default()).unwrap();
        write_and_flush(&store, 1);
        let uncompressed_bytes = sst_bytes(dir.path()) - lz4_bytes;
        assert!(
            uncompressed_bytes > raw_bytes,
            "{uncompressed_bytes} bytes of SST uncompressed"
        );
        assert_eq!(count_records(&store, 0), 2_000);
        assert_eq!(count_records(&store, 1), 2_000);
        drop(store);

        let store = Store::open(dir.path(), 128 << 20, RecordsCompression::Lz4).unwrap();
        assert_eq!(count_records(&store, 0), 2_000);
        assert_eq!(count_records(&store, 1), 2_000);
    }

    #[test]
    fn a_store_opens_with_direct_io_where_its_dir_takes_it_and_its_memtable_budget() {
        let dir = tempfile::tempdir().unwrap();
        let expected = direct_io::supported(dir.path()).is_ok();
        drop(Store::open(dir.path(), 128 << 20, RecordsCompression::default()).unwrap());
        let options_file = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.to_string_lossy().contains("OPTIONS-"))
            .max()
            .expect("RocksDB wrote an OPTIONS file");
        let options = std::fs::read_to_string(options_file).unwrap();
        assert!(
            options.contains(&format!(
                "use_direct_io_for_flush_and_compaction={expected}"
            )),
            "direct I/O should be {expected}"
        );
        assert!(options.contains("db_write_buffer_size=134217728"));
    }
}
