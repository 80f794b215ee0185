//! Criterion micro-benchmark of the append path: `Log::put_records` in process, through
//! validation, routing, group commit and the RocksDB write (buffered durability).

use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use eddy_shards::{AppendRecord, Durability, Log, LogConfig};

fn append(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        durability: Durability::Buffered,
        ..LogConfig::default()
    };
    let log = Arc::new(Log::open(dir.path(), config).unwrap());
    runtime.block_on(log.create_stream("bench", 4, 24)).unwrap();

    let mut group = c.benchmark_group("append");
    for (size, batch) in [(100usize, 500usize), (1024, 500), (1024, 1)] {
        let payload = Bytes::from(vec![0xabu8; size]);
        let records: Vec<AppendRecord> = (0..batch)
            .map(|i| AppendRecord {
                partition_key: format!("key-{i}"),
                data: payload.clone(),
                explicit_hash_key: None,
            })
            .collect();
        group.throughput(Throughput::Bytes((size * batch) as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("size={size},batch={batch}")),
            &records,
            |b, records| {
                b.iter(|| {
                    runtime
                        .block_on(log.put_records("bench", records.clone()))
                        .unwrap()
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, append);
criterion_main!(benches);
