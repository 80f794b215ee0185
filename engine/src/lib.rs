//! eddy, the engine: the composition root. It owns configuration, the gRPC services, the
//! AWS-compatible HTTP APIs (Kinesis and Lambda), the
//! `eddy` command line, background loops and shutdown, and wires `eddy-shards` (the log)
//! and `eddy-consumers` (functions, mappings, invoke) to `eddy-proto` (the API).
//!
//! Dependencies point one way: `eddy-shards` ← `eddy-consumers` ← this crate → `eddy-proto`.
//! Nothing below this crate knows about gRPC or HTTP.
//!
//! # Invariants
//! - Every error reaching a client is mapped exhaustively in [`grpc::status`]: bad input
//!   `INVALID_ARGUMENT` naming the field and the limit, unknown names `NOT_FOUND`,
//!   backpressure `RESOURCE_EXHAUSTED`, corruption `DATA_LOSS`, shutdown `UNAVAILABLE`.
//! - Shutdown (SIGINT/SIGTERM) stops accepting, finishes in-flight requests, lets each
//!   poller finish its batch and checkpoint, lets the log writer drain and fsyncs the WAL
//!   before the process exits. Function workers die with the server, even under `kill -9`.

pub mod aws;
pub mod background;
pub mod cli;
pub mod config;
pub mod grpc;
pub mod server;
pub mod shard_iterator;
pub mod shard_reads;
