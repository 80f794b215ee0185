//! Checkpoints: per (mapping, shard), the next sequence number to deliver. They live in
//! the log's documents (RocksDB), so delivery resumes from them after a restart or
//! `kill -9`; records after a checkpoint may be delivered again (at-least-once), records
//! before it never are.

use std::sync::Arc;

use eddy_shards::{DocumentWrite, Log, PendingDocuments, StorageError};

const NAMESPACE: &str = "checkpoints";

#[derive(Clone)]
pub struct CheckpointStore {
    log: Arc<Log>,
}

fn key(mapping_id: &str, shard_id: &str) -> String {
    format!("{mapping_id}/{shard_id}")
}

impl CheckpointStore {
    pub fn new(log: Arc<Log>) -> Self {
        Self { log }
    }

    /// The next sequence number to deliver, if the mapping has checkpointed this shard.
    pub fn get(&self, mapping_id: &str, shard_id: &str) -> Result<Option<u64>, StorageError> {
        match self
            .log
            .get_document(NAMESPACE, &key(mapping_id, shard_id))?
        {
            None => Ok(None),
            Some(bytes) => {
                let array: [u8; 8] = bytes.try_into().map_err(|_| {
                    StorageError::Corruption(format!("checkpoint of {mapping_id}/{shard_id}"))
                })?;
                Ok(Some(u64::from_be_bytes(array)))
            }
        }
    }

    /// The document write that sets a checkpoint, to join other writes atomically.
    pub fn write_for(mapping_id: &str, shard_id: &str, next_seq: u64) -> DocumentWrite {
        DocumentWrite::Put {
            namespace: NAMESPACE,
            key: key(mapping_id, shard_id),
            value: next_seq.to_be_bytes().to_vec(),
        }
    }

    /// Records that everything below `next_seq` was handled. Written to the WAL without
    /// fsync: it survives `kill -9`; after power loss an older checkpoint only means
    /// redelivery.
    pub fn set(&self, mapping_id: &str, shard_id: &str, next_seq: u64) -> Result<(), StorageError> {
        self.log
            .write_documents(&[Self::write_for(mapping_id, shard_id, next_seq)], false)
    }

    /// Like [`CheckpointStore::set`], riding in the log writer's next group commit (no
    /// blocking thread, no RocksDB write of its own): handed to the log now, its outcome
    /// to await later (see [`Log::submit_documents`]).
    pub fn submit(&self, mapping_id: &str, shard_id: &str, next_seq: u64) -> PendingDocuments {
        self.log
            .submit_documents(vec![Self::write_for(mapping_id, shard_id, next_seq)])
    }

    /// Forgets every checkpoint of a mapping (when it is deleted).
    pub fn delete_mapping(&self, mapping_id: &str) -> Result<(), StorageError> {
        let prefix = format!("{mapping_id}/");
        let writes: Vec<DocumentWrite> = self
            .log
            .list_documents(NAMESPACE)?
            .into_iter()
            .filter(|(key, _)| key.starts_with(&prefix))
            .map(|(key, _)| DocumentWrite::Delete {
                namespace: NAMESPACE,
                key,
            })
            .collect();
        self.log.write_documents(&writes, true)
    }
}
