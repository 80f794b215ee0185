//! The Lambda REST API: functions, invoke, event source mappings and event invoke
//! configs, under `/2015-03-31/` and `/2019-09-25/`.

use std::sync::Arc;

use axum::Router;

use super::AwsApi;

pub fn routes() -> Router<Arc<AwsApi>> {
    Router::new()
}
