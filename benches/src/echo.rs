//! `eddy-bench echo-serve`: the gRPC transport ceiling. A tonic server with eddy's
//! `Records` service and eddy's HTTP/2 settings (windows, frame and message sizes) that
//! answers PutRecord, PutRecords and each PutRecordStream request at once with a plausible response (a shard id and a
//! made-up increasing sequence number per entry) and stores nothing.
//!
//! `eddy-bench compare` starts it as a child process like every other system and drives
//! it with the same client and payloads as eddy gRPC, so eddy / echo is what eddy costs
//! beyond decoding, HTTP/2 and loopback TCP.
//!
//! [`start_delivery_floor`] runs the same server inside the benchmark's process and hands
//! every put's payloads on receipt to a [`crate::open_loop::Sink`]: the put → handler
//! latency floor of `eddy-bench e2e` and of W4, with eddy's storage, commit and delivery
//! taken out and the load generator, client, HTTP/2 and loopback TCP kept.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};

use eddy::grpc::{
    CONNECTION_WINDOW_BYTES, MAX_CONCURRENT_STREAMS, MAX_DECODING_MESSAGE_BYTES,
    MAX_ENCODING_MESSAGE_BYTES, MAX_FRAME_BYTES, STREAM_WINDOW_BYTES,
};
use eddy_proto::v1 as pb;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status};

use crate::open_loop::{observe_in, SinkSlot};

/// The line `echo-serve` prints once it listens, followed by the address.
pub const BANNER: &str = "echo listening grpc=";

#[derive(clap::Args, Clone)]
pub struct EchoArgs {
    /// Where to listen (port 0: any free port, printed in the banner).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
}

#[derive(Default)]
struct Echo {
    next_seq: AtomicU64,
    /// Handed every put's payloads on receipt, when the echo stands in for delivery.
    sink: Option<SinkSlot>,
}

/// Hands `payloads` to the sink of `sink`'s slot, when the echo stands in for delivery.
fn deliver<'a>(sink: &Option<SinkSlot>, payloads: impl ExactSizeIterator<Item = &'a [u8]>) {
    if let Some(slot) = sink {
        observe_in(slot, payloads);
    }
}

impl Echo {
    /// A sequence number per record, as eddy's would be: increasing, never reused.
    fn sequence_numbers(&self, count: usize) -> std::ops::Range<u64> {
        let first = self.next_seq.fetch_add(count as u64, Ordering::Relaxed);
        first..first + count as u64
    }
}

const SHARD_ID: &str = "shardId-000000000000";

fn put_results(sequence_numbers: std::ops::Range<u64>) -> Vec<pb::PutRecordsResult> {
    sequence_numbers
        .map(|sequence_number| pb::PutRecordsResult {
            shard_id: SHARD_ID.into(),
            sequence_number,
            error_code: String::new(),
            error_message: String::new(),
        })
        .collect()
}

type PutStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::PutRecordStreamResponse, Status>> + Send>>;

type NoStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::SubscribeToShardEvent, Status>> + Send>>;

#[tonic::async_trait]
impl pb::records_server::Records for Echo {
    async fn put_record(
        &self,
        request: Request<pb::PutRecordRequest>,
    ) -> Result<Response<pb::PutRecordResponse>, Status> {
        deliver(&self.sink, std::iter::once(request.get_ref().data.as_ref()));
        Ok(Response::new(pb::PutRecordResponse {
            shard_id: SHARD_ID.into(),
            sequence_number: self.sequence_numbers(1).start,
        }))
    }

    async fn put_records(
        &self,
        request: Request<pb::PutRecordsRequest>,
    ) -> Result<Response<pb::PutRecordsResponse>, Status> {
        let records = &request.get_ref().records;
        deliver(
            &self.sink,
            records.iter().map(|record| record.data.as_ref()),
        );
        let count = records.len();
        Ok(Response::new(pb::PutRecordsResponse {
            failed_record_count: 0,
            records: put_results(self.sequence_numbers(count)),
        }))
    }

    type PutRecordStreamStream = PutStream;

    async fn put_record_stream(
        &self,
        request: Request<tonic::Streaming<pb::PutRecordStreamRequest>>,
    ) -> Result<Response<Self::PutRecordStreamStream>, Status> {
        // Sequence numbers of this call only: increasing, as eddy's are per shard.
        let mut next_seq = 0;
        let sink = self.sink.clone();
        let responses = request.into_inner().map(move |request| {
            request.map(|request| {
                deliver(
                    &sink,
                    request.records.iter().map(|record| record.data.as_ref()),
                );
                let first = next_seq;
                next_seq += request.records.len() as u64;
                pb::PutRecordStreamResponse {
                    request_id: request.request_id,
                    records: put_results(first..next_seq),
                    error_code: 0,
                    error_message: String::new(),
                }
            })
        });
        Ok(Response::new(Box::pin(responses)))
    }

    async fn get_shard_iterator(
        &self,
        _request: Request<pb::GetShardIteratorRequest>,
    ) -> Result<Response<pb::GetShardIteratorResponse>, Status> {
        Err(Status::unimplemented("the echo server only answers puts"))
    }

    async fn get_records(
        &self,
        _request: Request<pb::GetRecordsRequest>,
    ) -> Result<Response<pb::GetRecordsResponse>, Status> {
        Err(Status::unimplemented("the echo server only answers puts"))
    }

    type SubscribeToShardStream = NoStream;

    async fn subscribe_to_shard(
        &self,
        _request: Request<pb::SubscribeToShardRequest>,
    ) -> Result<Response<Self::SubscribeToShardStream>, Status> {
        Err(Status::unimplemented("the echo server only answers puts"))
    }
}

pub async fn run(args: EchoArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    println!("{BANNER}{}", listener.local_addr()?);
    serve(listener, Echo::default()).await
}

/// Starts an echo server on a free loopback port on this runtime that hands every put's
/// payloads to the sink in `slot` when it receives them. Returns its address and its task,
/// which serves until aborted or until the runtime ends.
pub async fn start_delivery_floor(
    slot: SinkSlot,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let echo = Echo {
        sink: Some(slot),
        ..Echo::default()
    };
    // Task: bench-echo-floor; serves until aborted or the runtime ends.
    let task = tokio::spawn(async move {
        if let Err(error) = serve(listener, echo).await {
            eprintln!("the in-process echo server failed: {error:#}");
        }
    });
    Ok((addr, task))
}

async fn serve(listener: tokio::net::TcpListener, echo: Echo) -> anyhow::Result<()> {
    let records = pb::records_server::RecordsServer::new(echo)
        .max_decoding_message_size(MAX_DECODING_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_ENCODING_MESSAGE_BYTES);
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .initial_stream_window_size(STREAM_WINDOW_BYTES)
        .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .add_service(records)
        .serve_with_incoming(incoming)
        .await?;
    Ok(())
}
