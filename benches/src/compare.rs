//! `eddy-bench compare`: eddy and its peers side by side on the same put workloads, one
//! system at a time, interleaved over rounds (A B C, B C A, C A B …: see
//! [`crate::fair_rounds`]), medians with min–max.
//!
//! - W1: single puts, 1 producer, serial: acknowledgement latency.
//! - W2: batched puts, batch size × record size, N producers: throughput.
//! - W3: shard scaling, 1 / 8 / 64 shards with many producers.
//! - W4–W6, delivery to a function or consumer (see [`crate::delivery`]): put → function
//!   latency at 25 / 50 / 80 % of each system's maximum, backlog catch-up, fan-out.
//!
//! Ceilings are measured in the same rounds: raw in-process RocksDB `WriteBatch` with
//! eddy's options and encoding, the same records, batch, concurrency and sync mode (eddy
//! rows show eddy/ceiling), a gRPC echo server answering eddy's `Records` service at once
//! (eddy gRPC rows show eddy/echo: the cost of the transport alone), and the data disk's
//! 4 KiB write+fdatasync rate.
//!
//! Every system runs as its own server process, started fresh for each run, driven by
//! the same Rust load generator; its CPU time and peak RSS come from `/proc`. Every
//! figure carries its durability, and eddy/peer ratios are taken between eddy and the peer
//! at the nearest durability (see [`System::eddy_counterpart`]), as the median of the
//! per-round ratios.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::fair_rounds::{in_round_order, settle_disk};
use crate::report;
use crate::systems::{Installed, Running, System};

/// Kinesis's PutRecords cap (data and partition keys); batches are cut to fit it for
/// every system alike.
const MAX_BATCH_BYTES: usize = 5 * 1024 * 1024;
const MAX_BATCH_ENTRIES: usize = 500;

#[derive(clap::Args, Clone)]
pub struct CompareArgs {
    /// Workloads: w1 (single puts, latency), w2 (batch × size), w3 (shard scaling),
    /// w4 (put → function latency), w5 (backlog catch-up), w6 (fan-out).
    #[arg(long, value_delimiter = ',', default_value = "w1,w2,w3,w4,w5,w6")]
    workloads: Vec<String>,
    /// Interleaved rounds per figure.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Measured seconds per run (after a warm-up of a fifth of that, at most 1 s).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// W2 batch sizes.
    #[arg(long, value_delimiter = ',', default_value = "1,100,500")]
    batch_sizes: Vec<usize>,
    /// W2 record sizes in bytes.
    #[arg(long, value_delimiter = ',', default_value = "100,1024,65536")]
    record_sizes: Vec<usize>,
    /// W2 producers (each with its own connection).
    #[arg(long, default_value_t = 8)]
    producers: usize,
    /// Shards for W1 and W2.
    #[arg(long, default_value_t = 4)]
    shards: u32,
    /// W3 shard counts.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    shard_counts: Vec<u32>,
    /// W3 producers.
    #[arg(long, default_value_t = 64)]
    scaling_producers: usize,
    /// W3 batch size (1 KiB records).
    #[arg(long, default_value_t = 100)]
    scaling_batch: usize,
    /// W4 open-loop rates, as fractions of each system's own measured maximum.
    #[arg(long, value_delimiter = ',', default_value = "0.25,0.5,0.8")]
    load_fractions: Vec<f64>,
    /// W5 records preloaded, then drained.
    #[arg(long, default_value_t = 1_000_000)]
    backlog_records: u64,
    /// W5 records for kinesalite, at most (it loads about 5k records/s).
    #[arg(long, default_value_t = 100_000)]
    kinesalite_backlog_records: u64,
    /// W6 consumers of one stream.
    #[arg(long, value_delimiter = ',', default_value = "1,2,5")]
    fan_outs: Vec<usize>,
    /// W6 producers putting batches of 100, closed loop.
    #[arg(long, default_value_t = 4)]
    fan_out_producers: usize,
    /// W4–W6 bytes per record (at least 16: the send times ride in the payload).
    #[arg(long, default_value_t = 100)]
    delivery_record_size: usize,
    /// Only systems whose name contains one of these (case-insensitive).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The eddy binary [default: next to eddy-bench].
    #[arg(long)]
    eddy_bin: Option<PathBuf>,
    /// An earlier eddy build to run beside it as "eddy gRPC, earlier build", so that the
    /// report shows before/after in the same run (eddy / this is after / before).
    #[arg(long)]
    before_eddy_bin: Option<PathBuf>,
    /// Where the systems' data dirs go (the disk being measured).
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// Also write the report (machine, date, commit, command, tables) to this markdown
    /// file, and its charts as SVG into `charts/` next to it.
    #[arg(long)]
    report: Option<PathBuf>,
}

/// One figure's parameters.
#[derive(Clone, Debug)]
struct Cell {
    workload: &'static str,
    producers: usize,
    batch: usize,
    record_size: usize,
    shards: u32,
    /// The batch asked for, when the 5 MiB cap cut it.
    capped_from: Option<usize>,
}

impl Cell {
    fn new(
        workload: &'static str,
        producers: usize,
        batch: usize,
        record_size: usize,
        shards: u32,
    ) -> Self {
        let fits = (MAX_BATCH_BYTES / (record_size + crate::producer_records::KEY_BYTES))
            .clamp(1, MAX_BATCH_ENTRIES);
        Self {
            workload,
            producers,
            batch: batch.min(fits),
            record_size,
            shards,
            capped_from: (batch > fits).then_some(batch),
        }
    }

    fn title(&self) -> String {
        let capped = self
            .capped_from
            .map(|asked| format!(" (asked {asked}; cut to fit 5 MiB per PutRecords)"))
            .unwrap_or_default();
        format!(
            "{}: {} producer(s), batch {}{capped}, {} B records, {} shard(s)",
            self.workload, self.producers, self.batch, self.record_size, self.shards
        )
    }
}

/// One run of one system on one cell.
struct Run {
    records: u64,
    seconds: f64,
    latency_micros: Histogram<u64>,
    cpu_seconds: f64,
    peak_rss_mib: f64,
}

impl Run {
    fn rate(&self) -> f64 {
        self.records as f64 / self.seconds
    }
}

pub async fn run(args: CompareArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.rounds >= 1, "`--rounds` must be at least 1");
    anyhow::ensure!(args.seconds > 0.0, "`--seconds` must be positive");
    anyhow::ensure!(
        args.delivery_record_size >= crate::open_loop::STAMP_BYTES,
        "`--delivery-record-size` must be at least {}",
        crate::open_loop::STAMP_BYTES
    );
    let installed = Installed::find(args.eddy_bin.clone(), args.before_eddy_bin.clone());
    let root = args.data_root.clone().unwrap_or_else(std::env::temp_dir);
    let systems: Vec<System> = System::all(args.before_eddy_bin.is_some())
        .into_iter()
        .filter(|system| is_wanted(&system.name(), &args.only))
        .collect();
    let mut cells = Vec::new();
    for workload in &args.workloads {
        match workload.as_str() {
            "w1" => cells.push(Cell::new("W1 single puts, serial", 1, 1, 100, args.shards)),
            "w2" => {
                for &batch in &args.batch_sizes {
                    for &size in &args.record_sizes {
                        cells.push(Cell::new(
                            "W2 batched puts",
                            args.producers,
                            batch,
                            size,
                            args.shards,
                        ));
                    }
                }
            }
            "w3" => {
                for &shards in &args.shard_counts {
                    cells.push(Cell::new(
                        "W3 shard scaling",
                        args.scaling_producers,
                        args.scaling_batch,
                        1024,
                        shards,
                    ));
                }
            }
            "w4" | "w5" | "w6" => {} // delivery workloads, run after the put workloads
            other => anyhow::bail!("unknown workload {other:?}: use w1 to w6"),
        }
    }

    let mut out = String::new();
    out.push_str(&format!(
        "## eddy-bench compare: {} round(s) of {} s per system and figure, interleaved\n\n",
        args.rounds, args.seconds
    ));
    out.push_str(&format!(
        "- machine: {}\n- date: {}\n- commit: {}\n- command: `{}`\n- records: {}\n\n",
        report::machine(),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        report::commit(),
        std::env::args().collect::<Vec<_>>().join(" "),
        crate::producer_records::DESCRIPTION,
    ));
    for system in &systems {
        if let Some(why) = installed.missing(*system) {
            out.push_str(&format!("- **{} is missing**: {why}\n", system.name()));
        }
    }
    let fsync_dir = tempfile::tempdir_in(&root)?;
    let fsyncs = tokio::task::spawn_blocking(move || {
        crate::ceiling::fsync_rate(fsync_dir.path(), Duration::from_secs(2))
    })
    .await??;
    out.push_str(&format!(
        "\nCeiling: one writer's 4 KiB write + fdatasync on the data disk: {fsyncs:.0}/s.\n"
    ));
    print!("{out}");
    let mut points_by_cell: Vec<(Cell, Vec<Point>)> = Vec::new();
    for cell in &cells {
        let mut runs: BTreeMap<String, Vec<Run>> = BTreeMap::new();
        let mut failures: BTreeMap<String, String> = BTreeMap::new();
        let mut ceilings: BTreeMap<bool, Vec<f64>> = BTreeMap::new();
        for round in 0..args.rounds {
            for fsync in [false, true] {
                settle_disk().await?;
                let (cell, seconds, root) = (cell.clone(), args.seconds, root.clone());
                let ceiling = tokio::task::spawn_blocking(move || {
                    crate::ceiling::raw_rocksdb_put(
                        &root,
                        cell.producers,
                        cell.record_size,
                        cell.batch,
                        cell.shards,
                        fsync,
                        Duration::from_secs_f64(seconds),
                    )
                })
                .await??;
                ceilings
                    .entry(fsync)
                    .or_default()
                    .push(ceiling.records as f64 / ceiling.elapsed.as_secs_f64());
            }
            for system in in_round_order(systems.iter().copied(), round) {
                if installed.missing(system).is_some() {
                    continue;
                }
                settle_disk().await?;
                match run_once(system, cell, &installed, &root, args.seconds).await {
                    Ok(run) => runs.entry(system.name()).or_default().push(run),
                    Err(err) => {
                        failures.insert(system.name(), format!("{err:#}"));
                    }
                }
            }
        }
        let (table, points) = table(cell, &systems, &runs, &failures, &ceilings);
        print!("{table}");
        out.push_str(&table);
        points_by_cell.push((cell.clone(), points));
    }
    let delivery_args = crate::delivery::workloads::DeliveryArgs {
        workloads: args.workloads.clone(),
        rounds: args.rounds,
        seconds: args.seconds,
        shards: args.shards,
        record_size: args.delivery_record_size,
        load_fractions: args.load_fractions.clone(),
        backlog_records: args.backlog_records,
        kinesalite_backlog_records: args.kinesalite_backlog_records,
        fan_outs: args.fan_outs.clone(),
        fan_out_producers: args.fan_out_producers,
        only: args.only.clone(),
    };
    let (delivery_text, delivery_charts) =
        crate::delivery::workloads::run(&delivery_args, &installed, &root).await?;
    out.push_str(&delivery_text);
    if let Some(path) = &args.report {
        let charts_dir = path
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("charts");
        std::fs::create_dir_all(&charts_dir)?;
        out.push_str("\n### Charts\n\n");
        for (file, title, svg) in charts(&systems, &points_by_cell)
            .into_iter()
            .chain(delivery_charts)
        {
            std::fs::write(charts_dir.join(&file), svg)?;
            out.push_str(&format!("![{title}](charts/{file})\n\n"));
        }
        std::fs::write(path, &out)?;
    }
    Ok(())
}

/// One system's medians on one cell, for the charts.
struct Point {
    system: String,
    rate: f64,
    latency_millis: [f64; 3],
}

/// W1 latency percentiles, W2 throughput per batch × size, W3 throughput per shard count.
fn charts(systems: &[System], cells: &[(Cell, Vec<Point>)]) -> Vec<(String, String, String)> {
    // One series per system; `value` gives `width` figures per cell (None where the
    // system has no figure).
    let series_of =
        |cells: &[&(Cell, Vec<Point>)], width: usize, value: &dyn Fn(&Point) -> Vec<f64>| {
            systems
                .iter()
                .map(|system| {
                    let name = system.name();
                    let values = cells
                        .iter()
                        .flat_map(
                            |(_, points)| match points.iter().find(|p| p.system == name) {
                                Some(point) => value(point).into_iter().map(Some).collect(),
                                None => vec![None; width],
                            },
                        )
                        .collect();
                    report::Series { name, values }
                })
                .collect::<Vec<_>>()
        };
    let mut charts = Vec::new();
    let w1: Vec<_> = cells
        .iter()
        .filter(|(c, _)| c.workload.starts_with("W1"))
        .collect();
    if let Some((cell, _)) = w1.first() {
        let title = format!(
            "W1 ack latency, ms ({} B single puts, 1 producer)",
            cell.record_size
        );
        let categories = ["p50".to_string(), "p99".into(), "p99.9".into()];
        let svg = report::grouped_bars(
            &title,
            "milliseconds",
            &categories,
            &series_of(&w1[..1], 3, &|p| p.latency_millis.to_vec()),
        );
        charts.push(("w1-latency.svg".to_string(), title, svg));
    }
    for (prefix, file, title) in [
        (
            "W2",
            "w2-throughput.svg",
            "W2 put throughput, records/s (batch × record size)",
        ),
        (
            "W3",
            "w3-shard-scaling.svg",
            "W3 put throughput against shard count, records/s",
        ),
    ] {
        let group: Vec<_> = cells
            .iter()
            .filter(|(c, _)| c.workload.starts_with(prefix))
            .collect();
        if group.is_empty() {
            continue;
        }
        let categories: Vec<String> = group
            .iter()
            .map(|(c, _)| match prefix {
                "W3" => format!("{} shards", c.shards),
                _ => format!("{} × {} B", c.batch, c.record_size),
            })
            .collect();
        let svg = report::grouped_bars(
            title,
            "records/s",
            &categories,
            &series_of(&group, 1, &|p| vec![p.rate]),
        );
        charts.push((file.to_string(), title.to_string(), svg));
    }
    charts
}

async fn run_once(
    system: System,
    cell: &Cell,
    installed: &Installed,
    root: &std::path::Path,
    seconds: f64,
) -> anyhow::Result<Run> {
    let running = Running::start(system, installed, root).await?;
    running.create_stream(cell.shards).await?;
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..cell.producers {
        let producer = running.producer(cell.shards).await?;
        tasks.push(tokio::spawn(produce(
            producer,
            cell.batch,
            cell.record_size,
            measuring.clone(),
            stop.clone(),
        )));
    }
    let warm_up = Duration::from_secs_f64((seconds / 5.0).min(1.0));
    tokio::time::sleep(warm_up).await;
    let cpu_before = running.process.cpu_seconds();
    measuring.store(true, Ordering::Release);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    measuring.store(false, Ordering::Release);
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_seconds = running.process.cpu_seconds() - cpu_before;
    stop.store(true, Ordering::Release);
    let mut records = 0;
    let mut latency_micros = Histogram::<u64>::new(3)?;
    for task in tasks {
        let (count, histogram) = task.await??;
        records += count;
        latency_micros.add(&histogram)?;
    }
    let peak_rss_mib = running.process.peak_rss_mib();
    Ok(Run {
        records,
        seconds: elapsed,
        latency_micros,
        cpu_seconds,
        peak_rss_mib,
    })
}

/// Puts batches back to back; counts only what is acknowledged while `measuring`.
async fn produce(
    mut producer: crate::systems::Producer,
    batch: usize,
    record_size: usize,
    measuring: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<(u64, Histogram<u64>)> {
    let mut records_to_put = crate::producer_records::ProducerRecords::new(record_size);
    let mut histogram = Histogram::<u64>::new(3)?;
    let mut records = 0u64;
    while !stop.load(Ordering::Acquire) {
        let entries = records_to_put.next_batch(batch);
        let counted = measuring.load(Ordering::Acquire);
        let sent = Instant::now();
        producer.put(&entries).await?;
        if counted && measuring.load(Ordering::Acquire) {
            histogram.record(sent.elapsed().as_micros() as u64)?;
            records += batch as u64;
        }
    }
    Ok((records, histogram))
}

pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn table(
    cell: &Cell,
    systems: &[System],
    runs: &BTreeMap<String, Vec<Run>>,
    failures: &BTreeMap<String, String>,
    ceilings: &BTreeMap<bool, Vec<f64>>,
) -> (String, Vec<Point>) {
    let mut points = Vec::new();
    let mut out = format!("\n### {}\n\n", cell.title());
    out.push_str("| system | durability | records/s (median, min–max) | MB/s | ack p50 / p99 / p99.9 ms | CPU s per M records | peak RSS MiB | eddy / this, or eddy / ceiling |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|\n");
    for (&fsync, rates) in ceilings {
        let rate = median(rates.clone());
        let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
        let max = rates.iter().copied().fold(0.0, f64::max);
        out.push_str(&format!(
            "| ceiling: raw RocksDB WriteBatch, in process | {} | {rate:.0} ({min:.0}–{max:.0}) | {:.1} | | | | |\n",
            if fsync { "fsync per write" } else { "OS-buffered" },
            rate * cell.record_size as f64 / 1e6,
        ));
    }
    for &system in systems {
        let name = system.name();
        let Some(system_runs) = runs.get(&name) else {
            if let Some(err) = failures.get(&name) {
                out.push_str(&format!(
                    "| {name} | {} | failed: {} | | | | | |\n",
                    system.durability().name(),
                    err.replace('\n', " ").replace('|', "/")
                ));
            }
            continue;
        };
        let rates: Vec<f64> = system_runs.iter().map(Run::rate).collect();
        let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
        let max = rates.iter().copied().fold(0.0, f64::max);
        let rate = median(rates.clone());
        let quantile = |q: f64| {
            median(
                system_runs
                    .iter()
                    .map(|run| run.latency_micros.value_at_quantile(q) as f64 / 1000.0)
                    .collect(),
            )
        };
        let cpu_per_million = median(
            system_runs
                .iter()
                .map(|run| run.cpu_seconds / (run.records.max(1) as f64 / 1e6))
                .collect(),
        );
        let rss = system_runs
            .iter()
            .map(|run| run.peak_rss_mib)
            .fold(0.0, f64::max);
        let ratio = match system.eddy_counterpart() {
            None if system == System::GrpcEcho => "(transport ceiling)".to_string(),
            None => {
                let fsync = system.durability() == crate::systems::DurabilityLabel::FsyncPerAck;
                let ceiling = match ceilings.get(&fsync) {
                    Some(ceiling_rates) => {
                        let ratios: Vec<f64> = system_runs
                            .iter()
                            .zip(ceiling_rates)
                            .map(|(run, ceiling)| run.rate() / ceiling.max(f64::MIN_POSITIVE))
                            .collect();
                        format!("{:.2} of raw RocksDB", median(ratios))
                    }
                    None => String::new(),
                };
                match (system, runs.get(&System::GrpcEcho.name())) {
                    (System::EddyGrpc { .. }, Some(echo_runs)) => format!(
                        "{ceiling}; {:.2} of gRPC echo",
                        ratio_of_rates(system_runs, echo_runs)
                    ),
                    _ => ceiling,
                }
            }
            Some(eddy) => match runs.get(&eddy.name()) {
                Some(eddy_runs) => format!(
                    "{:.2} (vs {})",
                    ratio_of_rates(eddy_runs, system_runs),
                    eddy.name()
                ),
                None => "eddy missing".into(),
            },
        };
        points.push(Point {
            system: name.clone(),
            rate,
            latency_millis: [quantile(0.5), quantile(0.99), quantile(0.999)],
        });
        out.push_str(&format!(
            "| {name} | {} | {rate:.0} ({min:.0}–{max:.0}) | {:.1} | {:.3} / {:.3} / {:.3} | {cpu_per_million:.2} | {rss:.0} | {ratio} |\n",
            system.durability().name(),
            rate * cell.record_size as f64 / 1e6,
            quantile(0.5),
            quantile(0.99),
            quantile(0.999),
        ));
    }
    (out, points)
}

/// The median over rounds of `a`'s rate / `b`'s rate (round i with round i).
fn ratio_of_rates(a: &[Run], b: &[Run]) -> f64 {
    median(
        a.iter()
            .zip(b)
            .map(|(a, b)| a.rate() / b.rate().max(f64::MIN_POSITIVE))
            .collect(),
    )
}

/// Whether `--only` keeps the system called `name`: it is empty, or one of its words is in
/// the name (case-insensitive).
pub(crate) fn is_wanted(name: &str, only: &[String]) -> bool {
    let name = name.to_lowercase();
    only.is_empty() || only.iter().any(|want| name.contains(&want.to_lowercase()))
}
