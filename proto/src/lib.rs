//! eddy's gRPC API: the `.proto` files and the tonic/prost code generated from them.
//!
//! Generated at build time by `protox` (pure Rust), so no system `protoc` is needed.
//! `bytes` fields are [`bytes::Bytes`], so record payloads are not copied out of the
//! request buffer. This crate depends on nothing else in eddy.

#[allow(clippy::all, missing_docs)]
pub mod v1 {
    tonic::include_proto!("eddy.v1");

    /// The encoded `FileDescriptorSet` of the API, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/eddy_descriptor.bin"));
}
