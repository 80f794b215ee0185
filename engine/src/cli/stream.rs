//! `eddy stream create|list|describe|delete`.

use eddy_proto::v1 as pb;
use serde_json::json;

use super::client::{connect, status_error};
use super::output::{millis_to_rfc3339, print_json, print_table};
use super::StreamCommand;

pub async fn run(endpoint: &str, json: bool, command: StreamCommand) -> anyhow::Result<()> {
    let mut clients = connect(endpoint).await?;
    match command {
        StreamCommand::Create {
            name,
            shards,
            retention_hours,
        } => {
            let response = clients
                .streams
                .create_stream(pb::CreateStreamRequest {
                    name,
                    shard_count: Some(shards),
                    retention_hours: Some(retention_hours),
                })
                .await
                .map_err(status_error)?
                .into_inner();
            let stream = response.stream.unwrap_or_default();
            if json {
                print_json(&stream_json(&stream));
            } else {
                println!(
                    "created stream {} with {} shard(s), retention {} h",
                    stream.name,
                    stream.shards.len(),
                    stream.retention_hours
                );
            }
        }
        StreamCommand::List => {
            let streams = clients
                .streams
                .list_streams(pb::ListStreamsRequest {})
                .await
                .map_err(status_error)?
                .into_inner()
                .streams;
            if json {
                for s in &streams {
                    print_json(&json!({
                        "name": s.name,
                        "status": status_name(s.status),
                        "open_shard_count": s.open_shard_count,
                        "retention_hours": s.retention_hours,
                        "created_at": millis_to_rfc3339(s.created_at_millis),
                    }));
                }
            } else {
                let rows: Vec<Vec<String>> = streams
                    .iter()
                    .map(|s| {
                        vec![
                            s.name.clone(),
                            status_name(s.status).to_string(),
                            s.open_shard_count.to_string(),
                            s.retention_hours.to_string(),
                            millis_to_rfc3339(s.created_at_millis),
                        ]
                    })
                    .collect();
                print_table(
                    &["NAME", "STATUS", "SHARDS", "RETENTION_H", "CREATED"],
                    &rows,
                );
            }
        }
        StreamCommand::Describe { name } => {
            let stream = clients
                .streams
                .describe_stream(pb::DescribeStreamRequest { name })
                .await
                .map_err(status_error)?
                .into_inner()
                .stream
                .unwrap_or_default();
            if json {
                print_json(&stream_json(&stream));
            } else {
                println!(
                    "stream {}  status {}  retention {} h  created {}",
                    stream.name,
                    status_name(stream.status),
                    stream.retention_hours,
                    millis_to_rfc3339(stream.created_at_millis)
                );
                let rows: Vec<Vec<String>> = stream
                    .shards
                    .iter()
                    .map(|shard| {
                        let range = shard.hash_key_range.clone().unwrap_or_default();
                        let seqs = shard.sequence_number_range.unwrap_or_default();
                        vec![
                            shard.shard_id.clone(),
                            if shard.open { "open" } else { "closed" }.to_string(),
                            range.starting_hash_key,
                            range.ending_hash_key,
                            seqs.starting_sequence_number.to_string(),
                            shard.parent_shard_id.clone().unwrap_or_else(|| "-".into()),
                        ]
                    })
                    .collect();
                print_table(
                    &[
                        "SHARD",
                        "STATE",
                        "START_HASH_KEY",
                        "END_HASH_KEY",
                        "START_SEQ",
                        "PARENT",
                    ],
                    &rows,
                );
            }
        }
        StreamCommand::Delete { name } => {
            clients
                .streams
                .delete_stream(pb::DeleteStreamRequest { name: name.clone() })
                .await
                .map_err(status_error)?;
            if json {
                print_json(&json!({"deleted": name}));
            } else {
                println!("deleted stream {name}");
            }
        }
    }
    Ok(())
}

fn status_name(status: i32) -> &'static str {
    match pb::StreamStatus::try_from(status) {
        Ok(pb::StreamStatus::Active) => "ACTIVE",
        Ok(pb::StreamStatus::Deleting) => "DELETING",
        _ => "UNKNOWN",
    }
}

fn stream_json(stream: &pb::StreamDescription) -> serde_json::Value {
    json!({
        "name": stream.name,
        "status": status_name(stream.status),
        "retention_hours": stream.retention_hours,
        "created_at": millis_to_rfc3339(stream.created_at_millis),
        "shards": stream.shards.iter().map(|shard| {
            let range = shard.hash_key_range.clone().unwrap_or_default();
            let seqs = shard.sequence_number_range.unwrap_or_default();
            json!({
                "shard_id": shard.shard_id,
                "open": shard.open,
                "starting_hash_key": range.starting_hash_key,
                "ending_hash_key": range.ending_hash_key,
                "starting_sequence_number": seqs.starting_sequence_number.to_string(),
                "ending_sequence_number": seqs.ending_sequence_number.map(|s| s.to_string()),
                "parent_shard_id": shard.parent_shard_id,
                "adjacent_parent_shard_id": shard.adjacent_parent_shard_id,
            })
        }).collect::<Vec<_>>(),
    })
}
