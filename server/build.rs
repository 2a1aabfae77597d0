//! Compiles `proto/churn/v1/scoring.proto` and `proto/inference/grpc_predict_v2.proto` (the Open
//! Inference Protocol) with protox (pure Rust, no system `protoc`), writes the file descriptor set to
//! `OUT_DIR` for server reflection, and generates the prost messages and tonic client/server code from
//! it.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../proto");
    let files = [
        proto_root.join("churn/v1/scoring.proto"),
        proto_root.join("inference/grpc_predict_v2.proto"),
    ];
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let descriptors = protox::compile(&files, [&proto_root])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("api_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Undecodable requests are the caller's error: see src/codec.rs.
        .codec_path("crate::codec::ChurnCodec")
        .compile_fds(descriptors)?;
    Ok(())
}
