//! W6: fan-out. 1 / 2 / 5 consumers of one stream (eddy mappings, Redis consumer groups,
//! NATS durable consumers, Kinesis pollers), each receiving every record, while producers
//! put batches of 100 records closed loop. Over the measured window: the slowest
//! consumer's delivered records/s, the total delivered by all, the put rate, and latency
//! from the put's send to the consumer (closed loop: this includes any lag).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::table::Figure;
use super::{keys, Target};
use crate::open_loop::stamped_record;

/// Records per consumer batch.
const BATCH: usize = 100;
/// Records per put.
const PUT_BATCH: usize = 100;

/// One round of W6 with `consumers` consumers on a started target.
pub async fn run(
    target: &mut Target,
    consumers: usize,
    producers: usize,
    seconds: f64,
    record_size: usize,
) -> anyhow::Result<Figure> {
    let mut sinks = Vec::new();
    for _ in 0..consumers {
        sinks.push(target.subscribe(false, BATCH, true).await?);
    }
    let producer = target.producer().await?;
    let (stop, acked) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let mut tasks = Vec::new();
    for worker in 0..producers {
        let (mut producer, keys, stop, acked) =
            (producer.clone(), keys(), stop.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            let mut next = worker;
            while !stop.load(Ordering::Acquire) {
                let batch: Vec<_> = (0..PUT_BATCH)
                    .map(|_| {
                        next = (next + 1) % keys.len();
                        (
                            keys[next].clone(),
                            stamped_record(record_size, Instant::now()),
                        )
                    })
                    .collect();
                producer.put(&batch).await?;
                acked.fetch_add(PUT_BATCH as u64, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64((seconds / 5.0).min(1.0))).await;
    let counts = |sinks: &[Arc<crate::open_loop::Sink>]| {
        sinks.iter().map(|s| s.records()).collect::<Vec<_>>()
    };
    for sink in &sinks {
        sink.reset_latency();
    }
    let (delivered_before, acked_before, cpu_before) = (
        counts(&sinks),
        acked.load(Ordering::Relaxed),
        target.cpu_seconds(),
    );
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let secs = started.elapsed().as_secs_f64();
    let (delivered_after, acked_after, cpu) = (
        counts(&sinks),
        acked.load(Ordering::Relaxed),
        target.cpu_seconds() - cpu_before,
    );
    let mut latency = hdrhistogram::Histogram::<u64>::new(3)?;
    for sink in &sinks {
        latency.add(sink.latency().1)?;
    }
    stop.store(true, Ordering::Release);
    for task in tasks {
        task.await??;
    }
    let delivered: Vec<u64> = delivered_after
        .iter()
        .zip(&delivered_before)
        .map(|(a, b)| a - b)
        .collect();
    let slowest = delivered.iter().copied().min().unwrap_or(0);
    let total: u64 = delivered.iter().sum();
    let puts = acked_after - acked_before;
    Ok(Figure {
        rate: slowest as f64 / secs,
        latency_micros: Some(latency),
        cpu_seconds_per_million: cpu / (total.max(1) as f64 / 1e6),
        peak_rss_mib: target.peak_rss_mib(),
        note: format!(
            "total delivered {:.0}/s, puts {:.0}/s",
            total as f64 / secs,
            puts as f64 / secs
        ),
    })
}
