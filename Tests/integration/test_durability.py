"""Acknowledged writes survive a restart and a kill -9 of ecsd."""
import concurrent.futures

import boto3

from conftest import Ecsd


def client(server):
    return boto3.client("ecs", endpoint_url=server.endpoint, region_name="us-east-1")


def test_graceful_restart_keeps_everything(data_dir):
    server = Ecsd(data_dir).start()
    ecs = client(server)
    ecs.create_cluster(clusterName="keep", tags=[{"key": "a", "value": "b"}])
    ecs.register_task_definition(family="keep", containerDefinitions=[{"name": "a", "image": "busybox", "memory": 32}])
    assert server.stop() == 0

    server = Ecsd(data_dir, port=server.port).start()
    ecs = client(server)
    assert ecs.describe_clusters(clusters=["keep"], include=["TAGS"])["clusters"][0]["tags"] == [{"key": "a", "value": "b"}]
    assert ecs.describe_task_definition(taskDefinition="keep")["taskDefinition"]["revision"] == 1
    server.stop()


def test_kill_9_loses_no_acknowledged_write(data_dir):
    server = Ecsd(data_dir).start()
    ecs = client(server)

    def register(index):
        ecs.register_task_definition(family=f"f{index % 5}",
                                     containerDefinitions=[{"name": "a", "image": "busybox", "memory": 32}])
        return index

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        acknowledged = list(pool.map(register, range(100)))
    ecs.create_cluster(clusterName="last-write")
    server.kill9()

    server = Ecsd(data_dir, port=server.port).start()
    ecs = client(server)
    arns = [arn for page in ecs.get_paginator("list_task_definitions").paginate() for arn in page["taskDefinitionArns"]]
    assert len(arns) == len(acknowledged) == 100
    assert ecs.describe_clusters(clusters=["last-write"])["clusters"][0]["status"] == "ACTIVE"
    # Revisions continue where they were.
    next_revision = ecs.register_task_definition(
        family="f0", containerDefinitions=[{"name": "a", "image": "busybox", "memory": 32}])["taskDefinition"]["revision"]
    assert next_revision == 21
    server.stop()
