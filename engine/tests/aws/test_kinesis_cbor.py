"""The Kinesis wire protocol below boto3: CBOR 1.1 (what the AWS Java SDKs speak) and the
protocol errors, with raw SigV4-signed HTTP requests."""

import base64
import json
import time

import cbor2
import pytest

CBOR = "application/x-amz-cbor-1.1"
JSON = "application/x-amz-json-1.1"
TARGET = "Kinesis_20131202."


def error_type(headers, body, content_type):
    """The error type of an AWS JSON/CBOR error response (`__type`, possibly
    `namespace#Type`, or the `x-amzn-ErrorType` header)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    payload = {}
    if body:
        try:
            payload = cbor2.loads(body) if content_type == CBOR else json.loads(body)
            if not isinstance(payload, dict):
                payload = {}
        except Exception:
            payload = {}
    found = payload.get("__type") or lowered.get("x-amzn-errortype", "")
    return found.split("#")[-1].split(":")[0]


def test_cbor_put_record_and_get_records_round_trip(signed_post, create_stream):
    name = create_stream(1)
    data = bytes(range(256)) + b"cbor\x00payload"
    status, headers, body = signed_post(
        TARGET + "PutRecord",
        cbor2.dumps({"StreamName": name, "Data": data, "PartitionKey": "cbor-key"}),
        CBOR,
    )
    assert status == 200, body
    assert {k.lower(): v for k, v in headers.items()}["content-type"].startswith(CBOR)
    put = cbor2.loads(body)
    shard_id, sequence_number = put["ShardId"], put["SequenceNumber"]
    assert isinstance(sequence_number, str) and sequence_number.isdigit()

    status, _, body = signed_post(
        TARGET + "GetShardIterator",
        cbor2.dumps(
            {"StreamName": name, "ShardId": shard_id, "ShardIteratorType": "TRIM_HORIZON"}
        ),
        CBOR,
    )
    assert status == 200, body
    iterator = cbor2.loads(body)["ShardIterator"]

    before_millis = int(time.time() * 1000)
    status, _, body = signed_post(
        TARGET + "GetRecords", cbor2.dumps({"ShardIterator": iterator}), CBOR
    )
    assert status == 200, body
    # Keep tag 1 as a tag: cbor2's own decoder reads its value as epoch *seconds*.
    out = cbor2.loads(
        body, semantic_decoders={1: lambda value, immutable: cbor2.CBORTag(1, value)}
    )
    records = out["Records"]
    assert len(records) == 1
    record = records[0]
    assert record["SequenceNumber"] == sequence_number
    assert record["PartitionKey"] == "cbor-key"
    # Data is a CBOR byte string holding the raw bytes, not base64 text.
    assert isinstance(record["Data"], bytes)
    assert record["Data"] == data
    # Real Kinesis: tag 1 holding *integer* epoch milliseconds (the Java SDK relies on it).
    arrival = record["ApproximateArrivalTimestamp"]
    assert isinstance(arrival, cbor2.CBORTag), arrival
    assert arrival.tag == 1
    assert isinstance(arrival.value, int), arrival.value
    assert abs(arrival.value - before_millis) < 10 * 60 * 1000, (arrival.value, before_millis)
    assert isinstance(out["MillisBehindLatest"], int)
    assert isinstance(out["NextShardIterator"], str)


def test_json_put_record_over_raw_http_has_base64_data(signed_post, create_stream):
    name = create_stream(1)
    data = b"\x00\x01raw-json\xff"
    status, headers, body = signed_post(
        TARGET + "PutRecord",
        json.dumps(
            {"StreamName": name, "Data": base64.b64encode(data).decode(), "PartitionKey": "k"}
        ).encode(),
        JSON,
    )
    assert status == 200, body
    put = json.loads(body)
    status, _, body = signed_post(
        TARGET + "GetShardIterator",
        json.dumps(
            {
                "StreamName": name,
                "ShardId": put["ShardId"],
                "ShardIteratorType": "AT_SEQUENCE_NUMBER",
                "StartingSequenceNumber": put["SequenceNumber"],
            }
        ).encode(),
        JSON,
    )
    assert status == 200, body
    iterator = json.loads(body)["ShardIterator"]
    status, _, body = signed_post(
        TARGET + "GetRecords", json.dumps({"ShardIterator": iterator}).encode(), JSON
    )
    assert status == 200, body
    record = json.loads(body)["Records"][0]
    assert base64.b64decode(record["Data"]) == data
    # In JSON the arrival time is epoch seconds as a number.
    assert isinstance(record["ApproximateArrivalTimestamp"], (int, float))
    assert abs(record["ApproximateArrivalTimestamp"] - time.time()) < 600


@pytest.mark.parametrize("content_type", [JSON, CBOR])
def test_unknown_target_is_unknown_operation(signed_post, content_type):
    body = json.dumps({}).encode() if content_type == JSON else cbor2.dumps({})
    status, headers, response = signed_post(TARGET + "FlyToTheMoon", body, content_type)
    assert status == 400, response
    assert error_type(headers, response, content_type) == "UnknownOperationException"


def test_malformed_json_body_is_serialization_exception(signed_post, create_stream):
    name = create_stream(1)
    status, headers, body = signed_post(
        TARGET + "PutRecord", b'{"StreamName": "' + name.encode() + b'", "Data": ', JSON
    )
    assert status == 400, body
    assert error_type(headers, body, JSON) == "SerializationException"


def test_malformed_cbor_body_is_serialization_exception(signed_post):
    status, headers, body = signed_post(TARGET + "ListStreams", b"\xff\xff\x1c\x00garbage", CBOR)
    assert status == 400, body
    assert error_type(headers, body, CBOR) == "SerializationException"


def test_cbor_error_response_is_cbor(signed_post, unique_name):
    status, headers, body = signed_post(
        TARGET + "DescribeStream", cbor2.dumps({"StreamName": unique_name("missing")}), CBOR
    )
    assert status == 400
    assert error_type(headers, body, CBOR) == "ResourceNotFoundException"
