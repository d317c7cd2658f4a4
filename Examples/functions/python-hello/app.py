"""A Python function for Stevedore's python3.11 runtime (awslambdaric, the AWS runtime client)."""
import json
import os


def handler(event, context):
    name = event.get("name", "world")
    print(f"greeting {name} from {context.function_name} version {context.function_version}")
    if name == "error":
        raise ValueError("asked to fail")
    return {
        "statusCode": 200,
        "body": json.dumps({"message": f"hello, {name}", "request": context.aws_request_id}),
        "remainingMs": context.get_remaining_time_in_millis(),
        "region": os.environ["AWS_REGION"],
    }
