import json


def handler(event, context):
    """An HTTP API's function: the event says which route took the request; the answer is HTTP."""
    name = (event.get("queryStringParameters") or {}).get("name", "world")
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"hello": name, "route": event["routeKey"], "path": event["rawPath"],
                            "pathParameters": event.get("pathParameters")}),
    }
