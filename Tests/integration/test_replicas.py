"""Several `ecsd` on one real PostgreSQL: one leader (a lease with a fencing token), the others
forward the API to it; when the leader dies (`kill -9`) or stops answering (SIGSTOP), another
takes over within `--lease-timeout`, and no acknowledged RunTask is lost or made twice; a deposed
leader commits nothing and stops."""
import json
import os
import select
import socket
import statistics
import subprocess
import threading
import time
import urllib.request

import boto3
import botocore.config
import botocore.exceptions
from prometheus_client.parser import text_string_to_metric_families

from conftest import BIN, Ecsd, wait_until
from postgres_support import postgres  # noqa: F401 (the fixture)

NO_RETRIES = botocore.config.Config(retries={"total_max_attempts": 1}, read_timeout=30)
# The failover test runs with a short lease (STEVEDORE_LEASE_TIMEOUT=10 measures the default).
LEASE_TIMEOUT = os.environ.get("STEVEDORE_LEASE_TIMEOUT", "2")
FAILURES = (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError,
            botocore.exceptions.ReadTimeoutError, botocore.exceptions.ClientError)


def role(replica):
    try:
        with urllib.request.urlopen(replica.endpoint + "/healthz", timeout=2) as answer:
            return json.load(answer).get("role")
    except OSError:
        return None


def replicas(data_dir, url, count, *extra, auth="off"):
    """`count` ecsd on one database and one data directory (code, objects and keys are shared
    there), each with a log of its own; the first to start leads."""
    started = []
    for n in range(count):
        server = Ecsd(data_dir, extra_args=["--store", url, "--lease-timeout", LEASE_TIMEOUT, *extra], log_name=f"ecsd-{n}.log", auth=auth)
        started.append(server.start())
    return started


def leader_of(servers):
    wait_until(lambda: [s for s in servers if s.process.poll() is None and role(s) == "leader"], timeout=30, message="a leader")
    return next(s for s in servers if s.process.poll() is None and role(s) == "leader")


def ecs_client(endpoint):
    return boto3.client("ecs", endpoint_url=endpoint, region_name="us-east-1", config=NO_RETRIES)


def test_a_follower_forwards_the_api_and_reports_its_role(postgres, data_dir):
    """With authentication on: a request signed for the follower's address verifies at the leader."""
    url = postgres.create_database("forwarding")
    leader, follower = replicas(data_dir, url, 2, auth="on")
    values = dict(line.strip().split(" = ", 1) for line in open(os.path.join(data_dir, "admin-credentials")) if " = " in line)

    def ecs_client(endpoint):
        return boto3.client("ecs", endpoint_url=endpoint, region_name="us-east-1", config=NO_RETRIES,
                            aws_access_key_id=values["aws_access_key_id"], aws_secret_access_key=values["aws_secret_access_key"])
    try:
        # An unsigned request is refused by the leader, through the follower too.
        try:
            boto3.client("ecs", endpoint_url=follower.endpoint, region_name="us-east-1", config=NO_RETRIES,
                         aws_access_key_id="AKIAWRONG", aws_secret_access_key="wrong").list_clusters()
            raise AssertionError("a request with an unknown key was accepted")
        except botocore.exceptions.ClientError as refused:
            assert refused.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403)
        assert role(leader) == "leader" and role(follower) == "follower"
        with urllib.request.urlopen(follower.endpoint + "/healthz", timeout=2) as answer:
            assert json.load(answer)["leader"] == leader.endpoint
        # A write through the follower is the leader's; a read through either sees it.
        ecs_client(follower.endpoint).create_cluster(clusterName="through-follower")
        for server in (leader, follower):
            assert [a.rsplit("/", 1)[1] for a in ecs_client(server.endpoint).list_clusters()["clusterArns"]] == ["through-follower"]
        # AWS's errors come back as the leader wrote them.
        try:
            ecs_client(follower.endpoint).describe_services(cluster="missing", services=["x"])
            raise AssertionError("no error")
        except botocore.exceptions.ClientError as error:
            assert error.response["Error"]["Code"] == "ClusterNotFoundException"
        # Each replica's /metrics says which it is (its own registry, not forwarded).
        for server, expected in ((leader, 1.0), (follower, 0.0)):
            with urllib.request.urlopen(server.endpoint + "/metrics", timeout=2) as answer:
                families = {f.name: f for f in text_string_to_metric_families(answer.read().decode())}
            assert families["ecsd_leader"].samples[0].value == expected
        # A leader stopped on purpose ends its term: the follower leads at once, not after the timeout.
        stopped = time.monotonic()
        leader.stop()
        wait_until(lambda: role(follower) == "leader", timeout=10, interval=0.05, message="the follower leads")
        assert time.monotonic() - stopped < float(LEASE_TIMEOUT)
        assert [a.rsplit("/", 1)[1] for a in ecs_client(follower.endpoint).list_clusters()["clusterArns"]] == ["through-follower"]
    finally:
        follower.stop()
        leader.stop()


def test_twenty_leader_kills_under_runtask_load_lose_and_duplicate_nothing(postgres, data_dir, fleets):
    url = postgres.create_database("failover")
    servers = replicas(data_dir, url, 3)
    endpoints = ",".join(s.endpoint for s in servers)
    try:
        setup = ecs_client(servers[1].endpoint)
        setup.create_cluster(clusterName="ha")
        setup.register_task_definition(family="web", containerDefinitions=[{"name": "web", "image": "nginx:1.27", "cpu": 1, "memory": 6}])
        # The agents know every replica and move on when one fails.
        fleets(endpoints, "ha", 2, resources="cpu=1000000,memory=1000000")
        wait_until(lambda: len(setup.list_container_instances(cluster="ha")["containerInstanceArns"]) == 2, message="instances registered")

        acknowledged = {}
        lock = threading.Lock()
        stop = threading.Event()

        def load(worker):
            # Each logical RunTask is tried, with its one client token, on each replica in turn
            # until one acknowledges it, as an SDK retrying against several endpoints would.
            clients = [ecs_client(s.endpoint) for s in servers]
            index, attempt = 0, worker
            while not stop.is_set():
                token = f"w{worker}-{index}"
                try:
                    answer = clients[attempt % len(clients)].run_task(
                        cluster="ha", taskDefinition="web", count=2, clientToken=token, startedBy=token)
                    with lock:
                        acknowledged[token] = sorted(t["taskArn"] for t in answer["tasks"])
                    index += 1
                except FAILURES:
                    attempt += 1
                    stop.wait(0.02)

        workers = [threading.Thread(target=load, args=(n,)) for n in range(4)]
        for worker in workers:
            worker.start()
        failovers = []
        try:
            for round_ in range(20):
                # A replica that stopped (as a deposed leader does) is started again, as systemd would.
                for server in servers:
                    if server.process.poll() is not None:
                        server.start()
                before = len(acknowledged)
                wait_until(lambda: len(acknowledged) >= before + 5, timeout=60, message="RunTask acknowledged")
                leader = leader_of(servers)
                survivor = next(s for s in servers if s is not leader)
                killed = time.monotonic()
                leader.kill9()
                # Failed over: a write through a surviving replica is acknowledged.
                probe = ecs_client(survivor.endpoint)

                def written():
                    try:
                        return probe.create_cluster(clusterName=f"probe-{round_}")
                    except FAILURES:
                        return None
                wait_until(written, timeout=30, interval=0.05, message="a new leader takes writes")
                failovers.append(time.monotonic() - killed)
                leader.start()  # back, as a follower
        finally:
            stop.set()
            for worker in workers:
                worker.join()

        reader = ecs_client(leader_of(servers).endpoint)
        tasks = []
        for page in reader.get_paginator("list_tasks").paginate(cluster="ha"):
            for chunk in range(0, len(page["taskArns"]), 100):
                tasks += reader.describe_tasks(cluster="ha", tasks=page["taskArns"][chunk:chunk + 100])["tasks"]
        by_token = {}
        for task in tasks:
            by_token.setdefault(task.get("startedBy"), set()).add(task["taskArn"])
        lost = [token for token, arns in acknowledged.items() if not set(arns) <= by_token.get(token, set())]
        duplicated = [token for token, arns in by_token.items() if len(arns) > 2]
        report = (f"{len(acknowledged)} RunTasks acknowledged over {len(failovers)} leader kills; lost {len(lost)}, duplicated "
                  f"{len(duplicated)}; failover p50 {statistics.median(failovers):.2f} s, max {max(failovers):.2f} s "
                  f"(--lease-timeout {LEASE_TIMEOUT})")
        print(report)
        with open(os.path.join(os.environ.get("STEVEDORE_FIGURES", data_dir), "failover.txt"), "w") as figures:
            figures.write(report + "\n" + " ".join(f"{f:.2f}" for f in failovers) + "\n")
        assert not lost and not duplicated
        assert len(failovers) == 20 and max(failovers) < 2 * float(LEASE_TIMEOUT) + 3
    finally:
        for server in servers:
            server.stop()


def psql(postgres, database, statement):
    command = [os.path.join(postgres.bin, "psql"), "-h", "127.0.0.1", "-p", str(postgres.port), "-U", postgres.user, "-d", database,
               "-At", "-c", statement]
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=30).stdout.strip()


def test_a_deposed_leader_commits_nothing_and_stops(postgres, data_dir):
    """Another holder takes the lease behind the leader's back (as a replica that found it run out
    would): the leader's next write finds a token not its own, is refused, and the leader stops."""
    url = postgres.create_database("fencing")
    (leader,) = replicas(data_dir, url, 1)
    try:
        ecs = ecs_client(leader.endpoint)
        ecs.create_cluster(clusterName="before")
        psql(postgres, "fencing", "UPDATE stevedore_lease SET token = token + 1; "
             "UPDATE stevedore_lease_term SET holder = 'intruder', token = token + 1, expires_at = now() + interval '1 hour'")
        try:
            ecs.create_cluster(clusterName="after")
            raise AssertionError("a deposed leader acknowledged a write")
        except FAILURES:
            pass
        assert leader.process.wait(timeout=10) != 0
        assert "no longer the leader" in leader.log() or "took the leader lease" in leader.log()
        keys = psql(postgres, "fencing", "SELECT string_agg(key, ',') FROM clusters")
        assert "before" in keys and "after" not in keys
    finally:
        leader.stop()


def test_a_paused_leader_is_replaced_and_stops_when_it_resumes(postgres, data_dir):
    """SIGSTOP: the leader neither answers nor renews (a partition, as far as the others can
    tell). A follower takes over; the old leader, resumed, finds its lease gone and stops."""
    url = postgres.create_database("paused")
    leader, follower = replicas(data_dir, url, 2)
    try:
        ecs_client(follower.endpoint).create_cluster(clusterName="before")
        leader.process.send_signal(19)  # SIGSTOP
        paused = time.monotonic()
        wait_until(lambda: role(follower) == "leader", timeout=15, interval=0.05, message="the follower leads")
        assert time.monotonic() - paused < float(LEASE_TIMEOUT) + 1
        ecs_client(follower.endpoint).create_cluster(clusterName="during")
        leader.process.send_signal(18)  # SIGCONT
        assert leader.process.wait(timeout=10) != 0
        names = sorted(a.rsplit("/", 1)[1] for a in ecs_client(follower.endpoint).list_clusters()["clusterArns"])
        assert names == ["before", "during"]
    finally:
        follower.stop()
        leader.stop()


def test_only_one_replica_leads_among_several_starting_together(postgres, data_dir):
    url = postgres.create_database("together")
    servers = [Ecsd(data_dir, extra_args=["--store", url, "--lease-timeout", LEASE_TIMEOUT], log_name=f"ecsd-{n}.log") for n in range(3)]
    threads = [threading.Thread(target=s.start) for s in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert sorted(role(s) for s in servers) == ["follower", "follower", "leader"]
        assert psql(postgres, "together", "SELECT token FROM stevedore_lease") == "1"
    finally:
        for server in servers:
            server.stop()


def test_store_import_is_refused_while_an_ecsd_leads(postgres, data_dir):
    url = postgres.create_database("importing")
    (leader,) = replicas(data_dir, url, 1)
    try:
        refused = subprocess.run([f"{BIN}/ecsd", "store", "import", "--store", url, "--data-dir", data_dir + "/x", "--from", data_dir + "/y"],
                                 capture_output=True, text=True, timeout=60)
        assert refused.returncode != 0 and "an ecsd leads on this database" in refused.stderr
    finally:
        leader.stop()


class PartitionableProxy:
    """A TCP relay between one replica and PostgreSQL (on 127.0.0.1) that can be cut: while cut it
    holds its sockets open and relays nothing, as a network that drops packets does (no reset, no
    close), so the replica's connections hang rather than fail."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut = threading.Event()
        self.closed = threading.Event()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self.relay, args=(client, server), daemon=True).start()

    def relay(self, a, b):
        peers = {a: b, b: a}
        while not self.closed.is_set():
            if self.cut.is_set():
                time.sleep(0.05)
                continue
            try:
                readable, _, _ = select.select([a, b], [], [], 0.05)
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        raise ConnectionError("closed")
                    peers[source].sendall(data)
            except (OSError, ValueError):
                # One side went (the replica exited): the relay ends.
                a.close()
                b.close()
                return

    def close(self):
        self.closed.set()
        self.listener.close()


def test_a_leader_cut_off_from_postgresql_is_replaced_and_acknowledges_nothing_more(postgres, data_dir):
    """A partition between the leader and PostgreSQL (the leader itself alive and reachable): it
    cannot renew, so a follower takes over within the lease timeout; the old leader stops serving
    once its term ran out by its own clock (503s: clients and agents go elsewhere) and acknowledges
    no write; once the network heals, it finds its lease taken and exits."""
    url = postgres.create_database("partition")
    proxy = PartitionableProxy(postgres.port)
    through_proxy = url.replace(f":{postgres.port}/", f":{proxy.port}/")
    leader = Ecsd(data_dir, extra_args=["--store", through_proxy, "--lease-timeout", LEASE_TIMEOUT, "--store-timeout", "3"],
                  log_name="ecsd-cut.log").start()
    (follower,) = [Ecsd(data_dir, extra_args=["--store", url, "--lease-timeout", LEASE_TIMEOUT], log_name="ecsd-1.log").start()]
    try:
        assert role(leader) == "leader" and role(follower) == "follower"
        ecs_client(follower.endpoint).create_cluster(clusterName="before")
        proxy.cut.set()
        cut = time.monotonic()
        answers = []

        def write_to_the_cut_off_leader():
            try:
                answers.append(ecs_client(leader.endpoint).create_cluster(clusterName="cut-off"))
            except FAILURES as error:
                answers.append(error)
        writer = threading.Thread(target=write_to_the_cut_off_leader)
        writer.start()
        wait_until(lambda: role(follower) == "leader", timeout=15, interval=0.05, message="the follower leads")
        assert time.monotonic() - cut < float(LEASE_TIMEOUT) + 1
        ecs_client(follower.endpoint).create_cluster(clusterName="after")

        # The old leader, still cut off, stops serving by its own clock.
        def refused():
            try:
                ecs_client(leader.endpoint).list_clusters()
                return None
            except botocore.exceptions.ClientError as error:
                return error.response["ResponseMetadata"]["HTTPStatusCode"] == 503 or None
        wait_until(refused, timeout=10, interval=0.1, message="the cut-off leader stops serving")
        assert leader.process.poll() is None
        writer.join(timeout=30)
        assert answers and not isinstance(answers[0], dict), "the cut-off leader acknowledged a write"
        # Healed: its renewal finds the token taken, and it exits.
        proxy.cut.clear()
        assert leader.process.wait(timeout=15) == 75
        assert "no longer the leader" in leader.log()
        names = sorted(a.rsplit("/", 1)[1] for a in ecs_client(follower.endpoint).list_clusters()["clusterArns"])
        assert names == ["after", "before"]
        assert "cut-off" not in psql(postgres, "partition", "SELECT coalesce(string_agg(key, ','), '') FROM clusters")
    finally:
        proxy.close()
        follower.stop()
        leader.stop()
