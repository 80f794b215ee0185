//! `eddy put`: one record from the command line, or one per line of standard input, sent
//! in PutRecords batches with progress on stderr.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use bytes::Bytes;
use eddy_proto::v1 as pb;
use eddy_shards::limits::{MAX_PUT_RECORDS_BYTES, MAX_PUT_RECORDS_ENTRIES};
use rand::Rng;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::client::{connect, status_error, Clients};
use super::output::print_json;
use super::PutArgs;

pub async fn run(endpoint: &str, json: bool, args: PutArgs) -> anyhow::Result<()> {
    let mut clients = connect(endpoint).await?;
    if let Some(data) = args.data {
        let response = clients
            .records
            .put_record(pb::PutRecordRequest {
                stream_name: args.stream,
                partition_key: args.partition_key.unwrap_or_else(random_partition_key),
                data: Bytes::from(data),
                explicit_hash_key: None,
                sequence_number_for_ordering: None,
            })
            .await
            .map_err(status_error)?
            .into_inner();
        if json {
            print_json(
                &json!({"shard_id": response.shard_id, "sequence_number": response.sequence_number.to_string()}),
            );
        } else {
            println!("{} {}", response.shard_id, response.sequence_number);
        }
        return Ok(());
    }
    put_lines(
        &mut clients,
        json,
        &args.stream,
        args.partition_key.as_deref(),
    )
    .await
}

async fn put_lines(
    clients: &mut Clients,
    json: bool,
    stream: &str,
    partition_key: Option<&str>,
) -> anyhow::Result<()> {
    let mut stdin = BufReader::new(tokio::io::stdin());
    let live_progress = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut last_progress = Instant::now();
    let mut total: u64 = 0;
    let mut batch: Vec<pb::PutRecordsEntry> = Vec::new();
    let mut batch_bytes = 0usize;
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = stdin.read_until(b'\n', &mut line).await?;
        if read > 0 {
            if line.last() == Some(&b'\n') {
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
            }
            let key = partition_key
                .map(str::to_string)
                .unwrap_or_else(random_partition_key);
            let entry_bytes = line.len() + key.len();
            if !batch.is_empty() && batch_bytes + entry_bytes > MAX_PUT_RECORDS_BYTES {
                total += send(clients, json, stream, std::mem::take(&mut batch)).await?;
                batch_bytes = 0;
            }
            batch_bytes += entry_bytes;
            batch.push(pb::PutRecordsEntry {
                partition_key: key,
                data: Bytes::copy_from_slice(&line),
                explicit_hash_key: None,
            });
        }
        if batch.len() >= MAX_PUT_RECORDS_ENTRIES || (read == 0 && !batch.is_empty()) {
            total += send(clients, json, stream, std::mem::take(&mut batch)).await?;
            batch_bytes = 0;
            if live_progress && last_progress.elapsed() >= Duration::from_millis(500) {
                eprint!("\rput {total} records");
                last_progress = Instant::now();
            }
        }
        if read == 0 {
            break;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    if live_progress {
        eprint!("\r");
    }
    eprintln!(
        "put {total} records in {secs:.2} s ({:.0} records/s)",
        total as f64 / secs.max(1e-9)
    );
    Ok(())
}

async fn send(
    clients: &mut Clients,
    json: bool,
    stream: &str,
    records: Vec<pb::PutRecordsEntry>,
) -> anyhow::Result<u64> {
    let response = clients
        .records
        .put_records(pb::PutRecordsRequest {
            stream_name: stream.to_string(),
            records,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let mut acknowledged = 0;
    for result in &response.records {
        if !result.error_code.is_empty() {
            eprintln!(
                "record failed: {} {}",
                result.error_code, result.error_message
            );
            continue;
        }
        acknowledged += 1;
        if json {
            print_json(
                &json!({"shard_id": result.shard_id, "sequence_number": result.sequence_number.to_string()}),
            );
        }
    }
    if response.failed_record_count > 0 {
        anyhow::bail!(
            "{} record(s) of a batch failed",
            response.failed_record_count
        );
    }
    Ok(acknowledged)
}

fn random_partition_key() -> String {
    format!("{:032x}", rand::rng().random::<u128>())
}
