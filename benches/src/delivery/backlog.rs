//! W5: backlog catch-up. N records are put first (batches of 500 from 4 producers, not
//! timed); then one consumer is started from the stream's start (an eddy TRIM_HORIZON
//! mapping with a no-op native handler, a Redis group from id 0, NATS consumers delivering
//! all, Kinesis TRIM_HORIZON iterators) taking up to 10,000 records a batch, and the time
//! until it has received all N gives records/s.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::table::Figure;
use super::{keys, Target};

/// Records per consumer batch: an eddy mapping's BatchSize, XREADGROUP COUNT, a NATS pull
/// request, a GetRecords Limit (Kinesis's maximum).
pub const BATCH: usize = 10_000;
const PRELOAD_PRODUCERS: u64 = 4;
const PRELOAD_BATCH: u64 = 500;

/// One round of W5 on a started target.
pub async fn run(target: &mut Target, records: u64, record_size: usize) -> anyhow::Result<Figure> {
    preload(target, records, record_size).await?;
    let cpu_before = target.cpu_seconds();
    let started = Instant::now();
    let sink = target.subscribe(true, BATCH, false).await?;
    anyhow::ensure!(
        sink.wait_for(records, Duration::from_secs(900)).await,
        "the consumer received {} of {records} records",
        sink.records()
    );
    let secs = started.elapsed().as_secs_f64();
    let cpu = target.cpu_seconds() - cpu_before;
    Ok(Figure {
        rate: records as f64 / secs,
        latency_micros: None,
        cpu_seconds_per_million: cpu / (records as f64 / 1e6),
        peak_rss_mib: target.peak_rss_mib(),
        note: format!("{records} records in {secs:.2} s"),
    })
}

async fn preload(target: &Target, records: u64, record_size: usize) -> anyhow::Result<()> {
    let producer = target.producer().await?;
    let data = Bytes::from(vec![0x5a; record_size]);
    let mut tasks = Vec::new();
    for worker in 0..PRELOAD_PRODUCERS {
        let (mut producer, keys, data) = (producer.clone(), keys(), data.clone());
        // Worker w puts records w, w + 4, …: records / 4 of them, give or take one.
        let count = (records + PRELOAD_PRODUCERS - 1 - worker) / PRELOAD_PRODUCERS;
        tasks.push(tokio::spawn(async move {
            let mut put = 0;
            while put < count {
                let n = (count - put).min(PRELOAD_BATCH);
                let batch: Vec<_> = (put..put + n)
                    .map(|i| (keys[(i % keys.len() as u64) as usize].clone(), data.clone()))
                    .collect();
                producer.put(&batch).await?;
                put += n;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}
