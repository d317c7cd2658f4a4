def handler(event, context):
    print(f"running {event.get('task', 'nothing')}")
    return {"ran": event.get("task")}
