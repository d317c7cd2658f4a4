"""SNS for real: topics and subscriptions with boto3 and the aws CLI, fan-out to SQS queues,
filter policies, and an HTTP endpoint that confirms its subscription and gets notifications. No
Docker needed (a topic fanning out to a function is in test_functions_runtime.py)."""
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import Ecsd, run_aws, wait_until

ACCOUNT = "000000000000"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    ecsd = Ecsd(str(tmp_path_factory.mktemp("sns"))).start()
    yield ecsd
    ecsd.stop()


def client(server, service):
    return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x", config=Config(retries={"max_attempts": 1}))


def queue(sqs, name):
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"


def drain(sqs, url):
    bodies = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get("Messages", [])
        if not got:
            return bodies
        for message in got:
            bodies.append(message)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_a_topic_fans_out_to_queues_with_filter_policies(server):
    sns, sqs = client(server, "sns"), client(server, "sqs")
    topic = sns.create_topic(Name="orders", Tags=[{"Key": "team", "Value": "shop"}])["TopicArn"]
    assert topic == f"arn:aws:sns:us-east-1:{ACCOUNT}:orders"
    assert sns.create_topic(Name="orders")["TopicArn"] == topic
    all_url, all_arn = queue(sqs, "all-orders")
    big_url, big_arn = queue(sqs, "big-orders")
    raw_url, raw_arn = queue(sqs, "raw-orders")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=all_arn)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=big_arn,
                  Attributes={"FilterPolicy": json.dumps({"total": [{"numeric": [">=", 100]}], "kind": ["order"]})})
    raw = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=raw_arn, Attributes={"RawMessageDelivery": "true"},
                        ReturnSubscriptionArn=True)["SubscriptionArn"]
    assert sns.get_subscription_attributes(SubscriptionArn=raw)["Attributes"]["RawMessageDelivery"] == "true"

    big = sns.publish(TopicArn=topic, Message="order 1", Subject="New order", MessageAttributes={
        "kind": {"DataType": "String", "StringValue": "order"}, "total": {"DataType": "Number", "StringValue": "250"}})
    sns.publish(TopicArn=topic, Message="order 2", MessageAttributes={
        "kind": {"DataType": "String", "StringValue": "order"}, "total": {"DataType": "Number", "StringValue": "20"}})
    batch = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[{"Id": "a", "Message": "batched 1"}, {"Id": "b", "Message": "batched 2"}])
    assert [s["Id"] for s in batch["Successful"]] == ["a", "b"] and batch["Failed"] == []

    notifications = [json.loads(m["Body"]) for m in drain(sqs, all_url)]
    assert sorted(n["Message"] for n in notifications) == ["batched 1", "batched 2", "order 1", "order 2"]
    first = next(n for n in notifications if n["Message"] == "order 1")
    assert (first["Type"], first["MessageId"], first["TopicArn"], first["Subject"]) == ("Notification", big["MessageId"], topic, "New order")
    assert first["MessageAttributes"]["total"] == {"Type": "Number", "Value": "250"}
    assert [json.loads(m["Body"])["Message"] for m in drain(sqs, big_url)] == ["order 1"]
    raw_messages = drain(sqs, raw_url)
    assert sorted(m["Body"] for m in raw_messages) == ["batched 1", "batched 2", "order 1", "order 2"]
    assert next(m for m in raw_messages if m["Body"] == "order 1")["MessageAttributes"]["kind"]["StringValue"] == "order"

    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert sorted(s["Endpoint"] for s in listed) == sorted([all_arn, big_arn, raw_arn])
    sns.unsubscribe(SubscriptionArn=raw)
    assert len([s for s in sns.list_subscriptions()["Subscriptions"] if s["TopicArn"] == topic]) == 2
    assert sns.list_tags_for_resource(ResourceArn=topic)["Tags"] == [{"Key": "team", "Value": "shop"}]
    attributes = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert attributes["SubscriptionsConfirmed"] == "2" and attributes["TopicArn"] == topic
    sns.delete_topic(TopicArn=topic)
    assert topic not in [t["TopicArn"] for t in sns.list_topics()["Topics"]]


def test_bad_input_gets_snss_errors(server):
    sns = client(server, "sns")
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.publish(TopicArn=f"arn:aws:sns:us-east-1:{ACCOUNT}:missing", Message="x")
    topic = sns.create_topic(Name="strict")["TopicArn"]
    with pytest.raises(sns.exceptions.InvalidParameterException):
        sns.publish(TopicArn=topic, Message="x", MessageAttributes={"n": {"DataType": "Number", "StringValue": "many"}})
    with pytest.raises(sns.exceptions.InvalidParameterException):
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:000000000000:q", Attributes={"FilterPolicy": "{}"})
    with pytest.raises(ClientError) as raised:
        sns.publish(TopicArn=topic, Message=json.dumps({"sqs": "x"}), MessageStructure="json")
    assert raised.value.response["Error"]["Message"] == "Invalid parameter: Message Structure - No default entry in JSON message body"


def test_an_http_endpoint_confirms_and_gets_notifications(server):
    received = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers["x-amz-sns-message-type"], json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    hook = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        sns = client(server, "sns")
        topic = sns.create_topic(Name="hooks")["TopicArn"]
        endpoint = f"http://127.0.0.1:{hook.server_address[1]}/sns"
        assert sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint)["SubscriptionArn"] == "pending confirmation"
        wait_until(lambda: received, timeout=10, message="the subscription confirmation")
        kind, confirmation = received.pop(0)
        assert kind == "SubscriptionConfirmation" and confirmation["TopicArn"] == topic and "SubscribeURL" in confirmation
        assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"][0]["SubscriptionArn"] == "PendingConfirmation"
        # The endpoint confirms as SNS documents it: by getting the SubscribeURL.
        import urllib.request
        with urllib.request.urlopen(confirmation["SubscribeURL"].replace("http://127.0.0.1:8340", server.endpoint), timeout=5) as answer:
            assert b"<SubscriptionArn>" + topic.encode() in answer.read()
        arn = sns.confirm_subscription(TopicArn=topic, Token=confirmation["Token"])["SubscriptionArn"]
        assert arn.startswith(topic + ":")
        sns.publish(TopicArn=topic, Message="ping")
        wait_until(lambda: received, timeout=10, message="the notification")
        kind, notification = received.pop(0)
        assert kind == "Notification" and notification["Message"] == "ping" and notification["TopicArn"] == topic
    finally:
        hook.shutdown()


def test_the_aws_cli_publishes(server, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    topic = json.loads(run_aws(server.endpoint, "sns", "create-topic", "--name", "cli")[1])["TopicArn"]
    sqs = client(server, "sqs")
    url, arn = queue(sqs, "cli-queue")
    run_aws(server.endpoint, "sns", "subscribe", "--topic-arn", topic, "--protocol", "sqs", "--notification-endpoint", arn)
    message_id = json.loads(run_aws(server.endpoint, "sns", "publish", "--topic-arn", topic, "--message", "from the cli")[1])["MessageId"]
    [message] = drain(sqs, url)
    assert json.loads(message["Body"])["MessageId"] == message_id
    code, _, stderr = run_aws(server.endpoint, "sns", "get-topic-attributes", "--topic-arn", f"arn:aws:sns:us-east-1:{ACCOUNT}:nope", check=False)
    assert code != 0 and "NotFound" in stderr
