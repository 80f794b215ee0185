//! One PutRecordStream call: the stream of acknowledgements that also reads the requests.
//!
//! [`PutPipeline`] is the call's response stream, and it is polled by the HTTP/2 stream's
//! own task. Each poll reads every request that has arrived (while fewer than
//! [`PUT_STREAM_IN_FLIGHT`] await their acknowledgement), submits those that arrived
//! together to the log in one go, so on an idle log they share one commit and one wake-up
//! of the readers, and yields the oldest acknowledgement once it is ready. The call has no
//! task of its own: a put costs no hand-off between tasks beyond what HTTP/2 already does,
//! and a put that commits inline is acknowledged in the same poll that read it.
//!
//! One task per call also means one core per call. While the task keeps up it commits
//! inline (on an idle log), the fastest way for one put. When it falls behind, it hands
//! its commits to the writer thread ([`CommitOn::WriterThread`]) and reads and encodes
//! the next requests while they commit: it is behind when a read fills a whole coalesced
//! group, or when it spent most of the last few milliseconds in its own polls (see
//! [`TaskLoad`]). Committing every put inline, one call at 150k single-record puts/s kept
//! its task 70–95 % busy, and a stall of a few milliseconds left it behind for hundreds
//! of milliseconds or for good: put → handler p99 of 20–220 ms (median 77) in 7 runs of
//! 5 s on the 2-core VM, against 2.3–22 ms (median 4.5) in 8 runs with the hand-off. It
//! costs latency when it was not needed: at 130k/s the median p99 of 20 runs rose from
//! 1.9 to 2.7 ms, while the worst run fell from 66 to 7.3 ms.
//!
//! # Invariants
//! - Requests are submitted in arrival order and acknowledged in that order, each with its
//!   `request_id`.
//! - A client that stops reading acknowledgements stops being read: the response's HTTP/2
//!   flow-control window fills, the stream is no longer polled, and the client's requests
//!   wait under its own flow control instead of in server memory.
//! - On a request that cannot be read, or on shutdown, reading stops; everything read is
//!   still acknowledged, then the call ends with the reason.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use eddy_proto::v1 as pb;
use eddy_shards::limits::check_stream_name;
use eddy_shards::{CommitOn, Log, PendingAppend};
use tokio_stream::Stream;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tonic::{Status, Streaming};

use super::records::{append_records, put_results};
use super::status;
use super::task_load::TaskLoad;

/// PutRecordStream requests one call may have awaiting acknowledgement before the server
/// stops reading it.
const PUT_STREAM_IN_FLIGHT: usize = 1024;
/// At most this many PutRecordStream requests that have already arrived are submitted
/// together.
const COALESCED_REQUESTS: usize = 64;

/// A request handed to the log (or refused before anything was queued), by request id.
type InFlightPut = (u64, Result<PendingAppend, Status>);

pub(super) struct PutPipeline {
    log: Arc<Log>,
    requests: Streaming<pb::PutRecordStreamRequest>,
    in_flight: VecDeque<InFlightPut>,
    reading: bool,
    /// Why the call ends with an error once what was read is acknowledged: the server is
    /// shutting down, or a request could not be read (too big, undecodable).
    ending: Option<Status>,
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
    ended: bool,
    load: TaskLoad,
}

impl PutPipeline {
    pub(super) fn new(
        log: Arc<Log>,
        requests: Streaming<pb::PutRecordStreamRequest>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            log,
            requests,
            in_flight: VecDeque::new(),
            reading: true,
            ending: None,
            shutdown: Box::pin(shutdown.cancelled_owned()),
            ended: false,
            load: TaskLoad::new(Instant::now()),
        }
    }

    /// Reads and submits every request that has arrived, while there is room in flight.
    fn read_arrived(&mut self, cx: &mut Context<'_>) {
        if self.reading && self.shutdown.as_mut().poll(cx).is_ready() {
            self.reading = false;
            self.ending = Some(status::shutting_down());
        }
        while self.reading && self.in_flight.len() < PUT_STREAM_IN_FLIGHT {
            let mut arrived = Vec::new();
            while arrived.len() < COALESCED_REQUESTS
                && self.in_flight.len() + arrived.len() < PUT_STREAM_IN_FLIGHT
            {
                match Pin::new(&mut self.requests).poll_next(cx) {
                    Poll::Ready(Some(Ok(request))) => arrived.push(request),
                    // The client closed its side: acknowledge what was read, then end.
                    Poll::Ready(None) => self.reading = false,
                    // A request could not be read: acknowledge what was, then end with
                    // the reason.
                    Poll::Ready(Some(Err(status))) => {
                        self.reading = false;
                        self.ending = Some(status);
                    }
                    Poll::Pending => break,
                }
                if !self.reading {
                    break;
                }
            }
            if arrived.is_empty() {
                return;
            }
            let on = if arrived.len() == COALESCED_REQUESTS || self.load.is_busy() {
                CommitOn::WriterThread
            } else {
                CommitOn::CallerIfIdle
            };
            let submitted = submit_puts(&self.log, arrived, on);
            self.in_flight.extend(submitted);
        }
    }

    /// Reads what has arrived, then yields the oldest acknowledgement if it is ready.
    fn poll_acknowledgement(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<<Self as Stream>::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        self.read_arrived(cx);
        if let Some((_, oldest)) = self.in_flight.front_mut() {
            let outcome = match oldest {
                Ok(pending) => match Pin::new(pending).poll(cx) {
                    Poll::Ready(outcome) => outcome.map_err(status::append),
                    Poll::Pending => return Poll::Pending,
                },
                Err(status) => Err(status.clone()),
            };
            let (request_id, _) = self.in_flight.pop_front().expect("polled the oldest");
            let response = match outcome {
                Ok(appended) => pb::PutRecordStreamResponse {
                    request_id,
                    records: put_results(&appended),
                    error_code: 0,
                    error_message: String::new(),
                },
                Err(status) => pb::PutRecordStreamResponse {
                    request_id,
                    records: Vec::new(),
                    error_code: status.code() as i32,
                    error_message: status.message().to_owned(),
                },
            };
            return Poll::Ready(Some(Ok(response)));
        }
        if self.reading {
            return Poll::Pending;
        }
        self.ended = true;
        Poll::Ready(self.ending.take().map(Err))
    }
}

impl Stream for PutPipeline {
    type Item = Result<pb::PutRecordStreamResponse, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let started = Instant::now();
        let polled = this.poll_acknowledgement(cx);
        this.load.add_poll(started, Instant::now());
        polled
    }
}

/// Submits requests in order; one in-flight entry per request, in order.
fn submit_puts(
    log: &Log,
    requests: Vec<pb::PutRecordStreamRequest>,
    on: CommitOn,
) -> Vec<InFlightPut> {
    let mut in_flight = Vec::with_capacity(requests.len());
    let mut valid = Vec::with_capacity(requests.len());
    for request in requests {
        match check_stream_name("stream_name", &request.stream_name) {
            Ok(()) => {
                in_flight.push((request.request_id, None));
                valid.push((request.stream_name, append_records(request.records)));
            }
            Err(invalid) => in_flight.push((
                request.request_id,
                Some(Err(status::invalid_argument(invalid))),
            )),
        }
    }
    let mut submitted = log.submit_records_all(valid, on).into_iter();
    in_flight
        .into_iter()
        .map(|(request_id, checked)| {
            let outcome = checked.unwrap_or_else(|| {
                submitted
                    .next()
                    .expect("one outcome per valid request")
                    .map_err(status::append)
            });
            (request_id, outcome)
        })
        .collect()
}
