"""Service auto scaling (Application Auto Scaling, `AnyScaleFrontendService.*` over AWS JSON 1.1) and
cluster auto scaling (ECS capacity providers over Stevedore's REST auto scaling groups), driven by
boto3, the real aws CLI and plain HTTP against a real ecsd with simulated container instances.
No Docker needed: command launchers run /bin/true, so no instance is ever really launched.

Load for target tracking and step scaling is reported the way an agent reports it
(POST /v1/agent/metrics), since simulated agents report no usage of their own."""
import datetime
import json
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from zoneinfo import ZoneInfo

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from conftest import Ecsd, Fleet, run_aws, wait_until

DIM = "ecs:service:DesiredCount"
ACCOUNT = "000000000000"
ROLE = (f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/"
        "AWSServiceRoleForApplicationAutoScaling_ECSService")
NO_LAUNCH = {"Type": "command", "Command": ["/bin/true"]}
CPU_TARGET = {"TargetValue": 50.0, "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
              "ScaleOutCooldown": 300, "ScaleInCooldown": 300}
STEP = {"AdjustmentType": "ChangeInCapacity", "Cooldown": 60, "MetricAggregationType": "Average",
        "StepAdjustments": [{"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 20, "ScalingAdjustment": 1},
                            {"MetricIntervalLowerBound": 20, "ScalingAdjustment": 2}]}
# Every ecsd here evaluates scaling each second and scales out after two datapoints above a target.
FAST_SCALING = ["--scaling-resolution", "1", "--scale-out-datapoints", "2"]


@pytest.fixture
def ecsd(data_dir):
    """Overrides conftest's ecsd (and so `fleets`) with one-second scaling datapoints."""
    server = Ecsd(data_dir, extra_args=FAST_SCALING).start()
    yield server
    server.stop()


def aas_client(endpoint):
    # No client-side validation and no retries: every refusal tested here must come from ecsd itself.
    return boto3.client("application-autoscaling", endpoint_url=endpoint, region_name="us-east-1",
                        config=Config(parameter_validation=False, retries={"max_attempts": 1}))


def ecs_client(endpoint):
    return boto3.client("ecs", endpoint_url=endpoint, region_name="us-east-1",
                        config=Config(parameter_validation=False, retries={"max_attempts": 1}))


@pytest.fixture
def ecs(ecsd):
    return ecs_client(ecsd.endpoint)


@pytest.fixture
def aas(ecsd):
    return aas_client(ecsd.endpoint)


def refused(call, code, *fragments):
    """Runs a call that must fail; checks the error type and that the message names the problem."""
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        call()
    error = raised.value.response["Error"]
    assert error["Code"] == code, error
    for fragment in fragments:
        assert fragment in error["Message"], error
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return error


def rest(endpoint, method, path, body=None, raw=None):
    """Plain HTTP with a JSON body; returns (status, decoded JSON body)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(endpoint + path, method=method, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def create_group(endpoint, name, **fields):
    status, group = rest(endpoint, "POST", "/v1/autoscaling/groups",
                         {"AutoScalingGroupName": name, "MinSize": 0, "MaxSize": 3, "Launcher": NO_LAUNCH, **fields})
    assert status == 201, group
    return group


def group_of(endpoint, name):
    status, group = rest(endpoint, "GET", f"/v1/autoscaling/groups/{name}")
    assert status == 200, group
    return group


def reservation_of(endpoint, provider):
    status, body = rest(endpoint, "GET", "/v1/metrics/capacity-providers")
    assert status == 200, body
    return next(r for r in body["capacityProviders"] if r["capacityProvider"] == provider)


def desired_count(ecs, cluster, service):
    return ecs.describe_services(cluster=cluster, services=[service])["services"][0]["desiredCount"]


def start_services(ecs, fleets, endpoint, cluster, services, instances=2):
    """A cluster with simulated instances and services of one task each (256 CPU units reserved)."""
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(family="web", containerDefinitions=[{"name": "web", "image": "nginx:1.27", "cpu": 256, "memory": 128}])
    fleets(endpoint, cluster, instances)
    wait_until(lambda: len(ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]) == instances,
               message=f"{instances} instances registered")
    for service in services:
        ecs.create_service(cluster=cluster, serviceName=service, taskDefinition="web", desiredCount=1)
    wait_until(lambda: len(ecs.list_tasks(cluster=cluster)["taskArns"]) == len(services), message="one task per service")


def register(aas, cluster, service, minimum=1, maximum=5, **extra):
    return aas.register_scalable_target(ServiceNamespace="ecs", ResourceId=f"service/{cluster}/{service}", ScalableDimension=DIM,
                                        MinCapacity=minimum, MaxCapacity=maximum, **extra)


def schedule_at(seconds, zone="UTC"):
    """at(...) for `seconds` from now, as wall-clock time in `zone`."""
    when = datetime.datetime.now(ZoneInfo(zone)) + datetime.timedelta(seconds=seconds)
    return f"at({when.strftime('%Y-%m-%dT%H:%M:%S')})"


def report_cpu(endpoint, ecs, cluster, cpu_units):
    """Reports, as the agents would, that every task of the cluster uses `cpu_units` CPU units now."""
    arns = ecs.list_tasks(cluster=cluster)["taskArns"]
    by_instance = {}
    for task in ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []:
        by_instance.setdefault(task["containerInstanceArn"], []).append(
            {"taskArn": task["taskArn"], "cpuUnits": cpu_units, "memoryMiB": 64.0, "at": time.time()})
    for instance, samples in by_instance.items():
        status, body = rest(endpoint, "POST", "/v1/agent/metrics", {"containerInstanceArn": instance, "samples": samples})
        assert status == 200, body


# MARK: Application Auto Scaling: scalable targets


def test_register_describe_and_update_a_scalable_target(ecsd, ecs, aas, fleets):
    start_services(ecs, fleets, ecsd.endpoint, "shop", ["web"])
    created = register(aas, "shop", "web", 1, 5)
    assert created["ScalableTargetARN"].startswith(f"arn:aws:application-autoscaling:us-east-1:{ACCOUNT}:scalable-target/")

    [target] = aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert target["ResourceId"] == "service/shop/web" and target["ScalableDimension"] == DIM
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 5)
    assert target["RoleARN"] == ROLE
    assert target["ScalableTargetARN"] == created["ScalableTargetARN"]
    assert target["SuspendedState"] == {"DynamicScalingInSuspended": False, "DynamicScalingOutSuspended": False,
                                        "ScheduledScalingSuspended": False}

    # Registering again updates the target in place: same ARN, new bounds, a partial SuspendedState merged.
    again = register(aas, "shop", "web", 2, 8)
    assert again["ScalableTargetARN"] == created["ScalableTargetARN"]
    aas.register_scalable_target(ServiceNamespace="ecs", ResourceId="service/shop/web", ScalableDimension=DIM, MaxCapacity=10,
                                 SuspendedState={"DynamicScalingInSuspended": True})
    [target] = aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=["service/shop/web"],
                                             ScalableDimension=DIM)["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 10)
    assert target["SuspendedState"] == {"DynamicScalingInSuspended": True, "DynamicScalingOutSuspended": False,
                                        "ScheduledScalingSuspended": False}
    # An update may not cross the bounds either.
    refused(lambda: aas.register_scalable_target(ServiceNamespace="ecs", ResourceId="service/shop/web", ScalableDimension=DIM,
                                                 MinCapacity=11),
            "ValidationException", "Minimum capacity cannot be greater than maximum capacity", "min 11, max 10")
    # Filters that match nothing.
    assert aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=["service/shop/other"])["ScalableTargets"] == []


def test_deregister_removes_the_target_with_its_policies_and_actions(ecsd, ecs, aas, fleets):
    start_services(ecs, fleets, ecsd.endpoint, "shop", ["web"])
    register(aas, "shop", "web")
    aas.put_scaling_policy(PolicyName="cpu", ServiceNamespace="ecs", ResourceId="service/shop/web", ScalableDimension=DIM,
                           PolicyType="TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration=CPU_TARGET)
    aas.put_scheduled_action(ServiceNamespace="ecs", ScheduledActionName="night", ResourceId="service/shop/web",
                             ScalableDimension=DIM, Schedule="cron(0 22 * * ? *)", ScalableTargetAction={"MaxCapacity": 2})

    assert aas.deregister_scalable_target(ServiceNamespace="ecs", ResourceId="service/shop/web", ScalableDimension=DIM)
    assert aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"] == []
    assert aas.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"] == []
    assert aas.describe_scheduled_actions(ServiceNamespace="ecs")["ScheduledActions"] == []
    assert desired_count(ecs, "shop", "web") == 1
    refused(lambda: aas.deregister_scalable_target(ServiceNamespace="ecs", ResourceId="service/shop/web", ScalableDimension=DIM),
            "ObjectNotFoundException", "No scalable target registered", "service/shop/web")
    refused(lambda: aas.put_scaling_policy(PolicyName="cpu", ServiceNamespace="ecs", ResourceId="service/shop/web",
                                           ScalableDimension=DIM, PolicyType="TargetTrackingScaling",
                                           TargetTrackingScalingPolicyConfiguration=CPU_TARGET),
            "ObjectNotFoundException", "service/shop/web")


# MARK: Application Auto Scaling: policies and scheduled actions


def test_target_tracking_and_step_scaling_policies(ecsd, ecs, aas, fleets):
    start_services(ecs, fleets, ecsd.endpoint, "shop", ["web"])
    register(aas, "shop", "web")
    rid = "service/shop/web"

    tracking = aas.put_scaling_policy(PolicyName="cpu50", ServiceNamespace="ecs", ResourceId=rid, ScalableDimension=DIM,
                                      PolicyType="TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration=CPU_TARGET)
    assert tracking["PolicyARN"].startswith(f"arn:aws:autoscaling:us-east-1:{ACCOUNT}:scalingPolicy:")
    assert tracking["PolicyARN"].endswith(":resource/ecs/service/shop/web:policyName/cpu50")
    alarms = sorted(tracking["Alarms"], key=lambda a: a["AlarmName"])
    assert len(alarms) == 2
    assert alarms[0]["AlarmName"].startswith("TargetTracking-service/shop/web-AlarmHigh-")
    assert alarms[1]["AlarmName"].startswith("TargetTracking-service/shop/web-AlarmLow-")
    assert all(a["AlarmARN"] == f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:{a['AlarmName']}" for a in alarms)

    step = aas.put_scaling_policy(PolicyName="steps", ServiceNamespace="ecs", ResourceId=rid, ScalableDimension=DIM,
                                  PolicyType="StepScaling", StepScalingPolicyConfiguration=STEP)
    assert step["PolicyARN"].endswith("policyName/steps") and "Alarms" not in step

    policies = aas.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=rid)["ScalingPolicies"]
    assert [p["PolicyName"] for p in policies] == ["cpu50", "steps"]
    cpu50, steps = policies
    assert cpu50["PolicyType"] == "TargetTrackingScaling" and cpu50["PolicyARN"] == tracking["PolicyARN"]
    assert cpu50["TargetTrackingScalingPolicyConfiguration"] == CPU_TARGET
    assert sorted(cpu50["Alarms"], key=lambda a: a["AlarmName"]) == alarms
    assert steps["PolicyType"] == "StepScaling" and steps["StepScalingPolicyConfiguration"] == STEP
    assert {p["ResourceId"] for p in policies} == {rid} and all("CreationTime" in p for p in policies)

    # Putting a policy again updates it under the same ARN.
    changed = aas.put_scaling_policy(PolicyName="cpu50", ServiceNamespace="ecs", ResourceId=rid, ScalableDimension=DIM,
                                     PolicyType="TargetTrackingScaling",
                                     TargetTrackingScalingPolicyConfiguration={**CPU_TARGET, "TargetValue": 60.0})
    assert changed["PolicyARN"] == tracking["PolicyARN"]
    [only] = aas.describe_scaling_policies(ServiceNamespace="ecs", PolicyNames=["cpu50"])["ScalingPolicies"]
    assert only["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 60.0
    page = aas.describe_scaling_policies(ServiceNamespace="ecs", MaxResults=1)
    assert len(page["ScalingPolicies"]) == 1 and page["NextToken"]
    rest_of = aas.describe_scaling_policies(ServiceNamespace="ecs", MaxResults=1, NextToken=page["NextToken"])
    assert [p["PolicyName"] for p in rest_of["ScalingPolicies"]] == ["steps"] and "NextToken" not in rest_of

    aas.delete_scaling_policy(PolicyName="steps", ServiceNamespace="ecs", ResourceId=rid, ScalableDimension=DIM)
    assert [p["PolicyName"] for p in aas.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]] == ["cpu50"]
    refused(lambda: aas.delete_scaling_policy(PolicyName="steps", ServiceNamespace="ecs", ResourceId=rid, ScalableDimension=DIM),
            "ObjectNotFoundException", "No scaling policy found", "policy name: steps")


def test_scheduled_actions_with_cron_in_a_time_zone(ecsd, ecs, aas, fleets):
    start_services(ecs, fleets, ecsd.endpoint, "shop", ["web"])
    register(aas, "shop", "web")
    rid = "service/shop/web"
    start = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    aas.put_scheduled_action(ServiceNamespace="ecs", ScheduledActionName="evening", ResourceId=rid, ScalableDimension=DIM,
                             Schedule="cron(0 18 ? * MON-FRI *)", Timezone="Europe/Paris", StartTime=start,
                             ScalableTargetAction={"MinCapacity": 2, "MaxCapacity": 4})
    aas.put_scheduled_action(ServiceNamespace="ecs", ScheduledActionName="hourly", ResourceId=rid, ScalableDimension=DIM,
                             Schedule="rate(1 hour)", ScalableTargetAction={"MaxCapacity": 5})

    actions = aas.describe_scheduled_actions(ServiceNamespace="ecs", ResourceId=rid)["ScheduledActions"]
    assert [a["ScheduledActionName"] for a in actions] == ["evening", "hourly"]
    evening, hourly = actions
    assert evening["Schedule"] == "cron(0 18 ? * MON-FRI *)" and evening["Timezone"] == "Europe/Paris"
    assert evening["ScalableTargetAction"] == {"MinCapacity": 2, "MaxCapacity": 4}
    assert evening["StartTime"] == start and evening["ScalableDimension"] == DIM
    assert evening["ScheduledActionARN"].endswith(":resource/ecs/service/shop/web:scheduledActionName/evening")
    assert hourly["Timezone"] == "UTC"  # the default

    # Putting it again changes the schedule and keeps what was not given.
    aas.put_scheduled_action(ServiceNamespace="ecs", ScheduledActionName="evening", ResourceId=rid, ScalableDimension=DIM,
                             Schedule="cron(30 19 ? * MON-FRI *)")
    [evening] = aas.describe_scheduled_actions(ServiceNamespace="ecs", ScheduledActionNames=["evening"])["ScheduledActions"]
    assert evening["Schedule"] == "cron(30 19 ? * MON-FRI *)" and evening["Timezone"] == "Europe/Paris"
    assert evening["ScalableTargetAction"] == {"MinCapacity": 2, "MaxCapacity": 4}

    aas.delete_scheduled_action(ServiceNamespace="ecs", ScheduledActionName="hourly", ResourceId=rid, ScalableDimension=DIM)
    assert [a["ScheduledActionName"] for a in aas.describe_scheduled_actions(ServiceNamespace="ecs")["ScheduledActions"]] == ["evening"]
    refused(lambda: aas.delete_scheduled_action(ServiceNamespace="ecs", ScheduledActionName="hourly", ResourceId=rid,
                                                ScalableDimension=DIM),
            "ObjectNotFoundException", "No scheduled action found", "hourly")
    # Nothing fell due: the cron runs in the evening from 2030 on, the rate in an hour.
    assert aas.describe_scaling_activities(ServiceNamespace="ecs")["ScalingActivities"] == []


def test_an_at_scheduled_action_raises_the_desired_count(ecsd, ecs, aas, fleets):
    start_services(ecs, fleets, ecsd.endpoint, "shop", ["web"], instances=3)
    register(aas, "shop", "web", 1, 5)
    rid = "service/shop/web"
    aas.put_scheduled_action(ServiceNamespace="ecs", ScheduledActionName="surge", ResourceId=rid, ScalableDimension=DIM,
                             Schedule=schedule_at(2), ScalableTargetAction={"MinCapacity": 3})
    # The same kind of action in another time zone: at(...) is wall-clock time there.
    aas.put_scheduled_action(ServiceNamespace="ecs", ScheduledActionName="cap-ny", ResourceId=rid, ScalableDimension=DIM,
                             Schedule=schedule_at(3, "America/New_York"), Timezone="America/New_York",
                             ScalableTargetAction={"MaxCapacity": 4})
    assert desired_count(ecs, "shop", "web") == 1

    wait_until(lambda: desired_count(ecs, "shop", "web") == 3, timeout=20, interval=0.25, message="desiredCount 3")
    wait_until(lambda: ecs.describe_services(cluster="shop", services=["web"])["services"][0]["runningCount"] == 3,
               message="three tasks running")
    wait_until(lambda: len(aas.describe_scaling_activities(ServiceNamespace="ecs")["ScalingActivities"]) == 2,
               timeout=20, interval=0.25, message="both scheduled actions ran")

    activities = aas.describe_scaling_activities(ServiceNamespace="ecs", ResourceId=rid, ScalableDimension=DIM)["ScalingActivities"]
    assert activities[0]["StartTime"] >= activities[1]["StartTime"]  # newest first
    surge = next(a for a in activities if "scheduled action name surge" in a["Cause"])
    capped = next(a for a in activities if "scheduled action name cap-ny" in a["Cause"])
    assert surge["StatusCode"] == "Successful" and surge["ResourceId"] == rid and surge["ScalableDimension"] == DIM
    assert "desired count to 3" in surge["Description"]
    assert capped["StatusCode"] == "Successful" and "max capacity to 4" in capped["Description"]
    [target] = aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (3, 4)
    # Ran once: an at(...) action does not fire again.
    time.sleep(1.5)
    assert len(aas.describe_scaling_activities(ServiceNamespace="ecs")["ScalingActivities"]) == 2


def test_suspended_scheduled_scaling_holds_scheduled_actions(ecsd, ecs, aas, fleets):
    start_services(ecs, fleets, ecsd.endpoint, "shop", ["web", "api"])
    register(aas, "shop", "web", 1, 5, SuspendedState={"ScheduledScalingSuspended": True})
    register(aas, "shop", "api", 1, 5)  # the control: the same action on a target that is not suspended
    for service in ["web", "api"]:
        aas.put_scheduled_action(ServiceNamespace="ecs", ScheduledActionName="surge", ResourceId=f"service/shop/{service}",
                                 ScalableDimension=DIM, Schedule=schedule_at(1), ScalableTargetAction={"MinCapacity": 2})
    wait_until(lambda: desired_count(ecs, "shop", "api") == 2, timeout=20, interval=0.25, message="the control action ran")
    time.sleep(1)  # one more scaling pass
    assert desired_count(ecs, "shop", "web") == 1
    activities = aas.describe_scaling_activities(ServiceNamespace="ecs")["ScalingActivities"]
    assert [a["ResourceId"] for a in activities] == ["service/shop/api"]
    targets = {t["ResourceId"]: t for t in aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]}
    held = targets["service/shop/web"]
    assert held["MinCapacity"] == 1 and held["SuspendedState"]["ScheduledScalingSuspended"] is True


def test_a_scheduled_action_missed_while_suspended_does_not_run_on_resume(ecsd, ecs, aas, fleets):
    start_services(ecs, fleets, ecsd.endpoint, "shop", ["web"], instances=3)
    rid = "service/shop/web"
    register(aas, "shop", "web", 1, 5, SuspendedState={"ScheduledScalingSuspended": True})
    aas.put_scheduled_action(ServiceNamespace="ecs", ScheduledActionName="missed", ResourceId=rid,
                             ScalableDimension=DIM, Schedule=schedule_at(1), ScalableTargetAction={"MinCapacity": 2})
    time.sleep(2.5)  # due while suspended
    aas.register_scalable_target(ServiceNamespace="ecs", ResourceId=rid, ScalableDimension=DIM,
                                 SuspendedState={"ScheduledScalingSuspended": False})
    # The control: an action falling due after the resume does run, and only it does.
    aas.put_scheduled_action(ServiceNamespace="ecs", ScheduledActionName="after", ResourceId=rid,
                             ScalableDimension=DIM, Schedule=schedule_at(1), ScalableTargetAction={"MinCapacity": 3})
    wait_until(lambda: desired_count(ecs, "shop", "web") == 3, timeout=20, interval=0.25, message="the later action ran")
    causes = [a["Cause"] for a in aas.describe_scaling_activities(ServiceNamespace="ecs")["ScalingActivities"]]
    assert len(causes) == 1 and "scheduled action name after" in causes[0]


def test_target_tracking_and_step_alarms_scale_out_on_reported_cpu(ecsd, ecs, aas, fleets):
    start_services(ecs, fleets, ecsd.endpoint, "shop", ["web", "api", "held"])
    for service in ["web", "api", "held"]:
        register(aas, "shop", service, 1, 5,
                 **({"SuspendedState": {"DynamicScalingOutSuspended": True}} if service == "held" else {}))
    for service in ["web", "held"]:
        aas.put_scaling_policy(PolicyName="cpu50", ServiceNamespace="ecs", ResourceId=f"service/shop/{service}", ScalableDimension=DIM,
                               PolicyType="TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration=CPU_TARGET)
    step = aas.put_scaling_policy(
        PolicyName="burst", ServiceNamespace="ecs", ResourceId="service/shop/api", ScalableDimension=DIM, PolicyType="StepScaling",
        StepScalingPolicyConfiguration={"AdjustmentType": "ExactCapacity", "Cooldown": 300,
                                        "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 3}]})
    alarm = {"AlarmName": "api-hot", "MetricName": "CPUUtilization", "ComparisonOperator": "GreaterThanThreshold",
             "Threshold": 70, "EvaluationPeriods": 2, "AlarmActions": [step["PolicyARN"]],
             "Namespace": "AWS/ECS", "Statistic": "Average"}  # extra CloudWatch fields are accepted
    assert rest(ecsd.endpoint, "PUT", "/v1/scaling/alarms", alarm) == (200, {})
    status, listed = rest(ecsd.endpoint, "GET", "/v1/scaling/alarms")
    assert status == 200 and [a["AlarmName"] for a in listed["MetricAlarms"]] == ["api-hot"]
    assert listed["MetricAlarms"][0]["AlarmActions"] == [step["PolicyARN"]]

    # Every task at 100% of its 256 reserved CPU units: above the 50% target and the 70% threshold.
    def scaled():
        report_cpu(ecsd.endpoint, ecs, "shop", 256.0)
        return desired_count(ecs, "shop", "web") == 2 and desired_count(ecs, "shop", "api") == 3

    wait_until(scaled, timeout=20, interval=0.25, message="web at 2 (ceil(1 x 100 / 50)) and api at 3 (ExactCapacity)")
    status, series = rest(ecsd.endpoint, "GET", "/v1/metrics/services?cluster=shop&service=web")
    assert status == 200 and series["datapoints"] and series["datapoints"][-1]["cpuUtilization"] == 100

    activities = {a["ResourceId"]: a for a in aas.describe_scaling_activities(ServiceNamespace="ecs")["ScalingActivities"]}
    web, api = activities["service/shop/web"], activities["service/shop/api"]
    assert web["StatusCode"] == "Successful" and web["Description"] == "Setting desired count to 2."
    assert "AlarmHigh" in web["Cause"] and web["Cause"].endswith("triggered policy cpu50")
    assert api["StatusCode"] == "Successful" and api["Cause"] == "monitor alarm api-hot in state ALARM triggered policy burst"
    # Scale-out suspended: same load, same policy, no change and no activity.
    assert desired_count(ecs, "shop", "held") == 1 and "service/shop/held" not in activities


@pytest.mark.parametrize("change, fragment", [
    ({"MetricName": "Latency"}, "MetricName must be CPUUtilization or MemoryUtilization"),
    ({"EvaluationPeriods": 0}, "EvaluationPeriods must be at least 1"),
    ({"AlarmActions": []}, "AlarmActions must name exactly one step-scaling policy ARN"),
])
def test_alarm_validation(ecsd, change, fragment):
    alarm = {"AlarmName": "a", "MetricName": "CPUUtilization", "ComparisonOperator": "GreaterThanThreshold", "Threshold": 70,
             "EvaluationPeriods": 1, "AlarmActions": ["arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:x"], **change}
    status, body = rest(ecsd.endpoint, "PUT", "/v1/scaling/alarms", alarm)
    assert status == 400 and body["__type"] == "ValidationException" and fragment in body["message"], body


def test_alarm_for_an_unknown_policy_is_refused(ecsd):
    alarm = {"AlarmName": "a", "MetricName": "CPUUtilization", "ComparisonOperator": "GreaterThanThreshold", "Threshold": 70,
             "EvaluationPeriods": 1, "AlarmActions": ["arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:nope"]}
    status, body = rest(ecsd.endpoint, "PUT", "/v1/scaling/alarms", alarm)
    assert status == 400 and body["__type"] == "ObjectNotFoundException" and "scalingPolicy:nope" in body["message"], body
    status, body = rest(ecsd.endpoint, "PUT", "/v1/scaling/alarms", {**alarm, "ComparisonOperator": "Bigger"})
    assert status == 400 and "ComparisonOperator" in body["message"] and "GreaterThanThreshold" in body["message"], body


# MARK: Application Auto Scaling: refusals, on one shared ecsd


@pytest.fixture(scope="module")
def shared():
    """One ecsd with cluster `errs`: services web and api (registered, 1-5) and spare (not registered)."""
    directory = tempfile.mkdtemp(prefix="stevedore-it-")
    server = Ecsd(directory, extra_args=FAST_SCALING).start()
    fleet = None
    try:
        ecs = ecs_client(server.endpoint)
        aas = aas_client(server.endpoint)
        ecs.create_cluster(clusterName="errs")
        ecs.register_task_definition(family="web", containerDefinitions=[{"name": "web", "image": "nginx", "memory": 64}])
        fleet = Fleet(server.endpoint, "errs", 1, log_dir=directory).start()
        for service in ["web", "api", "spare"]:
            ecs.create_service(cluster="errs", serviceName=service, taskDefinition="web", desiredCount=1)
        for service in ["web", "api"]:
            register(aas, "errs", service)
        yield server, ecs, aas
    finally:
        if fleet:
            fleet.stop()
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _tracking(aas, configuration, resource="service/errs/web", policy_type="TargetTrackingScaling"):
    return aas.put_scaling_policy(PolicyName="p", ServiceNamespace="ecs", ResourceId=resource, ScalableDimension=DIM,
                                  PolicyType=policy_type, TargetTrackingScalingPolicyConfiguration=configuration)


def _scheduled(aas, schedule, timezone=None, action=None):
    extra = {"Timezone": timezone} if timezone else {}
    return aas.put_scheduled_action(ServiceNamespace="ecs", ScheduledActionName="s", ResourceId="service/errs/web",
                                    ScalableDimension=DIM, Schedule=schedule,
                                    ScalableTargetAction={"MinCapacity": 1} if action is None else action, **extra)


REFUSALS = {
    "nonexistent service": (
        lambda aas: register(aas, "errs", "ghost"),
        "ValidationException", ["ECS service doesn't exist: service/errs/ghost"]),
    "nonexistent cluster": (
        lambda aas: register(aas, "nowhere", "web"),
        "ValidationException", ["service/nowhere/web"]),
    "resource id not service/cluster/name": (
        lambda aas: aas.register_scalable_target(ServiceNamespace="ecs", ResourceId="web", ScalableDimension=DIM,
                                                 MinCapacity=1, MaxCapacity=2),
        "ValidationException", ["service/<cluster>/<service>", "'web'"]),
    "min above max": (
        lambda aas: register(aas, "errs", "spare", 6, 5),
        "ValidationException", ["Minimum capacity cannot be greater than maximum capacity", "min 6, max 5"]),
    "new target without min and max": (
        lambda aas: aas.register_scalable_target(ServiceNamespace="ecs", ResourceId="service/errs/spare", ScalableDimension=DIM),
        "ValidationException", ["MinCapacity and MaxCapacity are required"]),
    "namespace other than ecs": (
        lambda aas: aas.register_scalable_target(ServiceNamespace="dynamodb", ResourceId="table/orders",
                                                 ScalableDimension="dynamodb:table:ReadCapacityUnits", MinCapacity=1, MaxCapacity=5),
        "ValidationException", ["dynamodb", "only ecs"]),
    "ecs namespace with another dimension": (
        lambda aas: aas.register_scalable_target(ServiceNamespace="ecs", ResourceId="service/errs/web",
                                                 ScalableDimension="dynamodb:table:ReadCapacityUnits", MinCapacity=1, MaxCapacity=5),
        "ValidationException", ["dynamodb:table:ReadCapacityUnits", "ecs:service:DesiredCount"]),
    "policy for an unregistered target": (
        lambda aas: _tracking(aas, CPU_TARGET, resource="service/errs/spare"),
        "ObjectNotFoundException", ["No scalable target registered", "resource ID: service/errs/spare"]),
    "ALBRequestCountPerTarget without its resource label": (
        lambda aas: _tracking(aas, {"TargetValue": 100.0, "PredefinedMetricSpecification": {
            "PredefinedMetricType": "ALBRequestCountPerTarget", "ResourceLabel": "tg/2"}}),
        "ValidationException", ["ResourceLabel is required for ALBRequestCountPerTarget", "app/<load-balancer-name>"]),
    "metric of another service": (
        lambda aas: _tracking(aas, {"TargetValue": 50.0, "PredefinedMetricSpecification": {
            "PredefinedMetricType": "DynamoDBReadCapacityUtilization"}}),
        "ValidationException", ["DynamoDBReadCapacityUtilization", "does not apply to ECS"]),
    "customized metric": (
        lambda aas: _tracking(aas, {"TargetValue": 50.0, "CustomizedMetricSpecification": {
            "MetricName": "Queue", "Namespace": "App", "Statistic": "Average"}}),
        "ValidationException", ["CustomizedMetricSpecification"]),
    "target value 0": (
        lambda aas: _tracking(aas, {**CPU_TARGET, "TargetValue": 0.0}),
        "ValidationException", ["TargetValue"]),
    "target tracking without configuration": (
        lambda aas: aas.put_scaling_policy(PolicyName="p", ServiceNamespace="ecs", ResourceId="service/errs/web",
                                           ScalableDimension=DIM, PolicyType="TargetTrackingScaling"),
        "ValidationException", ["TargetTrackingScalingPolicyConfiguration is required"]),
    "PredictiveScaling": (
        lambda aas: aas.put_scaling_policy(
            PolicyName="p", ServiceNamespace="ecs", ResourceId="service/errs/web", ScalableDimension=DIM, PolicyType="PredictiveScaling",
            PredictiveScalingPolicyConfiguration={"MetricSpecifications": [{"TargetValue": 50.0, "PredefinedMetricPairSpecification": {
                "PredefinedMetricType": "ECSServiceCPUUtilization"}}]}),
        "ValidationException", ["Predictive scaling is not supported"]),
    "step scaling without steps": (
        lambda aas: aas.put_scaling_policy(PolicyName="p", ServiceNamespace="ecs", ResourceId="service/errs/web", ScalableDimension=DIM,
                                           PolicyType="StepScaling",
                                           StepScalingPolicyConfiguration={"AdjustmentType": "ChangeInCapacity", "StepAdjustments": []}),
        "ValidationException", ["StepAdjustments"]),
    "step bounds backwards": (
        lambda aas: aas.put_scaling_policy(
            PolicyName="p", ServiceNamespace="ecs", ResourceId="service/errs/web", ScalableDimension=DIM, PolicyType="StepScaling",
            StepScalingPolicyConfiguration={"AdjustmentType": "ChangeInCapacity", "StepAdjustments": [
                {"MetricIntervalLowerBound": 10, "MetricIntervalUpperBound": 5, "ScalingAdjustment": 1}]}),
        "ValidationException", ["MetricIntervalLowerBound (10", "MetricIntervalUpperBound (5"]),
    "policy name with a colon": (
        lambda aas: aas.put_scaling_policy(PolicyName="a:b", ServiceNamespace="ecs", ResourceId="service/errs/web",
                                           ScalableDimension=DIM, PolicyType="TargetTrackingScaling",
                                           TargetTrackingScalingPolicyConfiguration=CPU_TARGET),
        "ValidationException", ["PolicyName", "'a:b'"]),
    "schedule of no known kind": (
        lambda aas: _scheduled(aas, "every day at noon"),
        "ValidationException", ["at(...), rate(...) or cron(...)", "every day at noon"]),
    "cron with five fields": (
        lambda aas: _scheduled(aas, "cron(0 12 * * *)"),
        "ValidationException", ["six fields", "got 5"]),
    "cron with both days": (
        lambda aas: _scheduled(aas, "cron(0 12 1 * MON *)"),
        "ValidationException", ["exactly one of day-of-month and day-of-week must be '?'"]),
    "cron hour out of range": (
        lambda aas: _scheduled(aas, "cron(0 25 * * ? *)"),
        "ValidationException", ["hours", "'25'"]),
    "at with month 13": (
        lambda aas: _scheduled(aas, "at(2030-13-01T00:00:00)"),
        "ValidationException", ["yyyy-mm-ddThh:mm:ss", "2030-13-01T00:00:00"]),
    "rate with a bad unit": (
        lambda aas: _scheduled(aas, "rate(5 fortnights)"),
        "ValidationException", ["fortnights"]),
    "bad time zone": (
        lambda aas: _scheduled(aas, "cron(0 12 * * ? *)", timezone="Mars/Olympus_Mons"),
        "ValidationException", ["Timezone 'Mars/Olympus_Mons' is not a time zone name"]),
    "scheduled min above max": (
        lambda aas: _scheduled(aas, "cron(0 12 * * ? *)", action={"MinCapacity": 5, "MaxCapacity": 2}),
        "ValidationException", ["MinCapacity (5) cannot be greater than MaxCapacity (2)"]),
    "scheduled action without capacities": (
        lambda aas: _scheduled(aas, "cron(0 12 * * ? *)", action={}),
        "ValidationException", ["ScalableTargetAction needs MinCapacity, MaxCapacity or both"]),
    "MaxResults 51 for targets": (
        lambda aas: aas.describe_scalable_targets(ServiceNamespace="ecs", MaxResults=51),
        "ValidationException", ["MaxResults must be between 1 and 50; got 51"]),
    "MaxResults 0 for policies": (
        lambda aas: aas.describe_scaling_policies(ServiceNamespace="ecs", MaxResults=0),
        "ValidationException", ["MaxResults must be between 1 and 50; got 0"]),
    "MaxResults 100 for activities": (
        lambda aas: aas.describe_scaling_activities(ServiceNamespace="ecs", MaxResults=100),
        "ValidationException", ["got 100"]),
    "bad NextToken": (
        lambda aas: aas.describe_scheduled_actions(ServiceNamespace="ecs", NextToken="999"),
        "ValidationException", ["NextToken"]),
    "delete an unknown policy": (
        lambda aas: aas.delete_scaling_policy(PolicyName="nope", ServiceNamespace="ecs", ResourceId="service/errs/web",
                                              ScalableDimension=DIM),
        "ObjectNotFoundException", ["policy name: nope"]),
    "deregister an unknown target": (
        lambda aas: aas.deregister_scalable_target(ServiceNamespace="ecs", ResourceId="service/errs/spare", ScalableDimension=DIM),
        "ObjectNotFoundException", ["resource ID: service/errs/spare"]),
}


@pytest.mark.parametrize("case", list(REFUSALS), ids=list(REFUSALS))
def test_application_auto_scaling_refusals(shared, case):
    _, _, aas = shared
    call, code, fragments = REFUSALS[case]
    refused(lambda: call(aas), code, *fragments)


def test_refusals_leave_nothing_behind(shared):
    _, ecs, aas = shared
    targets = aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert [t["ResourceId"] for t in targets] == ["service/errs/api", "service/errs/web"]
    assert all((t["MinCapacity"], t["MaxCapacity"]) == (1, 5) for t in targets)
    assert aas.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"] == []
    assert aas.describe_scheduled_actions(ServiceNamespace="ecs")["ScheduledActions"] == []
    # Pages of one.
    first = aas.describe_scalable_targets(ServiceNamespace="ecs", MaxResults=1)
    second = aas.describe_scalable_targets(ServiceNamespace="ecs", MaxResults=1, NextToken=first["NextToken"])
    assert [t["ResourceId"] for t in first["ScalableTargets"] + second["ScalableTargets"]] == ["service/errs/api", "service/errs/web"]
    assert "NextToken" not in second
    # Other namespaces simply have no targets here.
    assert aas.describe_scalable_targets(ServiceNamespace="dynamodb")["ScalableTargets"] == []


@pytest.mark.parametrize("call", [
    lambda aas: aas.register_scalable_target(ServiceNamespace="ecs", ResourceId="service/errs/web",
                                             ScalableDimension="ecs:service:Replicas", MinCapacity=1, MaxCapacity=2),
    lambda aas: aas.put_scaling_policy(PolicyName="p", ServiceNamespace="ecs", ScalableDimension=DIM,
                                       PolicyType="TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration=CPU_TARGET),
], ids=["unknown dimension", "missing ResourceId"])
def test_malformed_requests_are_validation_exceptions(shared, call):
    _, _, aas = shared
    refused(lambda: call(aas), "ValidationException")


def test_application_auto_scaling_with_the_aws_cli(shared):
    server, _, _ = shared
    _, out, _ = run_aws(server.endpoint, "application-autoscaling", "describe-scalable-targets", "--service-namespace", "ecs",
                        "--resource-ids", "service/errs/web")
    [target] = json.loads(out)["ScalableTargets"]
    assert target["ResourceId"] == "service/errs/web" and target["ScalableDimension"] == DIM
    assert target["MinCapacity"] == 1 and target["MaxCapacity"] == 5
    assert target["SuspendedState"]["ScheduledScalingSuspended"] is False

    code, _, err = run_aws(server.endpoint, "application-autoscaling", "register-scalable-target", "--service-namespace", "ecs",
                           "--resource-id", "service/errs/ghost", "--scalable-dimension", DIM,
                           "--min-capacity", "1", "--max-capacity", "2", check=False)
    assert code != 0 and "ValidationException" in err and "ECS service doesn't exist: service/errs/ghost" in err

    code, _, err = run_aws(server.endpoint, "application-autoscaling", "put-scheduled-action", "--service-namespace", "ecs",
                           "--scheduled-action-name", "cli", "--resource-id", "service/errs/api", "--scalable-dimension", DIM,
                           "--schedule", "cron(0 9 * * ? *)", "--timezone", "Atlantis/Capital",
                           "--scalable-target-action", "MinCapacity=2", check=False)
    assert code != 0 and "ValidationException" in err and "Atlantis/Capital" in err

    _, out, _ = run_aws(server.endpoint, "application-autoscaling", "describe-scaling-policies", "--service-namespace", "ecs")
    assert json.loads(out)["ScalingPolicies"] == []


# MARK: Auto scaling groups (REST)


def test_auto_scaling_group_lifecycle_over_rest(ecsd):
    created = create_group(ecsd.endpoint, "workers", MinSize=0, MaxSize=3)
    assert created["AutoScalingGroupName"] == "workers"
    assert created["AutoScalingGroupARN"].startswith(f"arn:aws:autoscaling:us-east-1:{ACCOUNT}:autoScalingGroup:")
    assert created["AutoScalingGroupARN"].endswith(":autoScalingGroupName/workers")
    assert (created["MinSize"], created["MaxSize"], created["DesiredCapacity"]) == (0, 3, 0)
    assert created["Launcher"] == NO_LAUNCH and created["Instances"] == []
    assert group_of(ecsd.endpoint, "workers") == created
    create_group(ecsd.endpoint, "batch")
    status, listed = rest(ecsd.endpoint, "GET", "/v1/autoscaling/groups")
    assert status == 200 and [g["AutoScalingGroupName"] for g in listed["AutoScalingGroups"]] == ["batch", "workers"]

    status, updated = rest(ecsd.endpoint, "PUT", "/v1/autoscaling/groups/workers", {"MinSize": 1, "MaxSize": 5})
    # New bounds pull the desired capacity within them, as EC2 Auto Scaling does.
    assert status == 200 and (updated["MinSize"], updated["MaxSize"], updated["DesiredCapacity"]) == (1, 5, 1)
    assert updated["AutoScalingGroupARN"] == created["AutoScalingGroupARN"]
    # Not attached to any cluster, the group still launches through its launcher.
    launched = wait_until(lambda: (lambda g: g if g["Instances"] else None)(group_of(ecsd.endpoint, "workers")),
                          message="an instance launched")
    [instance] = launched["Instances"]
    assert instance["InstanceId"].startswith("i-") and instance["LifecycleState"] == "Pending"
    wait_until(lambda: group_of(ecsd.endpoint, "workers")["Activities"][0]["StatusCode"] == "Successful",
               message="launch activity finished")
    assert group_of(ecsd.endpoint, "workers")["Activities"][0]["Description"] == f"Launching a new EC2 instance: {instance['InstanceId']}"

    status, body = rest(ecsd.endpoint, "DELETE", "/v1/autoscaling/groups/workers")
    assert status == 400 and body["__type"] == "ResourceInUse" and "ForceDelete" in body["message"], body
    assert rest(ecsd.endpoint, "DELETE", "/v1/autoscaling/groups/batch") == (200, {})
    status, body = rest(ecsd.endpoint, "GET", "/v1/autoscaling/groups/batch")
    assert status == 404 and body["__type"] == "ValidationError" and "batch" in body["message"]


GROUP_REFUSALS = {
    "missing Launcher": (
        "POST", "/v1/autoscaling/groups", {"AutoScalingGroupName": "g2", "MinSize": 0, "MaxSize": 3},
        400, "ValidationError", "Launcher is required"),
    "MinSize above MaxSize": (
        "POST", "/v1/autoscaling/groups", {"AutoScalingGroupName": "g2", "MinSize": 4, "MaxSize": 3, "Launcher": NO_LAUNCH},
        400, "ValidationError", "MinSize (4)"),
    "DesiredCapacity above MaxSize": (
        "POST", "/v1/autoscaling/groups", {"AutoScalingGroupName": "g2", "MaxSize": 3, "DesiredCapacity": 5, "Launcher": NO_LAUNCH},
        400, "ValidationError", "Desired capacity:5 must be between the specified min size:0 and max size:3"),
    "DesiredCapacity below MinSize on update": (
        "PUT", "/v1/autoscaling/groups/g", {"MinSize": 2, "DesiredCapacity": 1},
        400, "ValidationError", "Desired capacity:1 must be between the specified min size:2 and max size:3"),
    "duplicate name": (
        "POST", "/v1/autoscaling/groups", {"AutoScalingGroupName": "g", "Launcher": NO_LAUNCH},
        400, "AlreadyExists", "AutoScalingGroup by this name already exists: g"),
    "missing name": (
        "POST", "/v1/autoscaling/groups", {"Launcher": NO_LAUNCH},
        400, "ValidationError", "AutoScalingGroupName is required"),
    "command launcher without a command": (
        "POST", "/v1/autoscaling/groups", {"AutoScalingGroupName": "g2", "Launcher": {"Type": "command"}},
        400, "ValidationError", "A command launcher needs Command"),
    "webhook launcher without a URL": (
        "POST", "/v1/autoscaling/groups", {"AutoScalingGroupName": "g2", "Launcher": {"Type": "webhook", "Url": "ftp://x"}},
        400, "ValidationError", "http:// or https://"),
    "unknown group GET": ("GET", "/v1/autoscaling/groups/nope", None, 404, "ValidationError", "AutoScalingGroup name not found: nope"),
    "unknown group PUT": ("PUT", "/v1/autoscaling/groups/nope", {"MaxSize": 2}, 404, "ValidationError", "nope"),
    "unknown group DELETE": ("DELETE", "/v1/autoscaling/groups/nope", None, 404, "ValidationError", "nope"),
    "delete a group a provider uses": (
        "DELETE", "/v1/autoscaling/groups/g", None, 400, "ResourceInUse", "used by capacity provider cp"),
}


@pytest.mark.parametrize("case", list(GROUP_REFUSALS), ids=list(GROUP_REFUSALS))
def test_auto_scaling_group_refusals(ecsd, ecs, case):
    create_group(ecsd.endpoint, "g")
    ecs.create_capacity_provider(name="cp", autoScalingGroupProvider={"autoScalingGroupArn": "g"})
    method, path, body, status, kind, fragment = GROUP_REFUSALS[case]
    got_status, got = rest(ecsd.endpoint, method, path, body)
    assert got_status == status and got["__type"] == kind and fragment in got["message"], got
    assert [g["AutoScalingGroupName"] for g in rest(ecsd.endpoint, "GET", "/v1/autoscaling/groups")[1]["AutoScalingGroups"]] == ["g"]


def test_auto_scaling_group_body_must_be_json(ecsd):
    status, body = rest(ecsd.endpoint, "POST", "/v1/autoscaling/groups", raw=b"{not json")
    assert status == 400 and body["__type"] == "SerializationException" and "not valid JSON" in body["message"]


# MARK: Capacity providers


def test_create_describe_and_update_capacity_providers(ecsd, ecs):
    first = create_group(ecsd.endpoint, "g1")
    second = create_group(ecsd.endpoint, "g2")
    create_group(ecsd.endpoint, "g3")
    by_name = ecs.create_capacity_provider(name="alpha", autoScalingGroupProvider={"autoScalingGroupArn": "g1"},
                                           tags=[{"key": "team", "value": "infra"}])["capacityProvider"]
    assert by_name["capacityProviderArn"] == f"arn:aws:ecs:us-east-1:{ACCOUNT}:capacity-provider/alpha"
    assert by_name["status"] == "ACTIVE" and by_name["type"] == "EC2_AUTOSCALING"
    provider = by_name["autoScalingGroupProvider"]
    assert provider["autoScalingGroupArn"] == first["AutoScalingGroupARN"]  # a name is resolved to the group's ARN
    assert provider["managedScaling"] == {"status": "DISABLED", "targetCapacity": 100, "minimumScalingStepSize": 1,
                                          "maximumScalingStepSize": 10000, "instanceWarmupPeriod": 300}
    assert provider["managedTerminationProtection"] == "DISABLED" and provider["managedDraining"] == "ENABLED"

    by_arn = ecs.create_capacity_provider(
        name="beta", autoScalingGroupProvider={"autoScalingGroupArn": second["AutoScalingGroupARN"],
                                               "managedScaling": {"status": "ENABLED", "targetCapacity": 90},
                                               "managedTerminationProtection": "ENABLED"})["capacityProvider"]
    assert by_arn["autoScalingGroupProvider"]["autoScalingGroupArn"] == second["AutoScalingGroupARN"]
    assert by_arn["autoScalingGroupProvider"]["managedScaling"]["targetCapacity"] == 90
    assert by_arn["autoScalingGroupProvider"]["managedTerminationProtection"] == "ENABLED"
    ecs.create_capacity_provider(name="gamma", autoScalingGroupProvider={"autoScalingGroupArn": "g3"})

    described = ecs.describe_capacity_providers(capacityProviders=["alpha", by_arn["capacityProviderArn"], "nope"])
    assert [p["name"] for p in described["capacityProviders"]] == ["alpha", "beta"]
    assert "tags" not in described["capacityProviders"][0]
    assert described["failures"] == [{"arn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:capacity-provider/nope", "reason": "MISSING"}]
    tagged = ecs.describe_capacity_providers(capacityProviders=["alpha"], include=["TAGS"])["capacityProviders"][0]
    assert tagged["tags"] == [{"key": "team", "value": "infra"}]

    page = ecs.describe_capacity_providers(maxResults=2)
    assert [p["name"] for p in page["capacityProviders"]] == ["alpha", "beta"] and page["nextToken"]
    last = ecs.describe_capacity_providers(maxResults=2, nextToken=page["nextToken"])
    assert [p["name"] for p in last["capacityProviders"]] == ["gamma"] and "nextToken" not in last
    refused(lambda: ecs.describe_capacity_providers(maxResults=11), "InvalidParameterException", "maxResults must be between 1 and 10")

    updated = ecs.update_capacity_provider(name="alpha", autoScalingGroupProvider={
        "managedScaling": {"status": "ENABLED", "targetCapacity": 80}})["capacityProvider"]
    scaling = updated["autoScalingGroupProvider"]["managedScaling"]
    assert scaling["status"] == "ENABLED" and scaling["targetCapacity"] == 80 and scaling["minimumScalingStepSize"] == 1
    assert updated["updateStatus"] == "UPDATE_COMPLETE"
    # With managed scaling on, managed termination protection may now be enabled.
    protected = ecs.update_capacity_provider(name="alpha", autoScalingGroupProvider={"managedTerminationProtection": "ENABLED"})
    assert protected["capacityProvider"]["autoScalingGroupProvider"]["managedTerminationProtection"] == "ENABLED"
    assert protected["capacityProvider"]["autoScalingGroupProvider"]["managedScaling"]["targetCapacity"] == 80
    refused(lambda: ecs.update_capacity_provider(name="gamma", autoScalingGroupProvider={"managedTerminationProtection": "ENABLED"}),
            "InvalidParameterException", "must have managed scaling enabled")
    refused(lambda: ecs.update_capacity_provider(name="alpha", autoScalingGroupProvider={"managedScaling": {"targetCapacity": 0}}),
            "InvalidParameterException", "targetCapacity must be between 1 and 100", "got 0")
    refused(lambda: ecs.update_capacity_provider(name="nope", autoScalingGroupProvider={"managedScaling": {"targetCapacity": 50}}),
            "ClientException", "capacity provider does not exist: nope")


PROVIDER_REFUSALS = {
    "name starting with ecs": (
        {"name": "ecs-workers", "autoScalingGroupProvider": {"autoScalingGroupArn": "free"}},
        "ClientException", ["'ecs-workers' is not valid", "not starting with aws, ecs or fargate"]),
    "name starting with FARGATE": (
        {"name": "FARGATE_MORE", "autoScalingGroupProvider": {"autoScalingGroupArn": "free"}},
        "ClientException", ["'FARGATE_MORE' is not valid"]),
    "name with a space": (
        {"name": "my workers", "autoScalingGroupProvider": {"autoScalingGroupArn": "free"}},
        "ClientException", ["'my workers' is not valid"]),
    "unknown group": (
        {"name": "p2", "autoScalingGroupProvider": {"autoScalingGroupArn": "ghost-group"}},
        "ClientException", ["The specified Auto Scaling group ARN 'ghost-group' is not valid."]),
    "termination protection without managed scaling": (
        {"name": "p2", "autoScalingGroupProvider": {"autoScalingGroupArn": "free", "managedTerminationProtection": "ENABLED"}},
        "InvalidParameterException", ["must have managed scaling enabled"]),
    "targetCapacity above 100": (
        {"name": "p2", "autoScalingGroupProvider": {"autoScalingGroupArn": "free", "managedScaling": {"targetCapacity": 101}}},
        "InvalidParameterException", ["targetCapacity must be between 1 and 100", "got 101"]),
    "duplicate provider": (
        {"name": "taken", "autoScalingGroupProvider": {"autoScalingGroupArn": "free"}},
        "ClientException", ["The specified capacity provider already exists"]),
    "group already used by another provider": (
        {"name": "p2", "autoScalingGroupProvider": {"autoScalingGroupArn": "used"}},
        "ClientException", ["already in use by capacity provider taken"]),
    "no auto scaling group provider": (
        {"name": "p2"},
        "InvalidParameterException", ["autoScalingGroupProvider is required"]),
}


@pytest.mark.parametrize("case", list(PROVIDER_REFUSALS), ids=list(PROVIDER_REFUSALS))
def test_capacity_provider_refusals(ecsd, ecs, case):
    create_group(ecsd.endpoint, "used")
    create_group(ecsd.endpoint, "free")
    ecs.create_capacity_provider(name="taken", autoScalingGroupProvider={"autoScalingGroupArn": "used"})
    request, code, fragments = PROVIDER_REFUSALS[case]
    refused(lambda: ecs.create_capacity_provider(**request), code, *fragments)
    assert [p["name"] for p in ecs.describe_capacity_providers()["capacityProviders"]] == ["taken"]


def test_cluster_capacity_providers_and_what_holds_a_provider(ecsd, ecs):
    create_group(ecsd.endpoint, "g1")
    create_group(ecsd.endpoint, "g2")
    ecs.create_capacity_provider(name="one", autoScalingGroupProvider={"autoScalingGroupArn": "g1"})
    ecs.create_capacity_provider(name="two", autoScalingGroupProvider={"autoScalingGroupArn": "g2"})
    ecs.create_cluster(clusterName="main")
    ecs.create_cluster(clusterName="other")

    strategy = [{"capacityProvider": "one", "weight": 1, "base": 1}, {"capacityProvider": "two", "weight": 2}]
    put = ecs.put_cluster_capacity_providers(cluster="main", capacityProviders=["one", "two"],
                                             defaultCapacityProviderStrategy=strategy)["cluster"]
    assert put["capacityProviders"] == ["one", "two"] and put["defaultCapacityProviderStrategy"] == strategy
    [cluster] = ecs.describe_clusters(clusters=["main"])["clusters"]
    assert cluster["capacityProviders"] == ["one", "two"] and cluster["defaultCapacityProviderStrategy"] == strategy

    refused(lambda: ecs.put_cluster_capacity_providers(cluster="other", capacityProviders=["one"], defaultCapacityProviderStrategy=[]),
            "InvalidParameterException", "'one' is already associated with cluster main")
    not_found = "The specified capacity provider was not found. Specify a valid capacity provider and try again."
    refused(lambda: ecs.put_cluster_capacity_providers(cluster="other", capacityProviders=["nope"], defaultCapacityProviderStrategy=[]),
            "InvalidParameterException", not_found)
    # CreateCluster too (a cluster naming one would leave its tasks waiting in PROVISIONING forever).
    refused(lambda: ecs.create_cluster(clusterName="third", capacityProviders=["nope"]), "InvalidParameterException", not_found)
    refused(lambda: ecs.put_cluster_capacity_providers(cluster="main", capacityProviders=["one"],
                                                       defaultCapacityProviderStrategy=[{"capacityProvider": "two", "weight": 1}]),
            "InvalidParameterException", "names 'two', which is not among the cluster's capacityProviders")
    refused(lambda: ecs.put_cluster_capacity_providers(cluster="main", capacityProviders=["one", "two"],
                                                       defaultCapacityProviderStrategy=[{"capacityProvider": "one", "weight": 0}]),
            "InvalidParameterException", "at least one provider with a weight above 0")
    refused(lambda: ecs.put_cluster_capacity_providers(cluster="main", capacityProviders=["one", "two"],
                                                       defaultCapacityProviderStrategy=[{"capacityProvider": "one", "weight": 1, "base": 1},
                                                                                        {"capacityProvider": "two", "weight": 1, "base": 1}]),
            "InvalidParameterException", "Only one capacity provider in a strategy can have a base")

    # Attached to a cluster: neither the provider nor its group can go.
    refused(lambda: ecs.delete_capacity_provider(capacityProvider="two"), "ResourceInUseException", "in use by cluster main")
    status, body = rest(ecsd.endpoint, "DELETE", "/v1/autoscaling/groups/g2")
    assert status == 400 and body["__type"] == "ResourceInUse" and "capacity provider two" in body["message"]

    ecs.put_cluster_capacity_providers(cluster="main", capacityProviders=["one"],
                                       defaultCapacityProviderStrategy=[{"capacityProvider": "one", "weight": 1}])
    deleted = ecs.delete_capacity_provider(capacityProvider="two")["capacityProvider"]
    assert deleted["status"] == "INACTIVE" and deleted["updateStatus"] == "DELETE_COMPLETE"
    assert [p["name"] for p in ecs.describe_capacity_providers()["capacityProviders"]] == ["one"]
    assert ecs.describe_capacity_providers(capacityProviders=["two"])["capacityProviders"][0]["status"] == "INACTIVE"
    refused(lambda: ecs.delete_capacity_provider(capacityProvider="two"), "ClientException", "does not exist: two")
    # With its provider gone the group may be deleted, and a deleted provider's name reused.
    assert rest(ecsd.endpoint, "DELETE", "/v1/autoscaling/groups/g2") == (200, {})
    create_group(ecsd.endpoint, "g2b")
    assert ecs.create_capacity_provider(name="two", autoScalingGroupProvider={"autoScalingGroupArn": "g2b"})["capacityProvider"]["status"] == "ACTIVE"


def test_run_task_through_a_capacity_provider_waits_in_provisioning(ecsd, ecs):
    group = create_group(ecsd.endpoint, "pool", MaxSize=5)
    ecs.create_capacity_provider(name="pool", autoScalingGroupProvider={"autoScalingGroupArn": group["AutoScalingGroupARN"]})
    ecs.create_cluster(clusterName="elastic")
    ecs.put_cluster_capacity_providers(cluster="elastic", capacityProviders=["pool"],
                                       defaultCapacityProviderStrategy=[{"capacityProvider": "pool", "weight": 1}])
    ecs.register_task_definition(family="job", containerDefinitions=[{"name": "job", "image": "busybox", "memory": 128}])

    ran = ecs.run_task(cluster="elastic", taskDefinition="job", count=2,
                       capacityProviderStrategy=[{"capacityProvider": "pool", "weight": 1}])
    assert ran["failures"] == [] and len(ran["tasks"]) == 2
    assert all(t["lastStatus"] == "PROVISIONING" and t["desiredStatus"] == "RUNNING" for t in ran["tasks"])
    assert all("containerInstanceArn" not in t for t in ran["tasks"])
    # Without a strategy, the cluster's default strategy applies.
    defaulted = ecs.run_task(cluster="elastic", taskDefinition="job")["tasks"][0]
    assert defaulted["lastStatus"] == "PROVISIONING"
    assert ecs.describe_clusters(clusters=["elastic"])["clusters"][0]["pendingTasksCount"] == 3

    # No instances and tasks waiting: CapacityProviderReservation is 200. Managed scaling is off, so the group stays.
    reservation = reservation_of(ecsd.endpoint, "pool")
    assert reservation["cluster"] == "elastic" and reservation["autoScalingGroup"] == "pool"
    assert reservation["provisioningTasks"] == 3 and reservation["instances"] == 0
    assert reservation["capacityProviderReservation"] == 200 and reservation["managedScaling"] is False
    assert reservation["desiredCapacity"] == 0 and group_of(ecsd.endpoint, "pool")["DesiredCapacity"] == 0

    # Stopping a task that never got an instance stops it at once.
    stopped = ecs.stop_task(cluster="elastic", task=defaulted["taskArn"], reason="not needed")["task"]
    assert stopped["desiredStatus"] == "STOPPED"
    [task] = ecs.describe_tasks(cluster="elastic", tasks=[defaulted["taskArn"]])["tasks"]
    assert task["lastStatus"] == "STOPPED" and task["stopCode"] == "UserInitiated" and task["stoppedReason"] == "not needed"
    assert reservation_of(ecsd.endpoint, "pool")["provisioningTasks"] == 2

    # Managed scaling on: the group grows for the waiting tasks (one instance each: no instance shape known yet).
    ecs.update_capacity_provider(name="pool", autoScalingGroupProvider={"managedScaling": {"status": "ENABLED", "targetCapacity": 100}})
    grown = wait_until(lambda: (lambda g: g if g["DesiredCapacity"] == 2 else None)(group_of(ecsd.endpoint, "pool")),
                       message="group desired capacity 2")
    wait_until(lambda: len(group_of(ecsd.endpoint, "pool")["Instances"]) == 2, message="two instances launching")
    assert grown["MaxSize"] == 5
    reservation = reservation_of(ecsd.endpoint, "pool")
    assert reservation["managedScaling"] is True and reservation["desiredCapacity"] == 2
    assert reservation["instances"] == 2 and reservation["instancesNeeded"] == 2 and reservation["capacityProviderReservation"] == 100
    # The instances never register (the launcher is /bin/true): the tasks keep waiting.
    assert {t["lastStatus"] for t in ecs.describe_tasks(cluster="elastic", tasks=[t["taskArn"] for t in ran["tasks"]])["tasks"]} == {"PROVISIONING"}

    # The provider is now busy: neither it nor its group may be removed.
    refused(lambda: ecs.delete_capacity_provider(capacityProvider="pool"), "ResourceInUseException", "elastic")


def test_run_task_strategy_refusals(ecsd, ecs):
    create_group(ecsd.endpoint, "g1")
    create_group(ecsd.endpoint, "g2")
    ecs.create_capacity_provider(name="attached", autoScalingGroupProvider={"autoScalingGroupArn": "g1"})
    ecs.create_capacity_provider(name="loose", autoScalingGroupProvider={"autoScalingGroupArn": "g2"})
    ecs.create_cluster(clusterName="elastic")
    ecs.create_cluster(clusterName="bare")
    ecs.put_cluster_capacity_providers(cluster="elastic", capacityProviders=["attached"], defaultCapacityProviderStrategy=[])
    ecs.register_task_definition(family="job", containerDefinitions=[{"name": "job", "image": "busybox", "memory": 128}])

    refused(lambda: ecs.run_task(cluster="elastic", taskDefinition="job",
                                 capacityProviderStrategy=[{"capacityProvider": "loose", "weight": 1}]),
            "InvalidParameterException", "not associated with the cluster: loose")
    refused(lambda: ecs.run_task(cluster="elastic", taskDefinition="job", launchType="EC2",
                                 capacityProviderStrategy=[{"capacityProvider": "attached", "weight": 1}]),
            "InvalidParameterException", "launchType and a capacityProviderStrategy")
    # No default strategy and no instances: nothing to wait for.
    refused(lambda: ecs.run_task(cluster="elastic", taskDefinition="job"), "InvalidParameterException", "No Container Instances")
    refused(lambda: ecs.run_task(cluster="bare", taskDefinition="job",
                                 capacityProviderStrategy=[{"capacityProvider": "attached", "weight": 1}]),
            "InvalidParameterException", "not associated with the cluster: attached")
    assert ecs.list_tasks(cluster="elastic")["taskArns"] == []


def provisioning_task(ecsd, ecs):
    """A cluster whose only capacity provider has no instances, and a task waiting for it."""
    create_group(ecsd.endpoint, "pool")
    ecs.create_capacity_provider(name="pool", autoScalingGroupProvider={"autoScalingGroupArn": "pool"})
    ecs.create_cluster(clusterName="elastic")
    ecs.put_cluster_capacity_providers(cluster="elastic", capacityProviders=["pool"], defaultCapacityProviderStrategy=[])
    ecs.register_task_definition(family="job", containerDefinitions=[{"name": "job", "image": "busybox", "memory": 128}])
    [task] = ecs.run_task(cluster="elastic", taskDefinition="job",
                          capacityProviderStrategy=[{"capacityProvider": "pool", "weight": 1}])["tasks"]
    assert task["lastStatus"] == "PROVISIONING"
    return task


def test_a_provisioning_task_names_its_capacity_provider(ecsd, ecs):
    task = provisioning_task(ecsd, ecs)
    assert task.get("capacityProviderName") == "pool"
    [described] = ecs.describe_tasks(cluster="elastic", tasks=[task["taskArn"]])["tasks"]
    assert described.get("capacityProviderName") == "pool"


def test_a_provisioning_task_holds_its_capacity_provider(ecsd, ecs):
    provisioning_task(ecsd, ecs)
    refused(lambda: ecs.put_cluster_capacity_providers(cluster="elastic", capacityProviders=[], defaultCapacityProviderStrategy=[]),
            "ResourceInUseException", "pool")
    assert ecs.describe_clusters(clusters=["elastic"])["clusters"][0]["capacityProviders"] == ["pool"]


def test_capacity_providers_with_the_aws_cli(ecsd, ecs):
    create_group(ecsd.endpoint, "g")
    ecs.create_capacity_provider(name="cli", autoScalingGroupProvider={"autoScalingGroupArn": "g"})
    _, out, _ = run_aws(ecsd.endpoint, "ecs", "describe-capacity-providers", "--capacity-providers", "cli", "nope")
    described = json.loads(out)
    assert [p["name"] for p in described["capacityProviders"]] == ["cli"]
    assert described["failures"][0]["reason"] == "MISSING"
    code, _, err = run_aws(ecsd.endpoint, "ecs", "create-capacity-provider", "--name", "aws-pool", "--auto-scaling-group-provider",
                           "autoScalingGroupArn=g", check=False)
    assert code != 0 and "ClientException" in err and "'aws-pool' is not valid" in err


def test_capacity_providers_are_tagged(ecsd, ecs):
    create_group(ecsd.endpoint, "g")
    created = ecs.create_capacity_provider(name="tagged", autoScalingGroupProvider={"autoScalingGroupArn": "g"},
                                           tags=[{"key": "team", "value": "a"}])["capacityProvider"]
    arn = created["capacityProviderArn"]
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "tier", "value": "gold"}, {"key": "team", "value": "b"}])
    assert sorted((t["key"], t["value"]) for t in ecs.list_tags_for_resource(resourceArn=arn)["tags"]) == [("team", "b"), ("tier", "gold")]
    ecs.untag_resource(resourceArn=arn, tagKeys=["team"])
    described = ecs.describe_capacity_providers(capacityProviders=["tagged"], include=["TAGS"])["capacityProviders"][0]
    assert described["tags"] == [{"key": "tier", "value": "gold"}]
    try:
        ecs.tag_resource(resourceArn=arn.replace("tagged", "ghost"), tags=[{"key": "a", "value": "b"}])
        raise AssertionError("a missing capacity provider was tagged")
    except ecs.exceptions.ResourceNotFoundException:
        pass
