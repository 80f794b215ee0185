//! `eddy-bench put`: N producers put batches into an eddy server over gRPC.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use eddy::config::ServeConfig;
use eddy_proto::v1 as pb;
use eddy_shards::Durability;
use hdrhistogram::Histogram;

use crate::ceiling;
use crate::producer_records::ProducerRecords;

#[derive(clap::Args, Clone)]
pub struct PutArgs {
    /// Concurrent producers (each with its own connection).
    #[arg(long, default_value_t = 8)]
    producers: usize,
    /// Bytes of data per record.
    #[arg(long, default_value_t = 1024)]
    record_size: usize,
    /// Records per PutRecords call (1 uses PutRecord).
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    #[arg(long, default_value_t = 4)]
    shards: u32,
    /// fsync or buffered.
    #[arg(long, default_value = "buffered")]
    durability: String,
    /// Seconds of measurement for eddy and again for the ceiling.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Where the temporary data dirs go (the disk being measured).
    #[arg(long)]
    data_root: Option<std::path::PathBuf>,
    /// Skip the raw RocksDB ceiling.
    #[arg(long)]
    no_ceiling: bool,
}

struct ProducerResult {
    records: u64,
    latency_micros: Histogram<u64>,
}

pub async fn run(args: PutArgs) -> anyhow::Result<()> {
    let durability = match args.durability.as_str() {
        "fsync" => Durability::Fsync,
        "buffered" => Durability::Buffered,
        other => anyhow::bail!("`--durability` must be fsync or buffered, got {other:?}"),
    };
    anyhow::ensure!(
        args.batch_size >= 1 && args.batch_size <= 500,
        "`--batch-size` must be 1 to 500"
    );
    anyhow::ensure!(args.producers >= 1, "`--producers` must be at least 1");
    let duration = Duration::from_secs_f64(args.seconds);
    let root = args.data_root.clone().unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(&root).context("temporary data dir")?;

    let mut config = ServeConfig::new(dir.path().join("eddy"), "127.0.0.1:0".parse()?);
    config.durability = durability;
    let server = eddy::server::start(config).await?;
    let endpoint = format!("http://{}", server.grpc_addr);
    let channel = tonic::transport::Endpoint::from_shared(endpoint.clone())?
        .connect()
        .await?;
    pb::streams_client::StreamsClient::new(channel)
        .create_stream(pb::CreateStreamRequest {
            name: "bench".into(),
            shard_count: Some(args.shards),
            retention_hours: None,
        })
        .await?;

    let stop = Arc::new(AtomicBool::new(false));
    let mut producers = Vec::new();
    for _ in 0..args.producers {
        let channel = eddy::grpc::client_endpoint(&endpoint)?.connect().await?;
        let client =
            pb::records_client::RecordsClient::new(channel).max_encoding_message_size(16 << 20);
        producers.push(tokio::spawn(produce(
            client,
            args.batch_size,
            args.record_size,
            stop.clone(),
        )));
    }
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut records = 0;
    let mut latency = Histogram::<u64>::new(3)?;
    for producer in producers {
        let result = producer.await??;
        records += result.records;
        latency.add(&result.latency_micros)?;
    }
    let elapsed = started.elapsed();
    let writes = server.log.write_stats();
    server.shutdown().await?;

    let eddy_rate = records as f64 / elapsed.as_secs_f64();
    let mb = |rate: f64| rate * args.record_size as f64 / 1e6;
    println!(
        "## eddy-bench put: producers={} record_size={} batch={} shards={} durability={} seconds={}",
        args.producers, args.record_size, args.batch_size, args.shards, args.durability, args.seconds
    );
    println!();
    println!("| system | records/s | MB/s | ack p50 ms | ack p99 ms | ack p99.9 ms | requests |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    println!(
        "| eddy (gRPC, {}) | {:.0} | {:.1} | {:.3} | {:.3} | {:.3} | {} |",
        args.durability,
        eddy_rate,
        mb(eddy_rate),
        latency.value_at_quantile(0.5) as f64 / 1000.0,
        latency.value_at_quantile(0.99) as f64 / 1000.0,
        latency.value_at_quantile(0.999) as f64 / 1000.0,
        latency.len()
    );
    println!();
    println!(
        "group commit: {} records in {} RocksDB writes = {:.1} records per write{}",
        writes.records_committed,
        writes.groups_committed,
        writes.records_committed as f64 / writes.groups_committed.max(1) as f64,
        if durability == Durability::Fsync {
            " (one fsync each)"
        } else {
            ""
        }
    );
    if args.no_ceiling {
        return Ok(());
    }
    // A clean disk for the ceiling: eddy's data dir gone and its dirty pages written back.
    drop(dir);
    crate::fair_rounds::settle_disk().await?;
    let ceiling_args = args.clone();
    let root_for_ceiling = root.clone();
    let ceiling = tokio::task::spawn_blocking(move || {
        ceiling::raw_rocksdb_put(
            &root_for_ceiling,
            ceiling_args.producers,
            ceiling_args.record_size,
            ceiling_args.batch_size,
            ceiling_args.shards,
            durability == Durability::Fsync,
            duration,
        )
    })
    .await??;
    let ceiling_rate = ceiling.records as f64 / ceiling.elapsed.as_secs_f64();
    println!(
        "| raw RocksDB WriteBatch ({}, {} threads) | {:.0} | {:.1} | | | | |",
        args.durability,
        args.producers,
        ceiling_rate,
        mb(ceiling_rate)
    );
    println!();
    println!("eddy / ceiling = {:.2}", eddy_rate / ceiling_rate);
    if durability == Durability::Fsync {
        let fsync_dir = tempfile::tempdir_in(&root)?;
        let fsyncs_per_sec = tokio::task::spawn_blocking(move || {
            ceiling::fsync_rate(fsync_dir.path(), Duration::from_secs(3))
        })
        .await??;
        println!(
            "one writer's 4 KiB write+fdatasync rate on this disk: {fsyncs_per_sec:.0}/s; eddy acknowledged {:.1} records per possible fsync (group commit)",
            eddy_rate / fsyncs_per_sec
        );
    }
    Ok(())
}

async fn produce(
    mut client: pb::records_client::RecordsClient<tonic::transport::Channel>,
    batch_size: usize,
    record_size: usize,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<ProducerResult> {
    let mut latency_micros = Histogram::<u64>::new(3)?;
    let mut records = 0;
    let mut records_to_put = ProducerRecords::new(record_size);
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        if batch_size == 1 {
            client
                .put_record(pb::PutRecordRequest {
                    stream_name: "bench".into(),
                    partition_key: records_to_put.next_key().to_owned(),
                    data: records_to_put.next_data(),
                    explicit_hash_key: None,
                    sequence_number_for_ordering: None,
                })
                .await?;
        } else {
            let entries = records_to_put
                .next_batch(batch_size)
                .into_iter()
                .map(|(partition_key, data)| pb::PutRecordsEntry {
                    partition_key,
                    data,
                    explicit_hash_key: None,
                })
                .collect();
            let response = client
                .put_records(pb::PutRecordsRequest {
                    stream_name: "bench".into(),
                    records: entries,
                })
                .await?
                .into_inner();
            anyhow::ensure!(response.failed_record_count == 0, "records failed");
        }
        latency_micros.record(started.elapsed().as_micros() as u64)?;
        records += batch_size as u64;
    }
    Ok(ProducerResult {
        records,
        latency_micros,
    })
}
