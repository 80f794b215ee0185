//! eddy's functions and triggers: the handler trait, the native and process (Lambda
//! Runtime API) runtimes, event source mappings and their pollers.
//!
//! Depends on `eddy-shards` only; knows nothing of gRPC or HTTP. Pollers wait on
//! [`eddy_shards::ShardHandle::subscribe_head`] and read with [`eddy_shards::Log::read_async`].
//!
//! - [`function_spec`] and [`functions`] (with [`lambda_metadata`]): function definitions (process functions are
//!   persisted; native ones are registered by the embedding program) and their runtimes:
//!   [`process_pool`] runs warm worker processes, each served its own Lambda Runtime API
//!   ([`runtime_api`]); native handlers ([`handler`]) run in process.
//! - [`mapping`], [`manager`], [`poller`], [`lanes`]: event source mappings and their
//!   pollers (one per shard, or per lane with ParallelizationFactor), with [`filter`]s,
//!   [`checkpoint`]s (a poller writes its shard's behind delivery: `shard_checkpoint`),
//!   retries, bisect, ReportBatchItemFailures, record age and failure [`destination`]s;
//!   counters in [`stats`].
//! - [`invoke`] and [`event_queue`]: the Invoke API — synchronous, dry-run, and
//!   asynchronous through a durable queue with retries and an on-failure stream.
//!
//! # Invariants
//! - One batch in flight per (mapping, shard); records reach the function in sequence
//!   order the first time, and retries repeat them in order.
//! - The checkpoint only moves past a record once it was delivered, filtered out, sent to
//!   the failure destination, or discarded and counted: nothing is skipped silently.
//! - After a restart, delivery resumes from the checkpoint (at-least-once).
//! - An accepted asynchronous invocation is stored before it is acknowledged, and is only
//!   deleted once it succeeded, reached its destination, or was dropped with an error log.

pub mod checkpoint;
pub mod destination;
pub mod event;
pub mod event_queue;
pub mod filter;
pub mod function_spec;
pub mod functions;
pub mod handler;
pub mod ids;
pub mod invoke;
pub mod lambda_metadata;
pub mod lanes;
pub mod manager;
pub mod mapping;
pub mod poller;
pub mod process_pool;
pub mod runtime_api;
mod shard_checkpoint;
pub mod stats;
