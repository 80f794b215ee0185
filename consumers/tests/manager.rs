//! Mapping management against a real log: create, disable, enable, update, restart and
//! delete, with a native function.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eddy_consumers::checkpoint::CheckpointStore;
use eddy_consumers::functions::{FunctionSettings, Functions};
use eddy_consumers::handler::{Outcome, RecordBatch};
use eddy_consumers::manager::{MappingError, MappingManager, MappingState};
use eddy_consumers::mapping::{MappingSpec, StartingPosition};
use eddy_shards::sync::Mutex;
use eddy_shards::{AppendRecord, Durability, Log, LogConfig};
use tokio_util::sync::CancellationToken;

type Seen = Arc<Mutex<Vec<String>>>;

fn registry(log: &Arc<Log>, seen: &Seen) -> Arc<Functions> {
    let settings = FunctionSettings::new(std::env::temp_dir().join("eddy-manager-test-logs"));
    let registry =
        Arc::new(Functions::open(log.clone(), settings, CancellationToken::new()).unwrap());
    let seen = seen.clone();
    let handler = move |batch: &RecordBatch| {
        seen.lock().extend(
            batch
                .records
                .iter()
                .map(|r| String::from_utf8(r.data.to_vec()).unwrap()),
        );
        Outcome::Success(Bytes::new())
    };
    registry.register_native("collect", Arc::new(handler), Duration::from_secs(3));
    registry
}

async fn put(log: &Log, payloads: &[&str]) {
    let records = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| AppendRecord {
            partition_key: format!("k{i}"),
            data: Bytes::copy_from_slice(p.as_bytes()),
            explicit_hash_key: None,
        })
        .collect();
    log.put_records("in", records).await.unwrap();
}

async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn open_log(dir: &std::path::Path) -> Arc<Log> {
    let config = LogConfig {
        durability: Durability::Buffered,
        ..LogConfig::default()
    };
    Arc::new(Log::open(dir, config).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mappings_run_pause_resume_survive_a_restart_and_go_away() {
    let dir = tempfile::tempdir().unwrap();
    let seen: Seen = Arc::default();
    let log = open_log(dir.path());
    log.create_stream("in", 3, 24).await.unwrap();
    put(&log, &["a", "b", "c"]).await;
    let manager =
        MappingManager::open(log.clone(), registry(&log, &seen), CancellationToken::new()).unwrap();
    let created = manager
        .create(MappingSpec::new(
            "in",
            "collect",
            StartingPosition::TrimHorizon,
        ))
        .unwrap();
    let id = created.id.clone();
    assert_eq!(id.len(), 36);
    assert_eq!(created.state, MappingState::Enabled);
    assert_eq!(manager.running_pollers(&id), 3, "one poller per shard");
    wait_until("the first records", || seen.lock().len() == 3).await;

    // Disabled: the pollers stop; what arrives meanwhile waits in the stream.
    let disabled = manager.set_enabled(&id, false).await.unwrap();
    assert_eq!(disabled.state, MappingState::Disabled);
    assert_eq!(manager.running_pollers(&id), 0);
    put(&log, &["d", "e"]).await;
    let enabled = manager.set_enabled(&id, true).await.unwrap();
    assert_eq!(enabled.state, MappingState::Enabled);
    wait_until("records put while disabled", || seen.lock().len() == 5).await;
    // The poller counts a batch after its handler returns, so the count may trail `seen`.
    wait_until("the delivered count", || {
        manager.describe(&id).unwrap().stats.records_delivered >= 2
    })
    .await;
    assert_eq!(
        manager.describe(&id).unwrap().stats.records_delivered,
        2,
        "stats restart with the pollers"
    );

    // Restart: a new manager over a reopened log restores the mapping and resumes after
    // the checkpoints, without redelivering.
    manager.shutdown().await;
    drop(manager);
    drop(log);
    let log = open_log(dir.path());
    put(&log, &["f"]).await;
    let manager =
        MappingManager::open(log.clone(), registry(&log, &seen), CancellationToken::new()).unwrap();
    assert_eq!(manager.list().len(), 1);
    wait_until("the record put before the restart", || {
        seen.lock().len() == 6
    })
    .await;
    let mut all = seen.lock().clone();
    all.sort();
    assert_eq!(
        all,
        vec!["a", "b", "c", "d", "e", "f"],
        "each record exactly once"
    );

    // Update: the batch size changes, the stream may not.
    let updated = manager
        .update(&id, |spec| spec.batch_size = 7)
        .await
        .unwrap();
    assert_eq!(updated.spec.batch_size, 7);
    let err = manager
        .update(&id, |spec| spec.stream = "other".into())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot change"), "{err}");

    manager.delete(&id).await.unwrap();
    assert!(manager.list().is_empty());
    assert!(matches!(
        manager.describe(&id),
        Err(MappingError::NotFound(_))
    ));
    assert_eq!(
        CheckpointStore::new(log.clone())
            .get(&id, "shardId-000000000000")
            .unwrap(),
        None
    );
    manager.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_mappings_are_rejected_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let seen: Seen = Arc::default();
    let log = open_log(dir.path());
    log.create_stream("in", 1, 24).await.unwrap();
    let manager =
        MappingManager::open(log.clone(), registry(&log, &seen), CancellationToken::new()).unwrap();
    let spec = || MappingSpec::new("in", "collect", StartingPosition::Latest);
    let cases: Vec<(MappingSpec, &str)> = vec![
        (
            MappingSpec {
                function: "nope".into(),
                ..spec()
            },
            "function `nope` not found",
        ),
        (
            MappingSpec {
                stream: "missing".into(),
                ..spec()
            },
            "stream `missing` not found",
        ),
        (
            MappingSpec {
                on_failure_stream: Some("missing".into()),
                ..spec()
            },
            "stream `missing` not found",
        ),
        (
            MappingSpec {
                batch_size: 0,
                ..spec()
            },
            "`batch_size`",
        ),
    ];
    for (bad, fragment) in cases {
        let err = manager.create(bad).unwrap_err().to_string();
        assert!(err.contains(fragment), "{err}");
    }
    assert!(manager.list().is_empty());
    assert!(log.list_documents("mappings").unwrap().is_empty());
    manager.shutdown().await;
}

/// LATEST means "after `create` returned": a record put right after it is delivered,
/// however late the pollers start; records put before it are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_starts_where_create_returned() {
    let dir = tempfile::tempdir().unwrap();
    let seen: Seen = Arc::default();
    let log = open_log(dir.path());
    log.create_stream("in", 4, 24).await.unwrap();
    put(&log, &["before-1", "before-2"]).await;
    let manager =
        MappingManager::open(log.clone(), registry(&log, &seen), CancellationToken::new()).unwrap();
    for round in 0..20 {
        let id = manager
            .create(MappingSpec::new("in", "collect", StartingPosition::Latest))
            .unwrap()
            .id;
        let payload = format!("after-{round}");
        put(&log, &[&payload]).await;
        wait_until("the record put right after create", || {
            seen.lock().contains(&payload)
        })
        .await;
        manager.delete(&id).await.unwrap();
    }
    assert!(!seen.lock().iter().any(|s| s.starts_with("before")));
}
