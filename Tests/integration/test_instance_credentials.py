"""Per-instance agent credentials: the registration token admits RegisterContainerInstance only,
whose answer carries credentials of that instance alone; every other agent call is signed with
them, acts for that instance only, stops working at once when the instance is deregistered, and
expires unless renewed. A real agent renews them and, after a restart, proves with its saved ones
which instance it was."""
import hashlib
import json
import os
import stat
import time
import urllib.error
import urllib.request
import uuid

import boto3
import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from conftest import Ecsd, wait_until
from functions_support import zip_files
from docker_support import BUSYBOX_IMAGE, Agent, build_busybox_image, remove_cluster_containers, requires_docker
from test_authentication import admin_credentials

ECS = "AmazonEC2ContainerServiceV20141113."
LIFETIME = 10


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("instances"))
    server = Ecsd(os.path.join(directory, "ecsd"), auth="on",
                  extra_args=["--agent-credential-lifetime", str(LIFETIME)]).start()
    _, key_id, secret = admin_credentials(server)
    server.directory = directory
    server.token = open(os.path.join(server.data_dir, "agent-token")).read().strip()
    server.admin = lambda service: boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1",
                                                aws_access_key_id=key_id, aws_secret_access_key=secret,
                                                config=Config(retries={"max_attempts": 1}))
    yield server
    server.stop()


def call(server, path, body, headers):
    request = urllib.request.Request(server.endpoint + path, data=body.encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}"), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}"), dict(error.headers)


def signed(server, path, body, credentials, headers):
    request = AWSRequest(method="POST", url=server.endpoint + path, data=body, headers=headers)
    key = Credentials(credentials["accessKeyId"], credentials["secretAccessKey"], credentials["sessionToken"])
    botocore.auth.SigV4Auth(key, "ecs", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def agent_call(server, target_or_path, payload, credentials=None, token=None):
    """An agent's call: an ECS operation (by name) or a work-channel path, signed with an
    instance's credentials and/or carrying the registration token."""
    body = json.dumps(payload)
    if target_or_path.startswith("/"):
        path, headers = target_or_path, {"Content-Type": "application/json"}
    else:
        path, headers = "/", {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": ECS + target_or_path}
    if token:
        headers["X-Stevedore-Agent-Token"] = token
    if credentials:
        headers = signed(server, path, body, credentials, headers)
    return call(server, path, body, headers)


def register(server, cluster, arn=None, credentials=None, token=None):
    payload = {"cluster": cluster, "totalResources": [{"name": "CPU", "type": "INTEGER", "integerValue": 1024},
                                                      {"name": "MEMORY", "type": "INTEGER", "integerValue": 1024}]}
    if arn:
        payload["containerInstanceArn"] = arn
    status, answer, headers = agent_call(server, "RegisterContainerInstance", payload, credentials, token or server.token)
    issued = {k.lower(): v for k, v in headers.items()}.get("x-stevedore-instance-credentials")
    return status, answer, json.loads(issued) if issued else None


def poll(server, cluster, instance, credentials, **extra):
    return agent_call(server, "/v1/agent/poll", {"cluster": cluster, "containerInstanceArn": instance, "since": 0,
                                                 "waitSeconds": 0}, credentials, **extra)


def test_each_instance_gets_credentials_of_its_own_and_acts_for_itself_only(secured):
    cluster = "creds-" + uuid.uuid4().hex[:6]
    secured.admin("ecs").create_cluster(clusterName=cluster)
    status, answer, alpha = register(secured, cluster)
    assert status == 200 and alpha, answer
    arn_a = answer["containerInstance"]["containerInstanceArn"]
    assert alpha["containerInstanceArn"] == arn_a and alpha["accessKeyId"].startswith("ASIA")
    assert alpha["expiresAt"] - alpha["issuedAt"] == LIFETIME
    _, answer, beta = register(secured, cluster)
    arn_b = answer["containerInstance"]["containerInstanceArn"]
    assert beta["accessKeyId"] != alpha["accessKeyId"]

    # Its own work channel: yes. Another instance's: no, on every route that names one.
    assert poll(secured, cluster, arn_a, alpha)[0] == 200
    status, answer, _ = poll(secured, cluster, arn_b, alpha)
    assert (status, answer["__type"]) == (400, "AccessDeniedException")
    assert answer["message"] == f"Container instance {arn_a} may not act for container instance {arn_b}."
    for path, payload in [("/v1/agent/metrics", {"containerInstanceArn": arn_b, "samples": []}),
                          ("/v1/agent/secrets", {"containerInstanceArn": arn_b, "taskArn": "x"}),
                          ("/v1/agent/credentials", {"containerInstanceArn": arn_b, "taskArn": "x"}),
                          ("/v1/agent/invocations/poll", {"containerInstanceArn": arn_b, "waitMilliseconds": 0}),
                          ("/v1/agent/instance-credentials", {"containerInstanceArn": arn_b})]:
        status, answer, _ = agent_call(secured, path, payload, alpha)
        assert (status, answer.get("__type")) == (400, "AccessDeniedException"), path

    # The registration token alone admits registration only; a forged or altered signature nothing.
    status, answer, _ = poll(secured, cluster, arn_a, None, token=secured.token)
    assert (status, answer["__type"]) == (400, "AccessDeniedException")
    assert "requires instance credentials" in answer["message"]
    forged = dict(alpha, secretAccessKey="x" * 40)
    assert poll(secured, cluster, arn_a, forged)[1]["__type"] == "InvalidSignatureException"
    unknown = dict(alpha, sessionToken="STI1" + alpha["sessionToken"][8:])
    assert poll(secured, cluster, arn_a, unknown)[1]["__type"] == "UnrecognizedClientException"

    # A task placed on B: A may not report for it, B may.
    ecs = secured.admin("ecs")
    ecs.register_task_definition(family="creds", containerDefinitions=[{"name": "c", "image": "busybox", "memory": 64}])
    task = ecs.start_task(cluster=cluster, taskDefinition="creds", containerInstances=[arn_b])["tasks"][0]["taskArn"]
    change = {"cluster": cluster, "task": task, "status": "RUNNING"}
    status, answer, _ = agent_call(secured, "SubmitTaskStateChange", change, alpha)
    assert (status, answer["__type"]) == (400, "AccessDeniedException")
    assert answer["message"] == f"Container instance {arn_a} may not report for task {task}, which is not placed on it."
    assert agent_call(secured, "SubmitTaskStateChange", change, beta)[0] == 200
    assert ecs.describe_tasks(cluster=cluster, tasks=[task])["tasks"][0]["lastStatus"] == "RUNNING"

    # Re-registering an instance takes its own credentials besides the token: not none, not another's.
    status, answer, _ = register(secured, cluster, arn=arn_a)
    assert (status, answer["__type"]) == (400, "AccessDeniedException")
    status, answer, _ = register(secured, cluster, arn=arn_a, credentials=beta)
    assert (status, answer["__type"]) == (400, "AccessDeniedException")
    status, answer, renewed = register(secured, cluster, arn=arn_a, credentials=alpha, token="wrong")
    assert (status, answer["__type"]) == (400, "AccessDeniedException")
    status, answer, renewed = register(secured, cluster, arn=arn_a, credentials=alpha)
    assert status == 200 and renewed["containerInstanceArn"] == arn_a and renewed["accessKeyId"] != alpha["accessKeyId"]

    # Renewal on the work channel gives new credentials of the same instance.
    status, fresh, _ = agent_call(secured, "/v1/agent/instance-credentials", {"containerInstanceArn": arn_a}, alpha)
    assert status == 200 and fresh["containerInstanceArn"] == arn_a and fresh["accessKeyId"] != alpha["accessKeyId"]
    assert poll(secured, cluster, arn_a, fresh)[0] == 200

    # Deregistration revokes every credential of the instance at once.
    ecs.deregister_container_instance(cluster=cluster, containerInstance=arn_a, force=True)
    for credentials in (alpha, renewed, fresh):
        status, answer, _ = poll(secured, cluster, arn_a, credentials)
        assert (status, answer["__type"]) == (400, "InvalidInstanceException")
    status, answer, _ = register(secured, cluster, arn=arn_a, credentials=fresh)
    assert (status, answer["__type"]) == (400, "InvalidParameterException")

    # Expired credentials are refused with AWS's error (B's were issued LIFETIME seconds ago or more).
    wait_until(lambda: time.time() > beta["expiresAt"] + 0.5, timeout=LIFETIME + 5, interval=0.5, message="B's credentials expire")
    status, answer, _ = poll(secured, cluster, arn_b, beta)
    assert (status, answer["__type"], answer["message"]) == \
        (400, "ExpiredTokenException", "The security token included in the request is expired")


def test_an_instance_gets_only_the_code_of_environments_placed_on_it(secured):
    cluster = "code-" + uuid.uuid4().hex[:6]
    secured.admin("ecs").create_cluster(clusterName=cluster)
    _, _, credentials = register(secured, cluster)
    bundle = zip_files({"app.py": "def handler(event, context):\n    return 1\n"})
    secured.admin("lambda").create_function(
        FunctionName="coded-" + uuid.uuid4().hex[:6], Runtime="python3.11", Handler="app.handler",
        Role="arn:aws:iam::000000000000:role/none", Code={"ZipFile": bundle})
    path = "/v1/functions/code/" + hashlib.sha256(bundle).hexdigest()
    request = AWSRequest(method="GET", url=secured.endpoint + path)
    key = Credentials(credentials["accessKeyId"], credentials["secretAccessKey"], credentials["sessionToken"])
    botocore.auth.SigV4Auth(key, "ecs", "us-east-1").add_auth(request)
    try:
        urllib.request.urlopen(urllib.request.Request(secured.endpoint + path, headers=dict(request.headers.items())), timeout=30)
        raise AssertionError("an instance with no environment of the function got its code")
    except urllib.error.HTTPError as error:
        answer = json.loads(error.read())
        assert error.code == 404
        message = answer.get("message") or answer.get("Message")
        assert answer["Type"] == "User" and "No execution environment on " + credentials["containerInstanceArn"] in message


@requires_docker
def test_a_real_agent_renews_its_credentials_and_proves_its_instance_after_a_restart(secured):
    build_busybox_image()
    cluster = "renew-" + uuid.uuid4().hex[:6]
    ecs = secured.admin("ecs")
    ecs.create_cluster(clusterName=cluster)
    data = os.path.join(secured.directory, cluster)
    agent = Agent(secured.endpoint, cluster, data, extra_env={"ECS_AGENT_REGISTRATION_TOKEN": secured.token}).start()
    try:
        arns = wait_until(lambda: ecs.list_container_instances(cluster=cluster)["containerInstanceArns"], timeout=30,
                          message="agent registered")
        saved = os.path.join(data, "instance-credentials")
        wait_until(lambda: os.path.exists(saved), timeout=10, message="credentials saved")
        assert stat.S_IMODE(os.stat(saved).st_mode) == 0o600
        first = json.load(open(saved))
        assert first["containerInstanceArn"] == arns[0]
        # Past the first credentials' lifetime the agent works on with renewed ones.
        wait_until(lambda: time.time() > first["expiresAt"] + 1, timeout=LIFETIME + 5, interval=0.5, message="first expire")
        assert poll(secured, cluster, arns[0], first)[1]["__type"] == "ExpiredTokenException"
        ecs.register_task_definition(family="renewed", containerDefinitions=[
            {"name": "c", "image": BUSYBOX_IMAGE, "memory": 32, "command": ["sh", "-c", "sleep 300"]}])
        task = ecs.run_task(cluster=cluster, taskDefinition="renewed")["tasks"][0]["taskArn"]
        wait_until(lambda: ecs.describe_tasks(cluster=cluster, tasks=[task])["tasks"][0]["lastStatus"] == "RUNNING",
                   timeout=60, message="task running on renewed credentials\n" + agent.log())
        current = json.load(open(saved))
        assert current["accessKeyId"] != first["accessKeyId"] and current["containerInstanceArn"] == arns[0]
        # Stopped until its saved credentials expire, the agent registers again as the same instance.
        agent.stop()
        wait_until(lambda: time.time() > json.load(open(saved))["expiresAt"] + 1, timeout=LIFETIME + 5, interval=0.5,
                   message="saved credentials expire")
        agent.start()
        wait_until(lambda: json.load(open(saved))["accessKeyId"] != current["accessKeyId"], timeout=30,
                   message="re-registered\n" + agent.log())
        assert ecs.list_container_instances(cluster=cluster)["containerInstanceArns"] == arns
        assert ecs.describe_tasks(cluster=cluster, tasks=[task])["tasks"][0]["lastStatus"] == "RUNNING"
        ecs.stop_task(cluster=cluster, task=task)
    finally:
        agent.stop()
        remove_cluster_containers(cluster)


def test_the_registration_token_creates_the_default_cluster_and_nothing_else(secured):
    """An agent joining `default` creates it before it has credentials, as the real agent does: the
    token admits an unsigned CreateCluster of that one name, with nothing else in it."""
    status, answer, _ = agent_call(secured, "CreateCluster", {"clusterName": "default"}, token=secured.token)
    assert status == 200 and answer["cluster"]["clusterName"] == "default", answer
    for payload, token in (({"clusterName": "other"}, secured.token), ({"clusterName": "default"}, None),
                           ({"clusterName": "default"}, "wrong"), ({"clusterName": "default", "tags": [{"key": "a", "value": "b"}]}, secured.token),
                           ({"clusterName": "default", "configuration": {"executeCommandConfiguration": {"logging": "NONE"}}}, secured.token),
                           ({"clusterName": "default", "defaultCapacityProviderStrategy": [{"capacityProvider": "x"}]}, secured.token)):
        status, answer, _ = agent_call(secured, "CreateCluster", payload, token=token)
        assert (status, answer["__type"]) == (400, "MissingAuthenticationTokenException"), (payload, token, answer)
