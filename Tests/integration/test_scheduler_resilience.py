"""Services under failure, end to end with simulated agents: lost instances, rolling limits, circuit breaker."""
import os
import time

import boto3

from conftest import Ecsd, wait_until


def client(server):
    return boto3.client("ecs", endpoint_url=server.endpoint, region_name="us-east-1")


def service(ecs, cluster, name):
    return ecs.describe_services(cluster=cluster, services=[name])["services"][0]


def running_tasks(ecs, cluster, name):
    arns = ecs.list_tasks(cluster=cluster, serviceName=name)["taskArns"]
    if not arns:
        return []
    return [t for t in ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if t["lastStatus"] == "RUNNING"]


def test_service_keeps_desired_count_while_instances_die_and_return(data_dir, fleets):
    server = Ecsd(data_dir, extra_args=["--agent-timeout", "3"]).start()
    try:
        ecs = client(server)
        ecs.create_cluster(clusterName="prod")
        doomed_state = os.path.join(data_dir, "fleet-a")
        doomed = fleets(server.endpoint, "prod", 3, zones=("a",), state_dir=doomed_state)
        fleets(server.endpoint, "prod", 3, zones=("b",))
        wait_until(lambda: len(ecs.list_container_instances(cluster="prod")["containerInstanceArns"]) == 6, message="6 instances")
        assert os.path.exists(os.path.join(doomed_state, "simulated-instances.json"))
        ecs.register_task_definition(family="web", containerDefinitions=[{"name": "web", "image": "web:1", "memory": 256}])
        ecs.create_service(cluster="prod", serviceName="web", taskDefinition="web", desiredCount=6)
        wait_until(lambda: len(running_tasks(ecs, "prod", "web")) == 6, message="6 running")
        zones = [t["availabilityZone"] for t in running_tasks(ecs, "prod", "web")]
        assert zones.count("a") == 3 and zones.count("b") == 3

        # Zone a dies without a word.
        doomed.kill9()
        lost_at = time.time()

        def replaced():
            tasks = running_tasks(ecs, "prod", "web")
            live = ecs.list_tasks(cluster="prod", serviceName="web")["taskArns"]
            return len(live) == 6 and len(tasks) == 6 and all(t["availabilityZone"] == "b" for t in tasks)

        wait_until(replaced, timeout=30, message="tasks replaced in zone b")
        assert time.time() - lost_at < 20
        instances = ecs.describe_container_instances(
            cluster="prod", containerInstances=ecs.list_container_instances(cluster="prod")["containerInstanceArns"])
        disconnected = [i for i in instances["containerInstances"] if not i["agentConnected"]]
        assert len(disconnected) == 3

        # Zone a comes back with the same instances: the stale tasks are stopped, nothing is duplicated.
        fleets(server.endpoint, "prod", 3, zones=("a",), state_dir=doomed_state)
        wait_until(lambda: all(i["agentConnected"] for i in ecs.describe_container_instances(
            cluster="prod", containerInstances=ecs.list_container_instances(cluster="prod")["containerInstanceArns"])["containerInstances"]),
            message="agents reconnected")
        assert len(ecs.list_container_instances(cluster="prod")["containerInstanceArns"]) == 6

        def settled():
            service_arns = ecs.list_tasks(cluster="prod", serviceName="web")["taskArns"]
            all_tasks = ecs.describe_tasks(cluster="prod", tasks=service_arns)["tasks"] if service_arns else []
            stale = ecs.list_tasks(cluster="prod", desiredStatus="STOPPED")["taskArns"]
            stale_tasks = ecs.describe_tasks(cluster="prod", tasks=stale)["tasks"] if stale else []
            # At least zone a's three: on a loaded machine a heartbeat can also miss the 3 s
            # timeout before the kill, and that task is replaced (and stopped) too.
            return (len(all_tasks) == 6 and all(t["lastStatus"] == "RUNNING" for t in all_tasks)
                    and len(stale_tasks) >= 3 and all(t["lastStatus"] == "STOPPED" for t in stale_tasks)
                    and sum(t.get("availabilityZone") == "a" for t in stale_tasks) >= 3)

        wait_until(settled, timeout=30, message="stale tasks stopped, 6 running")
        assert service(ecs, "prod", "web")["runningCount"] == 6
    finally:
        server.stop()


def test_rolling_deployment_never_drops_below_minimum_healthy(ecs, ecsd, fleets):
    ecs.create_cluster(clusterName="roll")
    fleets(ecsd.endpoint, "roll", 3)
    wait_until(lambda: len(ecs.list_container_instances(cluster="roll")["containerInstanceArns"]) == 3, message="instances")
    slow = {"stevedore.simulate": "start-delay=1s"}
    ecs.register_task_definition(family="app", containerDefinitions=[
        {"name": "app", "image": "app:1", "memory": 128, "dockerLabels": slow}])
    ecs.create_service(cluster="roll", serviceName="app", taskDefinition="app", desiredCount=4,
                       deploymentConfiguration={"minimumHealthyPercent": 50, "maximumPercent": 150})
    wait_until(lambda: service(ecs, "roll", "app")["runningCount"] == 4, message="4 running")
    ecs.register_task_definition(family="app", containerDefinitions=[
        {"name": "app", "image": "app:2", "memory": 128, "dockerLabels": slow}])
    ecs.update_service(cluster="roll", service="app", taskDefinition="app:2")

    low_water, high_water, observations = 99, 0, 0
    deadline = time.time() + 60
    while time.time() < deadline:
        current = service(ecs, "roll", "app")
        running = sum(d["runningCount"] for d in current["deployments"])
        total = running + sum(d["pendingCount"] for d in current["deployments"])
        low_water, high_water = min(low_water, running), max(high_water, total)
        observations += 1
        if len(current["deployments"]) == 1 and current["deployments"][0]["rolloutState"] == "COMPLETED" \
                and current["runningCount"] == 4:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("deployment did not complete")
    assert observations > 10
    assert low_water >= 2, f"running tasks fell to {low_water}, below 50% of 4"
    assert high_water <= 6, f"tasks rose to {high_water}, above 150% of 4"
    assert all(t["taskDefinitionArn"].endswith("app:2") for t in running_tasks(ecs, "roll", "app"))


def test_failing_deployment_trips_the_circuit_breaker(data_dir, fleets):
    server = Ecsd(data_dir, extra_args=["--launch-backoff", "0.05", "--launch-backoff-max", "0.2"]).start()
    try:
        ecs = client(server)
        ecs.create_cluster(clusterName="cb")
        fleets(server.endpoint, "cb", 2)
        wait_until(lambda: len(ecs.list_container_instances(cluster="cb")["containerInstanceArns"]) == 2, message="instances")
        good = ecs.register_task_definition(family="svc", containerDefinitions=[
            {"name": "svc", "image": "svc:1", "memory": 128}])["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(cluster="cb", serviceName="svc", taskDefinition="svc", desiredCount=2,
                           deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}})
        wait_until(lambda: service(ecs, "cb", "svc")["deployments"][0]["rolloutState"] == "COMPLETED", message="first deployment")
        ecs.register_task_definition(family="svc", containerDefinitions=[
            {"name": "svc", "image": "svc:broken", "memory": 128, "dockerLabels": {"stevedore.simulate": "fail-start"}}])
        ecs.update_service(cluster="cb", service="svc", taskDefinition="svc:2")

        def tripped():
            current = service(ecs, "cb", "svc")
            failed = [d for d in current["deployments"] if d.get("rolloutState") == "FAILED"]
            return current if failed or any("deployment failed" in e["message"] for e in current["events"]) else None

        current = wait_until(tripped, timeout=60, message="circuit breaker")
        messages = [e["message"] for e in current["events"]]
        assert any("deployment failed: tasks failed to start." in m for m in messages)
        # Rolled back: the service runs the last good task definition again.
        wait_until(lambda: (lambda s: s["taskDefinition"] == good and len(s["deployments"]) == 1
                            and s["deployments"][0]["rolloutState"] == "COMPLETED" and s["runningCount"] == 2)(
            service(ecs, "cb", "svc")), timeout=30, message="rollback complete")
        assert any("rolling back" in e["message"] for e in service(ecs, "cb", "svc")["events"])
        stopped = ecs.list_tasks(cluster="cb", desiredStatus="STOPPED")["taskArns"]
        reasons = {t["stoppedReason"] for t in ecs.describe_tasks(cluster="cb", tasks=stopped[:100])["tasks"]}
        assert any(r.startswith("CannotPullContainerError") for r in reasons)
    finally:
        server.stop()
