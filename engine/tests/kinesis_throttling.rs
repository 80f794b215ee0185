//! Overload through the Kinesis API: when the log's write queue is full, PutRecords
//! answers 200 with every entry marked ProvisionedThroughputExceededException (so SDKs
//! retry just those) and PutRecord answers that error type; nothing of a throttled request
//! is written, and the admitted request completes once the writer moves again.

use std::time::Duration;

use eddy::config::ServeConfig;
use eddy_shards::Durability;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One Kinesis JSON call over a fresh HTTP/1.1 connection: (status, body).
async fn kinesis(addr: std::net::SocketAddr, operation: &str, body: &Value) -> (u16, Value) {
    let body = body.to_string();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.1\r\n\
         X-Amz-Target: Kinesis_20131202.{operation}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8(response).unwrap();
    let status: u16 = text[9..12].parse().unwrap();
    let (_, payload) = text.split_once("\r\n\r\n").unwrap();
    let value = if payload.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(payload).unwrap_or_else(|_| panic!("not JSON: {payload:?}"))
    };
    (status, value)
}

fn entries(count: usize, bytes: usize) -> Value {
    let data = base64_of(&vec![b'x'; bytes]);
    Value::Array(
        (0..count)
            .map(|i| json!({"PartitionKey": format!("k{i}"), "Data": data}))
            .collect(),
    )
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_write_queue_throttles_kinesis_puts_and_writes_nothing_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServeConfig::new(dir.path().join("data"), "127.0.0.1:0".parse().unwrap());
    config.http_addr = Some("127.0.0.1:0".parse().unwrap());
    config.durability = Durability::Buffered;
    config.max_queued_bytes = 10_000;
    let server = eddy::server::start(config).await.unwrap();
    let addr = server.http_addr.unwrap();
    let (status, _) = kinesis(
        addr,
        "CreateStream",
        &json!({"StreamName": "s", "ShardCount": 1}),
    )
    .await;
    assert_eq!(status, 200);

    let release = server.log.stall_writer_for_tests();
    // Admitted (the queue was empty), then held by the stalled writer.
    let admitted = tokio::spawn(async move {
        kinesis(
            addr,
            "PutRecords",
            &json!({"StreamName": "s", "Records": entries(2, 3_000)}),
        )
        .await
    });
    // Wait until it is queued (no timing is assumed: the deadline only bounds a hang).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while server.log.write_stats().queued_bytes == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first put never queued"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!admitted.is_finished(), "the writer is stalled");

    let (status, throttled) = kinesis(
        addr,
        "PutRecords",
        &json!({"StreamName": "s", "Records": entries(3, 3_000)}),
    )
    .await;
    assert_eq!(status, 200, "{throttled}");
    assert_eq!(throttled["FailedRecordCount"], 3, "{throttled}");
    for entry in throttled["Records"].as_array().unwrap() {
        assert_eq!(
            entry["ErrorCode"], "ProvisionedThroughputExceededException",
            "{entry}"
        );
        assert!(entry.get("SequenceNumber").is_none(), "{entry}");
    }
    let single = json!({"StreamName": "s", "PartitionKey": "k", "Data": base64_of(&[1u8; 9_000])});
    let (status, error) = kinesis(addr, "PutRecord", &single).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(
        error["__type"], "ProvisionedThroughputExceededException",
        "{error}"
    );

    drop(release);
    let (status, accepted) = admitted.await.unwrap();
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(accepted["FailedRecordCount"], 0, "{accepted}");

    // Only the admitted request's two records were written.
    let (_, iterator) = kinesis(
        addr,
        "GetShardIterator",
        &json!({"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "TRIM_HORIZON"}),
    )
    .await;
    let (_, records) = kinesis(
        addr,
        "GetRecords",
        &json!({"ShardIterator": iterator["ShardIterator"]}),
    )
    .await;
    let keys: Vec<&str> = records["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["PartitionKey"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["k0", "k1"], "{records}");
    server.shutdown().await.unwrap();
}
