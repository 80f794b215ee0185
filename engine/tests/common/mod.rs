//! Helpers for end-to-end tests: a real `eddy serve` process on an ephemeral loopback port
//! with a real temporary data dir, and gRPC clients for it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use eddy_proto::v1 as pb;
use tonic::transport::Channel;

pub struct Server {
    child: Child,
    pub endpoint: String,
    /// `http://127.0.0.1:PORT` of the Kinesis and Lambda HTTP APIs.
    pub http_endpoint: String,
    /// The server's "eddy listening ..." line.
    pub banner: String,
    pub data_dir: PathBuf,
}

impl Server {
    /// Starts `eddy serve` on 127.0.0.1:0 and waits for its "listening" line.
    pub fn start(data_dir: &Path, durability: &str) -> Server {
        Self::start_with_args(data_dir, &["--durability", durability])
    }

    pub fn start_with_args(data_dir: &Path, extra: &[&str]) -> Server {
        Self::start_with_env(data_dir, extra, &[])
    }

    pub fn start_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let log_path = data_dir.with_extension("log");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open server log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_eddy"))
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--grpc-addr", "127.0.0.1:0"])
            .args(["--http-addr", "127.0.0.1:0"])
            .args(extra)
            .env_remove("EDDY_CONFIG")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("spawn eddy serve");
        let stdout = child.stdout.take().expect("stdout piped");
        let mut lines = BufReader::new(stdout).lines();
        let (addr, http_addr, banner) = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(rest) = line.strip_prefix("eddy listening grpc=") {
                        let mut words = rest.split_whitespace();
                        let grpc = words.next().unwrap().to_string();
                        let http = words.next().unwrap().strip_prefix("http=").unwrap();
                        break (grpc, http.to_string(), line.clone());
                    }
                }
                _ => {
                    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    panic!("eddy serve exited before listening; its log:\n{log}");
                }
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            endpoint: format!("http://{addr}"),
            http_endpoint: format!("http://{http_addr}"),
            banner,
            data_dir: data_dir.to_path_buf(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no drain, no flush.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's pid with a valid signal number.
        let sent = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(sent, 0, "cannot send SIGTERM");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub async fn clients(&self) -> Clients {
        Clients::connect(&self.endpoint).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone)]
pub struct Clients {
    pub streams: pb::streams_client::StreamsClient<Channel>,
    pub records: pb::records_client::RecordsClient<Channel>,
    pub functions: pb::functions_client::FunctionsClient<Channel>,
    pub mappings: pb::mappings_client::MappingsClient<Channel>,
}

impl Clients {
    pub async fn connect(endpoint: &str) -> Clients {
        let channel = eddy::grpc::client_endpoint(endpoint)
            .unwrap()
            .connect()
            .await
            .expect("connect to eddy");
        Clients {
            streams: pb::streams_client::StreamsClient::new(channel.clone()),
            functions: pb::functions_client::FunctionsClient::new(channel.clone()),
            mappings: pb::mappings_client::MappingsClient::new(channel.clone()),
            records: pb::records_client::RecordsClient::new(channel)
                .max_decoding_message_size(64 * 1024 * 1024)
                .max_encoding_message_size(64 * 1024 * 1024),
        }
    }

    pub async fn create_stream(&mut self, name: &str, shards: u32) -> pb::StreamDescription {
        self.streams
            .create_stream(pb::CreateStreamRequest {
                name: name.into(),
                shard_count: Some(shards),
                retention_hours: None,
            })
            .await
            .expect("create stream")
            .into_inner()
            .stream
            .unwrap()
    }

    pub async fn iterator(
        &mut self,
        stream: &str,
        shard_id: &str,
        position: pb::StartingPosition,
    ) -> Result<String, tonic::Status> {
        Ok(self
            .records
            .get_shard_iterator(pb::GetShardIteratorRequest {
                stream_name: stream.into(),
                shard_id: shard_id.into(),
                starting_position: Some(position),
            })
            .await?
            .into_inner()
            .shard_iterator)
    }

    /// Every record of a shard from TRIM_HORIZON to the head.
    pub async fn read_all(&mut self, stream: &str, shard_id: &str) -> Vec<pb::Record> {
        let mut iterator = self
            .iterator(stream, shard_id, trim_horizon())
            .await
            .expect("iterator");
        let mut records = Vec::new();
        loop {
            let response = self
                .records
                .get_records(pb::GetRecordsRequest {
                    shard_iterator: iterator,
                    limit: None,
                })
                .await
                .expect("get records")
                .into_inner();
            if response.records.is_empty() {
                return records;
            }
            records.extend(response.records);
            iterator = response
                .next_shard_iterator
                .expect("open shard has a next iterator");
        }
    }
}

pub fn position(kind: pb::ShardIteratorType) -> pb::StartingPosition {
    pb::StartingPosition {
        r#type: kind as i32,
        sequence_number: None,
        timestamp_millis: None,
    }
}

pub fn trim_horizon() -> pb::StartingPosition {
    position(pb::ShardIteratorType::TrimHorizon)
}

pub fn entry(key: &str, data: &[u8]) -> pb::PutRecordsEntry {
    pb::PutRecordsEntry {
        partition_key: key.into(),
        data: bytes::Bytes::copy_from_slice(data),
        explicit_hash_key: None,
    }
}

#[path = "../../../consumers/tests/common/mod.rs"]
mod consumers_common;
/// The Python of the virtualenv that `make test` fills with `awslambdaric`.
pub use consumers_common::venv_python;

/// The lines of a file a handler appends to (none when it does not exist yet).
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// A process function request running `module.handler` from `dir` under the real
/// `awslambdaric`.
pub fn python_function(name: &str, dir: &Path, module: &str) -> pb::CreateFunctionRequest {
    let handler = format!("{module}.handler");
    pb::CreateFunctionRequest {
        name: name.into(),
        command: vec![
            venv_python().to_string_lossy().into_owned(),
            "-m".into(),
            "awslambdaric".into(),
            handler.clone(),
        ],
        workdir: dir.display().to_string(),
        handler: Some(handler),
        env: [("PYTHONPATH".to_string(), dir.display().to_string())]
            .into_iter()
            .collect(),
        timeout_secs: Some(30),
        memory_mb: None,
        concurrency: Some(2),
        async_invoke: None,
    }
}

/// Runs the `eddy` CLI against `endpoint`; returns stdout, panicking on failure.
pub fn cli(endpoint: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["--endpoint", endpoint])
        .args(args)
        .output()
        .expect("run eddy");
    assert!(
        output.status.success(),
        "eddy {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// Polls `check` every 20 ms until it returns `Some`, or panics with `what` after
/// `timeout` (a liveness bound, not a performance assertion).
pub async fn eventually<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
