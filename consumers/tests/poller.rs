//! The shard poller against a real log (RocksDB in a temporary dir) and native handlers.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eddy_consumers::checkpoint::CheckpointStore;
use eddy_consumers::handler::{NativeHandler, Outcome, RecordBatch};
use eddy_consumers::mapping::{MappingSpec, StartingPosition};
use eddy_consumers::poller::{run_shard_poller, MappingContext};
use eddy_consumers::stats::MappingStats;
use eddy_shards::sync::Mutex;
use eddy_shards::{AppendRecord, Durability, Log, LogConfig};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How a test's handler answers a batch, given the call's 1-based number.
type Respond = Box<dyn Fn(&RecordBatch, usize) -> Outcome + Send + Sync>;

/// Remembers every batch it saw (as sequence numbers and payloads) and answers with
/// `respond`.
struct Recorder {
    batches: Mutex<Vec<Vec<(u64, String)>>>,
    seen: Notify,
    respond: Respond,
}

impl Recorder {
    fn new(respond: impl Fn(&RecordBatch, usize) -> Outcome + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            batches: Mutex::new(Vec::new()),
            seen: Notify::new(),
            respond: Box::new(respond),
        })
    }

    fn delivered(&self) -> Vec<Vec<(u64, String)>> {
        self.batches.lock().clone()
    }

    /// Waits (bounded) until `done` holds over the batches seen so far.
    async fn wait_for(&self, done: impl Fn(&[Vec<(u64, String)>]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let notified = self.seen.notified();
            if done(&self.batches.lock()) {
                return;
            }
            assert!(
                tokio::time::timeout_at(deadline, notified).await.is_ok(),
                "timed out; saw {:?}",
                self.delivered()
            );
        }
    }
}

struct Handler(Arc<Recorder>);

impl NativeHandler for Handler {
    fn handle<'a>(
        &'a self,
        batch: &'a RecordBatch,
    ) -> eddy_consumers::handler::BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let seen: Vec<(u64, String)> = batch
                .records
                .iter()
                .map(|r| (r.seq, String::from_utf8(r.data.to_vec()).unwrap()))
                .collect();
            let call = {
                let mut batches = self.0.batches.lock();
                batches.push(seen);
                batches.len()
            };
            let outcome = (self.0.respond)(batch, call);
            self.0.seen.notify_waiters();
            outcome
        })
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    log: Arc<Log>,
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            durability: Durability::Buffered,
            ..LogConfig::default()
        };
        let log = Arc::new(Log::open(dir.path(), config).unwrap());
        log.create_stream("in", 1, 24).await.unwrap();
        log.create_stream("failures", 1, 24).await.unwrap();
        Fixture { _dir: dir, log }
    }

    async fn put(&self, payloads: &[&str]) {
        let records = payloads
            .iter()
            .map(|p| AppendRecord {
                partition_key: "k".into(),
                data: Bytes::copy_from_slice(p.as_bytes()),
                explicit_hash_key: None,
            })
            .collect();
        self.log.put_records("in", records).await.unwrap();
    }

    fn context(
        &self,
        spec: MappingSpec,
        recorder: &Arc<Recorder>,
        timeout: Duration,
    ) -> Arc<MappingContext> {
        let filters = spec.validate().unwrap();
        Arc::new(MappingContext {
            log: self.log.clone(),
            mapping_id: "m1".into(),
            spec,
            filters,
            function_arn: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
            function_timeout: timeout,
            handler: Arc::new(Handler(recorder.clone())),
            checkpoints: CheckpointStore::new(self.log.clone()),
            stats: Arc::new(MappingStats::default()),
            stream_arn: "arn:aws:kinesis:us-east-1:000000000000:stream/in".into(),
            region: "us-east-1".into(),
        })
    }

    fn start(&self, ctx: &Arc<MappingContext>) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        let cancel = CancellationToken::new();
        let shard = self.log.shard("in", "shardId-000000000000").unwrap();
        let task = tokio::spawn({
            let (ctx, cancel) = (ctx.clone(), cancel.clone());
            async move { run_shard_poller(ctx, shard, cancel).await.unwrap() }
        });
        (cancel, task)
    }

    fn failure_records(&self) -> Vec<serde_json::Value> {
        let shard = self.log.shard("failures", "shardId-000000000000").unwrap();
        self.log
            .read(&shard, 0, 1000, usize::MAX)
            .unwrap()
            .records
            .iter()
            .map(|r| serde_json::from_slice(&r.data).unwrap())
            .collect()
    }
}

fn spec() -> MappingSpec {
    MappingSpec::new("in", "f", StartingPosition::TrimHorizon)
}

fn ok() -> Outcome {
    Outcome::Success(Bytes::new())
}

fn seqs(batches: &[Vec<(u64, String)>]) -> Vec<u64> {
    batches.iter().flatten().map(|(seq, _)| *seq).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_in_order_in_batches_and_resumes_from_the_checkpoint() {
    let f = Fixture::new().await;
    let payloads: Vec<String> = (0..25).map(|i| format!("r{i}")).collect();
    f.put(&payloads.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    let recorder = Recorder::new(|_, _| ok());
    let mut spec = spec();
    spec.batch_size = 10;
    let ctx = f.context(spec.clone(), &recorder, Duration::from_secs(5));
    let (cancel, task) = f.start(&ctx);
    recorder.wait_for(|b| seqs(b).len() == 25).await;
    let batches = recorder.delivered();
    assert!(
        batches.iter().all(|b| b.len() <= 10),
        "batch size is honoured"
    );
    assert_eq!(seqs(&batches), (0..25).collect::<Vec<_>>());
    assert_eq!(
        batches
            .concat()
            .iter()
            .map(|(_, p)| p.clone())
            .collect::<Vec<_>>(),
        payloads
    );
    // Records that arrive later are pushed by the head notification.
    f.put(&["late"]).await;
    recorder.wait_for(|b| seqs(b).len() == 26).await;
    // Once the shard is quiet, the checkpoint is written without a shutdown (so a
    // `kill -9` now would not redeliver).
    let checkpoints = CheckpointStore::new(f.log.clone());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while checkpoints.get("m1", "shardId-000000000000").unwrap() != Some(26) {
        assert!(
            std::time::Instant::now() < deadline,
            "the idle checkpoint was never written"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!task.is_finished());
    cancel.cancel();
    task.await.unwrap();
    assert_eq!(ctx.stats.snapshot().records_delivered, 26);
    assert_eq!(
        CheckpointStore::new(f.log.clone())
            .get("m1", "shardId-000000000000")
            .unwrap(),
        Some(26)
    );

    // A new poller (as after a restart) resumes after the checkpoint: no redelivery.
    f.put(&["after-restart"]).await;
    let again = Recorder::new(|_, _| ok());
    let ctx = f.context(spec, &again, Duration::from_secs(5));
    let (cancel, task) = f.start(&ctx);
    again.wait_for(|b| !b.is_empty()).await;
    assert_eq!(
        again.delivered(),
        vec![vec![(26, "after-restart".to_string())]]
    );
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_is_bisected_out_to_the_failure_stream_and_the_rest_flows() {
    let f = Fixture::new().await;
    f.put(&["a", "b", "c", "POISON", "e", "f", "g", "h"]).await;
    let recorder = Recorder::new(|batch, _| {
        if batch.records.iter().any(|r| &r.data[..] == b"POISON") {
            Outcome::failed("Poisoned", "cannot digest this")
        } else {
            ok()
        }
    });
    let mut spec = spec();
    spec.bisect_on_error = true;
    spec.max_retries = 2;
    spec.on_failure_stream = Some("failures".into());
    let ctx = f.context(spec, &recorder, Duration::from_secs(5));
    let (cancel, task) = f.start(&ctx);
    f.put(&["after"]).await;
    // Done once a batch without the poison record delivered "after".
    recorder
        .wait_for(|b| {
            b.iter().any(|batch| {
                batch.iter().any(|(_, p)| p == "after") && !batch.iter().any(|(_, p)| p == "POISON")
            })
        })
        .await;
    cancel.cancel();
    task.await.unwrap();

    let succeeded: Vec<String> = recorder
        .delivered()
        .iter()
        .filter(|b| !b.iter().any(|(_, p)| p == "POISON"))
        .flatten()
        .map(|(_, p)| p.clone())
        .collect();
    assert_eq!(
        succeeded,
        vec!["a", "b", "c", "e", "f", "g", "h", "after"],
        "the rest flows, in order: {:?}",
        recorder.delivered()
    );
    let failures = f.failure_records();
    assert_eq!(failures.len(), 1);
    let failure = &failures[0];
    assert_eq!(
        failure["requestContext"]["condition"],
        "RetryAttemptsExhausted"
    );
    assert_eq!(failure["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(failure["responseContext"]["functionError"], "Poisoned");
    assert_eq!(failure["KinesisBatchInfo"]["startSequenceNumber"], "3");
    assert_eq!(failure["KinesisBatchInfo"]["batchSize"], 1);
    assert_eq!(
        failure["records"][0]["data"], "UE9JU09O",
        "the payload itself: base64 of POISON"
    );
    let stats = ctx.stats.snapshot();
    assert_eq!(stats.records_to_failure_destination, 1);
    assert_eq!(stats.records_delivered, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_batch_item_failures_rewinds_to_the_lowest_failed_item() {
    let f = Fixture::new().await;
    f.put(&["0", "1", "2", "3", "4", "5"]).await;
    // The first call fails items 4 and 2; later calls succeed.
    let recorder = Recorder::new(|_, call| {
        if call == 1 {
            Outcome::Success(Bytes::from_static(
                br#"{"batchItemFailures":[{"itemIdentifier":"4"},{"itemIdentifier":"2"}]}"#,
            ))
        } else {
            ok()
        }
    });
    let mut spec = spec();
    spec.report_batch_item_failures = true;
    let ctx = f.context(spec, &recorder, Duration::from_secs(5));
    let (cancel, task) = f.start(&ctx);
    recorder.wait_for(|b| b.len() == 2).await;
    cancel.cancel();
    task.await.unwrap();
    let batches = recorder.delivered();
    assert_eq!(seqs(&batches[..1]), vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(
        seqs(&batches[1..]),
        vec![2, 3, 4, 5],
        "retried from the lowest failed item"
    );
    assert_eq!(ctx.stats.snapshot().records_delivered, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_item_failure_response_fails_the_whole_batch() {
    let f = Fixture::new().await;
    f.put(&["0", "1"]).await;
    let recorder = Recorder::new(|_, call| {
        if call == 1 {
            Outcome::Success(Bytes::from_static(
                br#"{"batchItemFailures":[{"itemIdentifier":"77"}]}"#,
            ))
        } else {
            ok()
        }
    });
    let mut spec = spec();
    spec.report_batch_item_failures = true;
    let ctx = f.context(spec, &recorder, Duration::from_secs(5));
    let (cancel, task) = f.start(&ctx);
    recorder.wait_for(|b| b.len() == 2).await;
    cancel.cancel();
    task.await.unwrap();
    assert_eq!(
        recorder.delivered()[1].len(),
        2,
        "the whole batch is retried"
    );
    assert_eq!(ctx.stats.snapshot().errors, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_records_are_skipped_and_checkpointed_past() {
    let f = Fixture::new().await;
    f.put(&[
        r#"{"kind":"order","n":1}"#,
        r#"{"kind":"noise"}"#,
        "not json",
        r#"{"kind":"order","n":2}"#,
    ])
    .await;
    let recorder = Recorder::new(|_, _| ok());
    let mut spec = spec();
    spec.filters = vec![r#"{"data": {"kind": ["order"]}}"#.into()];
    let ctx = f.context(spec, &recorder, Duration::from_secs(5));
    let (cancel, task) = f.start(&ctx);
    f.put(&[r#"{"kind":"noise"}"#]).await;
    recorder.wait_for(|b| seqs(b) == vec![0, 3]).await;
    // Wait for the checkpoint to move past the trailing noise record (seq 4).
    let checkpoints = CheckpointStore::new(f.log.clone());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while checkpoints.get("m1", "shardId-000000000000").unwrap() != Some(5) {
        assert!(
            std::time::Instant::now() < deadline,
            "checkpoint never passed the filtered records"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cancel.cancel();
    task.await.unwrap();
    assert_eq!(ctx.stats.snapshot().records_filtered, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_panics_are_failures_and_exhausted_records_are_counted() {
    let f = Fixture::new().await;
    f.put(&["slow", "panic"]).await;
    struct Misbehaving;
    impl NativeHandler for Misbehaving {
        fn handle<'a>(
            &'a self,
            batch: &'a RecordBatch,
        ) -> eddy_consumers::handler::BoxFuture<'a, Outcome> {
            Box::pin(async move {
                if &batch.records[0].data[..] == b"slow" {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                panic!("handler bug");
            })
        }
    }
    let mut spec = spec();
    spec.batch_size = 1;
    spec.max_retries = 0;
    let recorder = Recorder::new(|_, _| ok());
    let mut ctx = f.context(spec, &recorder, Duration::from_millis(200));
    Arc::get_mut(&mut ctx).unwrap().handler = Arc::new(Misbehaving);
    let (cancel, task) = f.start(&ctx);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while ctx.stats.snapshot().records_discarded < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            ctx.stats.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cancel.cancel();
    task.await.unwrap();
    let stats = ctx.stats.snapshot();
    assert_eq!(
        (stats.invocations, stats.errors, stats.records_delivered),
        (2, 2, 0)
    );
    assert!(
        stats
            .last_processing_result
            .contains("Runtime.HandlerPanicked"),
        "{}",
        stats.last_processing_result
    );
}

/// A plain closure handler runs inside `handle` itself; its panic is a failed
/// invocation too, and the poller lives on to deliver the next records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_closure_handler_fails_the_batch_not_the_poller() {
    let f = Fixture::new().await;
    f.put(&["boom", "fine"]).await;
    let seen = Arc::new(eddy_shards::sync::Mutex::new(Vec::new()));
    let seen_by_handler = seen.clone();
    let closure = move |batch: &RecordBatch| {
        let data = String::from_utf8(batch.records[0].data.to_vec()).unwrap();
        if data == "boom" {
            panic!("closure bug");
        }
        seen_by_handler.lock().push(data);
        ok()
    };
    let mut spec = spec();
    spec.batch_size = 1;
    spec.max_retries = 0;
    let recorder = Recorder::new(|_, _| ok());
    let mut ctx = f.context(spec, &recorder, Duration::from_secs(5));
    Arc::get_mut(&mut ctx).unwrap().handler = Arc::new(closure);
    let (cancel, task) = f.start(&ctx);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while seen.lock().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            ctx.stats.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cancel.cancel();
    task.await.unwrap();
    assert_eq!(*seen.lock(), vec!["fine".to_string()]);
    let stats = ctx.stats.snapshot();
    assert_eq!((stats.errors, stats.records_discarded), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_batching_window_gathers_records_into_one_batch() {
    let f = Fixture::new().await;
    let recorder = Recorder::new(|_, _| ok());
    let mut spec = spec();
    spec.batching_window_secs = 5;
    spec.batch_size = 3;
    let ctx = f.context(spec, &recorder, Duration::from_secs(5));
    let (cancel, task) = f.start(&ctx);
    f.put(&["one"]).await;
    f.put(&["two"]).await;
    f.put(&["three"]).await; // the batch is full: it goes before the window ends
    recorder.wait_for(|b| !b.is_empty()).await;
    assert_eq!(recorder.delivered()[0].len(), 3);
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallelization_factor_runs_lanes_in_parallel_and_keeps_order_per_key() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let f = Fixture::new().await;
    // 400 records over 20 keys.
    for chunk in 0..4 {
        let records = (0..100)
            .map(|i| AppendRecord {
                partition_key: format!("key-{}", (chunk * 100 + i) % 20),
                data: Bytes::from(format!("{}", chunk * 100 + i)),
                explicit_hash_key: None,
            })
            .collect();
        f.log.put_records("in", records).await.unwrap();
    }
    struct Concurrent {
        seen: Mutex<Vec<(String, u64)>>,
        running: AtomicUsize,
        max_running: AtomicUsize,
    }
    impl NativeHandler for Concurrent {
        fn handle<'a>(
            &'a self,
            batch: &'a RecordBatch,
        ) -> eddy_consumers::handler::BoxFuture<'a, Outcome> {
            Box::pin(async move {
                let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
                self.max_running.fetch_max(now, Ordering::SeqCst);
                // Uneven work, so that lanes drift apart and a key split across lanes
                // would show up out of order.
                let millis = 1 + batch.records[0].seq % 7;
                tokio::time::sleep(Duration::from_millis(millis)).await;
                self.seen.lock().extend(
                    batch
                        .records
                        .iter()
                        .map(|r| (r.partition_key.to_string(), r.seq)),
                );
                self.running.fetch_sub(1, Ordering::SeqCst);
                Outcome::Success(Bytes::new())
            })
        }
    }
    let handler = Arc::new(Concurrent {
        seen: Mutex::new(Vec::new()),
        running: AtomicUsize::new(0),
        max_running: AtomicUsize::new(0),
    });
    let mut spec = spec();
    spec.parallelization_factor = 4;
    spec.batch_size = 10;
    let recorder = Recorder::new(|_, _| ok());
    let mut ctx = f.context(spec, &recorder, Duration::from_secs(5));
    Arc::get_mut(&mut ctx).unwrap().handler = handler.clone();
    let (cancel, task) = f.start(&ctx);
    let checkpoints = CheckpointStore::new(f.log.clone());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while checkpoints.get("m1", "shardId-000000000000").unwrap() != Some(400) {
        assert!(
            std::time::Instant::now() < deadline,
            "checkpoint stuck; delivered {}",
            handler.seen.lock().len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cancel.cancel();
    task.await.unwrap();

    let seen = handler.seen.lock().clone();
    let mut all: Vec<u64> = seen.iter().map(|(_, seq)| *seq).collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..400).collect::<Vec<_>>(),
        "every record exactly once"
    );
    for key in 0..20 {
        let key = format!("key-{key}");
        let order: Vec<u64> = seen
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, seq)| *seq)
            .collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "{key} out of order: {order:?}"
        );
    }
    assert!(
        handler.max_running.load(Ordering::SeqCst) > 1,
        "lanes never ran concurrently"
    );
    assert_eq!(ctx.stats.snapshot().records_delivered, 400);
}
