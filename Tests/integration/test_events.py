"""EventBridge for real: buses, rules, targets and PutEvents with boto3 and the aws CLI, events
delivered to SQS queues, and nothing accepted lost to a kill -9 of ecsd. No Docker needed (rules
that run tasks and invoke functions are in test_functions_runtime.py)."""
import json
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import Ecsd, run_aws, wait_until

NO_RETRIES = Config(retries={"max_attempts": 1})
ACCOUNT = "000000000000"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    ecsd = Ecsd(str(tmp_path_factory.mktemp("events"))).start()
    yield ecsd
    ecsd.stop()


def client(server, service):
    return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x", config=NO_RETRIES)


def queue(sqs, name):
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"


def receive(sqs, url, count, timeout=10):
    messages = []
    deadline = time.time() + timeout
    while len(messages) < count and time.time() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=1).get("Messages", []):
            messages.append(message)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert len(messages) == count, messages
    return messages


def error_of(call):
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def test_put_events_reach_the_rules_targets_in_eventbridges_envelope(server):
    events, sqs = client(server, "events"), client(server, "sqs")
    url, arn = queue(sqs, "orders")
    rule_arn = events.put_rule(Name="big-orders", EventPattern=json.dumps(
        {"source": ["shop"], "detail": {"total": [{"numeric": [">", 100]}], "region": [{"anything-but": "test"}]}}))["RuleArn"]
    assert rule_arn == f"arn:aws:events:us-east-1:{ACCOUNT}:rule/big-orders"
    assert events.put_targets(Rule="big-orders", Targets=[
        {"Id": "all", "Arn": arn},
        {"Id": "shaped", "Arn": arn, "InputTransformer": {"InputPathsMap": {"total": "$.detail.total"},
                                                          "InputTemplate": '{"amount": <total>, "rule": "<aws.events.rule-name>"}'}},
    ])["FailedEntryCount"] == 0

    answer = events.put_events(Entries=[
        {"Source": "shop", "DetailType": "Order Placed", "Detail": json.dumps({"total": 250, "region": "eu"}), "Resources": ["order/1"]},
        {"Source": "shop", "DetailType": "Order Placed", "Detail": json.dumps({"total": 5, "region": "eu"})},
        {"Source": "shop", "DetailType": "Order Placed", "Detail": "not json"},
    ])
    assert answer["FailedEntryCount"] == 1
    assert answer["Entries"][2] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    bodies = [json.loads(m["Body"]) for m in receive(sqs, url, 2)]
    envelope = next(b for b in bodies if "version" in b)
    assert envelope["id"] == answer["Entries"][0]["EventId"]
    assert (envelope["source"], envelope["detail-type"], envelope["account"], envelope["region"]) == \
        ("shop", "Order Placed", ACCOUNT, "us-east-1")
    assert envelope["resources"] == ["order/1"] and envelope["detail"] == {"total": 250, "region": "eu"}
    assert envelope["time"].endswith("Z") and len(envelope["time"]) == 20
    assert {"amount": 250, "rule": "big-orders"} in bodies

    described = events.describe_rule(Name="big-orders")
    assert described["State"] == "ENABLED" and described["Arn"] == rule_arn and described["EventBusName"] == "default"
    assert [t["Id"] for t in events.list_targets_by_rule(Rule="big-orders")["Targets"]] == ["all", "shaped"]
    assert events.list_rule_names_by_target(TargetArn=arn)["RuleNames"] == ["big-orders"]
    events.disable_rule(Name="big-orders")
    events.put_events(Entries=[{"Source": "shop", "DetailType": "Order Placed", "Detail": json.dumps({"total": 999, "region": "eu"})}])
    time.sleep(0.3)
    assert sqs.receive_message(QueueUrl=url).get("Messages") is None
    events.delete_rule(Name="big-orders", Force=True)


def test_custom_buses_and_bus_to_bus_delivery(server):
    events, sqs = client(server, "events"), client(server, "sqs")
    url, arn = queue(sqs, "audit")
    bus_arn = events.create_event_bus(Name="audit")["EventBusArn"]
    assert bus_arn == f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/audit"
    events.put_rule(Name="keep", EventBusName="audit", EventPattern='{"source": [{"prefix": ""}]}')
    events.put_targets(Rule="keep", EventBusName="audit", Targets=[{"Id": "q", "Arn": arn}])
    events.put_rule(Name="forward", EventPattern='{"detail-type": [{"wildcard": "*Deleted"}]}')
    events.put_targets(Rule="forward", Targets=[{"Id": "bus", "Arn": bus_arn}])
    events.put_events(Entries=[{"Source": "app", "DetailType": "User Deleted", "Detail": "{}"},
                               {"Source": "app", "DetailType": "User Created", "Detail": "{}"}])
    [message] = receive(sqs, url, 1)
    assert json.loads(message["Body"])["detail-type"] == "User Deleted"
    assert [b["Name"] for b in events.list_event_buses()["EventBuses"]] == ["default", "audit"]
    assert error_of(lambda: events.create_event_bus(Name="audit")) == ("ResourceAlreadyExistsException", "Event bus audit already exists.")
    assert error_of(lambda: events.delete_event_bus(Name="default")) == ("ValidationException", "Cannot delete event bus default.")
    assert error_of(lambda: events.describe_rule(Name="keep")) == ("ResourceNotFoundException", "Rule keep does not exist on EventBus default.")
    events.tag_resource(ResourceARN=bus_arn, Tags=[{"Key": "team", "Value": "ops"}])
    assert events.list_tags_for_resource(ResourceARN=bus_arn)["Tags"] == [{"Key": "team", "Value": "ops"}]


def test_bad_input_gets_eventbridges_errors(server):
    events = client(server, "events")
    code, message = error_of(lambda: events.put_rule(Name="bad", EventPattern='{"source": "aws.ecs"}'))
    assert (code, message) == ("InvalidEventPatternException", 'Event pattern is not valid. Reason: "source" must be an object or an array')
    assert error_of(lambda: events.put_rule(Name="bad", ScheduleExpression="rate(1 minutes)")) == \
        ("ValidationException", "Parameter ScheduleExpression is not valid.")
    assert error_of(lambda: events.put_rule(Name="bad")) == \
        ("ValidationException", "Parameter(s) EventPattern or ScheduleExpression must be specified.")
    events.put_rule(Name="full", EventPattern='{"source": ["x"]}')
    events.put_targets(Rule="full", Targets=[{"Id": f"t{i}", "Arn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:q{i}"} for i in range(5)])
    assert error_of(lambda: events.put_targets(Rule="full", Targets=[{"Id": "t5", "Arn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:q5"}]))[0] == \
        "LimitExceededException"
    assert error_of(lambda: events.delete_rule(Name="full")) == ("ValidationException", "Rule can't be deleted since it has targets.")
    assert error_of(lambda: events.put_targets(Rule="full", Targets=[{"Id": "t0", "Arn": "x", "Input": "{}", "InputPath": "$"}])) == \
        ("ValidationException", "Only one of Input, InputPath, or InputTransformer must be provided for target t0.")
    with pytest.raises(events.exceptions.ResourceNotFoundException):
        events.put_targets(Rule="nope", Targets=[{"Id": "t", "Arn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:q"}])
    assert events.remove_targets(Rule="full", Ids=[f"t{i}" for i in range(5)])["FailedEntryCount"] == 0
    events.delete_rule(Name="full")
    with pytest.raises(ClientError) as raised:
        events.put_events(Entries=[{"Source": "a", "DetailType": "b", "Detail": "{}"}] * 11)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    event = {"id": "1", "account": ACCOUNT, "source": "app", "time": "2026-12-01T00:00:00Z", "region": "us-east-1",
             "resources": [], "detail-type": "X", "detail": {"size": 12}}
    assert events.test_event_pattern(EventPattern='{"detail": {"size": [{"numeric": [">=", 10]}]}}', Event=json.dumps(event))["Result"]
    assert not events.test_event_pattern(EventPattern='{"detail": {"size": [{"numeric": ["<", 10]}]}}', Event=json.dumps(event))["Result"]


def test_the_aws_cli_manages_rules(server, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    run_aws(server.endpoint, "events", "put-rule", "--name", "cli-rule", "--schedule-expression", "rate(5 minutes)")
    listed = json.loads(run_aws(server.endpoint, "events", "list-rules", "--name-prefix", "cli-")[1])
    assert [(r["Name"], r["ScheduleExpression"], r["State"]) for r in listed["Rules"]] == [("cli-rule", "rate(5 minutes)", "ENABLED")]
    code, _, stderr = run_aws(server.endpoint, "events", "describe-rule", "--name", "missing", check=False)
    assert code != 0 and "ResourceNotFoundException" in stderr and "Rule missing does not exist on EventBus default." in stderr
    run_aws(server.endpoint, "events", "delete-rule", "--name", "cli-rule")


def test_accepted_events_and_rules_survive_kill_9(tmp_path):
    ecsd = Ecsd(str(tmp_path / "ecsd")).start()
    try:
        events, sqs = client(ecsd, "events"), client(ecsd, "sqs")
        url, arn = queue(sqs, "durable")
        events.put_rule(Name="keep", EventPattern='{"source": ["app"]}')
        events.put_targets(Rule="keep", Targets=[{"Id": "q", "Arn": arn}])
        ids = [events.put_events(Entries=[{"Source": "app", "DetailType": "T", "Detail": json.dumps({"n": n})}])["Entries"][0]["EventId"]
               for n in range(20)]
        ecsd.kill9()
        ecsd.start()
        events, sqs = client(ecsd, "events"), client(ecsd, "sqs")
        assert events.describe_rule(Name="keep")["EventPattern"] == '{"source": ["app"]}'
        delivered = sorted(json.loads(m["Body"])["id"] for m in receive(sqs, url, 20))
        assert delivered == sorted(ids)
    finally:
        ecsd.stop()


def test_the_events_example_runs_as_written(server):
    """Every sh block of Examples/events/README.md, in order, in one shell."""
    import os
    import re
    import subprocess

    from conftest import ROOT, example

    with open(example("events", "README.md")) as f:
        blocks = re.findall(r"```sh\n(.*?)```", f.read(), re.S)
    script = "set -euo pipefail\n" + "\n".join(blocks)
    done = subprocess.run(["bash", "-c", script.replace("http://127.0.0.1:8340", server.endpoint)], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "arn:aws:events:us-east-1:000000000000:rule/big-orders" and lines[1] == "0", done.stdout
    assert lines[2] == '"An order of 250"' and json.loads(lines[3])["detail"] == {"total": 250, "region": "eu"}, done.stdout
    assert lines[4] == "true", done.stdout
    assert lines[5:] == ["disk almost full", "nightly backup done", "disk almost full"], done.stdout


def test_scheduler_runs_schedules_with_boto3_and_the_cli(server, monkeypatch):
    import datetime

    scheduler, sqs = client(server, "scheduler"), client(server, "sqs")
    url, arn = queue(sqs, "scheduled")
    role = f"arn:aws:iam::{ACCOUNT}:role/scheduler"
    soon = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=6)).strftime("%Y-%m-%dT%H:%M:%S")
    created = scheduler.create_schedule(Name="once", ScheduleExpression=f"at({soon})", FlexibleTimeWindow={"Mode": "OFF"},
                                        Target={"Arn": arn, "RoleArn": role, "Input": '{"report": "daily"}'}, ActionAfterCompletion="DELETE")
    assert created["ScheduleArn"] == f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule/default/once"
    scheduler.create_schedule_group(Name="team")
    scheduler.create_schedule(Name="hourly", GroupName="team", ScheduleExpression="cron(0 * * * ? *)", ScheduleExpressionTimezone="Europe/Paris",
                              FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10}, Target={"Arn": arn, "RoleArn": role})
    got = scheduler.get_schedule(Name="hourly", GroupName="team")
    assert got["ScheduleExpressionTimezone"] == "Europe/Paris" and got["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10}
    assert "hourly" in [s["Name"] for s in scheduler.list_schedules()["Schedules"]]
    [message] = receive(sqs, url, 1, timeout=20)
    assert json.loads(message["Body"]) == {"report": "daily"}
    wait_until(lambda: [s["Name"] for s in scheduler.list_schedules()["Schedules"]] == ["hourly"], timeout=5,
               message="the one-time schedule deleted itself")
    with pytest.raises(scheduler.exceptions.ResourceNotFoundException):
        scheduler.get_schedule(Name="once")
    with pytest.raises(scheduler.exceptions.ConflictException):
        scheduler.create_schedule(Name="hourly", GroupName="team", ScheduleExpression="rate(1 hour)", FlexibleTimeWindow={"Mode": "OFF"},
                                  Target={"Arn": arn, "RoleArn": role})
    with pytest.raises(scheduler.exceptions.ValidationException):
        scheduler.create_schedule(Name="bad", ScheduleExpression="every hour", FlexibleTimeWindow={"Mode": "OFF"}, Target={"Arn": arn, "RoleArn": role})

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    listed = json.loads(run_aws(server.endpoint, "scheduler", "list-schedule-groups")[1])
    assert [g["Name"] for g in listed["ScheduleGroups"]] == ["default", "team"]
    run_aws(server.endpoint, "scheduler", "delete-schedule-group", "--name", "team")
    assert scheduler.list_schedules()["Schedules"] == []
