//! Crash test: SIGKILL a real server six times while producers write, under both
//! durability modes; every acknowledged record must survive, in order per shard, and no
//! sequence number may be handed out twice.

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
