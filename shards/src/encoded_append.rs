//! One append request, encoded for the writer by the producer's own thread.
//!
//! The writer is the one serial stage of the hot path, so everything that can be done
//! before it is done here, in parallel across producers: each record is routed and its
//! RocksDB value (`arrival_millis | partition_key_len | partition_key | data`, see
//! [`crate::codec`]) is encoded into one buffer per shard of the request, a *slab*. The
//! writer then only stamps the arrival time into each value, hands RocksDB a slice of the
//! slab, and puts slices of the same slab (each record's partition key and data) into the
//! shard's tail: no copy and no allocation per record on the writer thread, and none for
//! the tail.
//!
//! Invariant: a slab holds only records of its shard, in request order. Those records get
//! consecutive sequence numbers, so the tail pins a slab only while it holds some of
//! them, and the slab's bytes are the tail's own records' bytes plus their headers; no
//! unrelated request data (another shard's records, the gRPC frame) is kept alive.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::codec::{self, RECORD_VALUE_HEADER_LEN};
use crate::shard::{ShardState, StreamState};
use crate::store;

/// A record that passed validation, with the position of its shard in its stream.
pub(crate) struct RoutedRecord {
    pub shard_position: usize,
    pub partition_key: String,
    pub data: Bytes,
}

/// The encoded values of one request's records for one shard.
pub(crate) struct Slab {
    pub shard: Arc<ShardState>,
    pub values: BytesMut,
}

/// One record of the request: where its value lies in its slab.
pub(crate) struct EncodedRecord {
    pub slab: usize,
    pub value_start: usize,
    pub value_len: usize,
    pub partition_key_len: usize,
}

impl EncodedRecord {
    /// Where the record's partition key starts within its slab.
    pub fn partition_key_start(&self) -> usize {
        self.value_start + RECORD_VALUE_HEADER_LEN
    }

    /// Where the record's data starts within its slab.
    pub fn data_start(&self) -> usize {
        self.partition_key_start() + self.partition_key_len
    }

    pub fn value_end(&self) -> usize {
        self.value_start + self.value_len
    }
}

pub(crate) struct EncodedAppend {
    pub slabs: Vec<Slab>,
    /// In request order.
    pub records: Vec<EncodedRecord>,
    /// Data and partition-key bytes, as counted against the write queue's bound.
    pub num_bytes: usize,
    /// What the records take in a RocksDB write batch, at most
    /// ([`store::record_entry_bytes`] each), counted here on the producer's thread so that
    /// the one writer sizes its group's batch without another pass over the records.
    pub batch_bytes: usize,
}

impl EncodedAppend {
    /// Groups `routed` by shard into slabs, keeping request order within each shard. The
    /// arrival time of each value is left zero for the writer to stamp.
    pub fn encode(stream: &StreamState, routed: Vec<RoutedRecord>) -> Self {
        // Slab index per shard position; u32::MAX: no slab yet.
        let mut slab_of_position = vec![u32::MAX; stream.shards.len()];
        let mut slabs: Vec<Slab> = Vec::new();
        let mut value_bytes: Vec<usize> = Vec::new();
        let mut num_bytes = 0;
        let mut batch_bytes = 0;
        for record in &routed {
            let slot = &mut slab_of_position[record.shard_position];
            if *slot == u32::MAX {
                *slot = slabs.len() as u32;
                slabs.push(Slab {
                    shard: stream.shards[record.shard_position].clone(),
                    values: BytesMut::new(),
                });
                value_bytes.push(0);
            }
            let slab = *slot as usize;
            let value_len =
                RECORD_VALUE_HEADER_LEN + record.partition_key.len() + record.data.len();
            value_bytes[slab] += value_len;
            batch_bytes += store::record_entry_bytes(value_len);
            num_bytes += record.partition_key.len() + record.data.len();
        }
        for (slab, bytes) in slabs.iter_mut().zip(value_bytes) {
            slab.values = BytesMut::with_capacity(bytes);
        }
        let records = routed
            .into_iter()
            .map(|record| {
                let slab = slab_of_position[record.shard_position] as usize;
                let values = &mut slabs[slab].values;
                let value_start = values.len();
                codec::append_record_value(values, 0, &record.partition_key, &record.data);
                EncodedRecord {
                    slab,
                    value_start,
                    value_len: values.len() - value_start,
                    partition_key_len: record.partition_key.len(),
                }
            })
            .collect();
        Self {
            slabs,
            records,
            num_bytes,
            batch_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::test_stream;

    fn routed(position: usize, key: &str, data: &'static [u8]) -> RoutedRecord {
        RoutedRecord {
            shard_position: position,
            partition_key: key.into(),
            data: Bytes::from_static(data),
        }
    }

    #[test]
    fn groups_by_shard_in_request_order_and_decodes_back() {
        let stream = test_stream(3);
        let input = vec![
            routed(2, "a", b"one"),
            routed(0, "bb", b"two"),
            routed(2, "ccc", b""),
            routed(2, "d", b"four"),
        ];
        let encoded = EncodedAppend::encode(&stream, input);
        assert_eq!(encoded.slabs.len(), 2);
        assert_eq!(encoded.slabs[0].shard.meta.index, 2);
        assert_eq!(encoded.num_bytes, 1 + 3 + 2 + 3 + 3 + 1 + 4);
        let slabs: Vec<usize> = encoded.records.iter().map(|r| r.slab).collect();
        assert_eq!(slabs, vec![0, 1, 0, 0]);
        // Exactly sized: no reallocation, and values are back to back.
        assert_eq!(
            encoded.slabs[0].values.len(),
            encoded.slabs[0].values.capacity()
        );
        let expected = [
            ("a", &b"one"[..]),
            ("bb", b"two"),
            ("ccc", b""),
            ("d", b"four"),
        ];
        for (record, (key, data)) in encoded.records.iter().zip(expected) {
            let values = &encoded.slabs[record.slab].values;
            let decoded =
                codec::decode_record(7, &values[record.value_start..record.value_end()]).unwrap();
            assert_eq!(&*decoded.partition_key, key);
            assert_eq!(&decoded.data[..], data);
            assert_eq!(decoded.arrival_millis, 0, "left for the writer to stamp");
            assert_eq!(&values[record.data_start()..record.value_end()], data);
            assert_eq!(
                &values[record.partition_key_start()..record.data_start()],
                key.as_bytes()
            );
        }
    }
}
