//! eddy's functions and triggers: the handler trait, the native and process (Lambda
//! Runtime API) runtimes, event source mappings and their pollers.
//!
//! Depends on `eddy-shards` only; knows nothing of gRPC or HTTP. Pollers will wait on
//! [`eddy_shards::ShardHandle::subscribe_head`] and read with [`eddy_shards::Log::read`].
//!
//! Built so far: the shard poller ([`poller`]) with native handlers ([`handler`]),
//! checkpoints, filters, retries, bisect, ReportBatchItemFailures, maximum record age and
//! failure destinations, and ParallelizationFactor lanes ([`lanes`]: order kept per
//! partition key), a registry of native functions ([`functions`]) and mapping management
//! ([`manager`]: persisted, restarted on open, enable/disable/update/delete), the Lambda
//! Runtime API endpoint that worker processes talk to ([`runtime_api`]) and the warm pool
//! of worker processes ([`process_pool`], idle workers reaped; `ProcessHandler` makes a
//! process function a mapping target). Still to come: persisted function definitions,
//! invoke (sync, async, dry-run), and the gRPC/CLI for all of it in the engine.
//!
//! # Invariants
//! - One batch in flight per (mapping, shard); records reach the function in sequence
//!   order the first time, and retries repeat them in order.
//! - The checkpoint only moves past a record once it was delivered, filtered out, sent to
//!   the failure destination, or discarded and counted: nothing is skipped silently.
//! - After a restart, delivery resumes from the checkpoint (at-least-once).

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
pub mod lanes;
pub mod manager;
pub mod mapping;
pub mod poller;
pub mod process_pool;
pub mod runtime_api;
pub mod stats;
