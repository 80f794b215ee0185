//! `eddy-bench entries`: what storing each shard's records of a write as one RocksDB
//! entry would gain over eddy's entry per record.
//!
//! eddy writes every record as its own RocksDB entry (key `stream | shard | seq`). Each
//! entry costs a memtable skip-list insert, a WAL record header, an SST index and block
//! share, and a key compare in every flush and compaction, whatever the record's size, so
//! RocksDB's own per-entry work bounds what eddy can put through it (the raw-RocksDB
//! ceiling of `compare` writes one entry per record too). This experiment writes the same
//! records with the ceiling's writer threads ([`crate::ceiling::write_records`]) both
//! ways: one entry per record, and one entry per shard per batch (the shard's records of
//! the batch, length-prefixed, keyed by the first one's sequence number), alternately,
//! `--rounds` times, per shard count and sync mode. It measures writes only: reading a
//! record by sequence number from such an entry (a seek to the entry at or before it),
//! trimming inside one, and migrating existing data are what a real layout would add.

use std::sync::Arc;
use std::time::Duration;

use crate::ceiling::{open_like_eddy, records_family, write_records, Entries, WriteLoad};
use crate::open_loop::process_cpu_secs;

#[derive(clap::Args, Clone)]
pub struct EntryLayoutArgs {
    /// Seconds of writing per layout, configuration and round.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Writer threads (W3 has 64 producers).
    #[arg(long, default_value_t = 64)]
    threads: usize,
    #[arg(long, default_value_t = 1024)]
    record_size: usize,
    /// Records per write (W3 puts batches of 100).
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    shard_counts: Vec<u32>,
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Where the databases go (the disk being measured).
    #[arg(long, default_value = "/tmp")]
    data_root: std::path::PathBuf,
}

pub async fn run(args: EntryLayoutArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.rounds >= 1, "`--rounds` must be at least 1");
    anyhow::ensure!(args.threads >= 1, "`--threads` must be at least 1");
    anyhow::ensure!(args.batch_size >= 1, "`--batch-size` must be at least 1");
    println!(
        "raw RocksDB, eddy's options, {} writer threads, batches of {} records of {} B, {} s per run",
        args.threads, args.batch_size, args.record_size, args.seconds
    );
    println!();
    println!("| shards | sync | entries | round | records/s | CPU s per M records |");
    println!("|---:|---|---|---:|---:|---:|");
    for &shards in &args.shard_counts {
        for sync in [false, true] {
            for round in 1..=args.rounds {
                // Alternate which goes first, so a slow spell of the VM falls on both.
                let mut order = [Entries::PerRecord, Entries::PerShardPerBatch];
                if round % 2 == 0 {
                    order.reverse();
                }
                for entries in order {
                    let args = args.clone();
                    let (rate, cpu) = tokio::task::spawn_blocking(move || {
                        write_with(&args, shards, sync, entries)
                    })
                    .await??;
                    println!(
                        "| {shards} | {} | {} | {round} | {rate:.0} | {cpu:.2} |",
                        if sync { "fsync per write" } else { "buffered" },
                        match entries {
                            Entries::PerRecord => "one per record",
                            Entries::PerShardPerBatch => "one per shard per batch",
                        }
                    );
                }
            }
        }
    }
    Ok(())
}

/// Records/s and this process's CPU-seconds per million records of one run.
fn write_with(
    args: &EntryLayoutArgs,
    shards: u32,
    sync: bool,
    entries: Entries,
) -> anyhow::Result<(f64, f64)> {
    let dir = tempfile::tempdir_in(&args.data_root)?;
    let options = eddy_shards::store::db_options_for(dir.path());
    let db = Arc::new(open_like_eddy(dir.path(), &options)?);
    let load = WriteLoad {
        threads: args.threads,
        record_size: args.record_size,
        batch_size: args.batch_size,
        shards,
        sync,
        duration: Duration::from_secs_f64(args.seconds),
        entries,
    };
    let cpu_before = process_cpu_secs();
    let written = write_records(&db, &load, records_family)?;
    let cpu = process_cpu_secs() - cpu_before;
    drop(db);
    drop(dir);
    Ok((
        written.records as f64 / written.elapsed.as_secs_f64(),
        cpu / (written.records as f64 / 1e6),
    ))
}
