"""Kinesis Data Streams through boto3, as unchanged user code calls it."""

import datetime as dt
import re
import time

import pytest
from botocore.exceptions import ClientError

from conftest import (
    MAX_HASH_KEY,
    error_code,
    partition_hash,
    read_shard,
    shard_for_hash,
    shards_of,
    stream_arn,
)

DECIMAL = re.compile(r"^(0|[1-9][0-9]*)$")
SHARD_ID = re.compile(r"^shardId-[0-9]{12}$")


def assert_covers_hash_space(shards):
    """Shards sorted by start cover 0..2^128-1 with no gap and no overlap."""
    ranges = [s["HashKeyRange"] for s in shards]
    for r in ranges:
        assert DECIMAL.match(r["StartingHashKey"]), r
        assert DECIMAL.match(r["EndingHashKey"]), r
    ranges.sort(key=lambda r: int(r["StartingHashKey"]))
    assert int(ranges[0]["StartingHashKey"]) == 0
    assert int(ranges[-1]["EndingHashKey"]) == MAX_HASH_KEY
    for before, after in zip(ranges, ranges[1:]):
        assert int(after["StartingHashKey"]) == int(before["EndingHashKey"]) + 1, ranges


def now_utc():
    return dt.datetime.now(dt.timezone.utc)


# ---------------------------------------------------------------------------------------
# Streams


def test_create_stream_then_describe_it(kinesis, unique_name):
    name = unique_name("s")
    before = now_utc()
    response = kinesis.create_stream(StreamName=name, ShardCount=3)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    try:
        kinesis.get_waiter("stream_exists").wait(
            StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
        description = kinesis.describe_stream(StreamName=name)["StreamDescription"]
        assert description["StreamName"] == name
        assert description["StreamARN"] == f"arn:aws:kinesis:us-east-1:000000000000:stream/{name}"
        assert description["StreamStatus"] == "ACTIVE"
        assert description["RetentionPeriodHours"] == 24
        assert description["HasMoreShards"] is False
        created = description["StreamCreationTimestamp"]
        assert isinstance(created, dt.datetime)
        assert before - dt.timedelta(minutes=5) <= created <= now_utc() + dt.timedelta(minutes=5)
        shards = description["Shards"]
        assert len(shards) == 3
        assert len({s["ShardId"] for s in shards}) == 3
        for shard in shards:
            assert SHARD_ID.match(shard["ShardId"]), shard["ShardId"]
            seq_range = shard["SequenceNumberRange"]
            assert DECIMAL.match(seq_range["StartingSequenceNumber"]), seq_range
            assert "EndingSequenceNumber" not in seq_range, "an open shard has no end"
            assert "ParentShardId" not in shard
        assert_covers_hash_space(shards)
    finally:
        kinesis.delete_stream(StreamName=name)


def test_describe_stream_summary(kinesis, create_stream):
    name = create_stream(2)
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert summary["StreamName"] == name
    assert summary["StreamARN"] == stream_arn(name)
    assert summary["StreamStatus"] == "ACTIVE"
    assert summary["OpenShardCount"] == 2
    assert summary["RetentionPeriodHours"] == 24
    assert isinstance(summary["StreamCreationTimestamp"], dt.datetime)
    assert isinstance(summary["EnhancedMonitoring"], list)


def test_list_streams_pages_with_limit_exclusive_start_and_next_token(
    kinesis, create_stream, unique_name
):
    prefix = unique_name("ls")
    names = [create_stream(1, name=f"{prefix}-{suffix}") for suffix in ("a", "b", "c")]

    first = kinesis.list_streams(Limit=1)
    assert len(first["StreamNames"]) == 1
    assert first["HasMoreStreams"] is True
    assert first.get("NextToken")

    # Following NextToken one stream at a time visits every stream once.
    seen = list(first["StreamNames"])
    page = first
    while page["HasMoreStreams"]:
        page = kinesis.list_streams(Limit=1, NextToken=page["NextToken"])
        assert len(page["StreamNames"]) == 1
        seen.extend(page["StreamNames"])
        assert len(seen) < 10000, "ListStreams pagination does not end"
    assert len(seen) == len(set(seen)), f"a stream was listed twice: {seen}"
    assert set(names) <= set(seen)

    # Names are listed in order, so ExclusiveStartStreamName resumes right after a name.
    after_a = kinesis.list_streams(ExclusiveStartStreamName=names[0], Limit=2)
    assert after_a["StreamNames"] == names[1:]
    after_b = kinesis.list_streams(ExclusiveStartStreamName=names[1], Limit=1)
    assert after_b["StreamNames"] == [names[2]]

    summaries = {
        s["StreamName"]: s
        for s in kinesis.list_streams(ExclusiveStartStreamName=names[0], Limit=2)[
            "StreamSummaries"
        ]
    }
    assert set(summaries) == set(names[1:])
    for name, summary in summaries.items():
        assert summary["StreamARN"] == stream_arn(name)
        assert summary["StreamStatus"] == "ACTIVE"

    # boto3's paginator (NextToken under the hood) sees them too.
    paged = [
        n
        for p in kinesis.get_paginator("list_streams").paginate(PaginationConfig={"PageSize": 2})
        for n in p["StreamNames"]
    ]
    assert set(names) <= set(paged)


def test_list_shards_pages_and_filters(kinesis, create_stream):
    name = create_stream(4)
    everything = kinesis.list_shards(StreamName=name)
    all_ids = [s["ShardId"] for s in everything["Shards"]]
    assert len(all_ids) == 4
    assert_covers_hash_space(everything["Shards"])

    first = kinesis.list_shards(StreamName=name, MaxResults=3)
    assert len(first["Shards"]) == 3
    assert first.get("NextToken")
    # With NextToken the stream is not named again (Kinesis refuses both).
    rest = kinesis.list_shards(NextToken=first["NextToken"], MaxResults=3)
    assert len(rest["Shards"]) == 1
    assert not rest.get("NextToken")
    assert [s["ShardId"] for s in first["Shards"] + rest["Shards"]] == all_ids

    after_first = kinesis.list_shards(StreamName=name, ExclusiveStartShardId=all_ids[0])
    assert [s["ShardId"] for s in after_first["Shards"]] == all_ids[1:]

    for filter_type in ("AT_TRIM_HORIZON", "FROM_TRIM_HORIZON", "AT_LATEST"):
        filtered = kinesis.list_shards(StreamName=name, ShardFilter={"Type": filter_type})
        assert [s["ShardId"] for s in filtered["Shards"]] == all_ids, filter_type

    by_arn = kinesis.list_shards(StreamARN=stream_arn(name))
    assert [s["ShardId"] for s in by_arn["Shards"]] == all_ids

    # NextToken already names the stream; naming it again is refused.
    with pytest.raises(ClientError) as e:
        kinesis.list_shards(StreamName=name, NextToken=first["NextToken"])
    assert error_code(e) == "InvalidArgumentException"


def test_describe_stream_pages_shards(kinesis, create_stream):
    name = create_stream(3)
    first = kinesis.describe_stream(StreamName=name, Limit=2)["StreamDescription"]
    assert len(first["Shards"]) == 2
    assert first["HasMoreShards"] is True
    rest = kinesis.describe_stream(
        StreamName=name, ExclusiveStartShardId=first["Shards"][-1]["ShardId"]
    )["StreamDescription"]
    assert len(rest["Shards"]) == 1
    assert rest["HasMoreShards"] is False
    assert_covers_hash_space(first["Shards"] + rest["Shards"])


def test_retention_period_can_be_raised_and_lowered_within_limits(kinesis, create_stream):
    name = create_stream(1)

    def retention():
        return kinesis.describe_stream(StreamName=name)["StreamDescription"][
            "RetentionPeriodHours"
        ]

    kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=48)
    assert retention() == 48
    kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=8760)
    assert retention() == 8760
    kinesis.decrease_stream_retention_period(StreamName=name, RetentionPeriodHours=72)
    assert retention() == 72
    kinesis.decrease_stream_retention_period(StreamName=name, RetentionPeriodHours=24)
    assert retention() == 24

    with pytest.raises(ClientError) as e:
        kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=8761)
    assert error_code(e) == "InvalidArgumentException"
    with pytest.raises(ClientError) as e:
        kinesis.decrease_stream_retention_period(StreamName=name, RetentionPeriodHours=23)
    assert error_code(e) == "InvalidArgumentException"
    kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=100)
    # "Increase" to less than the current period, "decrease" to more: both refused.
    with pytest.raises(ClientError) as e:
        kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=50)
    assert error_code(e) == "InvalidArgumentException"
    with pytest.raises(ClientError) as e:
        kinesis.decrease_stream_retention_period(StreamName=name, RetentionPeriodHours=200)
    assert error_code(e) == "InvalidArgumentException"
    assert retention() == 100
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert summary["RetentionPeriodHours"] == 100


def test_tags_can_be_added_listed_and_removed(kinesis, create_stream):
    name = create_stream(1)
    assert kinesis.list_tags_for_stream(StreamName=name)["Tags"] == []

    kinesis.add_tags_to_stream(StreamName=name, Tags={"team": "data", "env": "test"})
    listed = kinesis.list_tags_for_stream(StreamName=name)
    assert {t["Key"]: t["Value"] for t in listed["Tags"]} == {"team": "data", "env": "test"}
    assert listed["HasMoreTags"] is False

    kinesis.add_tags_to_stream(StreamName=name, Tags={"team": "platform"})
    kinesis.remove_tags_from_stream(StreamName=name, TagKeys=["env"])
    listed = kinesis.list_tags_for_stream(StreamName=name)
    assert {t["Key"]: t.get("Value") for t in listed["Tags"]} == {"team": "platform"}

    by_arn = kinesis.list_tags_for_stream(StreamARN=stream_arn(name))
    assert {t["Key"]: t.get("Value") for t in by_arn["Tags"]} == {"team": "platform"}


def test_describe_limits_counts_open_shards(kinesis, create_stream):
    create_stream(3)
    limits = kinesis.describe_limits()
    assert isinstance(limits["ShardLimit"], int)
    assert limits["OpenShardCount"] >= 3
    assert limits["ShardLimit"] >= limits["OpenShardCount"]
    assert isinstance(limits["OnDemandStreamCount"], int)
    assert isinstance(limits["OnDemandStreamCountLimit"], int)


def test_delete_stream_then_it_is_gone(kinesis, unique_name):
    name = unique_name("s")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    kinesis.delete_stream(StreamName=name)
    kinesis.get_waiter("stream_not_exists").wait(
        StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    with pytest.raises(ClientError) as e:
        kinesis.describe_stream(StreamName=name)
    assert error_code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="k")
    assert error_code(e) == "ResourceNotFoundException"
    assert name not in kinesis.list_streams(ExclusiveStartStreamName=name[:-1], Limit=100)[
        "StreamNames"
    ]
    # The name can be used again.
    kinesis.create_stream(StreamName=name, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    kinesis.delete_stream(StreamName=name)


# ---------------------------------------------------------------------------------------
# Writing


def test_put_record_routes_by_explicit_hash_key(kinesis, create_stream):
    name = create_stream(4)
    shards = shards_of(kinesis, name)
    for shard in shards:
        start = int(shard["HashKeyRange"]["StartingHashKey"])
        end = int(shard["HashKeyRange"]["EndingHashKey"])
        for hash_key in (start, (start + end) // 2, end):
            out = kinesis.put_record(
                StreamName=name,
                Data=b"explicit",
                PartitionKey="ignored-for-routing",
                ExplicitHashKey=str(hash_key),
            )
            assert out["ShardId"] == shard["ShardId"], (hash_key, out)


def test_put_record_routes_by_md5_of_partition_key(kinesis, create_stream):
    name = create_stream(4)
    shards = shards_of(kinesis, name)
    # Unicode keys too: the hash is over the UTF-8 bytes, not normalised.
    keys = [f"key-{i}" for i in range(24)] + ["é", "e\u0301", "日本語", "🙂"]
    hit = set()
    for key in keys:
        out = kinesis.put_record(StreamName=name, Data=key.encode(), PartitionKey=key)
        expected = shard_for_hash(shards, partition_hash(key))
        assert out["ShardId"] == expected, key
        hit.add(out["ShardId"])
    assert len(hit) > 1, "28 keys all hashed to one of four shards"


def test_sequence_numbers_are_decimal_and_increase(kinesis, create_stream):
    name = create_stream(1)
    numbers = []
    for i in range(10):
        out = kinesis.put_record(StreamName=name, Data=f"r{i}".encode(), PartitionKey="same")
        assert DECIMAL.match(out["SequenceNumber"]), out["SequenceNumber"]
        numbers.append(int(out["SequenceNumber"]))
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers), numbers

    previous = kinesis.put_record(StreamName=name, Data=b"a", PartitionKey="ordered")
    following = kinesis.put_record(
        StreamName=name,
        Data=b"b",
        PartitionKey="ordered",
        SequenceNumberForOrdering=previous["SequenceNumber"],
    )
    assert int(following["SequenceNumber"]) > int(previous["SequenceNumber"])
    # Every shard's starting number is no larger than what was written to it.
    start = int(
        shards_of(kinesis, name)[0]["SequenceNumberRange"]["StartingSequenceNumber"]
    )
    assert start <= numbers[0]


def test_put_records_500_entries_with_per_entry_results(kinesis, create_stream):
    name = create_stream(3)
    shards = shards_of(kinesis, name)
    entries = [
        {"Data": f"batch-{i:03d}".encode(), "PartitionKey": f"pk-{i % 37}"} for i in range(500)
    ]
    out = kinesis.put_records(StreamName=name, Records=entries)
    assert out["FailedRecordCount"] == 0
    assert len(out["Records"]) == 500
    by_shard = {}
    for entry, result in zip(entries, out["Records"]):
        assert "ErrorCode" not in result, result
        assert DECIMAL.match(result["SequenceNumber"])
        assert result["ShardId"] == shard_for_hash(shards, partition_hash(entry["PartitionKey"]))
        by_shard.setdefault(result["ShardId"], []).append((result["SequenceNumber"], entry))
    # Within a shard, entries get increasing numbers in request order.
    for written in by_shard.values():
        numbers = [int(seq) for seq, _ in written]
        assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)

    # And they are all there to read back, with their keys and data.
    for shard_id, written in by_shard.items():
        records = read_shard(kinesis, name, shard_id, expected=len(written))
        assert [(r["SequenceNumber"], r["PartitionKey"], r["Data"]) for r in records] == [
            (seq, e["PartitionKey"], e["Data"]) for seq, e in written
        ]


def test_put_records_mixes_explicit_hash_keys_and_partition_keys(kinesis, create_stream):
    name = create_stream(2)
    shards = shards_of(kinesis, name)
    last = shards[-1]
    out = kinesis.put_records(
        StreamName=name,
        Records=[
            {"Data": b"to-last", "PartitionKey": "x", "ExplicitHashKey": str(MAX_HASH_KEY)},
            {"Data": b"to-first", "PartitionKey": "x", "ExplicitHashKey": "0"},
            {"Data": b"by-key", "PartitionKey": "x"},
        ],
    )
    assert out["FailedRecordCount"] == 0
    assert out["Records"][0]["ShardId"] == last["ShardId"]
    assert out["Records"][1]["ShardId"] == shards[0]["ShardId"]
    assert out["Records"][2]["ShardId"] == shard_for_hash(shards, partition_hash("x"))


def test_stream_arn_works_in_place_of_stream_name(kinesis, create_stream):
    name = create_stream(1)
    arn = stream_arn(name)
    summary = kinesis.describe_stream_summary(StreamARN=arn)["StreamDescriptionSummary"]
    assert summary["StreamName"] == name
    described = kinesis.describe_stream(StreamARN=arn)["StreamDescription"]
    assert described["StreamName"] == name

    put = kinesis.put_record(StreamARN=arn, Data=b"by-arn", PartitionKey="k")
    batch = kinesis.put_records(
        StreamARN=arn, Records=[{"Data": b"by-arn-batch", "PartitionKey": "k"}]
    )
    assert batch["FailedRecordCount"] == 0
    iterator = kinesis.get_shard_iterator(
        StreamARN=arn,
        ShardId=put["ShardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        StartingSequenceNumber=put["SequenceNumber"],
    )["ShardIterator"]
    records = kinesis.get_records(ShardIterator=iterator, StreamARN=arn)["Records"]
    assert [r["Data"] for r in records[:2]] == [b"by-arn", b"by-arn-batch"]


# ---------------------------------------------------------------------------------------
# Reading


@pytest.fixture
def five_records(kinesis, create_stream):
    """A one-shard stream holding five records; returns (name, shard_id, put results)."""
    name = create_stream(1)
    puts = [
        kinesis.put_record(
            StreamName=name, Data=bytes([i]) * (i + 1) + b"\x00\xff", PartitionKey=f"key-{i}"
        )
        for i in range(5)
    ]
    return name, puts[0]["ShardId"], puts


def iterator_for(kinesis, name, shard_id, kind, **extra):
    return kinesis.get_shard_iterator(
        StreamName=name, ShardId=shard_id, ShardIteratorType=kind, **extra
    )["ShardIterator"]


def test_get_records_returns_what_was_put(kinesis, five_records):
    name, shard_id, puts = five_records
    before = now_utc()
    out = kinesis.get_records(ShardIterator=iterator_for(kinesis, name, shard_id, "TRIM_HORIZON"))
    records = out["Records"]
    assert [r["SequenceNumber"] for r in records] == [p["SequenceNumber"] for p in puts]
    assert [r["Data"] for r in records] == [bytes([i]) * (i + 1) + b"\x00\xff" for i in range(5)]
    assert [r["PartitionKey"] for r in records] == [f"key-{i}" for i in range(5)]
    for record in records:
        arrival = record["ApproximateArrivalTimestamp"]
        assert isinstance(arrival, dt.datetime)
        assert before - dt.timedelta(minutes=5) <= arrival <= now_utc() + dt.timedelta(minutes=1)
    arrivals = [r["ApproximateArrivalTimestamp"] for r in records]
    assert arrivals == sorted(arrivals)
    assert isinstance(out["MillisBehindLatest"], int) and out["MillisBehindLatest"] >= 0
    assert out["NextShardIterator"]

    # The next iterator is at the tip: nothing more, and caught up.
    tail = kinesis.get_records(ShardIterator=out["NextShardIterator"])
    assert tail["Records"] == []
    assert tail["MillisBehindLatest"] == 0
    assert tail["NextShardIterator"]


def test_get_records_limit_and_next_iterator(kinesis, five_records):
    name, shard_id, puts = five_records
    iterator = iterator_for(kinesis, name, shard_id, "TRIM_HORIZON")
    first = kinesis.get_records(ShardIterator=iterator, Limit=2)
    assert [r["SequenceNumber"] for r in first["Records"]] == [
        p["SequenceNumber"] for p in puts[:2]
    ]
    got = list(first["Records"])
    iterator = first["NextShardIterator"]
    for _ in range(20):
        if len(got) >= 5:
            break
        page = kinesis.get_records(ShardIterator=iterator, Limit=2)
        assert len(page["Records"]) <= 2
        got.extend(page["Records"])
        iterator = page["NextShardIterator"]
    assert [r["SequenceNumber"] for r in got] == [p["SequenceNumber"] for p in puts]


def test_iterators_at_and_after_sequence_number(kinesis, five_records):
    name, shard_id, puts = five_records
    at = iterator_for(
        kinesis,
        name,
        shard_id,
        "AT_SEQUENCE_NUMBER",
        StartingSequenceNumber=puts[2]["SequenceNumber"],
    )
    assert [r["SequenceNumber"] for r in kinesis.get_records(ShardIterator=at)["Records"]] == [
        p["SequenceNumber"] for p in puts[2:]
    ]
    after = iterator_for(
        kinesis,
        name,
        shard_id,
        "AFTER_SEQUENCE_NUMBER",
        StartingSequenceNumber=puts[2]["SequenceNumber"],
    )
    assert [
        r["SequenceNumber"] for r in kinesis.get_records(ShardIterator=after)["Records"]
    ] == [p["SequenceNumber"] for p in puts[3:]]
    after_last = iterator_for(
        kinesis,
        name,
        shard_id,
        "AFTER_SEQUENCE_NUMBER",
        StartingSequenceNumber=puts[-1]["SequenceNumber"],
    )
    assert kinesis.get_records(ShardIterator=after_last)["Records"] == []


def test_latest_iterator_sees_only_later_records(kinesis, five_records):
    name, shard_id, _ = five_records
    latest = iterator_for(kinesis, name, shard_id, "LATEST")
    out = kinesis.get_records(ShardIterator=latest)
    assert out["Records"] == []
    put = kinesis.put_record(StreamName=name, Data=b"after-latest", PartitionKey="k")
    # Both the original LATEST iterator and the one it handed back see the new record.
    for iterator in (latest, out["NextShardIterator"]):
        records = kinesis.get_records(ShardIterator=iterator)["Records"]
        assert [(r["SequenceNumber"], r["Data"]) for r in records] == [
            (put["SequenceNumber"], b"after-latest")
        ]


def test_at_timestamp_iterator(kinesis, create_stream):
    name = create_stream(1)
    start = now_utc() - dt.timedelta(seconds=5)
    early = [
        kinesis.put_record(StreamName=name, Data=f"early-{i}".encode(), PartitionKey="k")
        for i in range(3)
    ]
    shard_id = early[0]["ShardId"]
    # Arrival timestamps have millisecond precision: leave a clear gap around the mark.
    time.sleep(1.0)
    mark = now_utc()
    time.sleep(1.0)
    late = [
        kinesis.put_record(StreamName=name, Data=f"late-{i}".encode(), PartitionKey="k")
        for i in range(2)
    ]

    def read_from(timestamp):
        iterator = iterator_for(kinesis, name, shard_id, "AT_TIMESTAMP", Timestamp=timestamp)
        return [r["SequenceNumber"] for r in kinesis.get_records(ShardIterator=iterator)["Records"]]

    assert read_from(start) == [p["SequenceNumber"] for p in early + late]
    assert read_from(mark) == [p["SequenceNumber"] for p in late]
    assert read_from(now_utc() + dt.timedelta(seconds=5)) == []


# ---------------------------------------------------------------------------------------
# Errors


def test_unknown_stream_is_resource_not_found(kinesis, unique_name):
    missing = unique_name("missing")
    calls = [
        lambda: kinesis.describe_stream(StreamName=missing),
        lambda: kinesis.describe_stream_summary(StreamName=missing),
        lambda: kinesis.put_record(StreamName=missing, Data=b"x", PartitionKey="k"),
        lambda: kinesis.put_records(
            StreamName=missing, Records=[{"Data": b"x", "PartitionKey": "k"}]
        ),
        lambda: kinesis.list_shards(StreamName=missing),
        lambda: kinesis.get_shard_iterator(
            StreamName=missing, ShardId="shardId-000000000000", ShardIteratorType="LATEST"
        ),
        lambda: kinesis.delete_stream(StreamName=missing),
        lambda: kinesis.list_tags_for_stream(StreamName=missing),
        lambda: kinesis.increase_stream_retention_period(
            StreamName=missing, RetentionPeriodHours=48
        ),
    ]
    for call in calls:
        with pytest.raises(ClientError) as e:
            call()
        assert error_code(e) == "ResourceNotFoundException", e.value.operation_name
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_unknown_shard_is_resource_not_found(kinesis, create_stream):
    name = create_stream(1)
    with pytest.raises(ClientError) as e:
        kinesis.get_shard_iterator(
            StreamName=name, ShardId="shardId-000000000099", ShardIteratorType="TRIM_HORIZON"
        )
    assert error_code(e) == "ResourceNotFoundException"


def test_existing_stream_is_resource_in_use(kinesis, create_stream):
    name = create_stream(1)
    with pytest.raises(ClientError) as e:
        kinesis.create_stream(StreamName=name, ShardCount=1)
    assert error_code(e) == "ResourceInUseException"


@pytest.mark.parametrize("shard_count", [0, -1])
def test_bad_shard_count_is_validation_error(kinesis_unvalidated, unique_name, shard_count):
    with pytest.raises(ClientError) as e:
        kinesis_unvalidated.create_stream(StreamName=unique_name("s"), ShardCount=shard_count)
    assert error_code(e) == "ValidationException"


@pytest.mark.parametrize("bad_name", ["has space", "slash/name", "x" * 129, "star*"])
def test_bad_stream_name_is_validation_error(kinesis_unvalidated, bad_name):
    with pytest.raises(ClientError) as e:
        kinesis_unvalidated.create_stream(StreamName=bad_name, ShardCount=1)
    assert error_code(e) == "ValidationException"


def test_record_shape_errors_are_validation_errors(kinesis, kinesis_unvalidated, create_stream):
    name = create_stream(1)
    cases = {
        "empty partition key": dict(Data=b"x", PartitionKey=""),
        "257-character partition key": dict(Data=b"x", PartitionKey="k" * 257),
        "data over 1 MiB": dict(Data=b"x" * (1024 * 1024 + 1), PartitionKey="k"),
    }
    for what, params in cases.items():
        with pytest.raises(ClientError) as e:
            kinesis_unvalidated.put_record(StreamName=name, **params)
        assert error_code(e) == "ValidationException", what

    with pytest.raises(ClientError) as e:
        kinesis_unvalidated.put_records(
            StreamName=name, Records=[{"Data": b"x", "PartitionKey": "k"}] * 501
        )
    assert error_code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        kinesis_unvalidated.put_records(StreamName=name, Records=[])
    assert error_code(e) == "ValidationException"
    # One bad entry refuses the whole PutRecords request.
    with pytest.raises(ClientError) as e:
        kinesis_unvalidated.put_records(
            StreamName=name,
            Records=[{"Data": b"fine", "PartitionKey": "k"}, {"Data": b"x", "PartitionKey": ""}],
        )
    assert error_code(e) == "ValidationException"
    # The key limit counts characters, not bytes: 256 two-byte characters are fine.
    accepted = kinesis.put_record(StreamName=name, Data=b"wide", PartitionKey="é" * 256)
    with pytest.raises(ClientError) as e:
        kinesis_unvalidated.put_record(StreamName=name, Data=b"x", PartitionKey="é" * 257)
    assert error_code(e) == "ValidationException"

    # Nothing of the refused requests was written; a record just under 1 MiB is fine.
    big = kinesis.put_record(StreamName=name, Data=b"y" * (1024 * 1024 - 256), PartitionKey="k")
    records = read_shard(kinesis, name, big["ShardId"], expected=2)
    assert [r["SequenceNumber"] for r in records] == [
        accepted["SequenceNumber"],
        big["SequenceNumber"],
    ]
    assert records[0]["PartitionKey"] == "é" * 256
    assert len(records[1]["Data"]) == 1024 * 1024 - 256

    for limit in (0, 10001):
        iterator = kinesis.get_shard_iterator(
            StreamName=name, ShardId=big["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        with pytest.raises(ClientError) as e:
            kinesis_unvalidated.get_records(ShardIterator=iterator, Limit=limit)
        assert error_code(e) == "ValidationException", limit


def test_explicit_hash_key_out_of_range_is_invalid_argument(kinesis, create_stream):
    name = create_stream(1)
    with pytest.raises(ClientError) as e:
        kinesis.put_record(
            StreamName=name, Data=b"x", PartitionKey="k", ExplicitHashKey=str(2**128)
        )
    assert error_code(e) == "InvalidArgumentException"


def test_garbage_shard_iterator_is_invalid_argument(kinesis):
    for garbage in ("not-an-iterator", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="):
        with pytest.raises(ClientError) as e:
            kinesis.get_records(ShardIterator=garbage)
        assert error_code(e) == "InvalidArgumentException", garbage


def test_never_assigned_sequence_number_is_invalid_argument(kinesis, create_stream):
    name = create_stream(1)
    put = kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="k")
    never = str(int(put["SequenceNumber"]) * 10 + 12345)
    for kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
        with pytest.raises(ClientError) as e:
            kinesis.get_shard_iterator(
                StreamName=name,
                ShardId=put["ShardId"],
                ShardIteratorType=kind,
                StartingSequenceNumber=never,
            )
        assert error_code(e) == "InvalidArgumentException", kind
