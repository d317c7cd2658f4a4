"""boto3 drives task definitions, tags and errors against ecsd."""
import json

import botocore.exceptions
import pytest

from conftest import example


def load(name):
    with open(example("task-definitions", name)) as f:
        return json.load(f)


@pytest.mark.parametrize("name", ["web.json", "app-with-db.json", "batch-job.json", "web-with-secrets.json"])
def test_examples_register_unchanged(ecs, name):
    spec = load(name)
    response = ecs.register_task_definition(**spec)
    definition = response["taskDefinition"]
    assert definition["family"] == spec["family"]
    assert definition["status"] == "ACTIVE"
    assert len(definition["containerDefinitions"]) == len(spec["containerDefinitions"])


def test_revisions_listing_and_pagination(ecs):
    spec = load("web.json")
    for _ in range(5):
        ecs.register_task_definition(**spec)
    batch = load("batch-job.json")
    ecs.register_task_definition(**batch)

    paginator = ecs.get_paginator("list_task_definitions")
    arns = [arn for page in paginator.paginate(PaginationConfig={"PageSize": 2}) for arn in page["taskDefinitionArns"]]
    assert [a.rsplit("/", 1)[1] for a in arns] == ["nightly-report:1"] + [f"web:{n}" for n in range(1, 6)]

    newest = ecs.list_task_definitions(familyPrefix="web", sort="DESC", maxResults=1)
    assert newest["taskDefinitionArns"][0].endswith("web:5") and "nextToken" in newest

    families = ecs.list_task_definition_families(familyPrefix="w")["families"]
    assert families == ["web"]

    described = ecs.describe_task_definition(
        taskDefinition="arn:aws:ecs:us-east-1:000000000000:task-definition/nightly-report:1", include=["TAGS"])
    assert described["tags"] == [{"key": "schedule", "value": "nightly"}]
    assert described["taskDefinition"]["cpu"] == "512"
    assert described["taskDefinition"]["memory"] == "1024"


def test_tags(ecs):
    arn = ecs.create_cluster(clusterName="tagged")["cluster"]["clusterArn"]
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "env", "value": "dev"}, {"key": "owner", "value": "me"}])
    ecs.untag_resource(resourceArn=arn, tagKeys=["owner"])
    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "env", "value": "dev"}]
    with pytest.raises(botocore.exceptions.ClientError) as info:
        ecs.tag_resource(resourceArn=arn, tags=[{"key": "aws:reserved", "value": "x"}])
    assert info.value.response["Error"]["Code"] == "InvalidParameterException"


@pytest.mark.parametrize(
    "containers, code, fragment",
    [
        ([], "ClientException", "at least one container"),
        ([{"name": "a", "image": "x", "memory": 32}] * 2, "ClientException", "unique"),
        ([{"name": "a", "image": "x", "memory": 32, "essential": False}], "ClientException", "essential"),
        ([{"name": "a", "image": "x", "memory": 32, "links": ["b"]}], "ClientException", "container 'b'"),
        ([{"name": "a", "image": "x", "memory": 32, "dependsOn": [{"containerName": "a", "condition": "START"}]}],
         "ClientException", "itself"),
        ([{"name": "a", "image": "x", "memory": 32, "mountPoints": [{"sourceVolume": "v", "containerPath": "/v"}]}],
         "ClientException", "sourceVolume 'v'"),
        ([{"name": "a", "image": "x", "memory": 32, "healthCheck": {"command": ["CMD", "true"], "timeout": 100}}],
         "ClientException", "timeout is 100"),
        ([{"name": "a", "image": "x", "memory": 32, "portMappings": [{"containerPort": 70000}]}],
         "ClientException", "ports are 1-65535"),
    ],
)
def test_validation_errors(ecs, containers, code, fragment):
    with pytest.raises(botocore.exceptions.ClientError) as info:
        ecs.register_task_definition(family="bad", containerDefinitions=containers)
    error = info.value.response["Error"]
    assert error["Code"] == code
    assert fragment in error["Message"]
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_lookup_errors(ecs):
    for reference in ["nothing", "nothing:1", "arn:aws:ecs:us-east-1:000000000000:task-definition/nothing:1"]:
        with pytest.raises(botocore.exceptions.ClientError) as info:
            ecs.describe_task_definition(taskDefinition=reference)
        assert info.value.response["Error"]["Code"] == "ClientException"
    with pytest.raises(botocore.exceptions.ClientError) as info:
        ecs.list_clusters(nextToken="not-a-token")
    assert info.value.response["Error"]["Code"] == "InvalidParameterException"
