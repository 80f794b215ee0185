//! The Lambda Runtime API against a real worker process: a Python program that speaks the
//! protocol over one kept-alive `http.client` connection, as runtime interface clients do
//! (it would hang on a 202 without a Content-Length).

use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use eddy_consumers::handler::Outcome;
use eddy_consumers::process_pool::INIT_TIMEOUT;
use eddy_consumers::runtime_api::RuntimeApi;
use tokio_util::sync::CancellationToken;

const WORKER: &str = r#"
import http.client, json, os, sys, time
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
conn = http.client.HTTPConnection(host, int(port))
conn.request("POST", "/2018-06-01/runtime/init/error",
             body=json.dumps({"errorMessage": "just testing", "errorType": "Runtime.TestInit"}))
assert conn.getresponse().read() is not None
while True:
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    r = conn.getresponse()
    payload = r.read()
    if r.status != 200:
        sys.exit(0)
    rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
    deadline = int(r.getheader("Lambda-Runtime-Deadline-Ms"))
    arn = r.getheader("Lambda-Runtime-Invoked-Function-Arn")
    trace = r.getheader("Lambda-Runtime-Trace-Id")
    event = json.loads(payload)
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("fail"):
        body = json.dumps({"errorMessage": event["fail"], "errorType": "ValueError", "stackTrace": []})
        conn.request("POST", f"/2018-06-01/runtime/invocation/{rid}/error", body=body,
                     headers={"Lambda-Runtime-Function-Error-Type": "Unhandled"})
    else:
        now = int(time.time() * 1000)
        body = json.dumps({"echo": event, "id": rid, "arn": arn, "trace": bool(trace),
                           "deadline_in_future": now < deadline < now + 120000})
        conn.request("POST", f"/2018-06-01/runtime/invocation/{rid}/response", body=body)
    ack = conn.getresponse()
    ack.read()
    print(ack.status, flush=True)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_worker_process_serves_invocations() {
    let shutdown = CancellationToken::new();
    let arn = "arn:aws:lambda:us-east-1:000000000000:function:echo";
    let api = RuntimeApi::start(arn, shutdown.clone()).await.unwrap();
    let mut worker = Command::new("python3")
        .args(["-c", WORKER])
        .env("AWS_LAMBDA_RUNTIME_API", api.endpoint())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs");
    // The worker prints the status of each ack it gets.
    let stdout = worker.stdout.take().unwrap();
    let (acks_tx, acks_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = acks_tx.send(line);
        }
    });

    let ok = api
        .invoke(
            "req-1",
            Bytes::from_static(br#"{"n": 1}"#),
            INIT_TIMEOUT,
            Duration::from_secs(30),
        )
        .await;
    let Outcome::Success(body) = ok else {
        panic!("expected success, got {ok:?}")
    };
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["echo"]["n"], 1);
    assert_eq!(body["id"], "req-1");
    assert_eq!(body["arn"], arn);
    assert_eq!(body["trace"], true);
    assert_eq!(
        body["deadline_in_future"], true,
        "the deadline is real epoch milliseconds"
    );

    let failed = api
        .invoke(
            "req-2",
            Bytes::from_static(br#"{"fail": "bad input"}"#),
            INIT_TIMEOUT,
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(failed, Outcome::failed("ValueError", "bad input"));

    // A slow invocation times out; the worker's late answer is refused, and the next
    // invocation still works on the same kept-alive connection.
    let slow = api
        .invoke(
            "req-3",
            Bytes::from_static(br#"{"sleep": 1.0}"#),
            INIT_TIMEOUT,
            Duration::from_millis(200),
        )
        .await;
    assert!(
        matches!(&slow, Outcome::Failed(e) if e.error_type == "Sandbox.Timedout"),
        "{slow:?}"
    );
    let after = api
        .invoke(
            "req-4",
            Bytes::from_static(br#"{"n": 4}"#),
            INIT_TIMEOUT,
            Duration::from_secs(30),
        )
        .await;
    assert!(matches!(after, Outcome::Success(_)), "{after:?}");

    let init = api.init_error().expect("the worker reported an init error");
    assert_eq!(
        (init.error_type.as_str(), init.message.as_str()),
        ("Runtime.TestInit", "just testing")
    );

    let acks: Vec<String> = (0..4)
        .map(|_| {
            acks_rx
                .recv_timeout(Duration::from_secs(30))
                .expect("an ack line")
        })
        .collect();
    assert_eq!(
        acks,
        vec!["202", "202", "400", "202"],
        "202s for answers, 400 for the late one"
    );
    shutdown.cancel();
    let _ = worker.kill();
    let _ = worker.wait();
}
