"""SigV4 against a server configured with one access key (EDDY_KEY_ID / EDDY_SECRET):
boto3 signing with it works for both APIs, and every other way in is refused with the
error AWS returns. Run by engine/tests/aws_sdk.rs."""

import os
import urllib.error
import urllib.request

import boto3
from botocore.exceptions import ClientError

endpoint = os.environ["EDDY_HTTP_ENDPOINT"]
key_id, secret = os.environ["EDDY_KEY_ID"], os.environ["EDDY_SECRET"]


def client(service, key=key_id, secret_key=secret):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret_key,
    )


def error_code(call):
    try:
        call()
    except ClientError as err:
        return err.response["Error"]["Code"], err.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("the call was accepted")


kinesis = client("kinesis")
kinesis.create_stream(StreamName="signed", ShardCount=1)
put = kinesis.put_record(StreamName="signed", Data=b"payload with spaces & symbols", PartitionKey="k")
assert put["SequenceNumber"] == "0", put
assert client("lambda").list_functions()["Functions"] == []
# A path with an ARN in it is percent-encoded by boto3 and must verify too.
code = error_code(
    lambda: client("lambda").get_function(
        FunctionName="arn:aws:lambda:us-east-1:000000000000:function:absent"
    )
)
assert code == ("ResourceNotFoundException", 404), code

assert error_code(lambda: client("kinesis", secret_key="wrong").list_streams()) == (
    "InvalidSignatureException",
    403,
)
assert error_code(lambda: client("lambda", secret_key="wrong").list_functions()) == (
    "InvalidSignatureException",
    403,
)
assert error_code(lambda: client("kinesis", key="AKIDOTHER").list_streams()) == (
    "UnrecognizedClientException",
    403,
)

unsigned = urllib.request.Request(
    endpoint + "/",
    data=b"{}",
    method="POST",
    headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "Kinesis_20131202.ListStreams",
    },
)
try:
    urllib.request.urlopen(unsigned)
    raise AssertionError("an unsigned request was accepted")
except urllib.error.HTTPError as err:
    assert err.code == 403, err.code
    assert err.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException", err.headers
print("sigv4: ok")
