//! The systems `eddy-bench compare` measures side by side, each as a separate server
//! process driven by the same Rust load generator:
//! - eddy over gRPC and over its Kinesis HTTP API, under fsync and buffered durability;
//! - Redis Streams (pipelined XADD) with `appendfsync always` and `everysec`;
//! - NATS JetStream (file storage, publish with awaited acks);
//! - kinesalite (the Kinesis API on LevelDB), with the same HTTP client as eddy's
//!   Kinesis endpoint;
//! - a ceiling: `eddy-bench echo-serve`, eddy's gRPC `Records` service answering at once
//!   without storing anything (see [`crate::echo`]).
//!
//! A system whose server is not installed is reported as missing, never skipped silently.

pub mod process;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use bytes::Bytes;
use eddy_proto::v1 as pb;
use redis::AsyncCommands;

use self::process::{free_port, wait_for_port, ServerProcess};
use crate::kinesis_client::KinesisClient;
use crate::put_stream::PutStream;

pub const STREAM: &str = "bench";

/// How acknowledged writes survive: every figure carries one, and ratios are taken only
/// within one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DurabilityLabel {
    /// fsync before each acknowledgement (eddy fsync, Redis `appendfsync always`).
    FsyncPerAck,
    /// fsync every second (Redis `appendfsync everysec`).
    FsyncEverySecond,
    /// OS-buffered: survives a process crash, not power loss (eddy buffered, NATS
    /// JetStream's default, kinesalite).
    Buffered,
    /// Nothing is kept: the gRPC echo ceiling.
    NotStored,
}

impl DurabilityLabel {
    pub fn name(self) -> &'static str {
        match self {
            DurabilityLabel::FsyncPerAck => "fsync per ack",
            DurabilityLabel::FsyncEverySecond => "fsync every 1 s",
            DurabilityLabel::Buffered => "OS-buffered",
            DurabilityLabel::NotStored => "not stored",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum System {
    EddyGrpc {
        fsync: bool,
    },
    EddyKinesis {
        fsync: bool,
    },
    /// eddy gRPC from an earlier build (`--before-eddy-bin`), for before/after figures.
    EddyGrpcBefore {
        fsync: bool,
    },
    Redis {
        always: bool,
    },
    Nats,
    Kinesalite,
    /// The gRPC transport ceiling: `eddy-bench echo-serve`.
    GrpcEcho,
}

impl System {
    /// Every system, with the earlier eddy build's rows when `with_before`.
    pub fn all(with_before: bool) -> Vec<System> {
        let mut all = vec![
            System::EddyGrpc { fsync: false },
            System::Redis { always: false },
            System::Nats,
            System::EddyKinesis { fsync: false },
            System::Kinesalite,
            System::EddyGrpc { fsync: true },
            System::Redis { always: true },
            System::GrpcEcho,
        ];
        if with_before {
            all.insert(1, System::EddyGrpcBefore { fsync: false });
            all.insert(7, System::EddyGrpcBefore { fsync: true });
        }
        all
    }

    pub fn name(self) -> String {
        match self {
            System::EddyGrpc { fsync } => format!("eddy gRPC ({})", fsync_word(fsync)),
            System::EddyKinesis { fsync } => format!("eddy Kinesis API ({})", fsync_word(fsync)),
            System::EddyGrpcBefore { fsync } => {
                format!("eddy gRPC, earlier build ({})", fsync_word(fsync))
            }
            System::Redis { always: true } => "Redis Streams (always)".into(),
            System::Redis { always: false } => "Redis Streams (everysec)".into(),
            System::Nats => "NATS JetStream".into(),
            System::Kinesalite => "kinesalite".into(),
            System::GrpcEcho => {
                "ceiling: gRPC echo (eddy's Records service, answers at once)".into()
            }
        }
    }

    pub fn durability(self) -> DurabilityLabel {
        match self {
            System::EddyGrpc { fsync: true }
            | System::EddyKinesis { fsync: true }
            | System::EddyGrpcBefore { fsync: true }
            | System::Redis { always: true } => DurabilityLabel::FsyncPerAck,
            System::Redis { always: false } => DurabilityLabel::FsyncEverySecond,
            System::EddyGrpc { fsync: false }
            | System::EddyKinesis { fsync: false }
            | System::EddyGrpcBefore { fsync: false }
            | System::Nats
            | System::Kinesalite => DurabilityLabel::Buffered,
            System::GrpcEcho => DurabilityLabel::NotStored,
        }
    }

    /// The eddy configuration a peer is compared with: the same client protocol where
    /// there is one (kinesalite ↔ eddy's Kinesis API), else eddy gRPC at the same or the
    /// nearest durability (Redis everysec ↔ eddy buffered, as the design targets say).
    pub fn eddy_counterpart(self) -> Option<System> {
        match self {
            System::EddyGrpc { .. } | System::EddyKinesis { .. } | System::GrpcEcho => None,
            System::Redis { always } => Some(System::EddyGrpc { fsync: always }),
            System::EddyGrpcBefore { fsync } => Some(System::EddyGrpc { fsync }),
            System::Nats => Some(System::EddyGrpc { fsync: false }),
            System::Kinesalite => Some(System::EddyKinesis { fsync: false }),
        }
    }
}

fn fsync_word(fsync: bool) -> &'static str {
    if fsync {
        "fsync"
    } else {
        "buffered"
    }
}

/// Where each system's server program is; `None` when it is not installed.
pub struct Installed {
    pub eddy: Option<PathBuf>,
    pub redis_server: Option<PathBuf>,
    pub nats_server: Option<PathBuf>,
    /// node and kinesalite's cli.js.
    pub kinesalite: Option<(PathBuf, PathBuf)>,
    /// This program, for `echo-serve`.
    pub eddy_bench: Option<PathBuf>,
    /// An earlier eddy build, for before/after rows.
    pub eddy_before: Option<PathBuf>,
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    })
}

impl Installed {
    pub fn find(eddy_bin: Option<PathBuf>, before_eddy_bin: Option<PathBuf>) -> Self {
        let eddy = eddy_bin
            .or_else(|| {
                std::env::current_exe()
                    .ok()
                    .map(|exe| exe.with_file_name("eddy"))
            })
            .filter(|path| path.is_file());
        let peers_dir = std::env::var_os("EDDY_PEERS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                    .join(".cache/eddy-peers")
            });
        let cli = peers_dir.join("kinesalite/node_modules/kinesalite/cli.js");
        Self {
            eddy,
            redis_server: on_path("redis-server"),
            nats_server: on_path("nats-server"),
            kinesalite: on_path("node")
                .filter(|_| cli.is_file())
                .map(|node| (node, cli)),
            eddy_bench: std::env::current_exe().ok(),
            eddy_before: before_eddy_bin.filter(|path| path.is_file()),
        }
    }

    /// Why `system` cannot run here, if it cannot.
    pub fn missing(&self, system: System) -> Option<&'static str> {
        match system {
            System::EddyGrpc { .. } | System::EddyKinesis { .. } if self.eddy.is_none() => {
                Some("the eddy binary is not next to eddy-bench (build the workspace)")
            }
            System::EddyGrpcBefore { .. } if self.eddy_before.is_none() => {
                Some("`--before-eddy-bin` does not name a file")
            }
            System::Redis { .. } if self.redis_server.is_none() => {
                Some("redis-server is not installed (scripts/setup-peers.sh)")
            }
            System::Nats if self.nats_server.is_none() => {
                Some("nats-server is not installed (scripts/setup-peers.sh)")
            }
            System::Kinesalite if self.kinesalite.is_none() => {
                Some("kinesalite is not installed (scripts/setup-peers.sh)")
            }
            System::GrpcEcho if self.eddy_bench.is_none() => {
                Some("cannot find this eddy-bench executable to run echo-serve")
            }
            _ => None,
        }
    }
}

/// Where a running system answers.
pub enum Endpoint {
    Eddy { grpc: String, http: String },
    Redis(String),
    Nats(String),
    Kinesalite(String),
    Echo(String),
}

/// One system's server, started fresh in its own data dir.
pub struct Running {
    pub system: System,
    pub process: ServerProcess,
    pub endpoint: Endpoint,
    _dir: tempfile::TempDir,
}

impl Running {
    pub async fn start(system: System, installed: &Installed, root: &Path) -> anyhow::Result<Self> {
        if let Some(why) = installed.missing(system) {
            bail!("{} is missing: {why}", system.name());
        }
        let dir = tempfile::tempdir_in(root)?;
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data)?;
        let log = dir.path().join("server.log");
        let (process, endpoint) = match system {
            System::EddyGrpc { fsync }
            | System::EddyKinesis { fsync }
            | System::EddyGrpcBefore { fsync } => {
                let bin = match system {
                    System::EddyGrpcBefore { .. } => &installed.eddy_before,
                    _ => &installed.eddy,
                };
                let mut command = Command::new(bin.as_ref().expect("checked"));
                command
                    .arg("serve")
                    .arg("--data-dir")
                    .arg(&data)
                    .args(["--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
                    .args(["--durability", fsync_word(fsync)]);
                let mut process = ServerProcess::spawn(&system.name(), &mut command, &log)?;
                let line = banner(&mut process, &log, "eddy listening grpc=")?;
                let field = |prefix: &str| {
                    line.split_whitespace()
                        .find_map(|word| word.strip_prefix(prefix))
                        .map(|addr| format!("http://{addr}"))
                        .with_context(|| format!("no {prefix} in eddy's banner {line:?}"))
                };
                let (grpc, http) = (field("grpc=")?, field("http=")?);
                (process, Endpoint::Eddy { grpc, http })
            }
            System::Redis { always } => {
                let port = free_port()?;
                let mut command = Command::new(installed.redis_server.as_ref().expect("checked"));
                command
                    .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                    .arg("--dir")
                    .arg(&data)
                    .args(["--save", "", "--appendonly", "yes"])
                    .args(["--appendfsync", if always { "always" } else { "everysec" }]);
                let mut process = ServerProcess::spawn(&system.name(), &mut command, &log)?;
                wait_for_port(&mut process, port, &log)?;
                (
                    process,
                    Endpoint::Redis(format!("redis://127.0.0.1:{port}/")),
                )
            }
            System::Nats => {
                let port = free_port()?;
                let mut command = Command::new(installed.nats_server.as_ref().expect("checked"));
                command
                    .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
                    .arg(&data);
                let mut process = ServerProcess::spawn(&system.name(), &mut command, &log)?;
                wait_for_port(&mut process, port, &log)?;
                (process, Endpoint::Nats(format!("127.0.0.1:{port}")))
            }
            System::GrpcEcho => {
                let mut command = Command::new(installed.eddy_bench.as_ref().expect("checked"));
                command.args(["--worker-threads", "2", "echo-serve"]);
                let mut process = ServerProcess::spawn(&system.name(), &mut command, &log)?;
                let line = banner(&mut process, &log, crate::echo::BANNER)?;
                let addr = line.trim_start_matches(crate::echo::BANNER).trim();
                (process, Endpoint::Echo(format!("http://{addr}")))
            }
            System::Kinesalite => {
                let port = free_port()?;
                let (node, cli) = installed.kinesalite.as_ref().expect("checked");
                let mut command = Command::new(node);
                command
                    .arg(cli)
                    .args(["--port", &port.to_string(), "--path"])
                    .arg(&data)
                    .args(["--createStreamMs", "0", "--deleteStreamMs", "0"])
                    .args(["--shardLimit", "10000"]);
                let mut process = ServerProcess::spawn(&system.name(), &mut command, &log)?;
                wait_for_port(&mut process, port, &log)?;
                (
                    process,
                    Endpoint::Kinesalite(format!("http://127.0.0.1:{port}")),
                )
            }
        };
        Ok(Self {
            system,
            process,
            endpoint,
            _dir: dir,
        })
    }

    pub async fn create_stream(&self, shards: u32) -> anyhow::Result<()> {
        match &self.endpoint {
            Endpoint::Eddy { grpc, .. } => {
                let channel = eddy::grpc::client_endpoint(grpc)?.connect().await?;
                pb::streams_client::StreamsClient::new(channel)
                    .create_stream(pb::CreateStreamRequest {
                        name: STREAM.into(),
                        shard_count: Some(shards),
                        retention_hours: None,
                    })
                    .await?;
            }
            Endpoint::Kinesalite(url) => {
                KinesisClient::new(url)
                    .create_stream(STREAM, shards)
                    .await?
            }
            // Redis streams are made by the first XADD; the echo keeps nothing.
            Endpoint::Redis(_) | Endpoint::Echo(_) => {}
            Endpoint::Nats(url) => {
                let client = async_nats::connect(url.as_str()).await?;
                async_nats::jetstream::new(client)
                    .create_stream(async_nats::jetstream::stream::Config {
                        name: STREAM.into(),
                        subjects: vec![format!("{STREAM}.>")],
                        storage: async_nats::jetstream::stream::StorageType::File,
                        ..Default::default()
                    })
                    .await
                    .context("create the JetStream stream")?;
            }
        }
        Ok(())
    }

    /// A producer with its own connection.
    pub async fn producer(&self, shards: u32) -> anyhow::Result<Producer> {
        Ok(match (&self.endpoint, self.system) {
            (Endpoint::Eddy { http, .. }, System::EddyKinesis { .. }) => {
                Producer::Kinesis(KinesisClient::new(http))
            }
            (Endpoint::Eddy { grpc, .. }, _) | (Endpoint::Echo(grpc), _) => {
                let channel = eddy::grpc::client_endpoint(grpc)?.connect().await?;
                Producer::EddyGrpc(
                    pb::records_client::RecordsClient::new(channel)
                        .max_encoding_message_size(64 << 20),
                )
            }
            (Endpoint::Kinesalite(url), _) => Producer::Kinesis(KinesisClient::new(url)),
            (Endpoint::Redis(url), _) => {
                let client = redis::Client::open(url.as_str())?;
                Producer::Redis {
                    connection: client.get_multiplexed_async_connection().await?,
                    shards,
                }
            }
            (Endpoint::Nats(url), _) => {
                let client = async_nats::connect(url.as_str()).await?;
                Producer::Nats {
                    jetstream: async_nats::jetstream::new(client),
                    shards,
                }
            }
        })
    }
}

/// Waits for the line of the server's log that starts with `prefix` (its banner).
fn banner(process: &mut ServerProcess, log: &Path, prefix: &str) -> anyhow::Result<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = text.lines().find(|line| line.starts_with(prefix)) {
            return Ok(line.to_string());
        }
        if !process.is_running() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    bail!(
        "{} did not start; its log:\n{}",
        process.name,
        std::fs::read_to_string(log).unwrap_or_default()
    )
}

/// One connection's way of putting a batch of (partition key, data) records. Clones share
/// the connection (HTTP/2 streams, Redis pipelining, NATS multiplexing).
#[derive(Clone)]
pub enum Producer {
    EddyGrpc(pb::records_client::RecordsClient<tonic::transport::Channel>),
    /// Every put on one pipelined `PutRecordStream` call.
    EddyGrpcStream(PutStream),
    Kinesis(KinesisClient),
    Redis {
        connection: redis::aio::MultiplexedConnection,
        shards: u32,
    },
    Nats {
        jetstream: async_nats::jetstream::Context,
        shards: u32,
    },
}

/// Redis and NATS have no hash-key routing: a record goes to the stream (Redis key or
/// NATS subject) of its key's shard, as a producer sharding by hand would do.
pub fn shard_of(key: &str, shards: u32) -> u32 {
    (eddy_shards::hash_key::hash_key_of_partition_key(key) % u128::from(shards.max(1))) as u32
}

/// (partition key, data) records as eddy's PutRecords entries.
pub fn put_entries(records: &[(String, Bytes)]) -> Vec<pb::PutRecordsEntry> {
    records
        .iter()
        .map(|(key, data)| pb::PutRecordsEntry {
            partition_key: key.clone(),
            data: data.clone(),
            explicit_hash_key: None,
        })
        .collect()
}

impl Producer {
    /// Puts `records` and returns once every one is acknowledged. One record uses the
    /// single-record call (PutRecord, one XADD, one publish).
    pub async fn put(&mut self, records: &[(String, Bytes)]) -> anyhow::Result<()> {
        match self {
            Producer::EddyGrpc(client) => {
                if let [(key, data)] = records {
                    client
                        .put_record(pb::PutRecordRequest {
                            stream_name: STREAM.into(),
                            partition_key: key.clone(),
                            data: data.clone(),
                            explicit_hash_key: None,
                            sequence_number_for_ordering: None,
                        })
                        .await?;
                } else {
                    let response = client
                        .put_records(pb::PutRecordsRequest {
                            stream_name: STREAM.into(),
                            records: put_entries(records),
                        })
                        .await?
                        .into_inner();
                    anyhow::ensure!(response.failed_record_count == 0, "records failed");
                }
            }
            Producer::EddyGrpcStream(stream) => stream.put(STREAM, records).await?,
            Producer::Kinesis(client) => {
                if let [(key, data)] = records {
                    client.put_record(STREAM, key, data).await?;
                } else {
                    let entries: Vec<(&str, &[u8])> = records
                        .iter()
                        .map(|(key, data)| (key.as_str(), data.as_ref()))
                        .collect();
                    client.put_records(STREAM, &entries).await?;
                }
            }
            Producer::Redis { connection, shards } => {
                if let [(key, data)] = records {
                    let stream = format!("{STREAM}:{}", shard_of(key, *shards));
                    let _: String = connection
                        .xadd(stream, "*", &[("d", data.as_ref())])
                        .await?;
                } else {
                    let mut pipe = redis::pipe();
                    for (key, data) in records {
                        let stream = format!("{STREAM}:{}", shard_of(key, *shards));
                        pipe.xadd(stream, "*", &[("d", data.as_ref())]);
                    }
                    let _: Vec<String> = pipe.query_async(connection).await?;
                }
            }
            Producer::Nats { jetstream, shards } => {
                let mut acks = Vec::with_capacity(records.len());
                for (key, data) in records {
                    let subject = format!("{STREAM}.{}", shard_of(key, *shards));
                    acks.push(jetstream.publish(subject, data.clone()).await?);
                }
                for ack in acks {
                    ack.await?;
                }
            }
        }
        Ok(())
    }
}
