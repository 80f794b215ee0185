"""Drives eddy's Lambda REST API with real boto3, as a user would.

Usage: boto3_walkthrough.py ENDPOINT_URL PHASE, PHASE `before-restart` or
`after-restart`. Every check is an assert; the last line printed is `PASS PHASE`.
"""
import base64
import io
import json
import sys
import zipfile

import boto3
import botocore.exceptions

endpoint, phase = sys.argv[1], sys.argv[2]
client = boto3.client(
    "lambda",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="x",
    aws_secret_access_key="x",
)
STREAM = "arn:aws:kinesis:us-east-1:000000000000:stream/"
PYTHON_APP = """
import os, json
def handler(event, context):
    print("LOGLINE", json.dumps(event))
    if event.get("fail"):
        raise ValueError("boom")
    return {"echo": event, "greeting": os.environ.get("GREETING"), "version": VERSION}
"""


def zip_of(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, (data, mode) in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def app(version):
    return zip_of({"app.py": (PYTHON_APP.replace("VERSION", str(version)), 0o100644)})


def error_of(call, **kwargs):
    try:
        call(**kwargs)
    except botocore.exceptions.ClientError as err:
        return err.response["Error"]["Code"], err.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError(f"{call.__name__} {kwargs.keys()} did not fail")


def invoke_json(name, payload, **kwargs):
    response = client.invoke(FunctionName=name, Payload=json.dumps(payload), **kwargs)
    return response, json.loads(response["Payload"].read() or b"null")


if phase == "before-restart":
    created = client.create_function(
        FunctionName="echo",
        Runtime="python3.12",
        Role="arn:aws:iam::000000000000:role/any",
        Handler="app.handler",
        Code={"ZipFile": app(1)},
        Environment={"Variables": {"GREETING": "hi"}},
        Description="echoes",
        Timeout=10,
        VpcConfig={"SubnetIds": [], "SecurityGroupIds": []},
        TracingConfig={"Mode": "Active"},
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201, created
    assert created["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:echo"
    assert (created["Runtime"], created["Handler"], created["Timeout"]) == ("python3.12", "app.handler", 10)
    assert (created["MemorySize"], created["Version"], created["State"]) == (128, "$LATEST", "Active")
    assert created["Environment"] == {"Variables": {"GREETING": "hi"}}
    assert created["CodeSha256"] and created["CodeSize"] > 0

    response, body = invoke_json("echo", {"a": 1}, LogType="Tail")
    assert response["StatusCode"] == 200 and "FunctionError" not in response, response
    assert response["ExecutedVersion"] == "$LATEST"
    assert body == {"echo": {"a": 1}, "greeting": "hi", "version": 1}, body
    assert b'LOGLINE {"a": 1}' in base64.b64decode(response["LogResult"])

    response, body = invoke_json(created["FunctionArn"], {"fail": True})
    assert response["FunctionError"] == "Unhandled", response
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "boom", body

    assert client.invoke(FunctionName="echo", InvocationType="Event", Payload=b"{}")["StatusCode"] == 202
    assert client.invoke(FunctionName="000000000000:function:echo", InvocationType="DryRun")["StatusCode"] == 204
    assert error_of(client.invoke, FunctionName="echo", Payload=b"not json") == ("InvalidRequestContentException", 400)
    assert error_of(client.invoke, FunctionName="echo", Payload=b"1" * (7 << 20)) == ("RequestTooLargeException", 413)
    assert error_of(client.invoke, FunctionName="nope") == ("ResourceNotFoundException", 404)

    updated = client.update_function_configuration(FunctionName="echo", Timeout=20, Environment={"Variables": {"GREETING": "bye"}})
    assert (updated["Timeout"], updated["Description"]) == (20, "echoes"), updated
    updated = client.update_function_code(FunctionName="echo", ZipFile=app(2))
    assert updated["CodeSha256"] != created["CodeSha256"]
    assert invoke_json("echo", {})[1] == {"echo": {}, "greeting": "bye", "version": 2}
    assert error_of(client.update_function_configuration, FunctionName="echo", RevisionId=created["RevisionId"], Timeout=5) == ("PreconditionFailedException", 412)

    bootstrap = f"""#!{sys.executable}
import json, os, urllib.request
api = os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    next_event = urllib.request.urlopen("http://" + api + "next")
    request_id = next_event.headers["Lambda-Runtime-Aws-Request-Id"]
    body = json.dumps({{"custom": json.loads(next_event.read())}}).encode()
    urllib.request.urlopen(urllib.request.Request("http://" + api + request_id + "/response", data=body, method="POST"))
"""
    client.create_function(FunctionName="custom", Runtime="provided.al2023", Role="r", Handler="unused", Code={"ZipFile": zip_of({"bootstrap": (bootstrap, 0o100644)})})
    assert invoke_json("custom", {"k": "v"})[1] == {"custom": {"k": "v"}}

    for name, runtime, files, expected in [
        ("echo", "python3.12", {"a.py": ("", 0o100644)}, ("ResourceConflictException", 409)),
        ("nob", "provided", {"a.py": ("", 0o100644)}, ("InvalidParameterValueException", 400)),
        ("node", "nodejs20.x", {"a.py": ("", 0o100644)}, ("InvalidParameterValueException", 400)),
        ("evil", "python3.12", {"../evil.py": ("", 0o100644)}, ("InvalidParameterValueException", 400)),
    ]:
        got = error_of(client.create_function, FunctionName=name, Runtime=runtime, Role="r", Handler="a.h", Code={"ZipFile": zip_of(files)})
        assert got == expected, (name, got)
    assert error_of(client.create_function, FunctionName="garbage", Runtime="python3.12", Role="r", Handler="a.h", Code={"ZipFile": b"garbage"}) == ("InvalidParameterValueException", 400)
    assert error_of(client.create_function, FunctionName="s3", Runtime="python3.12", Role="r", Handler="a.h", Code={"S3Bucket": "bucket", "S3Key": "k"}) == ("InvalidParameterValueException", 400)
    assert error_of(client.create_function, FunctionName="slow", Runtime="python3.12", Role="r", Handler="a.h", Timeout=901, Code={"ZipFile": app(1)}) == ("InvalidParameterValueException", 400)

    pages = client.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 1})
    assert [f["FunctionName"] for page in pages for f in page["Functions"]] == ["custom", "echo"]

    assert error_of(client.get_function_event_invoke_config, FunctionName="echo") == ("ResourceNotFoundException", 404)
    config = client.put_function_event_invoke_config(FunctionName="echo", MaximumRetryAttempts=1, MaximumEventAgeInSeconds=600, DestinationConfig={"OnFailure": {"Destination": STREAM + "failures"}})
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == STREAM + "failures"
    config = client.update_function_event_invoke_config(FunctionName="echo", MaximumRetryAttempts=0)
    assert (config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]) == (0, 600)
    assert error_of(client.put_function_event_invoke_config, FunctionName="echo", MaximumEventAgeInSeconds=21601) == ("InvalidParameterValueException", 400)

    mapping = client.create_event_source_mapping(
        EventSourceArn=STREAM + "orders",
        FunctionName="echo",
        StartingPosition="TRIM_HORIZON",
        BatchSize=10,
        ParallelizationFactor=2,
        MaximumRetryAttempts=3,
        BisectBatchOnFunctionError=True,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        DestinationConfig={"OnFailure": {"Destination": STREAM + "failures"}},
        FilterCriteria={"Filters": [{"Pattern": json.dumps({"partitionKey": ["a"]})}]},
    )
    assert mapping["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert (mapping["State"], mapping["BatchSize"], mapping["ParallelizationFactor"]) == ("Enabled", 10, 2)
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert error_of(client.create_event_source_mapping, EventSourceArn="arn:aws:sqs:us-east-1:000000000000:q", FunctionName="echo", StartingPosition="LATEST") == ("InvalidParameterValueException", 400)
    assert error_of(client.create_event_source_mapping, EventSourceArn=STREAM + "orders", FunctionName="echo", StartingPosition="LATEST", TumblingWindowInSeconds=60) == ("InvalidParameterValueException", 400)
    updated = client.update_event_source_mapping(UUID=mapping["UUID"], BatchSize=50, Enabled=False)
    assert (updated["BatchSize"], updated["State"]) == (50, "Disabled"), updated
    other = client.create_event_source_mapping(EventSourceArn=STREAM + "orders", FunctionName="custom", StartingPosition="LATEST")
    listed = client.list_event_source_mappings(FunctionName="custom")["EventSourceMappings"]
    assert [m["UUID"] for m in listed] == [other["UUID"]]
    assert client.delete_event_source_mapping(UUID=other["UUID"])["State"] == "Deleting"
    assert error_of(client.get_event_source_mapping, UUID=other["UUID"]) == ("ResourceNotFoundException", 404)
    client.delete_function(FunctionName="custom")
    print("MAPPING", mapping["UUID"])
else:
    config = client.get_function_configuration(FunctionName="echo")
    assert (config["Runtime"], config["Timeout"], config["Description"]) == ("python3.12", 20, "echoes"), config
    assert invoke_json("echo", {})[1] == {"echo": {}, "greeting": "bye", "version": 2}
    assert client.get_function_event_invoke_config(FunctionName="echo")["MaximumRetryAttempts"] == 0
    mappings = client.list_event_source_mappings()["EventSourceMappings"]
    assert [(m["State"], m["BatchSize"]) for m in mappings] == [("Disabled", 50)], mappings
    assert [f["FunctionName"] for f in client.list_functions()["Functions"]] == ["echo"]
print("PASS", phase)
