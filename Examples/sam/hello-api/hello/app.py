import json
import os


def handler(event, context):
    print(f"greeting {event.get('path')}")
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"message": os.environ["GREETING"] + ", world", "path": event.get("path")}),
    }
