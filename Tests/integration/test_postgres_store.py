"""`ecsd --store postgres://…` on a real PostgreSQL: the same guarantees as the embedded store —
what was acknowledged survives `kill -9`, client tokens are honoured across restarts, nothing is
duplicated — and a store it cannot reach or read stops the start with a message that says why."""
import subprocess
import threading
import uuid

import boto3
import botocore.config
import botocore.exceptions

from conftest import BIN, Ecsd, wait_until
from postgres_support import postgres  # noqa: F401 (the fixture)

NO_RETRIES = botocore.config.Config(retries={"total_max_attempts": 1})


def test_acknowledged_writes_survive_kill_9_and_tokens_survive_restarts(postgres, data_dir, fleets):
    url = postgres.create_database("kills")
    server = Ecsd(data_dir, extra_args=["--store", url]).start()
    ecs = boto3.client("ecs", endpoint_url=server.endpoint, region_name="us-east-1", config=NO_RETRIES)
    ecs.create_cluster(clusterName="pg")
    ecs.register_task_definition(family="web", containerDefinitions=[{"name": "web", "image": "nginx:1.27", "cpu": 1, "memory": 6}])
    fleets(server.endpoint, "pg", 2, resources="cpu=100000,memory=100000")
    wait_until(lambda: len(ecs.list_container_instances(cluster="pg")["containerInstanceArns"]) == 2, message="instances registered")

    acknowledged = {}
    stop = threading.Event()

    def load(worker):
        client = boto3.client("ecs", endpoint_url=server.endpoint, region_name="us-east-1", config=NO_RETRIES)
        index = 0
        while not stop.is_set():
            token = f"w{worker}-{index}"
            try:
                answer = client.run_task(cluster="pg", taskDefinition="web", count=2, clientToken=token)
                acknowledged[token] = sorted(t["taskArn"] for t in answer["tasks"])
                index += 1
            except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError,
                    botocore.exceptions.ReadTimeoutError, botocore.exceptions.ClientError):
                stop.wait(0.05)

    workers = [threading.Thread(target=load, args=(n,)) for n in range(4)]
    for worker in workers:
        worker.start()
    try:
        for _ in range(3):
            wait_until(lambda: len(acknowledged) >= 5, message="RunTask acknowledged")
            server.kill9()
            server.start()
    finally:
        stop.set()
        for worker in workers:
            worker.join()

    # Every acknowledged task is there; the same token again answers with the same tasks.
    arns = {arn for page in ecs.get_paginator("list_tasks").paginate(cluster="pg") for arn in page["taskArns"]}
    for token, tasks in list(acknowledged.items())[:20]:
        assert sorted(t["taskArn"] for t in ecs.run_task(cluster="pg", taskDefinition="web", count=2, clientToken=token)["tasks"]) == tasks
    assert {arn for tasks in acknowledged.values() for arn in tasks} <= arns
    # A token retried after a kill answered with the tasks its first try made, never new ones:
    # two tasks per token, and at most each worker's last, unanswered, token beyond those acknowledged.
    assert 2 * len(acknowledged) <= len(arns) <= 2 * (len(acknowledged) + len(workers))
    server.stop()


def test_a_store_that_cannot_be_reached_or_named_stops_the_start(postgres, data_dir):
    unreachable = subprocess.run(
        [f"{BIN}/ecsd", "--data-dir", data_dir, "--listen", "127.0.0.1:0", "--store", "postgres://nobody@127.0.0.1:1/none"],
        capture_output=True, text=True, timeout=60)
    assert unreachable.returncode != 0 and "PostgreSQL at 127.0.0.1:1/none" in unreachable.stderr
    misnamed = subprocess.run([f"{BIN}/ecsd", "--data-dir", data_dir, "--store", "mysql://x@y/z"], capture_output=True, text=True, timeout=60)
    assert misnamed.returncode != 0 and "--store mysql://x@y/z is neither sqlite nor postgres://" in misnamed.stderr


def test_the_schema_is_made_once_and_a_newer_one_is_refused(postgres, data_dir):
    url = postgres.create_database("schema_" + uuid.uuid4().hex[:6])
    for _ in range(2):
        server = Ecsd(data_dir, extra_args=["--store", url]).start()
        server.stop()
    postgres.run("psql", "-h", "127.0.0.1", "-p", str(postgres.port), "-U", postgres.user, "-d", url.rsplit("/", 1)[1],
                 "-c", "UPDATE stevedore_schema SET version = version + 1")
    newer = subprocess.run([f"{BIN}/ecsd", "--data-dir", data_dir, "--listen", "127.0.0.1:0", "--store", url],
                           capture_output=True, text=True, timeout=60)
    assert newer.returncode != 0 and "is newer than this ecsd understands" in newer.stderr


def test_writes_fail_while_postgresql_is_down_and_resume_after_a_reload(data_dir):
    """A commit the server cannot take fails (a 500 that says so); writes are refused while ecsd
    loads its state again, which it does once the server is back; nothing refused is kept."""
    from postgres_support import Postgres
    server_pg = Postgres().start()
    try:
        url = server_pg.create_database("outage")
        server = Ecsd(data_dir, extra_args=["--store", url, "--store-timeout", "3"]).start()
        ecs = boto3.client("ecs", endpoint_url=server.endpoint, region_name="us-east-1", config=NO_RETRIES)
        try:
            ecs.create_cluster(clusterName="before")
            server_pg.run("pg_ctl", "-D", server_pg.directory + "/data", "-m", "immediate", "stop")
            try:
                ecs.create_cluster(clusterName="during")
                raise AssertionError("a write was acknowledged while PostgreSQL was down")
            except botocore.exceptions.ClientError as refused:
                assert refused.response["ResponseMetadata"]["HTTPStatusCode"] == 500
                assert "may not have been saved" in refused.response["Error"]["Message"] \
                    or "reloading its state" in refused.response["Error"]["Message"]
            server_pg.run("pg_ctl", "-D", server_pg.directory + "/data", "-l", server_pg.directory + "/server.log", "-w", "-o",
                          f"-p {server_pg.port} -k {server_pg.directory} -c listen_addresses=127.0.0.1", "start")

            def written():
                try:
                    return ecs.create_cluster(clusterName="after")
                except botocore.exceptions.ClientError:
                    return None
            wait_until(written, timeout=60, interval=0.5, message="writes taken again")
            names = sorted(arn.rsplit("/", 1)[1] for arn in ecs.list_clusters()["clusterArns"])
            assert names == ["after", "before"]
        finally:
            server.stop()
        # What ecsd answered is what PostgreSQL holds (started again where it ran).
        server = Ecsd(data_dir, port=server.port, extra_args=["--store", url]).start()
        ecs = boto3.client("ecs", endpoint_url=server.endpoint, region_name="us-east-1", config=NO_RETRIES)
        assert sorted(arn.rsplit("/", 1)[1] for arn in ecs.list_clusters()["clusterArns"]) == ["after", "before"]
        server.stop()
    finally:
        server_pg.stop()
