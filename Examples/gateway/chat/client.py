"""The WebSocket example's client: says something, then shows what reaches it through @connections.

    python3 Examples/gateway/chat/client.py http://127.0.0.1:8380/API_ID/STAGE NAME
"""
import asyncio
import json
import subprocess
import sys

import websockets  # pip install websockets


async def main(stage_url, name):
    async with websockets.connect(stage_url.replace("http", "ws", 1) + f"?name={name}") as ws:
        await ws.send(json.dumps({"action": "say", "text": "hello"}))
        reply = json.loads(await ws.recv())
        print(reply["message"])
        # Anyone with the connection's id can reach it: here the aws CLI, through @connections.
        subprocess.run(["aws", "apigatewaymanagementapi", "post-to-connection", "--endpoint-url", stage_url,
                        "--connection-id=" + reply["connectionId"], "--data", "pushed through @connections"], check=True)
        print(await ws.recv())


asyncio.run(main(sys.argv[1], sys.argv[2]))
