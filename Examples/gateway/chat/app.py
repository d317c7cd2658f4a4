import json


def handler(event, context):
    """A WebSocket API's function: the event's requestContext says what happened on which connection."""
    request = event["requestContext"]
    if request["eventType"] == "CONNECT":
        # Refusing the handshake: the client gets this status instead of a connection.
        name = (event.get("queryStringParameters") or {}).get("name")
        return {"statusCode": 200 if name else 400, "body": "" if name else "say who you are: ?name=..."}
    if request["eventType"] == "DISCONNECT":
        return {"statusCode": 200}
    text = json.loads(event["body"]).get("text", "")
    # With a route response on the route, the body goes back to the client.
    return {"statusCode": 200, "body": json.dumps({"message": f"you said: {text}", "connectionId": request["connectionId"]})}
