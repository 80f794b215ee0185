//! A record as stored and served.

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

/// One record of a shard. Cloning is cheap: the key and the payload are shared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Per shard, strictly increasing, never reused.
    pub seq: u64,
    /// When the writer committed it, in milliseconds since the Unix epoch. Never decreases
    /// within a shard.
    pub arrival_millis: u64,
    pub partition_key: PartitionKey,
    pub data: Bytes,
}

impl Record {
    /// The bytes this record holds in memory, for the tail's byte bound.
    pub fn num_bytes(&self) -> usize {
        self.data.len() + self.partition_key.len() + 48
    }
}

/// A record's partition key: UTF-8 text held in shared bytes, usually a slice of the
/// same buffer as the record's data (the append's slab, or the value read from RocksDB),
/// so a record allocates nothing of its own for its key. Reads as a `str`.
///
/// Invariant: the bytes are UTF-8; every constructor checks it or starts from a `str`
/// (or, within this crate, from bytes copied out of one).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PartitionKey(Bytes);

impl PartitionKey {
    /// The key held in `bytes`, if they are UTF-8.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, std::str::Utf8Error> {
        std::str::from_utf8(&bytes)?;
        Ok(Self(bytes))
    }

    /// The key in `bytes` that were copied from a `str`, as an append's slab holds each
    /// key (see `encoded_append`): checked when the producer's `String` was made, so not
    /// again on the writer thread (only in debug builds).
    pub(crate) fn from_str_bytes(bytes: Bytes) -> Self {
        debug_assert!(std::str::from_utf8(&bytes).is_ok(), "copied from a str");
        Self(bytes)
    }

    pub fn as_str(&self) -> &str {
        // SAFETY: the bytes are UTF-8 (the invariant): checked by `from_utf8`, or copied
        // from a `str` by `From` and by the slabs `from_str_bytes` is given.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }
}

impl Deref for PartitionKey {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for PartitionKey {
    fn from(key: &str) -> Self {
        Self(Bytes::copy_from_slice(key.as_bytes()))
    }
}

impl From<String> for PartitionKey {
    fn from(key: String) -> Self {
        Self(Bytes::from(key.into_bytes()))
    }
}

impl PartialEq<str> for PartitionKey {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for PartitionKey {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for PartitionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for PartitionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for PartitionKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_keys_are_checked_utf8_read_as_str() {
        let shared = Bytes::from_static(b"xxkey\xc3\xa9yy");
        let key = PartitionKey::from_utf8(shared.slice(2..7)).unwrap();
        assert_eq!(key, "keyé");
        assert_eq!(key.len(), 5);
        assert_eq!(format!("{key} {key:?}"), "keyé \"keyé\"");
        assert!(
            PartitionKey::from_utf8(shared.slice(2..6)).is_err(),
            "cut inside a char"
        );
        assert_eq!(
            PartitionKey::from(String::from("a")),
            PartitionKey::from("a")
        );
    }
}
