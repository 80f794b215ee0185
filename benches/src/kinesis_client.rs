//! A small Kinesis JSON 1.1 client over HTTP/1.1 keep-alive, used for every system that
//! speaks the Kinesis API (kinesalite and eddy's own Kinesis endpoint), so that their
//! figures share one client. Requests carry a well-formed SigV4 `Authorization` header
//! with a dummy signature: neither server checks it unless configured to.

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

#[derive(Clone)]
pub struct KinesisClient {
    endpoint: String,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

impl KinesisClient {
    pub fn new(endpoint: &str) -> Self {
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(4)
            .build(connector);
        Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            client,
        }
    }

    /// Calls `operation` with a JSON body; a non-200 answer is an error carrying its body.
    pub async fn call(&self, operation: &str, body: &Value) -> anyhow::Result<Value> {
        let request = Request::post(format!("{}/", self.endpoint))
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", format!("Kinesis_20131202.{operation}"))
            .header("x-amz-date", "20261129T000000Z")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20261129/us-east-1/kinesis/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=00",
            )
            .body(Full::new(Bytes::from(serde_json::to_vec(body)?)))?;
        let response = self
            .client
            .request(request)
            .await
            .with_context(|| format!("{operation} request failed"))?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            bail!(
                "{operation} answered {status}: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// Creates a stream and waits until it is ACTIVE (kinesalite makes streams CREATING
    /// first).
    pub async fn create_stream(&self, name: &str, shards: u32) -> anyhow::Result<()> {
        self.call(
            "CreateStream",
            &json!({"StreamName": name, "ShardCount": shards}),
        )
        .await?;
        for _ in 0..500 {
            let summary = self
                .call("DescribeStreamSummary", &json!({"StreamName": name}))
                .await?;
            if summary["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE" {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        bail!("stream {name} did not become ACTIVE")
    }

    pub async fn put_record(&self, stream: &str, key: &str, data: &[u8]) -> anyhow::Result<()> {
        self.call(
            "PutRecord",
            &json!({"StreamName": stream, "PartitionKey": key, "Data": STANDARD.encode(data)}),
        )
        .await?;
        Ok(())
    }

    /// PutRecords; every entry must succeed.
    pub async fn put_records(&self, stream: &str, records: &[(&str, &[u8])]) -> anyhow::Result<()> {
        let entries: Vec<Value> = records
            .iter()
            .map(|(key, data)| json!({"PartitionKey": key, "Data": STANDARD.encode(data)}))
            .collect();
        let answer = self
            .call(
                "PutRecords",
                &json!({"StreamName": stream, "Records": entries}),
            )
            .await?;
        let failed = answer["FailedRecordCount"].as_u64().unwrap_or(0);
        if failed > 0 {
            bail!("PutRecords: {failed} entries failed: {}", answer["Records"]);
        }
        Ok(())
    }
}
