//! Byte layouts of what eddy stores.
//!
//! - Record key (in the records family of its shard, see [`crate::store`]), 16 bytes,
//!   big-endian so that keys sort by stream, then shard, then sequence number:
//!   `stream_id u32 | shard_index u32 | seq u64`.
//! - Record value: `arrival_millis u64 | partition_key_len u16 | partition_key | data`.
//! - Meta keys (`meta` column family): `stream/{name}` → JSON [`StreamMeta`],
//!   `trim/{stream_id u32}{shard_index u32}` → first retained seq (u64), `next_stream_id` →
//!   u32, `iterator_secret` → 32 random bytes.
//!
//! [`StreamMeta`]: crate::stream::StreamMeta

use bytes::{BufMut, Bytes};

use crate::error::StorageError;
use crate::record::{PartitionKey, Record};
use crate::stream::StreamId;

pub const RECORD_KEY_LEN: usize = 16;
pub const RECORD_VALUE_HEADER_LEN: usize = 10;

pub fn record_key(stream_id: StreamId, shard_index: u32, seq: u64) -> [u8; RECORD_KEY_LEN] {
    let mut key = [0u8; RECORD_KEY_LEN];
    key[..4].copy_from_slice(&stream_id.to_be_bytes());
    key[4..8].copy_from_slice(&shard_index.to_be_bytes());
    key[8..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// The stream id, shard index and sequence number [`record_key`] encoded, if `key` has the
/// record-key shape.
pub fn parts_of_record_key(key: &[u8]) -> Option<(StreamId, u32, u64)> {
    let key: &[u8; RECORD_KEY_LEN] = key.try_into().ok()?;
    let u32_at = |at: usize| u32::from_be_bytes(key[at..at + 4].try_into().expect("4 bytes"));
    let seq = u64::from_be_bytes(key[8..].try_into().expect("8 bytes"));
    Some((u32_at(0), u32_at(4), seq))
}

/// The sequence number in a record key, if the key has the record-key shape.
pub fn seq_of_record_key(key: &[u8]) -> Option<u64> {
    let seq_bytes: [u8; 8] = key.get(8..16)?.try_into().ok()?;
    (key.len() == RECORD_KEY_LEN).then(|| u64::from_be_bytes(seq_bytes))
}

/// Writes the encoded record value to `out` (cleared first).
pub fn encode_record_value(
    out: &mut Vec<u8>,
    arrival_millis: u64,
    partition_key: &str,
    data: &[u8],
) {
    out.clear();
    out.reserve(RECORD_VALUE_HEADER_LEN + partition_key.len() + data.len());
    append_record_value(out, arrival_millis, partition_key, data);
}

/// Appends the encoded record value to `out`.
pub fn append_record_value(
    out: &mut impl BufMut,
    arrival_millis: u64,
    partition_key: &str,
    data: &[u8],
) {
    out.put_u64(arrival_millis);
    // Partition keys are at most 256 characters, so at most 1024 bytes: u16 is enough.
    out.put_u16(partition_key.len() as u16);
    out.put_slice(partition_key.as_bytes());
    out.put_slice(data);
}

/// Overwrites the arrival time of the encoded record value that starts at `value`.
pub fn stamp_arrival_millis(value: &mut [u8], arrival_millis: u64) {
    value[..8].copy_from_slice(&arrival_millis.to_be_bytes());
}

/// The arrival time of an encoded record value, without decoding the rest.
pub fn arrival_millis_of_value(value: &[u8]) -> Result<u64, StorageError> {
    let bytes: [u8; 8] = value
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| StorageError::Corruption("record value shorter than its header".into()))?;
    Ok(u64::from_be_bytes(bytes))
}

pub fn decode_record(seq: u64, value: &[u8]) -> Result<Record, StorageError> {
    let corrupt = |what: &str| StorageError::Corruption(format!("record {seq}: {what}"));
    if value.len() < RECORD_VALUE_HEADER_LEN {
        return Err(corrupt("value shorter than its header"));
    }
    let arrival_millis = arrival_millis_of_value(value)?;
    let key_len = u16::from_be_bytes([value[8], value[9]]) as usize;
    let key_end = RECORD_VALUE_HEADER_LEN + key_len;
    if key_end > value.len() {
        return Err(corrupt("partition key runs past the value"));
    }
    // One copy of the key and the data together; the record holds slices of it.
    let held = Bytes::copy_from_slice(&value[RECORD_VALUE_HEADER_LEN..]);
    let partition_key = PartitionKey::from_utf8(held.slice(..key_len))
        .map_err(|_| corrupt("partition key is not utf-8"))?;
    Ok(Record {
        seq,
        arrival_millis,
        partition_key,
        data: held.slice(key_len..),
    })
}

pub const NEXT_STREAM_ID_KEY: &[u8] = b"next_stream_id";
pub const ITERATOR_SECRET_KEY: &[u8] = b"iterator_secret";
pub const STREAM_KEY_PREFIX: &[u8] = b"stream/";

pub fn stream_meta_key(name: &str) -> Vec<u8> {
    [STREAM_KEY_PREFIX, name.as_bytes()].concat()
}

pub fn trim_key(stream_id: StreamId, shard_index: u32) -> Vec<u8> {
    let mut key = b"trim/".to_vec();
    key.extend_from_slice(&stream_id.to_be_bytes());
    key.extend_from_slice(&shard_index.to_be_bytes());
    key
}

pub fn decode_u64(what: &str, bytes: &[u8]) -> Result<u64, StorageError> {
    let array: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StorageError::Corruption(format!("{what}: expected 8 bytes")))?;
    Ok(u64::from_be_bytes(array))
}

pub fn decode_u32(what: &str, bytes: &[u8]) -> Result<u32, StorageError> {
    let array: [u8; 4] = bytes
        .try_into()
        .map_err(|_| StorageError::Corruption(format!("{what}: expected 4 bytes")))?;
    Ok(u32::from_be_bytes(array))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_keys_sort_by_stream_shard_seq() {
        let a = record_key(1, 2, u64::MAX);
        let b = record_key(1, 3, 0);
        let c = record_key(2, 0, 0);
        assert!(a < b && b < c);
        assert!(record_key(1, 2, 255) < record_key(1, 2, 256));
        assert_eq!(seq_of_record_key(&record_key(9, 9, 42)), Some(42));
        assert_eq!(seq_of_record_key(b"short"), None);
        assert_eq!(parts_of_record_key(&record_key(7, 8, 42)), Some((7, 8, 42)));
        assert_eq!(parts_of_record_key(b"short"), None);
    }

    #[test]
    fn record_values_round_trip() {
        let mut buf = Vec::new();
        encode_record_value(&mut buf, 1_700_000_000_123, "clé", b"\x00payload\xff");
        let record = decode_record(5, &buf).unwrap();
        assert_eq!(record.seq, 5);
        assert_eq!(record.arrival_millis, 1_700_000_000_123);
        assert_eq!(&*record.partition_key, "clé");
        assert_eq!(&record.data[..], b"\x00payload\xff");
    }

    #[test]
    fn corrupt_values_are_errors_not_panics() {
        for bad in [
            &b""[..],
            b"12345678",
            b"12345678\x00\x05ab",
            b"12345678\x00\x02\xff\xfe",
        ] {
            assert!(matches!(
                decode_record(1, bad),
                Err(StorageError::Corruption(_))
            ));
        }
    }
}
