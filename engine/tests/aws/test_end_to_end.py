"""The whole path with unchanged boto3 code: records put into a Kinesis stream reach a
Python function through an event source mapping, with a partial batch failure retried;
then the same function is invoked directly, synchronously and asynchronously."""

import json
from collections import defaultdict

from conftest import REGION, eventually, stream_arn

# Appends one JSON line per record to $OUT_DIR/seen.jsonl (one os.write per line on an
# O_APPEND file, so concurrent batches never interleave within a line). Fails the record
# whose data is $FAIL_DATA once, through ReportBatchItemFailures, then stops the batch.
# Invoked directly (no "Records"), it echoes, and writes `event["write"]` if asked.
RECORDER = """
import base64, json, os

def _append(path, obj):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(obj) + "\\n").encode())
    finally:
        os.close(fd)

def handler(event, context):
    out_dir = os.environ["OUT_DIR"]
    if "Records" not in event:
        if event.get("write"):
            _append(os.path.join(out_dir, event["write"]), event)
        return {"direct": event, "request_id": context.aws_request_id}
    seen = os.path.join(out_dir, "seen.jsonl")
    for record in event["Records"]:
        kinesis = record["kinesis"]
        data = base64.b64decode(kinesis["data"]).decode()
        line = {
            "batch": context.aws_request_id,
            "batch_size": len(event["Records"]),
            "seq": kinesis["sequenceNumber"],
            "pk": kinesis["partitionKey"],
            "data": data,
            "schema": kinesis.get("kinesisSchemaVersion"),
            "arrival": kinesis.get("approximateArrivalTimestamp"),
            "eventSource": record.get("eventSource"),
            "eventSourceARN": record.get("eventSourceARN"),
            "eventName": record.get("eventName"),
            "eventVersion": record.get("eventVersion"),
            "eventID": record.get("eventID"),
            "awsRegion": record.get("awsRegion"),
            "status": "ok",
        }
        if data == os.environ["FAIL_DATA"]:
            try:
                os.close(os.open(os.path.join(out_dir, "failed-once"), os.O_CREAT | os.O_EXCL))
                first_time = True
            except FileExistsError:
                first_time = False
            if first_time:
                line["status"] = "failed"
                _append(seen, line)
                return {"batchItemFailures": [{"itemIdentifier": kinesis["sequenceNumber"]}]}
        _append(seen, line)
    return {"batchItemFailures": []}
"""

BATCH_RECORDS = 200
SINGLE_RECORDS = 12
KEYS = [f"user-{i}" for i in range(8)]
FAIL_DATA = "batch-0042"


def read_lines(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_records_flow_from_a_stream_to_a_function_and_invoke_still_works(
    kinesis, lambda_, create_stream, create_function, delete_mappings, tmp_path
):
    stream = create_stream(3)
    arn = stream_arn(stream)
    function = create_function(
        RECORDER,
        Timeout=30,
        Environment={"Variables": {"OUT_DIR": str(tmp_path), "FAIL_DATA": FAIL_DATA}},
    )
    name = function["FunctionName"]
    mapping = lambda_.create_event_source_mapping(
        FunctionName=name,
        EventSourceArn=arn,
        StartingPosition="TRIM_HORIZON",
        BatchSize=25,
        MaximumBatchingWindowInSeconds=1,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    delete_mappings.append(mapping["UUID"])

    # Put: two PutRecords calls of 100, then single PutRecord calls, interleaving keys.
    put_order = defaultdict(list)  # partition key -> data, in put order
    sequence_of = {}  # data -> (shard id, sequence number)
    entries = [
        {"Data": f"batch-{i:04d}".encode(), "PartitionKey": KEYS[i % len(KEYS)]}
        for i in range(BATCH_RECORDS)
    ]
    for chunk in (entries[:100], entries[100:]):
        out = kinesis.put_records(StreamName=stream, Records=chunk)
        assert out["FailedRecordCount"] == 0
        for entry, result in zip(chunk, out["Records"]):
            data = entry["Data"].decode()
            put_order[entry["PartitionKey"]].append(data)
            sequence_of[data] = (result["ShardId"], result["SequenceNumber"])
    for j in range(SINGLE_RECORDS):
        key = KEYS[j % len(KEYS)]
        data = f"single-{j:02d}"
        out = kinesis.put_record(StreamName=stream, Data=data.encode(), PartitionKey=key)
        put_order[key].append(data)
        sequence_of[data] = (out["ShardId"], out["SequenceNumber"])
    assert len({shard for shard, _ in sequence_of.values()}) > 1, "keys all on one shard"
    expected = set(sequence_of)
    assert FAIL_DATA in expected

    seen_path = tmp_path / "seen.jsonl"

    def all_processed():
        lines = read_lines(seen_path)
        ok = {line["data"] for line in lines if line["status"] == "ok"}
        missing = expected - ok
        assert not missing, f"{len(missing)} not yet processed, e.g. {sorted(missing)[:5]}"
        return lines

    lines = eventually(all_processed, timeout=120, interval=0.5, what="every record processed")

    # Every delivery is of a record that was put, with the number PutRecords gave it.
    for line in lines:
        assert line["data"] in expected, line
        shard_id, seq = sequence_of[line["data"]]
        assert line["seq"] == seq, line
        assert line["eventID"] == f"{shard_id}:{seq}", line
        assert line["eventSource"] == "aws:kinesis"
        assert line["eventSourceARN"] == arn
        assert line["eventName"] == "aws:kinesis:record"
        assert line["eventVersion"] == "1.0"
        assert line["schema"] == "1.0"
        assert line["awsRegion"] == REGION
        assert isinstance(line["arrival"], (int, float))
        assert line["batch_size"] <= 25

    # A batch comes from one shard.
    shards_per_batch = defaultdict(set)
    for line in lines:
        shards_per_batch[line["batch"]].add(line["eventID"].split(":")[0])
    assert all(len(shards) == 1 for shards in shards_per_batch.values()), shards_per_batch

    # The failed record: reported once, then delivered again and succeeded.
    statuses = [line["status"] for line in lines if line["data"] == FAIL_DATA]
    assert statuses[0] == "failed" and "ok" in statuses[1:], statuses
    assert len(statuses) >= 2
    failed_batch = next(l["batch"] for l in lines if l["status"] == "failed")
    retried = [l for l in lines if l["data"] == FAIL_DATA and l["status"] == "ok"]
    assert retried[0]["batch"] != failed_batch

    # Per partition key, first deliveries come in put order.
    first_seen = defaultdict(list)
    delivered = set()
    for line in lines:
        if line["data"] not in delivered:
            delivered.add(line["data"])
            first_seen[line["pk"]].append(line["data"])
    for key in KEYS:
        assert first_seen[key] == put_order[key], key

    # Records before the failed one on its shard were not redelivered; at-least-once allows
    # repeats only from the failed record on.
    fail_shard, fail_seq = sequence_of[FAIL_DATA]
    counts = defaultdict(int)
    for line in lines:
        counts[line["data"]] += 1
    for data, (shard_id, seq) in sequence_of.items():
        if shard_id == fail_shard and int(seq) < int(fail_seq):
            assert counts[data] == 1, (data, counts[data])

    mapping_state = lambda_.get_event_source_mapping(UUID=mapping["UUID"])
    assert mapping_state["State"] == "Enabled"

    # The same function, invoked directly: synchronously...
    response = lambda_.invoke(
        FunctionName=name,
        InvocationType="RequestResponse",
        Payload=json.dumps({"hello": "direct"}).encode(),
    )
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    result = json.loads(response["Payload"].read())
    assert result["direct"] == {"hello": "direct"}

    # ... and asynchronously, observed through what it writes.
    response = lambda_.invoke(
        FunctionName=name,
        InvocationType="Event",
        Payload=json.dumps({"write": "async.jsonl", "n": 7}).encode(),
    )
    assert response["StatusCode"] == 202
    async_path = tmp_path / "async.jsonl"
    written = eventually(lambda: read_lines(async_path), timeout=60, what="async invoke ran")
    assert written[0] == {"write": "async.jsonl", "n": 7}

    # Deleting the mapping stops delivery of new records.
    lambda_.delete_event_source_mapping(UUID=mapping["UUID"])
    eventually(
        lambda: lambda_.list_event_source_mappings(FunctionName=name)["EventSourceMappings"] == [],
        timeout=30,
        what="mapping deleted",
    )


def test_a_mapping_starting_at_latest_skips_older_records(
    kinesis, lambda_, create_stream, create_function, delete_mappings, tmp_path
):
    stream = create_stream(1)
    kinesis.put_records(
        StreamName=stream,
        Records=[{"Data": f"old-{i}".encode(), "PartitionKey": "k"} for i in range(5)],
    )
    function = create_function(
        RECORDER,
        Environment={"Variables": {"OUT_DIR": str(tmp_path), "FAIL_DATA": "-none-"}},
    )
    mapping = lambda_.create_event_source_mapping(
        FunctionName=function["FunctionName"],
        EventSourceArn=stream_arn(stream),
        StartingPosition="LATEST",
        BatchSize=10,
    )
    delete_mappings.append(mapping["UUID"])
    eventually(
        lambda: lambda_.get_event_source_mapping(UUID=mapping["UUID"])["State"] == "Enabled",
        timeout=30,
        what="mapping Enabled",
    )
    # LATEST is taken when the mapping starts polling; keep putting fresh records until one
    # arrives, then check no old record ever did.
    seen_path = tmp_path / "seen.jsonl"
    counter = iter(range(10**6))

    def a_new_record_arrives():
        kinesis.put_record(StreamName=stream, Data=f"new-{next(counter)}".encode(), PartitionKey="k")
        return [l for l in read_lines(seen_path) if l["data"].startswith("new-")]

    eventually(a_new_record_arrives, timeout=60, interval=1.0, what="a new record delivered")
    assert not [l for l in read_lines(seen_path) if l["data"].startswith("old-")]

