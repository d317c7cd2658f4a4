"""API Gateway HTTP APIs for real: built with the aws CLI and boto3, called with curl and plain
HTTP on the gateway's listener (by the `{api-id}.execute-api.localhost` host and by the path form),
in front of Python functions run by awslambdaric, in both payload formats."""
import base64
import http.client
import json
import os
import re
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore
import pytest

from conftest import BIN, ROOT, example, free_port, run_aws, run_ecsctl, wait_until
from docker_support import BUSYBOX_IMAGE, build_busybox_image, requires_docker
from functions_support import ROLE, FunctionCluster, ensure_python_image, zip_files

pytestmark = requires_docker

ECHO = '''
import base64, json, time
def handler(event, context):
    query = event.get("queryStringParameters") or {}
    mode = query.get("mode")
    if mode == "sleep": time.sleep(float(query.get("s", "1")))
    if mode == "raise": raise ValueError("boom")
    if mode == "malformed": return {"statusCode": "not a number"}
    if mode == "bare": return {"bare": True, "n": 1}
    if mode == "binary":
        return {"statusCode": 201, "isBase64Encoded": True, "body": base64.b64encode(b"\\x00\\x01bin").decode(),
                "headers": {"content-type": "application/octet-stream"}}
    return {"statusCode": 200, "headers": {"content-type": "application/json", "x-echo": "yes"},
            "multiValueHeaders": {"x-multi": ["1", "2"]}, "cookies": ["a=1", "b=2"], "body": json.dumps(event)}
'''


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    ensure_python_image()
    # Service tasks behind the gateway drain for 2 s before they are stopped (ELB's default is 300).
    context = FunctionCluster(str(tmp_path_factory.mktemp("gateway")), extra_args=["--deregistration-delay", "2"])
    yield context
    context.close()


@pytest.fixture(scope="module")
def function_arn(cluster):
    lam = cluster.client("lambda")
    lam.create_function(FunctionName="echo", Runtime="python3.11", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_files({"app.py": ECHO})}, Timeout=10)
    lam.get_waiter("function_active_v2").wait(FunctionName="echo")
    return lam.get_function(FunctionName="echo")["Configuration"]["FunctionArn"]


@pytest.fixture(scope="module")
def apigw(cluster):
    return cluster.client("apigatewayv2")


def call(cluster, method, path, host=None, headers=None, body=None):
    """One request to the gateway's listener; (status, headers as a list, body bytes)."""
    connection = http.client.HTTPConnection("127.0.0.1", cluster.server.gateway_port, timeout=60)
    all_headers = dict(headers or {})
    if host:
        all_headers["Host"] = host
    connection.request(method, path, body=body, headers=all_headers)
    response = connection.getresponse()
    result = (response.status, response.getheaders(), response.read())
    connection.close()
    return result


def header(headers, name):
    values = [value for key, value in headers if key.lower() == name]
    return values[0] if len(values) == 1 else values


def test_quick_create_with_the_aws_cli_and_curl_by_host_and_by_path(cluster, function_arn):
    created = json.loads(run_aws(cluster.endpoint, "apigatewayv2", "create-api", "--name", "quick", "--protocol-type", "HTTP",
                                 "--target", function_arn)[1])
    api = created["ApiId"]
    assert len(api) == 10 and created["ApiEndpoint"] == f"http://{api}.execute-api.localhost:{cluster.server.gateway_port}"
    assert created["RouteSelectionExpression"] == "$request.method $request.path" and created["ProtocolType"] == "HTTP"
    stages = json.loads(run_aws(cluster.endpoint, "apigatewayv2", "get-stages", "--api-id", api)[1])["Items"]
    assert [(s["StageName"], s["AutoDeploy"]) for s in stages] == [("$default", True)] and stages[0]["DeploymentId"]
    routes = json.loads(run_aws(cluster.endpoint, "apigatewayv2", "get-routes", "--api-id", api)[1])["Items"]
    assert [r["RouteKey"] for r in routes] == ["$default"]

    # curl by the API's own host name (*.localhost resolves to the loopback address).
    done = subprocess.run(["curl", "-s", "-i", "-H", "Cookie: c1=x; c2=y", f"{created['ApiEndpoint']}/hello/world?a=1&a=2&b=3"],
                          capture_output=True, text=True, check=True)
    head, _, body = done.stdout.partition("\n\n")
    assert head.startswith("HTTP/1.1 200"), done.stdout
    assert "x-echo: yes" in head and "set-cookie: a=1" in head and "set-cookie: b=2" in head and "apigw-requestid: " in head
    event = json.loads(body)
    assert event["version"] == "2.0" and event["routeKey"] == "$default" and event["rawPath"] == "/hello/world"
    assert event["rawQueryString"] == "a=1&a=2&b=3" and event["queryStringParameters"] == {"a": "1,2", "b": "3"}
    assert event["cookies"] == ["c1=x", "c2=y"] and "cookie" not in event["headers"]
    assert event["headers"]["host"] == f"{api}.execute-api.localhost:{cluster.server.gateway_port}"
    context = event["requestContext"]
    assert context["apiId"] == api and context["stage"] == "$default" and context["http"]["method"] == "GET"
    assert context["http"]["sourceIp"] == "127.0.0.1" and context["domainPrefix"] == api and context["accountId"] == "000000000000"
    assert "pathParameters" not in event and event["isBase64Encoded"] is False

    # The path form needs no DNS: /{api-id}/… on the gateway's listener.
    status, headers, body = call(cluster, "POST", f"/{api}/submit", headers={"content-type": "application/json"}, body=b'{"k": 1}')
    assert status == 200, (status, headers, body)
    event = json.loads(body)
    assert status == 200 and event["body"] == '{"k": 1}' and event["rawPath"] == "/submit" and event["requestContext"]["http"]["method"] == "POST"
    status, headers, body = call(cluster, "PUT", f"/{api}/blob", headers={"content-type": "image/png"}, body=b"\x89PNG\x00")
    event = json.loads(body)
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\x89PNG\x00"


def test_routes_stages_and_deployments_with_boto3_in_payload_format_1(cluster, apigw, function_arn):
    api = apigw.create_api(Name="pets", ProtocolType="HTTP", Tags={"team": "a"})
    api_id = api["ApiId"]
    integration = apigw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=function_arn,
                                           PayloadFormatVersion="1.0")
    assert integration["TimeoutInMillis"] == 30000 and integration["IntegrationMethod"] == "POST"
    route = apigw.create_route(ApiId=api_id, RouteKey="GET /pets/{id}", Target="integrations/" + integration["IntegrationId"])
    assert route["AuthorizationType"] == "NONE" and route["ApiKeyRequired"] is False
    stage = apigw.create_stage(ApiId=api_id, StageName="prod", StageVariables={"color": "blue"})
    assert "DeploymentId" not in stage and stage["AutoDeploy"] is False

    # Nothing deployed yet: not found.
    status, _, body = call(cluster, "GET", f"/{api_id}/prod/pets/7")
    assert (status, json.loads(body)) == (404, {"message": "Not Found"})

    deployment = apigw.create_deployment(ApiId=api_id, StageName="prod", Description="first")
    assert deployment["DeploymentStatus"] == "DEPLOYED" and deployment["AutoDeployed"] is False
    assert apigw.get_stage(ApiId=api_id, StageName="prod")["DeploymentId"] == deployment["DeploymentId"]

    status, headers, body = call(cluster, "GET", f"/{api_id}/prod/pets/7?x=1&x=2", headers={"X-Multi": "a"})
    event = json.loads(body)
    assert status == 200 and event["version"] == "1.0" and event["resource"] == "/pets/{id}" and event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"id": "7"} and event["stageVariables"] == {"color": "blue"}
    assert event["queryStringParameters"] == {"x": "2"} and event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["requestContext"]["stage"] == "prod" and event["body"] is None
    # Format 1.0 has no cookies member: the function's `cookies` are not set.
    assert header(headers, "x-multi") == ["1", "2"] and header(headers, "set-cookie") == []

    # A new route is not served until the stage is deployed again.
    apigw.create_route(ApiId=api_id, RouteKey="ANY /{proxy+}", Target="integrations/" + integration["IntegrationId"])
    assert call(cluster, "GET", f"/{api_id}/prod/other/thing")[0] == 404
    apigw.create_deployment(ApiId=api_id, StageName="prod")
    status, _, body = call(cluster, "DELETE", f"/{api_id}/prod/other/thing")
    assert status == 200 and json.loads(body)["pathParameters"] == {"proxy": "other/thing"}
    # The more specific route still wins.
    assert json.loads(call(cluster, "GET", f"/{api_id}/prod/pets/8")[2])["resource"] == "/pets/{id}"

    assert {r["RouteKey"] for r in apigw.get_routes(ApiId=api_id)["Items"]} == {"GET /pets/{id}", "ANY /{proxy+}"}
    assert len(apigw.get_deployments(ApiId=api_id)["Items"]) == 2
    arn = f"arn:aws:apigateway:us-east-1::/apis/{api_id}"
    apigw.tag_resource(ResourceArn=arn, Tags={"env": "test"})
    assert apigw.get_tags(ResourceArn=arn)["Tags"] == {"team": "a", "env": "test"}
    apigw.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert apigw.get_api(ApiId=api_id)["Tags"] == {"env": "test"}


def test_function_answers_map_as_http_apis_map_them(cluster, apigw, function_arn):
    api_id = apigw.create_api(Name="answers", ProtocolType="HTTP", Target=function_arn)["ApiId"]
    status, headers, body = call(cluster, "GET", f"/{api_id}/x?mode=bare")
    assert status == 200 and header(headers, "content-type") == "application/json" and json.loads(body) == {"bare": True, "n": 1}
    status, headers, body = call(cluster, "GET", f"/{api_id}/x?mode=binary")
    assert status == 201 and body == b"\x00\x01bin" and header(headers, "content-type") == "application/octet-stream"
    for mode in ("malformed", "raise"):
        status, _, body = call(cluster, "GET", f"/{api_id}/x?mode={mode}")
        assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"}), mode

    # An integration timeout answers 503 Service Unavailable.
    integration = apigw.get_integrations(ApiId=api_id)["Items"][0]
    apigw.update_integration(ApiId=api_id, IntegrationId=integration["IntegrationId"], TimeoutInMillis=300)
    status, _, body = call(cluster, "GET", f"/{api_id}/x?mode=sleep&s=2")
    assert (status, json.loads(body)) == (503, {"message": "Service Unavailable"})

    # More than 10 MB is refused before any function runs.
    status, _, body = call(cluster, "POST", f"/{api_id}/x", body=b"x" * (10 * 1024 * 1024 + 1))
    assert status == 413

    # Unknown APIs and stages are not found.
    assert call(cluster, "GET", "/nosuchapi0/x")[0] == 404
    assert call(cluster, "GET", "/", host="nosuchapi0.execute-api.localhost")[0] == 404


def test_control_api_errors_are_api_gateways(cluster, apigw, function_arn):
    def error(call, **kwargs):
        with pytest.raises(botocore.exceptions.ClientError) as raised:
            call(**kwargs)
        return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"], \
            raised.value.response["ResponseMetadata"]["HTTPStatusCode"]

    assert error(apigw.get_api, ApiId="nosuchapi0") == \
        ("NotFoundException", "Invalid API identifier specified 000000000000:nosuchapi0", 404)
    api_id = apigw.create_api(Name="errors", ProtocolType="HTTP")["ApiId"]
    code, message, status = error(apigw.create_route, ApiId=api_id, RouteKey="GET pets")
    assert (code, status) == ("BadRequestException", 400) and "GET pets" in message
    assert error(apigw.create_route, ApiId=api_id, RouteKey="GET /pets", Target="integrations/nope")[0] == "BadRequestException"
    assert error(apigw.create_integration, ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=function_arn)[0] == \
        "BadRequestException"
    assert error(apigw.create_integration, ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=function_arn,
                 PayloadFormatVersion="2.0", TimeoutInMillis=30001)[0] == "BadRequestException"
    integration = apigw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=function_arn,
                                           PayloadFormatVersion="2.0")["IntegrationId"]
    apigw.create_route(ApiId=api_id, RouteKey="GET /pets", Target="integrations/" + integration)
    assert error(apigw.create_route, ApiId=api_id, RouteKey="GET /pets")[0] == "ConflictException"
    assert error(apigw.delete_integration, ApiId=api_id, IntegrationId=integration)[0] == "ConflictException"
    apigw.create_stage(ApiId=api_id, StageName="dev")
    assert error(apigw.create_stage, ApiId=api_id, StageName="dev")[:2] == ("ConflictException", "Stage already exists")
    assert error(apigw.get_stage, ApiId=api_id, StageName="nope")[0] == "NotFoundException"
    assert error(apigw.create_deployment, ApiId=api_id, StageName="nope")[0] == "NotFoundException"
    # An HTTP API's route selection is its method and path; WebSocket APIs' errors are in test_gateway_websocket.py.
    assert error(apigw.create_api, Name="x", ProtocolType="HTTP", RouteSelectionExpression="$request.body.action")[0] == \
        "BadRequestException"
    apigw.delete_api(ApiId=api_id)
    assert error(apigw.get_routes, ApiId=api_id)[0] == "NotFoundException"


def test_apis_survive_a_restart(cluster, apigw, function_arn):
    api_id = apigw.create_api(Name="durable", ProtocolType="HTTP", Target=function_arn, RouteKey="GET /kept")["ApiId"]
    assert call(cluster, "GET", f"/{api_id}/kept")[0] == 200
    cluster.server.stop()
    cluster.server.start()
    assert apigw.get_api(ApiId=api_id)["Name"] == "durable"
    wait_until(lambda: call(cluster, "GET", f"/{api_id}/kept")[0] == 200, timeout=60, message="served after restart")
    assert call(cluster, "GET", f"/{api_id}/other")[0] == 404


class Backend(BaseHTTPRequestHandler):
    """An HTTP backend that answers with what it received (and waits when asked to)."""

    def answer(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if "slow" in self.path:
            time.sleep(2)
        payload = json.dumps({"method": self.command, "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                              "body": body.decode()}).encode()
        self.send_response(418 if "teapot" in self.path else 200)
        self.send_header("content-type", "application/json")
        self.send_header("x-backend", "yes")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = answer

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def backend():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_http_proxy_integrations_pass_requests_and_answers_through(cluster, apigw, backend):
    api_id = apigw.create_api(Name="proxy", ProtocolType="HTTP", Target=backend + "/echo")["ApiId"]
    status, headers, body = call(cluster, "GET", f"/{api_id}/anything?q=1&q=2", headers={"X-Custom": "c"})
    seen = json.loads(body)
    assert status == 200 and header(headers, "x-backend") == "yes", body
    assert seen["method"] == "GET" and seen["path"] == "/echo?q=1&q=2" and seen["headers"]["x-custom"] == "c"
    assert seen["headers"]["x-forwarded-for"] == "127.0.0.1" and seen["headers"]["host"] == backend[len("http://"):]

    integration = apigw.create_integration(ApiId=api_id, IntegrationType="HTTP_PROXY", IntegrationMethod="ANY",
                                           IntegrationUri=backend + "/pets/{proxy}", PayloadFormatVersion="1.0")["IntegrationId"]
    apigw.create_route(ApiId=api_id, RouteKey="ANY /api/{proxy+}", Target="integrations/" + integration)
    status, headers, body = call(cluster, "POST", f"/{api_id}/api/a/b", headers={"content-type": "text/plain"}, body=b"hello")
    seen = json.loads(body)
    assert status == 200 and seen["method"] == "POST" and seen["path"] == "/pets/a/b" and seen["body"] == "hello"
    status, headers, body = call(cluster, "DELETE", f"/{api_id}/api/teapot")
    assert status == 418 and json.loads(body)["method"] == "DELETE"

    # A backend that is not there, and one slower than the integration's timeout.
    apigw.update_integration(ApiId=api_id, IntegrationId=integration, IntegrationUri=f"http://127.0.0.1:{free_port()}/{{proxy}}")
    status, _, body = call(cluster, "GET", f"/{api_id}/api/x")
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
    apigw.update_integration(ApiId=api_id, IntegrationId=integration, IntegrationUri=backend + "/{proxy}", TimeoutInMillis=300)
    status, _, body = call(cluster, "GET", f"/{api_id}/api/slow")
    assert (status, json.loads(body)) == (503, {"message": "Service Unavailable"})


def test_ecsctl_lists_describes_tests_and_deletes_apis(cluster, function_arn):
    code, out, err = run_ecsctl(cluster.endpoint, "api", "create", "shop", "--target", "echo", "--route", "GET /items/{id}")
    assert code == 0, err
    api_id = out.split()[1]
    code, out, err = run_ecsctl(cluster.endpoint, "api", "ls")
    assert code == 0 and "shop" in out and api_id in out, err
    code, out, err = run_ecsctl(cluster.endpoint, "api", "describe", "shop")
    assert code == 0 and "$default" in out and "GET /items/{id}" in out and f"AWS_PROXY {function_arn} (payload 2.0)" in out, out + err
    assert "AUTH" in out and "NONE" in out
    code, out, err = run_ecsctl(cluster.endpoint, "api", "routes", api_id)
    assert code == 0 and "GET /items/{id}" in out and "NONE" in out, err
    code, out, err = run_ecsctl(cluster.endpoint, "api", "test", "shop", "/items/42?x=1", "-H", "X-Test: yes")
    assert code == 0 and "-> 200 in" in out, out + err
    event = json.loads(out.split("\n\n", 1)[1])
    assert event["pathParameters"] == {"id": "42"} and event["headers"]["x-test"] == "yes"
    code, out, err = run_ecsctl(cluster.endpoint, "api", "test", "shop", "/nothing")
    assert code == 0 and "-> 404 in" in out and '{"message":"Not Found"}' in out, out + err
    code, out, err = run_ecsctl(cluster.endpoint, "api", "describe", "no-such-api")
    assert code != 0 and "no API with id or name no-such-api" in err
    code, out, err = run_ecsctl(cluster.endpoint, "api", "rm", "shop")
    assert code == 0 and run_ecsctl(cluster.endpoint, "api", "ls")[1].count("shop") == 0


def test_the_gateway_examples_run_as_written(cluster):
    """Every sh block of Examples/gateway/README.md, in order, in one shell."""
    with open(example("gateway", "README.md")) as f:
        blocks = re.findall(r"```sh\n(.*?)```", f.read(), re.S)
    script = "set -euo pipefail\n" + "\n".join(blocks)
    env = {**os.environ, "GATEWAY": cluster.server.gateway, "PATH": BIN + ":" + os.environ["PATH"]}
    done = subprocess.run(["bash", "-c", script.replace("http://127.0.0.1:8340", cluster.endpoint)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert '"hello": "ecsctl", "route": "$default", "path": "/greet/you"' in out, out
    assert '"hello": "curl"' in out and '"path": "/anything/at/all"' in out
    assert '"route": "GET /pets/{id}", "path": "/prod/pets/7", "pathParameters": {"id": "7"}' in out
    assert "}404\n" in out or "\n404\n" in out, out
    assert "you said: hello\npushed through @connections\n" in out, out
    assert '{"open": true}without a key: 403\n' in out and '{"items": ["tea", "cake"], "stage": "v1"}' in out, out


def test_cors_preflight_and_throttling_with_the_aws_cli(cluster, apigw, function_arn):
    cors = json.dumps({"AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"], "AllowHeaders": ["content-type"],
                       "ExposeHeaders": ["x-echo"], "MaxAge": 600})
    api_id = json.loads(run_aws(cluster.endpoint, "apigatewayv2", "create-api", "--name", "cors", "--protocol-type", "HTTP",
                                "--target", function_arn, "--cors-configuration", cors)[1])["ApiId"]
    status, headers, _ = call(cluster, "OPTIONS", f"/{api_id}/items", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "Content-Type"})
    assert status == 204 and header(headers, "access-control-allow-origin") == "https://app.example"
    assert header(headers, "access-control-allow-methods") == "GET,POST" and header(headers, "access-control-max-age") == "600"
    status, headers, body = call(cluster, "GET", f"/{api_id}/items", headers={"Origin": "https://app.example"})
    assert status == 200 and header(headers, "access-control-allow-origin") == "https://app.example"
    assert header(headers, "access-control-expose-headers") == "x-echo"
    status, headers, _ = call(cluster, "GET", f"/{api_id}/items", headers={"Origin": "https://evil.example"})
    assert status == 200 and header(headers, "access-control-allow-origin") == []

    # Throttling: a burst of 2 and a trickle of a request every 100 s on the $default stage.
    run_aws(cluster.endpoint, "apigatewayv2", "update-stage", "--api-id", api_id, "--stage-name", "$default",
            "--default-route-settings", "ThrottlingBurstLimit=2,ThrottlingRateLimit=0.01")
    statuses = [call(cluster, "GET", f"/{api_id}/t")[0] for _ in range(4)]
    assert statuses[:2] == [200, 200] and statuses[2:] == [429, 429], statuses
    status, _, body = call(cluster, "GET", f"/{api_id}/t")
    assert (status, json.loads(body)) == (429, {"message": "Too Many Requests"})


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer(BaseHTTPRequestHandler):
    """An OpenID issuer: its configuration and its keys (set on the class by the fixture)."""
    jwks = b"{}"
    base = ""

    def do_GET(self):
        if self.path == "/.well-known/openid-configuration":
            body = json.dumps({"issuer": self.base, "jwks_uri": self.base + "/jwks.json"}).encode()
        elif self.path == "/jwks.json":
            body = self.jwks
        else:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_jwt_authorizer_accepts_tokens_signed_by_the_issuers_key(cluster, apigw, function_arn):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = key.public_key().public_numbers()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Issuer)
    Issuer.base = f"http://127.0.0.1:{server.server_address[1]}"
    Issuer.jwks = json.dumps({"keys": [{"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
                                        "n": b64url(numbers.n.to_bytes(256, "big")), "e": b64url(numbers.e.to_bytes(3, "big"))}]}).encode()
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def token(signer=key, **claims):
        base = {"iss": Issuer.base, "aud": "my-app", "sub": "user-1", "exp": int(time.time()) + 300, "iat": int(time.time()),
                "scope": "pets:read"}
        base.update(claims)
        head = b64url(json.dumps({"alg": "RS256", "kid": "k1", "typ": "JWT"}).encode())
        body = b64url(json.dumps(base).encode())
        signature = signer.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{head}.{body}.{b64url(signature)}"

    try:
        api_id = apigw.create_api(Name="jwt", ProtocolType="HTTP", Target=function_arn)["ApiId"]
        authorizer = apigw.create_authorizer(ApiId=api_id, Name="issuer", AuthorizerType="JWT",
                                             IdentitySource=["$request.header.Authorization"],
                                             JwtConfiguration={"Issuer": Issuer.base, "Audience": ["my-app"]})
        assert authorizer["AuthorizerType"] == "JWT" and apigw.get_authorizers(ApiId=api_id)["Items"][0]["Name"] == "issuer"
        integration = apigw.get_integrations(ApiId=api_id)["Items"][0]["IntegrationId"]
        apigw.create_route(ApiId=api_id, RouteKey="GET /pets", Target="integrations/" + integration, AuthorizationType="JWT",
                           AuthorizerId=authorizer["AuthorizerId"], AuthorizationScopes=["pets:read"])
        apigw.create_route(ApiId=api_id, RouteKey="DELETE /pets", Target="integrations/" + integration, AuthorizationType="JWT",
                           AuthorizerId=authorizer["AuthorizerId"], AuthorizationScopes=["pets:admin"])

        status, _, body = call(cluster, "GET", f"/{api_id}/pets", headers={"Authorization": "Bearer " + token()})
        assert status == 200, body
        jwt = json.loads(body)["requestContext"]["authorizer"]["jwt"]
        assert jwt["claims"]["sub"] == "user-1" and jwt["claims"]["aud"] == "my-app" and jwt["scopes"] == ["pets:read"]
        for headers in ({}, {"Authorization": "Bearer " + token(exp=int(time.time()) - 10)}, {"Authorization": "Bearer " + token(signer=stranger)},
                        {"Authorization": "Bearer " + token(aud="other-app")}, {"Authorization": "Bearer garbage"}):
            status, _, body = call(cluster, "GET", f"/{api_id}/pets", headers=headers)
            assert (status, json.loads(body)) == (401, {"message": "Unauthorized"}), headers
        status, _, body = call(cluster, "DELETE", f"/{api_id}/pets", headers={"Authorization": "Bearer " + token()})
        assert (status, json.loads(body)) == (403, {"message": "Forbidden"})
        # Routes without an authorizer stay open.
        assert call(cluster, "GET", f"/{api_id}/open")[0] == 200
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            apigw.delete_authorizer(ApiId=api_id, AuthorizerId=authorizer["AuthorizerId"])
        assert refused.value.response["Error"]["Code"] == "ConflictException"
    finally:
        server.shutdown()


AUTHORIZER = '''
calls = 0
def handler(event, context):
    global calls
    calls += 1
    token = event["identitySource"][0]
    return {"isAuthorized": token == "let-me-in", "context": {"calls": calls, "route": event["routeArn"]}}
'''


POLICY_AUTHORIZER = '''
def handler(event, context):
    api = event["routeArn"].split(":")[5].split("/")[0]
    return {"principalId": "user-1", "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Action": "execute-api:Invoke", "Effect": "Allow",
         "Resource": event["routeArn"].rsplit(":", 1)[0] + ":" + api + "/*/GET/public"}]}}
'''


def test_lambda_request_authorizer_with_simple_responses_and_caching(cluster, apigw, function_arn):
    lam = cluster.client("lambda")
    lam.create_function(FunctionName="gatekeeper", Runtime="python3.11", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_files({"app.py": AUTHORIZER})}, Timeout=5)
    lam.get_waiter("function_active_v2").wait(FunctionName="gatekeeper")
    gatekeeper = lam.get_function(FunctionName="gatekeeper")["Configuration"]["FunctionArn"]
    api_id = apigw.create_api(Name="lambda-auth", ProtocolType="HTTP", Target=function_arn)["ApiId"]
    authorizer = apigw.create_authorizer(ApiId=api_id, Name="gate", AuthorizerType="REQUEST", AuthorizerUri=gatekeeper,
                                         AuthorizerPayloadFormatVersion="2.0", EnableSimpleResponses=True,
                                         IdentitySource=["$request.header.X-Token"], AuthorizerResultTtlInSeconds=60)["AuthorizerId"]
    route = apigw.get_routes(ApiId=api_id)["Items"][0]["RouteId"]
    apigw.update_route(ApiId=api_id, RouteId=route, AuthorizationType="CUSTOM", AuthorizerId=authorizer)

    status, _, body = call(cluster, "GET", f"/{api_id}/things", headers={"X-Token": "let-me-in"})
    assert status == 200, body
    lambda_context = json.loads(body)["requestContext"]["authorizer"]["lambda"]
    assert lambda_context["calls"] == 1 and lambda_context["route"].endswith(f":{api_id}/$default/GET/things")
    # The verdict is cached for the same identity: the authorizer is not called again.
    status, _, body = call(cluster, "GET", f"/{api_id}/things", headers={"X-Token": "let-me-in"})
    assert status == 200 and json.loads(body)["requestContext"]["authorizer"]["lambda"]["calls"] == 1
    status, _, body = call(cluster, "GET", f"/{api_id}/things", headers={"X-Token": "wrong"})
    assert (status, json.loads(body)) == (403, {"message": "Forbidden"})
    status, _, body = call(cluster, "GET", f"/{api_id}/things")
    assert (status, json.loads(body)) == (401, {"message": "Unauthorized"})
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        apigw.create_authorizer(ApiId=api_id, Name="bad", AuthorizerType="REQUEST", AuthorizerUri=gatekeeper,
                                AuthorizerPayloadFormatVersion="1.0", EnableSimpleResponses=True, IdentitySource=["$request.header.X"])
    assert refused.value.response["Error"]["Code"] == "BadRequestException"

    # An IAM policy answer, cached, is judged against each request's own route.
    lam.create_function(FunctionName="policykeeper", Runtime="python3.11", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_files({"app.py": POLICY_AUTHORIZER})}, Timeout=5)
    lam.get_waiter("function_active_v2").wait(FunctionName="policykeeper")
    keeper = lam.get_function(FunctionName="policykeeper")["Configuration"]["FunctionArn"]
    policy_api = apigw.create_api(Name="policy-auth", ProtocolType="HTTP", Target=function_arn)["ApiId"]
    policy_authorizer = apigw.create_authorizer(ApiId=policy_api, Name="policy", AuthorizerType="REQUEST", AuthorizerUri=keeper,
                                                AuthorizerPayloadFormatVersion="2.0", IdentitySource=["$request.header.X-Token"],
                                                AuthorizerResultTtlInSeconds=300)["AuthorizerId"]
    route = apigw.get_routes(ApiId=policy_api)["Items"][0]["RouteId"]
    apigw.update_route(ApiId=policy_api, RouteId=route, AuthorizationType="CUSTOM", AuthorizerId=policy_authorizer)
    status, _, body = call(cluster, "GET", f"/{policy_api}/public", headers={"X-Token": "t"})
    assert status == 200 and json.loads(body)["requestContext"]["authorizer"]["lambda"]["principalId"] == "user-1"
    status, _, body = call(cluster, "DELETE", f"/{policy_api}/admin", headers={"X-Token": "t"})
    assert (status, json.loads(body)) == (403, {"message": "Forbidden"})


def web_definition(ecs, version):
    return ecs.register_task_definition(family="gw-web", containerDefinitions=[{
        "name": "web", "image": BUSYBOX_IMAGE, "memory": 32, "essential": True, "stopTimeout": 2,
        "environment": [{"name": "VERSION", "value": version}],
        "command": ["sh", "-c", "mkdir -p /www && echo \"$VERSION $HOSTNAME\" > /www/index.html && exec httpd -f -p 8080 -h /www"],
        "portMappings": [{"containerPort": 8080, "hostPort": 0}]}])["taskDefinition"]["taskDefinitionArn"]


def test_an_ecs_service_behind_the_gateway_through_a_rolling_deployment(cluster, apigw):
    build_busybox_image()
    ecs = cluster.client("ecs")
    group = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/0123456789abcdef"
    ecs.create_service(cluster=cluster.name, serviceName="web", taskDefinition=web_definition(ecs, "v1"), desiredCount=2,
                       loadBalancers=[{"targetGroupArn": group, "containerName": "web", "containerPort": 8080}],
                       deploymentConfiguration={"minimumHealthyPercent": 100, "maximumPercent": 200})

    def running():
        tasks = ecs.list_tasks(cluster=cluster.name, serviceName="web", desiredStatus="RUNNING")["taskArns"]
        described = ecs.describe_tasks(cluster=cluster.name, tasks=tasks)["tasks"] if tasks else []
        return [t for t in described if t["lastStatus"] == "RUNNING"]

    wait_until(lambda: len(running()) == 2, timeout=90, message="two web tasks running")
    first_tasks = {t["taskArn"] for t in running()}
    api_id = apigw.create_api(Name="web", ProtocolType="HTTP", Target=group)["ApiId"]
    answers = [call(cluster, "GET", f"/{api_id}/")[2].decode().split() for _ in range(10)]
    assert {a[0] for a in answers} == {"v1"} and len({a[1] for a in answers}) == 2, answers

    # A rolling deployment under constant load: every request is answered.
    failures, seen, stop, answered = [], set(), threading.Event(), []

    def load():
        while not stop.is_set():
            status, _, body = call(cluster, "GET", f"/{api_id}/")
            answered.append(status)
            if status != 200:
                failures.append((status, body))
            else:
                seen.add(body.decode().split()[0])

    worker = threading.Thread(target=load)
    worker.start()
    try:
        ecs.update_service(cluster=cluster.name, service="web", taskDefinition=web_definition(ecs, "v2"))

        def rolled():
            service = ecs.describe_services(cluster=cluster.name, services=["web"])["services"][0]
            return len(service["deployments"]) == 1 and service["runningCount"] == 2 and \
                all(t["taskDefinitionArn"].endswith(":2") for t in running())

        # The old tasks drain first: DEACTIVATING (no new requests) for the deregistration delay.
        wait_until(lambda: any(t["lastStatus"] == "DEACTIVATING"
                               for t in ecs.describe_tasks(cluster=cluster.name, tasks=list(first_tasks))["tasks"]),
                   timeout=60, interval=0.05, message="an old task draining")
        wait_until(rolled, timeout=120, message="the deployment rolled")
        wait_until(lambda: all(t["lastStatus"] == "STOPPED"
                               for t in ecs.describe_tasks(cluster=cluster.name, tasks=list(first_tasks))["tasks"]),
                   timeout=60, message="the old tasks stopped")
        time.sleep(0.5)
    finally:
        stop.set()
        worker.join()
    assert failures == [] and seen == {"v1", "v2"} and len(answered) > 100, (failures[:5], seen, len(answered))
    events = [e["message"] for e in ecs.describe_services(cluster=cluster.name, services=["web"])["services"][0]["events"]]
    assert any(re.fullmatch(r"\(service web\) has begun draining connections on [12] tasks\.", m) for m in events), events
    assert any(re.fullmatch(rf"\(service web\) deregistered [12] targets in \(target-group {re.escape(group)}\)", m) for m in events), events

    assert any(re.fullmatch(rf"\(service web\) registered 1 targets in \(target-group {re.escape(group)}\)", m) for m in events), events
    code, out, err = run_ecsctl(cluster.endpoint, "service", "describe", "web", "--cluster", cluster.name)
    assert code == 0 and "TARGET GROUP" in out and "healthy" in out and "127.0.0.1:" in out, out + err

    # No healthy target left: 503.
    ecs.update_service(cluster=cluster.name, service="web", desiredCount=0)
    wait_until(lambda: call(cluster, "GET", f"/{api_id}/")[0] == 503, timeout=60, message="no targets")
    assert json.loads(call(cluster, "GET", f"/{api_id}/")[2]) == {"message": "Service Unavailable"}
    ecs.delete_service(cluster=cluster.name, service="web", force=True)


def test_an_openapi_document_is_imported_unchanged_and_exported(cluster, apigw, function_arn, tmp_path):
    definition = {
        "openapi": "3.0.1",
        "info": {"title": "pets-openapi", "version": "1.0"},
        "paths": {
            "/pets/{id}": {"get": {"operationId": "getPet", "responses": {"200": {"description": "a pet"}},
                                   "x-amazon-apigateway-integration": {"type": "aws_proxy", "httpMethod": "POST",
                                                                       "uri": function_arn, "payloadFormatVersion": "1.0"}}},
            "$default": {"x-amazon-apigateway-any-method": {"x-amazon-apigateway-integration": {
                "type": "aws_proxy", "httpMethod": "POST", "uri": function_arn, "payloadFormatVersion": "2.0"}}},
        },
        "x-amazon-apigateway-importexport-version": "1.0",
    }
    api = apigw.import_api(Body=json.dumps(definition))
    api_id = api["ApiId"]
    assert api["Name"] == "pets-openapi" and api["Version"] == "1.0"
    assert {r["RouteKey"] for r in apigw.get_routes(ApiId=api_id)["Items"]} == {"GET /pets/{id}", "$default"}
    apigw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    status, _, body = call(cluster, "GET", f"/{api_id}/pets/9")
    event = json.loads(body)
    assert status == 200 and event["version"] == "1.0" and event["pathParameters"] == {"id": "9"}
    assert json.loads(call(cluster, "GET", f"/{api_id}/other")[2])["version"] == "2.0"

    out = tmp_path / "exported.yaml"
    run_aws(cluster.endpoint, "apigatewayv2", "export-api", "--api-id", api_id, "--specification", "OAS30", "--output-type", "YAML",
            str(out))
    text = out.read_text()
    assert text.startswith('openapi: "3.0.1"\n') and "  /pets/{id}:\n    get:\n" in text and "x-amazon-apigateway-integration:" in text
    exported = apigw.export_api(ApiId=api_id, Specification="OAS30", OutputType="JSON")["body"].read()
    again = apigw.import_api(Body=exported.decode())
    assert {r["RouteKey"] for r in apigw.get_routes(ApiId=again["ApiId"])["Items"]} == {"GET /pets/{id}", "$default"}
    # Reimport replaces the routes.
    definition["paths"] = {"/only": definition["paths"]["/pets/{id}"]}
    apigw.reimport_api(ApiId=api_id, Body=json.dumps(definition))
    assert [r["RouteKey"] for r in apigw.get_routes(ApiId=api_id)["Items"]] == ["GET /only"]
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        apigw.import_api(Body='{"swagger": "2.0"}')
    assert refused.value.response["Error"]["Code"] == "BadRequestException"


def test_a_yaml_openapi_document_with_the_aws_cli(cluster, function_arn, tmp_path):
    document = tmp_path / "api.yaml"
    document.write_text(f"""openapi: "3.0.1"
info:
  title: yaml-pets   # from a file, as written
  version: "2"
paths:
  /hello/{{name}}:
    get:
      x-amazon-apigateway-integration:
        type: AWS_PROXY
        httpMethod: POST
        uri: {function_arn}
        payloadFormatVersion: "2.0"
x-amazon-apigateway-cors:
  allowOrigins: ["https://app.example"]
  allowMethods:
    - GET
""")
    api = json.loads(run_aws(cluster.endpoint, "apigatewayv2", "import-api", "--body", f"file://{document}")[1])
    assert api["Name"] == "yaml-pets" and api["CorsConfiguration"]["AllowMethods"] == ["GET"]
    run_aws(cluster.endpoint, "apigatewayv2", "create-stage", "--api-id", api["ApiId"], "--stage-name", "$default", "--auto-deploy")
    status, _, body = call(cluster, "GET", f"/{api['ApiId']}/hello/yaml")
    assert status == 200 and json.loads(body)["pathParameters"] == {"name": "yaml"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("openapi: 3.0.1\ninfo:\n  title: [unclosed\n")
    code, _, err = run_aws(cluster.endpoint, "apigatewayv2", "import-api", "--body", f"file://{bad}", check=False)
    assert code != 0 and "BadRequestException" in err and "not valid YAML" in err


def test_access_logs_with_context_variables_through_ecsctl(cluster, function_arn):
    api = json.loads(run_aws(cluster.endpoint, "apigatewayv2", "create-api", "--name", "logged", "--protocol-type", "HTTP",
                             "--target", function_arn)[1])["ApiId"]
    group = f"arn:aws:logs:us-east-1:000000000000:log-group:/aws/apigateway/{api}"
    code, _, err = run_aws(cluster.endpoint, "apigatewayv2", "update-stage", "--api-id", api, "--stage-name", "$default",
                           "--access-log-settings", f"DestinationArn={group},Format=$context.status", check=False)
    assert code != 0 and "BadRequestException" in err and "$context.requestId" in err
    log_format = '{"id":"$context.requestId","route":"$context.routeKey","status":"$context.status","ip":"$context.identity.sourceIp"}'
    run_aws(cluster.endpoint, "apigatewayv2", "update-stage", "--api-id", api, "--stage-name", "$default", "--access-log-settings",
            json.dumps({"DestinationArn": group, "Format": log_format}))
    _, headers, _ = call(cluster, "GET", f"/{api}/first")
    call(cluster, "POST", f"/{api}/second")
    code, out, err = run_ecsctl(cluster.endpoint, "api", "logs", api)
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["status"] for line in lines] == ["200", "200"] and lines[0]["route"] == "$default"
    assert lines[0]["id"] == header(headers, "apigw-requestid") and lines[0]["ip"] == "127.0.0.1"
    code, out, err = run_ecsctl(cluster.endpoint, "api", "logs", api, "--stage", "nope")
    assert code != 0
    code, out, err = run_ecsctl(cluster.endpoint, "api", "describe", api)
    assert code == 0 and f"/aws/apigateway/{api}" in out and "ACCESS LOG" in out, out + err


EDGE = '''
def handler(event, context):
    cf = event["Records"][0]["cf"]
    if cf["config"]["eventType"] == "viewer-request":
        request = cf["request"]
        if request["uri"] == "/blocked":
            return {"status": "403", "statusDescription": "Forbidden", "body": "blocked at the edge"}
        if request["uri"].startswith("/old/"):
            request["uri"] = "/new/" + request["uri"][len("/old/"):]
        request["headers"]["x-edge"] = [{"key": "X-Edge", "value": "viewer"}]
        return request
    response = cf["response"]
    response["headers"]["x-edge-response"] = [{"key": "X-Edge-Response", "value": cf["config"]["eventType"]}]
    return response
'''


def test_edge_functions_rewrite_answer_and_change_responses(cluster, apigw, function_arn):
    lam = cluster.client("lambda")
    lam.create_function(FunctionName="edge", Runtime="python3.11", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_files({"app.py": EDGE})}, Timeout=5, MemorySize=128)
    lam.get_waiter("function_active_v2").wait(FunctionName="edge")
    edge = lam.get_function(FunctionName="edge")["Configuration"]["FunctionArn"]
    api_id = apigw.create_api(Name="edge", ProtocolType="HTTP", Target=function_arn)["ApiId"]
    apigw.create_stage(ApiId=api_id, StageName="cdn", AutoDeploy=True,
                       Tags={"stevedore:edge:viewer-request": edge, "stevedore:edge:viewer-response": edge})
    status, headers, body = call(cluster, "GET", f"/{api_id}/cdn/old/thing")
    event = json.loads(body)
    assert status == 200 and event["rawPath"] == "/cdn/new/thing" and event["headers"]["x-edge"] == "viewer", body
    assert header(headers, "x-edge-response") == "viewer-response"
    status, headers, body = call(cluster, "GET", f"/{api_id}/cdn/blocked")
    assert (status, body) == (403, b"blocked at the edge")
    # A viewer function above Lambda@Edge's 128 MB is not run.
    lam.create_function(FunctionName="edge-big", Runtime="python3.11", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_files({"app.py": EDGE})}, Timeout=5, MemorySize=256)
    lam.get_waiter("function_active_v2").wait(FunctionName="edge-big")
    big = lam.get_function(FunctionName="edge-big")["Configuration"]["FunctionArn"]
    apigw.create_stage(ApiId=api_id, StageName="big", AutoDeploy=True, Tags={"stevedore:edge:viewer-request": big})
    status, _, body = call(cluster, "GET", f"/{api_id}/big/x")
    assert (status, json.loads(body)) == (502, {"message": "Bad Gateway"})
    code, out, err = run_ecsctl(cluster.endpoint, "api", "describe", api_id)
    assert code == 0 and "viewer-request=edge viewer-response=edge" in out and "viewer-request=edge-big" in out, out + err
    # The $default stage has no edge functions.
    status, headers, body = call(cluster, "GET", f"/{api_id}/old/thing")
    assert status == 200 and json.loads(body)["rawPath"] == "/old/thing" and header(headers, "x-edge-response") == []


CHAT = '''
import json
def handler(event, context):
    if event.get("type") == "REQUEST":
        # As the $connect route's authorizer: the token "open" lets in.
        token = (event.get("queryStringParameters") or {}).get("token")
        return {"principalId": "ann", "context": {"team": "blue"}, "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow" if token == "open" else "Deny", "Resource": event["methodArn"]}]}}
    request = event["requestContext"]
    if request["eventType"] == "CONNECT":
        if not (event.get("queryStringParameters") or {}).get("name"):
            return {"statusCode": 401, "body": "a name is required"}
        return {"statusCode": 200}
    return {"statusCode": 200, "body": json.dumps({
        "route": request["routeKey"], "type": request["eventType"], "connectionId": request["connectionId"],
        "stage": request["stage"], "messageId": bool(request.get("messageId")), "body": event.get("body"),
        "base64": event["isBase64Encoded"], "principal": request.get("authorizer", {}).get("principalId")})}
'''


class Recorder(BaseHTTPRequestHandler):
    """Keeps what the gateway sends it (a WebSocket API's $disconnect route)."""
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        Recorder.received.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_websocket_api_in_front_of_an_awslambdaric_function(cluster, apigw):
    import asyncio
    import websockets

    lam = cluster.client("lambda")
    lam.create_function(FunctionName="chat", Runtime="python3.11", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_files({"app.py": CHAT})}, Timeout=10)
    lam.get_waiter("function_active_v2").wait(FunctionName="chat")
    chat_arn = lam.get_function(FunctionName="chat")["Configuration"]["FunctionArn"]
    recorder = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=recorder.serve_forever, daemon=True).start()

    api_id = apigw.create_api(Name="chat", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action")["ApiId"]
    function = apigw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=chat_arn)
    assert function["PayloadFormatVersion"] == "1.0"
    target = "integrations/" + function["IntegrationId"]
    gate = apigw.create_authorizer(ApiId=api_id, Name="gate", AuthorizerType="REQUEST", AuthorizerUri=chat_arn,
                                   IdentitySource=["route.request.querystring.token"])["AuthorizerId"]
    apigw.create_route(ApiId=api_id, RouteKey="$connect", Target=target, AuthorizationType="CUSTOM", AuthorizerId=gate)
    default = apigw.create_route(ApiId=api_id, RouteKey="$default", Target=target, RouteResponseSelectionExpression="$default")
    apigw.create_route_response(ApiId=api_id, RouteId=default["RouteId"], RouteResponseKey="$default")
    # A route without a route response: the function runs, the client hears nothing back.
    apigw.create_route(ApiId=api_id, RouteKey="quiet", Target=target)
    notify = apigw.create_integration(ApiId=api_id, IntegrationType="HTTP_PROXY", IntegrationMethod="POST",
                                      IntegrationUri=f"http://127.0.0.1:{recorder.server_address[1]}/gone")
    apigw.create_route(ApiId=api_id, RouteKey="$disconnect", Target="integrations/" + notify["IntegrationId"])
    apigw.create_stage(ApiId=api_id, StageName="live", AutoDeploy=True)
    url = f"ws://127.0.0.1:{cluster.server.gateway_port}/{api_id}/live"

    async def refused(query):
        with pytest.raises(websockets.InvalidStatus) as raised:
            async with websockets.connect(url + query):
                pass
        return raised.value.response

    async def talk():
        async with websockets.connect(url + "?name=ann&token=open") as ws:
            await ws.send(json.dumps({"action": "quiet"}))
            await ws.send("hello")
            first = json.loads(await ws.recv())
            await ws.send(b"\x00\x01")
            second = json.loads(await ws.recv())
            return first, second

    # The authorizer first: no token is 401 without asking it, a token it denies 403; then $connect's function.
    assert asyncio.run(asyncio.wait_for(refused(""), 60)).status_code == 401
    assert asyncio.run(asyncio.wait_for(refused("?token=shut"), 60)).status_code == 403
    response = asyncio.run(asyncio.wait_for(refused("?token=open"), 60))
    assert response.status_code == 401 and response.body == b"a name is required"
    first, second = asyncio.run(asyncio.wait_for(talk(), 60))
    assert first["route"] == "$default" and first["type"] == "MESSAGE" and first["body"] == "hello"
    assert first["principal"] == "ann"
    assert first["stage"] == "live" and first["messageId"] and not first["base64"]
    assert second["base64"] and base64.b64decode(second["body"]) == b"\x00\x01"
    # Closing the connection runs $disconnect, here an HTTP backend told the connection's id.
    wait_until(lambda: any(r["headers"].get("connectionid") == first["connectionId"] for r in Recorder.received),
               timeout=20, message="$disconnect reached the backend")
    recorder.shutdown()


def test_a_rest_api_in_front_of_an_awslambdaric_function(cluster, function_arn):
    rest = cluster.client("apigateway")
    api_id = rest.create_rest_api(name="rest-echo")["id"]
    root = rest.get_resources(restApiId=api_id)["items"][0]["id"]
    proxy = rest.create_resource(restApiId=api_id, parentId=root, pathPart="{proxy+}")["id"]
    rest.put_method(restApiId=api_id, resourceId=proxy, httpMethod="ANY", authorizationType="NONE", apiKeyRequired=True)
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function_arn}/invocations"
    rest.put_integration(restApiId=api_id, resourceId=proxy, httpMethod="ANY", type="AWS_PROXY", integrationHttpMethod="POST", uri=uri)
    rest.create_deployment(restApiId=api_id, stageName="v1", variables={"tier": "gold"})
    key = rest.create_api_key(name="caller", enabled=True)
    plan = rest.create_usage_plan(name="open", apiStages=[{"apiId": api_id, "stage": "v1"}])
    rest.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")

    status, headers, body = call(cluster, "POST", f"/{api_id}/v1/shelf/books?x=1&x=2", headers={"x-api-key": key["value"]}, body=b"{}")
    assert status == 200 and header(headers, "x-echo") == "yes"
    event = json.loads(body)
    # REST APIs' events: no version, the resource's path, the path without the stage.
    assert "version" not in event
    assert (event["resource"], event["path"], event["httpMethod"]) == ("/{proxy+}", "/shelf/books", "POST")
    assert event["pathParameters"] == {"proxy": "shelf/books"} and event["stageVariables"] == {"tier": "gold"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]} and event["queryStringParameters"] == {"x": "2"}
    context = event["requestContext"]
    assert (context["path"], context["stage"], context["resourcePath"], context["resourceId"]) == ("/v1/shelf/books", "v1", "/{proxy+}", proxy)
    assert context["identity"]["apiKey"] == key["value"] and context["identity"]["apiKeyId"] == key["id"]
    # Without the key: 403; a function that fails: 502, as REST APIs answer.
    assert call(cluster, "GET", f"/{api_id}/v1/shelf")[0] == 403
    status, _, body = call(cluster, "GET", f"/{api_id}/v1/shelf?mode=raise", headers={"x-api-key": key["value"]})
    assert (status, json.loads(body)) == (502, {"message": "Internal server error"})


def test_a_rest_api_maps_requests_to_a_function_and_its_errors_to_statuses(cluster, function_arn):
    """AWS (non-proxy): the request template makes the event, the answer goes through the
    integration responses; a function error is selected by its errorMessage."""
    rest = cluster.client("apigateway")
    api_id = rest.create_rest_api(name="mapped-echo")["id"]
    root = rest.get_resources(restApiId=api_id)["items"][0]["id"]
    pets = rest.create_resource(restApiId=api_id, parentId=root, pathPart="pets")["id"]
    rest.put_method(restApiId=api_id, resourceId=pets, httpMethod="POST", authorizationType="NONE")
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function_arn}/invocations"
    rest.put_integration(restApiId=api_id, resourceId=pets, httpMethod="POST", type="AWS", integrationHttpMethod="POST", uri=uri,
                         requestTemplates={"application/json": '{"queryStringParameters": {"mode": "$input.params(\'mode\')"}, '
                                                               '"pet": $input.json(\'$.name\')}'})
    for status in ("200", "400"):
        rest.put_method_response(restApiId=api_id, resourceId=pets, httpMethod="POST", statusCode=status)
    rest.put_integration_response(restApiId=api_id, resourceId=pets, httpMethod="POST", statusCode="200", responseTemplates={
        "application/json": '#set($event = $util.parseJson($input.path(\'$.body\')))\n{"pet": "$event.pet", "status": $input.path(\'$.statusCode\')}'})
    rest.put_integration_response(restApiId=api_id, resourceId=pets, httpMethod="POST", statusCode="400", selectionPattern=".*boom.*",
                                  responseTemplates={"application/json": '{"error": "$input.path(\'$.errorMessage\')"}'})
    rest.create_deployment(restApiId=api_id, stageName="v1")
    status, _, body = call(cluster, "POST", f"/{api_id}/v1/pets", headers={"Content-Type": "application/json"}, body=b'{"name": "rex"}')
    assert (status, json.loads(body)) == (200, {"pet": "rex", "status": 200})
    status, _, body = call(cluster, "POST", f"/{api_id}/v1/pets?mode=raise", headers={"Content-Type": "application/json"}, body=b"{}")
    assert (status, json.loads(body)) == (400, {"error": "boom"})


GATEKEEPER = '''
def handler(event, context):
    # A REST authorizer: TOKEN events carry authorizationToken, REQUEST events the headers.
    token = event.get("authorizationToken") or (event.get("headers") or {}).get("x-token")
    if token == "fail":
        raise ValueError("the gatekeeper fell over")
    return {"principalId": "user-1", "context": {"plan": "gold", "n": 3}, "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Action": "execute-api:Invoke", "Effect": "Allow" if token == "allow" else "Deny", "Resource": event["methodArn"]}]}}
'''


def test_rest_api_lambda_authorizers_with_token_and_request_identities(cluster, function_arn):
    lam = cluster.client("lambda")
    lam.create_function(FunctionName="rest-gatekeeper", Runtime="python3.11", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_files({"app.py": GATEKEEPER})}, Timeout=10)
    lam.get_waiter("function_active_v2").wait(FunctionName="rest-gatekeeper")
    gatekeeper = lam.get_function(FunctionName="rest-gatekeeper")["Configuration"]["FunctionArn"]
    invocations = lambda arn: f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"

    rest = cluster.client("apigateway")
    api_id = rest.create_rest_api(name="guarded")["id"]
    root = rest.get_resources(restApiId=api_id)["items"][0]["id"]
    token = rest.create_authorizer(restApiId=api_id, name="token", type="TOKEN", authorizerUri=invocations(gatekeeper),
                                   identitySource="method.request.header.Authorization", identityValidationExpression="allow|deny|fail",
                                   authorizerResultTtlInSeconds=0)
    assert token["authorizerResultTtlInSeconds"] == 0 and token["type"] == "TOKEN"
    by_request = rest.create_authorizer(restApiId=api_id, name="request", type="REQUEST", authorizerUri=invocations(gatekeeper),
                                        identitySource="method.request.header.x-token")
    assert by_request["authorizerResultTtlInSeconds"] == 300
    for part, authorizer in (("token", token["id"]), ("request", by_request["id"])):
        resource = rest.create_resource(restApiId=api_id, parentId=root, pathPart=part)["id"]
        rest.put_method(restApiId=api_id, resourceId=resource, httpMethod="GET", authorizationType="CUSTOM", authorizerId=authorizer)
        rest.put_integration(restApiId=api_id, resourceId=resource, httpMethod="GET", type="AWS_PROXY", integrationHttpMethod="POST",
                             uri=invocations(function_arn))
    rest.create_deployment(restApiId=api_id, stageName="live")

    def get(path, **headers):
        status, _, body = call(cluster, "GET", f"/{api_id}/live/{path}", headers=headers)
        return status, json.loads(body)

    assert get("token") == (401, {"message": "Unauthorized"})
    assert get("token", Authorization="bogus") == (401, {"message": "Unauthorized"})
    assert get("token", Authorization="deny") == \
        (403, {"Message": "User is not authorized to access this resource with an explicit deny"})
    assert get("token", Authorization="fail") == (500, {"message": None})
    status, event = get("token", Authorization="allow")
    assert status == 200
    assert event["requestContext"]["authorizer"] == {"principalId": "user-1", "plan": "gold", "n": "3"}
    assert get("request")[0] == 401
    assert get("request", **{"x-token": "deny"})[0] == 403
    status, event = get("request", **{"x-token": "allow"})
    assert status == 200 and event["requestContext"]["authorizer"]["principalId"] == "user-1"
    # An authorizer a method uses cannot be deleted.
    with pytest.raises(botocore.exceptions.ClientError) as used:
        rest.delete_authorizer(restApiId=api_id, authorizerId=token["id"])
    assert used.value.response["Error"]["Code"] == "BadRequestException"


def test_target_group_health_checks_keep_requests_off_failing_tasks(cluster, apigw):
    build_busybox_image()
    ecs, elb = cluster.client("ecs"), cluster.client("elbv2")
    group = elb.create_target_group(Name="checked", Protocol="HTTP", Port=8080, VpcId="vpc-local", HealthCheckPath="/health",
                                    HealthCheckIntervalSeconds=5, HealthyThresholdCount=2, UnhealthyThresholdCount=2,
                                    Matcher={"HttpCode": "200-299"})["TargetGroups"][0]
    arn = group["TargetGroupArn"]
    assert group["HealthCheckTimeoutSeconds"] == 4 and arn.startswith("arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/checked/")

    def definition(name, healthy):
        health = "echo ok > /www/health && " if healthy else ""
        return ecs.register_task_definition(family=f"gw-{name}", containerDefinitions=[{
            "name": "web", "image": BUSYBOX_IMAGE, "memory": 32, "essential": True, "stopTimeout": 2,
            "command": ["sh", "-c", f"mkdir -p /www && echo {name} > /www/index.html && {health}exec httpd -f -p 8080 -h /www"],
            "portMappings": [{"containerPort": 8080, "hostPort": 0}]}])["taskDefinition"]["taskDefinitionArn"]

    for name, healthy in (("good", True), ("bad", False)):
        ecs.create_service(cluster=cluster.name, serviceName=name, taskDefinition=definition(name, healthy), desiredCount=1,
                           loadBalancers=[{"targetGroupArn": arn, "containerName": "web", "containerPort": 8080}])

    def states():
        return sorted(d["TargetHealth"]["State"] for d in elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"])

    wait_until(lambda: states() == ["healthy", "unhealthy"], timeout=120, message="one target healthy, one not")
    failing = [d for d in elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
               if d["TargetHealth"]["State"] == "unhealthy"][0]
    assert failing["TargetHealth"]["Reason"] == "Target.ResponseCodeMismatch"
    assert failing["TargetHealth"]["Description"] == "Health checks failed with these codes: [404]"
    # The console's service page shows its target group's targets with the same health.
    with urllib.request.urlopen(f"{cluster.endpoint}/console/api/services/{cluster.name}/bad", timeout=10) as response:
        [shown] = json.load(response)["targetGroups"]
    assert shown["arn"] == arn and sorted(target["state"] for target in shown["targets"]) == ["healthy", "unhealthy"]
    assert any(target.get("description") == "Health checks failed with these codes: [404]" for target in shown["targets"])
    api_id = apigw.create_api(Name="checked", ProtocolType="HTTP", Target=arn)["ApiId"]
    answers = {call(cluster, "GET", f"/{api_id}/")[2].decode().strip() for _ in range(12)}
    assert answers == {"good"}, answers

    # A group a service names cannot be deleted.
    with pytest.raises(botocore.exceptions.ClientError) as in_use:
        elb.delete_target_group(TargetGroupArn=arn)
    assert in_use.value.response["Error"]["Code"] == "ResourceInUse"
    for name in ("good", "bad"):
        ecs.delete_service(cluster=cluster.name, service=name, force=True)
