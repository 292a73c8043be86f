//! Generates the retrieval API's messages, client and server from `proto/retrieve.proto`, with a
//! pure-Rust protobuf compiler (protox): no `protoc` is needed on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/retrieve.proto");
    let descriptors = protox::compile(["retrieve.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
