"""A client no one in this project wrote: Python's `websockets` package. It sends text, binary
and a fragmented message, waits for each echo, pings, then closes with 4003 and prints what it
saw as one JSON line. Usage: python3 _python_client.py <url>"""
import asyncio
import json
import sys

import websockets


async def main(url):
    result = {}
    async with websockets.connect(url, subprotocols=["chat"], max_size=2**20) as ws:
        result["protocol"] = ws.subprotocol
        echoes = []
        for message in ["hello", "héllo €𝄞", "x" * 60000, bytes([0, 1, 255])]:
            await ws.send(message)
            reply = await ws.recv()
            echoes.append(reply if isinstance(reply, str) else list(reply))
        await ws.send(["frag-", "ment"])  # an iterable is sent as fragments
        echoes.append(await ws.recv())
        pong_waiter = await ws.ping(b"hb")
        await asyncio.wait_for(pong_waiter, 5)
        result["pong"] = True
        result["echoes"] = echoes
        await ws.close(code=4003, reason="python done")
        result["close"] = {"code": ws.close_code, "reason": ws.close_reason}
    print(json.dumps(result))


asyncio.run(main(sys.argv[1]))
