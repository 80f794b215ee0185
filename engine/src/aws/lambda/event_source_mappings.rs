//! Event source mappings from Kinesis streams: CreateEventSourceMapping,
//! GetEventSourceMapping, ListEventSourceMappings, UpdateEventSourceMapping and
//! DeleteEventSourceMapping, under `/2015-03-31/event-source-mappings`.
//!
//! The source and the on-failure destination must be Kinesis stream ARNs of this server
//! (`arn:aws:kinesis:{region}:{account}:stream/{name}`); `OnSuccess` destinations are
//! refused (Lambda has none for Kinesis either). `TumblingWindowInSeconds` is accepted
//! only as 0: eddy has no tumbling windows. Accepted and ignored: `Topics`, `Queues`,
//! `SourceAccessConfigurations`, `SelfManagedEventSource`, `ScalingConfig`, `KMSKeyArn`,
//! `MetricsConfig`, `ProvisionedPollerConfig`, `Tags` and the Kafka / DocumentDB configs.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use eddy_consumers::manager::{MappingInfo, MappingState};
use eddy_consumers::mapping::{MappingChange, MappingSpec, StartingPosition};
use serde::Deserialize;
use serde_json::{json, Value};

use super::arns::{function_name, stream_name};
use super::destination_config::DestinationConfig;
use super::error::{self, parse_body, LambdaError};
use super::extract::{PathParam, RequestBody};
use super::function_configuration::epoch_seconds;
use super::functions::max_items;
use super::json_response;
use crate::aws::AwsApi;

const DEFAULT_LIST_PAGE: usize = 100;
const REPORT_BATCH_ITEM_FAILURES: &str = "ReportBatchItemFailures";

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Filter {
    pattern: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct FilterCriteria {
    filters: Option<Vec<Filter>>,
}

/// The fields of CreateEventSourceMapping and UpdateEventSourceMapping.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct MappingRequest {
    event_source_arn: Option<String>,
    function_name: Option<String>,
    enabled: Option<bool>,
    batch_size: Option<u32>,
    maximum_batching_window_in_seconds: Option<u32>,
    parallelization_factor: Option<u32>,
    starting_position: Option<String>,
    /// Epoch seconds.
    starting_position_timestamp: Option<f64>,
    destination_config: Option<DestinationConfig>,
    maximum_record_age_in_seconds: Option<i32>,
    bisect_batch_on_function_error: Option<bool>,
    maximum_retry_attempts: Option<i32>,
    tumbling_window_in_seconds: Option<u32>,
    function_response_types: Option<Vec<String>>,
    filter_criteria: Option<FilterCriteria>,
}

impl MappingRequest {
    /// The settings this request changes (everything but source, function and start).
    fn change(self, api: &AwsApi) -> Result<MappingChange, LambdaError> {
        if let Some(window) = self.tumbling_window_in_seconds {
            if window != 0 {
                return Err(LambdaError::invalid_parameter(format!(
                    "`TumblingWindowInSeconds` must be 0: eddy does not support tumbling \
                     windows, got {window}"
                )));
            }
        }
        let report_batch_item_failures = match self.function_response_types {
            None => None,
            Some(types) => {
                if let Some(bad) = types.iter().find(|t| *t != REPORT_BATCH_ITEM_FAILURES) {
                    return Err(LambdaError::invalid_parameter(format!(
                        "`FunctionResponseTypes` may only hold {REPORT_BATCH_ITEM_FAILURES}, \
                         got {bad:?}"
                    )));
                }
                Some(!types.is_empty())
            }
        };
        let filters = match self.filter_criteria {
            None => None,
            Some(criteria) => Some(
                criteria
                    .filters
                    .unwrap_or_default()
                    .into_iter()
                    .enumerate()
                    .map(|(i, filter)| {
                        filter.pattern.ok_or_else(|| {
                            LambdaError::invalid_parameter(format!(
                                "`FilterCriteria.Filters[{i}].Pattern` is required"
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let on_failure_stream = match self.destination_config {
            None => None,
            Some(config) => config.on_failure_stream(api)?,
        };
        Ok(MappingChange {
            batch_size: self.batch_size,
            batching_window_secs: self.maximum_batching_window_in_seconds,
            parallelization_factor: self.parallelization_factor,
            bisect_on_error: self.bisect_batch_on_function_error,
            max_retry_attempts: self.maximum_retry_attempts,
            max_record_age_secs: self.maximum_record_age_in_seconds,
            on_failure_stream,
            report_batch_item_failures,
            filters,
            enabled: self.enabled,
        })
    }
}

fn starting_position(
    position: Option<&str>,
    timestamp_secs: Option<f64>,
) -> Result<StartingPosition, LambdaError> {
    match (position, timestamp_secs) {
        (Some("TRIM_HORIZON"), None) => Ok(StartingPosition::TrimHorizon),
        (Some("LATEST"), None) => Ok(StartingPosition::Latest),
        (Some("AT_TIMESTAMP"), Some(secs)) if secs.is_finite() && secs >= 0.0 => {
            Ok(StartingPosition::AtTimestamp((secs * 1000.0) as u64))
        }
        (Some("AT_TIMESTAMP"), Some(secs)) => Err(LambdaError::invalid_parameter(format!(
            "`StartingPositionTimestamp` must be a time after 1970, got {secs}"
        ))),
        (Some("AT_TIMESTAMP"), None) => Err(LambdaError::invalid_parameter(
            "`StartingPositionTimestamp` is required with StartingPosition AT_TIMESTAMP",
        )),
        (Some("TRIM_HORIZON" | "LATEST"), Some(_)) => Err(LambdaError::invalid_parameter(
            "`StartingPositionTimestamp` is only allowed with StartingPosition AT_TIMESTAMP",
        )),
        (other, _) => Err(LambdaError::invalid_parameter(format!(
            "`StartingPosition` must be TRIM_HORIZON, LATEST or AT_TIMESTAMP (Kinesis \
             mappings require one), got {other:?}"
        ))),
    }
}

pub fn mapping_configuration(api: &AwsApi, info: &MappingInfo, state: &str) -> Value {
    let spec = &info.spec;
    let mut config = json!({
        "UUID": info.id,
        "EventSourceArn": api.stream_arn(&spec.stream),
        "FunctionArn": api.function_arn(&spec.function),
        "BatchSize": spec.batch_size,
        "MaximumBatchingWindowInSeconds": spec.batching_window_secs,
        "ParallelizationFactor": spec.parallelization_factor,
        "LastProcessingResult": if info.stats.last_processing_result.is_empty() {
            "No records processed"
        } else {
            info.stats.last_processing_result.as_str()
        },
        "State": state,
        "StateTransitionReason": "USER_INITIATED",
        "DestinationConfig": {
            "OnFailure": spec.on_failure_stream.as_ref().map_or_else(
                || json!({}),
                |stream| json!({"Destination": api.stream_arn(stream)}),
            ),
        },
        "MaximumRecordAgeInSeconds": spec.max_record_age_secs,
        "BisectBatchOnFunctionError": spec.bisect_on_error,
        "MaximumRetryAttempts": spec.max_retries,
        "TumblingWindowInSeconds": 0,
        "FunctionResponseTypes": if spec.report_batch_item_failures {
            vec![REPORT_BATCH_ITEM_FAILURES]
        } else {
            Vec::new()
        },
    });
    let position = match spec.starting_position {
        StartingPosition::TrimHorizon => "TRIM_HORIZON",
        StartingPosition::Latest => "LATEST",
        StartingPosition::AtTimestamp(millis) => {
            config["StartingPositionTimestamp"] = json!(epoch_seconds(millis));
            "AT_TIMESTAMP"
        }
    };
    config["StartingPosition"] = json!(position);
    if spec.last_modified_millis > 0 {
        config["LastModified"] = json!(epoch_seconds(spec.last_modified_millis));
    }
    if !spec.filters.is_empty() {
        config["FilterCriteria"] = json!({
            "Filters": spec.filters.iter().map(|p| json!({"Pattern": p})).collect::<Vec<_>>(),
        });
    }
    config
}

fn state_of(info: &MappingInfo) -> &'static str {
    match info.state {
        MappingState::Enabled => "Enabled",
        MappingState::Disabled => "Disabled",
    }
}

type Api = State<Arc<AwsApi>>;

pub async fn create_mapping(
    State(api): Api,
    RequestBody(body): RequestBody,
) -> Result<Response, LambdaError> {
    let mut request: MappingRequest = parse_body(&body)?;
    let source = request
        .event_source_arn
        .take()
        .ok_or_else(|| LambdaError::invalid_parameter("`EventSourceArn` is required"))?;
    let stream = stream_name(&api, "EventSourceArn", &source)?;
    let function = request
        .function_name
        .take()
        .ok_or_else(|| LambdaError::invalid_parameter("`FunctionName` is required"))?;
    let function = function_name(&api, &function)?;
    let position = starting_position(
        request.starting_position.as_deref(),
        request.starting_position_timestamp,
    )?;
    let mut spec = MappingSpec::new(stream, function, position);
    request.change(&api)?.apply(&mut spec);
    let info = api.mappings.create(spec).map_err(error::mapping)?;
    let body = mapping_configuration(&api, &info, state_of(&info));
    Ok(json_response(StatusCode::ACCEPTED, &body))
}

pub async fn get_mapping(
    State(api): Api,
    PathParam(id): PathParam,
) -> Result<Response, LambdaError> {
    let info = api.mappings.describe(&id).map_err(error::mapping)?;
    Ok(json_response(
        StatusCode::OK,
        &mapping_configuration(&api, &info, state_of(&info)),
    ))
}

pub async fn update_mapping(
    State(api): Api,
    PathParam(id): PathParam,
    RequestBody(body): RequestBody,
) -> Result<Response, LambdaError> {
    let mut request: MappingRequest = parse_body(&body)?;
    let current = api.mappings.describe(&id).map_err(error::mapping)?;
    if let Some(function) = request.function_name.take() {
        let function = function_name(&api, &function)?;
        if function != current.spec.function {
            return Err(LambdaError::invalid_parameter(format!(
                "`FunctionName`: eddy cannot move mapping {id} from function `{}` to `{function}`; \
                 create a new mapping",
                current.spec.function
            )));
        }
    }
    if request.event_source_arn.is_some() || request.starting_position.is_some() {
        return Err(LambdaError::invalid_parameter(
            "`EventSourceArn` and `StartingPosition` of a mapping cannot change",
        ));
    }
    let change = request.change(&api)?;
    let info = api
        .mappings
        .update(&id, |spec| change.apply(spec))
        .await
        .map_err(error::mapping)?;
    let body = mapping_configuration(&api, &info, state_of(&info));
    Ok(json_response(StatusCode::ACCEPTED, &body))
}

pub async fn delete_mapping(
    State(api): Api,
    PathParam(id): PathParam,
) -> Result<Response, LambdaError> {
    let info = api.mappings.describe(&id).map_err(error::mapping)?;
    api.mappings.delete(&id).await.map_err(error::mapping)?;
    let body = mapping_configuration(&api, &info, "Deleting");
    Ok(json_response(StatusCode::ACCEPTED, &body))
}

pub async fn list_mappings(
    State(api): Api,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, LambdaError> {
    let page_size = max_items(&query, DEFAULT_LIST_PAGE)?;
    let stream = match query.get("EventSourceArn") {
        Some(arn) => Some(stream_name(&api, "EventSourceArn", arn)?),
        None => None,
    };
    let function = match query.get("FunctionName") {
        Some(raw) => Some(function_name(&api, raw)?),
        None => None,
    };
    let marker = query.get("Marker").cloned().unwrap_or_default();
    let mut matching = api.mappings.list().into_iter().filter(|info| {
        stream.as_ref().is_none_or(|s| *s == info.spec.stream)
            && function.as_ref().is_none_or(|f| *f == info.spec.function)
            && (marker.is_empty() || info.id > marker)
    });
    let page: Vec<MappingInfo> = matching.by_ref().take(page_size).collect();
    let mut body = json!({
        "EventSourceMappings": page
            .iter()
            .map(|info| mapping_configuration(&api, info, state_of(info)))
            .collect::<Vec<_>>(),
    });
    if matching.next().is_some() {
        if let Some(last) = page.last() {
            body["NextMarker"] = json!(last.id);
        }
    }
    Ok(json_response(StatusCode::OK, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starting_positions() {
        assert_eq!(
            starting_position(Some("TRIM_HORIZON"), None).unwrap(),
            StartingPosition::TrimHorizon
        );
        assert_eq!(
            starting_position(Some("AT_TIMESTAMP"), Some(1.5)).unwrap(),
            StartingPosition::AtTimestamp(1500)
        );
        for (position, timestamp, fragment) in [
            (None, None, "`StartingPosition` must be"),
            (Some("AT_TIMESTAMP"), None, "is required"),
            (Some("LATEST"), Some(1.0), "only allowed"),
            (Some("AT_TIMESTAMP"), Some(-1.0), "after 1970"),
            (Some("SOMEWHERE"), None, "\"SOMEWHERE\""),
        ] {
            let err = starting_position(position, timestamp).unwrap_err();
            assert!(err.message.contains(fragment), "{}", err.message);
        }
    }
}
