#!/usr/bin/env python3
"""A python3-websockets client driven over stdin and stdout, for the interop suite (test/clients/suite.ts).

usage: ws_client.py URL [--protocol P]... [--compression deflate|none] [--max-size BYTES]

stdout, one JSON object per line:
  {"event": "open", "protocol": "chat", "extensions": "permessage-deflate; ..."}
  {"event": "rejected", "status": 400, "error": "..."}        the handshake failed
  {"event": "message", "binary": false, "data": "<base64>"}
  {"event": "pong", "data": "..."}                            the answer to a "ping" command
  {"event": "close", "code": 1000, "reason": "..."}           then the process exits
stdin, one JSON command per line:
  {"op": "send", "text": "..."} | {"op": "send", "binary": "<base64>"}
  {"op": "ping", "data": "..."} | {"op": "close", "code": 1000, "reason": "..."}
End of input closes the connection with 1001.

Written against websockets 10.4 (Debian bookworm) and its legacy client; it reads the handful of
attributes whose names changed in later versions either way.
"""
import argparse
import asyncio
import base64
import json
import sys

import websockets
import websockets.exceptions


def emit(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def response_header(ws, name):
    # 10.x: ws.response_headers; 11+ (new asyncio client): ws.response.headers.
    headers = getattr(ws, "response_headers", None)
    if headers is None:
        headers = ws.response.headers
    return headers.get(name) or ""


def rejected_status(error):
    # 10.x: InvalidStatusCode.status_code; 11+: InvalidStatus.response.status_code.
    status = getattr(error, "status_code", None)
    if status is None and getattr(error, "response", None) is not None:
        status = error.response.status_code
    return status


async def receive(ws):
    try:
        async for message in ws:
            binary = isinstance(message, bytes)
            data = message if binary else message.encode("utf-8")
            emit(event="message", binary=binary, data=base64.b64encode(data).decode("ascii"))
    except websockets.exceptions.ConnectionClosed:
        pass
    await ws.wait_closed()
    emit(event="close", code=ws.close_code, reason=ws.close_reason)


async def obey(ws, reader):
    while True:
        line = await reader.readline()
        if not line:
            await ws.close(1001, "stdin closed")
            return
        command = json.loads(line)
        op = command["op"]
        try:
            if op == "send":
                await ws.send(base64.b64decode(command["binary"]) if "binary" in command else command["text"])
            elif op == "ping":
                waiter = await ws.ping(command["data"])
                await waiter
                emit(event="pong", data=command["data"])
            elif op == "close":
                await ws.close(command["code"], command.get("reason", ""))
            else:
                raise ValueError(f"unknown op {op!r}")
        except websockets.exceptions.ConnectionClosed:
            return


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--protocol", action="append", default=[])
    parser.add_argument("--compression", choices=["deflate", "none"], default="none")
    parser.add_argument("--max-size", type=int, default=2**20)
    args = parser.parse_args()

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    try:
        ws = await websockets.connect(
            args.url,
            subprotocols=args.protocol or None,
            compression="deflate" if args.compression == "deflate" else None,
            max_size=args.max_size,
            # The suite checks pings on purpose; keepalive pings would only add noise.
            ping_interval=None,
            open_timeout=5,
        )
    except websockets.exceptions.InvalidHandshake as error:
        emit(event="rejected", status=rejected_status(error), error=str(error))
        return

    emit(event="open", protocol=ws.subprotocol or "", extensions=response_header(ws, "Sec-WebSocket-Extensions"))
    receiving = asyncio.ensure_future(receive(ws))
    commands = asyncio.ensure_future(obey(ws, reader))
    await receiving
    commands.cancel()


if __name__ == "__main__":
    asyncio.run(main())
