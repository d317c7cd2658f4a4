"""Roles: boto3 inside a task (through the agent's credentials endpoint) and inside a function (with
the AWS_* credentials Lambda gives) calls Stevedore with its role's temporary credentials, may do
what the role allows, and is refused the rest; a role Stevedore does not know grants nothing."""
import json
import os
import re
import shutil
import subprocess
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import Ecsd, wait_until
from docker_support import Agent, containers_of, docker, remove_cluster_containers, requires_docker
from functions_support import PYTHON_IMAGE, ensure_python_image, zip_files
from test_authentication import admin_credentials

pytestmark = requires_docker

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": ["ecs-tasks.amazonaws.com", "lambda.amazonaws.com"]}, "Action": "sts:AssumeRole"}]})
LIST_ONLY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecs:ListClusters", "Resource": "*"}]})

PROBE = """
import boto3, botocore.exceptions
def probe():
    ecs = boto3.client("ecs", region_name="us-east-1")
    result = {"me": boto3.client("sts", region_name="us-east-1").get_caller_identity()["Arn"]}
    try:
        result["list"] = len(ecs.list_clusters()["clusterArns"])
    except botocore.exceptions.ClientError as error:
        result["list"] = error.response["Error"]["Code"]
    try:
        ecs.create_cluster(clusterName="made-by-a-role")
        result["create"] = "allowed"
    except botocore.exceptions.ClientError as error:
        result["create"] = error.response["Error"]["Code"]
    return result
"""


@pytest.fixture(scope="module")
def roles_cluster(tmp_path_factory):
    ensure_python_image()
    directory = str(tmp_path_factory.mktemp("roles"))
    name = "roles-" + uuid.uuid4().hex[:8]
    server = Ecsd(os.path.join(directory, "ecsd"), auth="on", extra_args=["--functions-cluster", name, "--agent-timeout", "10"]).start()
    _, key_id, secret = admin_credentials(server)

    def client(service):
        return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id=key_id,
                            aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}, read_timeout=120))

    client("ecs").create_cluster(clusterName=name)
    iam = client("iam")
    iam.create_role(RoleName="lister", AssumeRolePolicyDocument=TRUST)
    iam.put_role_policy(RoleName="lister", PolicyName="list", PolicyDocument=LIST_ONLY)
    token = open(os.path.join(server.data_dir, "agent-token")).read().strip()
    agent = Agent(server.endpoint, name, os.path.join(directory, "agent"),
                  extra_env={"ECS_AGENT_REGISTRATION_TOKEN": token, "ECS_CREDENTIALS_PORT": "0"}).start()
    wait_until(lambda: len(client("ecs").list_container_instances(cluster=name)["containerInstanceArns"]) == 1, timeout=30,
               message="agent registered")
    context = type("RolesCluster", (), {})()
    context.name, context.server, context.client, context.agent = name, server, client, agent
    yield context
    agent.stop()
    server.stop()
    remove_cluster_containers(name)


# On a Docker bridge: the SDK's container provider fetches the credentials from 169.254.170.2
# (the test then uses them from the host; the task cannot reach ecsd on the host's 127.0.0.1).
BRIDGE_PROBE = """
import botocore.session, os
def probe():
    credentials = botocore.session.get_session().get_credentials().get_frozen_credentials()
    return {"uri": os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"], "key": credentials.access_key,
            "secret": credentials.secret_key, "token": credentials.token}
"""


def run_probe_task(cluster, family, role_arn, probe=PROBE, network_mode="host"):
    ecs = cluster.client("ecs")
    script = probe + "\nimport json, time\nprint('PROBE ' + json.dumps(probe()), flush=True)\ntime.sleep(120)\n"
    ecs.register_task_definition(
        family=family, taskRoleArn=role_arn, networkMode=network_mode,
        containerDefinitions=[{"name": "probe", "image": PYTHON_IMAGE, "memory": 128, "entryPoint": ["python3", "-c"], "command": [script]}])
    arn = ecs.run_task(cluster=cluster.name, taskDefinition=family)["tasks"][0]["taskArn"]
    task_id = arn.rsplit("/", 1)[1]

    def probed():
        for name, _ in containers_of(cluster.name):
            if family in name.replace("-", "") or family in name:
                output = docker("logs", name, check=False)
                for line in output.splitlines():
                    if line.startswith("PROBE "):
                        return json.loads(line[len("PROBE "):])
        return None

    result = wait_until(probed, timeout=90, interval=0.5, message="the task's probe output")
    ecs.stop_task(cluster=cluster.name, task=arn)
    return result, task_id


def test_boto3_in_a_task_uses_its_roles_credentials(roles_cluster):
    result, task_id = run_probe_task(roles_cluster, "roleprobe", "arn:aws:iam::000000000000:role/lister")
    assert result["me"] == f"arn:aws:sts::000000000000:assumed-role/lister/{task_id}"
    assert isinstance(result["list"], int) and result["list"] >= 1
    assert result["create"] == "AccessDeniedException"


def test_a_task_on_a_docker_bridge_gets_its_roles_credentials_at_169_254_170_2(roles_cluster):
    result, task_id = run_probe_task(roles_cluster, "bridgeprobe", "arn:aws:iam::000000000000:role/lister",
                                     probe=BRIDGE_PROBE, network_mode="bridge")
    assert result["uri"].startswith("http://169.254.170.2:")
    assert result["key"].startswith("ASIA")
    sts = boto3.client("sts", endpoint_url=roles_cluster.server.endpoint, region_name="us-east-1",
                       aws_access_key_id=result["key"], aws_secret_access_key=result["secret"], aws_session_token=result["token"])
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:sts::000000000000:assumed-role/lister/{task_id}"


def _connects_from(namespace, port):
    """Whether a TCP connection to 169.254.170.2:port from inside the network namespace is answered."""
    script = ("import socket, sys\ntry:\n    socket.create_connection(('169.254.170.2', %d), timeout=2).close()\n"
              "except OSError:\n    sys.exit(1)\n" % port)
    return subprocess.run(["ip", "netns", "exec", namespace, "python3", "-c", script]).returncode == 0


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("iptables") is None, reason="needs root, ip netns and iptables")
def test_the_credentials_address_is_not_reachable_from_the_local_network(roles_cluster):
    # A machine on the host's network segment, made of a network namespace on a veth pair and routed
    # to 169.254.170.2 through the host (as ARP from the segment would have it).
    listening = subprocess.run(["ss", "-Htln", "src", "169.254.170.2"], capture_output=True, text=True, check=True).stdout
    ports = [int(port) for port in re.findall(r"169\.254\.170\.2:(\d+)", listening)]
    assert ports, "the agent listens on 169.254.170.2"
    suffix = uuid.uuid4().hex[:6]
    namespace, host_side, lan_side = "stv-lan-" + suffix, "vh" + suffix, "vn" + suffix
    jump = ["INPUT", "-d", "169.254.170.2/32", "-j", "STEVEDORE-CREDENTIALS"]
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        for command in (["ip", "link", "add", host_side, "type", "veth", "peer", "name", lan_side],
                        ["ip", "link", "set", lan_side, "netns", namespace],
                        ["ip", "address", "add", "10.213.0.1/30", "dev", host_side], ["ip", "link", "set", host_side, "up"],
                        ["ip", "netns", "exec", namespace, "ip", "address", "add", "10.213.0.2/30", "dev", lan_side],
                        ["ip", "netns", "exec", namespace, "ip", "link", "set", lan_side, "up"],
                        ["ip", "netns", "exec", namespace, "ip", "route", "add", "169.254.170.2/32", "via", "10.213.0.1"]):
            subprocess.run(command, check=True)
        assert subprocess.run(["iptables", "-w", "-C"] + jump).returncode == 0, "the agent guards the address"
        assert not _connects_from(namespace, ports[0])
        # What the rule prevents: without it the segment's machine reaches the endpoint.
        subprocess.run(["iptables", "-w", "-D"] + jump, check=True)
        try:
            assert _connects_from(namespace, ports[0])
        finally:
            subprocess.run(["iptables", "-w", "-I"] + jump, check=True)
    finally:
        subprocess.run(["ip", "link", "del", host_side], check=False)
        subprocess.run(["ip", "netns", "del", namespace], check=False)


def test_a_role_stevedore_does_not_know_is_accepted_and_grants_nothing(roles_cluster):
    result, _ = run_probe_task(roles_cluster, "unknownrole", "arn:aws:iam::000000000000:role/not-created-yet")
    assert result["list"] == "AccessDeniedException" and result["create"] == "AccessDeniedException"


def test_boto3_in_a_function_uses_its_roles_credentials(roles_cluster):
    lam = roles_cluster.client("lambda")
    code = zip_files({"app.py": (PROBE + "\ndef handler(event, context):\n    return probe()\n", 0o644)})
    lam.create_function(FunctionName="role-probe", Runtime="python3.11", Handler="app.handler", Code={"ZipFile": code},
                        Role="arn:aws:iam::000000000000:role/lister", Timeout=60)
    wait_until(lambda: lam.get_function(FunctionName="role-probe")["Configuration"]["State"] == "Active", timeout=30,
               message="function active")
    answer = lam.invoke(FunctionName="role-probe", Payload=b"{}")
    body = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, body
    assert body["me"].startswith("arn:aws:sts::000000000000:assumed-role/lister/")
    assert isinstance(body["list"], int) and body["create"] == "AccessDeniedException"


def test_passing_a_role_needs_iam_pass_role(roles_cluster):
    """Without iam:PassRole a user cannot hand a role to a task or a function (and so take its rights)."""
    iam = roles_cluster.client("iam")
    iam.create_user(UserName="runner")
    iam.put_user_policy(UserName="runner", PolicyName="run", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ecs:*", "lambda:*"], "Resource": "*"}]}))
    key = iam.create_access_key(UserName="runner")["AccessKey"]
    kwargs = dict(endpoint_url=roles_cluster.server.endpoint, region_name="us-east-1", aws_access_key_id=key["AccessKeyId"],
                  aws_secret_access_key=key["SecretAccessKey"], config=Config(retries={"max_attempts": 1}))
    ecs, lam = boto3.client("ecs", **kwargs), boto3.client("lambda", **kwargs)
    from botocore.exceptions import ClientError
    for call in (lambda: ecs.register_task_definition(family="grab", taskRoleArn="arn:aws:iam::000000000000:role/lister",
                                                      containerDefinitions=[{"name": "a", "image": "x", "memory": 16}]),
                 lambda: ecs.run_task(cluster=roles_cluster.name, taskDefinition="roleprobe",
                                      overrides={"taskRoleArn": "arn:aws:iam::000000000000:role/lister"}),
                 lambda: lam.create_function(FunctionName="grab", Runtime="python3.11", Handler="a.h",
                                             Code={"ZipFile": zip_files({"a.py": "def h(e, c): pass\n"})},
                                             Role="arn:aws:iam::000000000000:role/lister")):
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
        assert "iam:PassRole on resource: arn:aws:iam::000000000000:role/lister" in refused.value.response["Error"]["Message"]
    # Allowed to pass it, the same call goes through.
    iam.put_user_policy(UserName="runner", PolicyName="pass", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::000000000000:role/lister"}]}))
    ecs.register_task_definition(family="grab", taskRoleArn="arn:aws:iam::000000000000:role/lister",
                                 containerDefinitions=[{"name": "a", "image": "x", "memory": 16}])


def test_running_a_definition_passes_its_roles(roles_cluster):
    """RunTask hands the definition's task and execution roles to its containers: the caller needs
    iam:PassRole on them, as on roles it names itself."""
    admin_ecs, iam = roles_cluster.client("ecs"), roles_cluster.client("iam")
    admin_ecs.register_task_definition(family="privileged-role", taskRoleArn="arn:aws:iam::000000000000:role/admin-like",
                                       containerDefinitions=[{"name": "c", "image": "stevedore/busybox:test", "memory": 16}])
    admin_ecs.register_task_definition(family="no-role", containerDefinitions=[{"name": "c", "image": "stevedore/busybox:test", "memory": 16}])
    iam.create_user(UserName="definition-runner")
    iam.put_user_policy(UserName="definition-runner", PolicyName="run", PolicyDocument=json.dumps({"Statement": [
        {"Effect": "Allow", "Action": "ecs:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::000000000000:role/lister"}]}))
    key = iam.create_access_key(UserName="definition-runner")["AccessKey"]
    ecs = boto3.client("ecs", endpoint_url=roles_cluster.server.endpoint, region_name="us-east-1",
                       aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                       config=Config(retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as refused:
        ecs.run_task(cluster=roles_cluster.name, taskDefinition="privileged-role")
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "iam:PassRole on resource: arn:aws:iam::000000000000:role/admin-like" in refused.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as refused:
        ecs.create_service(cluster=roles_cluster.name, serviceName="s", taskDefinition="privileged-role", desiredCount=0)
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    task = ecs.run_task(cluster=roles_cluster.name, taskDefinition="no-role")["tasks"][0]["taskArn"]
    ecs.stop_task(cluster=roles_cluster.name, task=task)
