from urllib.parse import unquote_plus


def handler(event, context):
    for record in event["Records"]:
        key = unquote_plus(record["s3"]["object"]["key"])
        print(f"{record['eventName']} s3://{record['s3']['bucket']['name']}/{key} ({record['s3']['object']['size']} bytes)")
    return {"seen": len(event["Records"])}
