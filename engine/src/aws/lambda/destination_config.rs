//! Lambda's `DestinationConfig` in requests (event source mappings and event invoke
//! configs): eddy sends failures to Kinesis streams of this server, and has no `OnSuccess`
//! destinations.

use serde::Deserialize;

use super::arns::stream_name;
use super::error::LambdaError;
use crate::aws::AwsApi;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Destination {
    destination: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct DestinationConfig {
    on_success: Option<Destination>,
    on_failure: Option<Destination>,
}

impl DestinationConfig {
    /// The on-failure stream: `Some("")` removes it (an empty `OnFailure`).
    pub fn on_failure_stream(self, api: &AwsApi) -> Result<Option<String>, LambdaError> {
        if self
            .on_success
            .is_some_and(|success| success.destination.is_some_and(|d| !d.is_empty()))
        {
            return Err(LambdaError::invalid_parameter(
                "`DestinationConfig.OnSuccess` is not supported: eddy sends only failures, to \
                 Kinesis streams",
            ));
        }
        match self.on_failure.map(|failure| failure.destination) {
            None => Ok(None),
            Some(None) => Ok(Some(String::new())),
            Some(Some(arn)) if arn.is_empty() => Ok(Some(String::new())),
            Some(Some(arn)) => {
                stream_name(api, "DestinationConfig.OnFailure.Destination", &arn).map(Some)
            }
        }
    }
}
