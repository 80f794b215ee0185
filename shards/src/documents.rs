//! Small durable documents for the layers above the log: function and mapping
//! definitions, checkpoints. They live in the `meta` column family under
//! `doc/{namespace}/{key}` and are written atomically, several at a time if need be.

use crate::error::StorageError;
use crate::store::{Store, StoreBatch};

const DOC_PREFIX: &str = "doc/";

/// One change to a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DocumentWrite {
    Put {
        namespace: &'static str,
        key: String,
        value: Vec<u8>,
    },
    Delete {
        namespace: &'static str,
        key: String,
    },
}

fn doc_key(namespace: &str, key: &str) -> Vec<u8> {
    debug_assert!(
        !namespace.is_empty()
            && namespace
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_'),
        "namespaces are [a-z_]+"
    );
    format!("{DOC_PREFIX}{namespace}/{key}").into_bytes()
}

/// Applies `writes` in one atomic RocksDB write; with `sync`, after an fsync.
pub(crate) fn write(
    store: &Store,
    writes: &[DocumentWrite],
    sync: bool,
) -> Result<(), StorageError> {
    let mut batch = store.batch();
    add_to_batch(store, &mut batch, writes);
    store.write(batch, sync)
}

/// Adds `writes` to a batch (the writer's group commit joins them with appends).
pub(crate) fn add_to_batch(store: &Store, batch: &mut StoreBatch, writes: &[DocumentWrite]) {
    for write in writes {
        match write {
            DocumentWrite::Put {
                namespace,
                key,
                value,
            } => batch.put_meta(store, &doc_key(namespace, key), value),
            DocumentWrite::Delete { namespace, key } => {
                batch.delete_meta(store, &doc_key(namespace, key))
            }
        }
    }
}

pub(crate) fn get(
    store: &Store,
    namespace: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, StorageError> {
    store.get_meta(&doc_key(namespace, key))
}

/// Every document of a namespace, as (key, value), in key order.
pub(crate) fn list(store: &Store, namespace: &str) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
    let prefix = doc_key(namespace, "");
    store
        .scan_meta_prefix(&prefix)?
        .into_iter()
        .map(|(key, value)| {
            let key = String::from_utf8(key[prefix.len()..].to_vec())
                .map_err(|_| StorageError::Corruption("document key is not utf-8".into()))?;
            Ok((key, value))
        })
        .collect()
}
