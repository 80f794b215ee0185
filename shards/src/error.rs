//! Errors, one small enum per operation. Messages are lowercase and name the culprit.

use thiserror::Error;

/// A request field broke a limit or is malformed. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("`{field}` {message}")]
pub struct InvalidArgument {
    /// The request field at fault, as the client spells it: `records[3].partition_key`.
    pub field: String,
    pub message: String,
}

impl InvalidArgument {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// RocksDB failed. `Corruption` means stored bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StorageError {
    #[error("storage i/o error: {0}")]
    Io(String),
    #[error("stored data is corrupt: {0}")]
    Corruption(String),
}

/// A stream or shard named in a request does not exist.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NotFound {
    #[error("stream `{0}` not found")]
    Stream(String),
    #[error("shard `{shard_id}` not found in stream `{stream}`")]
    Shard { stream: String, shard_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OpenError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot open data dir: {0}")]
    DataDir(String),
    #[error("invalid log setting: {0}")]
    Config(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CreateStreamError {
    #[error(transparent)]
    InvalidArgument(#[from] InvalidArgument),
    #[error("stream `{0}` already exists")]
    AlreadyExists(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("the log is shutting down")]
    ShuttingDown,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DeleteStreamError {
    #[error(transparent)]
    NotFound(#[from] NotFound),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("the log is shutting down")]
    ShuttingDown,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UpdateStreamError {
    #[error(transparent)]
    InvalidArgument(#[from] InvalidArgument),
    #[error(transparent)]
    NotFound(#[from] NotFound),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("the log is shutting down")]
    ShuttingDown,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AppendError {
    #[error(transparent)]
    InvalidArgument(#[from] InvalidArgument),
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// The write queue is full; retry later. Nothing was written.
    #[error("{0}")]
    Overloaded(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("the log is shutting down")]
    ShuttingDown,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReadError {
    #[error(transparent)]
    InvalidArgument(#[from] InvalidArgument),
    #[error(transparent)]
    NotFound(#[from] NotFound),
    #[error(transparent)]
    Storage(#[from] StorageError),
}
