//! W4: put → function latency. First every system's maximum is probed once per round
//! (closed loop, single-record puts, 64 in flight, until the consumer has every record;
//! every put pipelined on one connection, see [`super::Target::pipelined_producer`]), each
//! probe on a freshly started system. Then, on a fresh system again, an open-loop pacer
//! offers 25 / 50 / 80 % of the *median* of that system's probes, one record per put,
//! after a short unmeasured warm-up. A single 2-s probe on this shared VM can come out
//! twice as high as the next one; taken as the maximum, it put a whole round's "50 %" past
//! what the system sustains. Each record carries its scheduled send time, and the consumer
//! records now − scheduled, so queueing in the client or the server is not hidden by
//! coordinated omission.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::table::Figure;
use super::{keys, Target};
use crate::open_loop::{pace, stamped_record, Sink};
use crate::systems::{Producer, STREAM};

/// Puts in flight while the maximum is measured.
const MAX_PROBE_IN_FLIGHT: u64 = 64;
/// Records per consumer batch (an eddy mapping's BatchSize, XREADGROUP COUNT, …).
const BATCH: usize = 100;
/// How long the consumer may take to catch up after the last put.
const CATCH_UP: Duration = Duration::from_secs(60);
/// The unmeasured open-loop run before the measured ones, at the lowest fraction's rate:
/// connections, consumers and the server's memory are warm when measuring starts.
const WARM_UP_SECONDS: f64 = 1.0;

/// One probe of a started target's maximum put → consumer rate, records/s.
pub async fn probe_max(
    target: &mut Target,
    seconds: f64,
    record_size: usize,
) -> anyhow::Result<f64> {
    let sink = target.subscribe(false, BATCH, true).await?;
    let producer = target.pipelined_producer().await?;
    max_load(&producer, &sink, seconds, record_size).await
}

/// One round of W4 on a started target: the figure at each of `fractions` of `max_rate`
/// (the median of the target's probes; `probes` describes them for the notes).
pub async fn run(
    target: &mut Target,
    max_rate: f64,
    probes: &str,
    fractions: &[f64],
    seconds: f64,
    record_size: usize,
) -> anyhow::Result<Vec<Figure>> {
    let sink = target.subscribe(false, BATCH, true).await?;
    let producer = target.pipelined_producer().await?;
    if let Some(lowest) = fractions.iter().copied().reduce(f64::min) {
        let rate = (lowest * max_rate).max(1.0);
        open_loop(
            &producer,
            &sink,
            rate,
            ((rate * WARM_UP_SECONDS) as u64).max(1),
            record_size,
        )
        .await?;
    }
    let mut figures = Vec::new();
    for &fraction in fractions {
        let rate = (fraction * max_rate).max(1.0);
        let total = ((rate * seconds) as u64).max(1);
        sink.reset_latency();
        let cpu_before = target.cpu_seconds();
        let storage_before = target.storage_latency();
        open_loop(&producer, &sink, rate, total, record_size).await?;
        let cpu = target.cpu_seconds() - cpu_before;
        let mut note = format!(
            "{:.0} % of the median max {max_rate:.0}/s ({probes})",
            fraction * 100.0
        );
        // eddy's own writes and commit waits in this run: how much of its tail the
        // storage explains.
        if let (Some(before), Some(after)) = (storage_before, target.storage_latency()) {
            if let Some(storage) = after.since(&before).note() {
                note.push_str("; ");
                note.push_str(&storage);
            }
        }
        figures.push(Figure {
            rate,
            latency_micros: Some(sink.latency().0),
            cpu_seconds_per_million: cpu / (total as f64 / 1e6),
            peak_rss_mib: target.peak_rss_mib(),
            note,
        });
    }
    Ok(figures)
}

/// Closed loop for `seconds`: records/s from the first put until the consumer had all.
async fn max_load(
    producer: &Producer,
    sink: &Arc<Sink>,
    seconds: f64,
    record_size: usize,
) -> anyhow::Result<f64> {
    let run_for = Duration::from_secs_f64(seconds);
    let before = sink.records();
    let keys = keys();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..MAX_PROBE_IN_FLIGHT {
        let (mut producer, keys) = (producer.clone(), keys.clone());
        tasks.push(tokio::spawn(async move {
            let mut sent = 0u64;
            while started.elapsed() < run_for {
                let key =
                    &keys[((worker + sent * MAX_PROBE_IN_FLIGHT) % keys.len() as u64) as usize];
                producer
                    .put(&[(key.clone(), stamped_record(record_size, Instant::now()))])
                    .await?;
                sent += 1;
            }
            anyhow::Ok(sent)
        }));
    }
    let mut sent = 0;
    for task in tasks {
        sent += task.await??;
    }
    anyhow::ensure!(
        sink.wait_for(before + sent, CATCH_UP).await,
        "the consumer did not receive every record of the maximum-load probe"
    );
    Ok(sent as f64 / started.elapsed().as_secs_f64())
}

/// Open loop: `total` single-record puts at `rate`, each fired at its scheduled time;
/// returns once the consumer has them all.
///
/// Each system's producer is driven the way its client takes a pipelined put: eddy's
/// `PutRecordStream` accepts a put from the pacer thread itself (the call's reader task
/// settles the acknowledgement later, as in `eddy-bench e2e`); the other clients' puts are
/// futures, so each put is a task.
async fn open_loop(
    producer: &Producer,
    sink: &Arc<Sink>,
    rate: f64,
    total: u64,
    record_size: usize,
) -> anyhow::Result<()> {
    let before = sink.records();
    let runtime = tokio::runtime::Handle::current();
    let failures = Arc::new(AtomicU64::new(0));
    let (keys, pacer_failures) = (keys(), failures.clone());
    // eddy's stream reports refused puts after the fact: its count before the run.
    let unwaited = match producer.clone() {
        Producer::EddyGrpcStream(stream) => {
            let unwaited_before = stream.unwaited_failures();
            let sender = stream.clone();
            pace(rate, total, move |n, scheduled| {
                let key = keys[(n % keys.len() as u64) as usize].clone();
                let record = (key, stamped_record(record_size, scheduled));
                if sender.send(STREAM, &[record]).is_err() {
                    pacer_failures.fetch_add(1, Ordering::Relaxed);
                }
            })
            .await?;
            Some((stream, unwaited_before))
        }
        producer => {
            pace(rate, total, move |n, scheduled| {
                let mut producer = producer.clone();
                let key = keys[(n % keys.len() as u64) as usize].clone();
                let failures = pacer_failures.clone();
                runtime.spawn(async move {
                    let record = (key, stamped_record(record_size, scheduled));
                    if producer.put(&[record]).await.is_err() {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                });
            })
            .await?;
            None
        }
    };
    let delivered = sink.wait_for(before + total, CATCH_UP).await;
    if let Some((stream, unwaited_before)) = unwaited {
        failures.fetch_add(
            stream.unwaited_failures() - unwaited_before,
            Ordering::Relaxed,
        );
    }
    anyhow::ensure!(
        delivered,
        "the consumer did not receive every record at {rate:.0} records/s ({} puts failed)",
        failures.load(Ordering::Relaxed)
    );
    let failed = failures.load(Ordering::Relaxed);
    anyhow::ensure!(failed == 0, "{failed} puts failed at {rate:.0} records/s");
    Ok(())
}
