//! eddy's gRPC API: the services and the mapping of errors to statuses.

pub mod functions;
pub mod mappings;
mod put_pipeline;
pub mod records;
pub mod status;
pub mod streams;
mod task_load;

/// Largest gRPC message the server accepts: a full PutRecords (5 MiB of data) plus
/// framing, with room to spare.
pub const MAX_DECODING_MESSAGE_BYTES: usize = 8 * 1024 * 1024;
/// Largest gRPC message the server sends: a full GetRecords (10 MiB of data) plus framing.
pub const MAX_ENCODING_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// HTTP/2 flow-control window per stream: 8 MiB, so a full PutRecords or GetRecords
/// crosses loopback without waiting on WINDOW_UPDATE round trips (the 64 KiB default cut
/// 1 KiB × 500 batch throughput by about 3×).
pub const STREAM_WINDOW_BYTES: u32 = 8 * 1024 * 1024;
/// HTTP/2 flow-control window per connection: 32 MiB, room for a few concurrent batches.
pub const CONNECTION_WINDOW_BYTES: u32 = 32 * 1024 * 1024;
/// Largest HTTP/2 frame: 1 MiB instead of 16 KiB, so a batch is a few frames, not hundreds.
pub const MAX_FRAME_BYTES: u32 = 1024 * 1024;

/// Concurrent requests per connection. With the message size limit this bounds what one
/// connection can make the server hold (256 × 8 MiB at worst); clients past it wait for a
/// free stream (HTTP/2 backpressure) instead of growing the server's memory.
pub const MAX_CONCURRENT_STREAMS: u32 = 256;

/// A client endpoint for `url` with eddy's HTTP/2 settings.
pub fn client_endpoint(url: &str) -> Result<tonic::transport::Endpoint, tonic::transport::Error> {
    Ok(tonic::transport::Endpoint::from_shared(url.to_string())?
        .tcp_nodelay(true)
        .initial_stream_window_size(STREAM_WINDOW_BYTES)
        .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
        .max_frame_size(MAX_FRAME_BYTES))
}
