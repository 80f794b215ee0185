//! The Kinesis Data Streams API: `POST /` with `X-Amz-Target: Kinesis_20131202.<Op>`, in
//! JSON 1.1 (blobs base64) or CBOR 1.1 (blobs raw, timestamps as tag 1 epoch millis).

use std::sync::Arc;

use axum::Router;

use super::AwsApi;

pub fn routes() -> Router<Arc<AwsApi>> {
    Router::new()
}
