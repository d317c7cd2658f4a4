"""CloudFormation on ecsd's endpoint, driven by the real aws CLI (`aws cloudformation deploy`, `package`,
`create-stack`, `delete-stack`) and boto3: stacks whose resources are made through the services' own
operations in dependency order, updated in place or by replacement, rolled back when a resource fails,
deleted in reverse order, and a deployment cut off by kill -9 that resumes or rolls back."""
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import Ecsd, wait_until
from functions_support import FunctionCluster, ensure_python_image

NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=120)

PLAIN = """\
AWSTemplateFormatVersion: '2010-09-09'
Description: queues, a topic, a log group, a role, a bucket and a function with inline code
Parameters:
  Retention:
    Type: Number
    Default: 7
    AllowedValues: [7, 14, 30]
  Visibility:
    Type: Number
    Default: 45
Conditions:
  LongRetention: !Not [!Equals [!Ref Retention, 7]]
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: !Ref Visibility
  DeadLetters:
    Type: AWS::SQS::Queue
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: alerts
      Subscription:
        - Protocol: sqs
          Endpoint: !GetAtt Queue.Arn
  Logs:
    Type: AWS::Logs::LogGroup
    Properties:
      RetentionInDays: !Ref Retention
  Archive:
    Type: AWS::SQS::Queue
    Condition: LongRetention
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: '2012-10-17'
        Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}]
      ManagedPolicyArns:
        - arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole
      Policies:
        - PolicyName: read-queue
          PolicyDocument:
            Version: '2012-10-17'
            Statement: [{Effect: Allow, Action: 'sqs:*', Resource: !GetAtt Queue.Arn}]
  Function:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.11
      Handler: index.handler
      Role: !GetAtt Role.Arn
      Timeout: 10
      Code:
        ZipFile: |
          import os
          def handler(event, context):
              return {"queue": os.environ["QUEUE"], "echo": event}
      Environment:
        Variables:
          QUEUE: !Ref Queue
          WHERE: !Sub "${AWS::Region}:${AWS::AccountId}:${AWS::StackName}"
  Bucket:
    Type: AWS::S3::Bucket
    DeletionPolicy: Retain
Outputs:
  QueueUrl:
    Value: !Ref Queue
    Export:
      Name: !Sub "${AWS::StackName}-QueueUrl"
  FunctionArn:
    Value: !GetAtt Function.Arn
  BucketName:
    Value: !Ref Bucket
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    ensure_python_image()
    cluster = FunctionCluster(str(tmp_path_factory.mktemp("cfn")))
    yield cluster
    cluster.close()


@pytest.fixture(scope="module")
def cfn(cluster):
    return cluster.client("cloudformation")


def aws(endpoint, *args, check=True, cwd=None):
    # `package` and `deploy` upload with an S3 client of their own, which `--endpoint-url` does not
    # reach: AWS_ENDPOINT_URL points it (and every other client) at ecsd.
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": endpoint}
    result = subprocess.run(["aws", "--endpoint-url", endpoint, *args], capture_output=True, text=True, timeout=300, env=env, cwd=cwd)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def outputs(cfn, stack):
    return {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])}


def physical(cfn, stack):
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"]}


def settled(cfn, stack, timeout=120):
    """The stack's status once no operation is under way."""
    def status():
        value = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
        return value if not value.endswith("_IN_PROGRESS") else None
    return wait_until(status, timeout=timeout, interval=0.2, message=f"stack {stack} to settle")


def error_of(call):
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def test_deploy_update_and_delete_a_plain_template_with_the_aws_cli(cluster, cfn, tmp_path):
    template = tmp_path / "plain.yaml"
    template.write_text(PLAIN)
    aws(cluster.endpoint, "cloudformation", "deploy", "--template-file", str(template), "--stack-name", "plain",
        "--capabilities", "CAPABILITY_IAM", "--parameter-overrides", "Retention=7")
    stack = cfn.describe_stacks(StackName="plain")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE" and stack["Parameters"] == [
        {"ParameterKey": "Retention", "ParameterValue": "7"}, {"ParameterKey": "Visibility", "ParameterValue": "45"}]
    made = physical(cfn, "plain")
    assert "Archive" not in made, "a resource whose condition is false is not made"
    out = outputs(cfn, "plain")
    sqs, sns, logs, iam, s3, lam = (cluster.client(s) for s in ("sqs", "sns", "logs", "iam", "s3", "lambda"))
    assert out["QueueUrl"] == made["Queue"]
    assert sqs.get_queue_attributes(QueueUrl=made["Queue"], AttributeNames=["VisibilityTimeout"])["Attributes"]["VisibilityTimeout"] == "45"
    queue_arn = sqs.get_queue_attributes(QueueUrl=made["Queue"], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=made["Topic"])["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("sqs", queue_arn)]
    assert sns.get_topic_attributes(TopicArn=made["Topic"])["Attributes"]["DisplayName"] == "alerts"
    assert logs.describe_log_groups(logGroupNamePrefix=made["Logs"])["logGroups"][0]["retentionInDays"] == 7
    assert iam.list_attached_role_policies(RoleName=made["Role"])["AttachedPolicies"] == [
        {"PolicyName": "AWSLambdaBasicExecutionRole", "PolicyArn": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}]
    policy = iam.get_role_policy(RoleName=made["Role"], PolicyName="read-queue")["PolicyDocument"]
    assert policy["Statement"][0]["Resource"] == queue_arn
    s3.head_bucket(Bucket=made["Bucket"])
    configuration = lam.get_function(FunctionName=made["Function"])["Configuration"]
    assert configuration["Environment"]["Variables"] == {"QUEUE": made["Queue"], "WHERE": "us-east-1:000000000000:plain"}
    assert configuration["Role"] == iam.get_role(RoleName=made["Role"])["Role"]["Arn"] and configuration["Timeout"] == 10
    # The inline code was zipped as index.py and runs.
    answer = lam.invoke(FunctionName=made["Function"], Payload=b'{"n": 1}')
    assert json.loads(answer["Payload"].read()) == {"queue": made["Queue"], "echo": {"n": 1}}
    assert {e["Name"]: e["Value"] for e in cfn.list_exports()["Exports"]}["plain-QueueUrl"] == made["Queue"]
    events = cfn.describe_stack_events(StackName="plain")["StackEvents"]
    assert events[0]["ResourceStatus"] == "CREATE_COMPLETE" and events[0]["LogicalResourceId"] == "plain"
    assert events[-1]["ResourceStatus"] == "REVIEW_IN_PROGRESS"
    order = [e["LogicalResourceId"] for e in reversed(events) if e["ResourceStatus"] == "CREATE_COMPLETE"]
    assert order.index("Role") < order.index("Function") and order.index("Queue") < order.index("Role")
    template_body = cfn.get_template(StackName="plain")["TemplateBody"]
    assert "ZipFile" in (template_body if isinstance(template_body, str) else json.dumps(template_body))

    # An update: a parameter changes a queue in place and brings in the conditional queue; a removed
    # resource goes; the unchanged ones are not touched.
    aws(cluster.endpoint, "cloudformation", "deploy", "--template-file", str(template), "--stack-name", "plain",
        "--capabilities", "CAPABILITY_IAM", "--parameter-overrides", "Retention=14", "Visibility=60")
    after = physical(cfn, "plain")
    assert cfn.describe_stacks(StackName="plain")["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    assert after["Queue"] == made["Queue"] and after["Function"] == made["Function"] and "Archive" in after
    assert sqs.get_queue_attributes(QueueUrl=made["Queue"], AttributeNames=["VisibilityTimeout"])["Attributes"]["VisibilityTimeout"] == "60"
    assert logs.describe_log_groups(logGroupNamePrefix=made["Logs"])["logGroups"][0]["retentionInDays"] == 14
    changed = {e["LogicalResourceId"] for e in cfn.describe_stack_events(StackName="plain")["StackEvents"]
               if e["ResourceStatus"] == "UPDATE_COMPLETE"}
    assert changed == {"Queue", "Logs", "plain"}, changed
    # No change: the change set fails with the words `deploy` looks for, and the stack stays.
    done = aws(cluster.endpoint, "cloudformation", "deploy", "--template-file", str(template), "--stack-name", "plain",
               "--capabilities", "CAPABILITY_IAM", "--parameter-overrides", "Retention=14", "Visibility=60", check=False)
    assert "No changes to deploy" in done.stdout + done.stderr, done.stdout + done.stderr

    # Deleting: every resource goes, but for the bucket its DeletionPolicy keeps.
    cfn.delete_stack(StackName="plain")
    stack_id = cfn.list_stacks(StackStatusFilter=["DELETE_COMPLETE", "DELETE_IN_PROGRESS"])["StackSummaries"][0]["StackId"]
    assert settled(cfn, stack_id) == "DELETE_COMPLETE"
    assert error_of(lambda: cfn.describe_stacks(StackName="plain")) == ("ValidationError", "Stack with id plain does not exist")
    assert error_of(lambda: sqs.get_queue_attributes(QueueUrl=made["Queue"]))[0] in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")
    assert error_of(lambda: lam.get_function(FunctionName=made["Function"]))[0] == "ResourceNotFoundException"
    assert error_of(lambda: iam.get_role(RoleName=made["Role"]))[0] == "NoSuchEntity"
    assert made["Topic"] not in [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    s3.head_bucket(Bucket=made["Bucket"])
    skipped = [e for e in cfn.describe_stack_events(StackName=stack_id)["StackEvents"] if e["ResourceStatus"] == "DELETE_SKIPPED"]
    assert [e["LogicalResourceId"] for e in skipped] == ["Bucket"]
    assert "plain-QueueUrl" not in {e["Name"] for e in cfn.list_exports()["Exports"]}


ECS_TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Parameters:
  ClusterName:
    Type: String
Resources:
  Cluster:
    Type: AWS::ECS::Cluster
    Properties:
      ClusterName: !Ref ClusterName
  Web:
    Type: AWS::ECS::TaskDefinition
    Properties:
      Family: cfn-web
      ContainerDefinitions:
        - Name: web
          Image: stevedore/busybox:test
          Command: [sleep, "3600"]
          Memory: 32
          Environment: [{Name: COLOUR, Value: blue}]
          DockerLabels: {team.name: web}
  Service:
    Type: AWS::ECS::Service
    Properties:
      Cluster: !Ref Cluster
      TaskDefinition: !Ref Web
      DesiredCount: 1
  Handler:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.11
      Handler: app.handler
      Role: arn:aws:iam::000000000000:role/lambda-role
      Code: ./src
Outputs:
  Service:
    Value: !GetAtt Service.Name
"""


MANAGED = """
Resources:
  Worker:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {Version: '2012-10-17', Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}]}
      ManagedPolicyArns: [arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]
  Access:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      Description: what the worker may do
      Roles: [!Ref Worker]
      PolicyDocument: {Version: '2012-10-17', Statement: [{Effect: Allow, Action: 'ACTION', Resource: '*'}]}
Outputs:
  PolicyArn: {Value: !Ref Access}
"""


def test_a_managed_policy_is_attached_versioned_and_deleted_with_its_stack(cluster, cfn):
    iam = cluster.client("iam")
    cfn.create_stack(StackName="managed", TemplateBody=MANAGED.replace("ACTION", "sqs:ListQueues"), Capabilities=["CAPABILITY_IAM"])
    assert settled(cfn, "managed") == "CREATE_COMPLETE"
    made, arn = physical(cfn, "managed"), outputs(cfn, "managed")["PolicyArn"]
    assert made["Access"] == arn and arn.startswith("arn:aws:iam::000000000000:policy/managed-Access-")
    assert [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=made["Worker"])["AttachedPolicies"]] == [
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole", arn]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["Description"] == "what the worker may do"
    # A changed document is the policy's new default version.
    cfn.update_stack(StackName="managed", TemplateBody=MANAGED.replace("ACTION", "sqs:SendMessage"), Capabilities=["CAPABILITY_IAM"])
    assert settled(cfn, "managed") == "UPDATE_COMPLETE"
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"
    assert iam.get_policy_version(PolicyArn=arn, VersionId="v2")["PolicyVersion"]["Document"]["Statement"][0]["Action"] == "sqs:SendMessage"
    # Deleting the stack detaches and deletes both, versions and all.
    cfn.delete_stack(StackName="managed")
    stack_id = next(s["StackId"] for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == "managed")
    assert settled(cfn, stack_id) == "DELETE_COMPLETE"
    assert error_of(lambda: iam.get_policy(PolicyArn=arn))[0] == "NoSuchEntity"
    assert error_of(lambda: iam.get_role(RoleName=made["Worker"]))[0] == "NoSuchEntity"


def test_a_custom_resource_whose_token_is_a_topic_is_answered_by_its_subscriber(cluster, cfn):
    """SNS as a custom resource's ServiceToken: the request is published to the topic; here its
    subscriber is a queue read by the test, which PUTs the answer to the presigned ResponseURL as a
    provider would."""
    sns, sqs = cluster.client("sns"), cluster.client("sqs")
    topic = sns.create_topic(Name="provisioning")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="provisioning-requests")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    template = f"""
Resources:
  Widget:
    Type: Custom::Widget
    Properties:
      ServiceToken: {topic}
      Size: 3
Outputs:
  Url: {{Value: !GetAtt Widget.Url}}
"""

    def answer(expected_type, physical_id, data=None):
        messages = wait_until(lambda: sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages"), timeout=30,
                              message=f"the {expected_type} request on the topic")
        request = json.loads(messages[0]["Body"])
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
        assert request["RequestType"] == expected_type and request["ServiceToken"] == topic and request["LogicalResourceId"] == "Widget"
        body = {"Status": "SUCCESS", "PhysicalResourceId": physical_id, "StackId": request["StackId"], "RequestId": request["RequestId"],
                "LogicalResourceId": "Widget", "Data": data or {}}
        put = urllib.request.Request(request["ResponseURL"], data=json.dumps(body).encode(), method="PUT")
        with urllib.request.urlopen(put) as response:
            assert response.status == 200
        return request

    cfn.create_stack(StackName="topic-custom", TemplateBody=template)
    request = answer("Create", "widget-7", {"Url": "http://widget"})
    assert str(request["ResourceProperties"]["Size"]) == "3"
    assert settled(cfn, "topic-custom") == "CREATE_COMPLETE"
    assert outputs(cfn, "topic-custom")["Url"] == "http://widget" and physical(cfn, "topic-custom")["Widget"] == "widget-7"
    cfn.delete_stack(StackName="topic-custom")
    assert answer("Delete", "widget-7")["PhysicalResourceId"] == "widget-7"
    stack_id = next(s["StackId"] for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == "topic-custom")
    assert settled(cfn, stack_id) == "DELETE_COMPLETE"


NESTED_CHILD = """
Parameters:
  QueueSuffix: {Type: String}
  Visibility: {Type: Number, Default: 30}
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub nested-${QueueSuffix}
      VisibilityTimeout: !Ref Visibility
Outputs:
  QueueUrl: {Value: !Ref Queue}
"""

NESTED_PARENT = """
Parameters:
  Visibility: {Type: Number, Default: 40}
Resources:
  Jobs:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: child.yaml
      Parameters:
        QueueSuffix: jobs
        Visibility: !Ref Visibility
Outputs:
  JobsQueue: {Value: !GetAtt Jobs.Outputs.QueueUrl}
  JobsStack: {Value: !Ref Jobs}
"""


def test_a_nested_stack_is_packaged_made_updated_and_deleted_with_its_parent(cluster, cfn, tmp_path):
    """`aws cloudformation package` uploads the child template and rewrites its TemplateURL; the
    parent's deployment makes the child stack, reads its outputs, updates it in place, and deletes it."""
    (tmp_path / "child.yaml").write_text(NESTED_CHILD)
    (tmp_path / "parent.yaml").write_text(NESTED_PARENT)
    cluster.client("s3").create_bucket(Bucket="nested-artifacts")
    aws(cluster.endpoint, "cloudformation", "package", "--template-file", "parent.yaml", "--s3-bucket", "nested-artifacts",
        "--output-template-file", "packaged.yaml", cwd=str(tmp_path))
    packaged = (tmp_path / "packaged.yaml").read_text()
    assert "nested-artifacts" in packaged and "TemplateURL: child.yaml" not in packaged, packaged
    aws(cluster.endpoint, "cloudformation", "deploy", "--template-file", str(tmp_path / "packaged.yaml"), "--stack-name", "parent")
    sqs = cluster.client("sqs")
    out = outputs(cfn, "parent")
    child_id = out["JobsStack"]
    assert physical(cfn, "parent")["Jobs"] == child_id and child_id.startswith("arn:aws:cloudformation:us-east-1:000000000000:stack/parent-Jobs-")
    child = cfn.describe_stacks(StackName=child_id)["Stacks"][0]
    assert child["StackStatus"] == "CREATE_COMPLETE" and {p["ParameterKey"]: p["ParameterValue"] for p in child["Parameters"]} == {
        "QueueSuffix": "jobs", "Visibility": "40"}
    assert out["JobsQueue"] == sqs.get_queue_url(QueueName="nested-jobs")["QueueUrl"]
    # A changed parameter updates the child in place.
    aws(cluster.endpoint, "cloudformation", "deploy", "--template-file", str(tmp_path / "packaged.yaml"), "--stack-name", "parent",
        "--parameter-overrides", "Visibility=50")
    assert cfn.describe_stacks(StackName=child_id)["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    assert sqs.get_queue_attributes(QueueUrl=out["JobsQueue"], AttributeNames=["VisibilityTimeout"])["Attributes"]["VisibilityTimeout"] == "50"
    assert physical(cfn, "parent")["Jobs"] == child_id
    # Deleting the parent deletes the child and what it made.
    cfn.delete_stack(StackName="parent")
    parent_id = next(s["StackId"] for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == "parent")
    assert settled(cfn, parent_id) == "DELETE_COMPLETE"
    assert cfn.describe_stacks(StackName=child_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    assert error_of(lambda: sqs.get_queue_url(QueueName="nested-jobs"))[0] in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


def test_a_nested_stack_that_fails_is_deleted_as_its_parent_rolls_back(cluster, cfn):
    s3 = cluster.client("s3")
    s3.create_bucket(Bucket="nested-failing")
    s3.put_object(Bucket="nested-failing", Key="child.yaml", Body=NESTED_CHILD.encode())
    parent = NESTED_PARENT.replace("TemplateURL: child.yaml", f"TemplateURL: {cluster.endpoint}/nested-failing/child.yaml").replace(
        "QueueSuffix: jobs", "QueueSuffix: 'not a valid name!'")
    cfn.create_stack(StackName="failing-parent", TemplateBody=parent)
    assert settled(cfn, "failing-parent") == "ROLLBACK_COMPLETE"
    reason = next(e["ResourceStatusReason"] for e in cfn.describe_stack_events(StackName="failing-parent")["StackEvents"]
                  if e["LogicalResourceId"] == "Jobs" and e["ResourceStatus"] == "CREATE_FAILED")
    assert reason.startswith("Embedded stack arn:aws:cloudformation:us-east-1:000000000000:stack/failing-parent-Jobs-"), reason
    assert reason.endswith(" was not successfully created: The following resource(s) failed to create: [Queue]. "), reason
    children = [s for s in cfn.list_stacks()["StackSummaries"] if s["StackName"].startswith("failing-parent-Jobs-")]
    assert [s["StackStatus"] for s in children] == ["DELETE_COMPLETE"], children


def test_package_then_deploy_a_template_with_an_ecs_service(cluster, cfn, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def handler(event, context):\n    return 'packaged'\n")
    (tmp_path / "template.yaml").write_text(ECS_TEMPLATE)
    cluster.client("s3").create_bucket(Bucket="artifacts")
    aws(cluster.endpoint, "cloudformation", "package", "--template-file", "template.yaml", "--s3-bucket", "artifacts",
        "--output-template-file", "packaged.yaml", cwd=str(tmp_path))
    packaged = (tmp_path / "packaged.yaml").read_text()
    assert "S3Bucket: artifacts" in packaged, packaged
    aws(cluster.endpoint, "cloudformation", "deploy", "--template-file", str(tmp_path / "packaged.yaml"), "--stack-name", "web",
        "--parameter-overrides", "ClusterName=cfn-web")
    made = physical(cfn, "web")
    ecs, lam = cluster.client("ecs"), cluster.client("lambda")
    service = ecs.describe_services(cluster="cfn-web", services=[made["Service"]])["services"][0]
    assert service["status"] == "ACTIVE" and service["desiredCount"] == 1 and service["serviceName"] == outputs(cfn, "web")["Service"]
    definition = ecs.describe_task_definition(taskDefinition=made["Web"])["taskDefinition"]
    container = definition["containerDefinitions"][0]
    assert definition["family"] == "cfn-web" and container["memory"] == 32 and container["command"] == ["sleep", "3600"]
    assert container["environment"] == [{"name": "COLOUR", "value": "blue"}] and container["dockerLabels"] == {"team.name": "web"}
    assert json.loads(lam.invoke(FunctionName=made["Handler"])["Payload"].read()) == "packaged"
    cfn.delete_stack(StackName="web")
    stack_id = [s for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == "web"][0]["StackId"]
    assert settled(cfn, stack_id) == "DELETE_COMPLETE"
    assert ecs.describe_clusters(clusters=["cfn-web"])["clusters"][0]["status"] == "INACTIVE"
    assert ecs.describe_task_definition(taskDefinition=made["Web"])["taskDefinition"]["status"] == "INACTIVE"


APIS = """\
Parameters:
  GroupArn:
    Type: String
Resources:
  Rest:
    Type: AWS::ApiGateway::RestApi
    Properties:
      Name: plain-rest
  V1:
    Type: AWS::ApiGateway::Resource
    Properties:
      RestApiId: !Ref Rest
      ParentId: !GetAtt Rest.RootResourceId
      PathPart: v1
  Ping:
    Type: AWS::ApiGateway::Method
    Properties:
      RestApiId: !Ref Rest
      ResourceId: !Ref V1
      HttpMethod: GET
      AuthorizationType: NONE
      Integration:
        Type: MOCK
        RequestTemplates: {application/json: '{"statusCode": 200}'}
        IntegrationResponses:
          - StatusCode: "200"
            ResponseTemplates: {application/json: '{"pong": true}'}
      MethodResponses:
        - StatusCode: "200"
  Deployment:
    Type: AWS::ApiGateway::Deployment
    DependsOn: Ping
    Properties:
      RestApiId: !Ref Rest
  Live:
    Type: AWS::ApiGateway::Stage
    Properties:
      RestApiId: !Ref Rest
      DeploymentId: !Ref Deployment
      StageName: live
  Http:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      Name: guarded
      ProtocolType: HTTP
  Jwt:
    Type: AWS::ApiGatewayV2::Authorizer
    Properties:
      ApiId: !Ref Http
      Name: jwt
      AuthorizerType: JWT
      IdentitySource: [$request.header.Authorization]
      JwtConfiguration:
        Audience: [app]
        Issuer: https://issuer.example
  Backend:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Http
      IntegrationType: HTTP_PROXY
      IntegrationMethod: GET
      IntegrationUri: http://127.0.0.1:9/
      PayloadFormatVersion: "1.0"
  Guarded:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Http
      RouteKey: GET /secret
      AuthorizationType: JWT
      AuthorizerId: !Ref Jwt
      Target: !Sub "integrations/${Backend}"
  Default:
    Type: AWS::ApiGatewayV2::Stage
    Properties:
      ApiId: !Ref Http
      StageName: $default
      AutoDeploy: true
  Pool:
    Type: AWS::ECS::CapacityProvider
    Properties:
      AutoScalingGroupProvider:
        AutoScalingGroupArn: !Ref GroupArn
        ManagedScaling: {Status: ENABLED, TargetCapacity: "80"}
  Cluster:
    Type: AWS::ECS::Cluster
  Associations:
    Type: AWS::ECS::ClusterCapacityProviderAssociations
    Properties:
      Cluster: !Ref Cluster
      CapacityProviders: [!Ref Pool]
      DefaultCapacityProviderStrategy: [{CapacityProvider: !Ref Pool, Weight: "1"}]
Outputs:
  RestId:
    Value: !Ref Rest
  HttpId:
    Value: !Ref Http
"""


def test_apis_made_of_parts_and_a_capacity_provider(cluster, cfn):
    """A REST API of a resource and a MOCK method, an HTTP API with a JWT authorizer on a route,
    and a capacity provider associated with a cluster, each answering as it should."""
    request = urllib.request.Request(cluster.endpoint + "/v1/autoscaling/groups", method="POST", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"AutoScalingGroupName": "cfn-pool", "MinSize": 0, "MaxSize": 2,
                                                      "Launcher": {"Type": "command", "Command": ["/bin/true"]}}).encode())
    with urllib.request.urlopen(request, timeout=10) as answer:
        group_arn = json.loads(answer.read())["AutoScalingGroupARN"]
    stack_id = cfn.create_stack(StackName="apis", TemplateBody=APIS, Parameters=[{"ParameterKey": "GroupArn", "ParameterValue": group_arn}])["StackId"]
    assert settled(cfn, stack_id) == "CREATE_COMPLETE", [
        (e["LogicalResourceId"], e.get("ResourceStatusReason")) for e in cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
        if e["ResourceStatus"].endswith("FAILED")]
    out = outputs(cfn, "apis")
    with urllib.request.urlopen(f"{cluster.server.gateway}/{out['RestId']}/live/v1", timeout=10) as answer:
        assert json.loads(answer.read()) == {"pong": True}
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{cluster.server.gateway}/{out['HttpId']}/secret", timeout=10)
    assert refused.value.code == 401
    made = physical(cfn, "apis")
    ecs = cluster.client("ecs")
    described = ecs.describe_clusters(clusters=[made["Cluster"]])["clusters"][0]
    assert described["capacityProviders"] == [made["Pool"]]
    strategy = described["defaultCapacityProviderStrategy"]
    assert [(s["capacityProvider"], s["weight"], s.get("base", 0)) for s in strategy] == [(made["Pool"], 1, 0)]
    provider = ecs.describe_capacity_providers(capacityProviders=[made["Pool"]])["capacityProviders"][0]
    assert provider["autoScalingGroupProvider"]["managedScaling"]["targetCapacity"] == 80
    cfn.delete_stack(StackName="apis")
    assert settled(cfn, stack_id) == "DELETE_COMPLETE"
    remaining = ecs.describe_capacity_providers(capacityProviders=[made["Pool"]])["capacityProviders"]
    assert all(p["status"] == "INACTIVE" for p in remaining), remaining


FAILING = """\
Resources:
  First:
    Type: AWS::SQS::Queue
  Second:
    Type: AWS::SNS::Topic
  Broken:
    Type: AWS::Lambda::Function
    DependsOn: [First, Second]
    Properties:
      Runtime: cobol85
      Handler: x.y
      Role: arn:aws:iam::000000000000:role/r
      Code: {ZipFile: "x"}
  Never:
    Type: AWS::SQS::Queue
    DependsOn: Broken
"""


def test_a_template_that_fails_half_way_rolls_back_and_leaves_nothing(cluster, cfn):
    sqs, sns = cluster.client("sqs"), cluster.client("sns")
    stack_id = cfn.create_stack(StackName="half", TemplateBody=FAILING)["StackId"]
    assert settled(cfn, "half") == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
    rollback = [e for e in events if e["ResourceStatus"] == "ROLLBACK_IN_PROGRESS"]
    assert rollback[0]["ResourceStatusReason"] == "The following resource(s) failed to create: [Broken]. Rollback requested by user."
    failed = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert [e["LogicalResourceId"] for e in failed] == ["Broken"]
    assert "cobol85" in failed[0]["ResourceStatusReason"] and "HandlerErrorCode: InvalidRequest" in failed[0]["ResourceStatusReason"]
    assert "Never" not in {e["LogicalResourceId"] for e in events}, "nothing after the failure starts"
    deleted = [e["LogicalResourceId"] for e in reversed(events) if e["ResourceStatus"] == "DELETE_COMPLETE"]
    assert set(deleted) >= {"First", "Second"}
    assert not any("half-" in url for url in sqs.list_queues().get("QueueUrls", []))
    assert not any(":half-" in t["TopicArn"] for t in sns.list_topics()["Topics"])
    # A rolled-back stack can only be deleted, and then its name is free again.
    code, message = error_of(lambda: cfn.update_stack(StackName="half", TemplateBody=FAILING))
    assert code == "ValidationError" and message.endswith("is in ROLLBACK_COMPLETE state and can not be updated.")
    cfn.delete_stack(StackName="half")
    assert settled(cfn, stack_id) == "DELETE_COMPLETE"

    # A type Stevedore does not provision fails its resource with a message naming it.
    other = cfn.create_stack(StackName="vpc", TemplateBody=json.dumps({"Resources": {
        "Q": {"Type": "AWS::SQS::Queue"}, "Net": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.0.0.0/16"}}}}))["StackId"]
    assert settled(cfn, other) == "ROLLBACK_COMPLETE"
    reasons = [e.get("ResourceStatusReason", "") for e in cfn.describe_stack_events(StackName=other)["StackEvents"] if e["ResourceStatus"] == "CREATE_FAILED"]
    assert len(reasons) == 1 and "does not provision resources of type AWS::EC2::VPC" in reasons[0]


def test_errors_are_cloudformations_own(cluster, cfn):
    assert error_of(lambda: cfn.describe_stacks(StackName="nope")) == ("ValidationError", "Stack with id nope does not exist")
    assert error_of(lambda: cfn.create_stack(StackName="bad", TemplateBody="Resources: {}")) == (
        "ValidationError", "Template format error: At least one Resources member must be defined.")
    assert error_of(lambda: cfn.create_stack(StackName="bad", TemplateBody="Resources:\n  A:\n    Type: AWS::SNS::Topic\n    Properties:\n      TopicName: !Ref Missing\n")) == (
        "ValidationError", "Template format error: Unresolved resource dependencies [Missing] in the Resources block of the template")
    role = "Resources:\n  R:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument: {}\n"
    assert error_of(lambda: cfn.create_stack(StackName="bad", TemplateBody=role)) == (
        "InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_IAM]")
    assert error_of(lambda: cfn.create_stack(StackName="1bad", TemplateBody=role))[0] == "ValidationError"
    parameterized = "Parameters:\n  Size:\n    Type: Number\nResources:\n  Q:\n    Type: AWS::SQS::Queue\n"
    assert error_of(lambda: cfn.create_stack(StackName="bad", TemplateBody=parameterized)) == ("ValidationError", "Parameters: [Size] must have values")
    assert error_of(lambda: cfn.create_stack(StackName="bad", TemplateBody=parameterized, Parameters=[
        {"ParameterKey": "Size", "ParameterValue": "big"}])) == ("ValidationError", "Parameter 'Size' must be a number.")
    assert error_of(lambda: cfn.describe_change_set(ChangeSetName="none", StackName="nope")) == ("ChangeSetNotFound", "ChangeSet [none] does not exist")
    # A missing TemplateURL object, as S3 words it.
    code, message = error_of(lambda: cfn.create_stack(StackName="bad", TemplateURL=f"{cluster.endpoint}/no-bucket/t.yaml"))
    assert code == "ValidationError" and "NoSuchBucket" in message
    summary = cfn.get_template_summary(TemplateBody=role)
    assert summary["Capabilities"] == ["CAPABILITY_IAM"] and summary["ResourceTypes"] == ["AWS::IAM::Role"]
    assert cfn.validate_template(TemplateBody=parameterized)["Parameters"][0]["ParameterKey"] == "Size"


def chain_template(count):
    resources = {}
    for index in range(count):
        resource = {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"chain-{index}"}}
        if index:
            resource["DependsOn"] = f"Q{index - 1}"
        resources[f"Q{index}"] = resource
    return json.dumps({"Resources": resources})


def test_kill_9_during_a_deployment_resumes_or_rolls_back(tmp_path):
    """A stack of 40 queues made one after another; ecsd is killed while it is being made. After
    the restart the stack ends CREATE_COMPLETE with every queue, or ROLLBACK_COMPLETE with none:
    never a half-made stack marked complete."""
    server = Ecsd(str(tmp_path / "ecsd")).start()
    try:
        client = boto3.client("cloudformation", endpoint_url=server.endpoint, region_name="us-east-1", config=NO_RETRIES)
        client.create_stack(StackName="chain", TemplateBody=chain_template(40))

        def made():
            return sum(e["ResourceStatus"] == "CREATE_COMPLETE" for e in client.describe_stack_events(StackName="chain")["StackEvents"])
        # Killed once some queues are made (the chain is made one queue at a time).
        wait_until(lambda: made() >= 3, timeout=30, interval=0.001, message="the first queues")
        server.kill9()
        server.start()
        client = boto3.client("cloudformation", endpoint_url=server.endpoint, region_name="us-east-1", config=NO_RETRIES)
        sqs = boto3.client("sqs", endpoint_url=server.endpoint, region_name="us-east-1", config=NO_RETRIES)
        status = settled(client, "chain")
        queues = {url.rsplit("/", 1)[1] for url in sqs.list_queues(QueueNamePrefix="chain-").get("QueueUrls", [])}
        events = client.describe_stack_events(StackName="chain")["StackEvents"]
        if status == "CREATE_COMPLETE":
            assert queues == {f"chain-{i}" for i in range(40)}
        else:
            assert status == "ROLLBACK_COMPLETE", status
            assert queues == set(), queues
            interrupted = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
            assert all("ecsd stopped" in e["ResourceStatusReason"] for e in interrupted)
        assert sum(e["ResourceStatus"] == "CREATE_COMPLETE" and e["LogicalResourceId"] == "chain" for e in events) == (status == "CREATE_COMPLETE")
    finally:
        server.stop()
