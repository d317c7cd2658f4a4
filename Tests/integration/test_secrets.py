"""Secrets: SSM Parameter Store and Secrets Manager from boto3 and the aws CLI, values sealed at rest,
and a task definition's `secrets` injected into a running container's environment by the real agent
(with the execution role's rights), absent from every API answer and log line."""
import json
import os
import sqlite3
import subprocess
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import Ecsd, wait_until
from docker_support import BUSYBOX_IMAGE, Agent, build_busybox_image, containers_of, docker, remove_cluster_containers, requires_docker
from test_authentication import admin_credentials, refusal


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    server = Ecsd(str(tmp_path_factory.mktemp("secrets")), auth="on", extra_args=["--agent-timeout", "5"]).start()
    _, key_id, secret = admin_credentials(server)

    def client(service):
        return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id=key_id,
                            aws_secret_access_key=secret)

    server.client = client
    yield server
    server.stop()


def test_parameter_store_and_secrets_manager_keep_values_sealed(secured):
    ssm, sm = secured.client("ssm"), secured.client("secretsmanager")
    ssm.put_parameter(Name="/it/plain", Value="visible", Type="String")
    ssm.put_parameter(Name="/it/secure", Value="pw-sealed-1", Type="SecureString")
    assert ssm.get_parameter(Name="/it/secure", WithDecryption=True)["Parameter"]["Value"] == "pw-sealed-1"
    assert ssm.get_parameter(Name="/it/secure")["Parameter"]["Value"] != "pw-sealed-1"
    assert ssm.get_parameter(Name="/it/plain")["Parameter"]["ARN"] == "arn:aws:ssm:us-east-1:000000000000:parameter/it/plain"
    got = ssm.get_parameters(Names=["/it/plain", "/it/missing"], WithDecryption=True)
    assert [p["Name"] for p in got["Parameters"]] == ["/it/plain"] and got["InvalidParameters"] == ["/it/missing"]
    assert sorted(p["Name"] for p in ssm.get_parameters_by_path(Path="/it")["Parameters"]) == ["/it/plain", "/it/secure"]
    code, _, _ = refusal(lambda: ssm.put_parameter(Name="/it/plain", Value="again", Type="String"))
    assert code == "ParameterAlreadyExists"
    assert ssm.put_parameter(Name="/it/plain", Value="again", Overwrite=True)["Version"] == 2
    assert refusal(lambda: ssm.get_parameter(Name="/it/missing"))[0] == "ParameterNotFound"
    assert refusal(lambda: ssm.put_parameter(Name="/aws/reserved", Value="x", Type="String"))[0] == "ValidationException"
    created = sm.create_secret(Name="it/api", SecretString='{"key":"k-sealed-2"}')
    assert created["ARN"].startswith("arn:aws:secretsmanager:us-east-1:000000000000:secret:it/api-")
    assert json.loads(sm.get_secret_value(SecretId="it/api")["SecretString"]) == {"key": "k-sealed-2"}
    assert sm.get_secret_value(SecretId=created["ARN"])["Name"] == "it/api"
    sm.put_secret_value(SecretId="it/api", SecretString='{"key":"k-sealed-3"}')
    assert json.loads(sm.get_secret_value(SecretId="it/api")["SecretString"])["key"] == "k-sealed-3"
    assert refusal(lambda: sm.create_secret(Name="it/api", SecretString="x"))[0] == "ResourceExistsException"
    sm.delete_secret(SecretId="it/api", ForceDeleteWithoutRecovery=True)
    assert refusal(lambda: sm.get_secret_value(SecretId="it/api"))[0] == "ResourceNotFoundException"
    # The aws CLI reads them too.
    path, _, _ = admin_credentials(secured)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_SHARED_CREDENTIALS_FILE=path, AWS_DEFAULT_REGION="us-east-1")
    shown = subprocess.run(["aws", "ssm", "get-parameter", "--name", "/it/secure", "--with-decryption", "--endpoint-url", secured.endpoint],
                           env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and json.loads(shown.stdout)["Parameter"]["Value"] == "pw-sealed-1", shown.stderr
    # At rest, sealed.
    database = sqlite3.connect(os.path.join(secured.data_dir, "ecsd.db"))
    stored = " ".join(body for table in ("ssm_parameters", "secrets") for (body,) in database.execute(f"SELECT body FROM {table}"))
    database.close()
    assert "visible" in stored or "again" in stored  # plain String parameters are plain, as in SSM
    assert "pw-sealed-1" not in stored and "k-sealed-3" not in stored


@requires_docker
def test_a_secret_reaches_the_containers_environment_and_nothing_else(secured):
    build_busybox_image()
    name = "secrets-" + uuid.uuid4().hex[:8]
    password, api_key = "pw-" + uuid.uuid4().hex, "k-" + uuid.uuid4().hex
    ecs, ssm, sm, iam = (secured.client(s) for s in ("ecs", "ssm", "secretsmanager", "iam"))
    ssm.put_parameter(Name=f"/{name}/db-password", Value=password, Type="SecureString")
    secret_arn = sm.create_secret(Name=f"{name}/api", SecretString=json.dumps({"key": api_key}))["ARN"]
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    role_arn = iam.create_role(RoleName=f"{name}-execution", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.put_role_policy(RoleName=f"{name}-execution", PolicyName="read-secrets", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ssm:GetParameters", "secretsmanager:GetSecretValue"],
                                               "Resource": [f"arn:aws:ssm:us-east-1:000000000000:parameter/{name}/*", secret_arn]}]}))
    ecs.create_cluster(clusterName=name)
    token = open(os.path.join(secured.data_dir, "agent-token")).read().strip()
    agent = Agent(secured.endpoint, name, os.path.join(secured.data_dir, "agent-" + name),
                  extra_env={"ECS_AGENT_REGISTRATION_TOKEN": token}).start()
    try:
        wait_until(lambda: len(ecs.list_container_instances(cluster=name)["containerInstanceArns"]) == 1, timeout=30,
                   message="agent registered")
        container = {"name": "app", "image": BUSYBOX_IMAGE, "memory": 32, "command": ["sleep", "300"],
                     "secrets": [{"name": "DB_PASSWORD", "valueFrom": f"/{name}/db-password"},
                                 {"name": "API_KEY", "valueFrom": f"{secret_arn}:key::"}]}
        ecs.register_task_definition(family=name, executionRoleArn=role_arn, containerDefinitions=[container])
        arn = ecs.run_task(cluster=name, taskDefinition=name)["tasks"][0]["taskArn"]
        wait_until(lambda: ecs.describe_tasks(cluster=name, tasks=[arn])["tasks"][0]["lastStatus"] == "RUNNING", timeout=60,
                   message="task running")
        docker_name = containers_of(name, all_states=False)[0][0]
        seen = docker("exec", docker_name, "sh", "-c", 'echo "$DB_PASSWORD $API_KEY"')
        assert seen == f"{password} {api_key}"
        # Absent from every answer and log line.
        answers = json.dumps([ecs.describe_tasks(cluster=name, tasks=[arn]), ecs.describe_task_definition(taskDefinition=name),
                              ecs.list_tasks(cluster=name)], default=str)
        assert password not in answers and api_key not in answers
        assert password not in secured.log() and api_key not in secured.log()
        assert password not in agent.log() and api_key not in agent.log()

        # A role without the right: the task stops, saying why, without the value.
        iam.create_role(RoleName=f"{name}-bare", AssumeRolePolicyDocument=trust)
        ecs.register_task_definition(family=name + "-denied", executionRoleArn=f"arn:aws:iam::000000000000:role/{name}-bare",
                                     containerDefinitions=[container])
        denied = ecs.run_task(cluster=name, taskDefinition=name + "-denied")["tasks"][0]["taskArn"]
        stopped = wait_until(lambda: (lambda t: t if t["lastStatus"] == "STOPPED" else None)(
            ecs.describe_tasks(cluster=name, tasks=[denied])["tasks"][0]), timeout=60, message="denied task stopped")
        reason = json.dumps(stopped, default=str)
        assert "ResourceInitializationError" in reason and f"assumed-role/{name}-bare" in reason
        assert "is not authorized to perform: " in reason and password not in reason
    finally:
        agent.stop()
        remove_cluster_containers(name)


@requires_docker
def test_the_readme_secrets_example_runs(secured):
    """The README's commands with Examples/policies/*.json, then Examples/task-definitions/web-with-secrets.json
    (its image swapped for the offline test image)."""
    build_busybox_image()
    root = os.path.join(os.path.dirname(__file__), "..", "..", "Examples")
    path, _, _ = admin_credentials(secured)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_SHARED_CREDENTIALS_FILE=path, AWS_DEFAULT_REGION="us-east-1")
    for command in (["ssm", "put-parameter", "--name", "/web/db-password", "--type", "SecureString", "--value", "s3cret"],
                    ["iam", "create-role", "--role-name", "web-execution", "--assume-role-policy-document",
                     "file://" + os.path.join(root, "policies", "ecs-tasks-trust.json")],
                    ["iam", "put-role-policy", "--role-name", "web-execution", "--policy-name", "secrets", "--policy-document",
                     "file://" + os.path.join(root, "policies", "read-secrets.json")]):
        done = subprocess.run(["aws", *command, "--endpoint-url", secured.endpoint], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    with open(os.path.join(root, "task-definitions", "web-with-secrets.json")) as f:
        definition = json.load(f)
    definition["containerDefinitions"][0]["image"] = BUSYBOX_IMAGE
    name = "readme-" + uuid.uuid4().hex[:8]
    ecs = secured.client("ecs")
    ecs.create_cluster(clusterName=name)
    ecs.register_task_definition(**definition)
    token = open(os.path.join(secured.data_dir, "agent-token")).read().strip()
    agent = Agent(secured.endpoint, name, os.path.join(secured.data_dir, "agent-" + name),
                  extra_env={"ECS_AGENT_REGISTRATION_TOKEN": token}).start()
    try:
        wait_until(lambda: len(ecs.list_container_instances(cluster=name)["containerInstanceArns"]) == 1, timeout=30,
                   message="agent registered")
        arn = ecs.run_task(cluster=name, taskDefinition="web-with-secrets")["tasks"][0]["taskArn"]
        wait_until(lambda: ecs.describe_tasks(cluster=name, tasks=[arn])["tasks"][0]["lastStatus"] == "RUNNING", timeout=60,
                   message="example task running")
        docker_name = containers_of(name, all_states=False)[0][0]
        assert "started with a password of 6 characters" in docker("logs", docker_name)
    finally:
        agent.stop()
        remove_cluster_containers(name)
