"""Fixtures that start real Stevedore processes for the integration suite.

Binaries come from $STEVEDORE_BIN (default: .build/debug). Every server listens on 127.0.0.1 only.
"""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request

import boto3
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("STEVEDORE_BIN", os.path.join(ROOT, ".build", "debug"))
EXAMPLES = os.path.join(ROOT, "Examples")

# The aws CLI and boto3 sign requests; any credentials do.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "stevedore")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "stevedore")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.pop("AWS_PROFILE", None)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Ecsd:
    """One ecsd process over a data directory; can be stopped, killed and started again."""

    def __init__(self, data_dir, port=None, extra_args=(), auth="off", tls=None, env=None, log_name="ecsd.log"):
        self.data_dir = data_dir
        # Variables added to ecsd's environment (NOTIFY_SOCKET, …).
        self.env = env
        # tls: (certificate chain, key, CA file to verify with); serves https.
        self.tls = tls
        if tls:
            extra_args = ["--tls-cert", tls[0], "--tls-key", tls[1], *extra_args]
        self.port = port or free_port()
        # A port picked here may be taken by another process before ecsd binds it: then the first
        # start picks again.
        self.repick = port is None
        # The gateway's data plane gets a port of its own, so that several ecsd can run at once.
        self.gateway_port = free_port()
        # Authentication has tests of its own (test_authentication.py); elsewhere any signature
        # does. auth=None leaves ecsd's default (on; off with --dev).
        self.extra_args = (["--auth", auth] if auth and "--auth" not in extra_args else []) + list(extra_args)
        self.process = None
        # Replicas sharing a data directory log to files of their own.
        self.log_path = os.path.join(data_dir, log_name)

    @property
    def endpoint(self):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def gateway(self):
        return f"http://127.0.0.1:{self.gateway_port}"

    def start(self):
        for attempt in range(3):
            try:
                return self._start()
            except RuntimeError as error:
                if not (self.repick and "Address already in use" in str(error)) or attempt == 2:
                    raise
                self.port, self.gateway_port = free_port(), free_port()

    def _start(self):
        os.makedirs(self.data_dir, exist_ok=True)
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [os.path.join(BIN, "ecsd"), "--listen", f"127.0.0.1:{self.port}", "--gateway-listen", f"127.0.0.1:{self.gateway_port}", "--data-dir", self.data_dir, *self.extra_args],
            stdout=log,
            stderr=log,
            env={**os.environ, **self.env} if self.env else None,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ecsd exited with {self.process.returncode}: {self.log()}")
            try:
                context = ssl.create_default_context(cafile=self.tls[2]) if self.tls else None
                with urllib.request.urlopen(self.endpoint + "/healthz", timeout=1, context=context) as response:
                    health = json.load(response) if response.status == 200 else {}
                    # A replica on PostgreSQL serves once it leads or follows a leader.
                    if response.status == 200 and (health.get("role") != "follower" or health.get("leader")):
                        self.repick = False
                        return self
                    time.sleep(0.05)
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("ecsd did not become healthy: " + self.log())

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)
        return self.process.returncode if self.process else None

    def kill9(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""


@pytest.fixture
def data_dir():
    path = tempfile.mkdtemp(prefix="stevedore-it-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def ecsd(data_dir):
    server = Ecsd(data_dir).start()
    yield server
    server.stop()


@pytest.fixture
def ecs(ecsd):
    return boto3.client("ecs", endpoint_url=ecsd.endpoint, region_name="us-east-1")


@pytest.fixture
def fleets(data_dir):
    """Starts simulated fleets for a test and stops them afterwards."""
    started = []

    def start(endpoint, cluster, count, **options):
        fleet = Fleet(endpoint, cluster, count, log_dir=data_dir, **options).start()
        started.append(fleet)
        return fleet

    yield start
    for fleet in started:
        fleet.stop()


class Fleet:
    """`ecs-agent --simulate N`: N simulated container instances in one process."""

    def __init__(self, endpoint, cluster, count, zones=("a", "b", "c"), state_dir=None, resources="cpu=4096,memory=8192",
                 log_dir=None, extra_env=None):
        self.endpoint = endpoint
        self.cluster = cluster
        self.count = count
        self.zones = zones
        self.state_dir = state_dir
        self.resources = resources
        self.log_path = os.path.join(log_dir or tempfile.gettempdir(), f"fleet-{cluster}-{id(self)}.log")
        # E.g. ECS_AGENT_REGISTRATION_TOKEN for an ecsd with authentication on.
        self.extra_env = extra_env or {}
        self.process = None

    def start(self):
        args = [os.path.join(BIN, "ecs-agent"), "--config", "/dev/null", "--simulate", str(self.count),
                "--simulate-resources", self.resources, "--simulate-zones", ",".join(self.zones)]
        if self.state_dir:
            args += ["--simulate-state-dir", self.state_dir]
        env = {**os.environ, "ECS_CLUSTER": self.cluster, "ECS_BACKEND_HOST": self.endpoint, **self.extra_env}
        self.process = subprocess.Popen(args, stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT, env=env)
        return self

    def kill9(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def wait_until(predicate, timeout=30, interval=0.1, message="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message} (last: {last!r})")

def stevedore_rows(client, sql):
    """A query's rows (without the header) through boto3's Athena, results kept in a bucket of their own."""
    endpoint = client.meta.endpoint_url
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    athena = boto3.client("athena", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    s3.create_bucket(Bucket="stevedore-queries")
    query_id = athena.start_query_execution(QueryString=sql, ResultConfiguration={"OutputLocation": "s3://stevedore-queries/"})["QueryExecutionId"]
    state = wait_until(lambda: (lambda s: s if s["State"] in ("SUCCEEDED", "FAILED", "CANCELLED") else None)(
        athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]), timeout=30, message="the query")
    assert state["State"] == "SUCCEEDED", state
    rows = athena.get_query_results(QueryExecutionId=query_id)["ResultSet"]["Rows"][1:]
    return [[datum.get("VarCharValue") for datum in row["Data"]] for row in rows]


def run_aws(endpoint, *args, check=True):
    """Runs the real aws CLI; returns (exit code, stdout, stderr)."""
    result = subprocess.run(
        ["aws", "--endpoint-url", endpoint, "--output", "json", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result.returncode, result.stdout, result.stderr


def run_ecsctl(endpoint, *args):
    result = subprocess.run(
        [os.path.join(BIN, "ecsctl"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "ECS_ENDPOINT": endpoint},
    )
    return result.returncode, result.stdout, result.stderr


def example(*parts):
    return os.path.join(EXAMPLES, *parts)
