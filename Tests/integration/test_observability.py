"""Operating ecsd: Prometheus metrics on /metrics (read by prometheus_client's own parser), the
metrics token, and systemd's notify protocol (READY, WATCHDOG, STATUS, STOPPING) on a socket the
test makes, as systemd would."""
import os
import socket
import time
import urllib.error
import urllib.request

import boto3
from prometheus_client.parser import text_string_to_metric_families

from conftest import Ecsd, wait_until


def scrape(server, token=None):
    request = urllib.request.Request(server.endpoint + "/metrics", headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return {family.name: family for family in text_string_to_metric_families(response.read().decode())}


def samples(families, name, **labels):
    return [s for f in families.values() for s in f.samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]


def test_metrics_count_requests_commits_tasks_and_agents(ecsd, fleets):
    ecs = boto3.client("ecs", endpoint_url=ecsd.endpoint, region_name="us-east-1")
    ecs.create_cluster(clusterName="obs")
    ecs.register_task_definition(family="web", containerDefinitions=[{"name": "web", "image": "nginx:1.27", "cpu": 16, "memory": 16}])
    fleets(ecsd.endpoint, "obs", 2)
    wait_until(lambda: len(ecs.list_container_instances(cluster="obs")["containerInstanceArns"]) == 2, message="instances registered")
    arns = [t["taskArn"] for t in ecs.run_task(cluster="obs", taskDefinition="web", count=3)["tasks"]]
    wait_until(lambda: all(t["lastStatus"] == "RUNNING" for t in ecs.describe_tasks(cluster="obs", tasks=arns)["tasks"]), message="tasks running")
    try:
        ecs.describe_tasks(cluster="obs", tasks=[])
    except ecs.exceptions.InvalidParameterException:
        pass
    ecs.register_task_definition(family="huge", containerDefinitions=[{"name": "huge", "image": "nginx:1.27", "memory": 100000}])
    assert ecs.run_task(cluster="obs", taskDefinition="huge")["failures"][0]["reason"] == "RESOURCE:MEMORY"

    families = scrape(ecsd)
    assert samples(families, "ecsd_api_requests_total", operation="AmazonEC2ContainerServiceV20141113.RunTask", status="200")[0].value == 2
    assert samples(families, "ecsd_api_requests_total", operation="AmazonEC2ContainerServiceV20141113.DescribeTasks", status="400")[0].value == 1
    assert samples(families, "ecsd_api_requests_total", operation="AmazonEC2ContainerServiceV20141113.DescribeTasks", status="200")[0].value >= 1
    # A histogram whose buckets add up: +Inf holds every request, and no bucket holds more than the next.
    buckets = samples(families, "ecsd_api_request_duration_seconds_bucket", operation="AmazonEC2ContainerServiceV20141113.RunTask")
    assert [b.value for b in buckets] == sorted(b.value for b in buckets) and buckets[-1].labels["le"] == "+Inf" and buckets[-1].value == 2
    assert samples(families, "ecsd_commit_duration_seconds_count")[0].value >= 3
    assert samples(families, "ecsd_tasks", status="RUNNING")[0].value == 3
    assert samples(families, "ecsd_container_instances", cluster="obs")[0].value == 2
    assert samples(families, "ecsd_agents_connected", cluster="obs")[0].value == 2
    assert samples(families, "ecsd_committer_writes_in_flight")[0].value >= 0
    assert samples(families, "ecsd_placements_total", outcome="placed")[0].value == 3
    assert samples(families, "ecsd_placements_total", outcome="RESOURCE:MEMORY")[0].value == 1
    assert families["ecsd_placements"].type == "counter"
    # Made-up operations share one series rather than each adding its own.
    for made_up in ("Nope1", "Nope2"):
        request = urllib.request.Request(ecsd.endpoint + "/", data=b"{}", headers={
            "X-Amz-Target": f"AmazonEC2ContainerServiceV20141113.{made_up}", "Content-Type": "application/x-amz-json-1.1"})
        try:
            urllib.request.urlopen(request, timeout=10)
        except urllib.error.HTTPError:
            pass
    families = scrape(ecsd)
    assert samples(families, "ecsd_api_requests_total", operation="unknown", status="400")[0].value == 2
    assert not [s for s in samples(families, "ecsd_api_requests_total") if "Nope" in s.labels["operation"]]
    # The scrape itself is counted, as the next one shows.
    assert samples(scrape(ecsd), "ecsd_api_requests_total", operation="GET /metrics", status="200")[0].value >= 1


def test_metrics_want_the_token_when_one_is_set_and_no_aws_signature(data_dir):
    server = Ecsd(data_dir, auth="on", extra_args=["--metrics-token", "scrape-me-please"]).start()
    try:
        for token in (None, "wrong-token-here"):
            try:
                scrape(server, token)
                raise AssertionError("metrics read without the token")
            except urllib.error.HTTPError as refused:
                assert refused.code == 401 and "Bearer" in refused.headers["WWW-Authenticate"]
        # prometheus_client names a counter family without its _total.
        assert "ecsd_api_requests" in scrape(server, "scrape-me-please")
    finally:
        server.stop()


def test_systemd_is_told_ready_fed_by_the_watchdog_and_told_of_stopping(data_dir):
    path = os.path.join(data_dir, "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    listener.settimeout(10)
    server = Ecsd(data_dir, env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "300000"}).start()
    messages = []

    def receive_until(predicate, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline and not predicate():
            messages.append(listener.recv(4096).decode())
        return predicate()

    try:
        assert receive_until(lambda: any(m.startswith("READY=1") for m in messages))
        ready = next(m for m in messages if m.startswith("READY=1"))
        assert f"STATUS=Serving the API at {server.endpoint}" in ready.split("\n")
        # READY only after the store opened: its status line came first.
        assert any(m.startswith("STATUS=Opening the store") for m in messages[:messages.index(ready)])
        # Pings at half the interval systemd asked for: several within a second.
        before = messages.count("WATCHDOG=1")
        time.sleep(1)
        assert receive_until(lambda: messages.count("WATCHDOG=1") >= before + 3)
    finally:
        server.stop()
    assert receive_until(lambda: "STOPPING=1" in messages)
    listener.close()


def test_json_logs_carry_the_request_ids_of_answers(data_dir):
    import json
    server = Ecsd(data_dir, extra_args=["--log-format", "json", "--log-level", "debug"]).start()
    try:
        request = urllib.request.Request(server.endpoint + "/", data=b"{}", headers={
            "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.ListClusters", "Content-Type": "application/x-amz-json-1.1"})
        with urllib.request.urlopen(request, timeout=10) as response:
            request_id = response.headers["x-amzn-RequestId"]

        def logged():
            lines = [json.loads(line) for line in open(server.log_path) if line.strip()]
            return [line for line in lines if line.get("request.id") == request_id]
        [line] = wait_until(logged, message="the request's log line")
        assert line["operation"] == "AmazonEC2ContainerServiceV20141113.ListClusters" and line["status"] == "200" and line["level"] == "debug"
        assert line["label"] == "ecsd.api" and line["message"] == "request" and line["time"].endswith("Z")
    finally:
        server.stop()
    # Every line ecsd wrote, start and stop included, is a JSON object.
    assert all(json.loads(line)["time"] for line in open(server.log_path) if line.strip())


def test_systemd_units_verify(tmp_path):
    """`systemd-analyze verify` on the units as shipped, their ExecStart pointed at this build."""
    import re
    import shutil
    import subprocess
    from conftest import BIN
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: scripts/install-test-deps.sh installs the systemd package"
    root = os.path.join(os.path.dirname(__file__), "..", "..", "systemd")
    units = sorted(name for name in os.listdir(root) if name.endswith(".service"))
    assert units == ["ecs-agent.service", "ecsd.service"]
    for name in units:
        text = open(os.path.join(root, name)).read()
        assert "Type=notify" in text if name == "ecsd.service" else True
        # The unit as installed names /usr/local/bin: here, the binaries just built.
        text = re.sub(r"ExecStart=/usr/local/bin/(\S+)", lambda m: f"ExecStart={os.path.abspath(os.path.join(BIN, m.group(1)))}", text)
        path = tmp_path / name
        path.write_text(text)
        result = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True, timeout=60)
        problems = [line for line in (result.stdout + result.stderr).splitlines() if name in line]
        assert result.returncode == 0 and not problems, (name, result.stdout, result.stderr)
