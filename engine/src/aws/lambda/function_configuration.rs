//! Lambda's `FunctionConfiguration`, as eddy shows a function to boto3 and the AWS CLI.
//!
//! Every function shows `Version: $LATEST`, `State: Active`, `LastUpdateStatus:
//! Successful` and `PackageType: Zip`. Functions defined through eddy's own API (no Lambda
//! metadata) show no `Runtime` and an empty `CodeSha256`.

use chrono::{DateTime, Utc};
use eddy_consumers::function_spec::Runtime;
use eddy_consumers::functions::Function;
use serde_json::{json, Map, Value};

/// Lambda's `LastModified` in `FunctionConfiguration`: `2026-11-29T12:00:00.000+0000`.
pub fn lambda_timestamp(millis: u64) -> String {
    let at = DateTime::<Utc>::from_timestamp_millis(millis.min(i64::MAX as u64) as i64)
        .unwrap_or_default();
    at.format("%Y-%m-%dT%H:%M:%S%.3f%z").to_string()
}

/// Epoch seconds, as Lambda's JSON timestamps elsewhere (`EventSourceMapping`,
/// `FunctionEventInvokeConfig`).
pub fn epoch_seconds(millis: u64) -> f64 {
    millis as f64 / 1000.0
}

pub fn function_configuration(function: &Function) -> Value {
    let spec = &function.spec;
    let mut config = Map::new();
    config.insert("FunctionName".into(), json!(spec.name));
    config.insert("FunctionArn".into(), json!(function.arn));
    let process_handler = match &spec.runtime {
        Runtime::Process { handler, .. } => handler.clone(),
        Runtime::Native => None,
    };
    match &spec.lambda {
        Some(lambda) => {
            config.insert("Runtime".into(), json!(lambda.runtime));
            if !lambda.handler.is_empty() {
                config.insert("Handler".into(), json!(lambda.handler));
            }
            config.insert("Role".into(), json!(lambda.role));
            config.insert("CodeSize".into(), json!(lambda.code_size_bytes));
            config.insert("CodeSha256".into(), json!(lambda.code_sha256));
            config.insert("Description".into(), json!(lambda.description));
            config.insert("RevisionId".into(), json!(lambda.revision_id));
            let architectures = if lambda.architectures.is_empty() {
                vec!["x86_64".to_string()]
            } else {
                lambda.architectures.clone()
            };
            config.insert("Architectures".into(), json!(architectures));
        }
        None => {
            if let Some(handler) = process_handler {
                config.insert("Handler".into(), json!(handler));
            }
            config.insert("CodeSize".into(), json!(0));
            config.insert("CodeSha256".into(), json!(""));
            config.insert("Description".into(), json!(""));
            config.insert("Architectures".into(), json!(["x86_64"]));
        }
    }
    config.insert("Timeout".into(), json!(spec.timeout_secs));
    config.insert("MemorySize".into(), json!(spec.memory_mb));
    config.insert(
        "LastModified".into(),
        json!(lambda_timestamp(spec.last_modified_millis)),
    );
    config.insert("Version".into(), json!("$LATEST"));
    if !spec.env.is_empty() {
        config.insert("Environment".into(), json!({"Variables": spec.env}));
    }
    config.insert("TracingConfig".into(), json!({"Mode": "PassThrough"}));
    config.insert("State".into(), json!("Active"));
    config.insert("LastUpdateStatus".into(), json!("Successful"));
    config.insert("PackageType".into(), json!("Zip"));
    config.insert("EphemeralStorage".into(), json!({"Size": 512}));
    Value::Object(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_lambdas() {
        assert_eq!(
            lambda_timestamp(1_795_953_600_123),
            "2026-11-29T12:00:00.123+0000"
        );
        assert_eq!(lambda_timestamp(0), "1970-01-01T00:00:00.000+0000");
        assert_eq!(epoch_seconds(1_500), 1.5);
    }
}
