"""Control-plane reliability: idempotence across restarts, stopped tasks kept across restarts,
bounded memory under hostile input, slow and excess connections, AWS error shapes everywhere."""
import json
import os
import socket
import time
import urllib.request
import zipfile
import io

import boto3
import botocore.config
import pytest

from conftest import Ecsd, wait_until

NO_RETRIES = botocore.config.Config(retries={"total_max_attempts": 1}, parameter_validation=False)


def ecs_client(server):
    return boto3.client("ecs", endpoint_url=server.endpoint, region_name="us-east-1", config=NO_RETRIES)


def start_cluster(server, fleets, cluster="rel", instances=2):
    ecs = ecs_client(server)
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(family="web", containerDefinitions=[{"name": "web", "image": "nginx:1.27", "cpu": 16, "memory": 16}])
    fleets(server.endpoint, cluster, instances)
    wait_until(lambda: len(ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]) == instances,
               message="instances registered")
    return ecs


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def raw(port, payload, read_timeout=10):
    """Sends raw bytes and returns what the server answers before closing (or b'' on timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as s:
        s.sendall(payload)
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except socket.timeout:
            pass
        return b"".join(chunks)


# Idempotence


@pytest.mark.parametrize("restart", ["sigterm", "kill9"])
def test_run_task_client_tokens_survive_restarts(data_dir, fleets, restart):
    server = Ecsd(data_dir).start()
    ecs = start_cluster(server, fleets)
    first = ecs.run_task(cluster="rel", taskDefinition="web", count=2, clientToken="tok-1")
    arns = sorted(t["taskArn"] for t in first["tasks"])
    assert len(arns) == 2
    assert sorted(t["taskArn"] for t in ecs.run_task(cluster="rel", taskDefinition="web", count=2, clientToken="tok-1")["tasks"]) == arns
    if restart == "sigterm":
        server.stop()
    else:
        server.kill9()
    server = Ecsd(data_dir, port=server.port).start()
    ecs = ecs_client(server)
    again = ecs.run_task(cluster="rel", taskDefinition="web", count=2, clientToken="tok-1")
    assert sorted(t["taskArn"] for t in again["tasks"]) == arns
    assert len(ecs.list_tasks(cluster="rel")["taskArns"]) == 2
    # The same token with different parameters conflicts and names the tasks it started.
    with pytest.raises(ecs.exceptions.ConflictException) as conflict:
        ecs.run_task(cluster="rel", taskDefinition="web", count=1, clientToken="tok-1")
    assert sorted(conflict.value.response["resourceIds"]) == arns
    server.stop()


def test_create_service_client_token_and_its_refusals(ecsd, fleets):
    ecs = start_cluster(ecsd, fleets)
    created = ecs.create_service(cluster="rel", serviceName="api", taskDefinition="web", desiredCount=1, clientToken="svc-token")
    again = ecs.create_service(cluster="rel", serviceName="api", taskDefinition="web", desiredCount=1, clientToken="svc-token")
    assert again["service"]["serviceArn"] == created["service"]["serviceArn"]
    with pytest.raises(ecs.exceptions.InvalidParameterException) as refused:
        ecs.create_service(cluster="rel", serviceName="api", taskDefinition="web", desiredCount=1, clientToken="other")
    assert refused.value.response["Error"]["Message"] == "Creation of service was not idempotent."
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.run_task(cluster="rel", taskDefinition="web", clientToken="with space")


# Start-up with history


def test_stopped_tasks_stay_visible_across_restarts(data_dir, fleets):
    server = Ecsd(data_dir).start()
    ecs = start_cluster(server, fleets)
    arns = [t["taskArn"] for t in ecs.run_task(cluster="rel", taskDefinition="web", count=3, startedBy="batch")["tasks"]]
    wait_until(lambda: all(t["lastStatus"] == "RUNNING" for t in ecs.describe_tasks(cluster="rel", tasks=arns)["tasks"]),
               message="tasks running")
    for arn in arns[:2]:
        ecs.stop_task(cluster="rel", task=arn, reason="finished")
    wait_until(lambda: [t["lastStatus"] for t in ecs.describe_tasks(cluster="rel", tasks=arns[:2])["tasks"]] == ["STOPPED"] * 2,
               message="two tasks stopped")
    server.kill9()
    server = Ecsd(data_dir, port=server.port).start()
    ecs = ecs_client(server)
    described = {t["taskArn"]: t for t in ecs.describe_tasks(cluster="rel", tasks=arns)["tasks"]}
    assert [described[a]["lastStatus"] for a in arns[:2]] == ["STOPPED", "STOPPED"]
    assert described[arns[0]]["stoppedReason"] == "finished"
    assert described[arns[0]]["startedBy"] == "batch"
    assert sorted(ecs.list_tasks(cluster="rel", desiredStatus="STOPPED", startedBy="batch")["taskArns"]) == sorted(arns[:2])
    assert ecs.list_tasks(cluster="rel", desiredStatus="STOPPED", family="other")["taskArns"] == []
    assert ecs.list_tasks(cluster="rel", desiredStatus="RUNNING")["taskArns"] == [arns[2]]
    # Stopping a task again after the restart answers with it, still stopped.
    assert ecs.stop_task(cluster="rel", task=arns[0])["task"]["lastStatus"] == "STOPPED"
    server.stop()


# Memory and names


def test_over_long_names_are_refused_and_memory_stays_bounded(ecsd):
    ecs = ecs_client(ecsd)
    ecs.create_cluster(clusterName="mem")
    pid = ecsd.process.pid
    # Reads naming a different 1 MB cluster each. The first 50 warm the allocator up (its arenas settle
    # 30-50 MiB above the idle size, then swing +-15 MiB); the 200 after them must not grow it further:
    # a leak would keep the 200 MiB they carry.
    def read_over_long_names(indices):
        for index in indices:
            name = f"{index:04d}" + "x" * (1 << 20)
            with pytest.raises(ecs.exceptions.InvalidParameterException) as refused:
                ecs.describe_clusters(clusters=[name])
            assert refused.value.response["Error"]["Message"].startswith("Cluster must match ^[a-zA-Z0-9\\-_]{1,255}$, but was ")

    read_over_long_names(range(50))
    before = rss_kib(pid)
    read_over_long_names(range(50, 250))
    growth_mib = (rss_kib(pid) - before) / 1024
    assert growth_mib < 50, f"RSS grew {growth_mib:.0f} MiB"
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.list_services(cluster="bad name")
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.describe_services(cluster="mem", services=["s" * 300])


# Connections


def test_a_request_whose_body_never_arrives_is_closed_within_the_timeout(data_dir):
    server = Ecsd(data_dir, extra_args=["--request-timeout", "2"]).start()
    started = time.time()
    answer = raw(server.port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nX-Amz-Target: "
                              b"AmazonEC2ContainerServiceV20141113.ListClusters\r\n\r\n{", read_timeout=15)
    assert time.time() - started < 6, "the stalled connection was not closed"
    assert b"200 OK" not in answer
    started = time.time()
    raw(server.port, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nab", read_timeout=15)
    assert time.time() - started < 6
    # Still serving.
    assert ecs_client(server).list_clusters()["clusterArns"] == []
    server.stop()


def test_connections_past_the_cap_get_a_503(data_dir):
    server = Ecsd(data_dir, extra_args=["--max-connections", "4"]).start()
    held = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(4)]
    try:
        time.sleep(0.2)
        answer = raw(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
        assert b"ServiceUnavailableException" in answer
    finally:
        for s in held:
            s.close()
    wait_until(lambda: raw(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 200"),
               message="connections freed")
    server.stop()


def test_bytes_that_are_not_http_get_an_aws_shaped_400(ecsd):
    answer = raw(ecsd.port, b"THIS IS NOT HTTP\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400")
    body = answer.split(b"\r\n\r\n", 1)[1]
    assert json.loads(body)["__type"] == "SerializationException"


def test_a_body_the_parser_refuses_gets_a_400_at_once(ecsd):
    # The head arrived, the chunked body cannot be parsed: answered now, not at the request timeout.
    head = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
            b"X-Amz-Target: AmazonEC2ContainerServiceV20141113.ListClusters\r\nTransfer-Encoding: chunked\r\n\r\n")
    started = time.monotonic()
    answer = raw(ecsd.port, head + b"zz\r\n{}\r\n0\r\n\r\n", read_timeout=5)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert time.monotonic() - started < 4
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["__type"] == "SerializationException"


def test_garbage_after_a_pipelined_request_closes_after_its_answer(ecsd):
    # A valid request, then bytes that are not HTTP in the same packet: the first answer arrives
    # whole and alone (no 400 written into it), then the connection closes.
    body = b"{}"
    request = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
               b"X-Amz-Target: AmazonEC2ContainerServiceV20141113.ListClusters\r\n"
               b"Content-Length: 2\r\n\r\n" + body)
    answer = raw(ecsd.port, request + b"THIS IS NOT HTTP\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    head, rest = answer.split(b"\r\n\r\n", 1)
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    assert "clusterArns" in json.loads(rest[:length])
    assert rest[length:] == b"", rest[length:]


# Error shapes


def http(endpoint, method, path, body=None, headers=None):
    request = urllib.request.Request(endpoint + path, method=method, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_unrouted_requests_get_aws_error_shapes(ecsd):
    # Lambda operations this endpoint does not serve are named, with a status clients do not retry.
    status, headers, body = http(ecsd.endpoint, "PUT", "/2019-09-30/functions/f/provisioned-concurrency", b"{}")
    assert status == 501 and headers["x-amzn-ErrorType"] == "InternalFailure"
    assert "PutProvisionedConcurrencyConfig" in json.loads(body)["message"]
    # One that is served answers as Lambda does.
    status, headers, _ = http(ecsd.endpoint, "POST", "/2015-03-31/functions/f/policy", b"{}")
    assert status == 404 and headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    # A path or method Lambda has no operation for: what Lambda answers.
    status, headers, body = http(ecsd.endpoint, "PATCH", "/2015-03-31/functions/f")
    assert status == 403 and headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert json.loads(body)["message"] == "Unable to determine service/operation name to be authorized"
    # The JSON protocol's endpoint with another method, and paths nobody serves.
    for method, path in [("GET", "/"), ("PUT", "/"), ("DELETE", "/"), ("GET", "/nothing/here")]:
        status, headers, body = http(ecsd.endpoint, method, path)
        assert status == 404 and headers["x-amzn-ErrorType"] == "UnknownOperationException", (method, path)
        assert json.loads(body)["__type"] == "UnknownOperationException"


def test_the_aws_cli_reads_an_unimplemented_lambda_operation(ecsd):
    lam = boto3.client("lambda", endpoint_url=ecsd.endpoint, region_name="us-east-1", config=NO_RETRIES)
    with pytest.raises(lam.exceptions.ClientError) as refused:
        lam.put_provisioned_concurrency_config(FunctionName="f", Qualifier="live", ProvisionedConcurrentExecutions=1)
    assert refused.value.response["Error"]["Code"] == "InternalFailure"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501


# Zips


def zip_bytes(entries):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def declare_size(zip_data, declared):
    """Rewrites every header's uncompressed size (a zip bomb's lie)."""
    data = bytearray(zip_data)
    index = 0
    while (index := data.find(b"PK\x03\x04", index)) >= 0:
        data[index + 22:index + 26] = declared.to_bytes(4, "little")
        index += 4
    index = 0
    while (index := data.find(b"PK\x01\x02", index)) >= 0:
        data[index + 24:index + 28] = declared.to_bytes(4, "little")
        index += 4
    return bytes(data)


def test_zips_are_checked_for_what_they_contain(data_dir):
    server = Ecsd(data_dir, extra_args=["--function-code-unzipped-max-mb", "8"]).start()
    lam = boto3.client("lambda", endpoint_url=server.endpoint, region_name="us-east-1", config=NO_RETRIES)
    role = "arn:aws:iam::000000000000:role/lambda"

    def create(code):
        return lam.create_function(FunctionName="z", Runtime="provided.al2023", Role=role, Handler="h", Code={"ZipFile": code})

    unusable = "Could not unzip uploaded file. Please check your file, then try to upload again."
    empty = zip_bytes([])
    bad_name = bytearray(zip_bytes([("caf\u00e9", b"x")]))
    bad_name = bytes(bad_name.replace("caf\u00e9".encode(), b"caf\xe9A"))
    escaping = zip_bytes([("../../etc/passwd", b"x")])
    for code in [empty, bad_name, escaping, b"not a zip"]:
        with pytest.raises(lam.exceptions.InvalidParameterValueException) as refused:
            create(code)
        assert refused.value.response["Error"]["Message"] == unusable
    bomb = declare_size(zip_bytes([("bootstrap", b"\0" * (20 << 20))]), 100)
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as refused:
        create(bomb)
    assert refused.value.response["Error"]["Message"] == f"Unzipped size must be smaller than {8 << 20} bytes"
    assert create(zip_bytes([("bootstrap", b"#!/bin/sh\n")]))["CodeSize"] > 0
    server.stop()
