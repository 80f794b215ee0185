//! `eddy-bench e2e`: producers → stream → mapping → function, against a server started in
//! this process (real gRPC on loopback, real RocksDB in a temporary dir).
//!
//! 1. Backlog drain: preload N records, then start a TRIM_HORIZON mapping and time how
//!    long a no-op native handler takes to receive them all.
//! 2. Maximum load: producers put single records over gRPC as fast as they can (64 in
//!    flight); the rate the handler receives them is the maximum. By default every put
//!    is a single-record request pipelined on one `PutRecordStream` call (as Redis and
//!    NATS clients pipeline on one connection); `--producer unary` makes a `PutRecord`
//!    call per record instead.
//! 3. Latency at fractions of that maximum (default 25 / 50 / 80 %): an open-loop pacer
//!    thread schedules each put at its time and fires it without waiting for earlier
//!    acks; each record carries its scheduled time, and the handler records
//!    now − scheduled, so queueing is not hidden (no coordinated omission). Each rate runs
//!    `--repeat` times (default 3); the table shows every run and the median p99.
//!    Each run is followed by the same run against the floor: an in-process gRPC echo
//!    server that hands each put to a sink on receipt (no storage, commit or delivery), so
//!    the table shows what eddy adds to what the pacer, the client, HTTP/2 and the shared
//!    cores cost by themselves.
//! 4. With `--python`: the same kind of backlog drained by a Python no-op handler run by
//!    the real `awslambdaric` (a process function, batch 100).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use eddy::config::ServeConfig;
use eddy::server::RunningServer;
use eddy_consumers::function_spec::{FunctionSpec, Runtime};
use eddy_consumers::handler::{Outcome, RecordBatch};
use eddy_consumers::mapping::{MappingSpec, StartingPosition};
use eddy_proto::v1 as pb;
use eddy_shards::sync::Mutex;
use eddy_shards::{AppendRecord, Durability, Log};
use tonic::transport::Channel;

use crate::open_loop::{pace, process_cpu_secs, stamped_record, Sink};
use crate::put_stream::PutStream;
use crate::storage_latency::StorageLatency;

#[derive(clap::Args, Clone)]
pub struct E2eArgs {
    #[arg(long, default_value_t = 4)]
    shards: u32,
    /// Records preloaded for the drain phase.
    #[arg(long, default_value_t = 1_000_000)]
    backlog: u64,
    /// Bytes per record (at least 16: the send times ride in the payload).
    #[arg(long, default_value_t = 100)]
    record_size: usize,
    /// BatchSize of the native drain mapping.
    #[arg(long, default_value_t = 10_000)]
    drain_batch_size: u32,
    /// Fractions of the measured maximum load to run the latency phase at.
    #[arg(long, value_delimiter = ',', default_value = "0.25,0.5,0.8")]
    load_fractions: Vec<f64>,
    /// A fixed rate (records/s) for the latency phase instead of fractions of the maximum.
    #[arg(long)]
    rate: Option<u64>,
    /// Seconds per latency run (and for the maximum-load probe).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Latency runs per rate. A p99 over a few seconds is set by the VM's worst stall of
    /// those seconds, so with several runs the table adds the median of the runs' p99 and
    /// their range.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    #[arg(long, default_value = "buffered")]
    durability: String,
    /// Also drain a backlog through a Python handler under awslambdaric run by this
    /// Python (a virtualenv with awslambdaric; `scripts/setup-python.sh` makes one).
    #[arg(long)]
    python: Option<std::path::PathBuf>,
    /// Records for the Python drain.
    #[arg(long, default_value_t = 100_000)]
    python_backlog: u64,
    /// How the latency phase puts: `stream` pipelines every put on one PutRecordStream
    /// call; `unary` makes one PutRecord call per record.
    #[arg(long, value_enum, default_value_t = PutCall::Stream)]
    producer: PutCall,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum PutCall {
    Stream,
    Unary,
}

/// The latency phase's single-record puts, over either call.
#[derive(Clone)]
enum LiveProducer {
    Unary(pb::records_client::RecordsClient<Channel>),
    Stream(PutStream),
}

impl LiveProducer {
    /// Stream puts sent without waiting that failed so far.
    fn unwaited_failures(&self) -> u64 {
        match self {
            LiveProducer::Unary(_) => 0,
            LiveProducer::Stream(stream) => stream.unwaited_failures(),
        }
    }

    async fn put(&mut self, data: Bytes, n: u64) -> anyhow::Result<()> {
        match self {
            LiveProducer::Unary(client) => {
                client.put_record(put_request(data, n)).await?;
            }
            LiveProducer::Stream(stream) => stream.put("live", &[(partition_key(n), data)]).await?,
        }
        Ok(())
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
    let drain_sink = Sink::new(false);
    let sink = Sink::new(true);
    let server = eddy::server::start_with(config, |functions| {
        register_sink(functions, "drain", drain_sink.clone());
        register_sink(functions, "latency", sink.clone());
    })
    .await?;
    println!(
        "## eddy-bench e2e: shards={} record_size={} durability={}",
        args.shards, args.record_size, args.durability
    );
    println!();

    let (records, secs) = drain_native(&server, &drain_sink, &args).await?;
    println!("| phase | records | seconds | records/s |");
    println!("|---|---:|---:|---:|");
    println!(
        "| backlog drain to a no-op native handler (batch {}) | {records} | {secs:.3} | {:.0} |",
        args.drain_batch_size,
        records as f64 / secs
    );
    if let Some(python) = &args.python {
        let (records, secs, invocations) = drain_python(&server, python, &args).await?;
        println!(
            "| backlog drain to a no-op Python handler under awslambdaric (batch 100, {} workers, {invocations} invocations) | {records} | {secs:.3} | {:.0} |",
            args.shards,
            records as f64 / secs
        );
    }
    println!();

    let (shards, mappings, cpu_percent) = idle_cpu(&server).await?;
    println!(
        "idle server with {shards} shards × {mappings} mappings ({} pollers): {cpu_percent:.2} % of one core over 5 s",
        shards * mappings
    );
    println!();

    server.log.create_stream("live", args.shards, 24).await?;
    let mut live = MappingSpec::new("live", "latency", StartingPosition::Latest);
    live.batch_size = 100;
    server.mappings.create(live)?;
    let (client, call) = live_producer(server.grpc_addr, args.producer).await?;
    let max_rate = max_load(&client, &sink, &args).await?;
    println!(
        "maximum put → handler load ({call}, 64 in flight, {} durability): {max_rate:.0} records/s",
        args.durability
    );
    println!();
    if durability == Durability::Fsync {
        let fsync_dir = tempfile::tempdir_in(dir.path())?;
        let probe = tokio::task::spawn_blocking(move || {
            crate::ceiling::fsync_probe(fsync_dir.path(), Duration::from_secs(2))
        })
        .await??;
        println!(
            "this disk: one 4 KiB write + fdatasync takes {:.3} ms on average ({:.0}/s); the target is p99 within that + 1 ms",
            1000.0 / probe.per_second,
            probe.per_second
        );
        println!(
            "the same pairs, one writer, server idle: p50 {:.3} / p99 {:.3} / p99.9 {:.3} / max {:.3} ms",
            probe.millis_at(50.0),
            probe.millis_at(99.0),
            probe.millis_at(99.9),
            probe.millis_at(100.0)
        );
        println!();
    }
    let floor_sink = Sink::new(true);
    let (floor_addr, _serving) =
        crate::echo::start_delivery_floor(Arc::new(Mutex::new(Some(floor_sink.clone())))).await?;
    let (floor_client, _) = live_producer(floor_addr, args.producer).await?;
    let paths = [
        (Path::Eddy, &client, &sink),
        (Path::Floor, &floor_client, &floor_sink),
    ];
    let rates: Vec<(String, u64)> = match args.rate {
        Some(rate) => vec![(format!("{rate} rec/s"), rate)],
        None => args
            .load_fractions
            .iter()
            .map(|f| {
                (
                    format!("{:.0} % of max = {:.0} rec/s", f * 100.0, f * max_rate),
                    (f * max_rate) as u64,
                )
            })
            .collect(),
    };
    println!(
        "| {} durability, window 0 | path | from | p50 ms | p99 ms | p99.9 ms | max ms | records | CPU µs/record | RocksDB writes: p50 / p99 / max ms | records' commit wait: p50 / p99 / max ms |",
        args.durability
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    anyhow::ensure!(args.repeat >= 1, "`--repeat` must be at least 1");
    let mut summary = Vec::new();
    for (label, rate) in rates {
        if rate == 0 {
            continue;
        }
        // Per path and "from" kind, each run's p99 in ms.
        let mut p99s = [[Vec::new(), Vec::new()], [Vec::new(), Vec::new()]];
        // eddy's runs: each run's commit wait p99 in ms.
        let mut commit_p99s = Vec::new();
        for run in 1..=args.repeat {
            // The two paths alternate, so the VM's slow spells fall on both.
            for &(path, client, sink) in &paths {
                let cpu_before = process_cpu_secs();
                let storage_before = StorageLatency::of(&server.log);
                open_loop(client, sink, &args, rate).await?;
                let (from_scheduled, from_send) = sink.latency();
                let cpu_micros_per_record =
                    (process_cpu_secs() - cpu_before) * 1e6 / (rate as f64 * args.seconds);
                // The group commits' own writes (with their fsyncs) and the records' waits
                // for them, eddy's runs only: the storage's share of the latency.
                let (writes, commits) = match path {
                    Path::Eddy => {
                        let storage = StorageLatency::of(&server.log).since(&storage_before);
                        commit_p99s.extend(storage.commit_millis(99.0));
                        (storage.writes_cell(), storage.commits_cell())
                    }
                    Path::Floor => (String::new(), String::new()),
                };
                let run_label = if args.repeat > 1 {
                    format!("{label}, run {run}")
                } else {
                    label.clone()
                };
                for (kind, (from, histogram)) in [FROM_SCHEDULED, FROM_SEND]
                    .into_iter()
                    .zip([from_scheduled, from_send])
                    .enumerate()
                {
                    let p99 = histogram.value_at_quantile(0.99) as f64 / 1000.0;
                    p99s[path as usize][kind].push(p99);
                    println!(
                        "| {run_label} | {} | {from} | {:.3} | {p99:.3} | {:.3} | {:.3} | {} | {cpu_micros_per_record:.1} | {writes} | {commits} |",
                        path.label(),
                        histogram.value_at_quantile(0.5) as f64 / 1000.0,
                        histogram.value_at_quantile(0.999) as f64 / 1000.0,
                        histogram.max() as f64 / 1000.0,
                        histogram.len()
                    );
                }
            }
        }
        let medians = p99s.clone().map(|kinds| kinds.map(crate::compare::median));
        for (kind, from) in [FROM_SCHEDULED, FROM_SEND].into_iter().enumerate() {
            for path in [Path::Eddy, Path::Floor] {
                let runs = &p99s[path as usize][kind];
                let (min, max) = runs
                    .iter()
                    .fold((f64::MAX, f64::MIN), |(lo, hi), &p| (lo.min(p), hi.max(p)));
                println!(
                    "| {label}, median of {} runs (min–max) | {} | {from} | | **{:.3}** ({min:.3}–{max:.3}) | | | | | | |",
                    runs.len(),
                    path.label(),
                    medians[path as usize][kind],
                );
            }
        }
        summary.push((label, medians, crate::compare::median(commit_p99s)));
    }
    println!();
    for (label, medians, commit_p99) in summary {
        let [eddy, floor] = medians.map(|kinds| kinds[0]);
        println!(
            "{label}: eddy's median p99 from the scheduled send is {eddy:.3} ms, the floor's {floor:.3} ms: eddy adds {:.3} ms ({:.2}× the floor); the median p99 of its records' commit wait (arrival at the log → written{}) is {commit_p99:.3} ms",
            eddy - floor,
            eddy / floor,
            if durability == Durability::Fsync { " and fsynced" } else { "" },
        );
    }
    server.shutdown().await?;
    Ok(())
}

async fn preload(log: &Log, stream: &str, count: u64, record_size: usize) -> anyhow::Result<()> {
    let payload = Bytes::from(vec![0x5au8; record_size]);
    let mut loaded = 0;
    while loaded < count {
        let n = (count - loaded).min(500);
        let records = (0..n)
            .map(|i| AppendRecord {
                partition_key: format!("k{}", (loaded + i) % 1024),
                data: payload.clone(),
                explicit_hash_key: None,
            })
            .collect();
        log.put_records(stream, records).await?;
        loaded += n;
    }
    Ok(())
}

/// CPU of the whole process while 64 shards × 2 mappings wait for records.
async fn idle_cpu(server: &RunningServer) -> anyhow::Result<(u32, u32, f64)> {
    const SHARDS: u32 = 64;
    server.log.create_stream("idle", SHARDS, 24).await?;
    let mut ids = Vec::new();
    for function in ["drain", "latency"] {
        let spec = MappingSpec::new("idle", function, StartingPosition::Latest);
        ids.push(server.mappings.create(spec)?.id);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (cpu_before, started) = (process_cpu_secs(), Instant::now());
    tokio::time::sleep(Duration::from_secs(5)).await;
    let percent = (process_cpu_secs() - cpu_before) / started.elapsed().as_secs_f64() * 100.0;
    for id in ids {
        server.mappings.delete(&id).await?;
    }
    Ok((SHARDS, 2, percent))
}

const FROM_SCHEDULED: &str = "scheduled send";
const FROM_SEND: &str = "actual send";

/// What the latency phase measures: eddy's whole path, or the floor under it.
#[derive(Clone, Copy)]
enum Path {
    /// Put → commit → mapping poller → native handler.
    Eddy = 0,
    /// The same producer against an in-process gRPC echo server that calls the handler's
    /// sink on receipt: no storage, no commit, no delivery.
    Floor = 1,
}

impl Path {
    fn label(self) -> &'static str {
        match self {
            Path::Eddy => "eddy: put → commit → mapping → handler",
            Path::Floor => "floor: gRPC echo, handler on receipt",
        }
    }
}

/// A latency-phase producer connected to `addr`, and how it puts.
async fn live_producer(
    addr: std::net::SocketAddr,
    call: PutCall,
) -> anyhow::Result<(LiveProducer, &'static str)> {
    let endpoint = format!("http://{addr}");
    let channel = eddy::grpc::client_endpoint(&endpoint)?.connect().await?;
    let client = pb::records_client::RecordsClient::new(channel);
    Ok(match call {
        PutCall::Unary => (LiveProducer::Unary(client), "a PutRecord call per record"),
        PutCall::Stream => (
            LiveProducer::Stream(PutStream::open(client).await?),
            "single-record requests pipelined on one PutRecordStream call",
        ),
    })
}

/// Returns (records, seconds).
async fn drain_native(
    server: &RunningServer,
    sink: &Sink,
    args: &E2eArgs,
) -> anyhow::Result<(u64, f64)> {
    server.log.create_stream("backlog", args.shards, 24).await?;
    preload(&server.log, "backlog", args.backlog, args.record_size).await?;
    let mut drain = MappingSpec::new("backlog", "drain", StartingPosition::TrimHorizon);
    drain.batch_size = args.drain_batch_size;
    let before = sink.records();
    let started = Instant::now();
    let id = server.mappings.create(drain)?.id;
    anyhow::ensure!(
        sink.wait_for(before + args.backlog, Duration::from_secs(600))
            .await,
        "the native drain did not finish"
    );
    let secs = started.elapsed().as_secs_f64();
    server.mappings.delete(&id).await?;
    Ok((args.backlog, secs))
}

const PYTHON_NOOP: &str = "def handler(event, context):\n    return {}\n";

/// Returns (records, seconds, invocations).
async fn drain_python(
    server: &RunningServer,
    python: &std::path::Path,
    args: &E2eArgs,
) -> anyhow::Result<(u64, f64, u64)> {
    let code = tempfile::tempdir()?;
    std::fs::write(code.path().join("noop.py"), PYTHON_NOOP)?;
    let mut spec = FunctionSpec::with_runtime(
        "python-noop",
        Runtime::Process {
            command: vec![
                python.display().to_string(),
                "-m".into(),
                "awslambdaric".into(),
                "noop.handler".into(),
            ],
            workdir: code.path().to_path_buf(),
            handler: Some("noop.handler".into()),
        },
    );
    spec.env
        .insert("PYTHONPATH".into(), code.path().display().to_string());
    spec.concurrency = args.shards;
    spec.timeout_secs = 60;
    server.functions.create(spec)?;
    server.log.create_stream("python", args.shards, 24).await?;
    preload(&server.log, "python", args.python_backlog, args.record_size).await?;
    let started = Instant::now();
    let id = server
        .mappings
        .create(MappingSpec::new(
            "python",
            "python-noop",
            StartingPosition::TrimHorizon,
        ))?
        .id;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let stats = server.mappings.describe(&id)?.stats;
        if stats.records_delivered >= args.python_backlog {
            let secs = started.elapsed().as_secs_f64();
            server.mappings.delete(&id).await?;
            anyhow::ensure!(
                stats.errors == 0,
                "the Python handler failed {} times",
                stats.errors
            );
            return Ok((args.python_backlog, secs, stats.invocations));
        }
        anyhow::ensure!(Instant::now() < deadline, "the Python drain did not finish");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn partition_key(n: u64) -> String {
    format!("p{}", n % 256)
}

fn put_request(data: Bytes, n: u64) -> pb::PutRecordRequest {
    pb::PutRecordRequest {
        stream_name: "live".into(),
        partition_key: partition_key(n),
        data,
        explicit_hash_key: None,
        sequence_number_for_ordering: None,
    }
}

/// Closed loop, 64 puts in flight, for `args.seconds`: the handler's receive rate.
async fn max_load(client: &LiveProducer, sink: &Arc<Sink>, args: &E2eArgs) -> anyhow::Result<f64> {
    const IN_FLIGHT: u64 = 64;
    let run_for = Duration::from_secs_f64(args.seconds);
    let before = sink.records();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..IN_FLIGHT {
        let mut client = client.clone();
        let size = args.record_size;
        tasks.push(tokio::spawn(async move {
            let mut n = worker;
            while started.elapsed() < run_for {
                let data = stamped_record(size, Instant::now());
                client.put(data, n).await?;
                n += IN_FLIGHT;
            }
            anyhow::Ok((n - worker) / IN_FLIGHT)
        }));
    }
    let mut sent = 0;
    for task in tasks {
        sent += task.await??;
    }
    anyhow::ensure!(
        sink.wait_for(before + sent, Duration::from_secs(60)).await,
        "the handler did not receive every record of the maximum-load probe"
    );
    let secs = started.elapsed().as_secs_f64();
    sink.reset_latency();
    Ok(sent as f64 / secs)
}

/// Open loop at `rate` records/s for `args.seconds`: each put fires at its scheduled time,
/// whether or not earlier puts were acknowledged.
async fn open_loop(
    client: &LiveProducer,
    sink: &Arc<Sink>,
    args: &E2eArgs,
    rate: u64,
) -> anyhow::Result<()> {
    sink.reset_latency();
    let total = (rate as f64 * args.seconds) as u64;
    let before = sink.records();
    let runtime = tokio::runtime::Handle::current();
    let (client, size) = (client.clone(), args.record_size);
    let failures = Arc::new(AtomicU64::new(0));
    let pacer_failures = failures.clone();
    let failed_before = client.unwaited_failures();
    let pacer_client = client.clone();
    pace(rate as f64, total, move |n, scheduled| {
        let data = stamped_record(size, scheduled);
        match &pacer_client {
            // The pacer thread sends on the call itself: no task per put.
            LiveProducer::Stream(stream) => {
                if stream.send("live", &[(partition_key(n), data)]).is_err() {
                    pacer_failures.fetch_add(1, Ordering::Relaxed);
                }
            }
            LiveProducer::Unary(_) => {
                let (mut client, failures) = (pacer_client.clone(), pacer_failures.clone());
                runtime.spawn(async move {
                    if client.put(data, n).await.is_err() {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        }
    })
    .await?;
    let delivered = sink.wait_for(before + total, Duration::from_secs(60)).await;
    let failed = failures.load(Ordering::Relaxed) + client.unwaited_failures() - failed_before;
    anyhow::ensure!(failed == 0, "{failed} puts failed at {rate} records/s");
    anyhow::ensure!(
        delivered,
        "the handler did not receive every record at {rate} records/s"
    );
    Ok(())
}

/// Registers a no-op native function `name` that hands every batch to `sink`.
pub fn register_sink(
    functions: &eddy_consumers::functions::Functions,
    name: &str,
    sink: Arc<Sink>,
) {
    let handler = move |batch: &RecordBatch| {
        sink.observe(batch.records.iter().map(|record| record.data.as_ref()));
        Outcome::Success(Bytes::new())
    };
    functions.register_native(name, Arc::new(handler), Duration::from_secs(30));
}
