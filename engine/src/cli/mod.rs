//! The `eddy` command line: `serve`, and client commands that talk to a server over gRPC.

pub mod client;
pub mod output;
pub mod put;
pub mod read;
pub mod serve;
pub mod stream;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use eddy_shards::Durability;

/// The local server's gRPC endpoint, the client commands' default.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:50051";

#[derive(Debug, Parser)]
#[command(
    name = "eddy",
    version,
    about = "Self-hosted Kinesis-style streams with Lambda-style triggers"
)]
pub struct Cli {
    /// gRPC endpoint of the server, for client commands.
    #[arg(long, global = true, env = "EDDY_ENDPOINT", default_value = DEFAULT_ENDPOINT)]
    pub endpoint: String,
    /// Print JSON (one object per line) instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Create, list, describe and delete streams.
    #[command(subcommand)]
    Stream(StreamCommand),
    /// Put records: DATA as one record, or one record per line of standard input.
    Put(PutArgs),
    /// Read records from one shard or all shards of a stream.
    Read(ReadArgs),
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Where the data lives [default: ./eddy-data].
    #[arg(long, env = "EDDY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// gRPC listen address [default: 127.0.0.1:50051].
    #[arg(long, env = "EDDY_GRPC_ADDR")]
    pub grpc_addr: Option<String>,
    /// fsync: acknowledged records survive power loss; buffered: they survive kill -9.
    /// [default: fsync]
    #[arg(long, env = "EDDY_DURABILITY", value_parser = parse_durability)]
    pub durability: Option<Durability>,
    /// A TOML file of settings; flags and EDDY_* variables override it.
    #[arg(long, env = "EDDY_CONFIG")]
    pub config: Option<PathBuf>,
}

fn parse_durability(text: &str) -> Result<Durability, String> {
    match text {
        "fsync" => Ok(Durability::Fsync),
        "buffered" => Ok(Durability::Buffered),
        other => Err(format!("must be `fsync` or `buffered`, got `{other}`")),
    }
}

#[derive(Debug, Subcommand)]
pub enum StreamCommand {
    /// Create a stream.
    Create {
        name: String,
        /// Number of shards.
        #[arg(long, default_value_t = 1)]
        shards: u32,
        /// How long records are kept, 24 to 8760 hours.
        #[arg(long, default_value_t = 24)]
        retention_hours: u32,
    },
    /// List streams.
    List,
    /// Show a stream and its shards.
    Describe { name: String },
    /// Delete a stream and all its records.
    Delete { name: String },
}

#[derive(Debug, clap::Args)]
pub struct PutArgs {
    pub stream: String,
    /// Partition key of every record; a random one per record when absent.
    #[arg(long)]
    pub partition_key: Option<String>,
    /// The record's data; without it, one record per line of standard input.
    pub data: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ReadArgs {
    pub stream: String,
    /// Read only this shard (e.g. shardId-000000000000).
    #[arg(long)]
    pub shard: Option<String>,
    /// trim-horizon, latest, at-seq:N, after-seq:N or at-timestamp:RFC3339.
    #[arg(long, default_value = "trim-horizon")]
    pub from: String,
    /// Stop after this many records.
    #[arg(long)]
    pub limit: Option<u64>,
    /// Keep waiting for new records (Ctrl-C to stop).
    #[arg(long)]
    pub follow: bool,
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Stream(command) => stream::run(&cli.endpoint, cli.json, command).await,
        Command::Put(args) => put::run(&cli.endpoint, cli.json, args).await,
        Command::Read(args) => read::run(&cli.endpoint, cli.json, args).await,
    }
}
