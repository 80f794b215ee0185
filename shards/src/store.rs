//! The one module that touches RocksDB. No `rocksdb::` type leaves it.
//!
//! Column families: `records` (record keys → record values, see [`crate::codec`]) and
//! `meta` (streams, trim points, counters). `atomic_flush` is on, so a lightly written
//! `meta` never pins old WAL files and both families recover to one point in time.

use std::path::Path;

use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DBCompressionType, DBRecoveryMode, Options, ReadOptions,
    WriteBatch, WriteOptions, DB,
};

use crate::codec::{self, RECORD_KEY_LEN};
use crate::error::StorageError;
use crate::stream::StreamId;

const RECORDS_CF: &str = "records";
const META_CF: &str = "meta";

/// Memtable size of the `records` family: 64 MiB. Larger memtables mean fewer, larger L0
/// files and less write amplification; up to `RECORDS_MAX_WRITE_BUFFERS` of them (256 MiB
/// of RAM at worst) are held while flushes catch up.
const RECORDS_WRITE_BUFFER_BYTES: usize = 64 * 1024 * 1024;
const RECORDS_MAX_WRITE_BUFFERS: i32 = 4;
/// Bytes of a record key that name its shard: `stream_id u32 | shard_index u32`.
const SHARD_PREFIX_LEN: usize = 8;

/// The RocksDB options eddy uses, shared with the raw-RocksDB ceiling in the benchmarks
/// so that both measure the same engine configuration.
pub fn db_options() -> (Options, Vec<(&'static str, Options)>) {
    let mut db_opts = Options::default();
    db_opts.create_if_missing(true);
    db_opts.create_missing_column_families(true);
    db_opts.set_atomic_flush(true);
    db_opts.set_wal_recovery_mode(DBRecoveryMode::PointInTime);
    db_opts.set_max_background_jobs(2);
    db_opts.set_max_total_wal_size(512 * 1024 * 1024);
    db_opts.set_keep_log_file_num(4);
    db_opts.set_bytes_per_sync(1024 * 1024);

    let mut records_opts = Options::default();
    records_opts.set_write_buffer_size(RECORDS_WRITE_BUFFER_BYTES);
    records_opts.set_max_write_buffer_number(RECORDS_MAX_WRITE_BUFFERS);
    records_opts.set_compression_type(DBCompressionType::Lz4);
    // Within a shard (the key's first 8 bytes) keys only grow, so the memtable can insert
    // each one next to the last of its shard instead of searching the skip list from the
    // top. The option has no setter of its own, only its string form.
    let records_opts = records_opts
        .get_options_from_string(format!(
            "memtable_insert_with_hint_prefix_extractor=rocksdb.FixedPrefix.{SHARD_PREFIX_LEN}"
        ))
        .expect("a valid options string");
    let meta_opts = Options::default();
    (
        db_opts,
        vec![(RECORDS_CF, records_opts), (META_CF, meta_opts)],
    )
}

/// A key and its value, as read from a column family.
pub(crate) type KeyValue = (Vec<u8>, Vec<u8>);

pub(crate) struct Store {
    db: DB,
}

fn io(err: rocksdb::Error) -> StorageError {
    match err.kind() {
        rocksdb::ErrorKind::Corruption => StorageError::Corruption(err.into_string()),
        _ => StorageError::Io(err.into_string()),
    }
}

/// Writes collected for one atomic RocksDB write.
pub(crate) struct StoreBatch {
    inner: WriteBatch,
}

impl Store {
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let (db_opts, families) = db_options();
        let descriptors = families
            .into_iter()
            .map(|(name, opts)| ColumnFamilyDescriptor::new(name, opts));
        let db = DB::open_cf_descriptors(&db_opts, path, descriptors).map_err(io)?;
        Ok(Self { db })
    }

    fn records(&self) -> &ColumnFamily {
        self.db
            .cf_handle(RECORDS_CF)
            .expect("records column family is created at open")
    }

    fn meta(&self) -> &ColumnFamily {
        self.db
            .cf_handle(META_CF)
            .expect("meta column family is created at open")
    }

    pub fn batch(&self) -> StoreBatch {
        StoreBatch {
            inner: WriteBatch::default(),
        }
    }

    /// One atomic write. With `sync`, returns after the WAL is fsynced.
    pub fn write(&self, batch: StoreBatch, sync: bool) -> Result<(), StorageError> {
        let mut write_opts = WriteOptions::default();
        write_opts.set_sync(sync);
        self.db.write_opt(batch.inner, &write_opts).map_err(io)
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
        let mut iter = self.db.raw_iterator_cf_opt(self.records(), read_opts);
        iter.seek_for_prev(codec::record_key(stream_id, shard_index, u64::MAX));
        let found = match (iter.key(), iter.value()) {
            (Some(key), Some(value))
                if key[..8] == codec::record_key(stream_id, shard_index, 0)[..8] =>
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
        let mut iter = self.db.raw_iterator_cf_opt(self.records(), read_opts);
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

impl StoreBatch {
    pub fn put_record(&mut self, store: &Store, key: &[u8], value: &[u8]) {
        self.inner.put_cf(store.records(), key, value);
    }

    pub fn put_meta(&mut self, store: &Store, key: &[u8], value: &[u8]) {
        self.inner.put_cf(store.meta(), key, value);
    }

    pub fn delete_meta(&mut self, store: &Store, key: &[u8]) {
        self.inner.delete_cf(store.meta(), key);
    }

    /// Deletes the records of `[from_key, to_key)`, as one range tombstone.
    pub fn delete_records(&mut self, store: &Store, from_key: &[u8], to_key: &[u8]) {
        self.inner
            .delete_range_cf(store.records(), from_key, to_key);
    }

    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}
