"""Malformed and random requests against a live ecsd, signed and unsigned: every one gets an HTTP
answer (a refusal, never a server fault), and ecsd stays up and correct afterwards."""
import http.client
import json
import os
import random

import pytest

from conftest import Ecsd
from test_authentication import admin_credentials, client

TARGETS = ["AmazonEC2ContainerServiceV20141113.RunTask", "AmazonEC2ContainerServiceV20141113.RegisterTaskDefinition",
           "AmazonEC2ContainerServiceV20141113.CreateService", "AmazonSSM.PutParameter", "secretsmanager.CreateSecret",
           "AnyScaleFrontendService.PutScalingPolicy", "AmazonSQS.SendMessage", "Nope.Nothing", ""]
PATHS = ["/", "/2015-03-31/functions", "/2015-03-31/functions/%ff%fe/invocations", "/v1/agent/poll", "/v1/agent/secrets",
         "/v1/tasks/logs?task=%00", "/2017-03-31/tags/arn%3A", "/" + "a" * 3000, "/../../etc/passwd"]
CONTENT_TYPES = ["application/x-amz-json-1.1", "application/x-www-form-urlencoded", "application/json", "text/plain", ""]


def random_body(rng):
    kind = rng.randrange(6)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(2000)))
    if kind == 1:
        return json.dumps({"family": "x" * rng.randrange(300), "containerDefinitions": [{"name": rng.random()}] * rng.randrange(3),
                           "count": rng.choice([-1, 0, 10 ** 12, "3", None])}).encode()
    if kind == 2:
        return ("Action=" + rng.choice(["CreateUser", "PutUserPolicy", "GetCallerIdentity", "%ZZ", ""]) +
                "&UserName=" + "%" * rng.randrange(3) + "&PolicyDocument=" + "{" * rng.randrange(50)).encode()
    if kind == 3:
        return b"[" * rng.randrange(10000)
    if kind == 4:
        return b'{"a":' + b'"\\ud800' * rng.randrange(100) + b'"}'
    return b""


@pytest.mark.parametrize("auth", ["on", "off"])
def test_random_requests_get_refusals_and_ecsd_survives(data_dir, auth):
    server = Ecsd(os.path.join(data_dir, auth), auth=auth).start()
    try:
        rng = random.Random(20261130)
        statuses = {}
        for number in range(600):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            headers = {"Content-Type": rng.choice(CONTENT_TYPES), "X-Amz-Target": rng.choice(TARGETS)}
            if rng.random() < 0.5:
                headers["Authorization"] = rng.choice([
                    "AWS4-HMAC-SHA256 Credential=AKIA/20261130/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=00",
                    "AWS4-HMAC-SHA256", "garbage", "AWS4-HMAC-SHA256 Credential=" + "/" * 500])
                headers["X-Amz-Date"] = rng.choice(["20261130T000000Z", "not a date", ""])
            if rng.random() < 0.2:
                headers["X-Amz-Security-Token"] = rng.choice(["STV1AAAA", "STV1" + "x" * 2000, ""])
            method = rng.choice(["POST", "GET", "PUT", "DELETE"])
            connection.request(method, rng.choice(PATHS), body=random_body(rng), headers={k: v for k, v in headers.items() if v})
            status = connection.getresponse().status
            connection.close()
            statuses[status] = statuses.get(status, 0) + 1
            assert status < 500 or status == 503, f"request {number}: {status}"
        # Still up, and still right.
        if auth == "on":
            _, key_id, secret = admin_credentials(server)
            ecs = client(server, "ecs", key_id, secret)
        else:
            ecs = client(server, "ecs", "any", "any")
        ecs.create_cluster(clusterName="after-the-noise")
        assert any(arn.endswith("/after-the-noise") for arn in ecs.list_clusters()["clusterArns"])
        assert server.process.poll() is None
        assert sum(statuses.values()) == 600
    finally:
        server.stop()


def test_random_requests_to_the_gateway_get_gateway_answers(data_dir):
    """The gateway's listener with random methods, hosts, paths, headers and bodies: each gets one of
    the gateway's answers (its 5xx only as API Gateway words them), and ecsd stays up."""
    from conftest import free_port
    server = Ecsd(os.path.join(data_dir, "gateway"), auth="off").start()
    try:
        apigw = client(server, "apigatewayv2", "any", "any")
        api = apigw.create_api(Name="noise", ProtocolType="HTTP", Target=f"http://127.0.0.1:{free_port()}/{{proxy}}",
                               RouteKey="ANY /p/{proxy+}",
                               CorsConfiguration={"AllowOrigins": ["https://a.example"], "AllowMethods": ["GET"]})["ApiId"]
        authorizer = apigw.create_authorizer(ApiId=api, Name="jwt", AuthorizerType="JWT", IdentitySource=["$request.header.Authorization"],
                                             JwtConfiguration={"Issuer": f"http://127.0.0.1:{free_port()}", "Audience": ["a"]})
        integration = apigw.get_integrations(ApiId=api)["Items"][0]["IntegrationId"]
        apigw.create_route(ApiId=api, RouteKey="GET /secure/{id}", Target="integrations/" + integration, AuthorizationType="JWT",
                           AuthorizerId=authorizer["AuthorizerId"])
        apigw.create_stage(ApiId=api, StageName="prod", AutoDeploy=True, StageVariables={"v": "1"},
                           DefaultRouteSettings={"ThrottlingBurstLimit": 50, "ThrottlingRateLimit": 100.0},
                           AccessLogSettings={"DestinationArn": "arn:aws:logs:us-east-1:000000000000:log-group:noise",
                                              "Format": "$context.requestId $context.status $context.error.message"})
        rng = random.Random(20261201)
        hosts = [f"{api}.execute-api.localhost", "127.0.0.1", "x.execute-api.", ".execute-api.localhost", "%00", "a" * 300]
        paths = [f"/{api}/p/x", f"/{api}/prod/secure/1", f"/{api}/secure/%ff", f"/{api}/prod", "/", "//", f"/{api}/p/" + "%2e%2e/" * 20,
                 "/nope/x", f"/{api}/p/" + "a/" * 500, f"/{api}/prod/p/{{x}}?a=%ZZ&&=&b"]
        gateway_messages = {"Not Found", "Internal Server Error", "Service Unavailable", "Unauthorized", "Forbidden",
                            "Too Many Requests", "Request Entity Too Large"}
        statuses = {}
        for number in range(500):
            connection = http.client.HTTPConnection("127.0.0.1", server.gateway_port, timeout=30)
            headers = {"Host": rng.choice(hosts)}
            if rng.random() < 0.4:
                headers["Origin"] = rng.choice(["https://a.example", "null", "x" * 500])
                headers["Access-Control-Request-Method"] = rng.choice(["GET", "DELETE", ""])
            if rng.random() < 0.4:
                headers["Authorization"] = rng.choice(["Bearer " + "a.b.c", "Bearer", "Bearer ....", "eyJ" + "A" * 3000 + ".e30.x"])
            if rng.random() < 0.3:
                headers["Content-Type"] = rng.choice(["application/json", "image/png", "text/plain; charset=latin1", ""])
            method = rng.choice(["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "HEAD", "BREW"])
            connection.request(method, rng.choice(paths), body=random_body(rng), headers={k: v for k, v in headers.items() if v})
            response = connection.getresponse()
            body = response.read()
            connection.close()
            statuses[response.status] = statuses.get(response.status, 0) + 1
            if response.status >= 500 and method != "HEAD":
                assert json.loads(body)["message"] in gateway_messages, f"request {number}: {response.status} {body[:200]}"
        assert server.process.poll() is None and sum(statuses.values()) == 500
        assert apigw.get_api(ApiId=api)["Name"] == "noise"
    finally:
        server.stop()
