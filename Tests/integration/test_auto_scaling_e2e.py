"""Auto scaling end to end on a real Docker engine: a CPU-burning service scales out and back in
(min/max, cooldowns, activities), and tasks that do not fit wait in PROVISIONING while the local
launcher adds ecs-agent processes, which are drained and removed once idle, no task ever stopped.
"""
import json
import os
import subprocess
import time
import urllib.request
import uuid

import boto3
import pytest

from conftest import BIN, Ecsd, run_ecsctl, wait_until
from docker_support import BUSYBOX_IMAGE, Agent, build_busybox_image, remove_cluster_containers, requires_docker

pytestmark = requires_docker


def rest(endpoint, method, path, body=None):
    request = urllib.request.Request(endpoint + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"{}")


def test_cpu_burning_service_scales_out_and_back_in(data_dir, tmp_path):
    build_busybox_image()
    name = "as-" + uuid.uuid4().hex[:8]
    server = Ecsd(data_dir, extra_args=["--scaling-resolution", "1", "--scale-out-datapoints", "3",
                                        "--scale-in-datapoints", "4"]).start()
    agent = None
    try:
        ecs = boto3.client("ecs", endpoint_url=server.endpoint, region_name="us-east-1")
        scaling = boto3.client("application-autoscaling", endpoint_url=server.endpoint, region_name="us-east-1")
        ecs.create_cluster(clusterName=name)
        agent = Agent(server.endpoint, name, os.path.join(data_dir, "agent")).start()
        wait_until(lambda: ecs.list_container_instances(cluster=name)["containerInstanceArns"], timeout=30, message="agent")

        flags = tmp_path / "flags"
        flags.mkdir()
        # Burns a core while /flag/burn exists on the host, idles otherwise.
        burner = ("while true; do if [ -f /flag/burn ]; then i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; "
                  "else sleep 0.3; fi; done")
        ecs.register_task_definition(
            family="burner", volumes=[{"name": "flags", "host": {"sourcePath": str(flags)}}],
            containerDefinitions=[{"name": "burn", "image": BUSYBOX_IMAGE, "cpu": 512, "memory": 32, "stopTimeout": 1,
                                   "command": ["sh", "-c", burner],
                                   "mountPoints": [{"sourceVolume": "flags", "containerPath": "/flag", "readOnly": True}]}])
        ecs.create_service(cluster=name, serviceName="web", taskDefinition="burner", desiredCount=1)
        resource = f"service/{name}/web"
        scaling.register_scalable_target(ServiceNamespace="ecs", ResourceId=resource,
                                         ScalableDimension="ecs:service:DesiredCount", MinCapacity=1, MaxCapacity=3)
        scaling.put_scaling_policy(
            PolicyName="cpu40", ServiceNamespace="ecs", ResourceId=resource, ScalableDimension="ecs:service:DesiredCount",
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 40.0, "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
                "ScaleOutCooldown": 15, "ScaleInCooldown": 5})

        def service():
            return ecs.describe_services(cluster=name, services=["web"])["services"][0]

        wait_until(lambda: service()["runningCount"] == 1, timeout=60, message="first task running")
        time.sleep(3)
        assert service()["desiredCount"] == 1, "idle tasks must not scale out"

        (flags / "burn").write_text("1")
        burning_since = time.time()
        wait_until(lambda: service()["desiredCount"] == 3, timeout=60, message="scale out to the maximum")
        reaction = time.time() - burning_since
        (flags / "burn").unlink()
        wait_until(lambda: service()["runningCount"] == 3, timeout=60, message="3 tasks running")
        assert reaction < 30, f"scale-out took {reaction:.1f}s"

        # Back to the minimum once the load is gone, but not before the scale-out cooldown ends.
        try:
            wait_until(lambda: service()["desiredCount"] == 1, timeout=90, message="scale in to the minimum")
        except AssertionError:
            metrics = rest(server.endpoint, "GET", f"/v1/metrics/services?cluster={name}&service=web")
            raise AssertionError(f"no scale-in: {service()['desiredCount']} desired; datapoints {metrics['datapoints'][-8:]}; "
                                 f"activities {scaling.describe_scaling_activities(ServiceNamespace='ecs')['ScalingActivities']}")
        wait_until(lambda: service()["runningCount"] == 1, timeout=60, message="1 task running")
        activities = scaling.describe_scaling_activities(ServiceNamespace="ecs", ResourceId=resource)["ScalingActivities"]
        assert [a["Description"] for a in activities] == ["Setting desired count to 1.", "Setting desired count to 3."]
        scale_in, scale_out = activities
        assert all(a["StatusCode"] == "Successful" for a in activities)
        assert "AlarmHigh" in scale_out["Cause"] and "triggered policy cpu40" in scale_out["Cause"]
        assert "AlarmLow" in scale_in["Cause"]
        assert (scale_in["StartTime"] - scale_out["StartTime"]).total_seconds() >= 15

        # ecsctl shows the same story.
        code, out, err = run_ecsctl(server.endpoint, "scaling", "activities", "web", "--cluster", name)
        assert code == 0, err
        assert "Setting desired count to 3." in out and "Setting desired count to 1." in out
        code, out, err = run_ecsctl(server.endpoint, "scaling", "ls")
        assert code == 0 and resource in out and "cpu40" in out, out + err
        code, out, err = run_ecsctl(server.endpoint, "scaling", "metrics", "web", "--cluster", name, "--limit", "3")
        assert code == 0 and "CPU %" in out, err
    finally:
        try:
            if agent:
                agent.stop()
            server.stop()
        finally:
            remove_cluster_containers(name)


def test_provisioning_tasks_get_instances_from_the_local_launcher_and_idle_ones_go(data_dir):
    build_busybox_image()
    name = "cp-" + uuid.uuid4().hex[:8]
    server = Ecsd(data_dir, extra_args=["--capacity-scale-in-after", "3", "--agent-binary", os.path.join(BIN, "ecs-agent"),
                                        "--agent-timeout", "5"]).start()
    ecs = boto3.client("ecs", endpoint_url=server.endpoint, region_name="us-east-1")
    try:
        ecs.create_cluster(clusterName=name)
        total = int(open("/proc/meminfo").read().split("MemTotal:")[1].split()[0]) // 1024
        # Each local instance offers 600 MiB: two 256 MiB tasks fit, a third does not.
        rest(server.endpoint, "POST", "/v1/autoscaling/groups", {
            "AutoScalingGroupName": "local", "MinSize": 0, "MaxSize": 4,
            "Launcher": {"Type": "local", "AgentConfig": {
                "ECS_RESERVED_MEMORY": str(total - 600), "ECS_HOST_PORT_BIND_IP": "127.0.0.1",
                "ECS_IMAGE_PULL_BEHAVIOR": "prefer-cached", "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION": "2s"}}})
        ecs.create_capacity_provider(name="local-cp", autoScalingGroupProvider={
            "autoScalingGroupArn": "local", "managedTerminationProtection": "ENABLED",
            "managedScaling": {"status": "ENABLED", "targetCapacity": 100}})
        ecs.put_cluster_capacity_providers(cluster=name, capacityProviders=["local-cp"],
                                           defaultCapacityProviderStrategy=[{"capacityProvider": "local-cp", "weight": 1}])
        ecs.register_task_definition(family="sleeper", containerDefinitions=[{
            "name": "s", "image": BUSYBOX_IMAGE, "memory": 256, "stopTimeout": 1, "command": ["sleep", "3600"]}])

        binpack = [{"type": "binpack", "field": "memory"}]
        started = ecs.run_task(cluster=name, taskDefinition="sleeper", count=3, placementStrategy=binpack)["tasks"]
        assert [t["lastStatus"] for t in started] == ["PROVISIONING"] * 3
        assert all("containerInstanceArn" not in t for t in started)

        def tasks():
            arns = ecs.list_tasks(cluster=name)["taskArns"]
            return ecs.describe_tasks(cluster=name, tasks=arns)["tasks"] if arns else []

        def group():
            return rest(server.endpoint, "GET", "/v1/autoscaling/groups/local")

        # With no instance yet, managed scaling asks for one per waiting task (ECS reports 200%).
        wait_until(lambda: group()["DesiredCapacity"] == 3, timeout=20, message="scale out from zero")
        wait_until(lambda: len(tasks()) == 3 and all(t["lastStatus"] == "RUNNING" for t in tasks()), timeout=90,
                   message="the three tasks running on launched instances")
        assert {t["capacityProviderName"] for t in tasks()} == {"local-cp"}
        first_arns = sorted(t["taskArn"] for t in tasks())

        # Three 256 MiB tasks binpacked need two 600 MiB instances: the idle one is drained and terminated.
        wait_until(lambda: len(group()["Instances"]) == 2 and group()["DesiredCapacity"] == 2
                   and all(i["LifecycleState"] == "InService" and i["ProtectedFromScaleIn"] for i in group()["Instances"]),
                   timeout=60, message="the idle instance removed, busy ones protected")
        assert sorted(t["taskArn"] for t in tasks() if t["lastStatus"] == "RUNNING") == first_arns, "no task may be stopped"
        assert len(ecs.list_container_instances(cluster=name, status="ACTIVE")["containerInstanceArns"]) == 2
        reservation = rest(server.endpoint, "GET", "/v1/metrics/capacity-providers")["capacityProviders"][0]
        assert reservation["capacityProviderReservation"] == 100 and reservation["provisioningTasks"] == 0

        # A service through the same provider: one task fits the free slot, the other needs a third instance.
        ecs.create_service(cluster=name, serviceName="svc", taskDefinition="sleeper", desiredCount=2, placementStrategy=binpack)
        wait_until(lambda: len(tasks()) == 5 and all(t["lastStatus"] == "RUNNING" for t in tasks()), timeout=90,
                   message="the service's tasks running")
        assert len(group()["Instances"]) == 3
        assert sorted(t["taskArn"] for t in tasks() if t["taskArn"] in first_arns) == first_arns

        code, out, err = run_ecsctl(server.endpoint, "capacity", "status")
        assert code == 0 and "local-cp" in out and "100%" in out, out + err
        code, out, err = run_ecsctl(server.endpoint, "capacity", "group", "describe", "local")
        assert code == 0 and "Launching a new EC2 instance" in out and "Terminating EC2 instance" in out, out + err

        # Everything stops: the group shrinks to its minimum (0) and the agents exit.
        ecs.update_service(cluster=name, service="svc", desiredCount=0)
        for arn in first_arns:
            ecs.stop_task(cluster=name, task=arn)
        wait_until(lambda: all(t["lastStatus"] == "STOPPED" for t in tasks()), timeout=60, message="tasks stopped")
        wait_until(lambda: group()["Instances"] == [] and group()["DesiredCapacity"] == 0, timeout=90, message="scale in to zero")
        stopped = [t for t in tasks()]
        assert all(t.get("stopCode") in ("UserInitiated", "ServiceSchedulerInitiated") for t in stopped)
        assert ecs.list_container_instances(cluster=name, status="ACTIVE")["containerInstanceArns"] == []
        leftover = subprocess.run(["pgrep", "-f", os.path.join(data_dir, "launcher")], capture_output=True, text=True).stdout
        assert leftover.strip() == "", "agents of terminated instances must exit"
    finally:
        # The launched agents first: ecsd stops faster without agents polling it.
        subprocess.run(["pkill", "-f", os.path.join(data_dir, "launcher")], capture_output=True)
        try:
            server.stop()
        finally:
            remove_cluster_containers(name)


def test_launched_agents_survive_a_kill_9_of_ecsd_and_are_still_managed(data_dir):
    build_busybox_image()
    name = "cr-" + uuid.uuid4().hex[:8]
    args = ["--agent-binary", os.path.join(BIN, "ecs-agent"), "--agent-timeout", "5"]
    server = Ecsd(data_dir, extra_args=args).start()
    ecs = boto3.client("ecs", endpoint_url=server.endpoint, region_name="us-east-1")
    try:
        ecs.create_cluster(clusterName=name)
        rest(server.endpoint, "POST", "/v1/autoscaling/groups", {
            "AutoScalingGroupName": "local", "MinSize": 0, "MaxSize": 2, "DesiredCapacity": 0,
            "Launcher": {"Type": "local", "AgentConfig": {"ECS_HOST_PORT_BIND_IP": "127.0.0.1",
                                                          "ECS_IMAGE_PULL_BEHAVIOR": "prefer-cached"}}})
        ecs.create_capacity_provider(name="fixed", autoScalingGroupProvider={"autoScalingGroupArn": "local"})
        ecs.put_cluster_capacity_providers(cluster=name, capacityProviders=["fixed"],
                                           defaultCapacityProviderStrategy=[{"capacityProvider": "fixed", "weight": 1}])
        rest(server.endpoint, "PUT", "/v1/autoscaling/groups/local", {"DesiredCapacity": 2})

        def group():
            return rest(server.endpoint, "GET", "/v1/autoscaling/groups/local")

        wait_until(lambda: [i["LifecycleState"] for i in group()["Instances"]] == ["InService"] * 2, timeout=30,
                   message="two instances in service")
        ecs.register_task_definition(family="sleeper", containerDefinitions=[{
            "name": "s", "image": BUSYBOX_IMAGE, "memory": 32, "stopTimeout": 1, "command": ["sleep", "3600"]}])
        arn = ecs.run_task(cluster=name, taskDefinition="sleeper")["tasks"][0]["taskArn"]
        wait_until(lambda: ecs.describe_tasks(cluster=name, tasks=[arn])["tasks"][0]["lastStatus"] == "RUNNING", timeout=30,
                   message="task running")
        before = group()

        # ecsd dies; its agents do not. The restarted ecsd finds them by instance id and process.
        server.kill9()
        server.start()
        ecs = boto3.client("ecs", endpoint_url=server.endpoint, region_name="us-east-1")
        wait_until(lambda: all(i["agentConnected"] for i in ecs.describe_container_instances(
            cluster=name, containerInstances=ecs.list_container_instances(cluster=name)["containerInstanceArns"])["containerInstances"]),
                   timeout=30, message="agents reconnected")
        time.sleep(3)
        after = group()
        assert [i["InstanceId"] for i in after["Instances"]] == [i["InstanceId"] for i in before["Instances"]]
        assert all(i["LifecycleState"] == "InService" for i in after["Instances"])
        assert len(after["Activities"]) == len(before["Activities"]), "nothing relaunched"
        assert ecs.describe_tasks(cluster=name, tasks=[arn])["tasks"][0]["lastStatus"] == "RUNNING"

        # Scaling to zero still reaches the agents started by the previous ecsd: the idle one goes
        # at once, the busy one drains and goes once its task has stopped.
        rest(server.endpoint, "PUT", "/v1/autoscaling/groups/local", {"DesiredCapacity": 0})
        wait_until(lambda: len(group()["Instances"]) == 1, timeout=30, message="the idle instance terminated")
        assert group()["Instances"][0]["LifecycleState"] == "Terminating:Wait"
        assert ecs.describe_tasks(cluster=name, tasks=[arn])["tasks"][0]["lastStatus"] == "RUNNING"
        ecs.stop_task(cluster=name, task=arn)
        wait_until(lambda: group()["Instances"] == [], timeout=60, message="the drained instance terminated")
        wait_until(lambda: subprocess.run(["pgrep", "-f", os.path.join(data_dir, "launcher")], capture_output=True).returncode != 0,
                   timeout=20, message="agents exited")
    finally:
        subprocess.run(["pkill", "-f", os.path.join(data_dir, "launcher")], capture_output=True)
        try:
            server.stop()
        finally:
            remove_cluster_containers(name)
