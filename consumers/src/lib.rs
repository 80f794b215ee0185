//! eddy's functions and triggers: the handler trait, the native and process (Lambda
//! Runtime API) runtimes, event source mappings and their pollers.
//!
//! Depends on `eddy-shards` only; knows nothing of gRPC or HTTP. Empty until the triggers
//! issue lands: pollers will wait on [`eddy_shards::ShardHandle::subscribe_head`] and read
//! with [`eddy_shards::Log::read`].
