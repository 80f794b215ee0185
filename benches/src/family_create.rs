//! `eddy-bench family-create`: what creating RocksDB column families one at a time costs,
//! against creating them all when the database opens.
//!
//! This is why eddy has a fixed set of records families created at open instead of a
//! family per shard created with its stream ([`eddy_shards::store`]): RocksDB rewrites
//! and fsyncs its OPTIONS file, which lists every family's options, on each create or
//! drop, so creating n families one by one writes O(n²) bytes. Printed: the time of each
//! quarter of the one-by-one creates, the size of the last OPTIONS file, and the time to
//! open a fresh database that creates the same families at once.

use std::time::Instant;

use rocksdb::{ColumnFamilyDescriptor, DB};

#[derive(clap::Args, Clone)]
pub struct FamilyCreateArgs {
    /// Families to create (with eddy's records options).
    #[arg(long, default_value_t = 256)]
    count: u32,
    /// Where the RocksDB directories go (the data disk).
    #[arg(long, default_value = ".")]
    data_root: std::path::PathBuf,
}

pub async fn run(args: FamilyCreateArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.count >= 4, "`--count` must be at least 4");
    tokio::task::spawn_blocking(move || measure(&args)).await?
}

fn family_name(number: u32) -> String {
    format!("family-{number}")
}

fn measure(args: &FamilyCreateArgs) -> anyhow::Result<()> {
    let options = eddy_shards::store::db_options();
    println!("## eddy-bench family-create: {} families", args.count);
    println!();
    println!("| how | families | seconds | ms per family |");
    println!("|---|---:|---:|---:|");

    let dir = tempfile::tempdir_in(&args.data_root)?;
    let mut db = DB::open(&options.db, dir.path())?;
    let quarter = args.count / 4;
    for part in 0..4 {
        let first = part * quarter;
        let last = if part == 3 {
            args.count
        } else {
            first + quarter
        };
        let started = Instant::now();
        for number in first..last {
            db.create_cf(family_name(number), &options.records)?;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "| one by one, families {first}–{} | {} | {secs:.2} | {:.1} |",
            last - 1,
            last - first,
            secs * 1e3 / f64::from(last - first)
        );
    }
    drop(db);
    let options_file_bytes = std::fs::read_dir(dir.path())?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("OPTIONS-"))
        .filter_map(|entry| entry.metadata().ok())
        .map(|metadata| metadata.len())
        .max()
        .unwrap_or(0);

    let dir = tempfile::tempdir_in(&args.data_root)?;
    let started = Instant::now();
    let descriptors = (0..args.count)
        .map(|number| ColumnFamilyDescriptor::new(family_name(number), options.records.clone()));
    let db = DB::open_cf_descriptors(&options.db, dir.path(), descriptors)?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "| all at open (one OPTIONS write) | {} | {secs:.2} | {:.1} |",
        args.count,
        secs * 1e3 / f64::from(args.count)
    );
    drop(db);
    println!();
    println!(
        "OPTIONS file after {} families: {:.1} MB, rewritten on every create and drop",
        args.count,
        options_file_bytes as f64 / 1e6
    );
    Ok(())
}
