//! `eddy-bench layout`: what a RocksDB column family per shard buys over one family for
//! every shard's records.
//!
//! Before commit 5280ce3, eddy kept every shard's records
//! in one `records` family keyed `stream | shard | seq`. Within a shard keys only grow,
//! but shards interleave, so every flushed L0 file spanned every shard's key range and
//! every L0 → L1 compaction rewrote the L1 files it overlapped, which was all of them.
//! With one family per shard (eddy's layout now, for up to 64 shards per stream: see
//! [`eddy_shards::store`]), each family's keys only grow, so a flushed file never overlaps
//! the files below it and compaction can move it down instead of rewriting it.
//!
//! Both layouts get the same records (the benchmark's generator: one random payload per
//! writer, 1024 random keys) from the raw-RocksDB ceiling's writer threads
//! ([`crate::ceiling::write_records`]), with eddy's RocksDB options
//! ([`eddy_shards::store::db_options_for`]: 16 MiB memtables per family, all capped together
//! at 1 GiB, atomic flush on, which flushes every written family at once and so makes
//! a small file per shard; `--no-atomic-flush` turns it off to show what that costs). The
//! one family gets the 64 MiB memtables eddy gave it. Printed per layout:
//! records/s, this process's CPU-seconds per million records, and RocksDB's flush and
//! compaction write bytes. The layouts run alternately, `--rounds` times each.

use std::sync::Arc;
use std::time::Duration;

use rocksdb::{ColumnFamilyDescriptor, DB};

use eddy_shards::store::LEGACY_RECORDS_FAMILY;

use crate::ceiling::{open_like_eddy, records_family, write_records, Entries, WriteLoad};
use crate::open_loop::process_cpu_secs;

/// The memtable size eddy gave its one `records` family.
const ONE_FAMILY_WRITE_BUFFER_BYTES: usize = 64 * 1024 * 1024;

#[derive(clap::Args, Clone)]
pub struct LayoutArgs {
    /// Seconds of writing per layout and round.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    #[arg(long, default_value_t = 64)]
    shards: u32,
    /// Writer threads (each writes batches spread over every shard).
    #[arg(long, default_value_t = 4)]
    threads: usize,
    #[arg(long, default_value_t = 1024)]
    record_size: usize,
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Turn atomic flush off in the per-shard layout (eddy keeps it on: without it, a WAL
    /// tail lost to power loss can leave a flushed family ahead of the others).
    #[arg(long)]
    no_atomic_flush: bool,
    /// Where the RocksDB directories go (the data disk).
    #[arg(long, default_value = ".")]
    data_root: std::path::PathBuf,
}

#[derive(Clone, Copy, Debug)]
enum Layout {
    OneFamily,
    FamilyPerShard,
}

struct Outcome {
    records: u64,
    secs: f64,
    cpu_secs: f64,
    flush_bytes: u64,
    compaction_bytes: u64,
}

pub async fn run(args: LayoutArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.shards >= 1 && args.threads >= 1 && args.batch_size >= 1);
    println!(
        "## eddy-bench layout: {} shards, {} writer threads, {} B records, batches of {}, {} s per run, buffered, per-shard layout with atomic flush {}",
        args.shards, args.threads, args.record_size, args.batch_size, args.seconds,
        if args.no_atomic_flush { "off" } else { "on" }
    );
    println!();
    println!("| layout | round | records/s | CPU s per M records | flush GB | compaction GB | compaction / flush |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for round in 1..=args.rounds {
        for layout in [Layout::OneFamily, Layout::FamilyPerShard] {
            let args2 = args.clone();
            let outcome = tokio::task::spawn_blocking(move || write_for(&args2, layout)).await??;
            println!(
                "| {} | {round} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
                match layout {
                    Layout::OneFamily => "one `records` family",
                    Layout::FamilyPerShard => "a family per shard",
                },
                outcome.records as f64 / outcome.secs,
                outcome.cpu_secs / (outcome.records as f64 / 1e6),
                outcome.flush_bytes as f64 / 1e9,
                outcome.compaction_bytes as f64 / 1e9,
                outcome.compaction_bytes as f64 / outcome.flush_bytes.max(1) as f64,
            );
        }
    }
    Ok(())
}

fn write_for(args: &LayoutArgs, layout: Layout) -> anyhow::Result<Outcome> {
    let dir = tempfile::tempdir_in(&args.data_root)?;
    let mut options = eddy_shards::store::db_options_for(dir.path());
    options.db.enable_statistics();
    let db = Arc::new(match layout {
        Layout::OneFamily => DB::open_cf_descriptors(
            &options.db,
            dir.path(),
            [
                ColumnFamilyDescriptor::new("meta", options.meta.clone()),
                ColumnFamilyDescriptor::new(LEGACY_RECORDS_FAMILY, {
                    let mut one_family = options.records.clone();
                    one_family.set_write_buffer_size(ONE_FAMILY_WRITE_BUFFER_BYTES);
                    one_family
                }),
            ],
        )?,
        Layout::FamilyPerShard => {
            options.db.set_atomic_flush(!args.no_atomic_flush);
            open_like_eddy(dir.path(), &options)?
        }
    });
    let load = WriteLoad {
        threads: args.threads,
        record_size: args.record_size,
        batch_size: args.batch_size,
        shards: args.shards,
        sync: false,
        duration: Duration::from_secs_f64(args.seconds),
        entries: Entries::PerRecord,
    };
    let cpu_before = process_cpu_secs();
    let family_of: fn(u32) -> String = match layout {
        Layout::OneFamily => |_| LEGACY_RECORDS_FAMILY.to_string(),
        Layout::FamilyPerShard => records_family,
    };
    let written = write_records(&db, &load, family_of)?;
    let cpu_secs = process_cpu_secs() - cpu_before;
    let stats = options.db.get_statistics().unwrap_or_default();
    let outcome = Outcome {
        records: written.records,
        secs: written.elapsed.as_secs_f64(),
        cpu_secs,
        flush_bytes: ticker(&stats, "rocksdb.flush.write.bytes"),
        compaction_bytes: ticker(&stats, "rocksdb.compact.write.bytes"),
    };
    drop(db);
    drop(dir);
    Ok(outcome)
}

/// A ticker's count from RocksDB's statistics dump (`name COUNT : n`).
fn ticker(stats: &str, name: &str) -> u64 {
    stats
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(name)?.trim_start();
            rest.strip_prefix("COUNT :")?.trim().parse().ok()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_ticker_from_the_statistics_dump() {
        let dump =
            "rocksdb.flush.write.bytes COUNT : 1234\nrocksdb.compact.write.bytes COUNT : 56\n";
        assert_eq!(ticker(dump, "rocksdb.flush.write.bytes"), 1234);
        assert_eq!(ticker(dump, "rocksdb.compact.write.bytes"), 56);
        assert_eq!(ticker(dump, "rocksdb.missing"), 0);
    }
}
