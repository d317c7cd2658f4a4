"""API Gateway WebSocket APIs for real: built with the aws CLI and boto3, connected to with Python's
`websockets`, reached back through `apigatewaymanagementapi` (`@connections`) signed with the
administrator's key. MOCK integrations answer here, so no Docker is needed; functions behind
WebSocket routes are in test_gateway.py."""
import asyncio
import http.client
import json
import os
import time

import boto3
import pytest
import websockets
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import Ecsd, run_aws

NO_RETRIES = Config(retries={"max_attempts": 1})


def admin_keys(server):
    values = {}
    with open(os.path.join(server.data_dir, "admin-credentials")) as f:
        for line in f:
            if "=" in line:
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
    return values["aws_access_key_id"], values["aws_secret_access_key"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # Requests are signed (auth on): @connections needs the caller's signature, as AWS's does.
    # Connections idle for 1 s are closed, and none lives longer than 4 s (AWS: 10 min and 2 h).
    ecsd = Ecsd(str(tmp_path_factory.mktemp("websocket")), auth="on",
                extra_args=["--websocket-idle-timeout", "1", "--websocket-max-lifetime", "4"]).start()
    yield ecsd
    ecsd.stop()


@pytest.fixture(scope="module")
def keys(server):
    return admin_keys(server)


def client(server, keys, service, endpoint=None):
    return boto3.client(service, endpoint_url=endpoint or server.endpoint, region_name="us-east-1", aws_access_key_id=keys[0],
                        aws_secret_access_key=keys[1], config=NO_RETRIES)


@pytest.fixture(scope="module")
def apigw(server, keys):
    return client(server, keys, "apigatewayv2")


def mock_api(apigw, name="chat", connect_status=None):
    """A WebSocket API whose `echo` route answers with the message and the connection's id, and
    whose `$connect` route (when asked) answers the handshake with `connect_status`."""
    api = apigw.create_api(Name=name, ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action")
    api_id = api["ApiId"]
    echo = apigw.create_integration(ApiId=api_id, IntegrationType="MOCK", TemplateSelectionExpression="\\$default",
                                    RequestTemplates={"$default": '{"statusCode": 200}'})["IntegrationId"]
    apigw.create_integration_response(
        ApiId=api_id, IntegrationId=echo, IntegrationResponseKey="$default",
        ResponseTemplates={"$default": '{"connectionId":"$context.connectionId","route":"$context.routeKey","text":$input.json(\'$.text\')}'})
    route = apigw.create_route(ApiId=api_id, RouteKey="echo", Target=f"integrations/{echo}", RouteResponseSelectionExpression="$default")
    apigw.create_route_response(ApiId=api_id, RouteId=route["RouteId"], RouteResponseKey="$default")
    if connect_status:
        gate = apigw.create_integration(ApiId=api_id, IntegrationType="MOCK",
                                        RequestTemplates={"$default": json.dumps({"statusCode": connect_status})})["IntegrationId"]
        apigw.create_route(ApiId=api_id, RouteKey="$connect", Target=f"integrations/{gate}")
    apigw.create_stage(ApiId=api_id, StageName="prod", AutoDeploy=True)
    return api_id


def url(server, api_id):
    return f"ws://127.0.0.1:{server.gateway_port}/{api_id}/prod"


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 30))


def test_a_websocket_api_built_with_the_aws_cli_answers_through_mock_routes(server, keys, monkeypatch):
    env_endpoint = server.endpoint
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", keys[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", keys[1])
    created = json.loads(run_aws(env_endpoint, "apigatewayv2", "create-api", "--name", "cli-chat", "--protocol-type", "WEBSOCKET",
                                 "--route-selection-expression", "$request.body.action")[1])
    api_id = created["ApiId"]
    assert created["ProtocolType"] == "WEBSOCKET"
    assert created["ApiEndpoint"] == f"ws://{api_id}.execute-api.localhost:{server.gateway_port}"
    assert created["RouteSelectionExpression"] == "$request.body.action"
    integration = json.loads(run_aws(env_endpoint, "apigatewayv2", "create-integration", "--api-id", api_id, "--integration-type", "MOCK",
                                     "--request-templates", '{"$default": "{\\"statusCode\\": 200}"}')[1])
    assert integration["PassthroughBehavior"] == "WHEN_NO_MATCH"
    assert integration["TimeoutInMillis"] == 29000
    run_aws(env_endpoint, "apigatewayv2", "create-integration-response", "--api-id", api_id, "--integration-id",
            integration["IntegrationId"], "--integration-response-key", "$default",
            "--response-templates", '{"$default": "pong from $context.stage"}')
    route = json.loads(run_aws(env_endpoint, "apigatewayv2", "create-route", "--api-id", api_id, "--route-key", "$default",
                               "--target", "integrations/" + integration["IntegrationId"],
                               "--route-response-selection-expression", "$default")[1])
    run_aws(env_endpoint, "apigatewayv2", "create-route-response", "--api-id", api_id, "--route-id", route["RouteId"],
            "--route-response-key", "$default")
    responses = json.loads(run_aws(env_endpoint, "apigatewayv2", "get-route-responses", "--api-id", api_id,
                                   "--route-id", route["RouteId"])[1])["Items"]
    assert [item["RouteResponseKey"] for item in responses] == ["$default"]
    run_aws(env_endpoint, "apigatewayv2", "create-stage", "--api-id", api_id, "--stage-name", "prod", "--auto-deploy")

    async def talk():
        # By the API's endpoint, as ApiEndpoint gives it (the stage in the path); the connection
        # itself goes to 127.0.0.1.
        async with websockets.connect(created["ApiEndpoint"] + "/prod", host="127.0.0.1", port=server.gateway_port) as ws:
            await ws.send("anything at all")
            return await ws.recv()

    assert run(talk()) == "pong from prod"


def test_messages_take_the_route_their_body_names_and_others_are_forbidden(server, apigw):
    api_id = mock_api(apigw)

    async def talk():
        async with websockets.connect(url(server, api_id)) as ws:
            await ws.send(json.dumps({"action": "echo", "text": "hello"}))
            echoed = json.loads(await ws.recv())
            await ws.send(json.dumps({"action": "shout", "text": "no such route"}))
            forbidden = json.loads(await ws.recv())
            await ws.send("not json")
            unparsable = json.loads(await ws.recv())
            return echoed, forbidden, unparsable

    echoed, forbidden, unparsable = run(talk())
    assert echoed["route"] == "echo" and echoed["text"] == "hello"
    assert len(echoed["connectionId"]) == 16
    # No route and no $default: API Gateway's own answer.
    assert forbidden["message"] == "Forbidden" and forbidden["connectionId"] == echoed["connectionId"]
    assert forbidden["requestId"]
    assert unparsable["message"] == "Forbidden"


def test_connect_route_refuses_the_handshake_with_its_status(server, apigw):
    api_id = mock_api(apigw, name="closed", connect_status=403)

    async def connect():
        async with websockets.connect(url(server, api_id)):
            pass

    with pytest.raises(websockets.InvalidStatus) as refused:
        run(connect())
    assert refused.value.response.status_code == 403

    # An API with no such stage, or no API at all: the handshake is not found.
    for where in (f"{api_id}/staging", "nosuchapi/prod"):
        with pytest.raises(websockets.InvalidStatus) as missing:
            run(websockets.connect(f"ws://127.0.0.1:{server.gateway_port}/{where}").__aenter__())
        assert missing.value.response.status_code == 404


def test_connections_are_reached_through_signed_management_calls(server, keys, apigw):
    api_id = mock_api(apigw, name="managed")
    management = client(server, keys, "apigatewaymanagementapi", endpoint=f"{server.gateway}/{api_id}/prod")

    async def talk():
        async with websockets.connect(url(server, api_id)) as ws:
            await ws.send(json.dumps({"action": "echo", "text": "who am i"}))
            connection_id = json.loads(await ws.recv())["connectionId"]
            described = await asyncio.to_thread(management.get_connection, ConnectionId=connection_id)
            await asyncio.to_thread(management.post_to_connection, ConnectionId=connection_id, Data=b'{"pushed": true}')
            pushed = await ws.recv()
            await asyncio.to_thread(management.delete_connection, ConnectionId=connection_id)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            return connection_id, described, pushed, closed.value

    connection_id, described, pushed, closed = run(talk())
    assert described["Identity"]["SourceIp"] == "127.0.0.1"
    assert described["Identity"]["UserAgent"].startswith("Python/")
    assert described["ConnectedAt"] <= described["LastActiveAt"]
    assert json.loads(pushed) == {"pushed": True}
    assert closed.rcvd.code == 1000

    # Once closed, the connection is gone.
    with pytest.raises(ClientError) as gone:
        management.post_to_connection(ConnectionId=connection_id, Data=b"late")
    assert gone.value.response["Error"]["Code"] == "GoneException"
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410
    with pytest.raises(ClientError) as gone:
        management.get_connection(ConnectionId="AAAAAAAAAAAAAAA=")
    assert gone.value.response["Error"]["Code"] == "GoneException"

    # A caller whose signature does not check out is refused.
    forged = boto3.client("apigatewaymanagementapi", endpoint_url=f"{server.gateway}/{api_id}/prod", region_name="us-east-1",
                          aws_access_key_id=keys[0], aws_secret_access_key="wrong" + keys[1], config=NO_RETRIES)
    with pytest.raises(ClientError) as refused:
        forged.get_connection(ConnectionId=connection_id)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403

    # Plain HTTP to the stage itself asks for the upgrade.
    connection = http.client.HTTPConnection("127.0.0.1", server.gateway_port, timeout=10)
    connection.request("GET", f"/{api_id}/prod")
    assert connection.getresponse().status == 426


def test_idle_connections_and_old_connections_are_closed(server, apigw):
    api_id = mock_api(apigw, name="lifetimes")

    async def idle():
        async with websockets.connect(url(server, api_id), ping_interval=None) as ws:
            started = time.monotonic()
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            return closed.value.rcvd.code, time.monotonic() - started

    code, waited = run(idle())
    assert code == 1001 and waited < 3.5

    async def busy():
        # A message every 0.3 s keeps the connection from idling; its maximum lifetime (4 s) still ends it.
        async with websockets.connect(url(server, api_id), ping_interval=None) as ws:
            started = time.monotonic()
            try:
                while True:
                    await ws.send(json.dumps({"action": "echo", "text": "still here"}))
                    await ws.recv()
                    await asyncio.sleep(0.3)
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None, time.monotonic() - started

    code, lived = run(busy())
    assert code == 1001 and 3.5 <= lived < 8


def test_frames_over_32_kb_and_messages_over_128_kb_close_the_connection(server, apigw):
    api_id = mock_api(apigw, name="sizes")

    async def send(message):
        async with websockets.connect(url(server, api_id), max_size=None) as ws:
            await ws.send(message)
            try:
                return json.loads(await ws.recv())
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code

    # 100 KB in 25 KB fragments is one message within the limits.
    text = "x" * 100_000
    body = json.dumps({"action": "echo", "text": text})
    fragments = [body[i:i + 25_000] for i in range(0, len(body), 25_000)]
    assert run(send(fragments))["text"] == text
    assert run(send(json.dumps({"action": "echo", "text": "y" * 40_000}))) == 1009
    # 150 KB in 30 KB fragments is over the message limit.
    assert run(send(["z" * 30_000] * 5)) == 1009


def test_control_api_errors_for_websocket_apis(server, apigw):
    def refused(call, **arguments):
        with pytest.raises(ClientError) as caught:
            call(**arguments)
        return caught.value.response["Error"]

    error = refused(apigw.create_api, Name="x", ProtocolType="WEBSOCKET")
    assert error["Code"] == "BadRequestException" and "RouteSelectionExpression" in error["Message"]
    error = refused(apigw.create_api, Name="x", ProtocolType="WEBSOCKET", RouteSelectionExpression="action")
    assert error["Code"] == "BadRequestException"
    api_id = apigw.create_api(Name="errors", ProtocolType="WEBSOCKET", RouteSelectionExpression="${request.body.action}")["ApiId"]
    error = refused(apigw.create_route, ApiId=api_id, RouteKey="$reserved")
    assert error["Code"] == "BadRequestException"
    error = refused(apigw.create_route, ApiId=api_id, RouteKey="send", AuthorizationType="AWS_IAM")
    assert error["Message"] == "Currently, authorization is restricted to the $connect route only"
    assert apigw.create_route(ApiId=api_id, RouteKey="$connect", AuthorizationType="AWS_IAM")["AuthorizationType"] == "AWS_IAM"
    route = apigw.create_route(ApiId=api_id, RouteKey="send")
    error = refused(apigw.create_route_response, ApiId=api_id, RouteId=route["RouteId"], RouteResponseKey="$other")
    assert error["Code"] == "BadRequestException"
    error = refused(apigw.get_route_response, ApiId=api_id, RouteId=route["RouteId"], RouteResponseId="nope")
    assert error["Code"] == "NotFoundException"
    error = refused(apigw.create_integration, ApiId=api_id, IntegrationType="AWS", IntegrationUri="arn:aws:lambda:us-east-1:000000000000:function:f")
    assert error["Code"] == "BadRequestException"
    error = refused(apigw.create_integration, ApiId=api_id, IntegrationType="AWS_PROXY", PayloadFormatVersion="2.0",
                    IntegrationUri="arn:aws:lambda:us-east-1:000000000000:function:f")
    assert "1.0" in error["Message"]
    mock = apigw.create_integration(ApiId=api_id, IntegrationType="MOCK")["IntegrationId"]
    error = refused(apigw.create_integration_response, ApiId=api_id, IntegrationId=mock, IntegrationResponseKey="/[/")
    assert error["Code"] == "BadRequestException"
    error = refused(apigw.create_integration_response, ApiId=api_id, IntegrationId=mock, IntegrationResponseKey="$default",
                    ResponseTemplates={"$default": "#macro(m)x#end"})
    assert error["Code"] == "BadRequestException" and "#macro" in error["Message"]
    created = apigw.create_integration_response(ApiId=api_id, IntegrationId=mock, IntegrationResponseKey="/2\\d\\d/")
    assert apigw.get_integration_responses(ApiId=api_id, IntegrationId=mock)["Items"][0]["IntegrationResponseKey"] == "/2\\d\\d/"
    apigw.delete_integration_response(ApiId=api_id, IntegrationId=mock, IntegrationResponseId=created["IntegrationResponseId"])
    assert apigw.get_integration_responses(ApiId=api_id, IntegrationId=mock)["Items"] == []
    # HTTP APIs have neither route responses nor integration responses.
    http_api = apigw.create_api(Name="plain", ProtocolType="HTTP")["ApiId"]
    http_route = apigw.create_route(ApiId=http_api, RouteKey="GET /x")["RouteId"]
    error = refused(apigw.create_route_response, ApiId=http_api, RouteId=http_route, RouteResponseKey="$default")
    assert error["Message"] == "Route responses are supported for WebSocket APIs only."


def test_bytes_before_the_switch_and_odd_upgrades_are_survived(server, apigw):
    import socket

    api_id = mock_api(apigw, name="eager")
    handshake = (f"GET /{api_id}/prod HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    # The handshake and a frame's first bytes (and some junk) in one write, before the 101 can come back.
    with socket.create_connection(("127.0.0.1", server.gateway_port), timeout=10) as raw:
        raw.sendall(handshake + b"\x81\x85\x00\x00\x00\x00hello" + b"\x00" * 64)
        answer = raw.recv(4096)
        assert answer.startswith(b"HTTP/1.1 101")
    # A POST asking for another protocol (h2c) is served as plain HTTP.
    with socket.create_connection(("127.0.0.1", server.gateway_port), timeout=10) as raw:
        raw.sendall(f"POST /{api_id}/prod HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
                    "Content-Length: 2\r\n\r\n{}".encode())
        assert raw.recv(4096).startswith(b"HTTP/1.1 426")
    # The gateway is still there for everyone else.
    async def talk():
        async with websockets.connect(url(server, api_id)) as ws:
            await ws.send(json.dumps({"action": "echo", "text": "still up"}))
            return json.loads(await ws.recv())["text"]

    assert run(talk()) == "still up"


def test_stopping_ecsd_closes_websockets_and_waiting_connections(tmp_path):
    import signal
    import socket

    ecsd = Ecsd(str(tmp_path / "stopping")).start()
    apigw = boto3.client("apigatewayv2", endpoint_url=ecsd.endpoint, region_name="us-east-1", aws_access_key_id="x",
                         aws_secret_access_key="x", config=NO_RETRIES)
    api_id = mock_api(apigw, name="stopping")
    # A connection that never sends its first request, and a WebSocket: neither holds the stop up.
    idle = socket.create_connection(("127.0.0.1", ecsd.gateway_port), timeout=10)

    async def connected_through_the_stop():
        async with websockets.connect(url(ecsd, api_id)) as ws:
            await ws.send(json.dumps({"action": "echo", "text": "before"}))
            await ws.recv()
            ecsd.process.send_signal(signal.SIGTERM)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            return closed.value.rcvd.code if closed.value.rcvd else None

    started = time.monotonic()
    code = run(connected_through_the_stop())
    ecsd.process.wait(timeout=15)
    assert code == 1001 and time.monotonic() - started < 15
    idle.close()


def test_websocket_stages_log_each_event(server, apigw, keys, monkeypatch):
    from conftest import run_ecsctl

    api_id = apigw.create_api(Name="logged", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action")["ApiId"]
    mock = apigw.create_integration(ApiId=api_id, IntegrationType="MOCK", RequestTemplates={"$default": '{"statusCode": 200}'})
    for key in ("$connect", "$default", "$disconnect"):
        apigw.create_route(ApiId=api_id, RouteKey=key, Target="integrations/" + mock["IntegrationId"])
    apigw.create_stage(ApiId=api_id, StageName="prod", AutoDeploy=True, AccessLogSettings={
        "DestinationArn": "arn:aws:logs:us-east-1:000000000000:log-group:ws-access",
        "Format": "$context.requestId $context.eventType $context.routeKey $context.status $context.connectionId"})

    async def talk():
        async with websockets.connect(url(server, api_id)) as ws:
            await ws.send("hello")
            await asyncio.sleep(0.3)

    run(talk())
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", keys[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", keys[1])

    def lines():
        code, out, err = run_ecsctl(server.endpoint, "api", "logs", api_id, "--stage", "prod")
        assert code == 0, err
        return [line.split() for line in out.splitlines()]

    from conftest import wait_until
    wait_until(lambda: len(lines()) == 3, timeout=20, message="three events logged")
    logged = lines()
    assert [line[1:4] for line in logged] == [["CONNECT", "$connect", "200"], ["MESSAGE", "$default", "200"],
                                             ["DISCONNECT", "$disconnect", "200"]], logged
    assert len({line[4] for line in logged}) == 1
