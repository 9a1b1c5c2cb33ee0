#!/usr/bin/env python3
"""SmokeDetector's SocketScience receive path, restated for benchmarking.

Usage: smokey_receive.py FRAMES.json N [WARMUP]

FRAMES.json is a JSON list of chat message contents (frames). The script
registers one counting callback for every top-level key found in the frames,
then receives N frames (cycling through the list) exactly as SmokeDetector's
SocketScience.receive does:

    content = content.strip() (U+200B / U+200C removed first)
    if content.startswith(".\\n\\u0002") and content.endswith("\\u0003"):
        payload = msgpack.loads(base64.b64decode(content[7:-1]))
        for key, data in payload.items():
            for cb in callbacks.get(key, []): cb(data)   # synchronously

and prints one JSON object: payloads/s over the timed loop (after WARMUP
untimed frames), plus the Python and msgpack versions.
"""
import base64
import json
import platform
import sys
import time

import msgpack

PREFIX = ".\n\u0002"
SUFFIX = "\u0003"


class SocketScience:
    def __init__(self):
        self.callbacks = {}

    def register(self, key, callback):
        self.callbacks.setdefault(key, []).append(callback)

    def receive(self, content):
        content = content.replace("\u200b", "").replace("\u200c", "").strip()
        if not (content.startswith(PREFIX) and content.endswith(SUFFIX)):
            return False
        payload = msgpack.loads(base64.b64decode(content[7:-1]))
        for key, data in payload.items():
            for callback in self.callbacks.get(key, ()):
                callback(data)
        return True


def main(argv):
    frames = json.load(open(argv[1], encoding="utf-8"))
    n = int(argv[2])
    warmup = int(argv[3]) if len(argv) > 3 else max(n // 10, 1)
    ss = SocketScience()
    calls = [0]

    def count(_data):
        calls[0] += 1

    keys = set()
    for f in frames:
        keys.update(msgpack.loads(base64.b64decode(f.strip()[7:-1])).keys())
    for k in sorted(keys):
        ss.register(k, count)

    m = len(frames)
    for i in range(warmup):
        ss.receive(frames[i % m])
    calls[0] = 0
    received = 0
    start = time.perf_counter()
    for i in range(n):
        if ss.receive(frames[i % m]):
            received += 1
    elapsed = time.perf_counter() - start
    print(json.dumps({
        "frames": n,
        "received": received,
        "callbacks": calls[0],
        "seconds": elapsed,
        "payloads_per_sec": n / elapsed,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "msgpack": ".".join(str(x) for x in msgpack.version),
        "msgpack_c_extension": type(msgpack.Unpacker).__module__ != "msgpack.fallback",
    }))


if __name__ == "__main__":
    main(sys.argv)
