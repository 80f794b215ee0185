//! What the Lambda API records about a function beyond what eddy needs to run it: the
//! Lambda runtime name, handler, role, description, code digest and size, revision id and
//! architectures. Persisted with the function (so `GetFunction` answers the same after a
//! restart); functions defined through eddy's own gRPC API have none.
//!
//! # Invariants
//! - `code_revision` names the directory (under the server's function-code directory)
//!   the function's code was unpacked into; the function's `workdir` is that directory.
//! - `revision_id` changes on every change of the function.

use eddy_shards::InvalidArgument;
use serde::{Deserialize, Serialize};

/// Lambda's limit on a function's description.
pub const MAX_DESCRIPTION_CHARS: usize = 256;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LambdaMetadata {
    /// The Lambda runtime name, e.g. `python3.12` or `provided.al2023`.
    pub runtime: String,
    /// The `Handler` as given (may be empty for `provided` runtimes).
    pub handler: String,
    /// Accepted and stored; eddy does not use IAM.
    pub role: String,
    pub description: String,
    /// Base64 of the SHA-256 of the zip.
    pub code_sha256: String,
    /// Size of the zip in bytes.
    pub code_size_bytes: u64,
    /// The directory name of the unpacked code under the function's code directory.
    pub code_revision: String,
    pub revision_id: String,
    pub architectures: Vec<String>,
    /// When the event invoke config was last put or updated (milliseconds since the Unix
    /// epoch); `None` when the function has none (`GetFunctionEventInvokeConfig` then
    /// answers not found).
    pub event_invoke_config_modified_millis: Option<u64>,
}

impl LambdaMetadata {
    pub fn validate(&self) -> Result<(), InvalidArgument> {
        let chars = self.description.chars().count();
        if chars > MAX_DESCRIPTION_CHARS {
            return Err(InvalidArgument::new(
                "Description",
                format!("must be at most {MAX_DESCRIPTION_CHARS} characters, got {chars}"),
            ));
        }
        if self.handler.len() > 128 {
            return Err(InvalidArgument::new(
                "Handler",
                format!("must be at most 128 characters, got {}", self.handler.len()),
            ));
        }
        if self.role.len() > 2048 {
            return Err(InvalidArgument::new(
                "Role",
                "must be at most 2048 characters",
            ));
        }
        for architecture in &self.architectures {
            if architecture != "x86_64" && architecture != "arm64" {
                return Err(InvalidArgument::new(
                    "Architectures",
                    format!("must be x86_64 or arm64, got {architecture:?}"),
                ));
            }
        }
        if self.architectures.len() > 1 {
            return Err(InvalidArgument::new(
                "Architectures",
                "must hold exactly one architecture",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_named() {
        let mut metadata = LambdaMetadata {
            description: "x".repeat(257),
            ..LambdaMetadata::default()
        };
        let err = metadata.validate().unwrap_err().to_string();
        assert!(err.contains("`Description` must be at most 256"), "{err}");
        metadata.description.clear();
        metadata.architectures = vec!["sparc".into()];
        let err = metadata.validate().unwrap_err().to_string();
        assert!(err.contains("`Architectures`"), "{err}");
        metadata.architectures = vec!["arm64".into()];
        metadata.validate().unwrap();
    }

    #[test]
    fn old_records_without_fields_load() {
        let metadata: LambdaMetadata = serde_json::from_str(r#"{"runtime":"python3.12"}"#).unwrap();
        assert_eq!(metadata.runtime, "python3.12");
        assert_eq!(metadata.event_invoke_config_modified_millis, None);
    }
}
