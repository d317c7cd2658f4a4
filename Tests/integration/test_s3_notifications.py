"""S3 event notifications for real: a bucket's configuration put with boto3 (destinations checked
against their policies), and its objects' changes reaching an SQS queue directly, through an SNS
topic, and through EventBridge. No Docker needed (a function invoked by `aws s3 cp` is in
test_functions_runtime.py)."""
import json

import boto3
import pytest
from botocore.exceptions import ClientError

from test_s3 import NO_RETRIES, store  # noqa: F401 (the module's fixture)


def test_bucket_notifications_reach_queues_topics_and_eventbridge(store):
    key_id, secret = store.key
    clients = {name: boto3.client(name, endpoint_url=store.endpoint, region_name="us-east-1", aws_access_key_id=key_id,
                                  aws_secret_access_key=secret, config=NO_RETRIES) for name in ["sqs", "sns", "events"]}
    sqs, sns, events = clients["sqs"], clients["sns"], clients["events"]
    s3 = store.s3
    s3.create_bucket(Bucket="noticed")
    url = sqs.create_queue(QueueName="object-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = sns.create_topic(Name="object-topic")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    events.put_rule(Name="s3-deletions", EventPattern=json.dumps({"source": ["aws.s3"], "detail-type": ["Object Deleted"]}))
    events.put_targets(Rule="s3-deletions", Targets=[{"Id": "q", "Arn": queue_arn}])
    configuration = {
        "QueueConfigurations": [{"Id": "csv", "QueueArn": queue_arn, "Events": ["s3:ObjectCreated:Put"],
                                 "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".csv"}]}}}],
        "TopicConfigurations": [{"Id": "copies", "TopicArn": topic, "Events": ["s3:ObjectCreated:Copy"]}],
        "EventBridgeConfiguration": {},
    }

    # Without policies letting S3 send, both destinations are refused in one error.
    with pytest.raises(ClientError) as caught:
        s3.put_bucket_notification_configuration(Bucket="noticed", NotificationConfiguration=configuration)
    error = caught.value.response["Error"]
    assert (error["Code"], error["Message"]) == ("InvalidArgument", "Unable to validate the following destination configurations")
    assert "Permissions on the destination queue do not allow S3" in caught.value.response["Error"].get("ArgumentValue1", "") + \
        caught.value.response["Error"].get("ArgumentValue2", "")
    grant = lambda arn, action: json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": action, "Resource": arn,
        "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::noticed"}}}]})
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": grant(queue_arn, "sqs:SendMessage")})
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=grant(topic, "SNS:Publish"))
    s3.put_bucket_notification_configuration(Bucket="noticed", NotificationConfiguration=configuration)
    got = s3.get_bucket_notification_configuration(Bucket="noticed")
    assert got["QueueConfigurations"][0]["Filter"]["Key"]["FilterRules"] == [{"Name": "Suffix", "Value": ".csv"}]
    assert got["TopicConfigurations"][0]["TopicArn"] == topic and got["EventBridgeConfiguration"] == {}

    def bodies(count):
        found = []
        for _ in range(20):
            for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if len(found) >= count:
                break
        return found

    # The test events: one straight to the queue, one through the topic.
    tests = bodies(2)
    assert sorted(json.loads(b["Message"])["Event"] if "Message" in b else b["Event"] for b in tests) == ["s3:TestEvent", "s3:TestEvent"]
    s3.put_object(Bucket="noticed", Key="data/2026.csv", Body=b"x,y\n")
    s3.put_object(Bucket="noticed", Key="data/readme.txt", Body=b"no")
    s3.copy_object(Bucket="noticed", Key="data/copy.txt", CopySource="noticed/data/readme.txt")
    s3.delete_objects(Bucket="noticed", Delete={"Objects": [{"Key": "data/readme.txt"}]})
    received = bodies(3)
    direct = [b for b in received if "Records" in b]
    through_topic = [b for b in received if b.get("Type") == "Notification"]
    from_eventbridge = [b for b in received if b.get("source") == "aws.s3"]
    assert [r["Records"][0]["s3"]["object"]["key"] for r in direct] == ["data/2026.csv"]
    assert direct[0]["Records"][0]["s3"]["configurationId"] == "csv"
    assert [t["Subject"] for t in through_topic] == ["Amazon S3 Notification"]
    assert json.loads(through_topic[0]["Message"])["Records"][0]["eventName"] == "ObjectCreated:Copy"
    [deleted] = from_eventbridge
    assert deleted["detail-type"] == "Object Deleted" and deleted["detail"]["object"]["key"] == "data/readme.txt"
    assert deleted["detail"]["reason"] == "DeleteObject" and deleted["resources"] == ["arn:aws:s3:::noticed"]

    # Bad configurations get S3's errors.
    for bad, message in [
        ({"QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectMade:*"]}]}, "The event is not supported for notifications"),
        ({"QueueConfigurations": [{"QueueArn": topic, "Events": ["s3:ObjectCreated:*"]}]}, "The ARN could not be parsed"),
        ({"QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]},
                                  {"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:Put"]}]},
         "Configurations overlap. Configurations on the same bucket cannot share a common event type."),
    ]:
        with pytest.raises(ClientError) as caught:
            s3.put_bucket_notification_configuration(Bucket="noticed", NotificationConfiguration=bad)
        assert (caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]) == ("InvalidArgument", message)
    s3.put_bucket_notification_configuration(Bucket="noticed", NotificationConfiguration={})
    assert "QueueConfigurations" not in s3.get_bucket_notification_configuration(Bucket="noticed")


TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Resources:
  Events:
    Type: AWS::SQS::Queue
  EventsPolicy:
    Type: AWS::SQS::QueuePolicy
    Properties:
      Queues: [!Ref Events]
      PolicyDocument:
        Statement:
          - Effect: Allow
            Principal: {Service: s3.amazonaws.com}
            Action: sqs:SendMessage
            Resource: !GetAtt Events.Arn
  Inbox:
    Type: AWS::S3::Bucket
    DependsOn: EventsPolicy
    Properties:
      NotificationConfiguration:
        QueueConfigurations:
          - Event: s3:ObjectCreated:*
            Queue: !GetAtt Events.Arn
Outputs:
  Bucket: {Value: !Ref Inbox}
  Queue: {Value: !Ref Events}
"""


def test_a_template_gives_a_bucket_a_queue_with_the_policy_s3_needs(store):
    key_id, secret = store.key
    cfn, sqs = (boto3.client(name, endpoint_url=store.endpoint, region_name="us-east-1", aws_access_key_id=key_id,
                             aws_secret_access_key=secret, config=NO_RETRIES) for name in ["cloudformation", "sqs"])
    cfn.create_stack(StackName="inbox", TemplateBody=TEMPLATE)
    cfn.get_waiter("stack_create_complete").wait(StackName="inbox", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName="inbox")["Stacks"][0]["Outputs"]}
    assert "s3.amazonaws.com" in sqs.get_queue_attributes(QueueUrl=outputs["Queue"], AttributeNames=["Policy"])["Attributes"]["Policy"]
    store.s3.put_object(Bucket=outputs["Bucket"], Key="letter.txt", Body=b"hi")
    bodies = []
    for _ in range(10):
        bodies += [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=outputs["Queue"], MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])]
        if any("Records" in b for b in bodies):
            break
    assert [b["Records"][0]["s3"]["object"]["key"] for b in bodies if "Records" in b] == ["letter.txt"]
    store.s3.delete_object(Bucket=outputs["Bucket"], Key="letter.txt")
    cfn.delete_stack(StackName="inbox")
    cfn.get_waiter("stack_delete_complete").wait(StackName="inbox", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
