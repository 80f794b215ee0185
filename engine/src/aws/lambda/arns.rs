//! Names and ARNs in Lambda requests: a function is named by its name, its full ARN
//! (`arn:aws:lambda:{region}:{account}:function:{name}`) or a partial ARN
//! (`{account}:function:{name}`), each optionally qualified with `:$LATEST`; a stream by
//! its Kinesis ARN (`arn:aws:kinesis:{region}:{account}:stream/{name}`).
//!
//! eddy keeps only `$LATEST` of a function: any other qualifier (a version or alias) is
//! not found.

use eddy_consumers::function_spec::check_function_name;

use super::error::{invalid_argument, LambdaError};
use crate::aws::AwsApi;

/// The function name that `raw` (name, ARN or partial ARN) names, checked against this
/// server's region and account.
pub fn function_name(api: &AwsApi, raw: &str) -> Result<String, LambdaError> {
    function_name_in(&api.region, &api.account_id, raw)
}

fn function_name_in(region: &str, account_id: &str, raw: &str) -> Result<String, LambdaError> {
    let parts: Vec<&str> = raw.split(':').collect();
    let (account, name, qualifier) = match parts.as_slice() {
        [name] => (None, *name, None),
        [name, qualifier] => (None, *name, Some(*qualifier)),
        [account, "function", name] => (Some(*account), *name, None),
        [account, "function", name, qualifier] => (Some(*account), *name, Some(*qualifier)),
        ["arn", _partition, "lambda", arn_region, account, "function", name, rest @ ..]
            if rest.len() <= 1 =>
        {
            if *arn_region != region {
                return Err(LambdaError::not_found(format!(
                    "function `{raw}` not found: this server is region {region}"
                )));
            }
            (Some(*account), *name, rest.first().copied())
        }
        _ => {
            return Err(LambdaError::invalid_parameter(format!(
                "`FunctionName` must be a function name, ARN or partial ARN, got {raw:?}"
            )))
        }
    };
    if let Some(account) = account {
        if account != account_id {
            return Err(LambdaError::not_found(format!(
                "function `{raw}` not found: this server is account {account_id}"
            )));
        }
    }
    check_function_name("FunctionName", name).map_err(invalid_argument)?;
    check_qualifier(name, qualifier)?;
    Ok(name.to_string())
}

/// Accepts no qualifier or `$LATEST`, the only version eddy keeps.
pub fn check_qualifier(name: &str, qualifier: Option<&str>) -> Result<(), LambdaError> {
    match qualifier {
        None | Some("$LATEST") => Ok(()),
        Some(other) => Err(LambdaError::not_found(format!(
            "function `{name}` version or alias `{other}` not found: eddy keeps only $LATEST"
        ))),
    }
}

/// The stream name of a Kinesis stream ARN of this server's region and account.
pub fn stream_name(api: &AwsApi, field: &str, arn: &str) -> Result<String, LambdaError> {
    stream_name_in(&api.region, &api.account_id, field, arn)
}

fn stream_name_in(
    region: &str,
    account_id: &str,
    field: &str,
    arn: &str,
) -> Result<String, LambdaError> {
    match crate::aws::stream_name_of_arn(region, account_id, arn) {
        Some(name) => Ok(name.to_string()),
        None => Err(LambdaError::invalid_parameter(format!(
            "`{field}` must be a Kinesis stream ARN of this server \
             (arn:aws:kinesis:{region}:{account_id}:stream/NAME): only Kinesis streams are \
             supported, got {arn:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_arns_and_partial_arns() {
        let name = |raw: &str| function_name_in("us-east-1", "000000000000", raw);
        assert_eq!(name("f").unwrap(), "f");
        assert_eq!(name("f:$LATEST").unwrap(), "f");
        assert_eq!(name("000000000000:function:f").unwrap(), "f");
        assert_eq!(
            name("arn:aws:lambda:us-east-1:000000000000:function:f").unwrap(),
            "f"
        );
        assert_eq!(
            name("arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST").unwrap(),
            "f"
        );
        assert_eq!(
            name("f:1").unwrap_err().error_type,
            "ResourceNotFoundException"
        );
        assert_eq!(
            name("arn:aws:lambda:eu-west-1:000000000000:function:f")
                .unwrap_err()
                .error_type,
            "ResourceNotFoundException"
        );
        assert_eq!(
            name("111111111111:function:f").unwrap_err().error_type,
            "ResourceNotFoundException"
        );
        assert_eq!(
            name("a b").unwrap_err().error_type,
            "InvalidParameterValueException"
        );
        assert_eq!(
            name("a:b:c:d:e").unwrap_err().error_type,
            "InvalidParameterValueException"
        );
    }

    #[test]
    fn only_this_servers_kinesis_streams() {
        assert_eq!(
            stream_name_in(
                "us-east-1",
                "000000000000",
                "EventSourceArn",
                "arn:aws:kinesis:us-east-1:000000000000:stream/s"
            )
            .unwrap(),
            "s"
        );
        for bad in [
            "arn:aws:sqs:us-east-1:000000000000:q",
            "arn:aws:kinesis:eu-west-1:000000000000:stream/s",
            "arn:aws:kinesis:us-east-1:111111111111:stream/s",
            "arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c:1",
            "arn:aws:kinesis:us-east-1:000000000000:stream/",
        ] {
            let err =
                stream_name_in("us-east-1", "000000000000", "EventSourceArn", bad).unwrap_err();
            assert!(
                err.message.contains("only Kinesis streams"),
                "{}",
                err.message
            );
        }
    }
}
