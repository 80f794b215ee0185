//! `eddy read`: records of one shard or all shards, to the end or (`--follow`) as they
//! arrive.

use anyhow::{bail, Context};
use base64::Engine;
use eddy_proto::v1 as pb;
use serde_json::json;
use tokio::sync::mpsc;

use super::client::{connect, status_error, Clients};
use super::output::{data_for_people, millis_to_rfc3339, print_json};
use super::ReadArgs;

/// Parses `--from`: trim-horizon, latest, at-seq:N, after-seq:N, at-timestamp:RFC3339.
pub fn parse_from(text: &str) -> anyhow::Result<pb::StartingPosition> {
    let position = |kind: pb::ShardIteratorType| pb::StartingPosition {
        r#type: kind as i32,
        sequence_number: None,
        timestamp_millis: None,
    };
    let seq = |n: &str| -> anyhow::Result<u64> {
        n.parse()
            .with_context(|| format!("`--from` needs a sequence number after the colon, got {n:?}"))
    };
    Ok(match text.split_once(':') {
        None if text == "trim-horizon" => position(pb::ShardIteratorType::TrimHorizon),
        None if text == "latest" => position(pb::ShardIteratorType::Latest),
        Some(("at-seq", n)) => pb::StartingPosition {
            sequence_number: Some(seq(n)?),
            ..position(pb::ShardIteratorType::AtSequenceNumber)
        },
        Some(("after-seq", n)) => pb::StartingPosition {
            sequence_number: Some(seq(n)?),
            ..position(pb::ShardIteratorType::AfterSequenceNumber)
        },
        Some(("at-timestamp", when)) => {
            let at = chrono::DateTime::parse_from_rfc3339(when)
                .with_context(|| format!("`--from at-timestamp:` needs an RFC 3339 time, got {when:?}"))?;
            let millis = u64::try_from(at.timestamp_millis()).context("`--from at-timestamp:` is before 1970")?;
            pb::StartingPosition {
                timestamp_millis: Some(millis),
                ..position(pb::ShardIteratorType::AtTimestamp)
            }
        }
        _ => bail!(
            "`--from` must be trim-horizon, latest, at-seq:N, after-seq:N or at-timestamp:RFC3339, got {text:?}"
        ),
    })
}

pub async fn run(endpoint: &str, json: bool, args: ReadArgs) -> anyhow::Result<()> {
    let start = parse_from(&args.from)?;
    let mut clients = connect(endpoint).await?;
    let shard_ids = match &args.shard {
        Some(shard) => vec![shard.clone()],
        None => clients
            .streams
            .list_shards(pb::ListShardsRequest {
                stream_name: args.stream.clone(),
            })
            .await
            .map_err(status_error)?
            .into_inner()
            .shards
            .into_iter()
            .map(|s| s.shard_id)
            .collect(),
    };
    let limit = args.limit.unwrap_or(u64::MAX);
    if args.follow {
        follow(clients, json, &args.stream, shard_ids, start, limit).await
    } else {
        let mut printed = 0;
        for shard_id in shard_ids {
            if printed >= limit {
                break;
            }
            printed += read_to_end(
                &mut clients,
                json,
                &args.stream,
                &shard_id,
                start,
                limit - printed,
            )
            .await?;
        }
        Ok(())
    }
}

async fn read_to_end(
    clients: &mut Clients,
    json: bool,
    stream: &str,
    shard_id: &str,
    start: pb::StartingPosition,
    limit: u64,
) -> anyhow::Result<u64> {
    let mut iterator = clients
        .records
        .get_shard_iterator(pb::GetShardIteratorRequest {
            stream_name: stream.to_string(),
            shard_id: shard_id.to_string(),
            starting_position: Some(start),
        })
        .await
        .map_err(status_error)?
        .into_inner()
        .shard_iterator;
    let mut printed = 0;
    while printed < limit {
        let response = clients
            .records
            .get_records(pb::GetRecordsRequest {
                shard_iterator: iterator,
                limit: Some((limit - printed).min(10_000) as u32),
            })
            .await
            .map_err(status_error)?
            .into_inner();
        if response.records.is_empty() {
            break;
        }
        for record in &response.records {
            print_record(json, shard_id, record);
        }
        printed += response.records.len() as u64;
        match response.next_shard_iterator {
            Some(next) => iterator = next,
            None => break,
        }
    }
    Ok(printed)
}

async fn follow(
    clients: Clients,
    json: bool,
    stream: &str,
    shard_ids: Vec<String>,
    start: pb::StartingPosition,
    limit: u64,
) -> anyhow::Result<()> {
    let (records_tx, mut records_rx) =
        mpsc::channel::<anyhow::Result<(String, pb::SubscribeToShardEvent)>>(16);
    for shard_id in shard_ids {
        let mut records = clients.records.clone();
        let records_tx = records_tx.clone();
        let request = pb::SubscribeToShardRequest {
            stream_name: stream.to_string(),
            shard_id: shard_id.clone(),
            starting_position: Some(start),
        };
        tokio::spawn(async move {
            let mut events = match records.subscribe_to_shard(request).await {
                Ok(response) => response.into_inner(),
                Err(status) => {
                    let _ = records_tx.send(Err(status_error(status))).await;
                    return;
                }
            };
            loop {
                let item = match events.message().await {
                    Ok(Some(event)) => Ok((shard_id.clone(), event)),
                    Ok(None) => return,
                    Err(status) => Err(status_error(status)),
                };
                let failed = item.is_err();
                if records_tx.send(item).await.is_err() || failed {
                    return;
                }
            }
        });
    }
    drop(records_tx);
    let mut printed = 0;
    loop {
        let item = tokio::select! {
            item = records_rx.recv() => item,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let Some(item) = item else { return Ok(()) };
        let (shard_id, event) = item?;
        for record in &event.records {
            if printed >= limit {
                return Ok(());
            }
            print_record(json, &shard_id, record);
            printed += 1;
        }
        if printed >= limit {
            return Ok(());
        }
    }
}

fn print_record(json: bool, shard_id: &str, record: &pb::Record) {
    if json {
        print_json(&json!({
            "shard_id": shard_id,
            "sequence_number": record.sequence_number.to_string(),
            "partition_key": record.partition_key,
            "data": base64::engine::general_purpose::STANDARD.encode(&record.data),
            "approximate_arrival_timestamp": millis_to_rfc3339(record.approximate_arrival_timestamp_millis),
        }));
    } else {
        println!(
            "{shard_id}  {:>10}  {}  {}  {}",
            record.sequence_number,
            millis_to_rfc3339(record.approximate_arrival_timestamp_millis),
            record.partition_key,
            data_for_people(&record.data)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_starting_position() {
        assert_eq!(
            parse_from("trim-horizon").unwrap().r#type,
            pb::ShardIteratorType::TrimHorizon as i32
        );
        assert_eq!(
            parse_from("latest").unwrap().r#type,
            pb::ShardIteratorType::Latest as i32
        );
        assert_eq!(parse_from("at-seq:5").unwrap().sequence_number, Some(5));
        let after = parse_from("after-seq:7").unwrap();
        assert_eq!(
            (after.r#type, after.sequence_number),
            (pb::ShardIteratorType::AfterSequenceNumber as i32, Some(7))
        );
        let at = parse_from("at-timestamp:2024-01-02T03:04:05.006Z").unwrap();
        assert_eq!(at.timestamp_millis, Some(1_704_164_645_006));
        for bad in [
            "",
            "oldest",
            "at-seq:x",
            "at-timestamp:yesterday",
            "after-seq:-1",
        ] {
            assert!(parse_from(bad).is_err(), "{bad}");
        }
    }
}
