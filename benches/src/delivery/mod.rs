//! Delivery workloads of `eddy-bench compare`: records put into a stream and handed to a
//! consumer, eddy against its peers doing the same work.
//!
//! - eddy runs in this process (`eddy::server::start_with`) so that its function can be a
//!   native handler: puts go over loopback gRPC, one mapping per consumer calls a no-op
//!   native handler that hands each batch to a [`Sink`]. Its CPU and peak RSS are this
//!   whole process's (server, load generator and consumer together).
//! - Peers run as their own server processes (see [`crate::systems`]), with the consumer
//!   in this process: Redis XREADGROUP + XACK per shard key and consumer group, a NATS
//!   JetStream pull consumer per shard subject, kinesalite GetRecords polling per shard.
//!   Their CPU is the server's plus this process's, so every system is charged for its
//!   client and consumer too; peak RSS is the server's.
//! - W4 adds a floor: eddy's producer against an in-process gRPC echo server (see
//!   [`crate::echo::start_delivery_floor`]) that hands each put to the consumer's sink on
//!   receipt, at eddy (buffered)'s rates. It is what the load generator, gRPC and the
//!   shared cores cost with no storage and no delivery.
//!
//! The workloads are in [`latency`] (W4), [`backlog`] (W5) and [`fan_out`] (W6), run
//! over systems and rounds by [`workloads`]; their tables and charts are in [`table`].

pub mod backlog;
pub mod fan_out;
pub mod kinesalite;
pub mod latency;
pub mod nats;
pub mod redis;
pub mod table;
pub mod workloads;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eddy::config::ServeConfig;
use eddy::server::RunningServer;
use eddy_consumers::mapping::{MappingSpec, StartingPosition};
use eddy_proto::v1 as pb;
use eddy_shards::Durability;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::open_loop::{self, Sink, SinkSlot};
use crate::put_stream::PutStream;
use crate::storage_latency::StorageLatency;
use crate::systems::{DurabilityLabel, Endpoint, Installed, Producer, Running, System, STREAM};

/// The most consumers (mappings) one eddy target can serve: its native functions are
/// registered when the server starts.
pub const MAX_CONSUMERS: usize = 8;

/// A system that delivers records to a consumer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Deliverer {
    /// eddy in this process, mappings to a native handler.
    EddyNative {
        fsync: bool,
    },
    Redis {
        always: bool,
    },
    Nats,
    /// kinesalite, Lambda-style GetRecords polling every `poll_millis` when idle.
    Kinesalite {
        poll_millis: u64,
    },
    /// W4's floor: eddy's producer against an in-process gRPC echo server that calls the
    /// consumer on receipt (no storage, no delivery), at eddy (buffered)'s rates.
    Floor,
}

impl Deliverer {
    /// W4 compares both Lambda polling intervals; W5 and W6 use the shorter one (a poller
    /// that is behind does not sleep).
    pub fn all(workload: &str) -> Vec<Deliverer> {
        let mut all = vec![
            Deliverer::EddyNative { fsync: false },
            Deliverer::Redis { always: false },
            Deliverer::Nats,
            Deliverer::Kinesalite { poll_millis: 200 },
            Deliverer::EddyNative { fsync: true },
            Deliverer::Redis { always: true },
        ];
        if workload == "w4" {
            all.insert(4, Deliverer::Kinesalite { poll_millis: 1000 });
            all.insert(1, Deliverer::Floor);
        }
        all
    }

    pub fn name(self) -> String {
        match self {
            Deliverer::EddyNative { fsync } => format!(
                "eddy in-process, native handler ({})",
                if fsync { "fsync" } else { "buffered" }
            ),
            Deliverer::Kinesalite { poll_millis } => {
                format!("kinesalite, Lambda-style polling every {poll_millis} ms")
            }
            Deliverer::Floor => {
                "floor: eddy's producer, in-process gRPC echo calling the consumer on receipt"
                    .into()
            }
            other => other.peer().expect("a peer").name(),
        }
    }

    /// The peer's server, for all but eddy and the floor.
    fn peer(self) -> Option<System> {
        match self {
            Deliverer::EddyNative { .. } | Deliverer::Floor => None,
            Deliverer::Redis { always } => Some(System::Redis { always }),
            Deliverer::Nats => Some(System::Nats),
            Deliverer::Kinesalite { .. } => Some(System::Kinesalite),
        }
    }

    pub fn durability(self) -> DurabilityLabel {
        match self {
            Deliverer::EddyNative { fsync: true } => DurabilityLabel::FsyncPerAck,
            Deliverer::EddyNative { fsync: false } => DurabilityLabel::Buffered,
            Deliverer::Floor => DurabilityLabel::NotStored,
            other => other.peer().expect("a peer").durability(),
        }
    }

    /// The eddy configuration a peer is compared with: the same durability, or the
    /// nearest (Redis everysec ↔ eddy buffered).
    pub fn eddy_counterpart(self) -> Option<Deliverer> {
        match self {
            Deliverer::EddyNative { .. } => None,
            Deliverer::Redis { always } => Some(Deliverer::EddyNative { fsync: always }),
            Deliverer::Nats | Deliverer::Kinesalite { .. } | Deliverer::Floor => {
                Some(Deliverer::EddyNative { fsync: false })
            }
        }
    }

    pub fn missing(self, installed: &Installed) -> Option<&'static str> {
        match self.peer() {
            Some(system) => installed.missing(system),
            None => None,
        }
    }
}

enum Server {
    /// The native functions `sink-<i>` hand their batches to the sink in slot i.
    Eddy {
        server: RunningServer,
        slots: Vec<SinkSlot>,
        _dir: tempfile::TempDir,
    },
    Peer(Running),
    /// The floor's echo server and the slot its consumer's sink goes in.
    Floor {
        addr: std::net::SocketAddr,
        slot: SinkSlot,
        serving: JoinHandle<()>,
    },
}

/// One deliverer started fresh, with a stream of `shards` shards and its consumers.
pub struct Target {
    pub deliverer: Deliverer,
    shards: u32,
    server: Server,
    consumer_count: usize,
    /// The peers' consumer tasks (eddy's mappings run inside its server).
    consumer_tasks: Vec<JoinHandle<anyhow::Result<()>>>,
    stop: CancellationToken,
}

impl Target {
    pub async fn start(
        deliverer: Deliverer,
        installed: &Installed,
        root: &Path,
        shards: u32,
    ) -> anyhow::Result<Self> {
        let server = match deliverer {
            Deliverer::EddyNative { fsync } => {
                let dir = tempfile::tempdir_in(root)?;
                let mut config = ServeConfig::new(dir.path().join("eddy"), "127.0.0.1:0".parse()?);
                config.durability = if fsync {
                    Durability::Fsync
                } else {
                    Durability::Buffered
                };
                let slots: Vec<SinkSlot> = (0..MAX_CONSUMERS).map(|_| Arc::default()).collect();
                let handlers = slots.clone();
                let server = eddy::server::start_with(config, move |functions| {
                    for (i, slot) in handlers.into_iter().enumerate() {
                        let handler = move |batch: &eddy_consumers::handler::RecordBatch| {
                            open_loop::observe_in(
                                &slot,
                                batch.records.iter().map(|r| r.data.as_ref()),
                            );
                            eddy_consumers::handler::Outcome::Success(Bytes::new())
                        };
                        functions.register_native(
                            &format!("sink-{i}"),
                            Arc::new(handler),
                            Duration::from_secs(30),
                        );
                    }
                })
                .await?;
                server.log.create_stream(STREAM, shards, 24).await?;
                open_loop::reset_own_peak_rss();
                Server::Eddy {
                    server,
                    slots,
                    _dir: dir,
                }
            }
            Deliverer::Floor => {
                let slot = SinkSlot::default();
                let (addr, serving) = crate::echo::start_delivery_floor(slot.clone()).await?;
                open_loop::reset_own_peak_rss();
                Server::Floor {
                    addr,
                    slot,
                    serving,
                }
            }
            peer => {
                let system = peer.peer().expect("a peer");
                let running = Running::start(system, installed, root).await?;
                running.create_stream(shards).await?;
                Server::Peer(running)
            }
        };
        Ok(Self {
            deliverer,
            shards,
            server,
            consumer_count: 0,
            consumer_tasks: Vec::new(),
            stop: CancellationToken::new(),
        })
    }

    /// A producer with its own connection; clones share it.
    pub async fn producer(&self) -> anyhow::Result<Producer> {
        match &self.server {
            Server::Eddy { server, .. } => grpc_producer(server.grpc_addr).await,
            Server::Floor { addr, .. } => grpc_producer(*addr).await,
            Server::Peer(running) => running.producer(self.shards).await,
        }
    }

    /// A producer that pipelines every put of every clone on one connection: eddy's
    /// `PutRecordStream`; the peers' own producers already do (Redis's multiplexed
    /// connection, NATS's asynchronous publish, kinesalite excepted: it has no pipelined
    /// API, so it gets its HTTP client).
    pub async fn pipelined_producer(&self) -> anyhow::Result<Producer> {
        match self.producer().await? {
            Producer::EddyGrpc(client) => {
                Ok(Producer::EddyGrpcStream(PutStream::open(client).await?))
            }
            other => Ok(other),
        }
    }

    /// Adds one consumer of every shard (an eddy mapping, a Redis consumer group, a set
    /// of NATS pull consumers, a set of Kinesis pollers) taking up to `batch` records at a
    /// time, from the stream's start or only new records. Returns once it is in place.
    pub async fn subscribe(
        &mut self,
        from_start: bool,
        batch: usize,
        measures_latency: bool,
    ) -> anyhow::Result<Arc<Sink>> {
        let sink = Sink::new(measures_latency);
        let index = self.consumer_count;
        self.consumer_count += 1;
        let name = format!("g{index}");
        let stop = self.stop.clone();
        match (&self.server, self.deliverer) {
            (Server::Eddy { server, slots, .. }, _) => {
                let slot = slots.get(index).ok_or_else(|| {
                    anyhow::anyhow!("at most {MAX_CONSUMERS} consumers per eddy target")
                })?;
                *slot.lock() = Some(sink.clone());
                let position = if from_start {
                    StartingPosition::TrimHorizon
                } else {
                    StartingPosition::Latest
                };
                let mut spec = MappingSpec::new(STREAM, format!("sink-{index}"), position);
                spec.batch_size = batch as u32;
                // Latest is resolved to each shard's head here, before any put of the run.
                server.mappings.create(spec)?;
            }
            (Server::Floor { slot, .. }, _) => {
                anyhow::ensure!(index == 0, "the floor serves one consumer");
                *slot.lock() = Some(sink.clone());
            }
            (Server::Peer(running), deliverer) => {
                for shard in 0..self.shards {
                    let (sink, stop) = (sink.clone(), stop.clone());
                    let task: std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>> =
                        match (&running.endpoint, deliverer) {
                            (Endpoint::Redis(url), _) => Box::pin(
                                redis::subscribe(url, shard, &name, from_start, batch, sink, stop)
                                    .await?,
                            ),
                            (Endpoint::Nats(url), _) => Box::pin(
                                nats::subscribe(url, shard, &name, from_start, batch, sink, stop)
                                    .await?,
                            ),
                            (Endpoint::Kinesalite(url), Deliverer::Kinesalite { poll_millis }) => {
                                Box::pin(
                                    kinesalite::subscribe(
                                        url,
                                        shard,
                                        Duration::from_millis(poll_millis),
                                        from_start,
                                        batch,
                                        sink,
                                        stop,
                                    )
                                    .await?,
                                )
                            }
                            _ => anyhow::bail!("{} has no consumer", self.deliverer.name()),
                        };
                    // Task: bench-consumer, one per consumer × shard, ends at `stop`.
                    self.consumer_tasks.push(tokio::spawn(task));
                }
            }
        }
        Ok(sink)
    }

    /// eddy's group-commit writes (with their fsyncs) and its records' commit waits so
    /// far; `None` for the others.
    pub fn storage_latency(&self) -> Option<StorageLatency> {
        match &self.server {
            Server::Eddy { server, .. } => Some(StorageLatency::of(&server.log)),
            Server::Floor { .. } | Server::Peer(_) => None,
        }
    }

    /// CPU seconds so far: this process's, plus the peer server's.
    pub fn cpu_seconds(&self) -> f64 {
        let server = match &self.server {
            Server::Eddy { .. } | Server::Floor { .. } => 0.0,
            Server::Peer(running) => running.process.cpu_seconds(),
        };
        server + open_loop::process_cpu_secs()
    }

    /// Peak RSS in MiB: the peer server's, or this whole process's for eddy.
    pub fn peak_rss_mib(&self) -> f64 {
        match &self.server {
            Server::Eddy { .. } | Server::Floor { .. } => open_loop::own_peak_rss_mib(),
            Server::Peer(running) => running.process.peak_rss_mib(),
        }
    }

    /// Stops the consumers (a consumer's error is returned) and the server.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.stop.cancel();
        let mut result = Ok(());
        for consumer in self.consumer_tasks {
            let outcome = match tokio::time::timeout(Duration::from_secs(10), consumer).await {
                Ok(joined) => joined.map_err(anyhow::Error::from).and_then(|r| r),
                Err(_) => Err(anyhow::anyhow!("a consumer did not stop within 10 s")),
            };
            if result.is_ok() {
                result = outcome;
            }
        }
        match self.server {
            Server::Eddy { server, .. } => server.shutdown().await?,
            Server::Floor { serving, .. } => serving.abort(),
            Server::Peer(_) => {}
        }
        result
    }

    /// Shuts down and returns `result`; a consumer's failure, being the likelier cause,
    /// comes first.
    pub async fn finish<T>(self, result: anyhow::Result<T>) -> anyhow::Result<T> {
        match (self.shutdown().await, result) {
            (Ok(()), result) => result,
            (Err(cause), Ok(_)) => Err(cause),
            (Err(cause), Err(err)) => Err(cause.context(format!("{err:#}"))),
        }
    }
}

/// An eddy gRPC producer (to eddy or to the floor's echo server at `addr`).
async fn grpc_producer(addr: std::net::SocketAddr) -> anyhow::Result<Producer> {
    let channel = eddy::grpc::client_endpoint(&format!("http://{addr}"))?
        .connect()
        .await?;
    Ok(Producer::EddyGrpc(
        pb::records_client::RecordsClient::new(channel).max_encoding_message_size(64 << 20),
    ))
}

/// 256 partition keys of 32 hex characters, spread over the shards.
pub fn keys() -> Arc<Vec<String>> {
    Arc::new(
        (0..256u128)
            .map(|i| {
                format!(
                    "{:032x}",
                    i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
                )
            })
            .collect(),
    )
}
