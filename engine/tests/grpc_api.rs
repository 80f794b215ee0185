//! End-to-end: a real `eddy serve` process, real RocksDB, gRPC clients.

mod common;

use common::{entry, position, trim_horizon, Server};
use eddy_proto::v1 as pb;
use md5::{Digest, Md5};
use tonic::Code;

fn md5_u128(key: &str) -> u128 {
    u128::from_be_bytes(Md5::digest(key.as_bytes()).into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_lifecycle_and_shard_layout() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), "fsync");
    let mut c = server.clients().await;

    let stream = c.create_stream("orders", 4).await;
    assert_eq!(stream.shards.len(), 4);
    assert_eq!(stream.retention_hours, 24);
    assert_eq!(stream.shards[0].shard_id, "shardId-000000000000");
    assert_eq!(stream.shards[3].shard_id, "shardId-000000000003");
    let first = stream.shards[0].hash_key_range.clone().unwrap();
    let last = stream.shards[3].hash_key_range.clone().unwrap();
    assert_eq!(first.starting_hash_key, "0");
    assert_eq!(
        first.ending_hash_key,
        "85070591730234615865843651857942052863"
    );
    assert_eq!(last.ending_hash_key, u128::MAX.to_string());
    assert!(stream
        .shards
        .iter()
        .all(|s| s.open && s.parent_shard_id.is_none()));

    let err = c
        .streams
        .create_stream(pb::CreateStreamRequest {
            name: "orders".into(),
            shard_count: Some(1),
            retention_hours: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert!(err.message().contains("`orders`"), "{}", err.message());

    c.create_stream("audit", 1).await;
    let names: Vec<String> = c
        .streams
        .list_streams(pb::ListStreamsRequest {})
        .await
        .unwrap()
        .into_inner()
        .streams
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, vec!["audit", "orders"]);

    let shards = c
        .streams
        .list_shards(pb::ListShardsRequest {
            stream_name: "orders".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .shards;
    assert_eq!(shards, stream.shards);

    c.streams
        .delete_stream(pb::DeleteStreamRequest {
            name: "orders".into(),
        })
        .await
        .unwrap();
    for code in [
        c.streams
            .describe_stream(pb::DescribeStreamRequest {
                name: "orders".into(),
            })
            .await
            .unwrap_err()
            .code(),
        c.streams
            .delete_stream(pb::DeleteStreamRequest {
                name: "orders".into(),
            })
            .await
            .unwrap_err()
            .code(),
        c.streams
            .list_shards(pb::ListShardsRequest {
                stream_name: "orders".into(),
            })
            .await
            .unwrap_err()
            .code(),
    ] {
        assert_eq!(code, Code::NotFound);
    }
    // A re-created stream starts empty: no record of its predecessor shows through.
    c.records
        .put_record(pb::PutRecordRequest {
            stream_name: "audit".into(),
            partition_key: "k".into(),
            data: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    c.create_stream("orders", 4).await;
    for shard in 0..4 {
        assert!(c
            .read_all("orders", &format!("shardId-{shard:012}"))
            .await
            .is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_route_by_md5_and_read_back_with_every_iterator_type() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), "buffered");
    let mut c = server.clients().await;
    let stream = c.create_stream("events", 4).await;
    let shard_of = |hash: u128| {
        stream
            .shards
            .iter()
            .find(|s| {
                let r = s.hash_key_range.clone().unwrap();
                r.starting_hash_key.parse::<u128>().unwrap() <= hash
                    && hash <= r.ending_hash_key.parse::<u128>().unwrap()
            })
            .unwrap()
            .shard_id
            .clone()
    };

    // PutRecords: one result per entry, in order, routed by MD5.
    let keys: Vec<String> = (0..200).map(|i| format!("user-{i}")).collect();
    let response = c
        .records
        .put_records(pb::PutRecordsRequest {
            stream_name: "events".into(),
            records: keys
                .iter()
                .map(|k| entry(k, format!("payload of {k}").as_bytes()))
                .collect(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.failed_record_count, 0);
    assert_eq!(response.records.len(), keys.len());
    for (key, result) in keys.iter().zip(&response.records) {
        assert_eq!(result.shard_id, shard_of(md5_u128(key)), "key {key}");
        assert!(result.error_code.is_empty());
    }

    // An ExplicitHashKey overrides the MD5.
    let explicit = c
        .records
        .put_record(pb::PutRecordRequest {
            stream_name: "events".into(),
            partition_key: "user-0".into(),
            data: "explicit".into(),
            explicit_hash_key: Some(u128::MAX.to_string()),
            sequence_number_for_ordering: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(explicit.shard_id, "shardId-000000000003");

    // Read every shard back: all records, in put order per shard, nothing else.
    let mut total = 0;
    for shard in &stream.shards {
        let records = c.read_all("events", &shard.shard_id).await;
        let mut expected: Vec<(u64, String)> = keys
            .iter()
            .zip(&response.records)
            .filter(|(_, r)| r.shard_id == shard.shard_id)
            .map(|(k, r)| (r.sequence_number, format!("payload of {k}")))
            .collect();
        if shard.shard_id == "shardId-000000000003" {
            expected.push((explicit.sequence_number, "explicit".into()));
        }
        let got: Vec<(u64, String)> = records
            .iter()
            .map(|r| {
                (
                    r.sequence_number,
                    String::from_utf8(r.data.to_vec()).unwrap(),
                )
            })
            .collect();
        assert_eq!(got, expected);
        assert!(records
            .windows(2)
            .all(|w| w[0].sequence_number < w[1].sequence_number));
        total += records.len();
    }
    assert_eq!(total, 201);

    // The other four iterator types, on shard 3.
    let shard3 = "shardId-000000000003";
    let all = c.read_all("events", shard3).await;
    let records_client = c.records.clone();
    let get = move |iterator: String, limit: Option<u32>| {
        let mut records = records_client.clone();
        async move {
            records
                .get_records(pb::GetRecordsRequest {
                    shard_iterator: iterator,
                    limit,
                })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let mid = &all[all.len() / 2];
    let at = pb::StartingPosition {
        sequence_number: Some(mid.sequence_number),
        ..position(pb::ShardIteratorType::AtSequenceNumber)
    };
    let batch = get(c.iterator("events", shard3, at).await.unwrap(), Some(2)).await;
    assert_eq!(batch.records[0], *mid);
    assert_eq!(batch.records.len(), 2, "limit is honoured");
    assert!(batch.millis_behind_latest < 60_000);
    let after = pb::StartingPosition {
        sequence_number: Some(mid.sequence_number),
        ..position(pb::ShardIteratorType::AfterSequenceNumber)
    };
    let batch = get(c.iterator("events", shard3, after).await.unwrap(), Some(1)).await;
    assert_eq!(batch.records[0].sequence_number, mid.sequence_number + 1);

    let latest = c
        .iterator("events", shard3, position(pb::ShardIteratorType::Latest))
        .await
        .unwrap();
    let batch = get(latest.clone(), None).await;
    assert!(batch.records.is_empty());
    assert_eq!(batch.millis_behind_latest, 0);
    let newer = c
        .records
        .put_record(pb::PutRecordRequest {
            stream_name: "events".into(),
            partition_key: "late".into(),
            data: "after latest".into(),
            explicit_hash_key: Some(u128::MAX.to_string()),
            sequence_number_for_ordering: Some(explicit.sequence_number),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(newer.sequence_number > explicit.sequence_number);
    let batch = get(batch.next_shard_iterator.unwrap(), None).await;
    assert_eq!(batch.records.len(), 1);
    assert_eq!(&batch.records[0].data[..], b"after latest");

    let newer_arrival_millis = newer_arrival(&batch);
    let ts = pb::StartingPosition {
        timestamp_millis: Some(newer_arrival_millis),
        ..position(pb::ShardIteratorType::AtTimestamp)
    };
    let batch = get(c.iterator("events", shard3, ts).await.unwrap(), None).await;
    let ts_millis = newer_arrival_millis;
    let expected_first = all
        .iter()
        .find(|r| r.approximate_arrival_timestamp_millis >= ts_millis)
        .map_or(newer.sequence_number, |r| r.sequence_number);
    assert_eq!(
        batch.records.first().unwrap().sequence_number,
        expected_first
    );
    assert_eq!(
        batch.records.last().unwrap().sequence_number,
        newer.sequence_number
    );
    let future = pb::StartingPosition {
        timestamp_millis: Some(u64::MAX / 2),
        ..position(pb::ShardIteratorType::AtTimestamp)
    };
    let batch = get(c.iterator("events", shard3, future).await.unwrap(), None).await;
    assert!(
        batch.records.is_empty(),
        "a future timestamp starts at the head"
    );
    let past = pb::StartingPosition {
        timestamp_millis: Some(0),
        ..position(pb::ShardIteratorType::AtTimestamp)
    };
    let batch = get(c.iterator("events", shard3, past).await.unwrap(), None).await;
    assert_eq!(batch.records.len(), all.len() + 1);
}

fn newer_arrival(batch: &pb::GetRecordsResponse) -> u64 {
    batch.records[0].approximate_arrival_timestamp_millis
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_pushes_records_as_they_commit() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), "fsync");
    let mut c = server.clients().await;
    c.create_stream("live", 1).await;
    c.records
        .put_records(pb::PutRecordsRequest {
            stream_name: "live".into(),
            records: vec![entry("a", b"before")],
        })
        .await
        .unwrap();
    let mut events = c
        .records
        .subscribe_to_shard(pb::SubscribeToShardRequest {
            stream_name: "live".into(),
            shard_id: "shardId-000000000000".into(),
            starting_position: Some(trim_horizon()),
        })
        .await
        .unwrap()
        .into_inner();
    let first = events.message().await.unwrap().unwrap();
    assert_eq!(&first.records[0].data[..], b"before");
    assert_eq!(first.continuation_sequence_number, 0);
    for i in 0..20u32 {
        let data = format!("live-{i}");
        c.records
            .put_record(pb::PutRecordRequest {
                stream_name: "live".into(),
                partition_key: "a".into(),
                data: data.clone().into(),
                ..Default::default()
            })
            .await
            .unwrap();
        // Each record arrives on its own, pushed by the commit: no polling interval.
        let event = tokio::time::timeout(std::time::Duration::from_secs(30), events.message())
            .await
            .expect("a pushed event")
            .unwrap()
            .unwrap();
        assert_eq!(event.records.len(), 1);
        assert_eq!(event.records[0].data, data.as_bytes());
        assert_eq!(event.records[0].sequence_number, u64::from(i) + 1);
    }
    // Deleting the stream ends the subscription with NOT_FOUND.
    c.streams
        .delete_stream(pb::DeleteStreamRequest {
            name: "live".into(),
        })
        .await
        .unwrap();
    let err = events.message().await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_and_iterators_survive_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, "buffered");
    let mut c = server.clients().await;
    c.create_stream("keep", 2).await;
    let put = c
        .records
        .put_records(pb::PutRecordsRequest {
            stream_name: "keep".into(),
            records: (0..100)
                .map(|i| entry(&format!("k{i}"), &[i as u8; 100]))
                .collect(),
        })
        .await
        .unwrap()
        .into_inner();
    let iterator = c
        .iterator("keep", "shardId-000000000000", trim_horizon())
        .await
        .unwrap();
    assert!(server.terminate().success(), "SIGTERM drains and exits 0");

    let server = Server::start(&data, "buffered");
    let mut c = server.clients().await;
    let mut seen = 0;
    for shard in ["shardId-000000000000", "shardId-000000000001"] {
        let records = c.read_all("keep", shard).await;
        let expected: Vec<u64> = put
            .records
            .iter()
            .filter(|r| r.shard_id == shard)
            .map(|r| r.sequence_number)
            .collect();
        assert_eq!(
            records
                .iter()
                .map(|r| r.sequence_number)
                .collect::<Vec<_>>(),
            expected
        );
        seen += records.len();
    }
    assert_eq!(seen, 100);
    // An iterator issued before the restart still works (the key is persisted).
    let batch = c
        .records
        .get_records(pb::GetRecordsRequest {
            shard_iterator: iterator,
            limit: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        batch.records.len(),
        put.records
            .iter()
            .filter(|r| r.shard_id == "shardId-000000000000")
            .count()
    );
    // New records continue the sequence.
    let next = c
        .records
        .put_record(pb::PutRecordRequest {
            stream_name: "keep".into(),
            partition_key: "x".into(),
            data: "y".into(),
            explicit_hash_key: Some("0".into()),
            sequence_number_for_ordering: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        next.sequence_number,
        batch.records.last().unwrap().sequence_number + 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_services_answer() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), "fsync");
    let channel = tonic::transport::Endpoint::from_shared(server.endpoint.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "eddy.v1.Records".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    use tonic_reflection::pb::v1::{
        server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        ServerReflectionRequest,
    };
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.contains(&"eddy.v1.Streams".to_string()), "{names:?}");
    assert!(names.contains(&"eddy.v1.Records".to_string()), "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_record_stream_pipelines_and_acknowledges_in_order() {
    const REQUESTS: u64 = 3000;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), "buffered");
    let mut c = server.clients().await;
    c.create_stream("pipe", 4).await;

    // Every request is sent before any acknowledgement is read: more than the server
    // keeps in flight, so its flow control is exercised. A few are bad and must fail
    // alone, writing nothing.
    let request = |id: u64| {
        let key = format!("k{}", id % 7);
        let mut request = pb::PutRecordStreamRequest {
            request_id: id,
            stream_name: "pipe".into(),
            records: (0..=id % 3)
                .map(|i| entry(&key, format!("{id}.{i}").as_bytes()))
                .collect(),
        };
        match id {
            500 => request.stream_name = "missing".into(),
            700 => request.records.clear(),
            900 => request.records[0].partition_key.clear(),
            _ => {}
        }
        request
    };
    let (requests_tx, requests_rx) = tokio::sync::mpsc::unbounded_channel();
    for id in 0..REQUESTS {
        requests_tx.send(request(id)).unwrap();
    }
    drop(requests_tx);
    let mut responses = c
        .records
        .put_record_stream(tokio_stream::wrappers::UnboundedReceiverStream::new(
            requests_rx,
        ))
        .await
        .unwrap()
        .into_inner();

    // Per shard, the data in the order it was sent, of the requests that succeeded.
    let mut sent_per_shard: std::collections::HashMap<String, Vec<Vec<u8>>> = Default::default();
    for id in 0..REQUESTS {
        let response = responses
            .message()
            .await
            .unwrap()
            .expect("one response per request");
        assert_eq!(response.request_id, id, "acknowledged in request order");
        let expected_code = match id {
            500 => Some(Code::NotFound),
            700 | 900 => Some(Code::InvalidArgument),
            _ => None,
        };
        if let Some(code) = expected_code {
            assert_eq!(response.error_code, code as i32, "request {id}");
            assert!(response.records.is_empty());
            if id == 900 {
                assert!(
                    response.error_message.contains("records[0].partition_key"),
                    "{}",
                    response.error_message
                );
            }
            continue;
        }
        assert_eq!(
            response.error_code, 0,
            "request {id}: {}",
            response.error_message
        );
        let sent = request(id);
        assert_eq!(response.records.len(), sent.records.len());
        for (result, entry) in response.records.iter().zip(sent.records) {
            sent_per_shard
                .entry(result.shard_id.clone())
                .or_default()
                .push(entry.data.to_vec());
        }
    }
    assert!(
        responses.message().await.unwrap().is_none(),
        "the call ends after the last ack"
    );

    // What was acknowledged is stored, per shard in the order it was sent, and nothing of
    // the refused requests.
    let mut stored_total = 0;
    for shard in 0..4 {
        let shard_id = format!("shardId-{shard:012}");
        let stored: Vec<Vec<u8>> = c
            .read_all("pipe", &shard_id)
            .await
            .into_iter()
            .map(|record| record.data.to_vec())
            .collect();
        stored_total += stored.len();
        assert_eq!(stored, sent_per_shard.remove(&shard_id).unwrap_or_default());
    }
    let expected: u64 = (0..REQUESTS)
        .filter(|id| ![500, 700, 900].contains(id))
        .map(|id| id % 3 + 1)
        .sum();
    assert_eq!(stored_total as u64, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_record_stream_ends_with_the_reason_when_a_request_cannot_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), "buffered");
    let mut c = server.clients().await;
    c.create_stream("pipe", 1).await;
    let small = pb::PutRecordStreamRequest {
        request_id: 1,
        stream_name: "pipe".into(),
        records: vec![entry("k", b"fits")],
    };
    // Far over the largest message the server decodes (a full PutRecords and some).
    let huge = pb::PutRecordStreamRequest {
        request_id: 2,
        stream_name: "pipe".into(),
        records: vec![entry("k", &vec![0u8; 16 << 20])],
    };
    let mut responses = c
        .records
        .put_record_stream(tokio_stream::iter([small, huge]))
        .await
        .unwrap()
        .into_inner();
    let first = responses
        .message()
        .await
        .unwrap()
        .expect("the first is acknowledged");
    assert_eq!((first.request_id, first.error_code), (1, 0));
    let err = responses
        .message()
        .await
        .expect_err("the call ends with the reason");
    assert_ne!(err.code(), Code::Ok);
    let stored = c.read_all("pipe", "shardId-000000000000").await;
    assert_eq!(stored.len(), 1, "only the request that was read is written");
}
