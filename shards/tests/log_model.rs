//! Model-based property test of the log: random appends, reads, clock moves, retention
//! trims and reopens against an in-memory model; the log must equal the model after every
//! operation, reopens included.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use eddy_shards::{AppendRecord, Durability, Log, LogConfig, ManualClock, Record};
use proptest::prelude::*;

const SHARDS: u32 = 3;
const HOUR_MILLIS: u64 = 3_600_000;

#[derive(Debug, Clone)]
enum Op {
    Append {
        keys: Vec<u8>,
        data_len: usize,
    },
    Read {
        shard: u32,
        from_seq: u64,
        max_records: usize,
    },
    AdvanceHours(u64),
    EnforceRetention,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (prop::collection::vec(any::<u8>(), 1..20), 0usize..300)
            .prop_map(|(keys, data_len)| Op::Append { keys, data_len }),
        3 => (0..SHARDS, 0u64..60, 1usize..50)
            .prop_map(|(shard, from_seq, max_records)| Op::Read { shard, from_seq, max_records }),
        1 => (0u64..30).prop_map(Op::AdvanceHours),
        1 => Just(Op::EnforceRetention),
        1 => Just(Op::Reopen),
    ]
}

/// What the log must hold: per shard, every record not yet trimmed, and the next seq.
#[derive(Default)]
struct Model {
    shards: BTreeMap<u32, (Vec<Record>, u64)>,
}

fn open(dir: &std::path::Path, clock: &Arc<ManualClock>) -> Log {
    let config = LogConfig {
        durability: Durability::Buffered,
        // A small tail, so that reads cross from RocksDB into memory.
        tail_max_bytes_per_shard: 2_000,
        clock: clock.clone(),
        ..LogConfig::default()
    };
    Log::open(dir, config).expect("open log")
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut log = open(dir.path(), &clock);
    runtime
        .block_on(log.create_stream("model", SHARDS, 24))
        .unwrap();
    let mut model = Model::default();
    for index in 0..SHARDS {
        model.shards.insert(index, (Vec::new(), 0));
    }
    let mut counter = 0u64;
    for op in ops {
        match op {
            Op::Append { keys, data_len } => {
                let records: Vec<AppendRecord> = keys
                    .iter()
                    .map(|key| {
                        counter += 1;
                        AppendRecord {
                            partition_key: format!("key-{key}"),
                            data: Bytes::from(vec![(counter % 251) as u8; data_len]),
                            explicit_hash_key: None,
                        }
                    })
                    .collect();
                let appended = runtime
                    .block_on(log.put_records("model", records.clone()))
                    .unwrap();
                prop_assert_eq!(appended.len(), records.len());
                for (record, at) in records.into_iter().zip(appended) {
                    let (stored, next_seq) = model.shards.get_mut(&at.shard_index).unwrap();
                    prop_assert_eq!(
                        at.seq,
                        *next_seq,
                        "sequence numbers are consecutive and never reused"
                    );
                    prop_assert_eq!(at.arrival_millis, eddy_shards::Clock::now_millis(&*clock));
                    *next_seq += 1;
                    stored.push(Record {
                        seq: at.seq,
                        arrival_millis: at.arrival_millis,
                        partition_key: record.partition_key.into(),
                        data: record.data,
                    });
                }
            }
            Op::Read {
                shard,
                from_seq,
                max_records,
            } => {
                let handle = log
                    .shard("model", &eddy_shards::shard_id_of_index(shard))
                    .unwrap();
                let batch = log
                    .read(&handle, from_seq, max_records, usize::MAX)
                    .unwrap();
                let cutoff =
                    eddy_shards::Clock::now_millis(&*clock).saturating_sub(24 * HOUR_MILLIS);
                let (stored, next_seq) = &model.shards[&shard];
                let expected: Vec<Record> = stored
                    .iter()
                    .filter(|r| r.seq >= from_seq && r.arrival_millis >= cutoff)
                    .take(max_records)
                    .cloned()
                    .collect();
                prop_assert_eq!(&batch.records, &expected);
                prop_assert_eq!(batch.head_seq_exclusive, *next_seq);
                if expected.len() < max_records {
                    prop_assert_eq!(
                        batch.next_seq,
                        (*next_seq).max(from_seq),
                        "a short read ends at the head"
                    );
                }
            }
            Op::AdvanceHours(hours) => clock.advance_millis(hours * HOUR_MILLIS),
            Op::EnforceRetention => {
                runtime.block_on(log.enforce_retention()).unwrap();
                let cutoff =
                    eddy_shards::Clock::now_millis(&*clock).saturating_sub(24 * HOUR_MILLIS);
                for (stored, _) in model.shards.values_mut() {
                    stored.retain(|r| r.arrival_millis >= cutoff);
                }
                for index in 0..SHARDS {
                    let handle = log
                        .shard("model", &eddy_shards::shard_id_of_index(index))
                        .unwrap();
                    let (stored, next_seq) = &model.shards[&index];
                    let expected_trim = stored.first().map_or(*next_seq, |r| r.seq);
                    prop_assert_eq!(handle.trim_seq(), expected_trim);
                }
            }
            Op::Reopen => {
                drop(log);
                log = open(dir.path(), &clock);
                for (index, (_, next_seq)) in &model.shards {
                    let handle = log
                        .shard("model", &eddy_shards::shard_id_of_index(*index))
                        .unwrap();
                    prop_assert_eq!(
                        handle.head_seq_exclusive(),
                        *next_seq,
                        "reopen resumes sequence numbers"
                    );
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_model(ops in prop::collection::vec(op(), 1..40)) {
        run(ops)?;
    }
}

/// Retention trims everything, then a reopen: sequence numbers must continue, not restart.
#[test]
fn sequence_numbers_survive_a_full_trim_and_reopen() {
    run(vec![
        Op::Append {
            keys: vec![1, 2, 3, 4, 5, 6],
            data_len: 10,
        },
        Op::AdvanceHours(25),
        Op::EnforceRetention,
        Op::Reopen,
        Op::Append {
            keys: vec![1, 2, 3, 4, 5, 6],
            data_len: 10,
        },
        Op::Read {
            shard: 0,
            from_seq: 0,
            max_records: 100,
        },
        Op::Read {
            shard: 1,
            from_seq: 0,
            max_records: 100,
        },
        Op::Read {
            shard: 2,
            from_seq: 0,
            max_records: 100,
        },
    ])
    .unwrap();
}
