"""Sandboxes checked, not assumed: a function's code runs as a non-root user with no capabilities, a
read-only root and code, a pids limit and no swap, and cannot see the Docker socket; a task that is
not privileged cannot mount the Docker socket or the agent's data."""
import json
import os

import pytest

from conftest import wait_until
from docker_support import containers_of, docker, requires_docker
from functions_support import FunctionCluster, ensure_python_image, zip_files

pytestmark = requires_docker

INSPECT = """
import os, json
def handler(event, context):
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
    def writable(path):
        try:
            open(path, "w").close()
            return True
        except OSError:
            return False
    return {"uid": os.getuid(), "gid": os.getgid(), "capEff": status["CapEff"].strip(),
            "codeWritable": writable("/var/task/x"), "rootWritable": writable("/etc/x"), "tmpWritable": writable("/tmp/x"),
            "dockerSocket": os.path.exists("/var/run/docker.sock") or os.path.exists("/run/docker.sock")}
"""


@pytest.fixture(scope="module")
def functions(tmp_path_factory):
    ensure_python_image()
    cluster = FunctionCluster(str(tmp_path_factory.mktemp("sandbox")))
    yield cluster
    cluster.close()


def test_function_code_runs_confined(functions):
    lam = functions.client("lambda")
    lam.create_function(FunctionName="inspect-sandbox", Runtime="python3.11", Handler="app.handler",
                        Code={"ZipFile": zip_files({"app.py": INSPECT})}, Role="arn:aws:iam::000000000000:role/none")
    wait_until(lambda: lam.get_function(FunctionName="inspect-sandbox")["Configuration"]["State"] == "Active", timeout=30,
               message="function active")
    answer = lam.invoke(FunctionName="inspect-sandbox", Payload=b"{}")
    seen = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, seen
    assert seen["uid"] != 0 and seen["gid"] != 0
    assert int(seen["capEff"], 16) == 0
    assert not seen["codeWritable"] and not seen["rootWritable"] and seen["tmpWritable"]
    assert not seen["dockerSocket"]
    # What Docker was told: the pids limit, no swap beyond memory, every capability dropped.
    name = next(n for n, state in containers_of(functions.name) if state == "running")
    host = json.loads(docker("inspect", name))[0]["HostConfig"]
    assert host["PidsLimit"] == 1024
    assert host["MemorySwap"] == host["Memory"] > 0
    assert host["CapDrop"] == ["ALL"] and host["ReadonlyRootfs"] is True and host["Privileged"] is False
    assert "no-new-privileges" in host["SecurityOpt"]


def test_an_unprivileged_task_cannot_mount_the_docker_socket_or_the_agents_data(functions):
    ecs = functions.client("ecs")
    for family, source in (("socket-grab", "/var/run/docker.sock"), ("data-grab", functions.agent.data_dir), ("root-grab", "/")):
        ecs.register_task_definition(
            family=family, volumes=[{"name": "v", "host": {"sourcePath": source}}],
            containerDefinitions=[{"name": "c", "image": "stevedore/busybox:test", "memory": 16, "command": ["sleep", "30"],
                                   "mountPoints": [{"sourceVolume": "v", "containerPath": "/host"}]}])
        arn = ecs.run_task(cluster=functions.name, taskDefinition=family)["tasks"][0]["taskArn"]
        stopped = wait_until(lambda: (lambda t: t if t["lastStatus"] == "STOPPED" else None)(
            ecs.describe_tasks(cluster=functions.name, tasks=[arn])["tasks"][0]), timeout=60, message=f"{family} refused")
        reason = stopped["containers"][0].get("reason", "") + stopped.get("stoppedReason", "")
        assert "only a privileged container may mount it" in reason, stopped


def test_a_bind_type_docker_volume_is_checked_like_a_host_mount(functions):
    """A local volume with o=bind is a host mount by another name: one binding the engine's state is
    refused for an unprivileged container (task or shared scope), and never created."""
    ecs = functions.client("ecs")
    for family, scope in (("engine-grab", "task"), ("engine-grab-shared", "shared")):
        configuration = {"scope": scope, "driver": "local", "driverOpts": {"type": "none", "o": "bind", "device": "/var/lib/docker"}}
        if scope == "shared":
            configuration["autoprovision"] = True
        volume = {"name": family + "-v", "dockerVolumeConfiguration": configuration}
        ecs.register_task_definition(
            family=family, volumes=[volume],
            containerDefinitions=[{"name": "c", "image": "stevedore/busybox:test", "memory": 16, "command": ["sleep", "30"],
                                   "mountPoints": [{"sourceVolume": family + "-v", "containerPath": "/engine"}]}])
        arn = ecs.run_task(cluster=functions.name, taskDefinition=family)["tasks"][0]["taskArn"]
        stopped = wait_until(lambda: (lambda t: t if t["lastStatus"] == "STOPPED" else None)(
            ecs.describe_tasks(cluster=functions.name, tasks=[arn])["tasks"][0]), timeout=60, message=f"{family} refused")
        reason = stopped.get("stoppedReason", "") + stopped["containers"][0].get("reason", "")
        assert "binds /var/lib/docker and so exposes /var/lib/docker: only a privileged container may mount it" in reason, stopped
        assert not [v for v in docker("volume", "ls", "-q").split() if v.startswith("ecs-" + family) or v == family + "-v"]
