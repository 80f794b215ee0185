//! SIGTERM stops a real `eddy serve` even while clients hold connections open that will
//! never finish a request: after `shutdown_grace_secs` they are dropped, the log is
//! closed cleanly, and what was acknowledged before is there after a restart.

mod common;

use std::io::Write;
use std::net::TcpStream;

use common::{entry, Server};
use eddy_proto::v1 as pb;

fn addr_of(endpoint: &str) -> String {
    endpoint.trim_start_matches("http://").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_server_past_connections_that_never_finish() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("eddy.toml");
    std::fs::write(&config, "shutdown_grace_secs = 1\n").unwrap();
    let config_arg = config.to_str().unwrap();

    let server =
        Server::start_with_args(&data, &["--durability", "buffered", "--config", config_arg]);
    let mut c = server.clients().await;
    c.create_stream("keep", 1).await;
    let put = c
        .records
        .put_records(pb::PutRecordsRequest {
            stream_name: "keep".into(),
            records: vec![entry("k", b"acknowledged before SIGTERM")],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(put.failed_record_count, 0);

    // A bare TCP connect to the gRPC port (no HTTP/2 preface ever comes), an HTTP/2 peer
    // that sends its preface and SETTINGS and then never answers, and an HTTP request
    // whose headers never end.
    let grpc = addr_of(&server.endpoint);
    let http = addr_of(&server.http_endpoint);
    let silent = TcpStream::connect(&grpc).unwrap();
    let mut h2_peer = TcpStream::connect(&grpc).unwrap();
    h2_peer
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .unwrap();
    let mut half_request = TcpStream::connect(&http).unwrap();
    half_request
        .write_all(b"POST / HTTP/1.1\r\nHost: eddy\r\n")
        .unwrap();
    // The server has accepted and is serving the HTTP/2 peer once its own SETTINGS frame
    // arrives (a 9-byte frame header first); only then is it told to stop, so at least
    // that connection is open at the end of the grace period, whatever the scheduling.
    h2_peer
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut frame_header = [0u8; 9];
    std::io::Read::read_exact(&mut h2_peer, &mut frame_header)
        .expect("the server answers the HTTP/2 preface with its SETTINGS");
    assert_eq!(frame_header[3], 0x4, "a SETTINGS frame");

    let log_path = data.with_extension("log");
    // `terminate` fails the test if the server is still running 60 s after SIGTERM.
    assert!(server.terminate().success(), "SIGTERM exits 0");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("connections still open after the shutdown grace period"),
        "the dropped connections are logged:\n{log}"
    );
    assert!(log.contains("eddy stopped"), "the log was closed:\n{log}");
    drop((silent, h2_peer, half_request));

    let server = Server::start(&data, "buffered");
    let mut c = server.clients().await;
    let records = c.read_all("keep", "shardId-000000000000").await;
    assert_eq!(records.len(), 1);
    assert_eq!(&records[0].data[..], b"acknowledged before SIGTERM");
}

/// A PutRecordStream call whose client keeps its side open is ended by the server on
/// SIGTERM with `UNAVAILABLE`, after everything it read was acknowledged: the client
/// learns why, instead of its connection being dropped at the end of the grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_an_open_put_stream_with_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("eddy.toml");
    // A grace far longer than the test waits, so only the pipeline can end the call.
    std::fs::write(&config, "shutdown_grace_secs = 600\n").unwrap();
    let config_arg = config.to_str().unwrap();
    let server =
        Server::start_with_args(&data, &["--durability", "buffered", "--config", config_arg]);
    let mut c = server.clients().await;
    c.create_stream("keep", 1).await;

    let (requests_tx, requests_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut responses = c
        .records
        .put_record_stream(tokio_stream::wrappers::UnboundedReceiverStream::new(
            requests_rx,
        ))
        .await
        .unwrap()
        .into_inner();
    requests_tx
        .send(pb::PutRecordStreamRequest {
            request_id: 7,
            stream_name: "keep".into(),
            records: vec![entry("k", b"acknowledged on the stream")],
        })
        .unwrap();
    let ack = responses
        .message()
        .await
        .unwrap()
        .expect("an acknowledgement");
    assert_eq!((ack.request_id, ack.error_code), (7, 0));

    let terminated = tokio::task::spawn_blocking(move || server.terminate());
    let ending = responses
        .message()
        .await
        .expect_err("the call ends with a status, not a clean end");
    assert_eq!(ending.code(), tonic::Code::Unavailable, "{ending:?}");
    assert!(ending.message().contains("shutting down"), "{ending:?}");
    // `terminate` fails the test if the server is still running 60 s after SIGTERM; the
    // grace period is 600 s, so exiting means no connection was left hanging.
    assert!(terminated.await.unwrap().success(), "SIGTERM exits 0");
    drop(requests_tx);

    let server = Server::start(&data, "buffered");
    let mut c = server.clients().await;
    let records = c.read_all("keep", "shardId-000000000000").await;
    assert_eq!(records.len(), 1);
    assert_eq!(&records[0].data[..], b"acknowledged on the stream");
}
