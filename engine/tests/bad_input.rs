//! Every bad input gets a clear error naming the field and the limit, and writes nothing.

mod common;

use bytes::Bytes;
use common::{entry, position, trim_horizon, Clients, Server};
use eddy_proto::v1 as pb;
use tonic::Code;

fn expect_error<T: std::fmt::Debug>(
    result: Result<T, tonic::Status>,
    code: Code,
    fragments: &[&str],
) {
    let status = result.expect_err("the request must be rejected");
    assert_eq!(status.code(), code, "{}", status.message());
    for fragment in fragments {
        assert!(
            status.message().contains(fragment),
            "{:?} lacks {fragment:?}",
            status.message()
        );
    }
}

async fn assert_empty(c: &mut Clients, stream: &str, shards: u32) {
    for shard in 0..shards {
        let records = c.read_all(stream, &format!("shardId-{shard:012}")).await;
        assert!(records.is_empty(), "a rejected request wrote {records:?}");
    }
}

fn put(key: &str, data: Bytes) -> pb::PutRecordRequest {
    pb::PutRecordRequest {
        stream_name: "s".into(),
        partition_key: key.into(),
        data,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_requests() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), "buffered");
    let mut c = server.clients().await;
    let create = |name: &str, shards: Option<u32>, hours: Option<u32>| pb::CreateStreamRequest {
        name: name.into(),
        shard_count: shards,
        retention_hours: hours,
    };
    let cases = [
        (
            create("has space", None, None),
            vec!["`name`", "[a-zA-Z0-9_.-]"],
        ),
        (create("", None, None), vec!["`name`", "1 to 128"]),
        (
            create(&"x".repeat(129), None, None),
            vec!["`name`", "1 to 128"],
        ),
        (
            create("ok", Some(0), None),
            vec!["`shard_count`", "between 1 and 1024", "got 0"],
        ),
        (
            create("ok", Some(100_000), None),
            vec!["`shard_count`", "1024"],
        ),
        (
            create("ok", None, Some(23)),
            vec!["`retention_hours`", "between 24 and 8760", "got 23"],
        ),
        (
            create("ok", None, Some(8761)),
            vec!["`retention_hours`", "8760"],
        ),
    ];
    for (request, fragments) in cases {
        expect_error(
            c.streams.create_stream(request).await,
            Code::InvalidArgument,
            &fragments,
        );
    }
    let streams = c
        .streams
        .list_streams(pb::ListStreamsRequest {})
        .await
        .unwrap()
        .into_inner()
        .streams;
    assert!(streams.is_empty(), "rejected creates wrote {streams:?}");
    expect_error(
        c.streams
            .describe_stream(pb::DescribeStreamRequest {
                name: "missing".into(),
            })
            .await,
        Code::NotFound,
        &["stream `missing` not found"],
    );
    expect_error(
        c.streams
            .delete_stream(pb::DeleteStreamRequest {
                name: "bad/name".into(),
            })
            .await,
        Code::InvalidArgument,
        &["`name`"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_requests() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), "buffered");
    let mut c = server.clients().await;
    c.create_stream("s", 2).await;

    expect_error(
        c.records.put_record(put("", "x".into())).await,
        Code::InvalidArgument,
        &["`partition_key`", "1 to 256", "got 0"],
    );
    expect_error(
        c.records
            .put_record(put(&"é".repeat(257), "x".into()))
            .await,
        Code::InvalidArgument,
        &["`partition_key`", "got 257"],
    );
    expect_error(
        c.records
            .put_record(put("k", Bytes::from(vec![0u8; 1024 * 1024 + 1])))
            .await,
        Code::InvalidArgument,
        &["`data`", "1048576", "got 1048577"],
    );
    for bad_key in ["-1", "01", "abc", "340282366920938463463374607431768211456"] {
        let request = pb::PutRecordRequest {
            explicit_hash_key: Some(bad_key.into()),
            ..put("k", "x".into())
        };
        expect_error(
            c.records.put_record(request).await,
            Code::InvalidArgument,
            &["`explicit_hash_key`", "2^128-1"],
        );
    }
    let request = pb::PutRecordRequest {
        sequence_number_for_ordering: Some(5),
        ..put("k", "x".into())
    };
    expect_error(
        c.records.put_record(request).await,
        Code::InvalidArgument,
        &["`sequence_number_for_ordering`"],
    );
    expect_error(
        c.records
            .put_record(pb::PutRecordRequest {
                stream_name: "missing".into(),
                ..put("k", "x".into())
            })
            .await,
        Code::NotFound,
        &["stream `missing` not found"],
    );

    let many = |n: usize, size: usize| pb::PutRecordsRequest {
        stream_name: "s".into(),
        records: (0..n)
            .map(|i| entry(&format!("k{i}"), &vec![1u8; size]))
            .collect(),
    };
    expect_error(
        c.records.put_records(many(501, 1)).await,
        Code::InvalidArgument,
        &["`records`", "1 to 500", "got 501"],
    );
    expect_error(
        c.records.put_records(many(0, 1)).await,
        Code::InvalidArgument,
        &["`records`", "got 0"],
    );
    expect_error(
        c.records.put_records(many(6, 1024 * 1024)).await,
        Code::InvalidArgument,
        &["`records`", "5242880"],
    );
    // One bad entry among good ones: the whole request is rejected and names the entry.
    let mut mixed = many(10, 10);
    mixed.records[7].partition_key = String::new();
    expect_error(
        c.records.put_records(mixed).await,
        Code::InvalidArgument,
        &["`records[7].partition_key`"],
    );
    assert_empty(&mut c, "s", 2).await;

    // Iterators.
    expect_error(
        c.iterator("s", "shardId-000000000009", trim_horizon())
            .await,
        Code::NotFound,
        &["shard `shardId-000000000009` not found in stream `s`"],
    );
    expect_error(
        c.iterator(
            "s",
            "shardId-000000000000",
            position(pb::ShardIteratorType::Unspecified),
        )
        .await,
        Code::InvalidArgument,
        &["`starting_position.type`"],
    );
    expect_error(
        c.iterator(
            "s",
            "shardId-000000000000",
            position(pb::ShardIteratorType::AtSequenceNumber),
        )
        .await,
        Code::InvalidArgument,
        &["`starting_position.sequence_number`", "required"],
    );
    let beyond = pb::StartingPosition {
        sequence_number: Some(10),
        ..position(pb::ShardIteratorType::AfterSequenceNumber)
    };
    expect_error(
        c.iterator("s", "shardId-000000000000", beyond).await,
        Code::InvalidArgument,
        &["10 has not been assigned"],
    );
    expect_error(
        c.iterator(
            "s",
            "shardId-000000000000",
            position(pb::ShardIteratorType::AtTimestamp),
        )
        .await,
        Code::InvalidArgument,
        &["`starting_position.timestamp_millis`"],
    );
    let get = |iterator: &str, limit: Option<u32>| pb::GetRecordsRequest {
        shard_iterator: iterator.into(),
        limit,
    };
    let good = c
        .iterator("s", "shardId-000000000000", trim_horizon())
        .await
        .unwrap();
    expect_error(
        c.records.get_records(get(&good, Some(0))).await,
        Code::InvalidArgument,
        &["`limit`", "between 1 and 10000"],
    );
    expect_error(
        c.records.get_records(get(&good, Some(10_001))).await,
        Code::InvalidArgument,
        &["`limit`", "got 10001"],
    );
    for forged in [
        "",
        "garbage",
        &good[..good.len() - 2],
        &format!("{good}AA"),
        &"A".repeat(5000),
    ] {
        expect_error(
            c.records.get_records(get(forged, None)).await,
            Code::InvalidArgument,
            &["`shard_iterator`", "not issued by this server"],
        );
    }
    // A tampered position (flip one byte of the sequence number) is caught by the MAC.
    let mut tampered: Vec<char> = good.chars().collect();
    tampered[14] = if tampered[14] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    expect_error(
        c.records.get_records(get(&tampered, None)).await,
        Code::InvalidArgument,
        &["`shard_iterator`"],
    );
    // An iterator of a deleted stream is NOT_FOUND even after the name is reused.
    c.streams
        .delete_stream(pb::DeleteStreamRequest { name: "s".into() })
        .await
        .unwrap();
    c.create_stream("s", 1).await;
    expect_error(
        c.records.get_records(get(&good, None)).await,
        Code::NotFound,
        &["deleted"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bytes_on_the_wire_do_not_crash_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), "buffered");
    let mut c = server.clients().await;
    c.create_stream("s", 1).await;
    // Raw HTTP/2 garbage and a truncated gRPC frame, straight to the port.
    let addr = server.endpoint.trim_start_matches("http://").to_string();
    for payload in [
        &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\xff\xff\xff\xff"[..],
        b"GET / HTTP/1.1\r\n\r\n",
        &[0xffu8; 4096],
    ] {
        use tokio::io::AsyncWriteExt;
        let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let _ = socket.write_all(payload).await;
        drop(socket);
    }
    let mut c2 = Clients::connect(&server.endpoint).await;
    assert!(c2.read_all("s", "shardId-000000000000").await.is_empty());
    c.records
        .put_record(put("k", "still alive".into()))
        .await
        .unwrap();
    assert_eq!(c.read_all("s", "shardId-000000000000").await.len(), 1);
}
