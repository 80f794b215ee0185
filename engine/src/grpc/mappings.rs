//! The `eddy.v1.Mappings` gRPC service: event source mappings from a stream to a function.

use std::sync::Arc;

use eddy_consumers::functions::Functions;
use eddy_consumers::manager::{MappingInfo, MappingManager, MappingState};
use eddy_consumers::mapping::{MappingChange, MappingSpec, StartingPosition};
use eddy_proto::v1 as pb;
use eddy_shards::InvalidArgument;
use tonic::{Request, Response, Status};

use super::status;

pub struct MappingsService {
    mappings: Arc<MappingManager>,
    functions: Arc<Functions>,
}

impl MappingsService {
    pub fn new(mappings: Arc<MappingManager>, functions: Arc<Functions>) -> Self {
        Self {
            mappings,
            functions,
        }
    }

    fn describe(&self, info: &MappingInfo) -> pb::MappingDescription {
        let spec = &info.spec;
        let (starting_position, timestamp) = match spec.starting_position {
            StartingPosition::TrimHorizon => {
                (pb::MappingStartingPosition::MappingTrimHorizon, None)
            }
            StartingPosition::Latest => (pb::MappingStartingPosition::MappingLatest, None),
            StartingPosition::AtTimestamp(millis) => (
                pb::MappingStartingPosition::MappingAtTimestamp,
                Some(millis),
            ),
        };
        let settings = self.functions.settings();
        let stats = &info.stats;
        pb::MappingDescription {
            id: info.id.clone(),
            stream_name: spec.stream.clone(),
            function_name: spec.function.clone(),
            starting_position: starting_position as i32,
            starting_position_timestamp_millis: timestamp,
            batch_size: spec.batch_size,
            batching_window_secs: spec.batching_window_secs,
            parallelization_factor: spec.parallelization_factor,
            bisect_on_error: spec.bisect_on_error,
            max_retry_attempts: spec.max_retries,
            max_record_age_secs: spec.max_record_age_secs,
            on_failure_stream: spec.on_failure_stream.clone(),
            report_batch_item_failures: spec.report_batch_item_failures,
            filters: spec.filters.clone(),
            state: match info.state {
                MappingState::Enabled => "Enabled",
                MappingState::Disabled => "Disabled",
            }
            .into(),
            last_processing_result: if stats.last_processing_result.is_empty() {
                "No records processed".into()
            } else {
                stats.last_processing_result.clone()
            },
            stats: Some(pb::MappingStats {
                invocations: stats.invocations,
                errors: stats.errors,
                records_delivered: stats.records_delivered,
                records_filtered: stats.records_filtered,
                records_to_failure_destination: stats.records_to_failure_destination,
                records_discarded: stats.records_discarded,
                iterator_age_millis: stats.iterator_age_millis,
            }),
            function_arn: self.functions.arn_of(&spec.function),
            stream_arn: format!(
                "arn:aws:kinesis:{}:{}:stream/{}",
                settings.region, settings.account, spec.stream
            ),
        }
    }
}

fn starting_position(
    position: i32,
    timestamp_millis: Option<u64>,
) -> Result<StartingPosition, InvalidArgument> {
    match (
        pb::MappingStartingPosition::try_from(position),
        timestamp_millis,
    ) {
        (Ok(pb::MappingStartingPosition::MappingTrimHorizon), None) => {
            Ok(StartingPosition::TrimHorizon)
        }
        (Ok(pb::MappingStartingPosition::MappingLatest), None) => Ok(StartingPosition::Latest),
        (Ok(pb::MappingStartingPosition::MappingAtTimestamp), Some(millis)) => {
            Ok(StartingPosition::AtTimestamp(millis))
        }
        (Ok(pb::MappingStartingPosition::MappingAtTimestamp), None) => Err(InvalidArgument::new(
            "starting_position_timestamp_millis",
            "is required with AT_TIMESTAMP",
        )),
        (
            Ok(
                pb::MappingStartingPosition::MappingTrimHorizon
                | pb::MappingStartingPosition::MappingLatest,
            ),
            Some(_),
        ) => Err(InvalidArgument::new(
            "starting_position_timestamp_millis",
            "is only allowed with AT_TIMESTAMP",
        )),
        (Ok(pb::MappingStartingPosition::Unspecified), _) | (Err(_), _) => {
            Err(InvalidArgument::new(
                "starting_position",
                "must be TRIM_HORIZON, LATEST or AT_TIMESTAMP (Kinesis mappings require one)",
            ))
        }
    }
}

#[tonic::async_trait]
impl pb::mappings_server::Mappings for MappingsService {
    async fn create_mapping(
        &self,
        request: Request<pb::CreateMappingRequest>,
    ) -> Result<Response<pb::MappingDescription>, Status> {
        let request = request.into_inner();
        let position = starting_position(
            request.starting_position,
            request.starting_position_timestamp_millis,
        )
        .map_err(status::invalid_argument)?;
        let mut spec = MappingSpec::new(request.stream_name, request.function_name, position);
        MappingChange {
            batch_size: request.batch_size,
            batching_window_secs: request.batching_window_secs,
            parallelization_factor: request.parallelization_factor,
            bisect_on_error: request.bisect_on_error,
            max_retry_attempts: request.max_retry_attempts,
            max_record_age_secs: request.max_record_age_secs,
            on_failure_stream: request.on_failure_stream,
            report_batch_item_failures: request.report_batch_item_failures,
            filters: Some(request.filters),
            enabled: request.enabled,
        }
        .apply(&mut spec);
        let info = self.mappings.create(spec).map_err(status::mapping)?;
        Ok(Response::new(self.describe(&info)))
    }

    async fn update_mapping(
        &self,
        request: Request<pb::UpdateMappingRequest>,
    ) -> Result<Response<pb::MappingDescription>, Status> {
        let request = request.into_inner();
        let info = self
            .mappings
            .update(&request.id, |spec| {
                MappingChange {
                    batch_size: request.batch_size,
                    batching_window_secs: request.batching_window_secs,
                    parallelization_factor: request.parallelization_factor,
                    bisect_on_error: request.bisect_on_error,
                    max_retry_attempts: request.max_retry_attempts,
                    max_record_age_secs: request.max_record_age_secs,
                    on_failure_stream: request.on_failure_stream,
                    report_batch_item_failures: request.report_batch_item_failures,
                    filters: request.filters.map(|filters| filters.patterns),
                    enabled: request.enabled,
                }
                .apply(spec)
            })
            .await
            .map_err(status::mapping)?;
        Ok(Response::new(self.describe(&info)))
    }

    async fn delete_mapping(
        &self,
        request: Request<pb::DeleteMappingRequest>,
    ) -> Result<Response<pb::DeleteMappingResponse>, Status> {
        self.mappings
            .delete(&request.into_inner().id)
            .await
            .map_err(status::mapping)?;
        Ok(Response::new(pb::DeleteMappingResponse {}))
    }

    async fn list_mappings(
        &self,
        request: Request<pb::ListMappingsRequest>,
    ) -> Result<Response<pb::ListMappingsResponse>, Status> {
        let request = request.into_inner();
        let mappings = self
            .mappings
            .list()
            .iter()
            .filter(|info| {
                request
                    .stream_name
                    .as_ref()
                    .is_none_or(|s| *s == info.spec.stream)
                    && request
                        .function_name
                        .as_ref()
                        .is_none_or(|f| *f == info.spec.function)
            })
            .map(|info| self.describe(info))
            .collect();
        Ok(Response::new(pb::ListMappingsResponse { mappings }))
    }

    async fn get_mapping(
        &self,
        request: Request<pb::GetMappingRequest>,
    ) -> Result<Response<pb::MappingDescription>, Status> {
        let info = self
            .mappings
            .describe(&request.into_inner().id)
            .map_err(status::mapping)?;
        Ok(Response::new(self.describe(&info)))
    }
}
