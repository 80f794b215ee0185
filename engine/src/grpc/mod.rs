//! eddy's gRPC API: the services and the mapping of errors to statuses.

pub mod records;
pub mod status;
pub mod streams;

/// Largest gRPC message the server accepts: a full PutRecords (5 MiB of data) plus
/// framing, with room to spare.
pub const MAX_DECODING_MESSAGE_BYTES: usize = 8 * 1024 * 1024;
/// Largest gRPC message the server sends: a full GetRecords (10 MiB of data) plus framing.
pub const MAX_ENCODING_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
