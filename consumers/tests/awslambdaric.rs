//! A real Python Lambda handler run by AWS's real runtime interface client (`awslambdaric`,
//! installed by `make test` into `$EDDY_VENV`, default `~/.cache/eddy-venv`) against eddy's
//! Runtime API endpoint.

mod common;

use common::venv_python;

use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use eddy_consumers::handler::Outcome;
use eddy_consumers::process_pool::INIT_TIMEOUT;
use eddy_consumers::runtime_api::RuntimeApi;
use tokio_util::sync::CancellationToken;

const HANDLER: &str = r#"
def handler(event, context):
    if event.get("fail"):
        raise ValueError(event["fail"])
    return {
        "echo": event,
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awslambdaric_runs_a_python_handler_unchanged() {
    let task_root = tempfile::tempdir().unwrap();
    std::fs::write(task_root.path().join("app.py"), HANDLER).unwrap();
    let shutdown = CancellationToken::new();
    let api = RuntimeApi::start(
        "arn:aws:lambda:us-east-1:000000000000:function:echo",
        shutdown.clone(),
    )
    .await
    .unwrap();
    let mut worker = Command::new(venv_python())
        .args(["-m", "awslambdaric", "app.handler"])
        .current_dir(task_root.path())
        .env("AWS_LAMBDA_RUNTIME_API", api.endpoint())
        .env("LAMBDA_TASK_ROOT", task_root.path())
        .env("PYTHONPATH", task_root.path())
        .env("_HANDLER", "app.handler")
        .env("AWS_LAMBDA_FUNCTION_NAME", "echo")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start awslambdaric");

    let outcome = api
        .invoke(
            "req-1",
            Bytes::from_static(br#"{"n": 7}"#),
            INIT_TIMEOUT,
            Duration::from_secs(60),
        )
        .await;
    let Outcome::Success(body) = outcome else {
        panic!("expected success, got {outcome:?}")
    };
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["echo"]["n"], 7);
    assert_eq!(body["request_id"], "req-1");
    assert_eq!(body["function_name"], "echo");
    let remaining = body["remaining_ms"].as_i64().unwrap();
    assert!(
        remaining > 0 && remaining <= 60_000,
        "remaining_ms {remaining}"
    );

    let failed = api
        .invoke(
            "req-2",
            Bytes::from_static(br#"{"fail": "no good"}"#),
            INIT_TIMEOUT,
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(failed, Outcome::failed("ValueError", "no good"));

    let again = api
        .invoke(
            "req-3",
            Bytes::from_static(br#"{"n": 8}"#),
            INIT_TIMEOUT,
            Duration::from_secs(60),
        )
        .await;
    assert!(matches!(again, Outcome::Success(_)), "{again:?}");
    shutdown.cancel();
    let _ = worker.kill();
    let _ = worker.wait();
}
