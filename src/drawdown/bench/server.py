"""``drawdown serve`` in a process of its own, for benchmarks and end-to-end tests (a timing client
must not share the server's GIL)."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx


@dataclass
class Served:
    base: str  # http://127.0.0.1:<port>
    secret: str  # the bootstrap API key
    process: subprocess.Popen[bytes]

    @property
    def headers(self) -> dict[str, str]:
        return {"X-CREDYT-API-KEY": self.secret}

    def stop(self) -> int:
        """Terminate and wait; the server's exit code."""
        self.process.terminate()
        return self.process.wait(timeout=30)


def serve(url: str, workers: int = 1) -> Served:
    """Start a server on a free port against ``url`` (no billing job) and wait until it answers."""
    secret = "key_served_" + secrets.token_hex(16)  # the bootstrap key needs 32 characters or more
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DRAWDOWN_DATABASE_URL": url, "DRAWDOWN_BOOTSTRAP_API_KEY": secret,
           "DRAWDOWN_JOB_INTERVAL_SECONDS": "0", "DRAWDOWN_LOG_LEVEL": "warning", "DRAWDOWN_WORKERS": str(workers)}
    process = subprocess.Popen([sys.executable, "-m", "drawdown.cli", "serve", "--port", str(port)], env=env)
    served = Served(f"http://127.0.0.1:{port}", secret, process)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{served.base}/health", timeout=1).status_code == 200:
                return served
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError("the server did not start")
        time.sleep(0.1)
