//! Functions, mappings and Invoke end to end: a real `eddy serve`, real Python handlers
//! run unchanged by the real `awslambdaric`, driven through gRPC and the `eddy` CLI.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use common::{cli, entry, eventually, lines, python_function, Server};
use eddy_proto::v1 as pb;
use serde_json::Value;

/// Appends the data of every record it gets to `$OUT_FILE`; fails `record-7` once through
/// ReportBatchItemFailures, so the mapping must rewind to it.
const APPENDER: &str = r#"
import base64, os
def handler(event, context):
    failures = []
    with open(os.environ["OUT_FILE"], "a") as out:
        for record in event["Records"]:
            data = base64.b64decode(record["kinesis"]["data"]).decode()
            marker = os.environ["OUT_FILE"] + ".failed-once"
            if data.endswith("record-7") and not os.path.exists(marker):
                open(marker, "w").close()
                failures.append({"itemIdentifier": record["kinesis"]["sequenceNumber"]})
                break
            out.write(record["kinesis"]["partitionKey"] + " " + data + "\n")
    return {"batchItemFailures": failures}
"#;

/// A function for Invoke: echoes, fails, sleeps or crashes as the event asks, and notes
/// every call in `$OUT_FILE`.
const ECHO: &str = r#"
import os, time
with open(os.environ["OUT_FILE"] + ".pids", "a") as pids:
    pids.write(str(os.getpid()) + "\n")
def handler(event, context):
    with open(os.environ["OUT_FILE"], "a") as out:
        out.write(str(event.get("id")) + "\n")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("crash"):
        os._exit(7)
    if event.get("fail"):
        raise RuntimeError("failing on purpose " + str(event.get("id")))
    print("echo", event.get("id"), flush=True)
    return {"echo": event, "function": context.function_name, "greeting": os.environ.get("GREETING")}
"#;

fn write_handler(dir: &Path, module: &str, source: &str) {
    std::fs::write(dir.join(format!("{module}.py")), source).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_handler_gets_every_record_through_the_cli_and_a_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("code");
    std::fs::create_dir(&code).unwrap();
    write_handler(&code, "appender", APPENDER);
    let out_file = dir.path().join("seen.txt");
    let server = Server::start(&dir.path().join("data"), "buffered");
    let endpoint = server.endpoint.clone();
    let mut c = server.clients().await;
    c.create_stream("orders", 4).await;

    let python = common::venv_python();
    let command = format!("{} -m awslambdaric appender.handler", python.display());
    let env_out = format!("OUT_FILE={}", out_file.display());
    cli(
        &endpoint,
        &[
            "function",
            "create",
            "appender",
            "--command",
            &command,
            "--workdir",
            code.to_str().unwrap(),
            "--handler",
            "appender.handler",
            "--env",
            &env_out,
            "--timeout",
            "30",
            "--concurrency",
            "4",
        ],
    );
    let id = cli(
        &endpoint,
        &[
            "mapping",
            "create",
            "--stream",
            "orders",
            "--function",
            "appender",
            "--starting-position",
            "trim-horizon",
            "--batch-size",
            "25",
            "--report-batch-item-failures",
        ],
    )
    .trim()
    .to_string();
    assert_eq!(id.len(), 36, "the mapping id is a UUID: {id:?}");

    // 400 records over 8 partition keys, 100 per PutRecords.
    const RECORDS: usize = 400;
    for chunk in 0..RECORDS / 100 {
        let entries = (chunk * 100..chunk * 100 + 100)
            .map(|i| {
                entry(
                    &format!("key-{}", i % 8),
                    format!("k{}-record-{i}", i % 8).as_bytes(),
                )
            })
            .collect();
        c.records
            .put_records(pb::PutRecordsRequest {
                stream_name: "orders".into(),
                records: entries,
            })
            .await
            .unwrap();
    }
    let seen = eventually(
        "every record in the handler's file",
        Duration::from_secs(120),
        || {
            let seen = lines(&out_file);
            let unique: HashSet<&String> = seen.iter().collect();
            (unique.len() == RECORDS).then_some(seen)
        },
    )
    .await;
    // Order per partition key: first deliveries come in put order.
    let mut per_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut first_seen = HashSet::new();
    for line in &seen {
        if !first_seen.insert(line.clone()) {
            continue;
        }
        let (key, data) = line.split_once(' ').unwrap();
        let n: usize = data.rsplit('-').next().unwrap().parse().unwrap();
        per_key.entry(key.to_string()).or_default().push(n);
    }
    assert_eq!(per_key.len(), 8);
    for (key, ns) in &per_key {
        assert!(
            ns.windows(2).all(|w| w[0] < w[1]),
            "{key} out of order: {ns:?}"
        );
    }
    assert!(
        dir.path().join("seen.txt.failed-once").exists(),
        "record-7 was failed once"
    );

    // The handler writes its file before the poller counts the batch.
    let described: Value = eventually("the mapping's counters", Duration::from_secs(30), || {
        let described: Value =
            serde_json::from_str(&cli(&endpoint, &["--json", "mapping", "describe", &id])).unwrap();
        (described["records_delivered"].as_u64().unwrap() >= RECORDS as u64
            && described["last_processing_result"] == "OK")
            .then_some(described)
    })
    .await;
    assert_eq!(described["state"], "Enabled");
    assert_eq!(described["last_processing_result"], "OK");
    assert_eq!(described["batch_size"], 25);
    assert_eq!(described["report_batch_item_failures"], true);
    assert!(described["records_delivered"].as_u64().unwrap() >= RECORDS as u64);
    assert!(
        described["invocations"].as_u64().unwrap() >= 16,
        "{described}"
    );
    let listed = cli(&endpoint, &["mapping", "list"]);
    assert!(
        listed.contains(&id) && listed.contains("appender"),
        "{listed}"
    );

    // Disable: no more deliveries; enable: the next records arrive.
    let disabled: Value =
        serde_json::from_str(&cli(&endpoint, &["--json", "mapping", "disable", &id])).unwrap();
    assert_eq!(disabled["state"], "Disabled");
    c.records
        .put_records(pb::PutRecordsRequest {
            stream_name: "orders".into(),
            records: vec![entry("key-0", b"k0-record-after-enable")],
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!lines(&out_file).iter().any(|l| l.ends_with("after-enable")));
    cli(&endpoint, &["mapping", "enable", &id]);
    eventually(
        "the record put while disabled",
        Duration::from_secs(60),
        || {
            lines(&out_file)
                .iter()
                .any(|l| l.ends_with("after-enable"))
                .then_some(())
        },
    )
    .await;

    let functions = cli(&endpoint, &["function", "list"]);
    assert!(
        functions.contains("appender") && functions.contains("process"),
        "{functions}"
    );
    cli(&endpoint, &["mapping", "delete", &id]);
    assert!(!cli(&endpoint, &["mapping", "list"]).contains(&id));
    cli(&endpoint, &["function", "delete", "appender"]);
    assert!(!cli(&endpoint, &["function", "list"]).contains("appender"));
}

async fn invoke(
    c: &mut common::Clients,
    name: &str,
    payload: &str,
    invocation_type: pb::InvocationType,
) -> Result<pb::InvokeResponse, tonic::Status> {
    c.functions
        .invoke(pb::InvokeRequest {
            function_name: name.into(),
            payload: payload.to_string().into(),
            invocation_type: invocation_type as i32,
        })
        .await
        .map(|r| r.into_inner())
}

/// Every record of every shard of `stream`, as JSON.
async fn read_json_records(c: &mut common::Clients, stream: &str) -> Vec<Value> {
    let description = c
        .streams
        .describe_stream(pb::DescribeStreamRequest {
            name: stream.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .stream
        .unwrap();
    let mut values = Vec::new();
    for shard in description.shards {
        for record in c.read_all(stream, &shard.shard_id).await {
            values.push(serde_json::from_slice(&record.data).unwrap());
        }
    }
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoke_sync_dry_run_event_retries_and_failure_destination() {
    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("code");
    std::fs::create_dir(&code).unwrap();
    write_handler(&code, "echo", ECHO);
    let out_file = dir.path().join("calls.txt");
    let config = dir.path().join("eddy.toml");
    std::fs::write(&config, "async_retry_delay_millis = 50\n").unwrap();
    let server = Server::start_with_args(
        &dir.path().join("data"),
        &[
            "--durability",
            "fsync",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    let mut c = server.clients().await;
    c.create_stream("failures", 1).await;
    let mut request = python_function("echo", &code, "echo");
    request
        .env
        .insert("OUT_FILE".into(), out_file.display().to_string());
    request.timeout_secs = Some(2);
    request.async_invoke = Some(pb::AsyncInvokeConfig {
        max_retry_attempts: Some(2),
        max_event_age_secs: None,
        on_failure_stream: Some("failures".into()),
    });
    let created = c
        .functions
        .create_function(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        created.arn,
        "arn:aws:lambda:us-east-1:000000000000:function:echo"
    );

    // RequestResponse: the function's result.
    let ok = invoke(
        &mut c,
        "echo",
        r#"{"id": "sync-1"}"#,
        pb::InvocationType::RequestResponse,
    )
    .await
    .unwrap();
    assert_eq!(ok.status_code, 200);
    assert!(ok.function_error.is_none());
    let body: Value = serde_json::from_slice(&ok.payload).unwrap();
    assert_eq!(body["echo"]["id"], "sync-1");
    assert_eq!(body["function"], "echo");

    // A function error is the response, not a gRPC error.
    let failed = invoke(
        &mut c,
        "echo",
        r#"{"id": "sync-2", "fail": true}"#,
        pb::InvocationType::RequestResponse,
    )
    .await
    .unwrap();
    let error = failed.function_error.expect("function error");
    assert_eq!(error.error_type, "RuntimeError");
    assert!(error.error_message.contains("failing on purpose sync-2"));

    // A timeout kills the worker; a crash fails its invocation; both are then replaced.
    let timed_out = invoke(
        &mut c,
        "echo",
        r#"{"id": "slow", "sleep": 10}"#,
        pb::InvocationType::RequestResponse,
    )
    .await
    .unwrap();
    assert_eq!(
        timed_out.function_error.unwrap().error_type,
        "Sandbox.Timedout"
    );
    let crashed = invoke(
        &mut c,
        "echo",
        r#"{"id": "crash", "crash": true}"#,
        pb::InvocationType::RequestResponse,
    )
    .await
    .unwrap();
    assert_eq!(
        crashed.function_error.unwrap().error_type,
        "Runtime.ExitError"
    );
    let again = invoke(
        &mut c,
        "echo",
        r#"{"id": "after"}"#,
        pb::InvocationType::RequestResponse,
    )
    .await
    .unwrap();
    assert!(again.function_error.is_none());

    // An update applies from the next invocation; unset async fields stay.
    let mut env = python_function("echo", &code, "echo").env;
    env.insert("OUT_FILE".into(), out_file.display().to_string());
    env.insert("GREETING".into(), "hello".into());
    let updated = c
        .functions
        .update_function(pb::UpdateFunctionRequest {
            name: "echo".into(),
            env: Some(pb::EnvVars { vars: env }),
            async_invoke: Some(pb::AsyncInvokeConfig {
                max_retry_attempts: Some(2),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let async_invoke = updated.async_invoke.unwrap();
    assert_eq!(async_invoke.on_failure_stream.as_deref(), Some("failures"));
    assert_eq!(updated.timeout_secs, 2, "fields not in the update stay");
    let greeted = invoke(
        &mut c,
        "echo",
        r#"{"id": "greet"}"#,
        pb::InvocationType::RequestResponse,
    )
    .await
    .unwrap();
    let body: Value = serde_json::from_slice(&greeted.payload).unwrap();
    assert_eq!(body["greeting"], "hello");

    // DryRun checks only: nothing runs.
    let calls_before = lines(&out_file).len();
    let dry = invoke(
        &mut c,
        "echo",
        r#"{"id": "dry"}"#,
        pb::InvocationType::DryRun,
    )
    .await
    .unwrap();
    assert_eq!(dry.status_code, 204);

    // Event: queued, runs asynchronously.
    let queued = invoke(
        &mut c,
        "echo",
        r#"{"id": "event-ok"}"#,
        pb::InvocationType::Event,
    )
    .await
    .unwrap();
    assert_eq!(queued.status_code, 202);
    eventually("the queued event runs", Duration::from_secs(60), || {
        lines(&out_file)
            .contains(&"event-ok".to_string())
            .then_some(())
    })
    .await;
    assert!(!lines(&out_file)[calls_before..].contains(&"dry".to_string()));

    // A failing event: 1 try + 2 retries, then Lambda's record in the failure stream.
    let failing = invoke(
        &mut c,
        "echo",
        r#"{"id": "event-bad", "fail": true}"#,
        pb::InvocationType::Event,
    )
    .await
    .unwrap();
    let records = {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let records = read_json_records(&mut c, "failures").await;
            if !records.is_empty() || std::time::Instant::now() > deadline {
                break records;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    assert_eq!(records.len(), 1, "one failure record: {records:?}");
    let record = &records[0];
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(
        record["requestContext"]["requestId"],
        failing.request_id.as_str()
    );
    assert_eq!(
        record["requestContext"]["functionArn"],
        "arn:aws:lambda:us-east-1:000000000000:function:echo:$LATEST"
    );
    assert_eq!(record["requestPayload"]["id"], "event-bad");
    assert_eq!(record["responsePayload"]["errorType"], "RuntimeError");
    let attempts = lines(&out_file)
        .iter()
        .filter(|l| *l == "event-bad")
        .count();
    assert_eq!(attempts, 3, "one try and two retries");

    // Logs hold the workers' output.
    let logs = c
        .functions
        .get_function_logs(pb::GetFunctionLogsRequest {
            name: "echo".into(),
            max_bytes: None,
        })
        .await
        .unwrap()
        .into_inner()
        .log;
    let logs = String::from_utf8_lossy(&logs);
    assert!(logs.contains("echo sync-1"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_events_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("code");
    std::fs::create_dir(&code).unwrap();
    write_handler(&code, "echo", ECHO);
    let out_file = dir.path().join("calls.txt");
    let data = dir.path().join("data");
    let server = Server::start(&data, "fsync");
    let mut c = server.clients().await;
    let mut request = python_function("slow", &code, "echo");
    request
        .env
        .insert("OUT_FILE".into(), out_file.display().to_string());
    request.concurrency = Some(1);
    c.functions.create_function(request).await.unwrap();
    // One worker; the first event takes 5 s, the others 1 s: most are still queued at
    // the kill, and the first one is running.
    for i in 0..6 {
        let sleep = if i == 0 { 5 } else { 1 };
        let payload = format!(r#"{{"id": "event-{i}", "sleep": {sleep}}}"#);
        invoke(&mut c, "slow", &payload, pb::InvocationType::Event)
            .await
            .unwrap();
    }
    // Kill while the first event runs (it sleeps 5 s in the worker).
    eventually("the first event to start", Duration::from_secs(60), || {
        lines(&out_file)
            .contains(&"event-0".to_string())
            .then_some(())
    })
    .await;
    server.kill();
    let ran_before_kill: HashSet<String> = lines(&out_file).into_iter().collect();
    // The worker died with the server, at once: an orphan would still be sleeping in
    // event-0 for seconds, and could finish it on its own.
    let pids = lines(&dir.path().join("calls.txt.pids"));
    assert!(!pids.is_empty(), "a worker started");
    eventually(
        "the workers to die with the server",
        Duration::from_secs(2),
        || {
            pids.iter()
                .all(|pid| {
                    let stat =
                        std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                    // Gone, or a zombie nobody has reaped yet.
                    stat.is_empty()
                        || stat
                            .rsplit(')')
                            .next()
                            .unwrap_or("")
                            .trim_start()
                            .starts_with('Z')
                })
                .then_some(())
        },
    )
    .await;
    assert!(
        ran_before_kill.len() < 6,
        "the kill came after everything ran: the test proves nothing"
    );

    let server = Server::start(&data, "fsync");
    let mut c = server.clients().await;
    let function = c
        .functions
        .get_function(pb::GetFunctionRequest {
            name: "slow".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(function.concurrency, 1, "the function definition survived");
    eventually(
        "every queued event runs after the restart",
        Duration::from_secs(120),
        || {
            let ran: HashSet<String> = lines(&out_file).into_iter().collect();
            (0..6)
                .all(|i| ran.contains(&format!("event-{i}")))
                .then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_function_mapping_and_invoke_requests_are_rejected_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("code");
    std::fs::create_dir(&code).unwrap();
    write_handler(&code, "echo", ECHO);
    let server = Server::start(&dir.path().join("data"), "buffered");
    let mut c = server.clients().await;
    c.create_stream("in", 1).await;

    type Change = Box<dyn Fn(&mut pb::CreateFunctionRequest)>;
    let bad_functions: Vec<(Change, tonic::Code, &str)> = vec![
        (
            Box::new(|r| r.name = "no spaces".into()),
            tonic::Code::InvalidArgument,
            "`name` must be 1 to 64 characters",
        ),
        (
            Box::new(|r| r.command.clear()),
            tonic::Code::InvalidArgument,
            "`command` must name a program",
        ),
        (
            Box::new(|r| r.workdir = "relative".into()),
            tonic::Code::InvalidArgument,
            "`workdir` must be an absolute path",
        ),
        (
            Box::new(|r| r.workdir = "/no/such/dir".into()),
            tonic::Code::InvalidArgument,
            "is not a directory",
        ),
        (
            Box::new(|r| r.timeout_secs = Some(901)),
            tonic::Code::InvalidArgument,
            "`timeout_secs` must be between 1 and 900 seconds, got 901",
        ),
        (
            Box::new(|r| r.memory_mb = Some(64)),
            tonic::Code::InvalidArgument,
            "`memory_mb` must be between 128 and 10240 MB",
        ),
        (
            Box::new(|r| r.concurrency = Some(0)),
            tonic::Code::InvalidArgument,
            "`concurrency` must be between 1 and 1000",
        ),
        (
            Box::new(|r| {
                r.env.insert("AWS_LAMBDA_RUNTIME_API".into(), "x".into());
            }),
            tonic::Code::InvalidArgument,
            "reserved",
        ),
        (
            Box::new(|r| {
                r.async_invoke = Some(pb::AsyncInvokeConfig {
                    max_retry_attempts: Some(3),
                    ..Default::default()
                })
            }),
            tonic::Code::InvalidArgument,
            "`async_invoke.max_retry_attempts` must be between 0 and 2",
        ),
        (
            Box::new(|r| {
                r.async_invoke = Some(pb::AsyncInvokeConfig {
                    max_event_age_secs: Some(30),
                    ..Default::default()
                })
            }),
            tonic::Code::InvalidArgument,
            "`async_invoke.max_event_age_secs` must be between 60 and 21600",
        ),
        (
            Box::new(|r| {
                r.async_invoke = Some(pb::AsyncInvokeConfig {
                    on_failure_stream: Some("missing".into()),
                    ..Default::default()
                })
            }),
            tonic::Code::NotFound,
            "stream `missing` not found",
        ),
    ];
    for (change, code_expected, fragment) in bad_functions {
        let mut request = python_function("f", &code, "echo");
        change(&mut request);
        let err = c.functions.create_function(request).await.unwrap_err();
        assert_eq!(err.code(), code_expected, "{}", err.message());
        assert!(
            err.message().contains(fragment),
            "{} lacks {fragment}",
            err.message()
        );
    }
    let listed = c
        .functions
        .list_functions(pb::ListFunctionsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(
        listed.functions.is_empty(),
        "a rejected create wrote nothing"
    );

    c.functions
        .create_function(python_function("f", &code, "echo"))
        .await
        .unwrap();
    let duplicate = c
        .functions
        .create_function(python_function("f", &code, "echo"))
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), tonic::Code::AlreadyExists);
    let missing = c
        .functions
        .get_function(pb::GetFunctionRequest {
            name: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    assert!(missing.message().contains("function `nope` not found"));
    let bad_update = c
        .functions
        .update_function(pb::UpdateFunctionRequest {
            name: "f".into(),
            timeout_secs: Some(0),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_update.code(), tonic::Code::InvalidArgument);
    let kept = c
        .functions
        .get_function(pb::GetFunctionRequest { name: "f".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kept.timeout_secs, 30, "a rejected update changed nothing");

    let base = pb::CreateMappingRequest {
        stream_name: "in".into(),
        function_name: "f".into(),
        starting_position: pb::MappingStartingPosition::MappingTrimHorizon as i32,
        ..Default::default()
    };
    type MappingChange = Box<dyn Fn(&mut pb::CreateMappingRequest)>;
    let bad_mappings: Vec<(MappingChange, tonic::Code, &str)> = vec![
        (
            Box::new(|r| r.batch_size = Some(0)),
            tonic::Code::InvalidArgument,
            "`batch_size` must be between 1 and 10000, got 0",
        ),
        (
            Box::new(|r| r.batch_size = Some(10_001)),
            tonic::Code::InvalidArgument,
            "got 10001",
        ),
        (
            Box::new(|r| r.batching_window_secs = Some(301)),
            tonic::Code::InvalidArgument,
            "`batching_window_secs` must be between 0 and 300",
        ),
        (
            Box::new(|r| r.parallelization_factor = Some(11)),
            tonic::Code::InvalidArgument,
            "`parallelization_factor` must be between 1 and 10",
        ),
        (
            Box::new(|r| r.max_retry_attempts = Some(-2)),
            tonic::Code::InvalidArgument,
            "`max_retry_attempts`",
        ),
        (
            Box::new(|r| r.max_record_age_secs = Some(59)),
            tonic::Code::InvalidArgument,
            "`max_record_age_secs`",
        ),
        (
            Box::new(|r| r.filters = vec!["{".into()]),
            tonic::Code::InvalidArgument,
            "Filters[0].Pattern",
        ),
        (
            Box::new(|r| r.starting_position = 0),
            tonic::Code::InvalidArgument,
            "`starting_position` must be",
        ),
        (
            Box::new(|r| {
                r.starting_position = pb::MappingStartingPosition::MappingAtTimestamp as i32
            }),
            tonic::Code::InvalidArgument,
            "`starting_position_timestamp_millis` is required",
        ),
        (
            Box::new(|r| r.function_name = "nope".into()),
            tonic::Code::NotFound,
            "function `nope` not found",
        ),
        (
            Box::new(|r| r.stream_name = "nope".into()),
            tonic::Code::NotFound,
            "stream `nope` not found",
        ),
        (
            Box::new(|r| r.on_failure_stream = Some("in".into())),
            tonic::Code::InvalidArgument,
            "own stream",
        ),
        (
            Box::new(|r| r.on_failure_stream = Some("gone".into())),
            tonic::Code::NotFound,
            "stream `gone` not found",
        ),
    ];
    for (change, code_expected, fragment) in bad_mappings {
        let mut request = base.clone();
        change(&mut request);
        let err = c.mappings.create_mapping(request).await.unwrap_err();
        assert_eq!(err.code(), code_expected, "{}", err.message());
        assert!(
            err.message().contains(fragment),
            "{} lacks {fragment}",
            err.message()
        );
    }
    let mappings = c
        .mappings
        .list_mappings(pb::ListMappingsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(
        mappings.mappings.is_empty(),
        "a rejected create wrote nothing"
    );
    let created = c.mappings.create_mapping(base).await.unwrap().into_inner();
    assert_eq!(created.batch_size, 100, "Lambda's default batch size");
    assert_eq!(created.state, "Enabled");
    let bad_update = c
        .mappings
        .update_mapping(pb::UpdateMappingRequest {
            id: created.id.clone(),
            batch_size: Some(0),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_update.code(), tonic::Code::InvalidArgument);
    let kept = c
        .mappings
        .get_mapping(pb::GetMappingRequest {
            id: created.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kept.batch_size, 100, "a rejected update changed nothing");
    let unknown = c
        .mappings
        .get_mapping(pb::GetMappingRequest { id: "nope".into() })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);

    let not_json = invoke(&mut c, "f", "{nope", pb::InvocationType::RequestResponse)
        .await
        .unwrap_err();
    assert_eq!(not_json.code(), tonic::Code::InvalidArgument);
    assert!(not_json.message().contains("`payload` must be JSON"));
    let big = format!("\"{}\"", "x".repeat(1024 * 1024));
    let too_big = invoke(&mut c, "f", &big, pb::InvocationType::Event)
        .await
        .unwrap_err();
    assert_eq!(too_big.code(), tonic::Code::InvalidArgument);
    assert!(
        too_big.message().contains("at most 1048576 bytes"),
        "{}",
        too_big.message()
    );
    let no_function = invoke(&mut c, "nope", "{}", pb::InvocationType::Event)
        .await
        .unwrap_err();
    assert_eq!(no_function.code(), tonic::Code::NotFound);
    let bad_type = c
        .functions
        .invoke(pb::InvokeRequest {
            function_name: "f".into(),
            payload: "{}".into(),
            invocation_type: 9,
        })
        .await
        .unwrap_err();
    assert_eq!(bad_type.code(), tonic::Code::InvalidArgument);
    assert!(bad_type.message().contains("`invocation_type`"));

    // Rejected requests wrote nothing that a restart would bring back.
    let created_id = created.id.clone();
    server.terminate();
    let server = Server::start(&dir.path().join("data"), "buffered");
    let mut c = server.clients().await;
    let functions = c
        .functions
        .list_functions(pb::ListFunctionsRequest {})
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = functions
        .functions
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(names, vec!["f"]);
    let mappings = c
        .mappings
        .list_mappings(pb::ListMappingsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = mappings.mappings.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, vec![created_id.as_str()]);
}
