"""ExecuteCommand and `ecsctl task exec` on the real agent and Docker: a command's output and exit
status, standard input piped through, a terminal for interactive shells, and ECS's refusals."""
import os
import pty
import select
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import boto3
import pytest

from conftest import BIN, Ecsd, run_ecsctl, wait_until
from docker_support import BUSYBOX_IMAGE, Agent, build_busybox_image, remove_cluster_containers, requires_docker

pytestmark = requires_docker


@pytest.fixture(scope="module")
def running_task(tmp_path_factory):
    """ecsd, one real agent, and a busybox task started with enableExecuteCommand (one module's worth)."""
    build_busybox_image()
    data_dir = str(tmp_path_factory.mktemp("exec"))
    name = "exec-" + uuid.uuid4().hex[:8]
    server = Ecsd(data_dir).start()
    ecs = boto3.client("ecs", endpoint_url=server.endpoint, region_name="us-east-1")
    ecs.create_cluster(clusterName=name)
    agent = Agent(server.endpoint, name, os.path.join(data_dir, "agent")).start()
    try:
        wait_until(lambda: len(ecs.list_container_instances(cluster=name)["containerInstanceArns"]) == 1, timeout=30,
                   message="agent registered")
        ecs.register_task_definition(family="shell", containerDefinitions=[
            {"name": "box", "image": BUSYBOX_IMAGE, "memory": 32, "command": ["sleep", "3600"]},
            {"name": "side", "image": BUSYBOX_IMAGE, "memory": 32, "command": ["sleep", "3600"], "essential": False}])
        ecs.register_task_definition(family="single", containerDefinitions=[
            {"name": "box", "image": BUSYBOX_IMAGE, "memory": 32, "command": ["sleep", "3600"]}])
        arns = {}
        for family, enabled in (("shell", True), ("single", False)):
            arns[family] = ecs.run_task(cluster=name, taskDefinition=family, enableExecuteCommand=enabled)["tasks"][0]["taskArn"]
        for arn in arns.values():
            wait_until(lambda: ecs.describe_tasks(cluster=name, tasks=[arn])["tasks"][0]["lastStatus"] == "RUNNING", timeout=60,
                       message="task RUNNING")
        context = type("Context", (), {})()
        context.name, context.ecs, context.server, context.task, context.plain = name, ecs, server, arns["shell"], arns["single"]
        yield context
    finally:
        agent.stop()
        server.stop()
        remove_cluster_containers(name)


def ecsctl(context, *args, stdin=None):
    result = subprocess.run([os.path.join(BIN, "ecsctl"), *args], input=stdin, capture_output=True, timeout=60,
                            env={**os.environ, "ECS_ENDPOINT": context.server.endpoint})
    return result.returncode, result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace")


def test_a_command_prints_its_output_and_returns_its_status(running_task):
    code, out, err = ecsctl(running_task, "task", "exec", running_task.task, "--cluster", running_task.name, "--container", "box",
                            "--", "sh", "-c", "echo out; echo err >&2; hostname > /dev/null; exit 3")
    assert code == 3, (out, err)
    assert out == "out\n" and err == "err\n"
    # Arguments with spaces and quotes arrive as given.
    code, out, _ = ecsctl(running_task, "task", "exec", running_task.task, "--cluster", running_task.name, "--container", "side",
                          "--", "echo", "it's", "two  spaces")
    assert code == 0 and out == "it's two  spaces\n"


def test_standard_input_is_piped_through(running_task):
    code, out, err = ecsctl(running_task, "task", "exec", running_task.task, "--cluster", running_task.name, "--container", "box",
                            "--", "sh", "-c", "read line; echo got:$line; wc -c; exit 5", stdin=b"hello\n0123456789")
    assert code == 5, (out, err)
    assert out.split() == ["got:hello", "10"]


def test_an_interactive_shell_on_a_terminal(running_task):
    """On a terminal: the remote shell gets one (it echoes, knows the size), and exits with its status."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(os.path.join(BIN, "ecsctl"), ["ecsctl", "task", "exec", running_task.task, "--cluster", running_task.name,
                                                "--container", "box", "--", "sh"],
                  {**os.environ, "ECS_ENDPOINT": running_task.server.endpoint})
    output = b""

    def read_until(marker, timeout=20):
        nonlocal output
        deadline = time.time() + timeout
        while marker not in output and time.time() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    output += os.read(fd, 4096)
                except OSError:
                    break
        return marker in output

    os.write(fd, b"tty; stty size; echo mark-$((6*7))\n")
    assert read_until(b"mark-42"), output
    assert b"/dev/pts/" in output
    os.write(fd, b"exit 7\n")
    deadline = time.time() + 20
    while True:
        read_until(b"never", timeout=0.1)  # keep the terminal drained
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.time() > deadline:
            os.kill(pid, 9)
            raise AssertionError(f"ecsctl did not exit: {output!r}")
    os.close(fd)
    assert os.WEXITSTATUS(status) == 7, output


def test_execute_command_with_boto3_and_its_refusals(running_task):
    ecs = running_task.ecs
    described = ecs.describe_tasks(cluster=running_task.name, tasks=[running_task.task, running_task.plain])["tasks"]
    agents = {t["taskArn"]: t["containers"][0].get("managedAgents") for t in described}
    assert [(a["name"], a["lastStatus"]) for a in agents[running_task.task]] == [("ExecuteCommandAgent", "RUNNING")]
    assert agents[running_task.plain] is None
    answer = ecs.execute_command(cluster=running_task.name, task=running_task.task, container="box", command="/bin/sh",
                                 interactive=True)
    assert answer["taskArn"] == running_task.task and answer["containerName"] == "box" and answer["interactive"] is True
    assert answer["session"]["sessionId"] and answer["session"]["tokenValue"]
    assert answer["session"]["streamUrl"].startswith(running_task.server.endpoint + "/v1/exec/")

    def refused(error, message, **request):
        try:
            ecs.execute_command(**{"cluster": running_task.name, "command": "sh", "interactive": True, **request})
            raise AssertionError("accepted")
        except ecs.exceptions.from_code(error) as e:
            assert e.response["Error"]["Message"] == message, e.response["Error"]["Message"]

    refused("TargetNotConnectedException",
            "The execute command failed because execute command was not enabled when the task was run or the execute command "
            "agent isn’t running. Wait and try the request again.", task=running_task.plain)
    refused("InvalidParameterException", "Interactive is the only mode supported currently.", task=running_task.task,
            container="box", interactive=False)
    refused("InvalidParameterException", "The task has 2 containers; name the one to run the command in with container.",
            task=running_task.task)
    # A session's stream wants its token: a wrong one is refused as an unknown session.
    request = urllib.request.Request(answer["session"]["streamUrl"] + "?token=" + "0" * 64)
    try:
        urllib.request.urlopen(request, timeout=10)
        raise AssertionError("attached with a wrong token")
    except urllib.error.HTTPError as e:
        assert e.code == 404 and b"InvalidParameterException" in e.read()
