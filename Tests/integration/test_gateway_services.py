"""HTTP APIs' AWS service integrations for real: routes that send to SQS, receive and delete its
messages, and put events on EventBridge, with no function in between, built with the aws CLI and
boto3 and called over plain HTTP on the gateway's listener. No Docker needed."""
import hashlib
import http.client
import json
import urllib.request
import xml.etree.ElementTree as ElementTree

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import Ecsd, run_aws

NO_RETRIES = Config(retries={"max_attempts": 1})
ROLE = "arn:aws:iam::000000000000:role/apigateway-sqs"
SQS_NS = "{http://queue.amazonaws.com/doc/2012-11-05/}"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    ecsd = Ecsd(str(tmp_path_factory.mktemp("gateway-services"))).start()
    yield ecsd
    ecsd.stop()


def client(server, service):
    return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x", config=NO_RETRIES)


def call(server, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", server.gateway_port, timeout=30)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    result = response.status, dict(response.getheaders()), response.read()
    connection.close()
    return result


def test_an_http_api_route_sends_to_sqs_and_eventbridge_without_a_function(server):
    sqs, apigw, events = client(server, "sqs"), client(server, "apigatewayv2"), client(server, "events")
    queue_url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    api = apigw.create_api(Name="orders", ProtocolType="HTTP")["ApiId"]
    apigw.create_stage(ApiId=api, StageName="$default", AutoDeploy=True)

    # The aws CLI, as AWS's guide writes it: the queue from a static value, the body as the message.
    send = json.loads(run_aws(server.endpoint, "apigatewayv2", "create-integration", "--api-id", api, "--integration-type", "AWS_PROXY",
                              "--integration-subtype", "SQS-SendMessage", "--credentials-arn", ROLE, "--payload-format-version", "1.0",
                              "--request-parameters", json.dumps({"QueueUrl": queue_url, "MessageBody": "$request.body",
                                                                  "MessageAttributes": '{"source": {"DataType": "String", "StringValue": "${request.header.x-source}"}}'}))[1])
    assert send["IntegrationSubtype"] == "SQS-SendMessage" and send["PayloadFormatVersion"] == "1.0" and "IntegrationUri" not in send
    apigw.create_route(ApiId=api, RouteKey="POST /orders", Target="integrations/" + send["IntegrationId"])
    receive = apigw.create_integration(ApiId=api, IntegrationType="AWS_PROXY", IntegrationSubtype="SQS-ReceiveMessage", CredentialsArn=ROLE,
                                       PayloadFormatVersion="1.0", RequestParameters={
                                           "QueueUrl": queue_url, "MaxNumberOfMessages": "$request.querystring.max", "MessageAttributeNames": "All"})
    apigw.create_route(ApiId=api, RouteKey="GET /orders", Target="integrations/" + receive["IntegrationId"])
    delete = apigw.create_integration(ApiId=api, IntegrationType="AWS_PROXY", IntegrationSubtype="SQS-DeleteMessage", CredentialsArn=ROLE,
                                      PayloadFormatVersion="1.0", RequestParameters={"QueueUrl": queue_url, "ReceiptHandle": "$request.header.receipt"})
    apigw.create_route(ApiId=api, RouteKey="DELETE /orders", Target="integrations/" + delete["IntegrationId"])
    put = apigw.create_integration(ApiId=api, IntegrationType="AWS_PROXY", IntegrationSubtype="EventBridge-PutEvents", CredentialsArn=ROLE,
                                   PayloadFormatVersion="1.0", RequestParameters={
                                       "Source": "shop.orders", "DetailType": "$request.body.kind", "Detail": "$request.body.detail"})
    apigw.create_route(ApiId=api, RouteKey="POST /events", Target="integrations/" + put["IntegrationId"])

    status, headers, body = call(server, "POST", f"/{api}/orders", body=b'{"id": 7}', headers={"x-source": "web"})
    assert status == 200, body
    sent = ElementTree.fromstring(body)
    assert sent.tag == SQS_NS + "SendMessageResponse" and headers["content-type"] == "text/xml"
    message_id = sent.find(f"{SQS_NS}SendMessageResult/{SQS_NS}MessageId").text
    assert sent.find(f"{SQS_NS}SendMessageResult/{SQS_NS}MD5OfMessageBody").text == hashlib.md5(b'{"id": 7}').hexdigest()

    status, _, body = call(server, "GET", f"/{api}/orders?max=5")
    assert status == 200, body
    received = ElementTree.fromstring(body)
    [message] = received.findall(f"{SQS_NS}ReceiveMessageResult/{SQS_NS}Message")
    assert message.find(SQS_NS + "MessageId").text == message_id and message.find(SQS_NS + "Body").text == '{"id": 7}'
    attribute = message.find(SQS_NS + "MessageAttribute")
    assert attribute.find(SQS_NS + "Name").text == "source" and attribute.find(f"{SQS_NS}Value/{SQS_NS}StringValue").text == "web"
    receipt = message.find(SQS_NS + "ReceiptHandle").text
    status, _, body = call(server, "DELETE", f"/{api}/orders", headers={"receipt": receipt})
    assert status == 200 and ElementTree.fromstring(body).tag == SQS_NS + "DeleteMessageResponse", body
    assert sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages",
                                                                         "ApproximateNumberOfMessagesNotVisible"])["Attributes"] == {
        "ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}

    # EventBridge: the event reaches a rule's queue target; the answer is PutEvents' own.
    events.put_rule(Name="orders", EventPattern=json.dumps({"source": ["shop.orders"]}))
    events.put_targets(Rule="orders", Targets=[{"Id": "q", "Arn": queue_arn}])
    status, _, body = call(server, "POST", f"/{api}/events", body=json.dumps({"kind": "Order Placed", "detail": {"total": 12}}).encode())
    answer = json.loads(body)
    assert status == 200 and answer["FailedEntryCount"] == 0 and answer["Entries"][0]["EventId"], body
    [event] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2)["Messages"]
    delivered = json.loads(event["Body"])
    assert (delivered["source"], delivered["detail-type"], delivered["detail"]) == ("shop.orders", "Order Placed", {"total": 12})

    # A service's refusal passes through: a queue that is gone is SQS's error, in its XML.
    sqs.delete_queue(QueueUrl=queue_url)
    status, _, body = call(server, "POST", f"/{api}/orders", body=b"x")
    assert status == 400 and ElementTree.fromstring(body).find(f"{SQS_NS}Error/{SQS_NS}Code").text == "AWS.SimpleQueueService.NonExistentQueue"

    # The console counts what the API answered: five requests, one of them a 4xx, with their latencies.
    with urllib.request.urlopen(server.endpoint + "/console/api/apis", timeout=10) as response:
        [shown] = [listed for listed in json.load(response)["apis"] if listed["id"] == api]
    assert (shown["traffic"]["requests"], shown["traffic"]["clientErrors"], shown["traffic"]["serverErrors"]) == (5, 1, 0)
    assert shown["traffic"]["p99"] >= shown["traffic"]["p50"] > 0 and sum(minute["requests"] for minute in shown["minutes"]) == 5
    assert {route["route"] for route in shown["routes"]} == {"POST /orders", "GET /orders", "DELETE /orders", "POST /events"}

    # Integrations the gateway cannot make are refused when they are created.
    for bad, words in [
        (dict(IntegrationSubtype="SQS-SendMessage", RequestParameters={"QueueUrl": queue_url}), "requires MessageBody"),
        (dict(IntegrationSubtype="SQS-SendMessage", RequestParameters={"QueueUrl": queue_url, "MessageBody": "x", "Colour": "red"}),
         "Colour is not a parameter"),
        (dict(IntegrationSubtype="StepFunctions-StartExecution", RequestParameters={}), "is not supported"),
        (dict(IntegrationSubtype="SQS-PurgeQueue", RequestParameters={"QueueUrl": queue_url}, PayloadFormatVersion="2.0"), "1.0 only"),
    ]:
        with pytest.raises(ClientError) as caught:
            apigw.create_integration(ApiId=api, IntegrationType="AWS_PROXY", CredentialsArn=ROLE, **bad)
        assert caught.value.response["Error"]["Code"] == "BadRequestException" and words in caught.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as caught:
        apigw.create_integration(ApiId=api, IntegrationType="AWS_PROXY", IntegrationSubtype="SQS-PurgeQueue", RequestParameters={"QueueUrl": queue_url})
    assert "CredentialsArn is required" in caught.value.response["Error"]["Message"]
