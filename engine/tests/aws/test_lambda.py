"""Lambda functions and Invoke through boto3: python3.12 handlers run by the real
awslambdaric, and a `provided.al2023` bootstrap speaking the Runtime API itself."""

import base64
import datetime as dt
import json
import os
import re
import sys

import pytest
from botocore.exceptions import ClientError

from conftest import (
    ROLE_ARN,
    code_sha256,
    error_code,
    eventually,
    make_zip,
    wait_function_active,
)

# Echoes the event with what it can see; writes `event["write"]` under $OUT_DIR; raises
# when asked. `VERSION` is replaced to tell code versions apart.
ECHO = """
import json, os
VERSION = "v1"
def handler(event, context):
    print("handler-log-marker", event.get("marker"), flush=True)
    if event.get("fail"):
        raise ValueError("failing on purpose: " + str(event.get("marker")))
    if event.get("write"):
        path = os.path.join(os.environ["OUT_DIR"], event["write"])
        with open(path + ".tmp", "w") as out:
            json.dump(event, out)
        os.rename(path + ".tmp", path)
    return {
        "echo": event,
        "version": VERSION,
        "greeting": os.environ.get("GREETING"),
        "function_name": context.function_name,
        "invoked_arn": context.invoked_function_arn,
        "memory": context.memory_limit_in_mb,
        "request_id": context.aws_request_id,
        "remaining_ms_positive": context.get_remaining_time_in_millis() > 0,
        "handler_env": os.environ.get("_HANDLER"),
        "region": os.environ.get("AWS_REGION"),
    }
"""

FUNCTION_ARN = re.compile(r"^arn:aws:lambda:us-east-1:000000000000:function:[A-Za-z0-9_-]+$")


def invoke_json(lambda_, name, event, **extra):
    response = lambda_.invoke(FunctionName=name, Payload=json.dumps(event).encode(), **extra)
    return response, json.loads(response["Payload"].read() or b"null")


@pytest.fixture
def echo(create_function, tmp_path):
    """An Active ECHO function with OUT_DIR = tmp_path; returns its CreateFunction response."""
    return create_function(
        ECHO, Environment={"Variables": {"OUT_DIR": str(tmp_path), "GREETING": "hello"}}
    )


def test_create_function_reports_its_configuration(lambda_, create_function, tmp_path):
    zip_bytes = make_zip({"app.py": ECHO})
    created = create_function(
        zip_bytes=zip_bytes,
        Timeout=7,
        MemorySize=256,
        Description="conformance",
        Environment={"Variables": {"OUT_DIR": str(tmp_path), "GREETING": "hi"}},
    )
    name = created["FunctionName"]
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert created["Runtime"] == "python3.12"
    assert created["Handler"] == "app.handler"
    assert created["Role"] == ROLE_ARN
    assert created["Timeout"] == 7
    assert created["MemorySize"] == 256
    assert created["Description"] == "conformance"
    assert created["Environment"]["Variables"] == {"OUT_DIR": str(tmp_path), "GREETING": "hi"}
    assert created["CodeSha256"] == code_sha256(zip_bytes)
    assert created["CodeSize"] == len(zip_bytes)
    assert created["Version"] == "$LATEST"
    assert created["State"] in ("Pending", "Active")
    assert created["PackageType"] == "Zip"

    configuration = lambda_.get_function_configuration(FunctionName=name)
    got = lambda_.get_function(FunctionName=name)["Configuration"]
    for config in (configuration, got):
        assert config["FunctionName"] == name
        assert config["FunctionArn"] == created["FunctionArn"]
        assert config["Runtime"] == "python3.12"
        assert config["Handler"] == "app.handler"
        assert config["Timeout"] == 7
        assert config["MemorySize"] == 256
        assert config["CodeSha256"] == code_sha256(zip_bytes)
        assert config["CodeSize"] == len(zip_bytes)
        assert config["Environment"]["Variables"]["GREETING"] == "hi"
        assert config["State"] == "Active"
        assert config["LastUpdateStatus"] == "Successful"
        # LastModified is Lambda's ISO-8601 string, e.g. 2024-01-01T00:00:00.000+0000.
        assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", config["LastModified"])

    # Addressed by ARN too.
    by_arn = lambda_.get_function_configuration(FunctionName=created["FunctionArn"])
    assert by_arn["FunctionName"] == name


def test_list_functions_pages_with_max_items_and_marker(lambda_, create_function, unique_name):
    names = {create_function(ECHO)["FunctionName"] for _ in range(3)}
    seen = []
    page = lambda_.list_functions(MaxItems=1)
    pages = 1
    while True:
        assert len(page["Functions"]) <= 1
        seen.extend(f["FunctionName"] for f in page["Functions"])
        if not page.get("NextMarker"):
            break
        page = lambda_.list_functions(MaxItems=1, Marker=page["NextMarker"])
        pages += 1
        assert pages < 10000, "ListFunctions pagination does not end"
    assert len(seen) == len(set(seen)), f"a function was listed twice: {seen}"
    assert names <= set(seen)
    assert pages >= 3

    paged = [
        f
        for p in lambda_.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 2})
        for f in p["Functions"]
    ]
    ours = {f["FunctionName"]: f for f in paged if f["FunctionName"] in names}
    assert set(ours) == names
    for f in ours.values():
        assert FUNCTION_ARN.match(f["FunctionArn"])
        assert f["Runtime"] == "python3.12"


def test_invoke_request_response_returns_the_result(lambda_, echo):
    name = echo["FunctionName"]
    response, result = invoke_json(lambda_, name, {"marker": "sync", "n": [1, 2, 3]})
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in response
    assert result["echo"] == {"marker": "sync", "n": [1, 2, 3]}
    assert result["version"] == "v1"
    assert result["greeting"] == "hello"
    assert result["function_name"] == name
    assert result["invoked_arn"].startswith(echo["FunctionArn"])
    assert int(result["memory"]) == 128  # awslambdaric passes the env var's string
    assert result["remaining_ms_positive"] is True
    assert result["region"] == "us-east-1"
    assert result["handler_env"] == "app.handler"
    # Explicit RequestResponse is the same as the default; each call has its own id.
    again, result2 = invoke_json(
        lambda_, name, {"marker": "sync2"}, InvocationType="RequestResponse"
    )
    assert again["StatusCode"] == 200
    assert result2["echo"] == {"marker": "sync2"}
    assert result2["request_id"] != result["request_id"]


def test_invoke_with_an_empty_payload(lambda_, echo):
    response = lambda_.invoke(FunctionName=echo["FunctionName"])
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    result = json.loads(response["Payload"].read())
    assert result["echo"] == {}


def test_a_raising_handler_is_an_unhandled_function_error(lambda_, echo):
    response, body = invoke_json(lambda_, echo["FunctionName"], {"fail": True, "marker": "boom"})
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError"
    assert "failing on purpose: boom" in body["errorMessage"]
    assert isinstance(body.get("stackTrace", []), list)
    # The function still works afterwards.
    response, result = invoke_json(lambda_, echo["FunctionName"], {"marker": "after"})
    assert "FunctionError" not in response
    assert result["echo"] == {"marker": "after"}


def test_log_type_tail_returns_the_log_in_base64(lambda_, echo):
    response, _ = invoke_json(lambda_, echo["FunctionName"], {"marker": "tail-7f3a"}, LogType="Tail")
    log = base64.b64decode(response["LogResult"]).decode("utf-8", "replace")
    assert "handler-log-marker tail-7f3a" in log
    assert len(base64.b64decode(response["LogResult"])) <= 4096


def test_invocation_type_event_runs_asynchronously(lambda_, echo, tmp_path):
    response = lambda_.invoke(
        FunctionName=echo["FunctionName"],
        InvocationType="Event",
        Payload=json.dumps({"write": "async.json", "marker": "async"}).encode(),
    )
    assert response["StatusCode"] == 202
    assert response["Payload"].read() == b""
    written = tmp_path / "async.json"
    eventually(written.exists, timeout=60, what="the Event invocation's file")
    assert json.loads(written.read_text()) == {"write": "async.json", "marker": "async"}


def test_dry_run_checks_without_running(lambda_, echo, tmp_path):
    response = lambda_.invoke(
        FunctionName=echo["FunctionName"],
        InvocationType="DryRun",
        Payload=json.dumps({"write": "dry.json"}).encode(),
    )
    assert response["StatusCode"] == 204
    # A later synchronous call has surely run after anything the dry run could have queued.
    invoke_json(lambda_, echo["FunctionName"], {"marker": "after-dry-run"})
    assert not (tmp_path / "dry.json").exists()


def test_update_function_configuration_changes_the_next_invoke(lambda_, echo, tmp_path):
    name = echo["FunctionName"]
    updated = lambda_.update_function_configuration(
        FunctionName=name,
        Environment={"Variables": {"OUT_DIR": str(tmp_path), "GREETING": "bonjour"}},
        Timeout=12,
        MemorySize=512,
    )
    assert updated["Environment"]["Variables"]["GREETING"] == "bonjour"
    assert updated["Timeout"] == 12
    assert updated["MemorySize"] == 512
    assert updated["CodeSha256"] == echo["CodeSha256"]
    lambda_.get_waiter("function_updated_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    config = lambda_.get_function_configuration(FunctionName=name)
    assert config["Environment"]["Variables"]["GREETING"] == "bonjour"
    assert config["MemorySize"] == 512
    _, result = invoke_json(lambda_, name, {"marker": "after-update"})
    assert result["greeting"] == "bonjour"
    assert int(result["memory"]) == 512


def test_update_function_code_runs_the_new_code(lambda_, echo):
    name = echo["FunctionName"]
    _, before = invoke_json(lambda_, name, {})
    assert before["version"] == "v1"
    new_zip = make_zip({"app.py": ECHO.replace('VERSION = "v1"', 'VERSION = "v2"')})
    updated = lambda_.update_function_code(FunctionName=name, ZipFile=new_zip)
    assert updated["CodeSha256"] == code_sha256(new_zip)
    assert updated["CodeSha256"] != echo["CodeSha256"]
    assert updated["CodeSize"] == len(new_zip)
    lambda_.get_waiter("function_updated_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    assert lambda_.get_function(FunctionName=name)["Configuration"]["CodeSha256"] == code_sha256(
        new_zip
    )
    _, after = invoke_json(lambda_, name, {})
    assert after["version"] == "v2"
    # Configuration survives a code update.
    assert after["greeting"] == "hello"


def bootstrap_source():
    """A custom runtime: a Python script (run by this interpreter) that speaks the Runtime
    API with nothing but the standard library, and echoes each event."""
    return f"""#!{sys.executable}
import json, os, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({{}}))
base = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
while True:
    with opener.open(base + "/invocation/next") as response:
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        deadline_ms = int(response.headers["Lambda-Runtime-Deadline-Ms"])
        function_arn = response.headers["Lambda-Runtime-Invoked-Function-Arn"]
        event = json.loads(response.read())
    if isinstance(event, dict) and event.get("fail"):
        error = json.dumps({{"errorMessage": "custom failure", "errorType": "CustomError"}})
        request = urllib.request.Request(
            base + "/invocation/" + request_id + "/error",
            data=error.encode(),
            method="POST",
            headers={{"Lambda-Runtime-Function-Error-Type": "CustomError"}},
        )
    else:
        result = json.dumps({{
            "echo": event,
            "request_id": request_id,
            "deadline_ms": deadline_ms,
            "function_arn": function_arn,
            "handler": os.environ.get("_HANDLER"),
            "function_name": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
            "task_root_has_bootstrap": os.path.exists(
                os.path.join(os.environ.get("LAMBDA_TASK_ROOT", "/nonexistent"), "bootstrap")
            ),
        }})
        request = urllib.request.Request(
            base + "/invocation/" + request_id + "/response", data=result.encode(), method="POST"
        )
    with opener.open(request) as response:
        response.read()
"""


def test_provided_runtime_bootstrap_echoes_the_event(lambda_, create_function):
    created = create_function(
        zip_bytes=make_zip({"bootstrap": (bootstrap_source(), 0o755)}),
        Runtime="provided.al2023",
        Handler="function.handler",
    )
    name = created["FunctionName"]
    assert created["Runtime"] == "provided.al2023"
    now_ms = int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000)
    for i in range(3):
        response, result = invoke_json(lambda_, name, {"custom": i, "text": "héllo"})
        assert response["StatusCode"] == 200
        assert "FunctionError" not in response
        assert result["echo"] == {"custom": i, "text": "héllo"}
        assert result["handler"] == "function.handler"
        assert result["function_name"] == name
        assert result["function_arn"].startswith(created["FunctionArn"])
        assert result["task_root_has_bootstrap"] is True
        # A real epoch-milliseconds deadline, about Timeout (10 s) ahead.
        assert now_ms < result["deadline_ms"] < now_ms + 15 * 60 * 1000
    response, body = invoke_json(lambda_, name, {"fail": True})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "CustomError"
    assert body["errorMessage"] == "custom failure"


def test_delete_function_then_it_is_gone(lambda_, create_function):
    name = create_function(ECHO)["FunctionName"]
    response = lambda_.delete_function(FunctionName=name)
    # The API reference documents 204; botocore's model says 200. Either is success.
    assert response["ResponseMetadata"]["HTTPStatusCode"] in (200, 204)
    for call in (
        lambda: lambda_.get_function(FunctionName=name),
        lambda: lambda_.get_function_configuration(FunctionName=name),
        lambda: lambda_.invoke(FunctionName=name, Payload=b"{}"),
        lambda: lambda_.delete_function(FunctionName=name),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert error_code(e) == "ResourceNotFoundException"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert name not in [
        f["FunctionName"]
        for p in lambda_.get_paginator("list_functions").paginate()
        for f in p["Functions"]
    ]


def test_event_invoke_config_put_get_delete(lambda_, echo):
    name = echo["FunctionName"]
    with pytest.raises(ClientError) as e:
        lambda_.get_function_event_invoke_config(FunctionName=name)
    assert error_code(e) == "ResourceNotFoundException"

    put = lambda_.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=1, MaximumEventAgeInSeconds=120
    )
    assert put["MaximumRetryAttempts"] == 1
    assert put["MaximumEventAgeInSeconds"] == 120
    assert put["FunctionArn"].startswith(echo["FunctionArn"])
    assert isinstance(put["LastModified"], dt.datetime)

    got = lambda_.get_function_event_invoke_config(FunctionName=name)
    assert got["MaximumRetryAttempts"] == 1
    assert got["MaximumEventAgeInSeconds"] == 120
    assert got["FunctionArn"] == put["FunctionArn"]

    # Put replaces the whole config.
    lambda_.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    got = lambda_.get_function_event_invoke_config(FunctionName=name)
    assert got["MaximumRetryAttempts"] == 0
    assert got.get("MaximumEventAgeInSeconds", 21600) == 21600

    deleted = lambda_.delete_function_event_invoke_config(FunctionName=name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        lambda_.get_function_event_invoke_config(FunctionName=name)
    assert error_code(e) == "ResourceNotFoundException"


def test_event_invoke_config_limits(lambda_unvalidated, echo):
    for params in (
        {"MaximumRetryAttempts": 3},
        {"MaximumEventAgeInSeconds": 59},
        {"MaximumEventAgeInSeconds": 21601},
    ):
        with pytest.raises(ClientError) as e:
            lambda_unvalidated.put_function_event_invoke_config(
                FunctionName=echo["FunctionName"], **params
            )
        assert error_code(e) in ("InvalidParameterValueException", "ValidationException"), params


# ---------------------------------------------------------------------------------------
# Errors


def test_duplicate_create_function_is_resource_conflict(lambda_, echo):
    with pytest.raises(ClientError) as e:
        lambda_.create_function(
            FunctionName=echo["FunctionName"],
            Runtime="python3.12",
            Role=ROLE_ARN,
            Handler="app.handler",
            Code={"ZipFile": make_zip({"app.py": ECHO})},
        )
    assert error_code(e) == "ResourceConflictException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


def test_unknown_function_is_resource_not_found(lambda_, unique_name):
    missing = unique_name("missing")
    for call in (
        lambda: lambda_.get_function(FunctionName=missing),
        lambda: lambda_.get_function_configuration(FunctionName=missing),
        lambda: lambda_.invoke(FunctionName=missing, Payload=b"{}"),
        lambda: lambda_.invoke(FunctionName=missing, Payload=b"{}", InvocationType="Event"),
        lambda: lambda_.update_function_configuration(FunctionName=missing, Timeout=5),
        lambda: lambda_.update_function_code(
            FunctionName=missing, ZipFile=make_zip({"app.py": ECHO})
        ),
        lambda: lambda_.delete_function(FunctionName=missing),
        lambda: lambda_.put_function_event_invoke_config(
            FunctionName=missing, MaximumRetryAttempts=1
        ),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert error_code(e) == "ResourceNotFoundException", e.value.operation_name
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def create_params(name, **overrides):
    params = {
        "FunctionName": name,
        "Runtime": "python3.12",
        "Role": ROLE_ARN,
        "Handler": "app.handler",
        "Code": {"ZipFile": make_zip({"app.py": ECHO})},
    }
    params.update(overrides)
    return params


def test_timeout_over_900_is_invalid_parameter(lambda_, unique_name):
    with pytest.raises(ClientError) as e:
        lambda_.create_function(**create_params(unique_name("fn"), Timeout=901))
    assert error_code(e) == "InvalidParameterValueException"


@pytest.mark.parametrize(
    "overrides",
    [{"Timeout": 0}, {"MemorySize": 100}, {"MemorySize": 10241}, {"Runtime": "cobol85"}],
    ids=["timeout-0", "memory-100", "memory-10241", "unknown-runtime"],
)
def test_out_of_range_settings_are_refused(lambda_unvalidated, lambda_, unique_name, overrides):
    # botocore refuses Timeout 0 and MemorySize 100 itself; sent anyway, Lambda answers with
    # a parameter error (InvalidParameterValueException; its request validator words model
    # constraint violations as ValidationException), and creates nothing.
    name = unique_name("fn")
    with pytest.raises(ClientError) as e:
        lambda_unvalidated.create_function(**create_params(name, **overrides))
    assert error_code(e) in ("InvalidParameterValueException", "ValidationException")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as e:
        lambda_.get_function(FunctionName=name)
    assert error_code(e) == "ResourceNotFoundException"


def test_update_with_bad_settings_is_refused_and_changes_nothing(lambda_, lambda_unvalidated, echo):
    name = echo["FunctionName"]
    with pytest.raises(ClientError) as e:
        lambda_.update_function_configuration(FunctionName=name, Timeout=901)
    assert error_code(e) == "InvalidParameterValueException"
    with pytest.raises(ClientError) as e:
        lambda_unvalidated.update_function_configuration(FunctionName=name, MemorySize=100)
    assert error_code(e) in ("InvalidParameterValueException", "ValidationException")
    config = lambda_.get_function_configuration(FunctionName=name)
    assert config["Timeout"] == 10
    assert config["MemorySize"] == 128


def test_non_json_payload_is_invalid_request_content(lambda_, echo):
    for payload in (b"not json", b'{"unterminated": '):
        with pytest.raises(ClientError) as e:
            lambda_.invoke(FunctionName=echo["FunctionName"], Payload=payload)
        assert error_code(e) == "InvalidRequestContentException", payload
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_event_payload_over_1_mb_is_request_too_large(lambda_, echo, tmp_path):
    big = json.dumps({"write": "too-big.json", "pad": "x" * (1024 * 1024 + 1024)}).encode()
    with pytest.raises(ClientError) as e:
        lambda_.invoke(FunctionName=echo["FunctionName"], InvocationType="Event", Payload=big)
    assert error_code(e) == "RequestTooLargeException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    # The same payload is fine synchronously (limit 6 MB), and that run is the only write.
    response, result = invoke_json(lambda_, echo["FunctionName"], json.loads(big))
    assert response["StatusCode"] == 200
    assert result["echo"]["pad"] == "x" * (1024 * 1024 + 1024)
    assert (tmp_path / "too-big.json").exists()


def test_function_is_active_after_create(lambda_, create_function):
    # The waiter real deployment scripts use.
    name = create_function(ECHO)["FunctionName"]
    wait_function_active(lambda_, name)
    lambda_.get_waiter("function_exists").wait(
        FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    assert lambda_.get_function(FunctionName=name)["Configuration"]["State"] == "Active"


def test_env_vars_reach_the_handler_verbatim(lambda_, create_function, tmp_path):
    variables = {"OUT_DIR": str(tmp_path), "GREETING": "multi word = value, ünïcode"}
    name = create_function(ECHO, Environment={"Variables": variables})["FunctionName"]
    _, result = invoke_json(lambda_, name, {})
    assert result["greeting"] == variables["GREETING"]
    assert os.path.isdir(variables["OUT_DIR"])
