"""Event source mappings (Kinesis -> Lambda) through boto3: create, read, list, update,
delete, and their errors. Delivery itself is in test_end_to_end.py."""

import datetime as dt
import re

import pytest
from botocore.exceptions import ClientError

from conftest import error_code, eventually, stream_arn

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

NOOP = """
def handler(event, context):
    return {"batchItemFailures": []}
"""


@pytest.fixture
def stream_and_function(create_stream, create_function):
    name = create_stream(1)
    function = create_function(NOOP)
    return name, function


def test_mapping_lifecycle(lambda_, stream_and_function, delete_mappings):
    stream, function = stream_and_function
    arn = stream_arn(stream)
    created = lambda_.create_event_source_mapping(
        FunctionName=function["FunctionName"],
        EventSourceArn=arn,
        StartingPosition="TRIM_HORIZON",
        BatchSize=50,
        MaximumBatchingWindowInSeconds=1,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    uuid = created["UUID"]
    delete_mappings.append(uuid)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert UUID.match(uuid), uuid
    assert created["EventSourceArn"] == arn
    assert created["FunctionArn"] == function["FunctionArn"]
    assert created["BatchSize"] == 50
    assert created["MaximumBatchingWindowInSeconds"] == 1
    assert created["StartingPosition"] == "TRIM_HORIZON"
    assert created["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert created["State"] in ("Creating", "Enabled")
    assert isinstance(created["LastModified"], dt.datetime)

    def enabled():
        got = lambda_.get_event_source_mapping(UUID=uuid)
        assert got["State"] == "Enabled", got["State"]
        return got

    got = eventually(enabled, timeout=30, what="mapping Enabled")
    assert got["UUID"] == uuid
    assert got["EventSourceArn"] == arn
    assert got["FunctionArn"] == function["FunctionArn"]
    assert got["BatchSize"] == 50
    assert got["StartingPosition"] == "TRIM_HORIZON"
    assert got["FunctionResponseTypes"] == ["ReportBatchItemFailures"]

    by_function = lambda_.list_event_source_mappings(FunctionName=function["FunctionName"])
    assert [m["UUID"] for m in by_function["EventSourceMappings"]] == [uuid]
    by_function_arn = lambda_.list_event_source_mappings(FunctionName=function["FunctionArn"])
    assert [m["UUID"] for m in by_function_arn["EventSourceMappings"]] == [uuid]
    by_source = lambda_.list_event_source_mappings(EventSourceArn=arn)
    assert [m["UUID"] for m in by_source["EventSourceMappings"]] == [uuid]
    both = lambda_.list_event_source_mappings(
        EventSourceArn=arn, FunctionName=function["FunctionName"]
    )
    assert [m["UUID"] for m in both["EventSourceMappings"]] == [uuid]
    everything = [
        m["UUID"]
        for p in lambda_.get_paginator("list_event_source_mappings").paginate()
        for m in p["EventSourceMappings"]
    ]
    assert uuid in everything

    updated = lambda_.update_event_source_mapping(UUID=uuid, BatchSize=20)
    assert updated["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert updated["UUID"] == uuid
    assert updated["BatchSize"] == 20
    # Untouched settings stay.
    assert updated["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    eventually(
        lambda: lambda_.get_event_source_mapping(UUID=uuid)["BatchSize"] == 20,
        timeout=30,
        what="BatchSize 20",
    )

    disabled = lambda_.update_event_source_mapping(UUID=uuid, Enabled=False)
    assert disabled["State"] in ("Disabling", "Disabled")
    eventually(
        lambda: lambda_.get_event_source_mapping(UUID=uuid)["State"] == "Disabled",
        timeout=30,
        what="mapping Disabled",
    )

    deleted = lambda_.delete_event_source_mapping(UUID=uuid)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert deleted["UUID"] == uuid

    def gone():
        with pytest.raises(ClientError) as e:
            lambda_.get_event_source_mapping(UUID=uuid)
        assert error_code(e) == "ResourceNotFoundException"
        return True

    eventually(gone, timeout=30, what="mapping deleted")
    assert lambda_.list_event_source_mappings(FunctionName=function["FunctionName"])[
        "EventSourceMappings"
    ] == []


def test_list_filters_keep_mappings_apart(lambda_, create_stream, create_function, delete_mappings):
    streams = [create_stream(1), create_stream(1)]
    functions = [create_function(NOOP)["FunctionName"], create_function(NOOP)["FunctionName"]]
    uuids = {}
    for s in streams:
        for f in functions:
            m = lambda_.create_event_source_mapping(
                FunctionName=f, EventSourceArn=stream_arn(s), StartingPosition="LATEST"
            )
            delete_mappings.append(m["UUID"])
            uuids[(s, f)] = m["UUID"]
            # Defaults, as Lambda documents them for Kinesis.
            assert m["BatchSize"] == 100
            assert m["StartingPosition"] == "LATEST"

    for s in streams:
        listed = lambda_.list_event_source_mappings(EventSourceArn=stream_arn(s))
        assert {m["UUID"] for m in listed["EventSourceMappings"]} == {
            uuids[(s, f)] for f in functions
        }
    for f in functions:
        listed = lambda_.list_event_source_mappings(FunctionName=f)
        assert {m["UUID"] for m in listed["EventSourceMappings"]} == {
            uuids[(s, f)] for s in streams
        }
    one = lambda_.list_event_source_mappings(
        FunctionName=functions[1], EventSourceArn=stream_arn(streams[0])
    )
    assert [m["UUID"] for m in one["EventSourceMappings"]] == [uuids[(streams[0], functions[1])]]

    # MaxItems / Marker paging over one function's two mappings.
    first = lambda_.list_event_source_mappings(FunctionName=functions[0], MaxItems=1)
    assert len(first["EventSourceMappings"]) == 1
    assert first.get("NextMarker")
    second = lambda_.list_event_source_mappings(
        FunctionName=functions[0], MaxItems=1, Marker=first["NextMarker"]
    )
    assert len(second["EventSourceMappings"]) == 1
    assert {
        first["EventSourceMappings"][0]["UUID"],
        second["EventSourceMappings"][0]["UUID"],
    } == {uuids[(s, functions[0])] for s in streams}


def test_unknown_uuid_is_resource_not_found(lambda_):
    missing = "00000000-0000-4000-8000-000000000000"
    for call in (
        lambda: lambda_.get_event_source_mapping(UUID=missing),
        lambda: lambda_.update_event_source_mapping(UUID=missing, BatchSize=10),
        lambda: lambda_.delete_event_source_mapping(UUID=missing),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert error_code(e) == "ResourceNotFoundException", e.value.operation_name
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_mapping_to_an_unknown_function_is_resource_not_found(lambda_, create_stream, unique_name):
    stream = create_stream(1)
    with pytest.raises(ClientError) as e:
        lambda_.create_event_source_mapping(
            FunctionName=unique_name("missing"),
            EventSourceArn=stream_arn(stream),
            StartingPosition="TRIM_HORIZON",
        )
    assert error_code(e) == "ResourceNotFoundException"


@pytest.mark.parametrize("batch_size", [0, 10001])
def test_bad_batch_size_is_refused(
    lambda_, lambda_unvalidated, stream_and_function, delete_mappings, batch_size
):
    stream, function = stream_and_function
    # botocore itself refuses these; sent anyway, Lambda answers with a parameter error.
    with pytest.raises(ClientError) as e:
        lambda_unvalidated.create_event_source_mapping(
            FunctionName=function["FunctionName"],
            EventSourceArn=stream_arn(stream),
            StartingPosition="TRIM_HORIZON",
            BatchSize=batch_size,
        )
    assert error_code(e) in ("InvalidParameterValueException", "ValidationException")
    assert lambda_.list_event_source_mappings(FunctionName=function["FunctionName"])[
        "EventSourceMappings"
    ] == []

    good = lambda_.create_event_source_mapping(
        FunctionName=function["FunctionName"],
        EventSourceArn=stream_arn(stream),
        StartingPosition="TRIM_HORIZON",
        BatchSize=10,
    )
    delete_mappings.append(good["UUID"])
    with pytest.raises(ClientError) as e:
        lambda_unvalidated.update_event_source_mapping(UUID=good["UUID"], BatchSize=batch_size)
    assert error_code(e) in ("InvalidParameterValueException", "ValidationException")
    assert lambda_.get_event_source_mapping(UUID=good["UUID"])["BatchSize"] == 10


def test_bad_starting_position_is_invalid_parameter(lambda_unvalidated, stream_and_function):
    stream, function = stream_and_function
    with pytest.raises(ClientError) as e:
        lambda_unvalidated.create_event_source_mapping(
            FunctionName=function["FunctionName"],
            EventSourceArn=stream_arn(stream),
            StartingPosition="SOMEWHERE",
        )
    assert error_code(e) in ("InvalidParameterValueException", "ValidationException")
