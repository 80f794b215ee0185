//! `eddy-bench`: load generator for eddy, with the raw-RocksDB ceiling measured in the
//! same run.
//!
//! `eddy-bench put` starts an eddy server in process (real gRPC on loopback, real
//! RocksDB in a temporary dir), drives it with N producers putting batches, and reports
//! records/s, MB/s and ack latency percentiles. It then writes the same records with
//! raw RocksDB `WriteBatch`es (same options, same sync mode, same concurrency) and
//! reports eddy's throughput as a ratio of that ceiling.
//!
//! `eddy-bench compare` runs eddy and its peers (Redis Streams, NATS JetStream,
//! kinesalite) side by side on put workloads (W1–W3) and delivery workloads (W4–W6), with
//! ceilings; `eddy-bench e2e` looks at eddy's delivery alone.

mod ceiling;
mod compare;
mod delivery;
mod e2e;
mod echo;
mod entry_layout;
mod fair_rounds;
mod family_create;
mod kinesis_client;
mod layout;
mod open_loop;
mod producer_records;
mod put;
mod put_stream;
mod report;
mod storage_latency;
mod systems;

use clap::{Parser, Subcommand};

/// The same allocator as the `eddy` binary, so the in-process eddy of `put`, `e2e` and the
/// delivery workloads runs as it does when served.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "eddy-bench", about = "Benchmarks for eddy")]
struct Cli {
    /// Async worker threads of the one runtime that runs the server and the load
    /// generator [default: one per core].
    #[arg(long, global = true)]
    worker_threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Producers → eddy over gRPC, against raw RocksDB WriteBatch as the ceiling.
    Put(put::PutArgs),
    /// Producers → stream → mapping → native handler: backlog drain and put→handler latency.
    E2e(e2e::E2eArgs),
    /// eddy against Redis Streams, NATS JetStream and kinesalite on the same put workloads.
    Compare(Box<compare::CompareArgs>),
    /// The gRPC transport ceiling: eddy's Records service answering at once, storing
    /// nothing (started by `compare` as a child process).
    EchoServe(echo::EchoArgs),
    /// Raw RocksDB writes into one records family against a family per shard: throughput,
    /// CPU and compaction bytes (an experiment on eddy's record layout).
    Layout(layout::LayoutArgs),
    /// Creating RocksDB column families one at a time against all at open (why eddy's
    /// records families are a fixed set).
    FamilyCreate(family_create::FamilyCreateArgs),
    /// Raw RocksDB writes with an entry per record against an entry per shard per batch
    /// (an experiment on what fewer, larger entries would gain).
    Entries(entry_layout::EntryLayoutArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.worker_threads {
        anyhow::ensure!(threads >= 1, "`--worker-threads` must be at least 1");
        builder.worker_threads(threads);
    }
    let runtime = builder.enable_all().build()?;
    match cli.command {
        Command::Put(args) => runtime.block_on(put::run(args)),
        Command::E2e(args) => runtime.block_on(e2e::run(args)),
        Command::Compare(args) => runtime.block_on(compare::run(*args)),
        Command::EchoServe(args) => runtime.block_on(echo::run(args)),
        Command::Layout(args) => runtime.block_on(layout::run(args)),
        Command::FamilyCreate(args) => runtime.block_on(family_create::run(args)),
        Command::Entries(args) => runtime.block_on(entry_layout::run(args)),
    }
}
