"""Signed requests: ecsd with --auth on checks every AWS API request's Signature Version 4 with the
real aws CLI, boto3 and ecsctl, and answers AWS's errors for what it refuses."""
import datetime
import json
import os
import stat
import subprocess
import urllib.error
import urllib.request
from unittest import mock

import boto3
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import BIN, Ecsd

NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})


@pytest.fixture
def signed_ecsd(data_dir):
    server = Ecsd(data_dir, auth="on").start()
    yield server
    server.stop()


def admin_credentials(server):
    path = os.path.join(server.data_dir, "admin-credentials")
    values = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
    return path, values["aws_access_key_id"], values["aws_secret_access_key"]


def client(server, service, key_id, secret):
    return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id=key_id,
                        aws_secret_access_key=secret, config=NO_RETRIES)


def refusal(call):
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"], \
        caught.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_first_start_writes_an_administrator_key_readable_by_its_owner_only(signed_ecsd):
    path, key_id, secret = admin_credentials(signed_ecsd)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert key_id.startswith("AKIA") and len(key_id) == 20
    assert len(secret) == 40
    assert "requests must be signed" in signed_ecsd.log() and path in signed_ecsd.log()
    # A second start keeps the key.
    signed_ecsd.stop()
    signed_ecsd.start()
    assert admin_credentials(signed_ecsd) == (path, key_id, secret)


def test_the_aws_cli_with_the_credentials_file_succeeds(signed_ecsd):
    path, _, _ = admin_credentials(signed_ecsd)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ACCESS") and not k.startswith("AWS_SECRET")}
    env.update(AWS_SHARED_CREDENTIALS_FILE=path, AWS_DEFAULT_REGION="us-east-1")
    created = subprocess.run(["aws", "ecs", "create-cluster", "--cluster-name", "signed", "--endpoint-url", signed_ecsd.endpoint],
                             env=env, capture_output=True, text=True, timeout=60)
    assert created.returncode == 0, created.stderr
    listed = subprocess.run(["aws", "ecs", "list-clusters", "--endpoint-url", signed_ecsd.endpoint],
                            env=env, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert any(arn.endswith("/signed") for arn in json.loads(listed.stdout)["clusterArns"])
    # The environment's dummy key is not one ecsd issued.
    refused = subprocess.run(["aws", "ecs", "list-clusters", "--endpoint-url", signed_ecsd.endpoint],
                             capture_output=True, text=True, timeout=60,
                             env=dict(os.environ, AWS_ACCESS_KEY_ID="AKIAUNKNOWN000000000", AWS_SECRET_ACCESS_KEY="x" * 40))
    assert refused.returncode != 0
    assert "UnrecognizedClientException" in refused.stderr
    assert "The security token included in the request is invalid." in refused.stderr


def test_boto3_with_the_key_calls_json_and_rest_services(signed_ecsd):
    _, key_id, secret = admin_credentials(signed_ecsd)
    ecs = client(signed_ecsd, "ecs", key_id, secret)
    ecs.create_cluster(clusterName="boto")
    assert any(arn.endswith("/boto") for arn in ecs.list_clusters()["clusterArns"])
    assert client(signed_ecsd, "lambda", key_id, secret).list_functions()["Functions"] == []
    assert "ScalableTargets" in client(signed_ecsd, "application-autoscaling", key_id, secret).describe_scalable_targets(
        ServiceNamespace="ecs")


def test_a_wrong_secret_is_refused_as_a_signature_mismatch(signed_ecsd):
    _, key_id, secret = admin_credentials(signed_ecsd)
    wrong = secret[:-1] + ("x" if secret[-1] != "x" else "y")
    code, message, status = refusal(lambda: client(signed_ecsd, "ecs", key_id, wrong).list_clusters())
    assert (code, status) == ("InvalidSignatureException", 400)
    assert message.startswith("The request signature we calculated does not match the signature you provided.")
    code, message, status = refusal(lambda: client(signed_ecsd, "lambda", key_id, "wrong" * 8).list_functions())
    assert (code, status) == ("InvalidSignatureException", 403)


def test_an_unknown_key_is_unrecognized(signed_ecsd):
    code, message, status = refusal(lambda: client(signed_ecsd, "ecs", "AKIAIOSFODNN7EXAMPLE", "x" * 40).list_clusters())
    assert (code, message, status) == ("UnrecognizedClientException", "The security token included in the request is invalid.", 400)
    code, message, status = refusal(lambda: client(signed_ecsd, "lambda", "AKIAIOSFODNN7EXAMPLE", "x" * 40).list_functions())
    assert (code, status) == ("UnrecognizedClientException", 403)


def test_an_unsigned_request_is_missing_its_token(signed_ecsd):
    request = urllib.request.Request(signed_ecsd.endpoint + "/", data=b"{}", method="POST", headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.ListClusters"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 400
    assert json.loads(caught.value.read()) == {"__type": "MissingAuthenticationTokenException", "message": "Missing Authentication Token"}
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(signed_ecsd.endpoint + "/2015-03-31/functions", timeout=10)
    assert caught.value.code == 403
    assert caught.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    # Health checks need no signature.
    with urllib.request.urlopen(signed_ecsd.endpoint + "/healthz", timeout=10) as response:
        assert response.status == 200


def test_a_request_signed_ten_minutes_off_has_expired(signed_ecsd):
    _, key_id, secret = admin_credentials(signed_ecsd)
    ecs = client(signed_ecsd, "ecs", key_id, secret)
    skewed = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=10)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=skewed):
        code, message, status = refusal(lambda: ecs.list_clusters())
    assert (code, status) == ("InvalidSignatureException", 400)
    assert message.startswith("Signature expired: " + skewed.strftime("%Y%m%dT%H%M%SZ") + " is now earlier than ")
    ahead = skewed + datetime.timedelta(minutes=20)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=ahead):
        code, message, status = refusal(lambda: ecs.list_clusters())
    assert code == "InvalidSignatureException" and message.startswith("Signature not yet current: ")
    # And the same client, on time, is accepted.
    assert "clusterArns" in ecs.list_clusters()


def test_ecsctl_signs_with_the_credentials_it_finds(signed_ecsd):
    path, _, _ = admin_credentials(signed_ecsd)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["ECS_ENDPOINT"] = signed_ecsd.endpoint
    ecsctl = os.path.join(BIN, "ecsctl")
    unsigned = subprocess.run([ecsctl, "cluster", "ls"], env=dict(env, HOME=signed_ecsd.data_dir), capture_output=True, text=True,
                              timeout=30)
    assert unsigned.returncode != 0 and "MissingAuthenticationTokenException" in unsigned.stderr
    signed = subprocess.run([ecsctl, "cluster", "create", "from-ecsctl"], env=dict(env, AWS_SHARED_CREDENTIALS_FILE=path),
                            capture_output=True, text=True, timeout=30)
    assert signed.returncode == 0, signed.stderr
    listed = subprocess.run([ecsctl, "cluster", "ls"], env=dict(env, AWS_SHARED_CREDENTIALS_FILE=path), capture_output=True,
                            text=True, timeout=30)
    assert listed.returncode == 0 and "from-ecsctl" in listed.stdout, listed.stderr
    missing = subprocess.run([ecsctl, "cluster", "ls", "--profile", "nobody"], env=dict(env, AWS_SHARED_CREDENTIALS_FILE=path),
                             capture_output=True, text=True, timeout=30)
    assert missing.returncode != 0 and "The profile 'nobody' has no aws_access_key_id" in missing.stderr


def test_auth_off_accepts_any_request_and_says_so(ecsd):
    assert "authentication is off" in ecsd.log()
    ecs = boto3.client("ecs", endpoint_url=ecsd.endpoint, region_name="us-east-1", aws_access_key_id="anything",
                       aws_secret_access_key="anything")
    assert "clusterArns" in ecs.list_clusters()
    assert not os.path.exists(os.path.join(ecsd.data_dir, "admin-credentials"))


def signed_request(server, key_id, secret, target, body, extra_headers=None, sign_target=True):
    """Headers botocore signs for a JSON request to ecsd, and the body they were signed for."""
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if sign_target:
        headers["X-Amz-Target"] = target
    request = AWSRequest(method="POST", url=server.endpoint + "/", data=body, headers=dict(headers, **(extra_headers or {})))
    botocore.auth.SigV4Auth(Credentials(key_id, secret), "ecs", "us-east-1").add_auth(request)
    signed = dict(request.headers.items())
    if not sign_target:
        signed["X-Amz-Target"] = target
    return signed


def post(server, headers, body):
    request = urllib.request.Request(server.endpoint + "/", data=body.encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_a_signed_request_cannot_be_replayed_with_another_body_or_operation(signed_ecsd):
    _, key_id, secret = admin_credentials(signed_ecsd)
    target = "AmazonEC2ContainerServiceV20141113.CreateCluster"
    body = '{"clusterName":"intended"}'
    headers = signed_request(signed_ecsd, key_id, secret, target, body)
    assert post(signed_ecsd, headers, body)[0] == 200
    # Another body under the same signature, with or without a declared hash of the signed one.
    status, answer = post(signed_ecsd, headers, '{"clusterName":"forged"}')
    assert (status, answer["__type"]) == (400, "InvalidSignatureException")
    import hashlib
    declared = dict(headers, **{"X-Amz-Content-Sha256": hashlib.sha256(body.encode()).hexdigest()})
    status, answer = post(signed_ecsd, declared, '{"clusterName":"forged"}')
    assert (status, answer["__type"]) == (400, "InvalidSignatureException")
    # Another operation under the same signature.
    status, answer = post(signed_ecsd, dict(headers, **{"X-Amz-Target": "AmazonEC2ContainerServiceV20141113.DeleteCluster"}), body)
    assert (status, answer["__type"]) == (400, "InvalidSignatureException")
    # An operation left out of what was signed.
    unsigned_target = signed_request(signed_ecsd, key_id, secret, target, body, sign_target=False)
    status, answer = post(signed_ecsd, unsigned_target, body)
    assert (status, answer["__type"]) == (400, "IncompleteSignatureException")
    assert answer["message"] == "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization."
    ecs = client(signed_ecsd, "ecs", key_id, secret)
    names = [arn.rsplit("/", 1)[1] for arn in ecs.list_clusters()["clusterArns"]]
    assert "intended" in names and "forged" not in names


def test_agents_operations_need_the_agent_token_made_on_first_start(signed_ecsd):
    path = os.path.join(signed_ecsd.data_dir, "agent-token")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    token = open(path).read().strip()
    assert len(token) == 64
    assert "agents must present the token in " + path in signed_ecsd.log()
    target = {"Content-Type": "application/x-amz-json-1.1",
              "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.RegisterContainerInstance"}
    body = '{"cluster":"no-such-cluster"}'
    status, answer = post(signed_ecsd, target, body)
    assert (status, answer["__type"]) == (400, "AccessDeniedException")
    status, answer = post(signed_ecsd, dict(target, **{"X-Stevedore-Agent-Token": token}), body)
    assert answer.get("__type") == "ClusterNotFoundException", answer
    # The token is kept across restarts.
    signed_ecsd.stop()
    signed_ecsd.start()
    assert open(path).read().strip() == token


def test_authentication_is_on_by_default_and_off_with_dev(data_dir):
    server = Ecsd(os.path.join(data_dir, "default"), auth=None).start()
    try:
        assert os.path.exists(os.path.join(server.data_dir, "admin-credentials"))
        assert refusal(lambda: client(server, "ecs", "AKIAIOSFODNN7EXAMPLE", "x" * 40).list_clusters())[0] == "UnrecognizedClientException"
    finally:
        server.stop()
    dev = Ecsd(os.path.join(data_dir, "dev"), auth=None, extra_args=["--dev", "--no-agent"]).start()
    try:
        assert "authentication is off" in dev.log() and "the default with --dev" in dev.log()
        assert "clusterArns" in client(dev, "ecs", "anything", "anything").list_clusters()
        assert not os.path.exists(os.path.join(dev.data_dir, "admin-credentials"))
    finally:
        dev.stop()


def test_gateway_routes_with_aws_iam_need_a_signature_and_a_policy(signed_ecsd):
    """AWS_IAM routes: requests signed for execute-api by a known key whose policies allow
    execute-api:Invoke on the route; the rest are refused as API Gateway refuses them."""
    import http.client
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Backend(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    backend = ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    try:
        _, key_id, secret = admin_credentials(signed_ecsd)
        apigw = client(signed_ecsd, "apigatewayv2", key_id, secret)
        api = apigw.create_api(Name="iam", ProtocolType="HTTP", Target=f"http://127.0.0.1:{backend.server_address[1]}/",
                               RouteKey="GET /private")["ApiId"]
        route = apigw.get_routes(ApiId=api)["Items"][0]["RouteId"]
        assert apigw.update_route(ApiId=api, RouteId=route, AuthorizationType="AWS_IAM")["AuthorizationType"] == "AWS_IAM"
        url = f"{signed_ecsd.gateway}/{api}/private"

        def call(access_key=None, secret_key=None, service="execute-api"):
            request = AWSRequest(method="GET", url=url, headers={"Host": f"127.0.0.1:{signed_ecsd.gateway_port}"})
            if access_key:
                botocore.auth.SigV4Auth(Credentials(access_key, secret_key), service, "us-east-1").add_auth(request)
            connection = http.client.HTTPConnection("127.0.0.1", signed_ecsd.gateway_port, timeout=30)
            connection.request("GET", f"/{api}/private", headers=dict(request.headers.items()))
            response = connection.getresponse()
            result = response.status, response.read()
            connection.close()
            return result

        assert call(key_id, secret) == (200, b"ok")
        assert call() == (403, b'{"message":"Forbidden"}')
        status, body = call(key_id, "wrong" + secret[5:])
        assert status == 403 and "signature we calculated does not match" in json.loads(body)["message"]
        assert call(key_id, secret, service="lambda")[0] == 403
        iam = client(signed_ecsd, "iam", key_id, secret)
        iam.create_user(UserName="viewer")
        viewer = iam.create_access_key(UserName="viewer")["AccessKey"]
        status, body = call(viewer["AccessKeyId"], viewer["SecretAccessKey"])
        message = json.loads(body)["message"]
        assert status == 403 and "is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:" in message
        iam.put_user_policy(UserName="viewer", PolicyName="invoke", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke",
                                                   "Resource": f"arn:aws:execute-api:us-east-1:*:{api}/*/GET/private"}]}))
        assert call(viewer["AccessKeyId"], viewer["SecretAccessKey"]) == (200, b"ok")
    finally:
        backend.shutdown()
