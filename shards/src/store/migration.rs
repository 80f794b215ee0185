//! The one-time move of a store written before the records families.
//!
//! Such a store keeps every shard's records in one `records` family. At open, before
//! anything reads or writes records, the records of `records` are copied in batches into
//! the families their shards now belong to ([`super::records_family_of`]; records of
//! deleted streams were already hidden by range tombstones and are not seen), the WAL is
//! fsynced, and only then is `records` dropped. If eddy stops midway, `records` is still
//! there and the copy runs again from the start: writing the same keys and values twice
//! changes nothing.

use tracing::info;

use super::{io, Store, LEGACY_RECORDS_FAMILY};
use crate::codec;
use crate::error::StorageError;

/// Bytes of records per copy batch.
const COPY_BATCH_BYTES: usize = 8 * 1024 * 1024;
/// A progress line every this many bytes copied.
const PROGRESS_EVERY_BYTES: u64 = 1024 * 1024 * 1024;

pub(super) fn move_legacy_records(store: &mut Store) -> Result<(), StorageError> {
    info!(
        "moving the records of the one `{LEGACY_RECORDS_FAMILY}` family into the records \
         families (once, after an upgrade); eddy starts serving when this is done"
    );
    let (mut copied, mut copied_bytes) = (0u64, 0u64);
    {
        let store = &*store;
        let legacy = store
            .db
            .cf_handle(LEGACY_RECORDS_FAMILY)
            .expect("called only when the legacy family exists");
        let mut iter = store.db.raw_iterator_cf(legacy);
        iter.seek_to_first();
        let mut batch = store.batch();
        let mut batch_bytes = 0;
        while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
            let (stream_id, shard_index, seq) =
                codec::parts_of_record_key(key).ok_or_else(|| {
                    StorageError::Corruption(format!(
                        "a key of {} bytes in the `{LEGACY_RECORDS_FAMILY}` family",
                        key.len()
                    ))
                })?;
            batch.put_record(store, stream_id, shard_index, seq, value);
            batch_bytes += key.len() + value.len();
            copied += 1;
            let before = copied_bytes;
            copied_bytes += (key.len() + value.len()) as u64;
            if copied_bytes / PROGRESS_EVERY_BYTES > before / PROGRESS_EVERY_BYTES {
                info!(copied, gib = copied_bytes >> 30, "moving records");
            }
            if batch_bytes >= COPY_BATCH_BYTES {
                store.write(std::mem::replace(&mut batch, store.batch()), false)?;
                batch_bytes = 0;
            }
            iter.next();
        }
        iter.status().map_err(io)?;
        store.write(batch, false)?;
        // Durable before the only other copy goes.
        store.flush_wal(true)?;
    }
    store.db.drop_cf(LEGACY_RECORDS_FAMILY).map_err(io)?;
    info!(copied, "moved the records into the records families");
    Ok(())
}

/// What [`rewrite_into_legacy_layout`] leaves in the records families.
#[cfg(test)]
#[derive(Clone, Copy, Debug)]
pub(crate) enum LeftInFamilies {
    /// Nothing: the families are dropped, as in a store of the old layout.
    Nothing,
    /// The records of the even-numbered families, as a migration that stopped midway
    /// leaves them.
    EvenFamilies,
}

/// Test support: rewrites the store at `path` into the layout before the records
/// families (one `records` family holding every shard's records).
#[cfg(test)]
pub(crate) fn rewrite_into_legacy_layout(path: &std::path::Path, left: LeftInFamilies) {
    let mut store = Store::open(
        path,
        super::DEFAULT_MEMTABLE_BUDGET_BYTES,
        Default::default(),
    )
    .unwrap();
    store
        .db
        .create_cf(LEGACY_RECORDS_FAMILY, &super::db_options().records)
        .unwrap();
    for number in 0..super::RECORDS_FAMILIES {
        let legacy = store.db.cf_handle(LEGACY_RECORDS_FAMILY).unwrap();
        let family = store.records_family(number);
        let mut iter = store.db.raw_iterator_cf(family);
        iter.seek_to_first();
        while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
            store.db.put_cf(legacy, key, value).unwrap();
            iter.next();
        }
        drop(iter);
        if matches!(left, LeftInFamilies::EvenFamilies) && number % 2 == 1 {
            store
                .db
                .delete_range_cf(family, &[][..], &[0xffu8; codec::RECORD_KEY_LEN + 1][..])
                .unwrap();
        }
    }
    store.db.flush_wal(true).unwrap();
    if matches!(left, LeftInFamilies::Nothing) {
        for number in 0..super::RECORDS_FAMILIES {
            store
                .db
                .drop_cf(&super::records_family_name(number))
                .unwrap();
        }
    }
}
