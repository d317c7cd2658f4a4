"""CloudWatch Logs for real: groups, streams and events made and read with the aws CLI and boto3
(`aws logs`), kept across a kill -9 of ecsd. No Docker needed."""
import json
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import Ecsd, run_aws

NO_RETRIES = Config(retries={"max_attempts": 1})


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    ecsd = Ecsd(str(tmp_path_factory.mktemp("logs"))).start()
    yield ecsd
    ecsd.stop()


def client(server):
    return boto3.client("logs", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x", config=NO_RETRIES)


def now_ms():
    return int(time.time() * 1000)


def error_of(call):
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def test_the_aws_cli_writes_and_reads_a_stream(server, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    run_aws(server.endpoint, "logs", "create-log-group", "--log-group-name", "/ecs/web", "--tags", "team=a")
    run_aws(server.endpoint, "logs", "create-log-stream", "--log-group-name", "/ecs/web", "--log-stream-name", "ecs/web/1")
    start = now_ms()
    events = json.dumps([{"timestamp": start + i, "message": f"line {i}"} for i in range(5)])
    _, out, _ = run_aws(server.endpoint, "logs", "put-log-events", "--log-group-name", "/ecs/web", "--log-stream-name", "ecs/web/1",
                        "--log-events", events)
    assert "nextSequenceToken" in json.loads(out)
    _, out, _ = run_aws(server.endpoint, "logs", "get-log-events", "--log-group-name", "/ecs/web", "--log-stream-name", "ecs/web/1",
                        "--start-from-head")
    got = json.loads(out)
    assert [e["message"] for e in got["events"]] == [f"line {i}" for i in range(5)]
    assert all(e["ingestionTime"] >= start - 1000 for e in got["events"])
    _, out, _ = run_aws(server.endpoint, "logs", "describe-log-streams", "--log-group-name", "/ecs/web")
    stream = json.loads(out)["logStreams"][0]
    assert stream["logStreamName"] == "ecs/web/1" and stream["firstEventTimestamp"] == start and stream["lastEventTimestamp"] == start + 4
    assert stream["arn"] == "arn:aws:logs:us-east-1:000000000000:log-group:/ecs/web:log-stream:ecs/web/1"
    _, out, _ = run_aws(server.endpoint, "logs", "describe-log-groups", "--log-group-name-prefix", "/ecs")
    group = json.loads(out)["logGroups"][0]
    assert group["logGroupName"] == "/ecs/web" and group["storedBytes"] > 0 and group["arn"].endswith("log-group:/ecs/web:*")
    _, out, _ = run_aws(server.endpoint, "logs", "filter-log-events", "--log-group-name", "/ecs/web", "--filter-pattern", "?\"line 1\" ?\"line 3\"")
    assert [e["message"] for e in json.loads(out)["events"]] == ["line 1", "line 3"]
    code, _, err = run_aws(server.endpoint, "logs", "get-log-events", "--log-group-name", "/ecs/web", "--log-stream-name", "nope", check=False)
    assert code != 0 and "ResourceNotFoundException" in err and "The specified log stream does not exist." in err


def test_events_are_paged_filtered_and_refused_as_cloudwatch_does(server):
    logs = client(server)
    logs.create_log_group(logGroupName="app")
    for name in ("a", "b"):
        logs.create_log_stream(logGroupName="app", logStreamName=name)
    base = now_ms() - 60_000
    logs.put_log_events(logGroupName="app", logStreamName="a", logEvents=[
        {"timestamp": base + i * 2, "message": json.dumps({"level": "error" if i % 10 == 0 else "info", "n": i})} for i in range(500)])
    logs.put_log_events(logGroupName="app", logStreamName="b", logEvents=[
        {"timestamp": base + i * 2 + 1, "message": f"127.0.0.1 GET /item/{i} {500 if i % 50 == 0 else 200} {i}"} for i in range(500)])
    # The whole group in time order, both streams interleaved, page by page.
    seen, token = [], None
    while True:
        page = logs.filter_log_events(logGroupName="app", limit=300, **({"nextToken": token} if token else {}))
        seen += page["events"]
        token = page.get("nextToken")
        if not token:
            break
    assert len(seen) == 1000 and [e["timestamp"] for e in seen] == sorted(e["timestamp"] for e in seen)
    assert len({e["eventId"] for e in seen}) == 1000
    errors = logs.filter_log_events(logGroupName="app", filterPattern='{ $.level = "error" && $.n >= 100 }')["events"]
    assert [json.loads(e["message"])["n"] for e in errors] == list(range(100, 500, 10))
    failed = logs.filter_log_events(logGroupName="app", logStreamNames=["b"], filterPattern="[ip, method, path, status = 5*, size]")["events"]
    assert len(failed) == 10 and all(e["logStreamName"] == "b" for e in failed)
    assert logs.filter_log_events(logGroupName="app", filterPattern='GET " 500 " -json')["events"] == failed
    # GetLogEvents: the newest by default, and back and forth by token.
    newest = logs.get_log_events(logGroupName="app", logStreamName="a", limit=100)
    assert json.loads(newest["events"][-1]["message"])["n"] == 499 and len(newest["events"]) == 100
    older = logs.get_log_events(logGroupName="app", logStreamName="a", limit=100, nextToken=newest["nextBackwardToken"])
    assert json.loads(older["events"][-1]["message"])["n"] == 399
    # Refusals, in CloudWatch Logs' words.
    assert error_of(lambda: logs.put_log_events(logGroupName="app", logStreamName="a", logEvents=[
        {"timestamp": base + 5, "message": "x"}, {"timestamp": base, "message": "y"}])) == (
        "InvalidParameterException", "Log events in a single PutLogEvents request must be in chronological order.")
    assert error_of(lambda: logs.create_log_group(logGroupName="app")) == (
        "ResourceAlreadyExistsException", "The specified log group already exists")
    assert error_of(lambda: logs.put_log_events(logGroupName="none", logStreamName="a", logEvents=[{"timestamp": base, "message": "x"}])) == (
        "ResourceNotFoundException", "The specified log group does not exist.")
    assert error_of(lambda: logs.filter_log_events(logGroupName="app", filterPattern="{ $.n > abc }"))[0] == "InvalidParameterException"
    assert error_of(lambda: logs.put_retention_policy(logGroupName="app", retentionInDays=8))[0] == "InvalidParameterException"
    # Too old and too new events are left out, and said so.
    answer = logs.put_log_events(logGroupName="app", logStreamName="a", logEvents=[
        {"timestamp": now_ms() + 3 * 3600_000, "message": "future"}])
    assert answer["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 0}


def test_a_follower_sees_new_events_and_retention_and_tags_apply(server):
    logs = client(server)
    logs.create_log_group(logGroupName="/aws/lambda/fn", tags={"env": "dev"})
    logs.create_log_stream(logGroupName="/aws/lambda/fn", logStreamName="2026/12/01/[$LATEST]abc")
    # As `aws logs tail --follow` does: FilterLogEvents from a start time, again and again, new eventIds only.
    start, shown = now_ms() - 1000, {}
    for round in range(3):
        logs.put_log_events(logGroupName="/aws/lambda/fn", logStreamName="2026/12/01/[$LATEST]abc",
                            logEvents=[{"timestamp": now_ms(), "message": f"round {round}"}])
        for event in logs.filter_log_events(logGroupName="/aws/lambda/fn", startTime=start)["events"]:
            shown.setdefault(event["eventId"], event["message"])
    assert list(shown.values()) == ["round 0", "round 1", "round 2"]
    # Retention: an event older than the period is refused as expired, and reads leave old ones out.
    logs.put_retention_policy(logGroupName="/aws/lambda/fn", retentionInDays=1)
    old = now_ms() - 2 * 86_400_000
    assert logs.put_log_events(logGroupName="/aws/lambda/fn", logStreamName="2026/12/01/[$LATEST]abc",
                               logEvents=[{"timestamp": old, "message": "old"}])["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 0}
    assert logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/fn")["logGroups"][0]["retentionInDays"] == 1
    arn = "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/fn"
    logs.tag_resource(resourceArn=arn, tags={"team": "b"})
    logs.untag_log_group(logGroupName="/aws/lambda/fn", tags=["env"])
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "b"}
    assert logs.list_tags_log_group(logGroupName="/aws/lambda/fn")["tags"] == {"team": "b"}
    logs.delete_log_stream(logGroupName="/aws/lambda/fn", logStreamName="2026/12/01/[$LATEST]abc")
    assert logs.describe_log_streams(logGroupName="/aws/lambda/fn")["logStreams"] == []
    logs.delete_log_group(logGroupName="/aws/lambda/fn")
    assert error_of(lambda: logs.describe_log_streams(logGroupName="/aws/lambda/fn"))[0] == "ResourceNotFoundException"


def test_acknowledged_events_survive_kill_9(tmp_path):
    ecsd = Ecsd(str(tmp_path)).start()
    try:
        logs = client(ecsd)
        logs.create_log_group(logGroupName="durable")
        logs.create_log_stream(logGroupName="durable", logStreamName="s")
        start = now_ms()
        for batch in range(20):
            logs.put_log_events(logGroupName="durable", logStreamName="s",
                                logEvents=[{"timestamp": start + batch * 10 + i, "message": f"{batch}-{i}"} for i in range(10)])
        ecsd.kill9()
        ecsd.start()
        events = client(ecsd).get_log_events(logGroupName="durable", logStreamName="s", startFromHead=True)["events"]
        assert [e["message"] for e in events] == [f"{b}-{i}" for b in range(20) for i in range(10)]
    finally:
        ecsd.stop()


def test_the_logs_example_runs_as_written(server):
    """Every sh block of Examples/logs/README.md, in order, in one shell."""
    import os
    import re
    import subprocess

    from conftest import ROOT, example

    with open(example("logs", "README.md")) as f:
        blocks = re.findall(r"```sh\n(.*?)```", f.read(), re.S)
    script = "set -euo pipefail\n" + "\n".join(blocks)
    done = subprocess.run(["bash", "-c", script.replace("http://127.0.0.1:8340", server.endpoint)], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split("\t") == ["GET /index.html 200", "GET /missing 404", '{"level":"error","latency":870}'], done.stdout
    assert lines[1:3] == ["GET /missing 404", '{"level":"error","latency":870}'], done.stdout
    assert lines[3].startswith("web/app/1\t"), done.stdout
