//! A pipelining eddy producer: every put of every clone goes on one `PutRecordStream`
//! call, without waiting for the acknowledgements of earlier ones, as Redis's multiplexed
//! connection pipelines XADDs and NATS publishes asynchronously. The server acknowledges
//! in request order, so waiters are kept in a queue in the order their requests were sent.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use eddy_proto::v1 as pb;
use eddy_shards::sync::Mutex;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::Channel;

use crate::systems::put_entries;

type Waiter = oneshot::Sender<Result<(), String>>;

struct Pipeline {
    requests_tx: mpsc::UnboundedSender<pb::PutRecordStreamRequest>,
    next_request_id: u64,
    /// Waiters in the order their requests were sent (the order of the acknowledgements);
    /// none for a request sent with [`PutStream::send`].
    waiting: VecDeque<(u64, Option<Waiter>)>,
}

#[derive(Clone)]
pub struct PutStream {
    pipeline: Arc<Mutex<Pipeline>>,
    /// Requests sent with [`PutStream::send`] that failed or were never acknowledged.
    unwaited_failures: Arc<AtomicU64>,
}

impl PutStream {
    /// Opens the call and starts the task that hands acknowledgements to their waiters.
    pub async fn open(
        mut client: pb::records_client::RecordsClient<Channel>,
    ) -> anyhow::Result<Self> {
        let (requests_tx, requests_rx) = mpsc::unbounded_channel();
        let mut responses = client
            .put_record_stream(UnboundedReceiverStream::new(requests_rx))
            .await?
            .into_inner();
        let pipeline = Arc::new(Mutex::new(Pipeline {
            requests_tx,
            next_request_id: 0,
            waiting: VecDeque::new(),
        }));
        let acks = pipeline.clone();
        let unwaited_failures = Arc::new(AtomicU64::new(0));
        let failures = unwaited_failures.clone();
        // Task: bench-put-acks, one per PutStream; ends with the call.
        tokio::spawn(async move {
            let failure = loop {
                match responses.message().await {
                    Ok(Some(response)) => {
                        let Some((request_id, waiter)) = acks.lock().waiting.pop_front() else {
                            break format!("unexpected acknowledgement {}", response.request_id);
                        };
                        if request_id != response.request_id {
                            break format!(
                                "acknowledgement {} arrived for request {request_id}",
                                response.request_id
                            );
                        }
                        let outcome = match response.error_code {
                            0 => Ok(()),
                            code => Err(format!("code {code}: {}", response.error_message)),
                        };
                        match waiter {
                            Some(waiter) => drop(waiter.send(outcome)),
                            None if outcome.is_err() => {
                                failures.fetch_add(1, Ordering::Relaxed);
                            }
                            None => {}
                        }
                    }
                    Ok(None) => break "the put stream ended".to_owned(),
                    Err(status) => break format!("the put stream failed: {status}"),
                }
            };
            for (_, waiter) in acks.lock().waiting.drain(..) {
                match waiter {
                    Some(waiter) => drop(waiter.send(Err(failure.clone()))),
                    None => drop(failures.fetch_add(1, Ordering::Relaxed)),
                }
            }
        });
        Ok(Self {
            pipeline,
            unwaited_failures,
        })
    }

    /// Sends a put without waiting for its acknowledgement (no task, no waiter): for an
    /// open-loop pacer thread. A failure only counts in [`PutStream::unwaited_failures`].
    pub fn send(&self, stream: &str, records: &[(String, Bytes)]) -> anyhow::Result<()> {
        self.send_request(stream, records, None)
    }

    /// Puts sent with [`PutStream::send`] that were refused or never acknowledged.
    pub fn unwaited_failures(&self) -> u64 {
        self.unwaited_failures.load(Ordering::Relaxed)
    }

    /// Puts `records` on `stream` and waits for their acknowledgement.
    pub async fn put(&self, stream: &str, records: &[(String, Bytes)]) -> anyhow::Result<()> {
        let (waiter, outcome) = oneshot::channel();
        self.send_request(stream, records, Some(waiter))?;
        outcome
            .await
            .map_err(|_| anyhow::anyhow!("the put stream closed before acknowledging"))?
            .map_err(|message| anyhow::anyhow!("put refused: {message}"))
    }

    fn send_request(
        &self,
        stream: &str,
        records: &[(String, Bytes)],
        waiter: Option<Waiter>,
    ) -> anyhow::Result<()> {
        let mut pipeline = self.pipeline.lock();
        let request_id = pipeline.next_request_id;
        pipeline.next_request_id += 1;
        let request = pb::PutRecordStreamRequest {
            request_id,
            stream_name: stream.into(),
            records: put_entries(records),
        };
        pipeline
            .requests_tx
            .send(request)
            .map_err(|_| anyhow::anyhow!("the put stream is closed"))?;
        pipeline.waiting.push_back((request_id, waiter));
        Ok(())
    }
}
