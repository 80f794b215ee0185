//! `eddy mapping create|list|describe|update|enable|disable|delete`.

use anyhow::{bail, Context};
use eddy_proto::v1 as pb;
use serde_json::json;

use super::client::{connect, status_error};
use super::output::{millis_to_rfc3339, print_json, print_table};
use super::{MappingCommand, MappingOptions};

pub async fn run(endpoint: &str, json: bool, command: MappingCommand) -> anyhow::Result<()> {
    let mut clients = connect(endpoint).await?;
    let mappings = &mut clients.mappings;
    let described = match command {
        MappingCommand::Create {
            stream,
            function,
            starting_position,
            options,
        } => {
            let (position, timestamp) = parse_starting_position(&starting_position)?;
            let request = pb::CreateMappingRequest {
                stream_name: stream,
                function_name: function,
                starting_position: position as i32,
                starting_position_timestamp_millis: timestamp,
                batch_size: options.batch_size,
                batching_window_secs: options.batching_window,
                parallelization_factor: options.parallelization_factor,
                bisect_on_error: options.bisect_on_error,
                max_retry_attempts: options.max_retries,
                max_record_age_secs: options.max_record_age,
                on_failure_stream: options.on_failure.clone(),
                report_batch_item_failures: options.report_batch_item_failures,
                filters: options.filter.clone(),
                enabled: options.disabled.then_some(false),
            };
            let mapping = mappings
                .create_mapping(request)
                .await
                .map_err(status_error)?
                .into_inner();
            if json {
                print_json(&mapping_json(&mapping));
            } else {
                // The id alone, so scripts can capture it.
                println!("{}", mapping.id);
            }
            return Ok(());
        }
        MappingCommand::Update { id, options } => mappings
            .update_mapping(update_request(id, &options, None))
            .await
            .map_err(status_error)?
            .into_inner(),
        MappingCommand::Enable { id } => mappings
            .update_mapping(update_request(id, &MappingOptions::default(), Some(true)))
            .await
            .map_err(status_error)?
            .into_inner(),
        MappingCommand::Disable { id } => mappings
            .update_mapping(update_request(id, &MappingOptions::default(), Some(false)))
            .await
            .map_err(status_error)?
            .into_inner(),
        MappingCommand::Describe { id } => mappings
            .get_mapping(pb::GetMappingRequest { id })
            .await
            .map_err(status_error)?
            .into_inner(),
        MappingCommand::Delete { id } => {
            mappings
                .delete_mapping(pb::DeleteMappingRequest { id: id.clone() })
                .await
                .map_err(status_error)?;
            if json {
                print_json(&json!({ "deleted": id }));
            } else {
                println!("deleted mapping {id}");
            }
            return Ok(());
        }
        MappingCommand::List { stream, function } => {
            let list = mappings
                .list_mappings(pb::ListMappingsRequest {
                    stream_name: stream,
                    function_name: function,
                })
                .await
                .map_err(status_error)?
                .into_inner()
                .mappings;
            if json {
                list.iter().for_each(|m| print_json(&mapping_json(m)));
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|m| {
                        let stats = m.stats.unwrap_or_default();
                        vec![
                            m.id.clone(),
                            m.stream_name.clone(),
                            m.function_name.clone(),
                            m.state.clone(),
                            m.batch_size.to_string(),
                            stats.records_delivered.to_string(),
                            stats.iterator_age_millis.to_string(),
                            m.last_processing_result.clone(),
                        ]
                    })
                    .collect();
                print_table(
                    &[
                        "ID",
                        "STREAM",
                        "FUNCTION",
                        "STATE",
                        "BATCH",
                        "DELIVERED",
                        "ITERATOR_AGE_MS",
                        "LAST_RESULT",
                    ],
                    &rows,
                );
            }
            return Ok(());
        }
    };
    if json {
        print_json(&mapping_json(&described));
    } else {
        print_mapping(&described);
    }
    Ok(())
}

fn update_request(
    id: String,
    options: &MappingOptions,
    enabled: Option<bool>,
) -> pb::UpdateMappingRequest {
    pb::UpdateMappingRequest {
        id,
        batch_size: options.batch_size,
        batching_window_secs: options.batching_window,
        parallelization_factor: options.parallelization_factor,
        bisect_on_error: options.bisect_on_error,
        max_retry_attempts: options.max_retries,
        max_record_age_secs: options.max_record_age,
        on_failure_stream: options.on_failure.clone(),
        report_batch_item_failures: options.report_batch_item_failures,
        filters: (options.clear_filters || !options.filter.is_empty()).then(|| {
            pb::FilterPatterns {
                patterns: options.filter.clone(),
            }
        }),
        enabled: enabled.or(options.disabled.then_some(false)),
    }
}

fn parse_starting_position(
    text: &str,
) -> anyhow::Result<(pb::MappingStartingPosition, Option<u64>)> {
    Ok(match text {
        "trim-horizon" => (pb::MappingStartingPosition::MappingTrimHorizon, None),
        "latest" => (pb::MappingStartingPosition::MappingLatest, None),
        other => match other.strip_prefix("at-timestamp:") {
            Some(time) => {
                let at = chrono::DateTime::parse_from_rfc3339(time).with_context(|| {
                    format!("`--starting-position` at-timestamp needs an RFC 3339 time, got {time:?}")
                })?;
                (
                    pb::MappingStartingPosition::MappingAtTimestamp,
                    Some(at.timestamp_millis().max(0) as u64),
                )
            }
            None => bail!(
                "`--starting-position` must be trim-horizon, latest or at-timestamp:RFC3339, got {other:?}"
            ),
        },
    })
}

fn position_name(m: &pb::MappingDescription) -> String {
    match pb::MappingStartingPosition::try_from(m.starting_position) {
        Ok(pb::MappingStartingPosition::MappingTrimHorizon) => "TRIM_HORIZON".into(),
        Ok(pb::MappingStartingPosition::MappingLatest) => "LATEST".into(),
        Ok(pb::MappingStartingPosition::MappingAtTimestamp) => format!(
            "AT_TIMESTAMP {}",
            millis_to_rfc3339(m.starting_position_timestamp_millis.unwrap_or_default())
        ),
        _ => "UNKNOWN".into(),
    }
}

fn mapping_json(m: &pb::MappingDescription) -> serde_json::Value {
    let stats = m.stats.unwrap_or_default();
    json!({
        "id": m.id,
        "stream": m.stream_name,
        "function": m.function_name,
        "stream_arn": m.stream_arn,
        "function_arn": m.function_arn,
        "state": m.state,
        "last_processing_result": m.last_processing_result,
        "starting_position": position_name(m),
        "batch_size": m.batch_size,
        "batching_window_secs": m.batching_window_secs,
        "parallelization_factor": m.parallelization_factor,
        "bisect_on_error": m.bisect_on_error,
        "max_retry_attempts": m.max_retry_attempts,
        "max_record_age_secs": m.max_record_age_secs,
        "on_failure_stream": m.on_failure_stream,
        "report_batch_item_failures": m.report_batch_item_failures,
        "filters": m.filters,
        "iterator_age_millis": stats.iterator_age_millis,
        "invocations": stats.invocations,
        "errors": stats.errors,
        "records_delivered": stats.records_delivered,
        "records_filtered": stats.records_filtered,
        "records_to_failure_destination": stats.records_to_failure_destination,
        "records_discarded": stats.records_discarded,
    })
}

fn print_mapping(m: &pb::MappingDescription) {
    let stats = m.stats.unwrap_or_default();
    let rows = [
        ("Id", m.id.clone()),
        ("State", m.state.clone()),
        ("LastProcessingResult", m.last_processing_result.clone()),
        ("Stream", format!("{} ({})", m.stream_name, m.stream_arn)),
        (
            "Function",
            format!("{} ({})", m.function_name, m.function_arn),
        ),
        ("StartingPosition", position_name(m)),
        ("BatchSize", m.batch_size.to_string()),
        ("BatchingWindow", format!("{} s", m.batching_window_secs)),
        (
            "ParallelizationFactor",
            m.parallelization_factor.to_string(),
        ),
        ("BisectOnError", m.bisect_on_error.to_string()),
        ("MaximumRetryAttempts", m.max_retry_attempts.to_string()),
        ("MaximumRecordAge", format!("{} s", m.max_record_age_secs)),
        (
            "OnFailure",
            m.on_failure_stream.clone().unwrap_or_else(|| "-".into()),
        ),
        (
            "ReportBatchItemFailures",
            m.report_batch_item_failures.to_string(),
        ),
        (
            "Filters",
            if m.filters.is_empty() {
                "-".into()
            } else {
                m.filters.join(" OR ")
            },
        ),
        ("IteratorAge", format!("{} ms", stats.iterator_age_millis)),
        ("Invocations", stats.invocations.to_string()),
        ("Errors", stats.errors.to_string()),
        ("RecordsDelivered", stats.records_delivered.to_string()),
        ("RecordsFiltered", stats.records_filtered.to_string()),
        (
            "RecordsToFailureDestination",
            stats.records_to_failure_destination.to_string(),
        ),
        ("RecordsDiscarded", stats.records_discarded.to_string()),
    ];
    for (key, value) in rows {
        println!("{key:<28} {value}");
    }
}
