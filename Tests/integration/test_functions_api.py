"""The Lambda control API and the SQS subset, driven by the real aws CLI and boto3: functions,
versions, aliases, layers, concurrency, asynchronous settings, tags, and their error cases.
No Docker needed: nothing here runs a function."""
import base64
import hashlib
import json

import boto3
import botocore
import pytest
from botocore.config import Config

from conftest import Ecsd, run_aws
from functions_support import ROLE, zip_files

CODE = zip_files({"bootstrap": ("#!/bin/sh\necho hi\n", 0o755)})


@pytest.fixture
def lam(ecsd):
    # No client-side validation: every refusal tested here must come from ecsd itself.
    return boto3.client("lambda", endpoint_url=ecsd.endpoint, region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1}, parameter_validation=False))


@pytest.fixture
def sqs(ecsd):
    return boto3.client("sqs", endpoint_url=ecsd.endpoint, region_name="us-east-1")


def create(lam, name, **extra):
    args = dict(FunctionName=name, Runtime="provided.al2023", Handler="function.handler", Role=ROLE, Code={"ZipFile": CODE})
    args.update(extra)
    return lam.create_function(**args)


def error_of(call):
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        call()
    return raised.value.response


def test_create_get_list_delete_with_the_aws_cli(ecsd, tmp_path):
    bundle = tmp_path / "fn.zip"
    bundle.write_bytes(CODE)
    _, out, _ = run_aws(ecsd.endpoint, "lambda", "create-function", "--function-name", "hello", "--runtime", "provided.al2023",
                        "--handler", "function.handler", "--role", ROLE, "--zip-file", f"fileb://{bundle}",
                        "--memory-size", "256", "--timeout", "10", "--environment", "Variables={GREETING=hi}")
    created = json.loads(out)
    assert created["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:hello"
    assert created["State"] == "Pending" and created["StateReasonCode"] == "Creating"
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(CODE).digest()).decode()
    assert created["CodeSize"] == len(CODE)
    assert created["MemorySize"] == 256 and created["Timeout"] == 10 and created["Version"] == "$LATEST"
    assert created["Environment"]["Variables"] == {"GREETING": "hi"}
    assert created["EphemeralStorage"] == {"Size": 512}

    run_aws(ecsd.endpoint, "lambda", "wait", "function-active-v2", "--function-name", "hello")
    _, out, _ = run_aws(ecsd.endpoint, "lambda", "get-function", "--function-name", "hello")
    got = json.loads(out)
    assert got["Configuration"]["State"] == "Active" and got["Configuration"]["LastUpdateStatus"] == "Successful"
    assert got["Code"]["RepositoryType"] == "S3"

    _, out, _ = run_aws(ecsd.endpoint, "lambda", "list-functions")
    assert [f["FunctionName"] for f in json.loads(out)["Functions"]] == ["hello"]

    code, _, err = run_aws(ecsd.endpoint, "lambda", "create-function", "--function-name", "hello", "--runtime", "provided.al2023",
                           "--handler", "h", "--role", ROLE, "--zip-file", f"fileb://{bundle}", check=False)
    assert code != 0 and "ResourceConflictException" in err and "Function already exist" in err

    # Versions and aliases through the CLI too.
    _, out, _ = run_aws(ecsd.endpoint, "lambda", "publish-version", "--function-name", "hello", "--description", "first")
    assert json.loads(out)["Version"] == "1"
    _, out, _ = run_aws(ecsd.endpoint, "lambda", "create-alias", "--function-name", "hello", "--name", "prod", "--function-version", "1")
    assert json.loads(out)["AliasArn"] == "arn:aws:lambda:us-east-1:000000000000:function:hello:prod"
    _, out, _ = run_aws(ecsd.endpoint, "lambda", "list-aliases", "--function-name", "hello")
    assert [a["Name"] for a in json.loads(out)["Aliases"]] == ["prod"]
    _, out, _ = run_aws(ecsd.endpoint, "lambda", "get-function-configuration", "--function-name", "hello", "--qualifier", "prod")
    assert json.loads(out)["Version"] == "1"

    run_aws(ecsd.endpoint, "lambda", "delete-function", "--function-name", "hello")
    code, _, err = run_aws(ecsd.endpoint, "lambda", "get-function", "--function-name", "hello", check=False)
    assert code != 0 and "ResourceNotFoundException" in err and "Function not found" in err


def test_validation_errors_name_the_field(lam):
    cases = [
        (dict(MemorySize=100), "memorySize"),
        (dict(Timeout=0), "timeout"),
        (dict(MemorySize=3072), "memorySize"),
        (dict(MemorySize=200), "MemorySize 200 is not a multiple of 64"),
        (dict(Timeout=901), "timeout"),
        (dict(Role="not-a-role"), "role"),
        (dict(EphemeralStorage={"Size": 100000}), "ephemeralStorage.size"),
        (dict(Environment={"Variables": {"AWS_REGION": "x"}}), "Reserved keys used in this request: AWS_REGION"),
        (dict(Environment={"Variables": {"1BAD": "x"}}), "environment.variables"),
        (dict(Environment={"Variables": {"BIG": "x" * 5000}}), "exceeded the 4KB limit"),
        (dict(Layers=["arn:aws:lambda:us-east-1:000000000000:layer:missing:1"]), "does not exist"),
        (dict(Layers=[f"arn:aws:lambda:us-east-1:000000000000:layer:l{i}:1" for i in range(6)]), "layers"),
        (dict(Runtime="nodejs20.x"), "--runtime-image nodejs20.x=IMAGE"),
        (dict(Code={"ZipFile": b"not a zip"}), "Could not unzip uploaded file"),
        (dict(DeadLetterConfig={"TargetArn": "arn:aws:sqs:us-east-1:000000000000:nope"}), "does not exist"),
    ]
    for index, (extra, needle) in enumerate(cases):
        response = error_of(lambda: create(lam, f"bad{index}", **extra))
        # boto3 validates some ranges itself; what reaches the server must be refused by it.
        assert response["Error"]["Code"] == "InvalidParameterValueException", (extra, response)
        assert needle in response["Error"]["Message"], (extra, response["Error"]["Message"])
    assert lam.list_functions()["Functions"] == []


def test_runtime_is_checked_against_the_model(ecsd):
    code, _, err = run_aws(ecsd.endpoint, "lambda", "create-function", "--function-name", "x", "--runtime", "cobol9",
                           "--handler", "h", "--role", ROLE, "--zip-file", "fileb:///dev/null", check=False)
    assert code != 0


def test_versions_and_aliases(lam):
    create(lam, "ver", Description="first")
    lam.get_waiter("function_active_v2").wait(FunctionName="ver")
    v1 = lam.publish_version(FunctionName="ver")
    assert v1["Version"] == "1" and v1["FunctionArn"].endswith(":ver:1")
    # Publishing unchanged code and configuration returns the same version.
    assert lam.publish_version(FunctionName="ver")["Version"] == "1"
    lam.update_function_configuration(FunctionName="ver", MemorySize=256)
    lam.get_waiter("function_updated_v2").wait(FunctionName="ver")
    v2 = lam.publish_version(FunctionName="ver", Description="bigger")
    assert v2["Version"] == "2" and v2["MemorySize"] == 256
    versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName="ver")["Versions"]]
    assert versions == ["$LATEST", "1", "2"]
    assert lam.get_function_configuration(FunctionName="ver", Qualifier="1")["MemorySize"] == 128
    assert lam.get_function_configuration(FunctionName="arn:aws:lambda:us-east-1:000000000000:function:ver:2")["MemorySize"] == 256

    alias = lam.create_alias(FunctionName="ver", Name="live", FunctionVersion="1",
                             RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}})
    assert alias["AliasArn"].endswith(":ver:live")
    assert lam.get_alias(FunctionName="ver", Name="live")["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.25}}
    assert lam.get_function_configuration(FunctionName="ver", Qualifier="live")["Version"] == "1"
    updated = lam.update_alias(FunctionName="ver", Name="live", FunctionVersion="2", RoutingConfig={"AdditionalVersionWeights": {}})
    assert updated["FunctionVersion"] == "2" and "RoutingConfig" not in updated
    assert [a["Name"] for a in lam.list_aliases(FunctionName="ver")["Aliases"]] == ["live"]

    # Errors: a weighted alias on $LATEST, a missing version, two extra versions, stale revision.
    assert "$LATEST" in error_of(lambda: lam.create_alias(
        FunctionName="ver", Name="bad", FunctionVersion="$LATEST", RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}}))["Error"]["Message"]
    assert error_of(lambda: lam.create_alias(FunctionName="ver", Name="bad", FunctionVersion="9"))["Error"]["Code"] == "ResourceNotFoundException"
    assert error_of(lambda: lam.update_alias(FunctionName="ver", Name="live", RevisionId="stale"))["Error"]["Code"] == "PreconditionFailedException"
    assert error_of(lambda: lam.delete_function(FunctionName="ver", Qualifier="2"))["Error"]["Code"] == "ResourceConflictException"
    assert error_of(lambda: lam.update_function_configuration(FunctionName="ver", Timeout=5, RevisionId="stale"))["Error"]["Code"] == \
        "PreconditionFailedException"

    lam.delete_alias(FunctionName="ver", Name="live")
    lam.delete_function(FunctionName="ver", Qualifier="2")
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName="ver")["Versions"]] == ["$LATEST", "1"]
    # Version numbers are never reused.
    lam.update_function_configuration(FunctionName="ver", Timeout=7)
    lam.get_waiter("function_updated_v2").wait(FunctionName="ver")
    assert lam.publish_version(FunctionName="ver")["Version"] == "3"


def test_layers(lam):
    content = zip_files({"bin/tool": ("#!/bin/sh\necho tool\n", 0o755)})
    first = lam.publish_layer_version(LayerName="tools", Content={"ZipFile": content}, CompatibleRuntimes=["provided.al2023"],
                                      Description="v1", LicenseInfo="MIT")
    assert first["Version"] == 1 and first["LayerVersionArn"].endswith(":layer:tools:1")
    assert first["Content"]["CodeSha256"] == base64.b64encode(hashlib.sha256(content).digest()).decode()
    second = lam.publish_layer_version(LayerName="tools", Content={"ZipFile": content})
    assert second["Version"] == 2
    assert [v["Version"] for v in lam.list_layer_versions(LayerName="tools")["LayerVersions"]] == [2, 1]
    assert [l["LayerName"] for l in lam.list_layers()["Layers"]] == ["tools"]
    assert lam.list_layers(CompatibleRuntime="provided.al2023")["Layers"][0]["LatestMatchingVersion"]["Version"] == 1
    assert lam.get_layer_version(LayerName="tools", VersionNumber=1)["Description"] == "v1"
    assert lam.get_layer_version_by_arn(Arn=first["LayerVersionArn"])["Version"] == 1
    fn = create(lam, "layered", Layers=[first["LayerVersionArn"]])
    assert fn["Layers"] == [{"Arn": first["LayerVersionArn"], "CodeSize": len(content)}]
    assert "same layer" in error_of(lambda: lam.update_function_configuration(
        FunctionName="layered", Layers=[first["LayerVersionArn"], second["LayerVersionArn"]]))["Error"]["Message"]
    lam.delete_layer_version(LayerName="tools", VersionNumber=2)
    assert [v["Version"] for v in lam.list_layer_versions(LayerName="tools")["LayerVersions"]] == [1]
    assert error_of(lambda: lam.get_layer_version(LayerName="tools", VersionNumber=2))["Error"]["Code"] == "ResourceNotFoundException"


def test_concurrency_settings(lam):
    create(lam, "conc")
    assert lam.put_function_concurrency(FunctionName="conc", ReservedConcurrentExecutions=10)["ReservedConcurrentExecutions"] == 10
    assert lam.get_function_concurrency(FunctionName="conc")["ReservedConcurrentExecutions"] == 10
    assert lam.get_function(FunctionName="conc")["Concurrency"] == {"ReservedConcurrentExecutions": 10}
    settings = lam.get_account_settings()
    assert settings["AccountLimit"]["ConcurrentExecutions"] == 1000
    assert settings["AccountLimit"]["UnreservedConcurrentExecutions"] == 990
    response = error_of(lambda: lam.put_function_concurrency(FunctionName="conc", ReservedConcurrentExecutions=950))
    assert response["Error"]["Code"] == "InvalidParameterValueException"
    assert "below its minimum value of [100]" in response["Error"]["Message"]
    lam.delete_function_concurrency(FunctionName="conc")
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName="conc")


def test_event_invoke_config(lam, sqs):
    create(lam, "evt")
    dlq = sqs.create_queue(QueueName="evt-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    config = lam.put_function_event_invoke_config(FunctionName="evt", MaximumRetryAttempts=1, MaximumEventAgeInSeconds=120,
                                                  DestinationConfig={"OnFailure": {"Destination": arn}})
    assert config["MaximumRetryAttempts"] == 1 and config["DestinationConfig"]["OnFailure"]["Destination"] == arn
    merged = lam.update_function_event_invoke_config(FunctionName="evt", MaximumRetryAttempts=0)
    assert merged["MaximumRetryAttempts"] == 0 and merged["MaximumEventAgeInSeconds"] == 120
    assert lam.get_function_event_invoke_config(FunctionName="evt")["MaximumRetryAttempts"] == 0
    assert len(lam.list_function_event_invoke_configs(FunctionName="evt")["FunctionEventInvokeConfigs"]) == 1
    for bad in (dict(MaximumRetryAttempts=3), dict(MaximumEventAgeInSeconds=59)):
        response = error_of(lambda: lam.put_function_event_invoke_config(FunctionName="evt", **bad))
        assert response["Error"]["Code"] == "InvalidParameterValueException"
    lam.delete_function_event_invoke_config(FunctionName="evt")
    assert error_of(lambda: lam.get_function_event_invoke_config(FunctionName="evt"))["Error"]["Code"] == "ResourceNotFoundException"


def test_tags(lam):
    arn = create(lam, "tagged", Tags={"team": "a"})["FunctionArn"]
    lam.tag_resource(Resource=arn, Tags={"env": "dev"})
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "a", "env": "dev"}
    lam.untag_resource(Resource=arn, TagKeys=["team"])
    assert lam.get_function(FunctionName="tagged")["Tags"] == {"env": "dev"}
    assert error_of(lambda: lam.tag_resource(Resource=arn, Tags={"aws:x": "1"}))["Error"]["Code"] == "InvalidParameterValueException"


def test_invoke_refusals_without_running_anything(lam, ecsd):
    create(lam, "inv")
    lam.get_waiter("function_active_v2").wait(FunctionName="inv")
    assert lam.invoke(FunctionName="inv", InvocationType="DryRun")["StatusCode"] == 204
    assert error_of(lambda: lam.invoke(FunctionName="missing"))["Error"]["Code"] == "ResourceNotFoundException"
    assert error_of(lambda: lam.invoke(FunctionName="inv", Payload=b"{not json"))["Error"]["Code"] == "InvalidRequestContentException"
    big = b'"' + b"x" * (6 * 1024 * 1024) + b'"'
    response = error_of(lambda: lam.invoke(FunctionName="inv", Payload=big))
    assert response["Error"]["Code"] == "RequestTooLargeException" and response["ResponseMetadata"]["HTTPStatusCode"] == 413
    lam.put_function_concurrency(FunctionName="inv", ReservedConcurrentExecutions=0)
    response = error_of(lambda: lam.invoke(FunctionName="inv"))
    assert response["Error"]["Code"] == "TooManyRequestsException"
    assert response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    code, _, err = run_aws(ecsd.endpoint, "lambda", "invoke", "--function-name", "inv", "--invocation-type", "Sideways", "/dev/null",
                           check=False)
    assert code != 0


def test_sqs_subset(sqs):
    url = sqs.create_queue(QueueName="jobs", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    assert url.endswith("/000000000000/jobs")
    assert sqs.get_queue_url(QueueName="jobs")["QueueUrl"] == url
    sent = sqs.send_message(QueueUrl=url, MessageBody="hello", MessageAttributes={
        "Kind": {"DataType": "String", "StringValue": "greeting"}, "Count": {"DataType": "Number", "StringValue": "3"}})
    assert sent["MD5OfMessageBody"] == hashlib.md5(b"hello").hexdigest()
    received = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], AttributeNames=["All"])["Messages"]
    assert received[0]["Body"] == "hello" and received[0]["MessageAttributes"]["Kind"]["StringValue"] == "greeting"
    assert received[0]["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert received[0]["Attributes"]["ApproximateReceiveCount"] == "1"
    # Invisible for the visibility timeout, then back.
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    again = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=3)["Messages"][0]
    assert again["MessageId"] == received[0]["MessageId"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"])
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0" and attributes["QueueArn"].endswith(":jobs")
    assert [u.rsplit("/", 1)[1] for u in sqs.list_queues()["QueueUrls"]] == ["jobs"]
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName="nope")
    with pytest.raises(botocore.exceptions.ClientError):
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes={"Bad": {"DataType": "Weird", "StringValue": "1"}})
    sqs.delete_queue(QueueUrl=url)
    assert sqs.list_queues().get("QueueUrls", []) == []


def test_fifo_queues_keep_groups_in_order(sqs):
    url = sqs.create_queue(QueueName="jobs.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true",
                                                              "VisibilityTimeout": "30"})["QueueUrl"]
    sent = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": str(i), "MessageBody": body, "MessageGroupId": group} for i, (body, group) in enumerate([("a1", "a"), ("b1", "b"), ("a2", "a")])])
    assert [int(e["SequenceNumber"]) for e in sent["Successful"]] == sorted(int(e["SequenceNumber"]) for e in sent["Successful"])
    again = sqs.send_message(QueueUrl=url, MessageBody="a1", MessageGroupId="a")
    assert again["MessageId"] == sent["Successful"][0]["MessageId"]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in got] == ["a1", "b1", "a2"] and got[0]["Attributes"]["MessageGroupId"] == "a"
    # While a group's messages are in flight, nothing more of it comes.
    sqs.send_message(QueueUrl=url, MessageBody="a3", MessageGroupId="a")
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        sqs.send_message(QueueUrl=url, MessageBody="x")
    assert refused.value.response["Error"]["Code"] == "MissingParameter"
    with pytest.raises(botocore.exceptions.ClientError):
        sqs.create_queue(QueueName="wrong.fifo")


def test_functions_and_queues_survive_kill_9(data_dir):
    server = Ecsd(data_dir).start()
    lam = boto3.client("lambda", endpoint_url=server.endpoint, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=server.endpoint, region_name="us-east-1")
    create(lam, "durable")
    lam.publish_version(FunctionName="durable")
    lam.create_alias(FunctionName="durable", Name="prod", FunctionVersion="1")
    lam.put_function_concurrency(FunctionName="durable", ReservedConcurrentExecutions=5)
    url = sqs.create_queue(QueueName="keep")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="still here")
    server.kill9()
    server.start()
    try:
        assert lam.get_alias(FunctionName="durable", Name="prod")["FunctionVersion"] == "1"
        assert lam.get_function_concurrency(FunctionName="durable")["ReservedConcurrentExecutions"] == 5
        assert lam.get_function(FunctionName="durable")["Configuration"]["CodeSha256"] == \
            base64.b64encode(hashlib.sha256(CODE).digest()).decode()
        assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "still here"
    finally:
        server.stop()


def test_code_and_layers_from_the_object_store(lam, ecsd):
    s3 = boto3.client("s3", endpoint_url=ecsd.endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="artifacts")
    s3.put_object(Bucket="artifacts", Key="fn/v1.zip", Body=CODE)
    created = create(lam, "from-s3", Code={"S3Bucket": "artifacts", "S3Key": "fn/v1.zip"})
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(CODE).digest()).decode() and created["CodeSize"] == len(CODE)
    other = zip_files({"bootstrap": ("#!/bin/sh\necho v2\n", 0o755)})
    s3.put_object(Bucket="artifacts", Key="fn/v2.zip", Body=other)
    updated = lam.update_function_code(FunctionName="from-s3", S3Bucket="artifacts", S3Key="fn/v2.zip")
    assert updated["CodeSha256"] == base64.b64encode(hashlib.sha256(other).digest()).decode()
    layer = lam.publish_layer_version(LayerName="s3-layer", Content={"S3Bucket": "artifacts", "S3Key": "fn/v1.zip"})
    assert layer["Content"]["CodeSize"] == len(CODE)
    missing = error_of(lambda: create(lam, "nowhere", Code={"S3Bucket": "artifacts", "S3Key": "no/such.zip"}))["Error"]
    assert missing["Code"] == "InvalidParameterValueException"
    assert missing["Message"] == "Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not exist."
    both = error_of(lambda: create(lam, "both", Code={"ZipFile": CODE, "S3Bucket": "artifacts", "S3Key": "fn/v1.zip"}))["Error"]
    assert both["Code"] == "InvalidParameterValueException"
