//! Connecting the client commands to a server, and turning gRPC errors into one line.

use anyhow::{anyhow, Context};
use eddy_proto::v1 as pb;
use tonic::transport::Channel;

use crate::grpc::{client_endpoint, MAX_ENCODING_MESSAGE_BYTES};

pub struct Clients {
    pub streams: pb::streams_client::StreamsClient<Channel>,
    pub records: pb::records_client::RecordsClient<Channel>,
    pub functions: pb::functions_client::FunctionsClient<Channel>,
    pub mappings: pb::mappings_client::MappingsClient<Channel>,
}

pub async fn connect(endpoint: &str) -> anyhow::Result<Clients> {
    let channel = client_endpoint(endpoint)
        .with_context(|| format!("invalid endpoint {endpoint:?}"))?
        .connect()
        .await
        .map_err(|err| anyhow!("cannot reach eddy at {endpoint}: {err} (is `eddy serve` running? set --endpoint or EDDY_ENDPOINT)"))?;
    Ok(Clients {
        streams: pb::streams_client::StreamsClient::new(channel.clone())
            .max_decoding_message_size(MAX_ENCODING_MESSAGE_BYTES),
        records: pb::records_client::RecordsClient::new(channel.clone())
            .max_decoding_message_size(MAX_ENCODING_MESSAGE_BYTES),
        functions: pb::functions_client::FunctionsClient::new(channel.clone())
            .max_decoding_message_size(MAX_ENCODING_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_ENCODING_MESSAGE_BYTES),
        mappings: pb::mappings_client::MappingsClient::new(channel),
    })
}

/// A gRPC error as one line: the server's message and the status code.
pub fn status_error(status: tonic::Status) -> anyhow::Error {
    anyhow!("{} ({:?})", status.message(), status.code())
}
