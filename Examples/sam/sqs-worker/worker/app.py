import json


def handler(event, context):
    for record in event["Records"]:
        job = json.loads(record["body"])
        print(f"done job {job['id']}: {job['task']}")
    return {"processed": len(event["Records"])}
