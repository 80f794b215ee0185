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

/// The bytes `writes` take in a write batch, at most: key and value, plus a tag, a
/// column family id and two lengths of up to 5 bytes each.
pub(crate) fn batch_bytes(writes: &[DocumentWrite]) -> usize {
    writes
        .iter()
        .map(|write| {
            let (namespace, key, value_len) = match write {
                DocumentWrite::Put {
                    namespace,
                    key,
                    value,
                } => (namespace, key, value.len()),
                DocumentWrite::Delete { namespace, key } => (namespace, key, 0),
            };
            16 + DOC_PREFIX.len() + namespace.len() + 1 + key.len() + value_len
        })
        .sum()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_bytes_bounds_what_documents_take_in_a_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 128 << 20, Default::default()).unwrap();
        let writes = vec![
            DocumentWrite::Put {
                namespace: "checkpoints",
                key: "mapping-1/shard-000000000007".into(),
                value: vec![1; 300],
            },
            DocumentWrite::Delete {
                namespace: "checkpoints",
                key: "mapping-1/shard-000000000008".into(),
            },
        ];
        let mut batch = store.batch();
        add_to_batch(&store, &mut batch, &writes);
        // The batch's 12-byte header is the store's to count.
        assert!(batch.size_in_bytes() - 12 <= batch_bytes(&writes));
    }
}
