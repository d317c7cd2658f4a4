"""A custom resource provider: CloudFormation's request in, the answer PUT to its ResponseURL
(what AWS's cfn-response module does, with the standard library only)."""
import json
import urllib.request


def handler(event, context):
    print(event["RequestType"], event["LogicalResourceId"], event["ResourceProperties"])
    answer = {
        "Status": "SUCCESS",
        "PhysicalResourceId": event.get("PhysicalResourceId") or "greeting-" + event["RequestId"][:8],
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": {},
    }
    if event["RequestType"] != "Delete":
        name = event["ResourceProperties"].get("Name", "")
        if not name:
            answer.update(Status="FAILED", Reason="Name must not be empty")
        answer["Data"]["Message"] = f"hello, {name}"
    body = json.dumps(answer).encode()
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""})
    with urllib.request.urlopen(request, timeout=10) as response:
        print("response sent:", response.status)
