//! The process runtime: a warm pool of real `awslambdaric` workers running an unchanged
//! Python handler (installed by `make test`; see tests/awslambdaric.rs).

mod common;

use common::venv_python;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eddy_consumers::handler::Outcome;
use eddy_consumers::process_pool::{ProcessFunction, ProcessPool};
use tokio_util::sync::CancellationToken;

const HANDLER: &str = r#"
import os, time
def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("crash"):
        os._exit(3)
    print("handled", event.get("n"), flush=True)
    return {"pid": os.getpid(), "n": event.get("n")}
"#;

fn function(
    dir: &std::path::Path,
    handler: &str,
    timeout: Duration,
    concurrency: usize,
) -> ProcessFunction {
    ProcessFunction {
        name: "py".into(),
        arn: "arn:aws:lambda:us-east-1:000000000000:function:py".into(),
        command: vec![
            venv_python().to_string_lossy().into_owned(),
            "-m".into(),
            "awslambdaric".into(),
            handler.into(),
        ],
        workdir: dir.to_path_buf(),
        handler: Some(handler.into()),
        env: vec![("PYTHONPATH".into(), dir.to_string_lossy().into_owned())],
        timeout,
        init_timeout: eddy_consumers::process_pool::INIT_TIMEOUT,
        concurrency,
        memory_mb: 128,
        region: "us-east-1".into(),
        log_path: dir.join("function.log"),
        log_max_bytes: 64 * 1024 * 1024,
        idle_timeout: Duration::from_secs(600),
    }
}

fn pid_of(outcome: &Outcome) -> u64 {
    match outcome {
        Outcome::Success(body) => serde_json::from_slice::<serde_json::Value>(body).unwrap()["pid"]
            .as_u64()
            .unwrap(),
        other => panic!("expected success, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_workers_up_to_concurrency_replaced_after_timeouts_and_crashes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.py"), HANDLER).unwrap();
    let shutdown = CancellationToken::new();
    let pool = ProcessPool::start(
        function(dir.path(), "app.handler", Duration::from_secs(2), 2),
        shutdown.clone(),
    );

    // Four concurrent invocations share at most two workers.
    let calls: Vec<_> = (0..4)
        .map(|n| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let payload = format!(r#"{{"n": {n}, "sleep": 0.2}}"#);
                pool.invoke(&format!("req-{n}"), Bytes::from(payload)).await
            })
        })
        .collect();
    let mut pids = Vec::new();
    for call in calls {
        pids.push(pid_of(&call.await.unwrap()));
    }
    pids.sort_unstable();
    pids.dedup();
    assert!(
        pids.len() <= 2,
        "more workers than the concurrency: {pids:?}"
    );
    assert_eq!(pool.idle_workers(), pids.len(), "workers stay warm");

    // Warm: the next invocation reuses one of them.
    let warm = pid_of(
        &pool
            .invoke("req-warm", Bytes::from_static(br#"{"n": 9}"#))
            .await,
    );
    assert!(pids.contains(&warm));

    // Past the timeout: the invocation fails and the worker is replaced.
    let slow = pool
        .invoke("req-slow", Bytes::from_static(br#"{"sleep": 30}"#))
        .await;
    assert!(
        matches!(&slow, Outcome::Failed(e) if e.error_type == "Sandbox.Timedout"),
        "{slow:?}"
    );
    // A crash fails the invocation it held.
    let crash = pool
        .invoke("req-crash", Bytes::from_static(br#"{"crash": true}"#))
        .await;
    assert!(
        matches!(&crash, Outcome::Failed(e) if e.error_type == "Runtime.ExitError"),
        "{crash:?}"
    );
    // And the function still works afterwards.
    let after = pid_of(
        &pool
            .invoke("req-after", Bytes::from_static(br#"{"n": 10}"#))
            .await,
    );
    assert!(after > 0);

    let log = std::fs::read_to_string(dir.path().join("function.log")).unwrap();
    assert!(
        log.contains("handled 9"),
        "worker output goes to the function log: {log}"
    );
    shutdown.cancel();
}

/// As in Lambda, a cold worker's start-up is not charged to the function's timeout: a
/// handler module that takes 3 s to import still answers an invocation with a 2-s
/// timeout. The start-up has a limit of its own, and a worker past it is replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_start_is_not_counted_against_the_timeout_but_has_a_limit_of_its_own() {
    const SLOW_IMPORT: &str = r#"
import os, time
time.sleep(float(os.environ.get("IMPORT_SECONDS", "0")))
def handler(event, context):
    return {"pid": os.getpid(), "remaining_ms": context.get_remaining_time_in_millis()}
"#;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("slow.py"), SLOW_IMPORT).unwrap();
    let shutdown = CancellationToken::new();

    let mut slow_start = function(dir.path(), "slow.handler", Duration::from_secs(2), 1);
    slow_start.env.push(("IMPORT_SECONDS".into(), "3".into()));
    let pool = ProcessPool::start(slow_start, shutdown.clone());
    let outcome = pool.invoke("req-cold", Bytes::from_static(b"{}")).await;
    let Outcome::Success(body) = &outcome else {
        panic!("a 3-s import with a 2-s timeout must still answer: {outcome:?}")
    };
    let body: serde_json::Value = serde_json::from_slice(body).unwrap();
    let remaining = body["remaining_ms"].as_u64().unwrap();
    assert!(
        remaining > 0 && remaining <= 2000,
        "the deadline is set when the worker takes the invocation: {remaining} ms left"
    );

    let mut too_slow = function(dir.path(), "slow.handler", Duration::from_secs(30), 1);
    too_slow.env.push(("IMPORT_SECONDS".into(), "60".into()));
    too_slow.init_timeout = Duration::from_secs(1);
    let pool = ProcessPool::start(too_slow, shutdown.clone());
    let outcome = pool.invoke("req-stuck", Bytes::from_static(b"{}")).await;
    assert!(
        matches!(&outcome, Outcome::Failed(e) if e.error_type == "Sandbox.Timedout"
            && e.message.contains("initialization")),
        "{outcome:?}"
    );
    assert_eq!(pool.idle_workers(), 0, "the stuck worker is not kept");
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_init_error_fails_the_invocation_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let pool = ProcessPool::start(
        function(dir.path(), "missing.handler", Duration::from_secs(10), 1),
        shutdown.clone(),
    );
    let outcome = pool.invoke("req-1", Bytes::from_static(b"{}")).await;
    let Outcome::Failed(error) = outcome else {
        panic!("expected a failure, got {outcome:?}")
    };
    assert!(error.error_type.contains("ImportModuleError"), "{error:?}");
    shutdown.cancel();
}

/// The issue's end-to-end shape at library level: a stream, a mapping with
/// ReportBatchItemFailures, and an unchanged Python handler (under awslambdaric) that
/// appends every record it gets to a file and fails one record once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_feeds_a_python_handler_every_record() {
    use eddy_consumers::function_spec::{FunctionSpec, Runtime};
    use eddy_consumers::functions::{FunctionSettings, Functions};
    use eddy_consumers::manager::MappingManager;
    use eddy_consumers::mapping::{MappingSpec, StartingPosition};
    use eddy_shards::{AppendRecord, Durability, Log, LogConfig};

    const APPENDER: &str = r#"
import base64, os
def handler(event, context):
    failures = []
    with open(os.environ["OUT_FILE"], "a") as out:
        for record in event["Records"]:
            data = base64.b64decode(record["kinesis"]["data"]).decode()
            marker = os.path.join(os.environ["LAMBDA_TASK_ROOT"], "failed-once")
            if data == "record-7" and not os.path.exists(marker):
                open(marker, "w").close()
                failures.append({"itemIdentifier": record["kinesis"]["sequenceNumber"]})
                break
            out.write(data + "\n")
    return {"batchItemFailures": failures}
"#;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("appender.py"), APPENDER).unwrap();
    let out_file = dir.path().join("seen.txt");
    let shutdown = CancellationToken::new();

    let log = Arc::new(
        Log::open(
            &dir.path().join("data"),
            LogConfig {
                durability: Durability::Buffered,
                ..LogConfig::default()
            },
        )
        .unwrap(),
    );
    log.create_stream("in", 2, 24).await.unwrap();
    let records = (0..20)
        .map(|i| AppendRecord {
            partition_key: format!("k{}", i % 3),
            data: Bytes::from(format!("record-{i}")),
            explicit_hash_key: None,
        })
        .collect();
    log.put_records("in", records).await.unwrap();

    let functions = Arc::new(
        Functions::open(
            log.clone(),
            FunctionSettings::new(dir.path().join("logs")),
            shutdown.clone(),
        )
        .unwrap(),
    );
    let mut appender = FunctionSpec::with_runtime(
        "appender",
        Runtime::Process {
            command: vec![
                venv_python().to_string_lossy().into_owned(),
                "-m".into(),
                "awslambdaric".into(),
                "appender.handler".into(),
            ],
            workdir: dir.path().to_path_buf(),
            handler: Some("appender.handler".into()),
        },
    );
    appender.timeout_secs = 30;
    appender.concurrency = 1;
    appender
        .env
        .insert("OUT_FILE".into(), out_file.to_string_lossy().into_owned());
    appender.env.insert(
        "PYTHONPATH".into(),
        dir.path().to_string_lossy().into_owned(),
    );
    functions.create(appender).unwrap();
    let manager = MappingManager::open(log.clone(), functions, shutdown.clone()).unwrap();
    let mut spec = MappingSpec::new("in", "appender", StartingPosition::TrimHorizon);
    spec.report_batch_item_failures = true;
    let id = manager.create(spec).unwrap().id;

    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let seen = std::fs::read_to_string(&out_file).unwrap_or_default();
        let mut lines: Vec<&str> = seen.lines().collect();
        lines.sort_unstable();
        lines.dedup();
        if lines.len() == 20 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {} records reached the handler: {seen}",
            lines.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = manager.describe(&id).unwrap().stats;
    assert!(
        stats.errors >= 1,
        "the reported item failure counts as an error: {stats:?}"
    );
    assert!(dir.path().join("failed-once").exists());
    manager.shutdown().await;
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_workers_are_reaped_and_started_again_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.py"), HANDLER).unwrap();
    let shutdown = CancellationToken::new();
    let mut process = function(dir.path(), "app.handler", Duration::from_secs(10), 1);
    process.idle_timeout = Duration::from_millis(300);
    let pool = ProcessPool::start(process, shutdown.clone());
    let first = pid_of(
        &pool
            .invoke("req-1", Bytes::from_static(br#"{"n": 1}"#))
            .await,
    );
    assert_eq!(pool.idle_workers(), 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while pool.idle_workers() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the idle worker was never reaped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = pid_of(
        &pool
            .invoke("req-2", Bytes::from_static(br#"{"n": 2}"#))
            .await,
    );
    assert_ne!(first, second, "a new worker after reaping");
    shutdown.cancel();
}

/// A function log past its cap moves to `<log>.1` and starts again, so a chatty function
/// cannot fill the disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_log_is_rotated_past_its_cap() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.py"), HANDLER).unwrap();
    let mut process = function(dir.path(), "app.handler", Duration::from_secs(10), 1);
    process.log_max_bytes = 1000;
    let old_output = "old line\n".repeat(200);
    std::fs::write(&process.log_path, &old_output).unwrap();
    let log_path = process.log_path.clone();
    let shutdown = CancellationToken::new();
    let pool = ProcessPool::start(process, shutdown.clone());
    pid_of(
        &pool
            .invoke("req-1", Bytes::from_static(br#"{"n": 1}"#))
            .await,
    );
    let rotated = std::fs::read_to_string(dir.path().join("function.log.1")).unwrap();
    assert_eq!(rotated, old_output, "the old output moved to .1");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let log = std::fs::read_to_string(&log_path).unwrap();
        assert!(!log.contains("old line"), "the log started again");
        if log.contains("handled 1") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no output: {log:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.cancel();
}
