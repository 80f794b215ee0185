//! The `eddy.v1.Streams` gRPC service: create, delete, list and describe streams.

use std::sync::Arc;

use eddy_proto::v1 as pb;
use eddy_shards::limits::{check_stream_name, DEFAULT_RETENTION_HOURS};
use eddy_shards::{Log, StreamDescription, StreamMeta};
use tonic::{Request, Response, Status};

use super::status;

pub struct StreamsService {
    log: Arc<Log>,
}

impl StreamsService {
    pub fn new(log: Arc<Log>) -> Self {
        Self { log }
    }

    fn describe(&self, name: &str) -> Result<StreamDescription, Status> {
        check_stream_name("name", name).map_err(status::invalid_argument)?;
        self.log.describe_stream(name).map_err(status::not_found)
    }
}

pub fn shard_to_proto(meta: &eddy_shards::ShardMeta) -> pb::Shard {
    pb::Shard {
        shard_id: meta.shard_id(),
        hash_key_range: Some(pb::HashKeyRange {
            starting_hash_key: meta.hash_key_range.start_inclusive.to_string(),
            ending_hash_key: meta.hash_key_range.end_inclusive.to_string(),
        }),
        sequence_number_range: Some(pb::SequenceNumberRange {
            starting_sequence_number: meta.starting_seq,
            ending_sequence_number: meta.ending_seq_opt,
        }),
        parent_shard_id: meta.parent_index_opt.map(eddy_shards::shard_id_of_index),
        adjacent_parent_shard_id: meta
            .adjacent_parent_index_opt
            .map(eddy_shards::shard_id_of_index),
        open: meta.is_open(),
    }
}

pub fn stream_to_proto(meta: &StreamMeta) -> pb::StreamDescription {
    pb::StreamDescription {
        name: meta.name.clone(),
        status: pb::StreamStatus::Active as i32,
        retention_hours: meta.retention_hours,
        created_at_millis: meta.created_at_millis,
        shards: meta.shards.iter().map(shard_to_proto).collect(),
        open_shard_count: meta.open_shard_count(),
    }
}

#[tonic::async_trait]
impl pb::streams_server::Streams for StreamsService {
    async fn create_stream(
        &self,
        request: Request<pb::CreateStreamRequest>,
    ) -> Result<Response<pb::CreateStreamResponse>, Status> {
        let request = request.into_inner();
        let meta = self
            .log
            .create_stream(
                &request.name,
                request.shard_count.unwrap_or(1),
                request.retention_hours.unwrap_or(DEFAULT_RETENTION_HOURS),
            )
            .await
            .map_err(status::create_stream)?;
        Ok(Response::new(pb::CreateStreamResponse {
            stream: Some(stream_to_proto(&meta)),
        }))
    }

    async fn delete_stream(
        &self,
        request: Request<pb::DeleteStreamRequest>,
    ) -> Result<Response<pb::DeleteStreamResponse>, Status> {
        let name = request.into_inner().name;
        check_stream_name("name", &name).map_err(status::invalid_argument)?;
        self.log
            .delete_stream(&name)
            .await
            .map_err(status::delete_stream)?;
        Ok(Response::new(pb::DeleteStreamResponse {}))
    }

    async fn list_streams(
        &self,
        _request: Request<pb::ListStreamsRequest>,
    ) -> Result<Response<pb::ListStreamsResponse>, Status> {
        let streams = self
            .log
            .list_streams()
            .iter()
            .map(|meta| pb::StreamSummary {
                name: meta.name.clone(),
                status: pb::StreamStatus::Active as i32,
                open_shard_count: meta.open_shard_count(),
                retention_hours: meta.retention_hours,
                created_at_millis: meta.created_at_millis,
            })
            .collect();
        Ok(Response::new(pb::ListStreamsResponse { streams }))
    }

    async fn describe_stream(
        &self,
        request: Request<pb::DescribeStreamRequest>,
    ) -> Result<Response<pb::DescribeStreamResponse>, Status> {
        let description = self.describe(&request.into_inner().name)?;
        Ok(Response::new(pb::DescribeStreamResponse {
            stream: Some(stream_to_proto(&description.meta)),
        }))
    }

    async fn list_shards(
        &self,
        request: Request<pb::ListShardsRequest>,
    ) -> Result<Response<pb::ListShardsResponse>, Status> {
        let request = request.into_inner();
        check_stream_name("stream_name", &request.stream_name).map_err(status::invalid_argument)?;
        let description = self
            .log
            .describe_stream(&request.stream_name)
            .map_err(status::not_found)?;
        Ok(Response::new(pb::ListShardsResponse {
            shards: description.meta.shards.iter().map(shard_to_proto).collect(),
        }))
    }
}
