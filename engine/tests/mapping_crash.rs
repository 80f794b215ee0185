//! Crash test for delivery: SIGKILL a real server twice while a mapping feeds a slow
//! Python handler (real `awslambdaric`), restart it each time, and check that every record
//! reaches the handler at least once, in order per partition key the first time, with
//! duplicates only from the batches since each shard's last checkpoint.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use common::{entry, eventually, lines, python_function, Server};
use eddy_proto::v1 as pb;

const SHARDS: u32 = 4;
const RECORDS: usize = 2_000;
const BATCH_SIZE: u32 = 20;
const KILLS: usize = 2;

/// Slow on purpose: 50 ms per batch (about 1.6 k records/s over the 4 shards), so the kills
/// land mid-stream even when the test itself is scheduled late.
const SLOW_APPENDER: &str = r#"
import base64, os, time
def handler(event, context):
    time.sleep(0.05)
    lines = []
    for record in event["Records"]:
        data = base64.b64decode(record["kinesis"]["data"]).decode()
        lines.append(record["kinesis"]["partitionKey"] + " " + data + "\n")
    with open(os.environ["OUT_FILE"], "a") as out:
        out.write("".join(lines))
    return {}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_resumes_from_checkpoints_after_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("code");
    std::fs::create_dir(&code).unwrap();
    std::fs::write(code.join("slow.py"), SLOW_APPENDER).unwrap();
    let out_file = dir.path().join("seen.txt");
    let data = dir.path().join("data");

    let server = Server::start(&data, "buffered");
    let mut c = server.clients().await;
    c.create_stream("events", SHARDS).await;
    let mut function = python_function("slow", &code, "slow");
    function
        .env
        .insert("OUT_FILE".into(), out_file.display().to_string());
    function.concurrency = Some(SHARDS);
    c.functions.create_function(function).await.unwrap();
    c.mappings
        .create_mapping(pb::CreateMappingRequest {
            stream_name: "events".into(),
            function_name: "slow".into(),
            starting_position: pb::MappingStartingPosition::MappingTrimHorizon as i32,
            batch_size: Some(BATCH_SIZE),
            ..Default::default()
        })
        .await
        .unwrap();
    for chunk in 0..RECORDS / 100 {
        let entries = (chunk * 100..chunk * 100 + 100)
            .map(|i| entry(&format!("key-{}", i % 16), format!("record-{i}").as_bytes()))
            .collect();
        c.records
            .put_records(pb::PutRecordsRequest {
                stream_name: "events".into(),
                records: entries,
            })
            .await
            .unwrap();
    }

    let mut server = server;
    for kill in 1..=KILLS {
        // Kill once delivery is under way (progress, not time).
        let threshold = kill * RECORDS / (KILLS + 1);
        eventually(
            "delivery progress before the kill",
            Duration::from_secs(120),
            || (lines(&out_file).len() >= threshold).then_some(()),
        )
        .await;
        server.kill();
        let delivered_at_kill = lines(&out_file)
            .into_iter()
            .collect::<std::collections::HashSet<_>>()
            .len();
        assert!(
            delivered_at_kill < RECORDS,
            "everything was delivered before kill {kill}: the test proves nothing"
        );
        println!("kill {kill}: {delivered_at_kill} deliveries before it");
        server = Server::start(&data, "buffered");
    }

    let seen = eventually(
        "every record after the restarts",
        Duration::from_secs(180),
        || {
            let seen = lines(&out_file);
            let unique: std::collections::HashSet<&String> = seen.iter().collect();
            (unique.len() == RECORDS).then_some(seen)
        },
    )
    .await;

    let mut first_delivery: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut deliveries: HashMap<&String, usize> = HashMap::new();
    for line in &seen {
        let count = deliveries.entry(line).or_default();
        *count += 1;
        if *count == 1 {
            let (key, data) = line.split_once(' ').unwrap();
            let n: usize = data.trim_start_matches("record-").parse().unwrap();
            first_delivery.entry(key.to_string()).or_default().push(n);
        }
    }
    for (key, ns) in &first_delivery {
        assert!(
            ns.windows(2).all(|w| w[0] < w[1]),
            "{key} out of order: {ns:?}"
        );
        assert_eq!(ns.len(), RECORDS / 16, "{key} is missing records");
    }
    let duplicates = seen.len() - RECORDS;
    // Per kill and shard: the batch in flight, plus what was delivered in the last
    // checkpoint interval (20 ms: at most one more 50 ms batch of this handler), with room
    // for one more.
    let bound = KILLS * SHARDS as usize * BATCH_SIZE as usize * 3;
    println!("{duplicates} duplicate deliveries (bound {bound})");
    assert!(
        duplicates <= bound,
        "{duplicates} duplicate deliveries; at most {bound} may repeat (the batches since each shard's last checkpoint)"
    );

    // The mapping survived both kills with its settings.
    let mappings = c_after(&server).await;
    assert_eq!(mappings.len(), 1);
    assert_eq!(mappings[0].batch_size, BATCH_SIZE);
    assert_eq!(mappings[0].state, "Enabled");
}

async fn c_after(server: &Server) -> Vec<pb::MappingDescription> {
    let mut c = server.clients().await;
    c.mappings
        .list_mappings(pb::ListMappingsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .mappings
}
