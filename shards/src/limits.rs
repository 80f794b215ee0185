//! The limits eddy enforces (Kinesis defaults) and the checks that name the field and the
//! limit when one is broken.

use crate::error::InvalidArgument;

/// Largest record payload (data), in bytes: 1 MiB, as in Kinesis.
pub const MAX_RECORD_DATA_BYTES: usize = 1024 * 1024;
/// Largest record eddy writes itself (failure-destination records embedding a failed
/// batch): 8 MiB, so one 1 MiB record fits after base64 and JSON framing.
pub const MAX_SYSTEM_RECORD_BYTES: usize = 8 * 1024 * 1024;
/// Partition keys are 1..=256 Unicode characters.
pub const MAX_PARTITION_KEY_CHARS: usize = 256;
/// A PutRecords call carries at most this many entries.
pub const MAX_PUT_RECORDS_ENTRIES: usize = 500;
/// A PutRecords call carries at most this many bytes of data and partition keys: 5 MiB.
pub const MAX_PUT_RECORDS_BYTES: usize = 5 * 1024 * 1024;
/// Stream names are 1..=128 characters of `[a-zA-Z0-9_.-]`.
pub const MAX_STREAM_NAME_CHARS: usize = 128;
pub const MIN_RETENTION_HOURS: u32 = 24;
pub const MAX_RETENTION_HOURS: u32 = 8760;
pub const DEFAULT_RETENTION_HOURS: u32 = 24;
/// Tags, as in Kinesis: 50 per stream, 10 per call, keys 1–128 and values 0–256 characters.
pub const MAX_TAGS_PER_STREAM: usize = 50;
pub const MAX_TAGS_PER_CALL: usize = 10;
pub const MAX_TAG_KEY_CHARS: usize = 128;
pub const MAX_TAG_VALUE_CHARS: usize = 256;
/// Shards a single stream may have. Kinesis's default account limit is 500 for on-demand
/// streams; each shard costs a writer entry, a tail and a watch channel.
pub const MAX_SHARDS_PER_STREAM: u32 = 1024;
/// Streams per server.
pub const MAX_STREAMS: usize = 10_000;
/// GetRecords returns at most this many records...
pub const MAX_GET_RECORDS_LIMIT: u32 = 10_000;
/// ...and at most this many bytes of data: 10 MiB.
pub const MAX_GET_RECORDS_BYTES: usize = 10 * 1024 * 1024;

pub fn check_stream_name(field: &str, name: &str) -> Result<(), InvalidArgument> {
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if name.is_empty() || name.len() > MAX_STREAM_NAME_CHARS || !valid_chars {
        return Err(InvalidArgument::new(
            field,
            format!(
                "must be 1 to {MAX_STREAM_NAME_CHARS} characters of [a-zA-Z0-9_.-], got {:?}",
                truncate_for_message(name)
            ),
        ));
    }
    Ok(())
}

pub fn check_partition_key(field: &str, key: &str) -> Result<(), InvalidArgument> {
    let chars = key.chars().count();
    if chars == 0 || chars > MAX_PARTITION_KEY_CHARS {
        return Err(InvalidArgument::new(
            field,
            format!("must be 1 to {MAX_PARTITION_KEY_CHARS} Unicode characters, got {chars}"),
        ));
    }
    Ok(())
}

/// Record data must be at most `max_bytes`: [`MAX_RECORD_DATA_BYTES`] from clients,
/// [`MAX_SYSTEM_RECORD_BYTES`] for records eddy writes itself.
pub fn check_record_data(
    field: &str,
    data_len: usize,
    max_bytes: usize,
) -> Result<(), InvalidArgument> {
    if data_len > max_bytes {
        return Err(InvalidArgument::new(
            field,
            format!("must be at most {max_bytes} bytes, got {data_len}"),
        ));
    }
    Ok(())
}

pub fn check_retention_hours(field: &str, hours: u32) -> Result<(), InvalidArgument> {
    if !(MIN_RETENTION_HOURS..=MAX_RETENTION_HOURS).contains(&hours) {
        return Err(InvalidArgument::new(
            field,
            format!("must be between {MIN_RETENTION_HOURS} and {MAX_RETENTION_HOURS} hours, got {hours}"),
        ));
    }
    Ok(())
}

pub fn check_shard_count(field: &str, count: u32) -> Result<(), InvalidArgument> {
    if count == 0 || count > MAX_SHARDS_PER_STREAM {
        return Err(InvalidArgument::new(
            field,
            format!("must be between 1 and {MAX_SHARDS_PER_STREAM}, got {count}"),
        ));
    }
    Ok(())
}

fn truncate_for_message(text: &str) -> String {
    text.chars().take(140).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names() {
        assert!(check_stream_name("name", "orders.v1_A-b").is_ok());
        let err = check_stream_name("name", "bad name").unwrap_err();
        assert_eq!(err.field, "name");
        assert!(err.message.contains("[a-zA-Z0-9_.-]"), "{err}");
        assert!(check_stream_name("name", "").is_err());
        assert!(check_stream_name("name", &"a".repeat(128)).is_ok());
        assert!(check_stream_name("name", &"a".repeat(129)).is_err());
        assert!(check_stream_name("name", "é").is_err());
    }

    #[test]
    fn partition_keys_count_characters_not_bytes() {
        assert!(check_partition_key("partition_key", &"é".repeat(256)).is_ok());
        assert!(check_partition_key("partition_key", &"é".repeat(257)).is_err());
        let err = check_partition_key("partition_key", "").unwrap_err();
        assert!(err.to_string().contains("partition_key"), "{err}");
    }

    #[test]
    fn data_and_retention() {
        assert!(check_record_data("data", MAX_RECORD_DATA_BYTES, MAX_RECORD_DATA_BYTES).is_ok());
        let err = check_record_data("data", MAX_RECORD_DATA_BYTES + 1, MAX_RECORD_DATA_BYTES)
            .unwrap_err();
        assert!(err.to_string().contains("1048576"), "{err}");
        assert!(check_retention_hours("retention_hours", 23).is_err());
        assert!(check_retention_hours("retention_hours", 24).is_ok());
        assert!(check_retention_hours("retention_hours", 8760).is_ok());
        assert!(check_retention_hours("retention_hours", 8761).is_err());
        assert!(check_shard_count("shard_count", 0).is_err());
        assert!(check_shard_count("shard_count", MAX_SHARDS_PER_STREAM + 1).is_err());
    }
}
