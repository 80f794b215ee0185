//! The asynchronous invocation queue against a real log on a manual clock: an event that
//! keeps failing goes to the on-failure stream with Lambda's record once it is older than
//! MaximumEventAgeInSeconds, without further invocations.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eddy_consumers::event_queue::{EventQueue, QueueSettings};
use eddy_consumers::function_spec::AsyncInvokeConfig;
use eddy_consumers::functions::{FunctionSettings, Functions};
use eddy_consumers::handler::{BoxFuture, NativeHandler, Outcome, RecordBatch};
use eddy_consumers::invoke::{InvocationType, Invoker};
use eddy_shards::{Durability, Log, LogConfig, ManualClock};
use tokio_util::sync::CancellationToken;

struct AlwaysFails {
    calls: AtomicU32,
}

impl NativeHandler for AlwaysFails {
    fn handle<'a>(&'a self, _batch: &'a RecordBatch) -> BoxFuture<'a, Outcome> {
        Box::pin(async { Outcome::failed("Unused", "mapping batches are not used here") })
    }

    fn invoke<'a>(&'a self, _payload: Bytes) -> BoxFuture<'a, Outcome> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Outcome::failed("ValueError", "always fails") })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_past_its_maximum_age_goes_to_the_failure_stream() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let log = Arc::new(
        Log::open(
            &dir.path().join("data"),
            LogConfig {
                durability: Durability::Buffered,
                clock: clock.clone(),
                ..LogConfig::default()
            },
        )
        .unwrap(),
    );
    log.create_stream("failed-events", 1, 24).await.unwrap();
    let shutdown = CancellationToken::new();
    let functions = Arc::new(
        Functions::open(
            log.clone(),
            FunctionSettings::new(dir.path().join("logs")),
            shutdown.clone(),
        )
        .unwrap(),
    );
    let handler = Arc::new(AlwaysFails {
        calls: AtomicU32::new(0),
    });
    functions.register_native_with(
        "fails",
        handler.clone(),
        Duration::from_secs(3),
        AsyncInvokeConfig {
            max_retries: 2,
            max_event_age_secs: 60,
            on_failure_stream: Some("failed-events".into()),
        },
    );
    let queue = EventQueue::open(
        log.clone(),
        functions.clone(),
        QueueSettings {
            first_retry_delay: Duration::from_millis(10),
            ..QueueSettings::default()
        },
        shutdown.clone(),
    )
    .unwrap();
    let dispatcher = tokio::spawn(queue.clone().run());
    let invoker = Invoker::new(functions, queue.clone());
    let invoked = invoker
        .invoke(
            "fails",
            Bytes::from_static(br#"{"order": 7}"#),
            InvocationType::Event,
        )
        .await
        .unwrap();
    assert!(
        invoked.outcome.is_none(),
        "an event is queued, not run inline"
    );

    // The first try fails; its retry waits 10 ms of the (frozen) log clock.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while handler.calls.load(Ordering::SeqCst) < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first try never ran"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        handler.calls.load(Ordering::SeqCst),
        1,
        "the retry is not due yet"
    );
    // 61 s later the retry is due, but the event is too old to run again.
    clock.advance_millis(61_000);
    let shard = log.shards("failed-events").unwrap().remove(0);
    let record = loop {
        let batch = log.read(&shard, 0, 10, 1 << 20).unwrap();
        if let Some(record) = batch.records.first() {
            break record.clone();
        }
        assert!(std::time::Instant::now() < deadline, "no failure record");
        // If the failed try scheduled its retry only after the jump (a slow machine), the
        // retry is 10 ms past the jumped clock: keep the frozen clock moving until it runs.
        clock.advance_millis(10);
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let failure: serde_json::Value = serde_json::from_slice(&record.data).unwrap();
    assert_eq!(failure["requestContext"]["condition"], "EventAgeExceeded");
    assert_eq!(
        failure["requestContext"]["requestId"],
        invoked.request_id.as_str()
    );
    assert_eq!(failure["requestContext"]["approximateInvokeCount"], 1);
    assert_eq!(failure["requestPayload"]["order"], 7);
    assert_eq!(
        handler.calls.load(Ordering::SeqCst),
        1,
        "no try after the age ran out"
    );
    // The record is visible before the event's own bookkeeping ends.
    while !queue.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the event stayed in the queue"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(queue.stats.sent_to_destination.load(Ordering::SeqCst), 1);
    assert_eq!(handler.calls.load(Ordering::SeqCst), 1);

    shutdown.cancel();
    dispatcher.await.unwrap();
}
