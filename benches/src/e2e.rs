//! `eddy-bench e2e`: producers → stream → mapping → native handler, in one process.
//!
//! 1. Backlog drain: preload N records, then start a TRIM_HORIZON mapping and time how
//!    long the no-op handler takes to receive them all.
//! 2. Latency: a LATEST mapping (window 0) while producers put single records over gRPC at
//!    a fixed total rate, open loop: each record carries its *scheduled* send time, and the
//!    handler records now − scheduled, so queueing is not hidden (no coordinated omission).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use eddy::config::ServeConfig;
use eddy_consumers::functions::{FunctionSettings, Functions};
use eddy_consumers::handler::{Outcome, RecordBatch};
use eddy_consumers::manager::MappingManager;
use eddy_consumers::mapping::{MappingSpec, StartingPosition};
use eddy_proto::v1 as pb;
use eddy_shards::{AppendRecord, Durability};
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

#[derive(clap::Args, Clone)]
pub struct E2eArgs {
    #[arg(long, default_value_t = 4)]
    shards: u32,
    /// Records preloaded for the drain phase.
    #[arg(long, default_value_t = 1_000_000)]
    backlog: u64,
    /// Bytes per record (at least 16: the send time rides in the payload).
    #[arg(long, default_value_t = 100)]
    record_size: usize,
    /// BatchSize of the drain mapping.
    #[arg(long, default_value_t = 10_000)]
    drain_batch_size: u32,
    /// Total put rate of the latency phase, records/s (0 skips the phase).
    #[arg(long, default_value_t = 5_000)]
    rate: u64,
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    #[arg(long, default_value = "buffered")]
    durability: String,
}

/// Counts records and, for the latency phase, records how late each arrived.
struct Sink {
    records: AtomicU64,
    epoch: Instant,
    latency_micros: Mutex<Histogram<u64>>,
    /// From the moment the put was actually sent (excludes the load generator's own timer
    /// lateness, which tokio's 1 ms timer wheel adds to the scheduled-time figure).
    latency_from_send_micros: Mutex<Histogram<u64>>,
}

impl Sink {
    fn observe(&self, batch: &RecordBatch, measure_latency: bool) {
        self.records
            .fetch_add(batch.records.len() as u64, Ordering::Relaxed);
        if measure_latency {
            let now = self.epoch.elapsed().as_micros() as u64;
            let mut histogram = self.latency_micros.lock();
            let mut from_send = self.latency_from_send_micros.lock();
            for record in &batch.records {
                let scheduled = u64::from_le_bytes(record.data[..8].try_into().expect("8 bytes"));
                let sent = u64::from_le_bytes(record.data[8..16].try_into().expect("8 bytes"));
                let _ = histogram.record(now.saturating_sub(scheduled));
                let _ = from_send.record(now.saturating_sub(sent));
            }
        }
    }
}

pub async fn run(args: E2eArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.record_size >= 16,
        "`--record-size` must be at least 16"
    );
    let durability = match args.durability.as_str() {
        "fsync" => Durability::Fsync,
        "buffered" => Durability::Buffered,
        other => anyhow::bail!("`--durability` must be fsync or buffered, got {other:?}"),
    };
    let dir = tempfile::tempdir()?;
    let mut config = ServeConfig::new(dir.path().join("eddy"), "127.0.0.1:0".parse()?);
    config.durability = durability;
    let server = eddy::server::start(config).await?;
    let log = server.log.clone();
    let sink = Arc::new(Sink {
        records: AtomicU64::new(0),
        epoch: Instant::now(),
        latency_micros: Mutex::new(Histogram::new(3)?),
        latency_from_send_micros: Mutex::new(Histogram::new(3)?),
    });
    let functions = Arc::new(Functions::open(
        log.clone(),
        FunctionSettings::new(dir.path().join("function-logs")),
        CancellationToken::new(),
    )?);
    for (name, measure) in [("drain", false), ("latency", true)] {
        let sink = sink.clone();
        let handler = move |batch: &RecordBatch| {
            sink.observe(batch, measure);
            Outcome::Success(Bytes::new())
        };
        functions.register_native(name, Arc::new(handler), Duration::from_secs(30));
    }
    let shutdown = CancellationToken::new();
    let manager = MappingManager::open(log.clone(), functions, shutdown.clone())?;
    println!(
        "## eddy-bench e2e: shards={} record_size={} durability={}",
        args.shards, args.record_size, args.durability
    );
    println!();

    // 1. Backlog drain.
    log.create_stream("backlog", args.shards, 24).await?;
    let payload = Bytes::from(vec![0x5au8; args.record_size]);
    let mut loaded = 0;
    while loaded < args.backlog {
        let n = (args.backlog - loaded).min(500);
        let records = (0..n)
            .map(|i| AppendRecord {
                partition_key: format!("k{}", (loaded + i) % 1024),
                data: payload.clone(),
                explicit_hash_key: None,
            })
            .collect();
        log.put_records("backlog", records).await?;
        loaded += n;
    }
    let mut drain = MappingSpec::new("backlog", "drain", StartingPosition::TrimHorizon);
    drain.batch_size = args.drain_batch_size;
    let started = Instant::now();
    let drain_id = manager.create(drain)?.id;
    while sink.records.load(Ordering::Relaxed) < args.backlog {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let drain_secs = started.elapsed().as_secs_f64();
    manager.delete(&drain_id).await?;
    println!("| phase | records | seconds | records/s |");
    println!("|---|---:|---:|---:|");
    println!(
        "| backlog drain to a no-op native handler (batch {}) | {} | {:.3} | {:.0} |",
        args.drain_batch_size,
        args.backlog,
        drain_secs,
        args.backlog as f64 / drain_secs
    );
    println!();

    // 2. Put → handler latency at a fixed rate.
    if args.rate > 0 {
        log.create_stream("live", args.shards, 24).await?;
        let mut live = MappingSpec::new("live", "latency", StartingPosition::Latest);
        live.batch_size = 100;
        manager.create(live)?;
        let producers = 8usize;
        let per_producer_interval = Duration::from_secs_f64(producers as f64 / args.rate as f64);
        let endpoint = format!("http://{}", server.grpc_addr);
        let run_for = Duration::from_secs_f64(args.seconds);
        let mut tasks = Vec::new();
        for producer in 0..producers {
            let channel = eddy::grpc::client_endpoint(&endpoint)?.connect().await?;
            let mut client = pb::records_client::RecordsClient::new(channel);
            let (epoch, size) = (sink.epoch, args.record_size);
            tasks.push(tokio::spawn(async move {
                let start = Instant::now()
                    + per_producer_interval.mul_f64(producer as f64 / producers as f64);
                let mut n = 0u32;
                loop {
                    let scheduled = start + per_producer_interval * n;
                    if scheduled.duration_since(start) >= run_for {
                        return anyhow::Ok(n);
                    }
                    tokio::time::sleep_until(scheduled.into()).await;
                    let mut data = vec![0u8; size];
                    data[..8].copy_from_slice(
                        &(scheduled.duration_since(epoch).as_micros() as u64).to_le_bytes(),
                    );
                    data[8..16]
                        .copy_from_slice(&(epoch.elapsed().as_micros() as u64).to_le_bytes());
                    client
                        .put_record(pb::PutRecordRequest {
                            stream_name: "live".into(),
                            partition_key: format!("p{producer}-{}", n % 64),
                            data: data.into(),
                            explicit_hash_key: None,
                            sequence_number_for_ordering: None,
                        })
                        .await?;
                    n += 1;
                }
            }));
        }
        let mut sent = 0u64;
        for task in tasks {
            sent += u64::from(task.await??);
        }
        let target = args.backlog + sent;
        let deadline = Instant::now() + Duration::from_secs(30);
        while sink.records.load(Ordering::Relaxed) < target && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        println!("| put → handler, {} rec/s target, {} durability | p50 ms | p99 ms | p99.9 ms | max ms | records |", args.rate, args.durability);
        println!("|---|---:|---:|---:|---:|---:|");
        for (label, histogram) in [
            (
                "from the scheduled send (open loop)",
                sink.latency_micros.lock().clone(),
            ),
            (
                "from the actual send",
                sink.latency_from_send_micros.lock().clone(),
            ),
        ] {
            println!(
                "| eddy, native handler, window 0, {label} | {:.3} | {:.3} | {:.3} | {:.3} | {} |",
                histogram.value_at_quantile(0.5) as f64 / 1000.0,
                histogram.value_at_quantile(0.99) as f64 / 1000.0,
                histogram.value_at_quantile(0.999) as f64 / 1000.0,
                histogram.max() as f64 / 1000.0,
                histogram.len()
            );
        }
    }
    manager.shutdown().await;
    shutdown.cancel();
    server.shutdown().await?;
    Ok(())
}
