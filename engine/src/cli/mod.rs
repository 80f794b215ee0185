//! The `eddy` command line: `serve`, and client commands that talk to a server over gRPC.

pub mod client;
pub mod function;
pub mod mapping;
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
    /// Create, update, list, describe and delete functions, and read their logs.
    #[command(subcommand)]
    Function(FunctionCommand),
    /// Event source mappings: deliver a stream's records to a function in batches.
    #[command(subcommand)]
    Mapping(MappingCommand),
    /// Invoke a function once with a JSON payload.
    Invoke(InvokeArgs),
}

#[derive(Debug, Subcommand)]
pub enum FunctionCommand {
    /// Create a process function: workers run COMMAND and speak the Lambda Runtime API.
    Create {
        name: String,
        #[command(flatten)]
        options: FunctionOptions,
    },
    /// Change a function; options not given stay as they are.
    Update {
        name: String,
        #[command(flatten)]
        options: FunctionOptions,
    },
    /// List functions.
    List,
    /// Show a function.
    Describe { name: String },
    /// Delete a function (its mappings stay, and report the missing function).
    Delete { name: String },
    /// Print the end of a function's log (its workers' stdout and stderr).
    Logs {
        name: String,
        /// How many bytes of the end of the log [default: 65536].
        #[arg(long)]
        bytes: Option<u32>,
    },
}

#[derive(Debug, Default, clap::Args)]
pub struct FunctionOptions {
    /// The worker command, e.g. 'python3 -m awslambdaric app.handler'.
    #[arg(long)]
    pub command: Option<String>,
    /// Directory the workers start in (LAMBDA_TASK_ROOT) [default: the current one].
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// The _HANDLER value, e.g. app.handler.
    #[arg(long)]
    pub handler: Option<String>,
    /// An environment variable KEY=VALUE (repeatable; on update, replaces them all).
    #[arg(long)]
    pub env: Vec<String>,
    /// Seconds an invocation may run, 1 to 900 [default: 3].
    #[arg(long)]
    pub timeout: Option<u32>,
    /// Workers at most, 1 to 1000 [default: 4].
    #[arg(long)]
    pub concurrency: Option<u32>,
    /// MB, 128 to 10240, passed to workers as AWS_LAMBDA_FUNCTION_MEMORY_SIZE [default: 128].
    #[arg(long)]
    pub memory: Option<u32>,
    /// Retries of a failed asynchronous invocation, 0 to 2 [default: 2].
    #[arg(long)]
    pub async_retries: Option<u32>,
    /// Seconds an asynchronous invocation may wait, 60 to 21600 [default: 21600].
    #[arg(long)]
    pub max_event_age: Option<u32>,
    /// Stream that receives asynchronous invocations that failed for good.
    #[arg(long)]
    pub on_failure: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum MappingCommand {
    /// Create a mapping and print its id.
    Create {
        #[arg(long)]
        stream: String,
        #[arg(long)]
        function: String,
        /// trim-horizon, latest or at-timestamp:RFC3339.
        #[arg(long, default_value = "latest")]
        starting_position: String,
        #[command(flatten)]
        options: MappingOptions,
    },
    /// List mappings.
    List {
        #[arg(long)]
        stream: Option<String>,
        #[arg(long)]
        function: Option<String>,
    },
    /// Show a mapping, its state, last processing result and counters.
    Describe { id: String },
    /// Change a mapping's parameters; options not given stay as they are.
    Update {
        id: String,
        #[command(flatten)]
        options: MappingOptions,
    },
    /// Start delivering again, from the checkpoints.
    Enable { id: String },
    /// Stop delivering; checkpoints stay.
    Disable { id: String },
    /// Delete a mapping and its checkpoints.
    Delete { id: String },
}

#[derive(Debug, Default, clap::Args)]
pub struct MappingOptions {
    /// Records per batch, 1 to 10000 [default: 100].
    #[arg(long)]
    pub batch_size: Option<u32>,
    /// Seconds to gather records before invoking, 0 to 300 [default: 0].
    #[arg(long)]
    pub batching_window: Option<u32>,
    /// Concurrent batches per shard, 1 to 10, order kept per partition key [default: 1].
    #[arg(long)]
    pub parallelization_factor: Option<u32>,
    /// Split a failing batch in two and retry the halves (`--bisect-on-error=false` to
    /// turn it off again).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub bisect_on_error: Option<bool>,
    /// Retries of a failing batch, -1 (until the records expire) to 10000 [default: -1].
    #[arg(long, allow_hyphen_values = true)]
    pub max_retries: Option<i32>,
    /// Records older than this many seconds go to the failure destination, -1 or 60 to
    /// 604800 [default: -1].
    #[arg(long, allow_hyphen_values = true)]
    pub max_record_age: Option<i32>,
    /// Stream that receives failed batches (metadata and the records themselves); on
    /// update, "" removes it.
    #[arg(long)]
    pub on_failure: Option<String>,
    /// The function may answer {"batchItemFailures": [...]}
    /// (`--report-batch-item-failures=false` to turn it off again).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub report_batch_item_failures: Option<bool>,
    /// A FilterCriteria pattern (JSON, repeatable, ORed).
    #[arg(long)]
    pub filter: Vec<String>,
    /// On update: remove every filter.
    #[arg(long, conflicts_with = "filter")]
    pub clear_filters: bool,
    /// Create or leave the mapping disabled.
    #[arg(long)]
    pub disabled: bool,
}

#[derive(Debug, clap::Args)]
pub struct InvokeArgs {
    pub name: String,
    /// The event, as JSON [default: {}].
    #[arg(long)]
    pub payload: Option<String>,
    /// request-response (wait for the result), event (queue it) or dry-run.
    #[arg(long = "type", default_value = "request-response")]
    pub invocation_type: String,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Where the data lives [default: ./eddy-data].
    #[arg(long, env = "EDDY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// gRPC listen address [default: 127.0.0.1:50051].
    #[arg(long, env = "EDDY_GRPC_ADDR")]
    pub grpc_addr: Option<String>,
    /// Kinesis and Lambda HTTP API listen address, or "off" [default: 127.0.0.1:4566].
    #[arg(long, env = "EDDY_HTTP_ADDR")]
    pub http_addr: Option<String>,
    /// fsync: acknowledged records survive power loss; buffered: they survive kill -9.
    /// [default: fsync]
    #[arg(long, env = "EDDY_DURABILITY", value_parser = parse_durability)]
    pub durability: Option<Durability>,
    /// A TOML file of settings; flags and EDDY_* variables override it.
    #[arg(long, env = "EDDY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Async worker threads, 1 to 64 [default: one per core]. Besides them the server
    /// runs the log writer thread and RocksDB's own threads.
    #[arg(long, env = "EDDY_WORKER_THREADS", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub worker_threads: Option<u16>,
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
        Command::Function(command) => function::run(&cli.endpoint, cli.json, command).await,
        Command::Mapping(command) => mapping::run(&cli.endpoint, cli.json, command).await,
        Command::Invoke(args) => function::invoke(&cli.endpoint, cli.json, args).await,
    }
}
