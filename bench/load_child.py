"""Load generator for the webhook figure, in its own process so it does not compete with the
server for the GIL: CLIENTS threads each POST signed pushes over keep-alive connections for
SECONDS, then print one JSON line with every latency and status.

    load_child.py URL SECRET BODY_FILE CLIENTS SECONDS
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit


def main(url: str, secret: str, body_file: str, clients: int, seconds: float) -> None:
    template = json.loads(Path(body_file).read_text(encoding="utf-8"))
    target = urlsplit(url)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(index: int) -> None:
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        sequence = 0
        while time.monotonic() < deadline:
            sequence += 1
            payload = dict(template, after=f"{index:08x}{sequence:032x}")
            body = json.dumps(payload).encode()
            digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            headers = {
                "Content-Type": "application/json",
                "X-GitHub-Event": "push",
                "X-GitHub-Delivery": str(uuid.uuid4()),
                "X-GitHub-Hook-ID": "512345678",
                "X-Hub-Signature-256": f"sha256={digest}",
                "User-Agent": "GitHub-Hookshot/bench",
            }
            started = time.perf_counter()
            try:
                connection.request("POST", target.path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                status = str(response.status)
            except (OSError, http.client.HTTPException) as exc:
                status = type(exc).__name__
                connection.close()
                connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    print(json.dumps({"wall": wall, "latencies": latencies, "statuses": statuses}))


if __name__ == "__main__":
    url, secret, body_file, clients, seconds = sys.argv[1:6]
    main(url, secret, body_file, int(clients), float(seconds))
