"""Functions running for real: execution environments as tasks on a real agent and Docker engine,
the Runtime API spoken by awslambdaric (PyPI) and by a busybox shell runtime, invoked through the
aws CLI and boto3. Limits (timeouts, memory, /tmp, concurrency), versions and aliases, layers,
asynchronous retries with a dead-letter queue, and queued events surviving kill -9 of ecsd."""
import base64
import gzip
import hashlib
import json
import os
import re
import threading
import time
import urllib.request

import botocore
import pytest

from conftest import EXAMPLES, run_aws, run_ecsctl, stevedore_rows, wait_until
from docker_support import requires_docker
from functions_support import ROLE, FunctionCluster, ensure_python_image, zip_directory, zip_files

pytestmark = requires_docker

PYTHON_APP = '''
import os, sys, time
print("init of", os.environ["AWS_LAMBDA_FUNCTION_NAME"])
def handler(event, context):
    if event.get("sleep"): time.sleep(event["sleep"])
    if event.get("raise"): raise ValueError("boom: " + str(event["raise"]))
    if event.get("exit"): os._exit(event["exit"])
    if event.get("alloc_mb"):
        block = bytearray(event["alloc_mb"] * 1024 * 1024)
        block[::4096] = b"x" * len(block[::4096])
    if event.get("tmp_mb"):
        with open("/tmp/fill", "wb") as f:
            for _ in range(event["tmp_mb"]): f.write(b"\\0" * 1048576)
        os.remove("/tmp/fill")
    if event.get("write_task"):
        open("/var/task/x", "w")
    print("handled", context.aws_request_id)
    return {"version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"], "tag": os.environ.get("TAG"), "uid": os.getuid(),
            "arn": context.invoked_function_arn, "remaining_ms": context.get_remaining_time_in_millis(),
            "memory": context.memory_limit_in_mb, "request": context.aws_request_id,
            "opt": open("/opt/data.txt").read() if os.path.exists("/opt/data.txt") else None, "event": event}
'''


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    ensure_python_image()
    context = FunctionCluster(str(tmp_path_factory.mktemp("functions")),
                              extra_args=["--concurrency-limit", "6", "--unreserved-concurrency-minimum", "2"])
    yield context
    context.close()


@pytest.fixture(scope="module")
def lam(cluster):
    return cluster.client("lambda")


@pytest.fixture(scope="module")
def sqs(cluster):
    return cluster.client("sqs")


def python_function(lam, name, code=PYTHON_APP, **extra):
    args = dict(FunctionName=name, Runtime="python3.11", Handler="app.handler", Role=ROLE,
                Code={"ZipFile": zip_files({"app.py": code})}, Timeout=5)
    args.update(extra)
    lam.create_function(**args)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)


def invoke(lam, name, event=None, **extra):
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode(), **extra)
    body = json.loads(response["Payload"].read() or b"null")
    return response, body


def test_shell_runtime_with_the_aws_cli(cluster, tmp_path):
    bundle = tmp_path / "shell.zip"
    bundle.write_bytes(zip_directory(os.path.join(EXAMPLES, "functions", "shell-hello")))
    run_aws(cluster.endpoint, "lambda", "create-function", "--function-name", "shell", "--runtime", "provided.al2023",
            "--handler", "function.handler", "--role", ROLE, "--zip-file", f"fileb://{bundle}")
    run_aws(cluster.endpoint, "lambda", "wait", "function-active-v2", "--function-name", "shell")
    out_file = tmp_path / "out.json"
    _, out, _ = run_aws(cluster.endpoint, "lambda", "invoke", "--function-name", "shell", "--payload", '{"name":"ci"}',
                        "--log-type", "Tail", str(out_file))
    meta = json.loads(out)
    assert meta["StatusCode"] == 200 and "FunctionError" not in meta and meta["ExecutedVersion"] == "$LATEST"
    assert json.loads(out_file.read_text()) == {"message": "hello from sh", "input": {"name": "ci"}}
    log = base64.b64decode(meta["LogResult"]).decode()
    assert "START RequestId:" in log and "END RequestId:" in log and "REPORT RequestId:" in log
    assert "Init Duration:" in log and "Memory Size: 128 MB" in log and "shell-hello: got event" in log

    _, out, _ = run_aws(cluster.endpoint, "lambda", "invoke", "--function-name", "shell", "--payload", '{"fail":true}', str(out_file))
    assert json.loads(out)["FunctionError"] == "Unhandled"
    assert json.loads(out_file.read_text())["errorType"] == "Function.Error"

    # The same through ecsctl; its exit status tells success from failure.
    code, out, _ = run_ecsctl(cluster.endpoint, "fn", "invoke", "shell", "--payload", '{"n":1}')
    assert code == 0 and json.loads(out)["input"] == {"n": 1}
    code, out, _ = run_ecsctl(cluster.endpoint, "fn", "invoke", "shell", "--payload", '{"fail":true}')
    assert code == 1 and "asked to fail" in out
    # The function's log, from CloudWatch Logs (its output is written there within a moment).
    out = wait_until(lambda: (lambda r: r[1] if r[0] == 0 and r[1].count("START RequestId:") >= 4 else None)(
        run_ecsctl(cluster.endpoint, "fn", "logs", "shell")), timeout=30, message="ecsctl fn logs shows every invocation")
    assert "END RequestId:" in out and "REPORT RequestId:" in out
    code, only, _ = run_ecsctl(cluster.endpoint, "fn", "logs", "shell", "--filter", "REPORT", "--tail", "1")
    assert code == 0 and only.count("\n") == 1 and only.startswith("REPORT RequestId:")
    code, _, err = run_ecsctl(cluster.endpoint, "fn", "logs", "never-ran")
    assert code == 0 and "no log for function never-ran yet" in err


def test_awslambdaric_success_error_and_context(lam):
    python_function(lam, "py", Environment={"Variables": {"TAG": "blue"}}, MemorySize=256)
    response, body = invoke(lam, "py", {"hello": "world"}, LogType="Tail")
    assert response["StatusCode"] == 200 and "FunctionError" not in response, body
    assert response["ExecutedVersion"] == "$LATEST"
    assert body["tag"] == "blue" and body["uid"] == 993 and body["memory"] == "256" and body["event"] == {"hello": "world"}
    assert body["arn"] == "arn:aws:lambda:us-east-1:000000000000:function:py"
    assert 3000 < body["remaining_ms"] <= 5000
    assert body["request"] == response["ResponseMetadata"]["RequestId"]
    log = base64.b64decode(response["LogResult"]).decode()
    assert "init of py" in log and f"handled {body['request']}" in log

    response, body = invoke(lam, "py", {"raise": "x"})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "boom: x" and body["stackTrace"]

    # The environment stays warm after a handled error: same container, no init line.
    response, body = invoke(lam, "py", {}, LogType="Tail")
    assert "init of py" not in base64.b64decode(response["LogResult"]).decode()

    # The code is read-only, as in Lambda.
    response, body = invoke(lam, "py", {"write_task": True})
    assert response["FunctionError"] == "Unhandled" and body["errorType"] in ("OSError", "PermissionError")
    written_error = body["errorType"]

    # Athena's `stevedore.invocations` reads the four from the REPORT lines (and the runtime's [ERROR] lines).
    rows = wait_until(lambda: (lambda r: r if len(r) == 4 else None)(stevedore_rows(
        lam, "SELECT cold_start, error_type, memory_size_mb, version, billed_duration_ms FROM stevedore.invocations "
             "WHERE function_name = 'py' ORDER BY ended_at")), timeout=30, message="four invocations in stevedore.invocations")
    assert [row[:4] for row in rows] == [["true", None, "256", "$LATEST"], ["false", "ValueError", "256", "$LATEST"],
                                         ["false", None, "256", "$LATEST"], ["false", written_error, "256", "$LATEST"]]
    assert all(int(row[4]) >= 1 for row in rows)



def test_function_output_is_in_cloudwatch_logs_as_lambda_writes_it(lam, cluster):
    """`/aws/lambda/<name>`, a stream per environment named `yyyy/mm/dd/[$LATEST]<id>`, START/END/REPORT
    lines as events: what `sam logs` reads with FilterLogEvents. (LogType Tail has the agent wait for
    the output written just before the answer; without it, such lines may come with the next invocation's.)"""
    python_function(lam, "logged")
    _, first = invoke(lam, "logged", {"n": 1}, LogType="Tail")
    _, second = invoke(lam, "logged", {"n": 2}, LogType="Tail")
    logs = cluster.client("logs")

    def events():
        return logs.filter_log_events(logGroupName="/aws/lambda/logged")["events"]

    def reported():
        try:
            return any(e["message"].startswith(f"REPORT RequestId: {second['request']}") for e in events())
        except logs.exceptions.ResourceNotFoundException:
            return False

    wait_until(reported, timeout=30, message="the function's REPORT line in CloudWatch Logs")
    messages = [e["message"] for e in events()]
    position = {message: index for index, message in enumerate(messages)}
    assert position[f"START RequestId: {first['request']} Version: $LATEST"] < position["init of logged"] < position[
        f"handled {first['request']}"] < position[f"END RequestId: {first['request']}"] < position[f"START RequestId: {second['request']} Version: $LATEST"]
    assert not any(m.endswith("\n") for m in messages)
    streams = logs.describe_log_streams(logGroupName="/aws/lambda/logged")["logStreams"]
    assert len(streams) == 1 and re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", streams[0]["logStreamName"]), streams
    assert {e["logStreamName"] for e in events()} == {streams[0]["logStreamName"]}
    # A filter pattern, as `sam logs --filter` passes it.
    assert [e["message"] for e in logs.filter_log_events(logGroupName="/aws/lambda/logged", filterPattern="handled")["events"]] == [
        f"handled {first['request']}", f"handled {second['request']}"]


def test_timeout_at_one_second_resets_the_environment(lam):
    python_function(lam, "slow", Timeout=1)
    started = time.time()
    response, body = invoke(lam, "slow", {"sleep": 5})
    assert time.time() - started < 4
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"].endswith("Task timed out after 1.00 seconds")
    # A new environment answers the next invocation.
    response, body = invoke(lam, "slow", {}, LogType="Tail")
    assert "FunctionError" not in response and "Init Duration" in base64.b64decode(response["LogResult"]).decode()


def test_init_errors_and_crashes_as_lambda_reports_them(lam):
    python_function(lam, "broken", code="import no_such_module\ndef handler(e, c): return 1\n")
    response, body = invoke(lam, "broken")
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError" and "no_such_module" in body["errorMessage"]

    python_function(lam, "crash")
    response, body = invoke(lam, "crash", {"exit": 3})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError" and body["errorMessage"].endswith("Runtime exited with error: exit status 3")
    response, body = invoke(lam, "crash", {})
    assert "FunctionError" not in response

    lam.create_function(FunctionName="nobootstrap", Runtime="provided.al2023", Handler="x.y", Role=ROLE,
                        Code={"ZipFile": zip_files({"readme.txt": "no bootstrap here"})})
    lam.get_waiter("function_active_v2").wait(FunctionName="nobootstrap")
    response, body = invoke(lam, "nobootstrap")
    assert response["FunctionError"] == "Unhandled" and body["errorType"] == "Runtime.InvalidEntrypoint"


def test_memory_limit_is_enforced(lam):
    python_function(lam, "hungry", MemorySize=128)
    response, body = invoke(lam, "hungry", {"alloc_mb": 300})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.OutOfMemory" and "signal: killed" in body["errorMessage"]
    response, body = invoke(lam, "hungry", {"alloc_mb": 20})
    assert "FunctionError" not in response


def test_tmp_size_is_enforced(lam):
    # /tmp is a 512 MB tmpfs (charged to the function's memory, hence 1024 MB here).
    python_function(lam, "disk", MemorySize=1024)
    response, body = invoke(lam, "disk", {"tmp_mb": 100})
    assert "FunctionError" not in response, body
    response, body = invoke(lam, "disk", {"tmp_mb": 600})
    assert response["FunctionError"] == "Unhandled" and "No space left on device" in body["errorMessage"]


def test_versions_aliases_and_weighted_routing(lam):
    python_function(lam, "ver", Environment={"Variables": {"TAG": "one"}})
    assert lam.publish_version(FunctionName="ver")["Version"] == "1"
    lam.update_function_configuration(FunctionName="ver", Environment={"Variables": {"TAG": "two"}})
    lam.get_waiter("function_updated_v2").wait(FunctionName="ver")
    assert lam.publish_version(FunctionName="ver")["Version"] == "2"
    lam.create_alias(FunctionName="ver", Name="live", FunctionVersion="1")

    response, body = invoke(lam, "ver", Qualifier="live")
    assert body["tag"] == "one" and response["ExecutedVersion"] == "1" and body["arn"].endswith(":ver:live")
    response, body = invoke(lam, "arn:aws:lambda:us-east-1:000000000000:function:ver:2")
    assert body["tag"] == "two" and response["ExecutedVersion"] == "2"
    response, body = invoke(lam, "ver:1")
    assert body["tag"] == "one" and body["version"] == "1"

    lam.update_alias(FunctionName="ver", Name="live", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
    seen = {invoke(lam, "ver", Qualifier="live")[0]["ExecutedVersion"] for _ in range(30)}
    assert seen == {"1", "2"}

    # The console shows the versions and the alias's weights, and rolls the alias through UpdateAlias.
    page = console_get(lam, "/console/api/functions/ver")
    assert [v["version"] for v in page["versions"]] == ["1", "2"]
    assert page["aliases"] == [{"name": "live", "version": "1", "weights": {"2": 0.5}}]
    answer = console_post(lam, "/console/api/lambda", {"method": "PUT", "path": "/2015-03-31/functions/ver/aliases/live",
                                                      "body": json.dumps({"FunctionVersion": "2", "RoutingConfig": {"AdditionalVersionWeights": {}}})})
    assert answer["status"] == 200, answer
    assert lam.get_alias(FunctionName="ver", Name="live")["FunctionVersion"] == "2"
    # And invokes, answering what Invoke answers.
    answer = console_post(lam, "/console/api/lambda", {"method": "POST", "path": "/2015-03-31/functions/ver/invocations",
                                                      "body": json.dumps({"from": "console"})})
    assert answer["status"] == 200 and json.loads(answer["body"])["event"] == {"from": "console"}
    assert answer["headers"]["X-Amz-Executed-Version"] == "$LATEST"


def console_get(lam, path):
    with urllib.request.urlopen(lam.meta.endpoint_url + path, timeout=10) as response:
        return json.load(response)


def console_post(lam, path, body):
    """A change through the console's API (authentication is off here: the page's CSRF token suffices)."""
    token = console_get(lam, "/console/api/session")["csrf"]
    request = urllib.request.Request(lam.meta.endpoint_url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "X-Console-CSRF": token})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def test_layers_are_unpacked_into_opt(lam):
    layer = lam.publish_layer_version(LayerName="data", Content={"ZipFile": zip_files({"data.txt": "from a layer"})})
    python_function(lam, "layered", Layers=[layer["LayerVersionArn"]])
    _, body = invoke(lam, "layered")
    assert body["opt"] == "from a layer"


def test_throttling_at_the_limits(lam):
    python_function(lam, "reserved", Timeout=10)
    lam.put_function_concurrency(FunctionName="reserved", ReservedConcurrentExecutions=1)
    invoke(lam, "reserved")  # warm
    slow = threading.Thread(target=lambda: invoke(lam, "reserved", {"sleep": 3}))
    slow.start()
    time.sleep(1)
    with pytest.raises(lam.exceptions.TooManyRequestsException) as raised:
        invoke(lam, "reserved")
    assert raised.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    slow.join()
    assert "FunctionError" not in invoke(lam, "reserved")[0]

    # The control plane's limit is 6 with 1 reserved: 5 unreserved slots.
    python_function(lam, "crowd", Timeout=10)
    threads = [threading.Thread(target=lambda: invoke(lam, "crowd", {"sleep": 4})) for _ in range(5)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    with pytest.raises(lam.exceptions.TooManyRequestsException) as raised:
        invoke(lam, "crowd")
    assert raised.value.response["Reason"] == "ConcurrentInvocationLimitExceeded"
    for thread in threads:
        thread.join()
    lam.delete_function_concurrency(FunctionName="reserved")

    # The console charts what happened, from the REPORT lines and the throttles: invocations with
    # their cold starts and durations, and the throttle.
    def reserved_page():
        page = console_get(lam, "/console/api/functions/reserved")
        return page if page["totals"]["invocations"] >= 3 else None
    page = wait_until(reserved_page, timeout=30, message="the REPORT lines charted")
    totals = page["totals"]
    # Two throttles: boto's `max_attempts: 1` is one retry, refused too.
    assert totals["invocations"] == 3 and totals["throttles"] == 2 and totals["coldStarts"] >= 1 and totals["errors"] == 0
    assert totals["p99"] >= 3000 > totals["p50"]  # the 3 s sleep is the slowest of the three
    assert sum(bucket["throttles"] for bucket in page["buckets"]) == 2 and len(page["buckets"]) == 30
    assert all(line.startswith("REPORT RequestId: ") for line in page["reports"]) and len(page["reports"]) == 3


def dlq(sqs, name):
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def receive_all(sqs, url, count, timeout=60):
    messages = []

    def enough():
        response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=1)
        messages.extend(response.get("Messages", []))
        return len(messages) >= count

    wait_until(enough, timeout=timeout, interval=0.2, message=f"{count} messages")
    return messages


def test_async_retries_twice_then_dead_letters(lam, sqs, cluster):
    url, arn = dlq(sqs, "failures")
    python_function(lam, "flaky", DeadLetterConfig={"TargetArn": arn})
    response = lam.invoke(FunctionName="flaky", InvocationType="Event", Payload=json.dumps({"raise": "always"}).encode())
    assert response["StatusCode"] == 202
    request_id = response["ResponseMetadata"]["RequestId"]
    [message] = receive_all(sqs, url, 1)
    assert json.loads(message["Body"]) == {"raise": "always"}
    attributes = message["MessageAttributes"]
    assert attributes["RequestID"]["StringValue"] == request_id
    assert attributes["ErrorCode"] == {"StringValue": "200", "DataType": "Number"}
    assert attributes["ErrorMessage"]["StringValue"] == "boom: always"
    # One invocation and two retries, each with its START line in the function's log.
    wait_until(lambda: run_ecsctl(cluster.endpoint, "fn", "logs", "flaky")[1].count(f"START RequestId: {request_id}") == 3, timeout=30,
               message="three START lines for the event in the function's log")


def test_async_success_goes_to_the_destination(lam, sqs):
    url, arn = dlq(sqs, "successes")
    python_function(lam, "dest")
    lam.put_function_event_invoke_config(FunctionName="dest", DestinationConfig={"OnSuccess": {"Destination": arn}})
    lam.invoke(FunctionName="dest", InvocationType="Event", Payload=b'{"n": 7}')
    [message] = receive_all(sqs, url, 1)
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "Success" and record["requestPayload"] == {"n": 7}
    assert record["responsePayload"]["event"] == {"n": 7} and record["responseContext"]["statusCode"] == 200


def test_async_event_past_its_maximum_age_goes_to_the_dead_letter_queue(lam, sqs):
    """Throttled events are retried until they are MaximumEventAgeInSeconds old (60 s at least)."""
    url, arn = dlq(sqs, "too-old")
    python_function(lam, "busy", Timeout=90, DeadLetterConfig={"TargetArn": arn})
    lam.put_function_concurrency(FunctionName="busy", ReservedConcurrentExecutions=1)
    lam.put_function_event_invoke_config(FunctionName="busy", MaximumEventAgeInSeconds=60)
    holder = threading.Thread(target=lambda: invoke(lam, "busy", {"sleep": 75}))
    holder.start()
    time.sleep(2)
    started = time.time()
    response = lam.invoke(FunctionName="busy", InvocationType="Event", Payload=b'{"late": true}')
    [message] = receive_all(sqs, url, 1, timeout=90)
    assert time.time() - started >= 59
    assert json.loads(message["Body"]) == {"late": True}
    assert message["MessageAttributes"]["RequestID"]["StringValue"] == response["ResponseMetadata"]["RequestId"]
    assert message["MessageAttributes"]["ErrorCode"]["StringValue"] == "429"
    holder.join()


def test_queued_async_events_survive_kill_9(tmp_path):
    """Events accepted while no agent can run them are on disk: after kill -9 and a restart of
    ecsd, and an agent joining, every one is delivered."""
    cluster = FunctionCluster(str(tmp_path), agent=False)
    try:
        lam, sqs = cluster.client("lambda"), cluster.client("sqs")
        url, arn = dlq(sqs, "delivered")
        python_function(lam, "later")
        lam.put_function_event_invoke_config(FunctionName="later", DestinationConfig={"OnSuccess": {"Destination": arn}})
        ids = [lam.invoke(FunctionName="later", InvocationType="Event", Payload=json.dumps({"n": n}).encode())
               ["ResponseMetadata"]["RequestId"] for n in range(3)]
        cluster.server.kill9()
        cluster.server.start()
        cluster.start_agent()
        messages = receive_all(sqs, url, 3, timeout=90)
        records = [json.loads(m["Body"]) for m in messages]
        assert sorted(r["requestContext"]["requestId"] for r in records) == sorted(ids)
        assert sorted(r["requestPayload"]["n"] for r in records) == [0, 1, 2]
    finally:
        cluster.close()


def test_an_image_function_that_cannot_start_is_failed(lam):
    lam.create_function(FunctionName="badimage", PackageType="Image", Role=ROLE,
                        Code={"ImageUri": "127.0.0.1:1/missing/runtime:latest"})
    lam.get_waiter("function_active_v2").wait(FunctionName="badimage")
    with pytest.raises(botocore.exceptions.ClientError):
        invoke(lam, "badimage")
    configuration = wait_until(lambda: (lambda c: c if c["State"] == "Failed" else None)(
        lam.get_function_configuration(FunctionName="badimage")), timeout=20, message="function Failed")
    assert configuration["StateReasonCode"] == "InvalidImage" and "could not start" in configuration["StateReason"]
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        invoke(lam, "badimage")
    assert raised.value.response["Error"]["Code"] == "InvalidImageException"


def test_a_schedule_runs_a_task_and_its_stop_invokes_a_function(cluster, lam, sqs):
    """EventBridge end to end on a real agent: a rule on `cron(* * * * ? *)` runs a task at the
    next minute; the task's STOPPED "ECS Task State Change" matches a second rule, whose function
    gets the event in AWS's shape (seen through the function's OnSuccess destination)."""
    from docker_support import BUSYBOX_IMAGE, build_busybox_image
    build_busybox_image()
    events, ecs = cluster.client("events"), cluster.client("ecs")
    definition = ecs.register_task_definition(family="evt-job", containerDefinitions=[
        {"name": "job", "image": BUSYBOX_IMAGE, "memory": 32, "essential": True, "command": ["sh", "-c", "echo scheduled; sleep 2; exit 3"]}
    ])["taskDefinition"]["taskDefinitionArn"]
    url, arn = dlq(sqs, "task-stops")
    python_function(lam, "on-stop")
    lam.put_function_event_invoke_config(FunctionName="on-stop", DestinationConfig={"OnSuccess": {"Destination": arn}})
    function_arn = lam.get_function(FunctionName="on-stop")["Configuration"]["FunctionArn"]
    events.put_rule(Name="task-stopped", EventPattern=json.dumps({
        "source": ["aws.ecs"], "detail-type": ["ECS Task State Change"],
        "detail": {"lastStatus": ["STOPPED"], "taskDefinitionArn": [definition]}}))
    events.put_targets(Rule="task-stopped", Targets=[{"Id": "fn", "Arn": function_arn}])
    cluster_arn = f"arn:aws:ecs:us-east-1:000000000000:cluster/{cluster.name}"
    events.put_rule(Name="every-minute", ScheduleExpression="cron(* * * * ? *)")
    events.put_targets(Rule="every-minute", Targets=[{"Id": "job", "Arn": cluster_arn, "EcsParameters": {"TaskDefinitionArn": definition}}])
    try:
        [message] = receive_all(sqs, url, 1, timeout=90)
    finally:
        events.disable_rule(Name="every-minute")
    event = json.loads(message["Body"])["requestPayload"]
    assert (event["source"], event["detail-type"], event["version"]) == ("aws.ecs", "ECS Task State Change", "0")
    detail = event["detail"]
    assert event["resources"] == [detail["taskArn"]] and detail["clusterArn"] == cluster_arn
    assert detail["lastStatus"] == "STOPPED" and detail["desiredStatus"] == "STOPPED" and detail["stopCode"] == "EssentialContainerExited", json.dumps(detail)
    assert detail["containers"][0]["exitCode"] == 3 and detail["containers"][0]["name"] == "job"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", detail["stoppedAt"]), detail["stoppedAt"]
    # The same task's changes in Athena's `stevedore.task_state_changes`, in order.
    changes = {row[0]: row[1:] for row in stevedore_rows(
        lam, f"SELECT status, reason, family, changed_at FROM stevedore.task_state_changes WHERE task_arn = '{detail['taskArn']}'")}
    assert {"PROVISIONING", "RUNNING", "STOPPED"} <= set(changes), changes
    assert changes["PROVISIONING"][2] <= changes["RUNNING"][2] <= changes["STOPPED"][2]
    assert changes["STOPPED"][:2] == [detail["stoppedReason"], definition.split("/")[-1].split(":")[0]]


BATCH_APP = '''
def handler(event, context):
    failed = [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"].startswith("poison")]
    return {"batchItemFailures": failed}
'''


def test_an_sqs_mapping_drains_a_queue_and_dead_letters_its_poison(cluster, lam, sqs):
    """10,000 messages through an event source mapping with partial batch failures: the good ones
    are handled and deleted, the poison ones come back until maxReceiveCount, then sit in the
    dead-letter queue."""
    dead_url, dead_arn = dlq(sqs, "batch-dlq")
    url = sqs.create_queue(QueueName="batch-work", Attributes={
        "VisibilityTimeout": "8", "RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": 2})})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    poison = {f"poison-{n}" for n in range(0, 10_000, 100)}
    bodies = [f"poison-{n}" if f"poison-{n}" in poison else f"good-{n}" for n in range(10_000)]
    for start in range(0, len(bodies), 10):
        sent = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies[start:start + 10])])
        assert not sent.get("Failed"), sent
    python_function(lam, "batcher", code=BATCH_APP, Timeout=4)
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as refused:
        lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="batcher", BatchSize=100)
    assert "Maximum batch window in seconds must be greater than 0" in str(refused.value)
    mapping = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="batcher", BatchSize=10,
                                              FunctionResponseTypes=["ReportBatchItemFailures"],
                                              ScalingConfig={"MaximumConcurrency": 4})
    assert mapping["State"] == "Creating" and mapping["BatchSize"] == 10
    assert lam.get_event_source_mapping(UUID=mapping["UUID"])["State"] == "Enabled"
    assert [m["UUID"] for m in lam.list_event_source_mappings(FunctionName="batcher")["EventSourceMappings"]] == [mapping["UUID"]]

    def drained():
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"]) == 0

    wait_until(drained, timeout=240, interval=0.5, message="the queue drained")
    dead = []
    while True:
        got = sqs.receive_message(QueueUrl=dead_url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            break
        dead.extend(m["Body"] for m in got)
    assert sorted(dead) == sorted(poison)
    lam.delete_event_source_mapping(UUID=mapping["UUID"])


def test_an_sns_topic_fans_out_to_a_queue_and_a_function(cluster, lam, sqs):
    sns = cluster.client("sns")
    topic = sns.create_topic(Name="fan-out")["TopicArn"]
    url, arn = dlq(sqs, "fan-out-queue")
    done_url, done_arn = dlq(sqs, "fan-out-done")
    python_function(lam, "on-topic")
    lam.put_function_event_invoke_config(FunctionName="on-topic", DestinationConfig={"OnSuccess": {"Destination": done_arn}})
    function_arn = lam.get_function(FunctionName="on-topic")["Configuration"]["FunctionArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    subscription = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function_arn)["SubscriptionArn"]
    message_id = sns.publish(TopicArn=topic, Message="fan out", Subject="both",
                             MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}})["MessageId"]
    [queued] = receive_all(sqs, url, 1)
    assert json.loads(queued["Body"])["MessageId"] == message_id
    [done] = receive_all(sqs, done_url, 1)
    [record] = json.loads(done["Body"])["requestPayload"]["Records"]
    assert record["EventSource"] == "aws:sns" and record["EventSubscriptionArn"] == subscription
    assert (record["Sns"]["MessageId"], record["Sns"]["Message"], record["Sns"]["Subject"]) == (message_id, "fan out", "both")
    assert record["Sns"]["MessageAttributes"]["kind"] == {"Type": "String", "Value": "test"}


def test_an_object_copied_with_aws_s3_cp_invokes_a_function_with_the_s3_event(cluster, lam, sqs, tmp_path):
    endpoint = cluster.endpoint
    run_aws(endpoint, "s3", "mb", "s3://uploads-bucket")
    done_url, done_arn = dlq(sqs, "on-upload-done")
    python_function(lam, "on-upload")
    lam.put_function_event_invoke_config(FunctionName="on-upload", DestinationConfig={"OnSuccess": {"Destination": done_arn}})
    function_arn = lam.get_function(FunctionName="on-upload")["Configuration"]["FunctionArn"]
    configuration = json.dumps({"LambdaFunctionConfigurations": [{
        "Id": "on-upload", "LambdaFunctionArn": function_arn, "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}}}]})
    # S3 checks that it may invoke the function: without a permission for it, the configuration is refused.
    code, _, err = run_aws(endpoint, "s3api", "put-bucket-notification-configuration", "--bucket", "uploads-bucket",
                           "--notification-configuration", configuration, check=False)
    assert code != 0 and "InvalidArgument" in err and "Unable to validate the following destination configurations" in err
    run_aws(endpoint, "lambda", "add-permission", "--function-name", "on-upload", "--statement-id", "s3",
            "--action", "lambda:InvokeFunction", "--principal", "s3.amazonaws.com", "--source-arn", "arn:aws:s3:::uploads-bucket")
    run_aws(endpoint, "s3api", "put-bucket-notification-configuration", "--bucket", "uploads-bucket",
            "--notification-configuration", configuration)
    _, out, _ = run_aws(endpoint, "s3api", "get-bucket-notification-configuration", "--bucket", "uploads-bucket")
    [stored] = json.loads(out)["LambdaFunctionConfigurations"]
    assert stored["LambdaFunctionArn"] == function_arn and stored["Filter"]["Key"]["FilterRules"] == [{"Name": "Prefix", "Value": "incoming/"}]

    report = tmp_path / "q3 report.csv"
    report.write_text("a,b\n1,2\n")
    run_aws(endpoint, "s3", "cp", str(report), "s3://uploads-bucket/incoming/q3 report.csv")
    run_aws(endpoint, "s3", "cp", str(report), "s3://uploads-bucket/elsewhere/ignored.csv")
    [done] = receive_all(sqs, done_url, 1)
    [record] = json.loads(done["Body"])["requestPayload"]["Records"]
    assert (record["eventSource"], record["eventName"], record["awsRegion"]) == ("aws:s3", "ObjectCreated:Put", "us-east-1")
    assert record["requestParameters"]["sourceIPAddress"] == "127.0.0.1"
    obj = record["s3"]["object"]
    assert (obj["key"], obj["size"]) == ("incoming/q3+report.csv", 8)
    assert obj["eTag"] == hashlib.md5(b"a,b\n1,2\n").hexdigest()
    assert record["s3"]["bucket"]["name"] == "uploads-bucket" and record["s3"]["configurationId"] == "on-upload"
    # The key outside the prefix invoked nothing.
    assert sqs.receive_message(QueueUrl=done_url, WaitTimeSeconds=2).get("Messages", []) == []


def test_a_log_subscription_delivers_a_containers_lines_to_a_function(cluster, lam, sqs):
    from docker_support import BUSYBOX_IMAGE
    endpoint = cluster.endpoint
    done_url, done_arn = dlq(sqs, "on-logs-done")
    python_function(lam, "on-logs")
    lam.put_function_event_invoke_config(FunctionName="on-logs", DestinationConfig={"OnSuccess": {"Destination": done_arn}})
    function_arn = lam.get_function(FunctionName="on-logs")["Configuration"]["FunctionArn"]
    run_aws(endpoint, "logs", "create-log-group", "--log-group-name", "/ecs/subscribed")
    # CloudWatch Logs must be let invoke the function first.
    code, _, err = run_aws(endpoint, "logs", "put-subscription-filter", "--log-group-name", "/ecs/subscribed", "--filter-name", "errors",
                           "--filter-pattern", "ERROR", "--destination-arn", function_arn, check=False)
    assert code != 0 and "Make sure you have given CloudWatch Logs permission to execute your function" in err
    run_aws(endpoint, "lambda", "add-permission", "--function-name", "on-logs", "--statement-id", "logs", "--action", "lambda:InvokeFunction",
            "--principal", "logs.amazonaws.com", "--source-arn", "arn:aws:logs:us-east-1:000000000000:log-group:/ecs/subscribed:*")
    run_aws(endpoint, "logs", "put-subscription-filter", "--log-group-name", "/ecs/subscribed", "--filter-name", "errors",
            "--filter-pattern", "ERROR", "--destination-arn", function_arn)
    _, out, _ = run_aws(endpoint, "logs", "describe-subscription-filters", "--log-group-name", "/ecs/subscribed")
    assert [(f["filterName"], f["destinationArn"]) for f in json.loads(out)["subscriptionFilters"]] == [("errors", function_arn)]

    ecs = cluster.client("ecs")
    ecs.register_task_definition(family="noisy", containerDefinitions=[{
        "name": "app", "image": BUSYBOX_IMAGE, "memory": 32,
        "command": ["sh", "-c", "echo INFO starting; echo ERROR disk full; echo INFO still up; echo ERROR gave up"],
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": "/ecs/subscribed", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"}}}])
    task = ecs.run_task(cluster=cluster.name, taskDefinition="noisy")["tasks"][0]["taskArn"]

    delivered = []

    def both_errors():
        for message in sqs.receive_message(QueueUrl=done_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            data = json.loads(message["Body"])["requestPayload"]["awslogs"]["data"]
            delivered.append(json.loads(gzip.decompress(base64.b64decode(data))))
        return sum(len(d["logEvents"]) for d in delivered) >= 2

    wait_until(both_errors, timeout=90, interval=0.2, message="the container's ERROR lines delivered to the function")
    assert [e["message"] for d in delivered for e in d["logEvents"]] == ["ERROR disk full", "ERROR gave up"]
    first = delivered[0]
    assert (first["messageType"], first["owner"], first["logGroup"], first["subscriptionFilters"]) == (
        "DATA_MESSAGE", "000000000000", "/ecs/subscribed", ["errors"])
    assert first["logStream"] == "ecs/app/" + task.split("/")[-1]
