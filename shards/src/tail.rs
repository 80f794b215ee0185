//! The in-memory tail of a shard: its most recent records, bounded in bytes, so that
//! readers that keep up never touch RocksDB.
//!
//! Invariant: the tail holds the consecutive records `[first_seq, end_seq)`; the writer
//! pushes each committed record in sequence order and the oldest are evicted first.

use std::collections::VecDeque;

use crate::record::Record;

#[derive(Debug)]
pub(crate) struct Tail {
    first_seq: u64,
    records: VecDeque<Record>,
    num_bytes: usize,
    max_bytes: usize,
}

impl Tail {
    /// An empty tail whose next record will be `next_seq`.
    pub fn new(next_seq: u64, max_bytes: usize) -> Self {
        Self {
            first_seq: next_seq,
            records: VecDeque::new(),
            num_bytes: 0,
            max_bytes,
        }
    }

    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    pub fn end_seq(&self) -> u64 {
        self.first_seq + self.records.len() as u64
    }

    pub fn push(&mut self, record: Record) {
        debug_assert_eq!(record.seq, self.end_seq(), "tail records are consecutive");
        self.num_bytes += record.num_bytes();
        self.records.push_back(record);
        self.evict_past_bound();
    }

    /// Changes the byte bound, evicting the oldest records now past it.
    pub fn set_max_bytes(&mut self, max_bytes: usize) {
        self.max_bytes = max_bytes;
        self.evict_past_bound();
    }

    fn evict_past_bound(&mut self) {
        while self.num_bytes > self.max_bytes {
            let Some(evicted) = self.records.pop_front() else {
                break;
            };
            self.num_bytes -= evicted.num_bytes();
            self.first_seq += 1;
        }
    }

    /// Forgets everything and restarts at `next_seq` (after a failed write was rolled back).
    pub fn reset(&mut self, next_seq: u64) {
        self.records.clear();
        self.num_bytes = 0;
        self.first_seq = next_seq;
    }

    /// The records of `[from_seq, to_seq_exclusive)`, if the tail still holds `from_seq`.
    pub fn range(
        &self,
        from_seq: u64,
        to_seq_exclusive: u64,
    ) -> Option<impl Iterator<Item = &Record>> {
        if from_seq < self.first_seq {
            return None;
        }
        let start = (from_seq - self.first_seq) as usize;
        let end =
            (to_seq_exclusive.saturating_sub(self.first_seq) as usize).min(self.records.len());
        Some(self.records.range(start.min(end)..end))
    }

    /// The first record at or after `timestamp_millis`, if the tail can tell: `None` when
    /// the tail is empty or starts after that time (the answer may lie on disk).
    pub fn seq_at_timestamp(&self, timestamp_millis: u64) -> Option<u64> {
        let first = self.records.front()?;
        if first.arrival_millis >= timestamp_millis {
            return None;
        }
        let index = self
            .records
            .partition_point(|r| r.arrival_millis < timestamp_millis);
        Some(self.first_seq + index as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn record(seq: u64, arrival_millis: u64, len: usize) -> Record {
        Record {
            seq,
            arrival_millis,
            partition_key: "k".into(),
            data: Bytes::from(vec![0u8; len]),
        }
    }

    #[test]
    fn evicts_oldest_past_the_byte_bound() {
        let one = record(0, 0, 100).num_bytes();
        let mut tail = Tail::new(10, one * 3);
        for seq in 10..15 {
            tail.push(record(seq, seq, 100));
        }
        assert_eq!((tail.first_seq(), tail.end_seq()), (12, 15));
        assert!(tail.range(11, 15).is_none());
        let seqs: Vec<u64> = tail.range(13, 100).unwrap().map(|r| r.seq).collect();
        assert_eq!(seqs, vec![13, 14]);
        assert_eq!(tail.range(15, 100).unwrap().count(), 0);
    }

    #[test]
    fn a_lowered_bound_evicts_at_once() {
        let one = record(0, 0, 100).num_bytes();
        let mut tail = Tail::new(0, one * 4);
        for seq in 0..4 {
            tail.push(record(seq, seq, 100));
        }
        tail.set_max_bytes(one);
        assert_eq!((tail.first_seq(), tail.end_seq()), (3, 4));
        tail.set_max_bytes(one * 2);
        tail.push(record(4, 4, 100));
        assert_eq!((tail.first_seq(), tail.end_seq()), (3, 5));
    }

    #[test]
    fn finds_timestamps_or_defers_to_disk() {
        let mut tail = Tail::new(5, usize::MAX);
        for (seq, at) in [(5, 100), (6, 100), (7, 200), (8, 300)] {
            tail.push(record(seq, at, 1));
        }
        assert_eq!(tail.seq_at_timestamp(150), Some(7));
        assert_eq!(tail.seq_at_timestamp(200), Some(7));
        assert_eq!(tail.seq_at_timestamp(301), Some(9));
        assert_eq!(
            tail.seq_at_timestamp(100),
            None,
            "earlier records may be on disk"
        );
    }
}
