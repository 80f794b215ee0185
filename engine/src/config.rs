//! `eddy serve` settings: flags and `EDDY_*` environment variables first, then a TOML
//! file (`--config`), then defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use eddy_shards::store::RecordsCompression;
use eddy_shards::Durability;
use serde::Deserialize;

pub const DEFAULT_DATA_DIR: &str = "./eddy-data";
pub const DEFAULT_GRPC_ADDR: &str = "127.0.0.1:50051";
/// Where the Kinesis and Lambda HTTP APIs listen; 4566 is the port AWS emulators use.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:4566";
/// The Python that runs `python3.x` Lambda functions created over the Lambda API; it needs
/// the `awslambdaric` package.
pub const DEFAULT_LAMBDA_PYTHON: &str = "python3";
pub const DEFAULT_REGION: &str = "us-east-1";
/// How long open connections get to finish once shutdown begins (systemd waits 90 s
/// before SIGKILL).
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 10;
pub const MAX_SHUTDOWN_GRACE_SECS: u64 = 3600;
pub const DEFAULT_ACCOUNT_ID: &str = "000000000000";

/// Settings as read from a TOML file; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub grpc_addr: Option<String>,
    /// The AWS-compatible HTTP listener, or "off".
    pub http_addr: Option<String>,
    pub durability: Option<Durability>,
    pub tail_max_bytes_per_shard: Option<usize>,
    pub tail_max_bytes_total: Option<usize>,
    pub max_queued_bytes: Option<usize>,
    /// RocksDB memtables of all shards together, in bytes.
    pub memtable_budget_bytes: Option<usize>,
    /// "none" (the default) or "lz4": whether records' SST files are compressed.
    pub records_compression: Option<RecordsCompression>,
    pub retention_check_interval_secs: Option<u64>,
    /// On SIGTERM or SIGINT, how long open connections get to finish their requests
    /// before they are dropped (0 to 3600).
    pub shutdown_grace_secs: Option<u64>,
    /// Region and account in ARNs and in the workers' `AWS_REGION`.
    pub region: Option<String>,
    pub account_id: Option<String>,
    /// Warm function workers idle this long are stopped.
    pub worker_idle_timeout_secs: Option<u64>,
    /// Delay before the first retry of a failed asynchronous invocation (the second
    /// waits twice as long); Lambda's is 60 s.
    pub async_retry_delay_millis: Option<u64>,
    /// The Python (with `awslambdaric`) that runs `python3.x` functions made over the
    /// Lambda API.
    pub lambda_python: Option<PathBuf>,
    /// When set, requests to the HTTP APIs must carry a valid SigV4 signature made with
    /// this key; otherwise any credentials (or none) are accepted.
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<String>,
}

impl FileConfig {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
    }
}

/// The settings a server runs with.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub data_dir: PathBuf,
    pub grpc_addr: SocketAddr,
    /// The Kinesis and Lambda HTTP APIs; `None` serves no HTTP.
    pub http_addr: Option<SocketAddr>,
    pub durability: Durability,
    pub tail_max_bytes_per_shard: usize,
    /// All shards' tails together; split evenly, each at most `tail_max_bytes_per_shard`.
    pub tail_max_bytes_total: usize,
    pub max_queued_bytes: usize,
    pub memtable_budget_bytes: usize,
    pub records_compression: RecordsCompression,
    pub retention_check_interval_secs: u64,
    /// How long open connections get to finish after shutdown begins; past it they are
    /// dropped, so a silent or stuck client cannot keep the server from stopping.
    pub shutdown_grace_secs: u64,
    pub region: String,
    pub account_id: String,
    pub worker_idle_timeout_secs: u64,
    pub async_retry_delay_millis: u64,
    pub lambda_python: PathBuf,
    /// SigV4 credentials the HTTP APIs require, if any.
    pub aws_credentials: Option<AwsCredentials>,
}

/// The one access key the HTTP APIs accept when authentication is configured.
#[derive(Clone)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

impl ServeConfig {
    /// Defaults for a server on `data_dir` and `grpc_addr`, without the HTTP APIs.
    pub fn new(data_dir: PathBuf, grpc_addr: SocketAddr) -> Self {
        let log_defaults = eddy_shards::LogConfig::default();
        Self {
            data_dir,
            grpc_addr,
            http_addr: None,
            durability: Durability::Fsync,
            tail_max_bytes_per_shard: log_defaults.tail_max_bytes_per_shard,
            tail_max_bytes_total: log_defaults.tail_max_bytes_total,
            max_queued_bytes: log_defaults.max_queued_bytes,
            memtable_budget_bytes: log_defaults.memtable_budget_bytes,
            records_compression: log_defaults.records_compression,
            retention_check_interval_secs: 60,
            shutdown_grace_secs: DEFAULT_SHUTDOWN_GRACE_SECS,
            region: DEFAULT_REGION.into(),
            account_id: DEFAULT_ACCOUNT_ID.into(),
            worker_idle_timeout_secs: 600,
            async_retry_delay_millis: 60_000,
            lambda_python: PathBuf::from(DEFAULT_LAMBDA_PYTHON),
            aws_credentials: None,
        }
    }

    /// Merges flag/env values (`Some` wins) over a file over defaults.
    pub fn resolve(
        data_dir: Option<PathBuf>,
        grpc_addr: Option<String>,
        http_addr: Option<String>,
        durability: Option<Durability>,
        file: FileConfig,
    ) -> anyhow::Result<Self> {
        let data_dir = data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let grpc_addr_text = grpc_addr
            .or(file.grpc_addr)
            .unwrap_or_else(|| DEFAULT_GRPC_ADDR.to_string());
        let grpc_addr: SocketAddr = grpc_addr_text.parse().with_context(|| {
            format!("`grpc_addr` must be an IP:PORT address, got {grpc_addr_text:?}")
        })?;
        let mut config = Self::new(data_dir, grpc_addr);
        let http_addr_text = http_addr
            .or(file.http_addr)
            .unwrap_or_else(|| DEFAULT_HTTP_ADDR.to_string());
        config.http_addr = match http_addr_text.as_str() {
            "off" => None,
            text => Some(text.parse().with_context(|| {
                format!("`http_addr` must be an IP:PORT address or \"off\", got {text:?}")
            })?),
        };
        if let Some(python) = file.lambda_python {
            config.lambda_python = python;
        }
        config.aws_credentials = match (file.aws_access_key_id, file.aws_secret_access_key) {
            (None, None) => None,
            (Some(access_key_id), Some(secret_access_key))
                if !access_key_id.is_empty() && !secret_access_key.is_empty() =>
            {
                Some(AwsCredentials {
                    access_key_id,
                    secret_access_key,
                })
            }
            _ => bail!(
                "`aws_access_key_id` and `aws_secret_access_key` must be set together, and not empty"
            ),
        };
        config.durability = durability.or(file.durability).unwrap_or_default();
        if let Some(bytes) = file.tail_max_bytes_per_shard {
            config.tail_max_bytes_per_shard = bytes;
        }
        if let Some(bytes) = file.tail_max_bytes_total {
            config.tail_max_bytes_total = bytes;
        }
        if let Some(bytes) = file.max_queued_bytes {
            if bytes < 8 * 1024 * 1024 {
                bail!("`max_queued_bytes` must be at least 8388608 (one full PutRecords), got {bytes}");
            }
            config.max_queued_bytes = bytes;
        }
        if let Some(bytes) = file.memtable_budget_bytes {
            eddy_shards::store::check_memtable_budget(bytes).map_err(anyhow::Error::msg)?;
            config.memtable_budget_bytes = bytes;
        }
        if let Some(compression) = file.records_compression {
            config.records_compression = compression;
        }
        if let Some(secs) = file.retention_check_interval_secs {
            if secs == 0 {
                bail!("`retention_check_interval_secs` must be at least 1");
            }
            config.retention_check_interval_secs = secs;
        }
        if let Some(secs) = file.shutdown_grace_secs {
            if secs > MAX_SHUTDOWN_GRACE_SECS {
                bail!(
                    "`shutdown_grace_secs` must be at most {MAX_SHUTDOWN_GRACE_SECS}, got {secs}"
                );
            }
            config.shutdown_grace_secs = secs;
        }
        if let Some(region) = file.region {
            let valid = !region.is_empty()
                && region.len() <= 32
                && region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !valid {
                bail!("`region` must be 1 to 32 characters of [a-z0-9-], got {region:?}");
            }
            config.region = region;
        }
        if let Some(account) = file.account_id {
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                bail!("`account_id` must be 12 digits, got {account:?}");
            }
            config.account_id = account;
        }
        if let Some(secs) = file.worker_idle_timeout_secs {
            if secs == 0 {
                bail!("`worker_idle_timeout_secs` must be at least 1");
            }
            config.worker_idle_timeout_secs = secs;
        }
        if let Some(millis) = file.async_retry_delay_millis {
            if !(10..=3_600_000).contains(&millis) {
                bail!("`async_retry_delay_millis` must be between 10 and 3600000, got {millis}");
            }
            config.async_retry_delay_millis = millis;
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_file_over_defaults() {
        let file: FileConfig = toml::from_str(
            "data_dir = \"/from/file\"\ngrpc_addr = \"127.0.0.1:1\"\ndurability = \"buffered\"\n",
        )
        .unwrap();
        let config =
            ServeConfig::resolve(None, Some("127.0.0.1:2".into()), None, None, file).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/from/file"));
        assert_eq!(config.grpc_addr.port(), 2);
        assert_eq!(config.durability, Durability::Buffered);

        let defaults = ServeConfig::resolve(None, None, None, None, FileConfig::default()).unwrap();
        assert_eq!(defaults.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(defaults.grpc_addr.to_string(), DEFAULT_GRPC_ADDR);
        assert_eq!(defaults.durability, Durability::Fsync);
        assert_eq!(defaults.http_addr.unwrap().to_string(), DEFAULT_HTTP_ADDR);
        let off = ServeConfig::resolve(None, None, Some("off".into()), None, FileConfig::default());
        assert_eq!(off.unwrap().http_addr, None);
    }

    #[test]
    fn bad_settings_are_named() {
        let err = ServeConfig::resolve(
            None,
            Some("nowhere".into()),
            None,
            None,
            FileConfig::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("grpc_addr"), "{err}");
        let file: FileConfig = toml::from_str("shutdown_grace_secs = 3601").unwrap();
        let err = ServeConfig::resolve(None, None, None, None, file).unwrap_err();
        assert!(
            err.to_string()
                .contains("`shutdown_grace_secs` must be at most 3600, got 3601"),
            "{err}"
        );
        let file: FileConfig = toml::from_str("shutdown_grace_secs = 0").unwrap();
        let config = ServeConfig::resolve(None, None, None, None, file).unwrap();
        assert_eq!(config.shutdown_grace_secs, 0);
        let file: FileConfig = toml::from_str("memtable_budget_bytes = 1048576").unwrap();
        let err = ServeConfig::resolve(None, None, None, None, file).unwrap_err();
        assert!(
            err.to_string().contains(
                "`memtable_budget_bytes` must be at least 67108864 (64 MiB), got 1048576"
            ),
            "{err}"
        );
        let file: FileConfig = toml::from_str("memtable_budget_bytes = 268435456").unwrap();
        let config = ServeConfig::resolve(None, None, None, None, file).unwrap();
        assert_eq!(config.memtable_budget_bytes, 256 << 20);
        let config = ServeConfig::resolve(None, None, None, None, FileConfig::default()).unwrap();
        assert_eq!(config.records_compression, RecordsCompression::None);
        let file: FileConfig = toml::from_str("records_compression = \"lz4\"").unwrap();
        let config = ServeConfig::resolve(None, None, None, None, file).unwrap();
        assert_eq!(config.records_compression, RecordsCompression::Lz4);
        let err = toml::from_str::<FileConfig>("records_compression = \"zstd\"").unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("records_compression") && message.contains("expected `none` or `lz4`"),
            "{message}"
        );
        let err = toml::from_str::<FileConfig>("colour = 1").unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }
}
