"""Fixtures for the AWS conformance suite: real boto3 and AWS CLI clients against a running
`eddy serve`.

The Rust harness (or a developer) starts the server and sets:
- EDDY_HTTP_ENDPOINT: `http://127.0.0.1:PORT` of the Kinesis and Lambda HTTP APIs (required;
  the suite fails, it does not skip, when it is missing);
- EDDY_GRPC_ENDPOINT, EDDY_BIN: the gRPC endpoint and the `eddy` binary (optional here);
- AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_DEFAULT_REGION (default test/test/us-east-1).

Every test shares that one server, so every stream and function name is unique per test
(`unique_name`), and whatever a test creates is deleted when it ends, best effort.
"""

import base64
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ACCOUNT_ID = "000000000000"
REGION = "us-east-1"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/lambda-role"
MAX_HASH_KEY = 2**128 - 1

ENDPOINT = os.environ.get("EDDY_HTTP_ENDPOINT", "")
ACCESS_KEY_ID = os.environ.get("AWS_ACCESS_KEY_ID", "test")
SECRET_ACCESS_KEY = os.environ.get("AWS_SECRET_ACCESS_KEY", "test")


@pytest.fixture(scope="session", autouse=True)
def endpoint():
    """The server under test. Missing is a failure, never a skip: a CI run that silently
    tested nothing would look green."""
    if not ENDPOINT:
        pytest.fail(
            "EDDY_HTTP_ENDPOINT is not set: start `eddy serve --http-addr 127.0.0.1:0` and "
            "export EDDY_HTTP_ENDPOINT=http://127.0.0.1:PORT (the Rust harness that runs this "
            "suite does)",
            pytrace=False,
        )
    return ENDPOINT


# Run order under `-x`: the building blocks first, the flows that need them all last.
MODULE_ORDER = [
    "test_kinesis.py",
    "test_kinesis_cbor.py",
    "test_lambda.py",
    "test_event_source_mappings.py",
    "test_end_to_end.py",
    "test_cli.py",
]


def pytest_collection_modifyitems(session, config, items):
    def rank(item):
        name = item.path.name
        return MODULE_ORDER.index(name) if name in MODULE_ORDER else len(MODULE_ORDER)

    items.sort(key=rank)  # stable: keeps each module's own order


def _client(service, endpoint, **config):
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        config=Config(
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=5,
            read_timeout=60,
            **config,
        ),
    )


@pytest.fixture(scope="session")
def kinesis(endpoint):
    return _client("kinesis", endpoint)


@pytest.fixture(scope="session")
def kinesis_unvalidated(endpoint):
    """A Kinesis client that sends what botocore would refuse (ShardCount 0, an empty
    partition key, 501 records), so the server's own validation is what is tested."""
    return _client("kinesis", endpoint, parameter_validation=False)


@pytest.fixture(scope="session")
def lambda_(endpoint):
    return _client("lambda", endpoint)


@pytest.fixture(scope="session")
def lambda_unvalidated(endpoint):
    return _client("lambda", endpoint, parameter_validation=False)


def error_code(excinfo):
    """The AWS error code of a `pytest.raises(ClientError)` result."""
    return excinfo.value.response["Error"]["Code"]


def http_status(excinfo):
    return excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


# ---------------------------------------------------------------------------------------
# Names


@pytest.fixture
def unique_name(request):
    """`unique_name("s")` -> `s-<test>-<random>`: unique per call, readable in server logs,
    at most 60 characters (Lambda function names allow 64)."""
    test = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name.removeprefix("test_"))[:28]

    def make(prefix):
        return f"{prefix}-{test}-{uuid.uuid4().hex[:10]}".replace("--", "-")

    return make


# ---------------------------------------------------------------------------------------
# Polling


def eventually(fn, timeout=60.0, interval=0.2, what=None):
    """Calls `fn` until it returns without raising (AssertionError or ClientError) and
    with a truthy value; returns that value. On the deadline, raises the last failure.
    Deadlines are generous; nothing here asserts on timings."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = fn()
            if value:
                return value
            last = AssertionError(f"{what or fn.__name__}: got {value!r}")
        except (AssertionError, ClientError) as e:
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"{what or getattr(fn, '__name__', 'condition')} did not hold within "
                f"{timeout}s; last: {last!r}"
            ) from last
        time.sleep(interval)


# ---------------------------------------------------------------------------------------
# Function code


def make_zip(files):
    """An in-memory zip. `files` maps a path to its text or bytes, or to `(content, mode)`
    to set Unix permissions (e.g. 0o755 for a `bootstrap`)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in sorted(files.items()):
            mode = 0o644
            if isinstance(content, tuple):
                content, mode = content
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)
    return buf.getvalue()


def code_sha256(zip_bytes):
    """What Lambda reports as CodeSha256: base64 of the SHA-256 of the zip."""
    return base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode()


def wait_function_active(lambda_client, name):
    lambda_client.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )


@pytest.fixture
def create_function(lambda_, unique_name):
    """`create_function(source, **overrides)` creates a python3.12 function whose `app.py`
    is `source` (Handler `app.handler`), waits until it is Active and returns the
    CreateFunction response. Deleted at teardown."""
    created = []

    def create(source=None, zip_bytes=None, name=None, **overrides):
        name = name or unique_name("fn")
        params = {
            "FunctionName": name,
            "Runtime": "python3.12",
            "Role": ROLE_ARN,
            "Handler": "app.handler",
            "Code": {"ZipFile": zip_bytes if zip_bytes is not None else make_zip({"app.py": source})},
            "Timeout": 10,
            "MemorySize": 128,
        }
        params.update(overrides)
        response = lambda_.create_function(**params)
        created.append(name)
        wait_function_active(lambda_, name)
        return response

    yield create
    for name in created:
        try:
            lambda_.delete_function(FunctionName=name)
        except ClientError:
            pass


@pytest.fixture
def delete_mappings(lambda_):
    """Append a mapping's UUID to have it deleted at teardown."""
    uuids = []
    yield uuids
    for uuid in uuids:
        try:
            lambda_.delete_event_source_mapping(UUID=uuid)
        except ClientError:
            pass


# ---------------------------------------------------------------------------------------
# Streams


def stream_arn(name):
    return f"arn:aws:kinesis:{REGION}:{ACCOUNT_ID}:stream/{name}"


def wait_stream_active(kinesis_client, name):
    kinesis_client.get_waiter("stream_exists").wait(
        StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )


@pytest.fixture
def create_stream(kinesis, unique_name):
    """`create_stream(shard_count)` creates a stream, waits for ACTIVE and returns its
    name. Deleted at teardown."""
    created = []

    def create(shard_count=1, name=None):
        name = name or unique_name("s")
        kinesis.create_stream(StreamName=name, ShardCount=shard_count)
        created.append(name)
        wait_stream_active(kinesis, name)
        return name

    yield create
    for name in created:
        try:
            kinesis.delete_stream(StreamName=name)
        except ClientError:
            pass


def shards_of(kinesis_client, name):
    """Every shard of a stream, sorted by StartingHashKey (as integers)."""
    shards = kinesis_client.list_shards(StreamName=name)["Shards"]
    return sorted(shards, key=lambda s: int(s["HashKeyRange"]["StartingHashKey"]))


def shard_for_hash(shards, hash_key):
    for shard in shards:
        r = shard["HashKeyRange"]
        if int(r["StartingHashKey"]) <= hash_key <= int(r["EndingHashKey"]):
            return shard["ShardId"]
    raise AssertionError(f"no shard holds hash key {hash_key}")


def partition_hash(partition_key):
    """Kinesis routing: the MD5 of the UTF-8 key as a big-endian 128-bit integer."""
    return int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")


def read_shard(kinesis_client, name, shard_id, expected=None, timeout=30.0):
    """Reads a shard from TRIM_HORIZON until `expected` records are in hand (or, when
    `expected` is None, until a call returns no records). Returns the records."""
    iterator = kinesis_client.get_shard_iterator(
        StreamName=name, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = []
    deadline = time.monotonic() + timeout
    while iterator:
        out = kinesis_client.get_records(ShardIterator=iterator, Limit=10000)
        records.extend(out["Records"])
        iterator = out.get("NextShardIterator")
        if expected is None and not out["Records"]:
            break
        if expected is not None and len(records) >= expected:
            break
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{shard_id} of {name}: {len(records)} records after {timeout}s, "
                f"expected {expected}"
            )
        if not out["Records"]:
            time.sleep(0.2)
    return records


# ---------------------------------------------------------------------------------------
# AWS CLI


class AwsCliError(Exception):
    def __init__(self, args, returncode, stdout, stderr):
        super().__init__(f"aws {' '.join(args)} exited {returncode}: {stderr.strip()}")
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


def _aws_executable():
    beside = Path(sys.executable).parent / "aws"
    if beside.exists():
        return str(beside)
    found = shutil.which("aws")
    if not found:
        pytest.fail("the AWS CLI (`aws`) is not installed: run scripts/setup-python.sh")
    return found


@pytest.fixture(scope="session")
def aws(endpoint, tmp_path_factory):
    """`aws("kinesis", "list-streams")` runs the real AWS CLI against the server with
    `--output json`; returns the parsed JSON (None for an empty output) or raises
    AwsCliError with the exit code and stderr."""
    executable = _aws_executable()
    home = tmp_path_factory.mktemp("aws-cli-home")
    env = dict(os.environ)
    env.update(
        {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": REGION,
            # Whatever ~/.aws holds on this machine does not leak into the test.
            "AWS_CONFIG_FILE": str(home / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
            "AWS_PAGER": "",
            "AWS_MAX_ATTEMPTS": "3",
            "AWS_RETRY_MODE": "standard",
        }
    )
    env.pop("AWS_PROFILE", None)

    def run(*args, check=True):
        args = [str(a) for a in args]
        proc = subprocess.run(
            [executable, "--endpoint-url", endpoint, "--output", "json", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        if proc.returncode != 0:
            raise AwsCliError(args, proc.returncode, proc.stdout, proc.stderr)
        out = proc.stdout.strip()
        return json.loads(out) if out else None

    return run


# ---------------------------------------------------------------------------------------
# Raw, signed HTTP (for what boto3 does not send: CBOR, unknown targets, bad bodies)


@pytest.fixture(scope="session")
def signed_post(endpoint):
    """`signed_post(target, body, content_type)` sends `POST /` with `X-Amz-Target`,
    SigV4-signed with botocore's signer; returns `(status, headers, body_bytes)`."""
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    credentials = Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def post(target, body, content_type):
        headers = {"Content-Type": content_type, "X-Amz-Target": target}
        request = AWSRequest(method="POST", url=endpoint + "/", data=body, headers=headers)
        SigV4Auth(credentials, "kinesis", REGION).add_auth(request)
        prepared = urllib.request.Request(
            endpoint + "/", data=body, headers=dict(request.headers.items()), method="POST"
        )
        try:
            with opener.open(prepared, timeout=30) as response:
                return response.status, dict(response.headers.items()), response.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers.items()), e.read()

    return post
