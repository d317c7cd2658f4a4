"""A TLS cluster: ecsd serving https with a certificate made here by openssl (signed by a CA made
here too), and boto3, the aws CLI, ecsctl and agents that verify it against that CA — and refuse
it without."""
import json
import os
import ssl
import subprocess
import urllib.error
import urllib.request

import boto3
import botocore
import pytest
from botocore.config import Config
from botocore.exceptions import SSLError

from conftest import BIN, Ecsd, Fleet, free_port, wait_until
from test_authentication import admin_credentials


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A CA, and a server certificate for 127.0.0.1 it signed."""
    directory = str(tmp_path_factory.mktemp("tls"))
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=Stevedore test CA", cwd=directory)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1",
            cwd=directory)
    with open(os.path.join(directory, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem",
            "-days", "2", "-extfile", "san.ext", cwd=directory)
    return {name: os.path.join(directory, name) for name in ("ca.pem", "server.pem", "server.key")}


@pytest.fixture(scope="module")
def tls_ecsd(tmp_path_factory, certificates):
    server = Ecsd(str(tmp_path_factory.mktemp("tls-ecsd")), auth="on",
                  tls=(certificates["server.pem"], certificates["server.key"], certificates["ca.pem"])).start()
    yield server
    server.stop()


def ecs_client(server, verify):
    _, key_id, secret = admin_credentials(server)
    return boto3.client("ecs", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id=key_id,
                        aws_secret_access_key=secret, verify=verify, config=Config(retries={"max_attempts": 1}))


def test_boto3_and_the_aws_cli_verify_the_certificate(tls_ecsd, certificates):
    assert tls_ecsd.endpoint.startswith("https://")
    ecs = ecs_client(tls_ecsd, certificates["ca.pem"])
    ecs.create_cluster(clusterName="over-tls")
    assert any(arn.endswith("/over-tls") for arn in ecs.list_clusters()["clusterArns"])
    # Without the CA, the certificate is not trusted.
    with pytest.raises(SSLError):
        ecs_client(tls_ecsd, True).list_clusters()
    path, _, _ = admin_credentials(tls_ecsd)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_SHARED_CREDENTIALS_FILE=path, AWS_DEFAULT_REGION="us-east-1")
    listed = subprocess.run(["aws", "ecs", "list-clusters", "--endpoint-url", tls_ecsd.endpoint, "--ca-bundle", certificates["ca.pem"]],
                            env=env, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and "over-tls" in listed.stdout, listed.stderr


def test_ecsctl_verifies_with_its_ca_file(tls_ecsd, certificates):
    path, _, _ = admin_credentials(tls_ecsd)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_SHARED_CREDENTIALS_FILE=path, ECS_ENDPOINT=tls_ecsd.endpoint)
    ecsctl = os.path.join(BIN, "ecsctl")
    trusted = subprocess.run([ecsctl, "cluster", "ls", "--ca-file", certificates["ca.pem"]], env=env, capture_output=True, text=True,
                             timeout=30)
    assert trusted.returncode == 0, trusted.stderr
    from_environment = subprocess.run([ecsctl, "cluster", "ls"], env=dict(env, AWS_CA_BUNDLE=certificates["ca.pem"]),
                                      capture_output=True, text=True, timeout=30)
    assert from_environment.returncode == 0, from_environment.stderr
    untrusted = subprocess.run([ecsctl, "cluster", "ls"], env=env, capture_output=True, text=True, timeout=30)
    assert untrusted.returncode != 0 and "certificate" in untrusted.stderr.lower(), untrusted.stderr
    missing = subprocess.run([ecsctl, "cluster", "ls", "--ca-file", "/nonexistent.pem"], env=env, capture_output=True, text=True,
                             timeout=30)
    assert missing.returncode != 0 and "--ca-file /nonexistent.pem" in missing.stderr


def test_agents_register_and_run_tasks_over_tls_with_the_backend_ca(tls_ecsd, certificates, tmp_path):
    token = open(os.path.join(tls_ecsd.data_dir, "agent-token")).read().strip()
    ecs = ecs_client(tls_ecsd, certificates["ca.pem"])
    ecs.create_cluster(clusterName="tls-fleet")
    ecs.register_task_definition(family="tls-job", containerDefinitions=[{"name": "a", "image": "busybox", "memory": 16}])
    os.environ["ECS_AGENT_REGISTRATION_TOKEN"] = token
    os.environ["ECS_BACKEND_CA_FILE"] = certificates["ca.pem"]
    try:
        fleet = Fleet(tls_ecsd.endpoint, "tls-fleet", 2, log_dir=str(tmp_path)).start()
        untrusting = None
        try:
            wait_until(lambda: len(ecs.list_container_instances(cluster="tls-fleet")["containerInstanceArns"]) == 2,
                       message="agents registered over TLS")
            started = ecs.run_task(cluster="tls-fleet", taskDefinition="tls-job", count=2)["tasks"]
            arns = [t["taskArn"] for t in started]
            wait_until(lambda: all(t["lastStatus"] == "RUNNING" for t in ecs.describe_tasks(cluster="tls-fleet", tasks=arns)["tasks"]),
                       message="tasks running through agents over TLS")
            # An agent without the CA cannot join.
            del os.environ["ECS_BACKEND_CA_FILE"]
            untrusting = Fleet(tls_ecsd.endpoint, "tls-untrusting", 1, log_dir=str(tmp_path)).start()
            ecs.create_cluster(clusterName="tls-untrusting")
            wait_until(lambda: "certificate" in open(untrusting.log_path, errors="replace").read().lower(),
                       message="the untrusting agent reports the certificate problem")
            assert ecs.list_container_instances(cluster="tls-untrusting")["containerInstanceArns"] == []
        finally:
            fleet.stop()
            if untrusting:
                untrusting.stop()
    finally:
        os.environ.pop("ECS_AGENT_REGISTRATION_TOKEN", None)
        os.environ.pop("ECS_BACKEND_CA_FILE", None)


def test_bad_tls_files_stop_the_start_with_a_message(tmp_path, certificates):
    done = subprocess.run([os.path.join(BIN, "ecsd"), "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path), "--tls-cert",
                           certificates["server.pem"]], capture_output=True, text=True, timeout=30)
    assert done.returncode != 0 and "--tls-cert and --tls-key go together" in done.stderr
    not_a_key = tmp_path / "bad.key"
    not_a_key.write_text("not a key\n")
    done = subprocess.run([os.path.join(BIN, "ecsd"), "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path), "--tls-cert",
                           certificates["server.pem"], "--tls-key", str(not_a_key)], capture_output=True, text=True, timeout=30)
    assert done.returncode != 0 and "--tls-key" in done.stderr and "not a readable PEM private key" in done.stderr


def test_the_gateway_serves_tls_and_its_control_api_is_signed(tls_ecsd, certificates):
    _, key_id, secret = admin_credentials(tls_ecsd)
    apigw = boto3.client("apigatewayv2", endpoint_url=tls_ecsd.endpoint, region_name="us-east-1", aws_access_key_id=key_id,
                         aws_secret_access_key=secret, verify=certificates["ca.pem"], config=Config(retries={"max_attempts": 1}))
    api = apigw.create_api(Name="over-tls", ProtocolType="HTTP", Target=f"http://127.0.0.1:{free_port()}/")
    assert api["ApiEndpoint"] == f"https://{api['ApiId']}.execute-api.localhost:{tls_ecsd.gateway_port}"
    # The gateway answers over TLS with the same certificate (500: nothing listens behind the route).
    context = ssl.create_default_context(cafile=certificates["ca.pem"])
    with pytest.raises(urllib.error.HTTPError) as answered:
        urllib.request.urlopen(f"https://127.0.0.1:{tls_ecsd.gateway_port}/{api['ApiId']}/x", context=context, timeout=30)
    assert answered.value.code == 500 and json.loads(answered.value.read()) == {"message": "Internal Server Error"}
    unsigned = boto3.client("apigatewayv2", endpoint_url=tls_ecsd.endpoint, region_name="us-east-1", verify=certificates["ca.pem"],
                            config=Config(signature_version=botocore.UNSIGNED, retries={"max_attempts": 1}))
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        unsigned.get_apis()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
