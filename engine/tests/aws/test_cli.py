"""The AWS CLI (v1, from PyPI) against eddy, as a shell script would use it."""

import base64
import json

import pytest

from conftest import ROLE_ARN, AwsCliError, eventually, make_zip, stream_arn

HANDLER = """
import os
def handler(event, context):
    print("cli-handler-ran", flush=True)
    return {"got": event, "greeting": os.environ.get("GREETING")}
"""


def test_kinesis_through_the_cli(aws, unique_name):
    name = unique_name("cli")
    assert aws("kinesis", "create-stream", "--stream-name", name, "--shard-count", "2") is None
    try:
        aws("kinesis", "wait", "stream-exists", "--stream-name", name)
        summary = aws("kinesis", "describe-stream-summary", "--stream-name", name)[
            "StreamDescriptionSummary"
        ]
        assert summary["StreamName"] == name
        assert summary["StreamARN"] == stream_arn(name)
        assert summary["StreamStatus"] == "ACTIVE"
        assert summary["OpenShardCount"] == 2

        # The CLI pages through ListStreams itself.
        assert name in aws("kinesis", "list-streams")["StreamNames"]
        assert aws("kinesis", "list-streams", "--max-items", "1")["StreamNames"].__len__() == 1

        shards = aws("kinesis", "list-shards", "--stream-name", name)["Shards"]
        assert len(shards) == 2

        # awscli v1 sends --data as given (it base64-encodes it on the wire itself).
        put = aws(
            "kinesis", "put-record", "--stream-name", name, "--partition-key", "pk",
            "--data", "hello from the cli",
        )
        assert put["ShardId"] in {s["ShardId"] for s in shards}
        assert put["SequenceNumber"].isdigit()
        iterator = aws(
            "kinesis", "get-shard-iterator", "--stream-name", name,
            "--shard-id", put["ShardId"], "--shard-iterator-type", "TRIM_HORIZON",
        )["ShardIterator"]
        records = aws("kinesis", "get-records", "--shard-iterator", iterator)
        assert len(records["Records"]) == 1
        record = records["Records"][0]
        # JSON output shows blobs in base64.
        assert base64.b64decode(record["Data"]) == b"hello from the cli"
        assert record["PartitionKey"] == "pk"
        assert record["SequenceNumber"] == put["SequenceNumber"]
        assert records["NextShardIterator"]

        assert (
            aws("kinesis", "add-tags-to-stream", "--stream-name", name, "--tags", "team=cli,env=ci")
            is None
        )
        tags = aws("kinesis", "list-tags-for-stream", "--stream-name", name)["Tags"]
        assert {t["Key"]: t["Value"] for t in tags} == {"team": "cli", "env": "ci"}
    finally:
        aws("kinesis", "delete-stream", "--stream-name", name)
    aws("kinesis", "wait", "stream-not-exists", "--stream-name", name)
    with pytest.raises(AwsCliError) as e:
        aws("kinesis", "describe-stream-summary", "--stream-name", name)
    assert "ResourceNotFoundException" in e.value.stderr


def test_lambda_through_the_cli(aws, unique_name, tmp_path):
    name = unique_name("cli")
    stream = unique_name("cli")
    zip_path = tmp_path / "function.zip"
    zip_path.write_bytes(make_zip({"app.py": HANDLER}))
    created = aws(
        "lambda", "create-function", "--function-name", name, "--runtime", "python3.12",
        "--handler", "app.handler", "--role", ROLE_ARN, "--zip-file", f"fileb://{zip_path}",
        "--timeout", "10", "--environment", "Variables={GREETING=from-cli}",
    )
    try:
        assert created["FunctionName"] == name
        assert created["Runtime"] == "python3.12"
        assert created["Environment"]["Variables"] == {"GREETING": "from-cli"}
        aws("lambda", "wait", "function-active-v2", "--function-name", name)

        got = aws("lambda", "get-function", "--function-name", name)
        assert got["Configuration"]["FunctionName"] == name
        assert got["Configuration"]["Handler"] == "app.handler"
        assert name in [f["FunctionName"] for f in aws("lambda", "list-functions")["Functions"]]

        # awscli v1 sends --payload as given; the result goes to the outfile.
        outfile = tmp_path / "out.json"
        invoked = aws(
            "lambda", "invoke", "--function-name", name, "--payload", '{"n": 1}', str(outfile)
        )
        assert invoked["StatusCode"] == 200
        assert invoked["ExecutedVersion"] == "$LATEST"
        assert "FunctionError" not in invoked
        assert json.loads(outfile.read_text()) == {"got": {"n": 1}, "greeting": "from-cli"}

        tailed = aws(
            "lambda", "invoke", "--function-name", name, "--payload", "{}", "--log-type", "Tail",
            str(tmp_path / "tail.json"),
        )
        assert "cli-handler-ran" in base64.b64decode(tailed["LogResult"]).decode()

        updated = aws(
            "lambda", "update-function-configuration", "--function-name", name,
            "--environment", "Variables={GREETING=updated}",
        )
        assert updated["Environment"]["Variables"] == {"GREETING": "updated"}
        aws("lambda", "wait", "function-updated-v2", "--function-name", name)

        def updated_greeting():
            aws("lambda", "invoke", "--function-name", name, "--payload", "{}", str(outfile))
            return json.loads(outfile.read_text())["greeting"] == "updated"

        eventually(updated_greeting, timeout=30, what="the new environment")

        aws("kinesis", "create-stream", "--stream-name", stream, "--shard-count", "1")
        aws("kinesis", "wait", "stream-exists", "--stream-name", stream)
        mapping = aws(
            "lambda", "create-event-source-mapping", "--function-name", name,
            "--event-source-arn", stream_arn(stream), "--starting-position", "TRIM_HORIZON",
            "--batch-size", "10",
        )
        assert mapping["BatchSize"] == 10
        assert mapping["EventSourceArn"] == stream_arn(stream)
        listed = aws("lambda", "list-event-source-mappings", "--function-name", name)
        assert [m["UUID"] for m in listed["EventSourceMappings"]] == [mapping["UUID"]]
        deleted = aws("lambda", "delete-event-source-mapping", "--uuid", mapping["UUID"])
        assert deleted["UUID"] == mapping["UUID"]
        eventually(
            lambda: aws("lambda", "list-event-source-mappings", "--function-name", name)[
                "EventSourceMappings"
            ]
            == [],
            timeout=30,
            what="mapping deleted",
        )
    finally:
        try:
            aws("kinesis", "delete-stream", "--stream-name", stream)
        except AwsCliError:
            pass
        deleted = aws("lambda", "delete-function", "--function-name", name)
        # Newer models surface the HTTP status (204, as the API reference documents).
        assert deleted is None or deleted == {"StatusCode": 204}, deleted
    with pytest.raises(AwsCliError) as e:
        aws("lambda", "get-function", "--function-name", name)
    assert "ResourceNotFoundException" in e.value.stderr


def test_cli_errors_exit_non_zero_with_the_error_code(aws, unique_name):
    missing = unique_name("missing")
    with pytest.raises(AwsCliError) as e:
        aws("kinesis", "describe-stream", "--stream-name", missing)
    # awscli v1 exits 255 on a service error (v2 uses 254).
    assert e.value.returncode in (254, 255)
    assert "ResourceNotFoundException" in e.value.stderr
    assert "DescribeStream" in e.value.stderr

    with pytest.raises(AwsCliError) as e:
        aws("lambda", "invoke", "--function-name", missing, "--payload", "{}", "/dev/null")
    assert e.value.returncode in (254, 255)
    assert "ResourceNotFoundException" in e.value.stderr
