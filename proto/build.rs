//! Compiles `proto/` with the pure-Rust `protox` compiler (no system `protoc`) and writes
//! the file descriptor set used by gRPC server reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/eddy/v1/eddy.proto"];
    for proto in &protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let file_descriptors = protox::compile(protos, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("eddy_descriptor.bin"),
        prost::Message::encode_to_vec(&file_descriptors),
    )?;
    tonic_prost_build::configure()
        .bytes(".eddy.v1")
        .compile_fds(file_descriptors)?;
    Ok(())
}
