"""Copies of the state: `ecsd backup` of a running ecsd's SQLite store, and `ecsd store export|import`
between SQLite and a real PostgreSQL. An ecsd started from a copy has what was acknowledged before it,
reads its secrets (the sealing key travels with it), and answers agents with an epoch of its own."""
import json
import os
import sqlite3
import subprocess
import threading
import urllib.request

import boto3
import botocore.config

from conftest import BIN, Ecsd
from postgres_support import postgres  # noqa: F401 (the fixture)
from test_authentication import admin_credentials

NO_RETRIES = botocore.config.Config(retries={"total_max_attempts": 1})


def ecsd_command(*args):
    return subprocess.run([os.path.join(BIN, "ecsd"), *args], capture_output=True, text=True, timeout=120)


def signed(server, service):
    _, key_id, secret = admin_credentials(server)
    return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id=key_id,
                        aws_secret_access_key=secret, config=NO_RETRIES)


def stored_epoch(data_dir):
    """The state epoch in a data directory's SQLite store ("" for a store never copied)."""
    with sqlite3.connect(f"file:{os.path.join(data_dir, 'ecsd.db')}?mode=ro", uri=True) as db:
        row = db.execute("SELECT body FROM meta WHERE key = 'counters'").fetchone()
    return json.loads(row[0]).get("epoch", "") if row else ""


def epoch_of(server):
    """The epoch a poll is answered with (an agent's first poll; authentication off)."""
    ecs = boto3.client("ecs", endpoint_url=server.endpoint, region_name="us-east-1")
    ecs.create_cluster(clusterName="epochs")
    instance = ecs.register_container_instance(
        cluster="epochs", totalResources=[{"name": "CPU", "type": "INTEGER", "integerValue": 1024},
                                          {"name": "MEMORY", "type": "INTEGER", "integerValue": 1024}])["containerInstance"]
    body = json.dumps({"cluster": "epochs", "containerInstanceArn": instance["containerInstanceArn"], "since": 0, "waitSeconds": 0}).encode()
    request = urllib.request.Request(server.endpoint + "/v1/agent/poll", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)["epoch"]


def test_a_backup_taken_under_writes_starts_an_ecsd_with_the_state_and_its_secrets(data_dir):
    original, copy = os.path.join(data_dir, "original"), os.path.join(data_dir, "copy")
    server = Ecsd(original, auth="on").start()
    ecs, ssm = signed(server, "ecs"), signed(server, "ssm")
    ssm.put_parameter(Name="/app/db-password", Value="hunter2", Type="SecureString")
    ecs.register_task_definition(family="web", containerDefinitions=[{"name": "web", "image": "busybox", "memory": 16}])
    registered, stop = [], threading.Event()

    def load():
        client = signed(server, "ecs")
        while not stop.is_set():
            revision = client.register_task_definition(
                family="load", containerDefinitions=[{"name": "a", "image": "busybox", "memory": 16}])["taskDefinition"]["revision"]
            registered.append(revision)

    writer = threading.Thread(target=load)
    writer.start()
    try:
        while len(registered) < 20:
            stop.wait(0.05)
        before = len(registered)
        result = ecsd_command("backup", "--data-dir", original, copy)
        after = len(registered)
    finally:
        stop.set()
        writer.join()
    assert result.returncode == 0, result.stderr
    assert "backed up" in result.stdout
    assert oct(os.stat(os.path.join(copy, "secret.key")).st_mode & 0o777) == "0o600"
    # Nothing half-made is left beside it.
    assert sorted(os.listdir(data_dir)) == ["copy", "original"]
    # Into a directory that holds something: refused, and nothing written.
    refused = ecsd_command("backup", "--data-dir", original, copy)
    assert refused.returncode != 0 and "not an empty directory" in refused.stderr
    server.stop()

    original_epoch = stored_epoch(original)
    restored = Ecsd(copy, auth="on").start()
    try:
        # The first start from the copy gives it an epoch of its own (and only the first).
        restored_epoch = stored_epoch(copy)
        assert restored_epoch not in ("", original_epoch)
        assert not os.path.exists(os.path.join(copy, "restored-copy"))
        ecs, ssm = signed(restored, "ecs"), signed(restored, "ssm")
        # Everything acknowledged before the backup started is there; nothing after the last write it could have seen.
        revisions = ecs.list_task_definitions(familyPrefix="load")["taskDefinitionArns"]
        assert before <= len(revisions) <= after + 1
        assert ecs.describe_task_definition(taskDefinition="web")["taskDefinition"]["revision"] == 1
        assert ssm.get_parameter(Name="/app/db-password", WithDecryption=True)["Parameter"]["Value"] == "hunter2"
    finally:
        restored.stop()

    restored.start()
    restored.stop()
    assert stored_epoch(copy) == restored_epoch

    missing = ecsd_command("backup", "--data-dir", os.path.join(data_dir, "nowhere"), os.path.join(data_dir, "other"))
    assert missing.returncode != 0 and "no store there" in missing.stderr
    assert not os.path.exists(os.path.join(data_dir, "other"))
    exported = ecsd_command("store", "export", "--data-dir", os.path.join(data_dir, "nowhere"), "--to", os.path.join(data_dir, "other"))
    assert exported.returncode != 0 and "no store there" in exported.stderr
    on_postgres = ecsd_command("backup", "--data-dir", original, "--store", "postgres://u@127.0.0.1:1/x", os.path.join(data_dir, "other"))
    assert on_postgres.returncode != 0 and "store export" in on_postgres.stderr


def test_sqlite_to_postgresql_and_back_with_new_epochs(postgres, data_dir):
    url = postgres.create_database("copies")
    first = Ecsd(os.path.join(data_dir, "sqlite")).start()
    ecs = boto3.client("ecs", endpoint_url=first.endpoint, region_name="us-east-1")
    for name in ("alpha", "beta"):
        ecs.create_cluster(clusterName=name, tags=[{"key": "team", "value": name}])
    original_epoch = epoch_of(first)
    assert original_epoch == ""
    first.stop()

    # A data directory whose key is another's: the copy's secrets could not be read there.
    other = os.path.join(data_dir, "other")
    os.makedirs(other)
    with open(os.path.join(other, "secret.key"), "wb") as key:
        key.write(os.urandom(32))
    with open(os.path.join(first.data_dir, "secret.key"), "rb") as key:
        assert key.read() != open(os.path.join(other, "secret.key"), "rb").read()
    refused = ecsd_command("store", "import", "--store", url, "--data-dir", other, "--from", first.data_dir)
    assert refused.returncode != 0 and "differs from" in refused.stderr, refused.stderr

    imported = ecsd_command("store", "import", "--store", url, "--data-dir", os.path.join(data_dir, "pg"), "--from", first.data_dir)
    assert imported.returncode == 0, imported.stderr
    # A store that holds state takes no second import.
    again = ecsd_command("store", "import", "--store", url, "--data-dir", os.path.join(data_dir, "pg"), "--from", first.data_dir)
    assert again.returncode != 0 and "already holds state" in again.stderr

    on_postgres = Ecsd(os.path.join(data_dir, "pg"), extra_args=["--store", url]).start()
    ecs = boto3.client("ecs", endpoint_url=on_postgres.endpoint, region_name="us-east-1")
    clusters = ecs.describe_clusters(clusters=["alpha", "beta"], include=["TAGS"])["clusters"]
    assert [(c["clusterName"], c["status"], c["tags"]) for c in clusters] == [
        ("alpha", "ACTIVE", [{"key": "team", "value": "alpha"}]), ("beta", "ACTIVE", [{"key": "team", "value": "beta"}])]
    postgres_epoch = epoch_of(on_postgres)
    assert postgres_epoch not in ("", original_epoch)
    ecs.create_cluster(clusterName="gamma")
    # No import while an ecsd leads on the database (the import takes the leader lease).
    busy = ecsd_command("store", "import", "--store", url, "--data-dir", os.path.join(data_dir, "pg"), "--from", first.data_dir)
    assert busy.returncode != 0 and "an ecsd leads on this database" in busy.stderr, busy.stderr
    on_postgres.stop()

    exported = ecsd_command("store", "export", "--store", url, "--data-dir", on_postgres.data_dir, "--to", os.path.join(data_dir, "back"))
    assert exported.returncode == 0, exported.stderr
    back = Ecsd(os.path.join(data_dir, "back")).start()
    try:
        ecs = boto3.client("ecs", endpoint_url=back.endpoint, region_name="us-east-1")
        names = sorted(c["clusterName"] for c in ecs.describe_clusters(clusters=["alpha", "beta", "gamma", "epochs"])["clusters"]
                       if c["status"] == "ACTIVE")
        assert names == ["alpha", "beta", "epochs", "gamma"]
        assert epoch_of(back) not in ("", original_epoch, postgres_epoch)
    finally:
        back.stop()
