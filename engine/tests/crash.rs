//! Crash tests: SIGKILL a real server six times while producers write, under both
//! durability modes; and SIGKILL it while it writes into a recycled WAL file. Every
//! acknowledged record must survive, in order per shard, and no sequence number may be
//! handed out twice.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::{entry, Clients, Server};
use eddy_proto::v1 as pb;

const PRODUCERS: usize = 4;
const SHARDS: u32 = 3;
const KILLS: usize = 6;

/// (shard id, sequence number) → payload, for every acknowledged record.
type Acked = Arc<Mutex<HashMap<(String, u64), String>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_records_survive_repeated_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let acked: Acked = Arc::new(Mutex::new(HashMap::new()));
    let mut reused = Vec::new();

    for round in 0..KILLS {
        let durability = if round % 2 == 0 { "fsync" } else { "buffered" };
        let server = Server::start(&data, durability);
        let mut c = server.clients().await;
        if round == 0 {
            c.create_stream("crash", SHARDS).await;
        }
        let acked_this_round = Arc::new(AtomicU64::new(0));
        let mut producers = Vec::new();
        for producer in 0..PRODUCERS {
            let c = Clients::connect(&server.endpoint).await;
            let acked = acked.clone();
            let count = acked_this_round.clone();
            producers.push(tokio::spawn(produce(c, round, producer, acked, count)));
        }
        // Kill once the producers are well under way (progress, not time).
        while acked_this_round.load(Ordering::SeqCst) < 5_000 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        server.kill();
        for producer in producers {
            reused.extend(producer.await.unwrap());
        }
    }
    assert!(
        reused.is_empty(),
        "sequence numbers acknowledged twice: {reused:?}"
    );

    let server = Server::start(&data, "fsync");
    let mut c = server.clients().await;
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= KILLS * 5_000);
    let mut found = 0;
    for shard in 0..SHARDS {
        let shard_id = format!("shardId-{shard:012}");
        let records = c.read_all("crash", &shard_id).await;
        assert!(
            records
                .windows(2)
                .all(|w| w[0].sequence_number < w[1].sequence_number),
            "read order is sequence order"
        );
        let stored: BTreeMap<u64, String> = records
            .iter()
            .map(|r| {
                (
                    r.sequence_number,
                    String::from_utf8(r.data.to_vec()).unwrap(),
                )
            })
            .collect();
        for ((acked_shard, seq), payload) in acked.iter() {
            if *acked_shard != shard_id {
                continue;
            }
            assert_eq!(
                stored.get(seq),
                Some(payload),
                "acknowledged record {shard_id}/{seq} lost or changed"
            );
            found += 1;
        }
        // Per producer and key, payload counters grow with the sequence number.
        let mut last: HashMap<(String, String), u64> = HashMap::new();
        for (record, payload) in records.iter().zip(stored.values()) {
            let mut parts = payload.split('/');
            let (writer, counter) = (
                parts.next().unwrap().to_string(),
                parts.next().unwrap().parse::<u64>().unwrap(),
            );
            let key = (writer, record.partition_key.clone());
            if let Some(previous) = last.insert(key, counter) {
                assert!(
                    previous < counter,
                    "{payload} arrived after a later record of its producer"
                );
            }
        }
    }
    assert_eq!(found, acked.len());
}

/// Writes batches until the server dies. Returns any (shard, seq) acknowledged twice.
async fn produce(
    mut c: Clients,
    round: usize,
    producer: usize,
    acked: Acked,
    count: Arc<AtomicU64>,
) -> Vec<(String, u64)> {
    let mut reused = Vec::new();
    let mut counter = 0u64;
    loop {
        let payloads: Vec<String> = (0..20)
            .map(|_| {
                counter += 1;
                format!("r{round}p{producer}/{counter}")
            })
            .collect();
        let records = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| entry(&format!("key-{}", i % 5), p.as_bytes()))
            .collect();
        let response = match c
            .records
            .put_records(pb::PutRecordsRequest {
                stream_name: "crash".into(),
                records,
            })
            .await
        {
            Ok(response) => response.into_inner(),
            Err(_) => return reused, // the server was killed
        };
        let mut acked = acked.lock().unwrap();
        for (payload, result) in payloads.into_iter().zip(response.records) {
            assert!(result.error_code.is_empty());
            if acked
                .insert((result.shard_id.clone(), result.sequence_number), payload)
                .is_some()
            {
                reused.push((result.shard_id, result.sequence_number));
            }
        }
        count.fetch_add(20, Ordering::SeqCst);
    }
}

/// WAL files are recycled: once enough memtables were flushed, a new WAL overwrites an
/// obsolete one, and recovery must take the old records left past the new ones' end for
/// the end of the log. Kills the server while it writes into a recycled file, under each
/// durability mode in turn; every acknowledged record must be there, unchanged, with
/// nothing replayed from the file's earlier life, and sequence numbers must go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_records_survive_sigkill_while_writing_a_recycled_wal_file() {
    /// Batches written into the recycled file before the kill: 5 MiB, well inside the
    /// 16 MiB memtable, so the kill falls before the file's old end.
    const BATCHES_AFTER_REUSE: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let shard_id = "shardId-000000000000";
    let mut acked: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut counter = 0u64;
    for (round, durability) in ["fsync", "buffered"].into_iter().enumerate() {
        let server = Server::start(&data, durability);
        let mut c = server.clients().await;
        if round == 0 {
            c.create_stream("recycled", 1).await;
        }
        let reused_before = wal_files_reused(&data);
        let mut after_reuse = 0;
        while after_reuse < BATCHES_AFTER_REUSE {
            let payloads: Vec<Vec<u8>> = (0..500)
                .map(|_| {
                    counter += 1;
                    let mut payload = format!("{counter:>16}").into_bytes();
                    payload.resize(1024, b'.');
                    payload
                })
                .collect();
            let records = payloads
                .iter()
                .map(|payload| entry(&format!("key-{}", counter % 7), payload))
                .collect();
            let response = c
                .records
                .put_records(pb::PutRecordsRequest {
                    stream_name: "recycled".into(),
                    records,
                })
                .await
                .expect("put records")
                .into_inner();
            for (payload, result) in payloads.into_iter().zip(response.records) {
                assert!(result.error_code.is_empty(), "{}", result.error_message);
                assert!(
                    acked.insert(result.sequence_number, payload).is_none(),
                    "sequence number {} acknowledged twice",
                    result.sequence_number
                );
            }
            if wal_files_reused(&data) > reused_before {
                after_reuse += 1;
            }
            assert!(
                counter < 2_000_000,
                "no WAL file was reused after 2 GiB: is recycling off?"
            );
        }
        server.kill();
    }

    let server = Server::start(&data, "fsync");
    let mut c = server.clients().await;
    let stored = c.read_all("recycled", shard_id).await;
    assert!(
        stored
            .windows(2)
            .all(|w| w[0].sequence_number < w[1].sequence_number),
        "read order is sequence order"
    );
    assert_eq!(
        stored.len(),
        acked.len(),
        "every put was acknowledged before the kill, so exactly the acknowledged records are stored"
    );
    for (record, (seq, payload)) in stored.iter().zip(&acked) {
        assert_eq!(
            record.sequence_number, *seq,
            "acknowledged record {seq} lost"
        );
        assert_eq!(record.data, payload.as_slice(), "record {seq} changed");
    }
    let last = *acked.keys().next_back().unwrap();
    let next = c
        .records
        .put_records(pb::PutRecordsRequest {
            stream_name: "recycled".into(),
            records: vec![entry("key", b"after")],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        next.records[0].sequence_number > last,
        "a sequence number was handed out again after recovery"
    );
}

/// How many times RocksDB's info log in `data` says a WAL file was reused.
fn wal_files_reused(data: &std::path::Path) -> usize {
    std::fs::read_to_string(data.join("LOG"))
        .expect("RocksDB's info log")
        .matches("from recycle list")
        .count()
}
