"""The aws CLI runs tasks and services on simulated agents: RunTask, DescribeTasks, CreateService, DescribeServices."""
import json
import os
import subprocess

from conftest import example, run_aws, run_ecsctl, wait_until


def aws(ecsd, *args, check=True):
    code, out, err = run_aws(ecsd.endpoint, "ecs", *args, check=check)
    return json.loads(out) if code == 0 and out.strip() else (code, err)


def test_run_describe_and_stop_tasks(ecsd, fleets):
    aws(ecsd, "create-cluster", "--cluster-name", "demo")
    fleets(ecsd.endpoint, "demo", 3)
    wait_until(lambda: len(aws(ecsd, "list-container-instances", "--cluster", "demo")["containerInstanceArns"]) == 3,
               message="3 instances registered")
    aws(ecsd, "register-task-definition", "--family", "web", "--container-definitions",
        '[{"name":"web","image":"nginx:1.27","memory":256,"portMappings":[{"containerPort":80,"hostPort":8080}]}]')

    ran = aws(ecsd, "run-task", "--cluster", "demo", "--task-definition", "web", "--count", "4",
              "--placement-strategy", "type=spread,field=instanceId")
    # Static host port 8080: at most one per instance; the fourth fails with RESOURCE:PORTS.
    assert len(ran["tasks"]) == 3
    assert {f["reason"] for f in ran["failures"]} == {"RESOURCE:PORTS"}
    assert len({t["containerInstanceArn"] for t in ran["tasks"]}) == 3

    arns = [t["taskArn"] for t in ran["tasks"]]
    described = wait_until(
        lambda: (lambda d: d if all(t["lastStatus"] == "RUNNING" for t in d["tasks"]) else None)(
            aws(ecsd, "describe-tasks", "--cluster", "demo", "--tasks", *arns)),
        message="tasks RUNNING")
    task = described["tasks"][0]
    assert task["desiredStatus"] == "RUNNING" and task["startedAt"] >= task["createdAt"]
    assert task["group"] == "family:web" and task["containers"][0]["lastStatus"] == "RUNNING"

    stopped = aws(ecsd, "stop-task", "--cluster", "demo", "--task", arns[0], "--reason", "test over")
    assert stopped["task"]["desiredStatus"] == "STOPPED" and stopped["task"]["stopCode"] == "UserInitiated"
    done = wait_until(lambda: (lambda t: t if t["lastStatus"] == "STOPPED" else None)(
        aws(ecsd, "describe-tasks", "--cluster", "demo", "--tasks", arns[0])["tasks"][0]), message="task STOPPED")
    assert done["stoppedReason"] == "test over"
    assert aws(ecsd, "list-tasks", "--cluster", "demo", "--desired-status", "STOPPED")["taskArns"] == [arns[0]]

    missing = aws(ecsd, "describe-tasks", "--cluster", "demo", "--tasks", "nope")
    assert missing["failures"] == [{"arn": "nope", "reason": "MISSING"}]


def test_services_with_the_cli(ecsd, fleets):
    aws(ecsd, "create-cluster", "--cluster-name", "svc")
    fleets(ecsd.endpoint, "svc", 3)
    wait_until(lambda: len(aws(ecsd, "list-container-instances", "--cluster", "svc")["containerInstanceArns"]) == 3,
               message="instances")
    aws(ecsd, "register-task-definition", "--family", "api", "--container-definitions",
        '[{"name":"api","image":"api:1","memory":128}]')
    created = aws(ecsd, "create-service", "--cluster", "svc", "--service-name", "api", "--task-definition", "api",
                  "--desired-count", "6", "--deployment-configuration",
                  "maximumPercent=200,minimumHealthyPercent=50,deploymentCircuitBreaker={enable=true,rollback=true}")
    assert created["service"]["status"] == "ACTIVE"
    assert created["service"]["deployments"][0]["rolloutState"] == "IN_PROGRESS"

    def steady():
        service = aws(ecsd, "describe-services", "--cluster", "svc", "--services", "api")["services"][0]
        return service if service["runningCount"] == 6 and service["deployments"][0]["rolloutState"] == "COMPLETED" else None

    service = wait_until(steady, message="service steady")
    messages = [e["message"] for e in service["events"]]
    assert "(service api) has reached a steady state." in messages
    # Spread across the three zones by default.
    tasks = aws(ecsd, "describe-tasks", "--cluster", "svc", "--tasks",
                *aws(ecsd, "list-tasks", "--cluster", "svc", "--service-name", "api")["taskArns"])["tasks"]
    zones = [t["availabilityZone"] for t in tasks]
    assert sorted(zones) == ["a", "a", "b", "b", "c", "c"]

    # Three tasks protected from scale-in: scaling in to 2 leaves all three until one is unprotected.
    arns = sorted(t["taskArn"] for t in tasks)
    protected = aws(ecsd, "update-task-protection", "--cluster", "svc", "--tasks", *arns[:3], "--protection-enabled",
                    "--expires-in-minutes", "30")
    assert [t["protectionEnabled"] for t in protected["protectedTasks"]] == [True, True, True] and protected["failures"] == []
    aws(ecsd, "update-service", "--cluster", "svc", "--service", "api", "--desired-count", "2")
    wait_until(lambda: aws(ecsd, "describe-services", "--cluster", "svc", "--services", "api")["services"][0]["runningCount"] == 3,
               message="scaled in to the protected tasks")
    running = aws(ecsd, "list-tasks", "--cluster", "svc", "--service-name", "api")["taskArns"]
    assert sorted(running) == arns[:3]
    aws(ecsd, "update-task-protection", "--cluster", "svc", "--tasks", arns[0], "--no-protection-enabled")
    wait_until(lambda: aws(ecsd, "describe-services", "--cluster", "svc", "--services", "api")["services"][0]["runningCount"] == 2,
               message="scaled in")
    shown = aws(ecsd, "get-task-protection", "--cluster", "svc", "--tasks", *arns[1:3])["protectedTasks"]
    assert [t["protectionEnabled"] for t in shown] == [True, True] and all("expirationDate" in t for t in shown)
    listed = aws(ecsd, "list-services", "--cluster", "svc")["serviceArns"]
    assert listed == ["arn:aws:ecs:us-east-1:000000000000:service/svc/api"]

    code, err = aws(ecsd, "delete-service", "--cluster", "svc", "--service", "api", check=False)
    assert code != 0 and "scaled above 0" in err
    aws(ecsd, "delete-service", "--cluster", "svc", "--service", "api", "--force")
    wait_until(lambda: aws(ecsd, "describe-services", "--cluster", "svc", "--services", "api")["services"][0]["status"] == "INACTIVE",
               message="service INACTIVE")


def test_instances_drain_filter_and_attributes(ecsd, fleets):
    aws(ecsd, "create-cluster", "--cluster-name", "nodes")
    fleets(ecsd.endpoint, "nodes", 2, zones=("east", "west"))
    arns = wait_until(lambda: (lambda a: a if len(a) == 2 else None)(
        aws(ecsd, "list-container-instances", "--cluster", "nodes")["containerInstanceArns"]), message="instances")
    east = aws(ecsd, "list-container-instances", "--cluster", "nodes", "--filter",
               "attribute:ecs.availability-zone == east")["containerInstanceArns"]
    assert len(east) == 1
    code, err = aws(ecsd, "list-container-instances", "--cluster", "nodes", "--filter", "attribute:x ===", check=False)
    assert code != 0 and "InvalidParameterException" in err

    described = aws(ecsd, "describe-container-instances", "--cluster", "nodes", "--container-instances", *arns)
    instance = described["containerInstances"][0]
    assert instance["agentConnected"] is True and instance["status"] == "ACTIVE"
    assert {r["name"] for r in instance["registeredResources"]} == {"CPU", "MEMORY", "PORTS", "PORTS_UDP"}

    aws(ecsd, "put-attributes", "--cluster", "nodes", "--attributes", f"name=disk,value=ssd,targetId={east[0]}")
    listed = aws(ecsd, "list-attributes", "--cluster", "nodes", "--target-type", "container-instance", "--attribute-name", "disk")
    assert listed["attributes"][0]["targetId"] == east[0]

    drained = aws(ecsd, "update-container-instances-state", "--cluster", "nodes", "--container-instances", east[0],
                  "--status", "DRAINING")
    assert drained["containerInstances"][0]["status"] == "DRAINING"
    aws(ecsd, "register-task-definition", "--family", "t", "--container-definitions", '[{"name":"t","image":"t","memory":64}]')
    ran = aws(ecsd, "run-task", "--cluster", "nodes", "--task-definition", "t", "--count", "4")
    assert all(t["containerInstanceArn"] != east[0] for t in ran["tasks"])
    code, err = aws(ecsd, "update-container-instances-state", "--cluster", "nodes", "--container-instances", east[0],
                    "--status", "DEREGISTERING", check=False)
    assert code != 0 and "InvalidParameterException" in err


def test_task_sets_with_the_cli_and_boto3(ecsd, ecs, fleets):
    """An EXTERNAL service deployed blue/green through task sets: created, scaled, promoted, deleted."""
    aws(ecsd, "create-cluster", "--cluster-name", "ext")
    fleets(ecsd.endpoint, "ext", 2)
    wait_until(lambda: len(aws(ecsd, "list-container-instances", "--cluster", "ext")["containerInstanceArns"]) == 2,
               message="instances")
    for family in ("blue", "green"):
        aws(ecsd, "register-task-definition", "--family", family, "--container-definitions",
            f'[{{"name":"app","image":"{family}:1","memory":128}}]')
    created = aws(ecsd, "create-service", "--cluster", "ext", "--service-name", "web", "--desired-count", "4",
                  "--deployment-controller", "type=EXTERNAL")["service"]
    assert created["deploymentController"] == {"type": "EXTERNAL"} and created["taskSets"] == []
    assert "taskDefinition" not in created

    blue = aws(ecsd, "create-task-set", "--cluster", "ext", "--service", "web", "--task-definition", "blue",
               "--external-id", "release-1", "--scale", "value=100,unit=PERCENT")["taskSet"]
    assert blue["status"] == "ACTIVE" and blue["computedDesiredCount"] == 4 and blue["externalId"] == "release-1"
    assert blue["taskSetArn"].startswith("arn:aws:ecs:us-east-1:000000000000:task-set/ext/web/ecs-svc/")
    aws(ecsd, "update-service-primary-task-set", "--cluster", "ext", "--service", "web", "--primary-task-set", blue["id"])

    def task_sets():
        return {s["id"]: s for s in aws(ecsd, "describe-task-sets", "--cluster", "ext", "--service", "web")["taskSets"]}

    wait_until(lambda: task_sets()[blue["id"]]["stabilityStatus"] == "STEADY_STATE"
               and task_sets()[blue["id"]]["runningCount"] == 4, message="blue steady")

    # Green beside it at a quarter, then all of it; promoted; blue scaled to 0 and deleted.
    green = ecs.create_task_set(cluster="ext", service="web", taskDefinition="green", scale={"value": 25, "unit": "PERCENT"},
                                tags=[{"key": "colour", "value": "green"}])["taskSet"]
    assert green["computedDesiredCount"] == 1 and green["tags"] == [{"key": "colour", "value": "green"}]
    wait_until(lambda: task_sets()[green["id"]]["runningCount"] == 1, message="green canary")
    ecs.update_task_set(cluster="ext", service="web", taskSet=green["taskSetArn"], scale={"value": 100, "unit": "PERCENT"})
    wait_until(lambda: task_sets()[green["id"]]["runningCount"] == 4, message="green at full size")
    promoted = ecs.update_service_primary_task_set(cluster="ext", service="web", primaryTaskSet=green["id"])["taskSet"]
    assert promoted["status"] == "PRIMARY"
    service = ecs.describe_services(cluster="ext", services=["web"])["services"][0]
    assert service["taskDefinition"].endswith(":task-definition/green:1")
    assert {s["id"]: s["status"] for s in service["taskSets"]} == {blue["id"]: "ACTIVE", green["id"]: "PRIMARY"}
    assert service["runningCount"] == 8
    code, out, err = run_ecsctl(ecsd.endpoint, "service", "describe", "web", "--cluster", "ext")
    assert code == 0, err
    assert "TASK SET" in out and green["id"] in out and "PRIMARY" in out and "100%" in out

    error = ecs.exceptions.from_code("InvalidParameterException")
    try:
        ecs.delete_task_set(cluster="ext", service="web", taskSet=green["id"])
        raise AssertionError("the primary task set was deleted")
    except error as e:
        assert e.response["Error"]["Message"] == "Primary TaskSet cannot be deleted"
    ecs.update_task_set(cluster="ext", service="web", taskSet=blue["id"], scale={"value": 0, "unit": "PERCENT"})
    wait_until(lambda: task_sets()[blue["id"]]["runningCount"] == 0, message="blue scaled to 0")
    deleted = aws(ecsd, "delete-task-set", "--cluster", "ext", "--service", "web", "--task-set", blue["id"])["taskSet"]
    assert deleted["status"] == "DRAINING"
    wait_until(lambda: list(task_sets()) == [green["id"]], message="blue gone")
    tasks = aws(ecsd, "describe-tasks", "--cluster", "ext", "--tasks",
                *aws(ecsd, "list-tasks", "--cluster", "ext", "--service-name", "web")["taskArns"])["tasks"]
    assert len(tasks) == 4 and {t["startedBy"] for t in tasks} == {green["id"]}

    # Refusals, with AWS's error codes and words.
    missing = ecs.describe_task_sets(cluster="ext", service="web", taskSets=[blue["id"]])
    assert missing["taskSets"] == [] and missing["failures"] == [{"arn": blue["id"], "reason": "MISSING"}]
    try:
        ecs.update_task_set(cluster="ext", service="web", taskSet=blue["id"], scale={"value": 10, "unit": "PERCENT"})
        raise AssertionError("a deleted task set was updated")
    except ecs.exceptions.TaskSetNotFoundException as e:
        assert e.response["Error"]["Message"] == "The specified task set does not exist."
    code, err = aws(ecsd, "create-service", "--cluster", "ext", "--service-name", "bad", "--desired-count", "1",
                    "--task-definition", "blue", "--deployment-controller", "type=EXTERNAL", check=False)
    assert code != 0 and "InvalidParameterException" in err and "TaskDefinition must be blank." in err
    aws(ecsd, "create-service", "--cluster", "ext", "--service-name", "rolling", "--desired-count", "0", "--task-definition", "blue")
    code, err = aws(ecsd, "create-task-set", "--cluster", "ext", "--service", "rolling", "--task-definition", "blue", check=False)
    assert code != 0 and ("Amazon ECS only supports task set management on services configured to use external "
                          "deployment controllers.") in err

    aws(ecsd, "delete-service", "--cluster", "ext", "--service", "web", "--force")
    wait_until(lambda: aws(ecsd, "describe-services", "--cluster", "ext", "--services", "web")["services"][0]["status"] == "INACTIVE",
               message="service INACTIVE")


def test_service_deployments_and_revisions(ecsd, ecs, fleets):
    """Each deployment a service starts is a service deployment with a revision; StopServiceDeployment rolls back."""
    aws(ecsd, "create-cluster", "--cluster-name", "dep")
    fleets(ecsd.endpoint, "dep", 2)
    wait_until(lambda: len(aws(ecsd, "list-container-instances", "--cluster", "dep")["containerInstanceArns"]) == 2,
               message="instances")
    # v2 asks for more memory than any instance has: its deployment stays IN_PROGRESS, stuck.
    for family, memory in (("v1", 128), ("v2", 100000)):
        aws(ecsd, "register-task-definition", "--family", family, "--container-definitions",
            f'[{{"name":"app","image":"app:{family}","memory":{memory}}}]')
    aws(ecsd, "create-service", "--cluster", "dep", "--service-name", "api", "--task-definition", "v1", "--desired-count", "2")

    def deployments():
        return aws(ecsd, "list-service-deployments", "--cluster", "dep", "--service", "api")["serviceDeployments"]

    first = wait_until(lambda: (lambda d: d[0] if d[0]["status"] == "SUCCESSFUL" else None)(deployments()),
                       message="first deployment SUCCESSFUL")
    assert first["serviceDeploymentArn"].startswith("arn:aws:ecs:us-east-1:000000000000:service-deployment/dep/api/")
    revision = aws(ecsd, "describe-service-revisions", "--service-revision-arns", first["targetServiceRevisionArn"])
    assert revision["failures"] == []
    assert revision["serviceRevisions"][0]["taskDefinition"].endswith(":task-definition/v1:1")
    assert revision["serviceRevisions"][0]["containerImages"] == [{"containerName": "app", "image": "app:v1"}]

    ecs.update_service(cluster="dep", service="api", taskDefinition="v2")
    second = deployments()[0]
    assert second["serviceDeploymentArn"] != first["serviceDeploymentArn"] and second["status"] == "IN_PROGRESS"
    assert ecs.describe_services(cluster="dep", services=["api"])["services"][0]["currentServiceDeployment"] == second["serviceDeploymentArn"]
    # ecsctl rolls the deployment in progress back (StopServiceDeployment).
    code, out, err = run_ecsctl(ecsd.endpoint, "service", "rollback", "api", "--cluster", "dep")
    assert code == 0 and "ROLLBACK_REQUESTED" in out, (out, err)

    def rolled_back():
        described = ecs.describe_service_deployments(serviceDeploymentArns=[second["serviceDeploymentArn"]])["serviceDeployments"][0]
        return described if described["status"] == "ROLLBACK_SUCCESSFUL" else None

    described = wait_until(rolled_back, message="rolled back")
    assert described["rollback"]["serviceRevisionArn"] == first["targetServiceRevisionArn"]
    assert [s["arn"] for s in described["sourceServiceRevisions"]] == [first["targetServiceRevisionArn"]]
    service = ecs.describe_services(cluster="dep", services=["api"])["services"][0]
    assert service["taskDefinition"].endswith(":task-definition/v1:1")
    assert [r["arn"] for r in service["currentServiceRevisions"]] == [first["targetServiceRevisionArn"]]

    try:
        ecs.stop_service_deployment(serviceDeploymentArn=second["serviceDeploymentArn"])
        raise AssertionError("a finished deployment was stopped")
    except ecs.exceptions.ConflictException as e:
        assert "ROLLBACK_SUCCESSFUL" in e.response["Error"]["Message"]
    try:
        ecs.stop_service_deployment(serviceDeploymentArn=first["serviceDeploymentArn"][:-3] + "xyz")
        raise AssertionError("a deployment that does not exist was stopped")
    except ecs.exceptions.ServiceDeploymentNotFoundException:
        pass
    listed = aws(ecsd, "list-service-deployments", "--cluster", "dep", "--service", "api", "--status", "SUCCESSFUL")
    assert [d["serviceDeploymentArn"] for d in listed["serviceDeployments"]] == [first["serviceDeploymentArn"]]
    code, out, err = run_ecsctl(ecsd.endpoint, "service", "deployments", "api", "--cluster", "dep")
    assert code == 0, err
    lines = out.splitlines()
    assert "ROLLBACK_SUCCESSFUL" in lines[1] and "v2:1" in lines[1] and "SUCCESSFUL" in lines[2] and "v1:1" in lines[2], out


def test_the_blue_green_example_runs_as_written(ecsd, fleets):
    aws(ecsd, "create-cluster", "--cluster-name", "demo")
    fleets(ecsd.endpoint, "demo", 2)
    wait_until(lambda: len(aws(ecsd, "list-container-instances", "--cluster", "demo")["containerInstanceArns"]) == 2,
               message="instances")
    env = {**os.environ, "AWS_ENDPOINT_URL": ecsd.endpoint, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
           "AWS_DEFAULT_REGION": "us-east-1", "CLUSTER": "demo"}
    done = subprocess.run(["bash", example("deployments", "blue-green-task-sets.sh")], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("blue ecs-svc/") and lines[1].startswith("green ecs-svc/")
    assert lines[-1].split("\t") == ["arn:aws:ecs:us-east-1:000000000000:task-definition/checkout-green:1", "2", "1"]
