"""The real agent on a real Docker engine: dependencies, links, ports, essential exits, stop
timeouts, OOM kills, private images, restarts of the agent and of dockerd, cleanup, logs, usage.
"""
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import boto3
import pytest

from conftest import BIN, Ecsd, run_ecsctl, wait_until
from docker_support import (BUSYBOX_IMAGE, Agent, Registry, build_busybox_image, containers_of, docker,
                            remove_cluster_containers, requires_docker, restart_dockerd)

pytestmark = requires_docker


@pytest.fixture
def cluster(data_dir):
    """ecsd plus one real agent on this host, in a cluster of the test's own."""
    build_busybox_image()
    name = "it-" + uuid.uuid4().hex[:8]
    server = Ecsd(data_dir, extra_args=["--agent-timeout", "5", "--launch-backoff", "0.2", "--launch-backoff-max", "1"]).start()
    ecs = boto3.client("ecs", endpoint_url=server.endpoint, region_name="us-east-1")
    ecs.create_cluster(clusterName=name)
    agent = Agent(server.endpoint, name, os.path.join(data_dir, "agent")).start()
    wait_until(lambda: len(ecs.list_container_instances(cluster=name)["containerInstanceArns"]) == 1, timeout=30,
               message="agent registered")
    context = type("Cluster", (), {})()
    context.name, context.ecs, context.server, context.agent, context.data_dir = name, ecs, server, agent, data_dir
    yield context
    # Tests may replace the agent: stop the one running now as well as the first.
    context.agent.stop()
    agent.stop()
    server.stop()
    remove_cluster_containers(name)


def register(ecs, family, containers, **extra):
    for container in containers:
        container.setdefault("image", BUSYBOX_IMAGE)
        container.setdefault("memory", 32)
    return ecs.register_task_definition(family=family, containerDefinitions=containers, **extra)["taskDefinition"]


def run(ecs, cluster, family, **extra):
    response = ecs.run_task(cluster=cluster, taskDefinition=family, **extra)
    assert response["failures"] == [], response["failures"]
    return response["tasks"][0]["taskArn"]


def task(ecs, cluster, arn):
    return ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]


def wait_status(ecs, cluster, arn, status, timeout=60):
    return wait_until(lambda: (lambda t: t if t["lastStatus"] == status else None)(task(ecs, cluster, arn)),
                      timeout=timeout, message=f"task {status}")


def test_dependencies_links_and_ports(cluster):
    ecs = cluster.ecs
    register(ecs, "stack", [
        {"name": "db", "command": ["sh", "-c", "mkdir -p /www && echo from-db > /www/index.html && exec httpd -f -p 8080 -h /www"],
         "healthCheck": {"command": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1"], "interval": 5,
                         "timeout": 2, "retries": 3}},
        {"name": "migrate", "essential": False, "command": ["sh", "-c", "echo migrated; exit 0"],
         "dependsOn": [{"containerName": "db", "condition": "HEALTHY"}]},
        {"name": "web", "links": ["db:database"],
         "command": ["sh", "-c", "mkdir -p /www && wget -q -O /www/index.html http://database:8080/ && exec httpd -f -p 80 -h /www"],
         "portMappings": [{"containerPort": 80}],
         "dependsOn": [{"containerName": "migrate", "condition": "SUCCESS"}]},
    ])
    arn = run(ecs, cluster.name, "stack")
    running = wait_status(ecs, cluster.name, arn, "RUNNING", timeout=90)
    containers = {c["name"]: c for c in running["containers"]}
    assert containers["migrate"]["lastStatus"] == "STOPPED" and containers["migrate"]["exitCode"] == 0
    binding = containers["web"]["networkBindings"][0]
    assert binding["bindIP"] == "127.0.0.1" and binding["containerPort"] == 80
    assert 49153 <= binding["hostPort"] <= 65535
    with urllib.request.urlopen(f"http://127.0.0.1:{binding['hostPort']}/", timeout=5) as response:
        assert response.read().decode().strip() == "from-db"
    # Labels the real agent sets.
    labels = json.loads(docker("inspect", "--format", "{{json .Config.Labels}}", containers["web"]["runtimeId"]))
    assert labels["com.amazonaws.ecs.task-arn"] == arn
    assert labels["com.amazonaws.ecs.container-name"] == "web"
    assert labels["com.amazonaws.ecs.task-definition-family"] == "stack"
    assert labels["com.amazonaws.ecs.cluster"] == cluster.name
    instance = ecs.describe_container_instances(cluster=cluster.name, containerInstances=[running["containerInstanceArn"]])
    ports = next(r for r in instance["containerInstances"][0]["remainingResources"] if r["name"] == "PORTS")
    assert str(binding["hostPort"]) in ports["stringSetValue"]


def test_essential_exit_stops_the_task(cluster):
    ecs = cluster.ecs
    register(ecs, "job", [
        {"name": "main", "command": ["sh", "-c", "sleep 1; exit 3"]},
        {"name": "sidecar", "essential": False, "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]},
    ])
    arn = run(ecs, cluster.name, "job")
    stopped = wait_status(ecs, cluster.name, arn, "STOPPED", timeout=60)
    assert stopped["stopCode"] == "EssentialContainerExited"
    assert stopped["stoppedReason"] == "Essential container in task exited"
    containers = {c["name"]: c for c in stopped["containers"]}
    assert containers["main"]["exitCode"] == 3
    assert containers["sidecar"]["lastStatus"] == "STOPPED" and containers["sidecar"]["exitCode"] == 0
    assert stopped["startedAt"] <= stopped["stoppedAt"]


def test_stop_timeout_is_honoured(cluster):
    ecs = cluster.ecs
    # busybox sh as PID 1 ignores SIGTERM: only SIGKILL after stopTimeout ends it.
    register(ecs, "stubborn", [{"name": "app", "command": ["sh", "-c", "while true; do sleep 1; done"], "stopTimeout": 3}])
    register(ecs, "polite", [{"name": "app", "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"],
                              "stopTimeout": 20}])
    stubborn = run(ecs, cluster.name, "stubborn")
    polite = run(ecs, cluster.name, "polite")
    wait_status(ecs, cluster.name, stubborn, "RUNNING")
    wait_status(ecs, cluster.name, polite, "RUNNING")
    began = time.time()
    ecs.stop_task(cluster=cluster.name, task=stubborn)
    ecs.stop_task(cluster=cluster.name, task=polite)
    polite_done = wait_status(ecs, cluster.name, polite, "STOPPED", timeout=30)
    polite_seconds = time.time() - began
    stubborn_done = wait_status(ecs, cluster.name, stubborn, "STOPPED", timeout=30)
    stubborn_seconds = time.time() - began
    assert polite_done["containers"][0]["exitCode"] == 0
    assert stubborn_done["containers"][0]["exitCode"] == 137
    assert stubborn_seconds >= 3, "SIGKILL came before stopTimeout"
    assert stubborn_seconds < 15
    assert polite_seconds < 3, "a container that handles SIGTERM stops at once"
    assert stubborn_done["stopCode"] == "UserInitiated"


def test_oom_kill_is_reported(cluster):
    ecs = cluster.ecs
    register(ecs, "hog", [{"name": "hog", "memory": 16,
                           "command": ["sh", "-c", "sleep 1; x=$(head -c 200000000 /dev/zero | tr '\\0' a); sleep 5"]}])
    arn = run(ecs, cluster.name, "hog")
    stopped = wait_status(ecs, cluster.name, arn, "STOPPED", timeout=60)
    container = stopped["containers"][0]
    assert container["reason"] == "OutOfMemoryError: Container killed due to memory usage"
    assert container["exitCode"] == 137


def test_private_image_from_a_local_registry(cluster, tmp_path):
    registry = Registry(str(tmp_path)).start()
    try:
        image = registry.push_private(BUSYBOX_IMAGE, "private/busybox:1")
        ecs = cluster.ecs
        cluster.agent.stop()
        auth = json.dumps({registry.address: {"username": registry.username, "password": registry.password}})
        cluster.agent = Agent(cluster.server.endpoint, cluster.name, cluster.agent.data_dir, extra_env={
            "ECS_IMAGE_PULL_BEHAVIOR": "always", "ECS_ENGINE_AUTH_TYPE": "docker", "ECS_ENGINE_AUTH_DATA": auth}).start()
        register(ecs, "private", [{"name": "app", "image": image, "command": ["sh", "-c", "echo pulled; sleep 30"]}])
        wait_until(lambda: ecs.describe_container_instances(cluster=cluster.name, containerInstances=ecs.list_container_instances(
            cluster=cluster.name)["containerInstanceArns"])["containerInstances"][0]["agentConnected"], message="agent back")
        arn = run(ecs, cluster.name, "private")
        running = wait_status(ecs, cluster.name, arn, "RUNNING", timeout=60)
        assert running["pullStartedAt"] <= running["pullStoppedAt"]
        assert docker("image", "inspect", "--format", "{{.Id}}", image)
        # Without credentials the pull is refused, and the task says why.
        docker("rmi", "-f", image)
        cluster.agent.stop()
        cluster.agent = Agent(cluster.server.endpoint, cluster.name, cluster.agent.data_dir,
                              extra_env={"ECS_IMAGE_PULL_BEHAVIOR": "always"}).start()
        time.sleep(1)
        failed = run(ecs, cluster.name, "private")
        stopped = wait_status(ecs, cluster.name, failed, "STOPPED", timeout=60)
        assert stopped["stopCode"] == "TaskFailedToStart"
        assert stopped["stoppedReason"].startswith("CannotPullContainerError:")
    finally:
        registry.stop()


def test_repository_credentials_from_secrets_manager(cluster, tmp_path):
    """A container's repositoryCredentials name a Secrets Manager secret holding the registry's
    username and password: the agent pulls with them (no ECS_ENGINE_AUTH_DATA on this agent)."""
    registry = Registry(str(tmp_path)).start()
    try:
        image = registry.push_private(BUSYBOX_IMAGE, "private/creds:1")
        ecs = cluster.ecs
        secrets = boto3.client("secretsmanager", endpoint_url=cluster.server.endpoint, region_name="us-east-1")
        arn = secrets.create_secret(Name="registry-login", SecretString=json.dumps(
            {"username": registry.username, "password": registry.password}))["ARN"]
        secrets.create_secret(Name="wrong-login", SecretString=json.dumps({"username": registry.username, "password": "nope"}))
        cluster.agent.stop()
        cluster.agent = Agent(cluster.server.endpoint, cluster.name, cluster.agent.data_dir,
                              extra_env={"ECS_IMAGE_PULL_BEHAVIOR": "always"}).start()
        wait_until(lambda: ecs.describe_container_instances(cluster=cluster.name, containerInstances=ecs.list_container_instances(
            cluster=cluster.name)["containerInstanceArns"])["containerInstances"][0]["agentConnected"], message="agent back")
        for family, parameter in (("by-arn", arn), ("by-name", "registry-login")):
            register(ecs, family, [{"name": "app", "image": image, "command": ["sh", "-c", "sleep 30"],
                                    "repositoryCredentials": {"credentialsParameter": parameter}}])
            running = wait_status(ecs, cluster.name, run(ecs, cluster.name, family), "RUNNING", timeout=60)
            assert running["pullStartedAt"] <= running["pullStoppedAt"]
            docker("rmi", "-f", image, check=False)
        # A wrong password fails the pull; a secret that does not exist fails before it.
        for family, parameter, reason in (("wrong", "wrong-login", "CannotPullContainerError:"),
                                          ("missing", "no-such-login", "ResourceInitializationError: unable to pull secrets or registry auth:")):
            register(ecs, family, [{"name": "app", "image": image, "repositoryCredentials": {"credentialsParameter": parameter}}])
            stopped = wait_status(ecs, cluster.name, run(ecs, cluster.name, family), "STOPPED", timeout=60)
            assert stopped["stoppedReason"].startswith(reason), stopped["stoppedReason"]
            assert registry.password not in json.dumps(stopped, default=str)
    finally:
        registry.stop()


def running_service_containers(cluster, service_name="svc"):
    return [name for name, state in containers_of(cluster) if state == "running"]


def test_agent_kill_9_leaves_no_orphans_and_no_duplicates(cluster):
    ecs = cluster.ecs
    register(ecs, "svc", [{"name": "app", "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]}])
    ecs.create_service(cluster=cluster.name, serviceName="svc", taskDefinition="svc", desiredCount=3)
    wait_until(lambda: ecs.describe_services(cluster=cluster.name, services=["svc"])["services"][0]["runningCount"] == 3,
               timeout=60, message="3 running")
    before = sorted(running_service_containers(cluster.name))
    assert len(before) == 3

    cluster.agent.kill9()
    # While the agent is away one container dies.
    victim = before[0]
    docker("kill", victim)
    cluster.agent = Agent(cluster.server.endpoint, cluster.name, cluster.agent.data_dir).start()

    def settled():
        running = sorted(running_service_containers(cluster.name))
        service = ecs.describe_services(cluster=cluster.name, services=["svc"])["services"][0]
        return running if len(running) == 3 and service["runningCount"] == 3 and service["pendingCount"] == 0 else None

    after = wait_until(settled, timeout=60, message="3 running after the agent came back")
    # The two survivors were adopted, not restarted; the dead one was replaced once.
    assert set(before[1:]) <= set(after)
    assert victim not in after
    # The stopped container is cleaned up, leaving exactly the three running ones.
    wait_until(lambda: len(containers_of(cluster.name)) == 3, timeout=30, message="cleanup of the dead container")
    stopped = ecs.list_tasks(cluster=cluster.name, desiredStatus="STOPPED")["taskArns"]
    assert len(stopped) == 1


@pytest.mark.skipif(os.environ.get("STEVEDORE_ALLOW_DOCKERD_RESTART") != "1",
                    reason="restarts dockerd: set STEVEDORE_ALLOW_DOCKERD_RESTART=1 (make test does)")
def test_dockerd_restart_leaves_no_orphans_and_no_duplicates(cluster):
    ecs = cluster.ecs
    register(ecs, "svc", [{"name": "app", "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]}])
    ecs.create_service(cluster=cluster.name, serviceName="svc", taskDefinition="svc", desiredCount=2)
    wait_until(lambda: ecs.describe_services(cluster=cluster.name, services=["svc"])["services"][0]["runningCount"] == 2,
               timeout=60, message="2 running")
    restart_dockerd()

    def settled():
        running = running_service_containers(cluster.name)
        service = ecs.describe_services(cluster=cluster.name, services=["svc"])["services"][0]
        return len(running) == 2 and service["runningCount"] == 2 and len(containers_of(cluster.name)) == 2

    wait_until(settled, timeout=90, message="2 running, no leftovers, after dockerd restarted")
    stopped = ecs.list_tasks(cluster=cluster.name, desiredStatus="STOPPED")["taskArns"]
    reasons = [t["stoppedReason"] for t in ecs.describe_tasks(cluster=cluster.name, tasks=stopped)["tasks"]]
    # The two tasks dockerd's restart killed; launches tried while dockerd was down failed with reasons.
    assert reasons.count("Essential container in task exited") >= 2


def test_logs_cleanup_and_usage(cluster):
    ecs = cluster.ecs
    register(ecs, "talk", [
        {"name": "a", "command": ["sh", "-c", "echo hello from a; echo oops >&2; while true; do sleep 0.2; done"], "stopTimeout": 2},
        {"name": "b", "essential": False, "command": ["sh", "-c", "echo hello from b; sleep 600"], "stopTimeout": 2},
    ])
    arn = run(ecs, cluster.name, "talk")
    wait_status(ecs, cluster.name, arn, "RUNNING")
    import subprocess
    env = {**os.environ, "ECS_ENDPOINT": cluster.server.endpoint}
    output = subprocess.run([os.path.join(BIN, "ecsctl"), "task", "logs", arn, "--cluster", cluster.name], env=env,
                            capture_output=True, text=True, timeout=30)
    assert output.returncode == 0, output.stderr
    assert "a | hello from a" in output.stdout and "a | oops" in output.stdout and "b | hello from b" in output.stdout
    only_b = subprocess.run([os.path.join(BIN, "ecsctl"), "task", "logs", arn, "--cluster", cluster.name, "--container", "b"],
                            env=env, capture_output=True, text=True, timeout=30)
    assert only_b.stdout.strip() == "hello from b"

    # A CPU burner's usage reaches the control plane as the service's utilisation.
    register(ecs, "burn", [{"name": "burn", "cpu": 512, "command": ["sh", "-c", "while true; do :; done"]}])
    ecs.create_service(cluster=cluster.name, serviceName="burn", taskDefinition="burn", desiredCount=1)

    def utilisation():
        url = f"{cluster.server.endpoint}/v1/metrics/services?cluster={cluster.name}&service=burn"
        with urllib.request.urlopen(url, timeout=5) as response:
            points = json.loads(response.read())["points"]
        return points[-1] if points and points[-1]["cpuUtilization"] > 50 else None

    point = wait_until(utilisation, timeout=60, message="CPU utilisation reported")
    assert point["tasks"] == 1 and point["memoryUtilization"] >= 0

    # Stopped tasks' containers go away after ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION (2 s here).
    ecs.stop_task(cluster=cluster.name, task=arn)
    wait_status(ecs, cluster.name, arn, "STOPPED", timeout=60)
    wait_until(lambda: not any(name.startswith("ecs-talk-") for name, _ in containers_of(cluster.name)), timeout=40,
               message="cleanup")


def test_awslogs_containers_ship_their_output_to_cloudwatch_logs(cluster):
    """A task definition as AWS's documentation writes them (`logConfiguration` with `awslogs`),
    unchanged: the agent ships each container's output to the group, in a stream named
    `prefix/container/task-id`; a multi-line pattern keeps a stack trace in one event; a group that
    does not exist without `awslogs-create-group` keeps the container from starting, as on ECS."""
    ecs = cluster.ecs
    logs = boto3.client("logs", endpoint_url=cluster.server.endpoint, region_name="us-east-1")
    options = {"awslogs-group": "/ecs/logged", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs",
               "awslogs-create-group": "true"}
    register(ecs, "logged", [
        {"name": "app", "command": ["sh", "-c", "for i in 1 2 3; do echo line $i; done; echo oops >&2; sleep 1"],
         "logConfiguration": {"logDriver": "awslogs", "options": options}},
        {"name": "trace", "essential": False,
         "command": ["sh", "-c", "echo 'ERROR first'; echo '  at a'; echo '  at b'; echo 'INFO next'; sleep 1"],
         "logConfiguration": {"logDriver": "awslogs", "options": {**options, "awslogs-multiline-pattern": "^[A-Z]+ "}}},
    ])
    arn = run(ecs, cluster.name, "logged")
    task_id = arn.split("/")[-1]
    wait_status(ecs, cluster.name, arn, "STOPPED", timeout=60)

    def messages(stream):
        try:
            return [e["message"] for e in logs.get_log_events(logGroupName="/ecs/logged", logStreamName=stream, startFromHead=True)["events"]]
        except logs.exceptions.ResourceNotFoundException:
            return []

    wait_until(lambda: len(messages(f"ecs/app/{task_id}")) == 4 and len(messages(f"ecs/trace/{task_id}")) == 2, timeout=30,
               message="both containers' output in CloudWatch Logs")
    # stdout keeps its order; stderr is copied by Docker on its own, so its line may come anywhere.
    app = messages(f"ecs/app/{task_id}")
    assert [m for m in app if m.startswith("line")] == ["line 1", "line 2", "line 3"] and "oops" in app
    assert messages(f"ecs/trace/{task_id}") == ["ERROR first\n  at a\n  at b", "INFO next"]
    streams = [s["logStreamName"] for s in logs.describe_log_streams(logGroupName="/ecs/logged")["logStreams"]]
    assert sorted(streams) == [f"ecs/app/{task_id}", f"ecs/trace/{task_id}"]
    # ecsctl reads the same streams, each line led by its container's name.
    env = {**os.environ, "ECS_ENDPOINT": cluster.server.endpoint}
    output = subprocess.run([os.path.join(BIN, "ecsctl"), "task", "logs", arn, "--cluster", cluster.name], env=env,
                            capture_output=True, text=True, timeout=60)
    assert output.returncode == 0 and "app | line 1\n" in output.stdout and "trace | ERROR first\n  at a\n  at b\n" in output.stdout, output
    only = subprocess.run([os.path.join(BIN, "ecsctl"), "task", "logs", arn, "--cluster", cluster.name, "--container", "app", "--tail", "2"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert only.returncode == 0 and len(only.stdout.splitlines()) == 2 and "|" not in only.stdout, only

    # No group, and no leave to make one: the container cannot start.
    register(ecs, "unlogged", [{"name": "app", "command": ["echo", "never"], "logConfiguration": {
        "logDriver": "awslogs", "options": {"awslogs-group": "/ecs/missing", "awslogs-stream-prefix": "ecs"}}}])
    refused = wait_status(ecs, cluster.name, run(ecs, cluster.name, "unlogged"), "STOPPED", timeout=60)
    reason = refused["containers"][0].get("reason", "") + refused.get("stoppedReason", "")
    assert "ResourceNotFoundException: The specified log group does not exist." in reason, refused


def test_awslogs_shipping_goes_on_after_the_agent_restarts(cluster):
    """kill -9 of the agent while an awslogs container writes: the new agent goes on from the
    stream's newest event, so no line is lost to the restart and none is stored twice."""
    ecs = cluster.ecs
    logs = boto3.client("logs", endpoint_url=cluster.server.endpoint, region_name="us-east-1")
    register(ecs, "ticker", [{"name": "tick", "command": ["sh", "-c", "i=0; while [ $i -lt 60 ]; do i=$((i+1)); echo tick $i; sleep 0.1; done; sleep 30"],
                              "logConfiguration": {"logDriver": "awslogs", "options": {
                                  "awslogs-group": "/ecs/ticker", "awslogs-stream-prefix": "t", "awslogs-create-group": "true"}}}])
    arn = run(ecs, cluster.name, "ticker")
    stream = f"t/tick/{arn.split('/')[-1]}"

    def ticks():
        try:
            return [e["message"] for e in logs.get_log_events(logGroupName="/ecs/ticker", logStreamName=stream, startFromHead=True)["events"]]
        except logs.exceptions.ResourceNotFoundException:
            return []

    wait_until(lambda: len(ticks()) >= 5, timeout=60, message="the first ticks shipped")
    cluster.agent.kill9()
    cluster.agent = Agent(cluster.server.endpoint, cluster.name, cluster.agent.data_dir).start()
    wait_until(lambda: len(ticks()) >= 60, timeout=60, message="every tick shipped after the restart")
    assert ticks() == [f"tick {i}" for i in range(1, 61)]


def test_the_agent_serves_its_metrics_on_ecs_metrics_listen(cluster):
    """`ECS_METRICS_LISTEN`: the agent's own counters in Prometheus' format, read by prometheus_client."""
    from prometheus_client.parser import text_string_to_metric_families
    from conftest import free_port
    ecs = cluster.ecs
    port = free_port()
    cluster.agent.stop()
    cluster.agent = Agent(cluster.server.endpoint, cluster.name, cluster.agent.data_dir,
                          extra_env={"ECS_METRICS_LISTEN": f"127.0.0.1:{port}"}).start()
    register(ecs, "counted", [{"name": "main", "command": ["sh", "-c", "sleep 1"]}])
    wait_status(ecs, cluster.name, run(ecs, cluster.name, "counted"), "STOPPED", timeout=60)

    def scrape():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            return [s for f in text_string_to_metric_families(response.read().decode()) for s in f.samples]

    samples = scrape()
    assert any(s.name == "ecs_agent_container_starts_total" and s.labels == {"outcome": "started"} and s.value >= 1 for s in samples)
    assert any(s.name == "ecs_agent_polls_total" and s.labels == {"outcome": "answered"} and s.value >= 1 for s in samples)
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/other", timeout=5)
        raise AssertionError("a path other than /metrics answered")
    except urllib.error.HTTPError as refused:
        assert refused.code == 404


def test_the_agent_and_ecsctl_move_on_from_an_endpoint_they_cannot_reach(data_dir):
    # Control planes behind several addresses: the first cannot be reached (nothing listens on
    # port 1), so the real agent and ecsctl use the second.
    build_busybox_image()
    name = "ep-" + uuid.uuid4().hex[:8]
    server = Ecsd(data_dir).start()
    endpoints = "http://127.0.0.1:1," + server.endpoint
    agent = None
    try:
        ecs = boto3.client("ecs", endpoint_url=server.endpoint, region_name="us-east-1")
        ecs.create_cluster(clusterName=name)
        agent = Agent(endpoints, name, os.path.join(data_dir, "agent")).start()
        wait_until(lambda: len(ecs.list_container_instances(cluster=name)["containerInstanceArns"]) == 1, timeout=30,
                   message="agent registered through the second endpoint")
        register(ecs, "endpoints", [{"name": "a", "command": ["sh", "-c", "echo up; sleep 60"]}])
        arn = run(ecs, name, "endpoints")
        wait_status(ecs, name, arn, "RUNNING")
        code, out, err = run_ecsctl(endpoints, "task", "ls", "--cluster", name)
        assert code == 0, err
        assert arn.rsplit("/", 1)[1] in out
    finally:
        if agent:
            agent.stop()
        server.stop()
        remove_cluster_containers(name)
