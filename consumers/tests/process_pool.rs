//! The process runtime: a warm pool of real `awslambdaric` workers running an unchanged
//! Python handler (installed by `make test`; see tests/awslambdaric.rs).

use std::path::PathBuf;
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

fn venv_python() -> PathBuf {
    let venv = std::env::var_os("EDDY_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/eddy-venv")
        });
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make test`",
        python.display()
    );
    python
}

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
        concurrency,
        memory_mb: 128,
        region: "us-east-1".into(),
        log_path: dir.join("function.log"),
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
    let pool = Arc::new(ProcessPool::new(
        function(dir.path(), "app.handler", Duration::from_secs(2), 2),
        shutdown.clone(),
    ));

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_init_error_fails_the_invocation_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let pool = ProcessPool::new(
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
